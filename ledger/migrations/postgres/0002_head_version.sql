-- A version on the head row, advanced by exactly one on every update of the head (every write
-- that changes entries or balances updates the head). A writer that knows the head and some
-- balances as of version v can check, under the head-row lock, that nothing was written since
-- and apply an entry computed from them in one statement. Equivalent to
-- migrations/sqlite/0002_head_version.sql.

ALTER TABLE ledger_head ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION ledger_refuse_head_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'every update of ledger_head advances its version by one'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER ledger_head_version BEFORE UPDATE ON ledger_head
    FOR EACH ROW WHEN (NEW.version IS DISTINCT FROM OLD.version + 1)
    EXECUTE FUNCTION ledger_refuse_head_version();
