-- The chain head the indexer saw when it last committed, so that other processes (the API) can
-- tell how far behind the index is without asking the chain. NULL until the next commit.
ALTER TABLE idx_state ADD COLUMN head_block BIGINT;
