-- A version on the head row, advanced by exactly one on every update of the head (every write
-- that changes entries or balances updates the head). A writer that knows the head and some
-- balances as of version v can check, under the write lock, that nothing was written since
-- and apply an entry computed from them in one request. Equivalent to
-- migrations/postgres/0002_head_version.sql.

ALTER TABLE ledger_head ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER ledger_head_version BEFORE UPDATE ON ledger_head
WHEN NEW.version IS NOT OLD.version + 1
BEGIN
    SELECT RAISE(ABORT, 'every update of ledger_head advances its version by one');
END;
