-- Investors, SQLite schema. Equivalent to the other engine's 0003_investors.sql.
-- Investors sign in with their wallets (EIP-4361); their contact data stays here, off chain.

-- Sign-in nonces: each is good once, for a few minutes.
CREATE TABLE api_siwe_nonces (
    nonce      TEXT    PRIMARY KEY,
    created_at INTEGER  NOT NULL,
    expires_at INTEGER  NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX api_siwe_nonces_age ON api_siwe_nonces (expires_at);

-- Sessions of wallets that signed in.
CREATE TABLE api_wallet_sessions (
    id          TEXT    PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    wallet      TEXT    NOT NULL,
    created_at  INTEGER  NOT NULL,
    expires_at  INTEGER  NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE INDEX api_wallet_sessions_wallet ON api_wallet_sessions (wallet);

-- An investor: who they say they are (their application), and what compliance decided.
CREATE TABLE api_investors (
    id                TEXT    PRIMARY KEY,
    -- The registry's investor id (bytes32), fixed at application.
    registry_id       BLOB    NOT NULL UNIQUE,
    status            TEXT    NOT NULL CHECK (status IN ('submitted', 'approved', 'rejected')),
    legal_name        TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    country           TEXT    NOT NULL,
    accredited_claim  INTEGER NOT NULL DEFAULT 0 CHECK (accredited_claim IN (0, 1)),
    -- What compliance approved (registered on chain).
    accredited        INTEGER CHECK (accredited IN (0, 1)),
    kyc_expires_on    TEXT,
    reviewed_by       TEXT,
    reviewed_at       INTEGER,
    rejection_reason  TEXT,
    version           INTEGER  NOT NULL,
    created_at        INTEGER  NOT NULL,
    updated_at        INTEGER  NOT NULL
) STRICT;
CREATE INDEX api_investors_status ON api_investors (status, id);

-- An investor's wallets: the one they applied from, and those added later.
CREATE TABLE api_investor_wallets (
    wallet       TEXT    PRIMARY KEY,
    investor_id  TEXT    NOT NULL REFERENCES api_investors (id),
    status       TEXT    NOT NULL CHECK (status IN ('active', 'removed')),
    added_at     INTEGER  NOT NULL,
    removed_at   INTEGER
) STRICT;
CREATE INDEX api_investor_wallets_investor ON api_investor_wallets (investor_id);

-- Documents an investor gave with their application (KYC), in the blob store.
CREATE TABLE api_investor_documents (
    id           TEXT    PRIMARY KEY,
    investor_id  TEXT    NOT NULL REFERENCES api_investors (id),
    kind         TEXT    NOT NULL,
    filename     TEXT,
    content_type TEXT    NOT NULL,
    sha256       BLOB    NOT NULL REFERENCES api_blobs (sha256),
    size         INTEGER  NOT NULL,
    created_at   INTEGER  NOT NULL
) STRICT;
CREATE INDEX api_investor_documents_investor ON api_investor_documents (investor_id, id);
