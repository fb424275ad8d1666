-- HTTP API, PostgreSQL schema. Equivalent to migrations/sqlite/0001_api.sql.
-- Times are Unix milliseconds (UTC); ids are UUIDv7 text; secrets are stored only as hashes.

CREATE TABLE api_users (
    id             TEXT    PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    display_name   TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'compliance', 'auditor')),
    password_hash  TEXT    NOT NULL,
    totp_secret    BYTEA   NOT NULL,
    totp_last_step BIGINT,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    version        BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

CREATE TABLE api_sessions (
    id           TEXT    PRIMARY KEY,
    token_hash   BYTEA   NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES api_users (id),
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX api_sessions_user ON api_sessions (user_id);

CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY,
    token_hash    BYTEA   NOT NULL UNIQUE,
    prefix        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'compliance', 'auditor')),
    owner_user_id TEXT    REFERENCES api_users (id),
    service       TEXT,
    created_by    TEXT,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT,
    CHECK ((owner_user_id IS NULL) <> (service IS NULL))
);

-- Set once, by the first start that finds no users and no keys and creates the admin key; the
-- primary key makes that happen once even with several replicas starting together.
CREATE TABLE api_bootstrap (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);

-- Every write the API was asked for, with who asked and how it ended. Append-only.
CREATE TABLE api_audit_log (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT  NOT NULL,
    request_id  TEXT    NOT NULL,
    actor_kind  TEXT    NOT NULL CHECK (actor_kind IN ('user', 'key', 'wallet', 'anonymous', 'system')),
    actor_id    TEXT,
    actor_name  TEXT,
    method      TEXT    NOT NULL,
    route       TEXT    NOT NULL,
    resource_id TEXT,
    status      BIGINT  NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'refused', 'failed'))
);
CREATE INDEX api_audit_log_actor ON api_audit_log (actor_id, seq);
CREATE FUNCTION api_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER api_audit_log_append_only BEFORE UPDATE OR DELETE ON api_audit_log
    FOR EACH ROW EXECUTE FUNCTION api_refuse_change();
CREATE TRIGGER api_audit_log_no_truncate BEFORE TRUNCATE ON api_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION api_refuse_change();

CREATE TABLE api_idempotency (
    actor        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    route        TEXT    NOT NULL,
    request_hash BYTEA   NOT NULL,
    status       BIGINT  NOT NULL,
    body         BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (actor, key)
);
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
    list_price_minor    BIGINT,
    arv_minor           BIGINT,
    valuation_date      TEXT,
    square_feet         BIGINT,
    bedrooms            BIGINT,
    bathrooms_tenths    BIGINT,
    year_built          BIGINT,
    lot_size_sqft       BIGINT,
    latitude            DOUBLE PRECISION,
    longitude           DOUBLE PRECISION,
    market_data         TEXT,
    version             BIGINT  NOT NULL,
    created_by          TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    -- The property as the API shows it (JSON), rendered when it is written.
    doc                 TEXT    NOT NULL,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE INDEX api_properties_status ON api_properties (status, id);
CREATE INDEX api_properties_city ON api_properties (city_key, id);
CREATE INDEX api_properties_postal ON api_properties (postal_key, id);
CREATE INDEX api_properties_latitude ON api_properties (latitude) WHERE latitude IS NOT NULL;
CREATE INDEX api_properties_price ON api_properties (currency, list_price_minor);

CREATE TABLE api_blobs (
    sha256     BYTEA   PRIMARY KEY CHECK (length(sha256) = 32),
    size       BIGINT  NOT NULL CHECK (size >= 0),
    stored_in  TEXT    NOT NULL CHECK (stored_in IN ('database', 'disk')),
    created_at BIGINT  NOT NULL
);
CREATE TABLE api_blob_chunks (
    sha256 BYTEA   NOT NULL REFERENCES api_blobs (sha256),
    n      BIGINT  NOT NULL,
    data   BYTEA   NOT NULL,
    PRIMARY KEY (sha256, n)
);

CREATE TABLE api_documents (
    id           TEXT    PRIMARY KEY,
    property_id  TEXT    NOT NULL REFERENCES api_properties (id),
    kind         TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    filename     TEXT,
    content_type TEXT    NOT NULL,
    sha256       BYTEA   NOT NULL REFERENCES api_blobs (sha256),
    size         BIGINT  NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX api_documents_property ON api_documents (property_id, id);
