-- Distributions run through a property's waterfall, in order: what each tier took (the
-- investors' share funded through the distributor, the sponsor's paid by draws on the
-- waterfall's lines), and whether the chain has carried it out. Equivalent to the other
-- engine's 0015_waterfall_runs.sql.
CREATE TABLE api_waterfall_runs (
    property_id     TEXT     NOT NULL,
    seq             INTEGER  NOT NULL,
    id              TEXT     NOT NULL UNIQUE,
    status          TEXT     NOT NULL,
    doc             TEXT     NOT NULL,
    created_at      INTEGER  NOT NULL,
    PRIMARY KEY (property_id, seq)
) STRICT;
