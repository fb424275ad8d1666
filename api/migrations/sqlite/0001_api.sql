-- HTTP API, SQLite schema. Equivalent to migrations/postgres/0001_api.sql.
-- Times are Unix milliseconds (UTC); ids are UUIDv7 text; secrets are stored only as hashes.

CREATE TABLE api_users (
    id             TEXT    PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    display_name   TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'compliance', 'auditor')),
    password_hash  TEXT    NOT NULL,
    totp_secret    BLOB    NOT NULL,
    -- The last TOTP time step accepted: a code is good once.
    totp_last_step INTEGER,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE api_sessions (
    id           TEXT    PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES api_users (id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX api_sessions_user ON api_sessions (user_id);

CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY,
    token_hash    BLOB    NOT NULL UNIQUE,
    prefix        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'compliance', 'auditor')),
    owner_user_id TEXT    REFERENCES api_users (id),
    service       TEXT,
    created_by    TEXT,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    last_used_at  INTEGER,
    CHECK ((owner_user_id IS NULL) <> (service IS NULL))
) STRICT;

-- Set once, by the first start that finds no users and no keys and creates the admin key; the
-- primary key makes that happen once even with several replicas starting together.
CREATE TABLE api_bootstrap (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
) STRICT;

-- Every write the API was asked for, with who asked and how it ended. Append-only.
CREATE TABLE api_audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    request_id  TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL CHECK (actor_kind IN ('user', 'key', 'wallet', 'anonymous', 'system')),
    actor_id    TEXT,
    actor_name  TEXT,
    method      TEXT    NOT NULL,
    route       TEXT    NOT NULL,
    resource_id TEXT,
    status      INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'refused', 'failed'))
) STRICT;
CREATE INDEX api_audit_log_actor ON api_audit_log (actor_id, seq);
CREATE TRIGGER api_audit_log_no_update BEFORE UPDATE ON api_audit_log
BEGIN SELECT RAISE(ABORT, 'api_audit_log is append-only'); END;
CREATE TRIGGER api_audit_log_no_delete BEFORE DELETE ON api_audit_log
BEGIN SELECT RAISE(ABORT, 'api_audit_log is append-only'); END;

-- The first response to a creating POST, by the caller's Idempotency-Key.
CREATE TABLE api_idempotency (
    actor        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    route        TEXT    NOT NULL,
    request_hash BLOB    NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (actor, key)
) STRICT;
CREATE INDEX api_idempotency_age ON api_idempotency (created_at);

CREATE TABLE api_properties (
    id                  TEXT    PRIMARY KEY,
    mls_number          TEXT,
    line1               TEXT    NOT NULL,
    line2               TEXT,
    city                TEXT    NOT NULL,
    city_key            TEXT    NOT NULL,
    region              TEXT,
    postal_code         TEXT    NOT NULL,
    postal_key          TEXT    NOT NULL,
    country             TEXT    NOT NULL,
    property_type       TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    currency            TEXT    NOT NULL,
    list_price_minor    INTEGER,
    arv_minor           INTEGER,
    valuation_date      TEXT,
    square_feet         INTEGER,
    bedrooms            INTEGER,
    bathrooms_tenths    INTEGER,
    year_built          INTEGER,
    lot_size_sqft       INTEGER,
    latitude            REAL,
    longitude           REAL,
    market_data         TEXT,
    version             INTEGER NOT NULL,
    created_by          TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    -- The property as the API shows it (JSON), rendered when it is written.
    doc                 TEXT    NOT NULL,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
) STRICT;
CREATE INDEX api_properties_status ON api_properties (status, id);
CREATE INDEX api_properties_city ON api_properties (city_key, id);
CREATE INDEX api_properties_postal ON api_properties (postal_key, id);
CREATE INDEX api_properties_latitude ON api_properties (latitude) WHERE latitude IS NOT NULL;
CREATE INDEX api_properties_price ON api_properties (currency, list_price_minor);

-- Content-addressed blobs: one row per distinct SHA-256. The bytes are in api_blob_chunks when
-- the node keeps blobs in the database, or in a file named by the hash under the data directory.
CREATE TABLE api_blobs (
    sha256     BLOB    PRIMARY KEY CHECK (length(sha256) = 32),
    size       INTEGER NOT NULL CHECK (size >= 0),
    stored_in  TEXT    NOT NULL CHECK (stored_in IN ('database', 'disk')),
    created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE api_blob_chunks (
    sha256 BLOB    NOT NULL REFERENCES api_blobs (sha256),
    n      INTEGER NOT NULL,
    data   BLOB    NOT NULL,
    PRIMARY KEY (sha256, n)
) STRICT;

CREATE TABLE api_documents (
    id           TEXT    PRIMARY KEY,
    property_id  TEXT    NOT NULL REFERENCES api_properties (id),
    kind         TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    filename     TEXT,
    content_type TEXT    NOT NULL,
    sha256       BLOB    NOT NULL REFERENCES api_blobs (sha256),
    size         INTEGER NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX api_documents_property ON api_documents (property_id, id);
