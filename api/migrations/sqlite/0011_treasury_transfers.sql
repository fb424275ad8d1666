-- Cash moved from the property's bank account into its treasury on chain is recorded as a
-- transaction of its own category. SQLite cannot change a CHECK in place, so the table is
-- rebuilt with its rows. Equivalent to the other engine's 0011_treasury_transfers.sql.
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
