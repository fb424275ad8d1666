-- Platform fee schedules, SQLite schema. Equivalent to migrations/postgres/0003_fee_schedules.sql.

-- A property's fees in basis points from a block on; the schedule in force at an event's block
-- is the one with the greatest since_block not after it. Append-only.
CREATE TABLE ledger_fee_schedules (
    property         TEXT    NOT NULL,
    since_block      INTEGER NOT NULL CHECK (since_block >= 0),
    proceeds_bps     INTEGER NOT NULL CHECK (proceeds_bps BETWEEN 0 AND 10000),
    distribution_bps INTEGER NOT NULL CHECK (distribution_bps BETWEEN 0 AND 10000),
    recorded_at      TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (property, since_block)
) STRICT;
CREATE TRIGGER ledger_fee_schedules_append_only_update BEFORE UPDATE ON ledger_fee_schedules
BEGIN
    SELECT RAISE(ABORT, 'fee schedules are append-only');
END;
CREATE TRIGGER ledger_fee_schedules_append_only_delete BEFORE DELETE ON ledger_fee_schedules
BEGIN
    SELECT RAISE(ABORT, 'fee schedules are append-only');
END;
