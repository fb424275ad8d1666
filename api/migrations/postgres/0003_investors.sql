-- Investors, PostgreSQL schema. Equivalent to the other engine's 0003_investors.sql.
-- Investors sign in with their wallets (EIP-4361); their contact data stays here, off chain.

-- Sign-in nonces: each is good once, for a few minutes.
CREATE TABLE api_siwe_nonces (
    nonce      TEXT    PRIMARY KEY,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);
CREATE INDEX api_siwe_nonces_age ON api_siwe_nonces (expires_at);

-- Sessions of wallets that signed in.
CREATE TABLE api_wallet_sessions (
    id          TEXT    PRIMARY KEY,
    token_hash  BYTEA    NOT NULL UNIQUE,
    wallet      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_wallet_sessions_wallet ON api_wallet_sessions (wallet);

-- An investor: who they say they are (their application), and what compliance decided.
CREATE TABLE api_investors (
    id                TEXT    PRIMARY KEY,
    -- The registry's investor id (bytes32), fixed at application.
    registry_id       BYTEA    NOT NULL UNIQUE,
    status            TEXT    NOT NULL CHECK (status IN ('submitted', 'approved', 'rejected')),
    legal_name        TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    country           TEXT    NOT NULL,
    accredited_claim  BOOLEAN NOT NULL DEFAULT FALSE,
    -- What compliance approved (registered on chain).
    accredited        BOOLEAN,
    kyc_expires_on    TEXT,
    reviewed_by       TEXT,
    reviewed_at       BIGINT,
    rejection_reason  TEXT,
    version           BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);
CREATE INDEX api_investors_status ON api_investors (status, id);

-- An investor's wallets: the one they applied from, and those added later.
CREATE TABLE api_investor_wallets (
    wallet       TEXT    PRIMARY KEY,
    investor_id  TEXT    NOT NULL REFERENCES api_investors (id),
    status       TEXT    NOT NULL CHECK (status IN ('active', 'removed')),
    added_at     BIGINT  NOT NULL,
    removed_at   BIGINT
);
CREATE INDEX api_investor_wallets_investor ON api_investor_wallets (investor_id);

-- Documents an investor gave with their application (KYC), in the blob store.
CREATE TABLE api_investor_documents (
    id           TEXT    PRIMARY KEY,
    investor_id  TEXT    NOT NULL REFERENCES api_investors (id),
    kind         TEXT    NOT NULL,
    filename     TEXT,
    content_type TEXT    NOT NULL,
    sha256       BYTEA    NOT NULL REFERENCES api_blobs (sha256),
    size         BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX api_investor_documents_investor ON api_investor_documents (investor_id, id);
