-- The chain head the indexer saw when it last committed, so that other processes (the API) can
-- tell how far behind the index is without asking the chain. NULL until the next commit.
ALTER TABLE idx_state ADD COLUMN head_block BIGINT;

-- Databases made before the events table had a BRIN index kept a unique key on (block, log
-- index), which 0001 leaves in place on a table that already exists: drop it, and make sure the
-- BRIN index is there.
ALTER TABLE idx_events DROP CONSTRAINT IF EXISTS idx_events_pkey;
CREATE INDEX IF NOT EXISTS idx_events_block ON idx_events
    USING brin (block_number) WITH (autosummarize = on);
