-- Money moved off chain: cash moved from the property's bank account into its treasury is a
-- transaction of its own category, and a rehab draw may be paid through the bank instead of
-- the treasury. SQLite cannot change a CHECK in place, so both tables are rebuilt with their
-- rows. Equivalent to the other engine's 0011_off_chain_payments.sql.
CREATE TABLE api_transactions_next (
    id           TEXT    PRIMARY KEY,
    property_id  TEXT    NOT NULL REFERENCES api_properties (id),
    category     TEXT    NOT NULL CHECK (category IN ('rent', 'management', 'taxes', 'insurance',
                     'utilities', 'repairs', 'hoa', 'other', 'treasury_transfer')),
    occurred_on  TEXT    NOT NULL,
    entry_id     INTEGER  NOT NULL UNIQUE,
    reference    TEXT,
    schedule_id  TEXT    REFERENCES api_rent_schedules (id),
    schedule_seq INTEGER,
    recorded_at  INTEGER  NOT NULL,
    doc          TEXT    NOT NULL,
    UNIQUE (schedule_id, schedule_seq)
) STRICT;
INSERT INTO api_transactions_next
    (id, property_id, category, occurred_on, entry_id, reference, schedule_id, schedule_seq,
     recorded_at, doc)
SELECT id, property_id, category, occurred_on, entry_id, reference, schedule_id, schedule_seq,
       recorded_at, doc
FROM api_transactions;
DROP TABLE api_transactions;
ALTER TABLE api_transactions_next RENAME TO api_transactions;
CREATE INDEX api_transactions_property ON api_transactions (property_id, occurred_on, id);

CREATE TABLE api_rehab_draws_next (
    id           TEXT    PRIMARY KEY,
    line_id      TEXT    NOT NULL REFERENCES api_rehab_lines (id),
    status       TEXT    NOT NULL CHECK (status IN ('requested', 'approved', 'released',
                     'paid_off_chain')),
    -- USD in cents.
    amount_minor INTEGER  NOT NULL CHECK (amount_minor > 0),
    version      INTEGER  NOT NULL,
    created_at   INTEGER  NOT NULL,
    doc          TEXT    NOT NULL
) STRICT;
INSERT INTO api_rehab_draws_next (id, line_id, status, amount_minor, version, created_at, doc)
SELECT id, line_id, status, amount_minor, version, created_at, doc FROM api_rehab_draws;
DROP TABLE api_rehab_draws;
ALTER TABLE api_rehab_draws_next RENAME TO api_rehab_draws;
CREATE INDEX api_rehab_draws_line ON api_rehab_draws (line_id, id);
