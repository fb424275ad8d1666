-- The outbox of chain writes, PostgreSQL schema. Equivalent to the other engine's 0002_outbox.sql.
-- An action is recorded (queued) in the same transaction as the change it belongs to; the one
-- sender of its signing key gives it a nonce, signs it, records the signed transaction, sends
-- it, and follows it to its receipt. Each re-send (a higher fee for the same nonce) is a row of
-- api_outbox_sends, so whichever of them is mined is recognised.

CREATE TABLE api_outbox (
    id             TEXT    PRIMARY KEY,
    chain_id       BIGINT  NOT NULL,
    signer         TEXT    NOT NULL,
    key_role       TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    to_address     TEXT    NOT NULL,
    data           BYTEA    NOT NULL,
    value_wei      TEXT    NOT NULL,
    -- Another action that must be confirmed first (the steps of a sequence).
    after_id       TEXT    REFERENCES api_outbox (id),
    actor          TEXT    NOT NULL,
    resource_type  TEXT,
    resource_id    TEXT,
    status         TEXT    NOT NULL CHECK (status IN ('queued', 'submitted', 'confirmed', 'failed')),
    nonce          BIGINT,
    tx_hash        BYTEA,
    block_number   BIGINT,
    block_hash     BYTEA,
    gas_used       BIGINT,
    failure        TEXT,
    reason_code    BIGINT,
    sends          BIGINT  NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    CHECK (status <> 'queued' OR nonce IS NULL),
    CHECK (status <> 'submitted' OR nonce IS NOT NULL)
);
CREATE INDEX api_outbox_pending ON api_outbox (chain_id, signer, status, id);
CREATE INDEX api_outbox_resource ON api_outbox (resource_type, resource_id);

CREATE TABLE api_outbox_sends (
    action_id        TEXT    NOT NULL REFERENCES api_outbox (id),
    n                BIGINT  NOT NULL,
    tx_hash          BYTEA    NOT NULL UNIQUE,
    raw              BYTEA    NOT NULL,
    max_fee_wei      TEXT    NOT NULL,
    priority_fee_wei TEXT    NOT NULL,
    gas_limit        BIGINT  NOT NULL,
    sent_at          BIGINT,
    PRIMARY KEY (action_id, n)
);

-- The next nonce of each signing key, handed out by its sender in the transaction that records
-- the signed transaction.
CREATE TABLE api_signer_nonces (
    chain_id   BIGINT  NOT NULL,
    signer     TEXT    NOT NULL,
    next_nonce BIGINT  NOT NULL,
    PRIMARY KEY (chain_id, signer)
);
