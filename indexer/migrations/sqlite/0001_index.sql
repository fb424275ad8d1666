-- The indexer's tables, kept in the ledger's database so that a block's events, its entries
-- and the checkpoint commit in one transaction. Written with IF NOT EXISTS: a database made by
-- builds that created these tables before they were versioned already holds them, and this
-- migration then only records that they are there.

-- Every event of a watched contract: the raw log and its decoded form, stored once. The pair
-- (block, log index) is the primary key: the table needs an index in block order anyway, and a
-- unique one costs no more on SQLite.
CREATE TABLE IF NOT EXISTS idx_events (
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    block_hash BYTEA NOT NULL,
    tx_hash BYTEA NOT NULL,
    tx_index BIGINT NOT NULL,
    address BYTEA NOT NULL,
    topics BYTEA NOT NULL,
    data BYTEA NOT NULL,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    decoded TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);

-- The checkpoint: the next block to index, and what the books are kept in.
CREATE TABLE IF NOT EXISTS idx_state (
    id BIGINT PRIMARY KEY,
    chain_id BIGINT NOT NULL,
    next_block BIGINT NOT NULL,
    currency TEXT NOT NULL,
    token_decimals BIGINT NOT NULL
);

-- Recent blocks (the reorg window) and the last block of each backfill commit.
CREATE TABLE IF NOT EXISTS idx_blocks (
    number BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    parent_hash BYTEA NOT NULL,
    timestamp BIGINT NOT NULL
);

-- Watched contracts; properties' contracts are added when the directory registers them.
CREATE TABLE IF NOT EXISTS idx_contracts (
    address BYTEA PRIMARY KEY,
    kind TEXT NOT NULL,
    property_id TEXT,
    added_block BIGINT NOT NULL
);

-- A contract's events by address. Share `Transfer` events, the bulk of all events, are left
-- out: they are read by block (the cap table), and indexing them by address would cost about a
-- tenth of the indexing rate.
CREATE INDEX IF NOT EXISTS idx_events_contract ON idx_events (address, block_number)
    WHERE event <> 'Transfer';

-- Ledger entries made from events: `pending` until final, `posted`, or `retracted` when a reorg
-- removed the event.
CREATE TABLE IF NOT EXISTS idx_bookings (
    entry_key TEXT PRIMARY KEY,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    status TEXT NOT NULL,
    reference TEXT
);
CREATE INDEX IF NOT EXISTS idx_bookings_block ON idx_bookings (block_number);
