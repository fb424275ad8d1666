-- The platform's deployment, shared by every node on this database: a node with a fresh data
-- directory finds it here instead of deploying the platform again, and a node whose recorded
-- platform differs refuses to start. Equivalent to the other engine's 0012_platform.sql.
CREATE TABLE api_platform (
    id         INTEGER  PRIMARY KEY CHECK (id = 1),
    chain_id   INTEGER  NOT NULL,
    record     TEXT     NOT NULL,
    updated_at INTEGER  NOT NULL
) STRICT;
