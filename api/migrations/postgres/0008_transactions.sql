-- Rent and expenses, PostgreSQL schema. Equivalent to the other engine's 0008_transactions.sql.

-- A recurring rent: it posts a transaction on its day of each month from its first month to
-- its last. next_seq counts the months posted; next_due is the day the next one is due.
CREATE TABLE api_rent_schedules (
    id           TEXT    PRIMARY KEY,
    property_id  TEXT    NOT NULL REFERENCES api_properties (id),
    -- USD in cents.
    amount_minor BIGINT  NOT NULL CHECK (amount_minor > 0),
    next_seq     BIGINT  NOT NULL,
    next_due     TEXT,
    ends_on      TEXT,
    version      BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    doc          TEXT    NOT NULL
);
CREATE INDEX api_rent_schedules_due ON api_rent_schedules (next_due, id);
CREATE INDEX api_rent_schedules_property ON api_rent_schedules (property_id, id);

-- A rent received or an expense paid, as booked: the ledger entry is the record of the money
-- (one per transaction), this row what the books do not hold (category, counterparty,
-- receipt). Appended, never changed.
CREATE TABLE api_transactions (
    id           TEXT    PRIMARY KEY,
    property_id  TEXT    NOT NULL REFERENCES api_properties (id),
    category     TEXT    NOT NULL CHECK (category IN ('rent', 'management', 'taxes', 'insurance',
                     'utilities', 'repairs', 'hoa', 'other')),
    occurred_on  TEXT    NOT NULL,
    entry_id     BIGINT  NOT NULL UNIQUE,
    reference    TEXT,
    schedule_id  TEXT    REFERENCES api_rent_schedules (id),
    schedule_seq BIGINT,
    recorded_at  BIGINT  NOT NULL,
    doc          TEXT    NOT NULL,
    UNIQUE (schedule_id, schedule_seq)
);
CREATE INDEX api_transactions_property ON api_transactions (property_id, occurred_on, id);
