-- Tokenizations, SQLite schema. Equivalent to the other engine's 0005_tokenizations.sql.
-- One per property: what was asked for, the outbox action that launches it (one transaction:
-- deed, share token, rules, treasury, distributor and offering), and the contracts it created,
-- filled in once the launch is confirmed. A launch that failed may be asked for again, which
-- replaces the row.
CREATE TABLE api_tokenizations (
    property_id    TEXT    PRIMARY KEY REFERENCES api_properties (id),
    chain_id       INTEGER NOT NULL,
    action_id      TEXT    NOT NULL REFERENCES api_outbox (id),
    -- The request as the API shows it (JSON), with the deed's token id and metadata hash.
    request        TEXT    NOT NULL,
    shares         TEXT,
    compliance     TEXT,
    treasury       TEXT,
    distributor    TEXT,
    offering       TEXT,
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
