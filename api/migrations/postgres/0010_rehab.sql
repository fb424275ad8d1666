-- Rehab projects, PostgreSQL schema. Equivalent to the other engine's 0010_rehab.sql. Each row keeps
-- its columns for lookups and constraints, the rest in the rendered view.

-- Contractors and their payout wallets.
CREATE TABLE api_contractors (
    id         TEXT    PRIMARY KEY,
    company    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    doc        TEXT    NOT NULL
);

-- One rehab project per deal.
CREATE TABLE api_rehab_projects (
    id          TEXT    PRIMARY KEY,
    deal_id     TEXT    NOT NULL UNIQUE REFERENCES api_deals (id),
    property_id TEXT    NOT NULL REFERENCES api_properties (id),
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    doc         TEXT    NOT NULL
);

-- A project's budget lines; the budget is mirrored on chain in the property's treasury.
CREATE TABLE api_rehab_lines (
    id          TEXT    PRIMARY KEY,
    project_id  TEXT    NOT NULL REFERENCES api_rehab_projects (id),
    chain_line  TEXT    NOT NULL UNIQUE,
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    doc         TEXT    NOT NULL
);
CREATE INDEX api_rehab_lines_project ON api_rehab_lines (project_id, id);

-- Contractors' bids on a line; an accepted bid sets the line's committed amount.
CREATE TABLE api_rehab_bids (
    id          TEXT    PRIMARY KEY,
    line_id     TEXT    NOT NULL REFERENCES api_rehab_lines (id),
    status      TEXT    NOT NULL CHECK (status IN ('open', 'accepted', 'rejected')),
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    doc         TEXT    NOT NULL
);
CREATE INDEX api_rehab_bids_line ON api_rehab_bids (line_id, id);

-- Draws against a line: requested, approved, then released through the outbox.
CREATE TABLE api_rehab_draws (
    id           TEXT    PRIMARY KEY,
    line_id      TEXT    NOT NULL REFERENCES api_rehab_lines (id),
    status       TEXT    NOT NULL CHECK (status IN ('requested', 'approved', 'released')),
    -- USD in cents.
    amount_minor BIGINT  NOT NULL CHECK (amount_minor > 0),
    version      BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    doc          TEXT    NOT NULL
);
CREATE INDEX api_rehab_draws_line ON api_rehab_draws (line_id, id);
