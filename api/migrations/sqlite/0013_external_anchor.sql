-- The books' anchor contract on each external anchor chain (--anchor-rpc-url), shared by every
-- node on this database: a node with a fresh data directory anchors with the contract already
-- deployed there instead of deploying another. Equivalent to the other engine's
-- 0013_external_anchor.sql.
CREATE TABLE api_external_anchors (
    chain_id   INTEGER  PRIMARY KEY,
    record     TEXT     NOT NULL,
    updated_at INTEGER  NOT NULL
) STRICT;
