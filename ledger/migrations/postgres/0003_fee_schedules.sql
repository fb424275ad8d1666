-- Platform fee schedules, PostgreSQL schema. Equivalent to migrations/sqlite/0003_fee_schedules.sql.

-- A property's fees in basis points from a block on; the schedule in force at an event's block
-- is the one with the greatest since_block not after it. Append-only.
CREATE TABLE ledger_fee_schedules (
    property         TEXT    NOT NULL,
    since_block      BIGINT  NOT NULL CHECK (since_block >= 0),
    proceeds_bps     BIGINT  NOT NULL CHECK (proceeds_bps BETWEEN 0 AND 10000),
    distribution_bps BIGINT  NOT NULL CHECK (distribution_bps BETWEEN 0 AND 10000),
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (property, since_block)
);
CREATE TRIGGER ledger_fee_schedules_append_only BEFORE UPDATE OR DELETE ON ledger_fee_schedules
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
