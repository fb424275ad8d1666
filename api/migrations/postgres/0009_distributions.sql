-- Distributions, PostgreSQL schema. Equivalent to the other engine's 0009_distributions.sql.

-- A declared distribution and the outbox action that funds it. Appended, never changed: where
-- it stands (its record date, claims, the sweep) is read from the index and the chain, matched
-- by its reference.
CREATE TABLE api_distributions (
    id             TEXT    PRIMARY KEY,
    -- The property's deed token id.
    property       TEXT    NOT NULL,
    reference      TEXT    NOT NULL UNIQUE,
    -- USD in cents.
    amount_minor   BIGINT  NOT NULL CHECK (amount_minor > 0),
    -- Unix seconds.
    claim_deadline BIGINT  NOT NULL,
    action_id      TEXT    NOT NULL REFERENCES api_outbox (id),
    created_at     BIGINT  NOT NULL,
    doc            TEXT    NOT NULL
);
CREATE INDEX api_distributions_property ON api_distributions (property, id);
