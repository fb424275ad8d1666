//! The indexer's tables, kept in the ledger's database so that a block's events, its entries
//! and the checkpoint commit in one transaction. The same statements run on SQLite and
//! PostgreSQL (`BYTEA` columns hold blobs on both), but for how events are keyed.
//!
//! Each event is stored once. Commits cover disjoint runs of blocks, which the checkpoint they
//! move (a guarded update in the same transaction) makes sure of in the database; a commit that
//! finds a new contract also brings that contract's earlier events, which no commit before it
//! stored, as the contract was not watched. And a commit's events are strictly increasing by
//! (block, log index), which is checked before they are loaded. On SQLite the events table also has that pair as its primary key: it needs an
//! index in block order anyway, and a unique one costs no more there. On PostgreSQL it has none:
//! keeping a unique B-tree on every insert cost about a tenth of a backfill's time (measured
//! with `scripts/bench indexer`); a BRIN index over block numbers, nearly free to keep since
//! blocks arrive in order, serves the range deletes of reorgs and the cap table's reads.

use propledger_ledger::Backend;

/// The columns of every event: the raw log and its decoded form.
macro_rules! events_columns {
    () => {
        "block_number BIGINT NOT NULL,
        log_index BIGINT NOT NULL,
        block_hash BYTEA NOT NULL,
        tx_hash BYTEA NOT NULL,
        tx_index BIGINT NOT NULL,
        address BYTEA NOT NULL,
        topics BYTEA NOT NULL,
        data BYTEA NOT NULL,
        kind TEXT NOT NULL,
        event TEXT NOT NULL,
        decoded TEXT NOT NULL"
    };
}

/// Statements creating the tables on `backend`; safe to run again.
pub(crate) fn schema(backend: Backend) -> Vec<&'static str> {
    let events: &[&str] = match backend {
        Backend::Sqlite => &[concat!(
            "CREATE TABLE IF NOT EXISTS idx_events (",
            events_columns!(),
            ", PRIMARY KEY (block_number, log_index))"
        )],
        Backend::Postgres => &[
            concat!(
                "CREATE TABLE IF NOT EXISTS idx_events (",
                events_columns!(),
                ")"
            ),
            // Ranges are summarized as they fill, so that reads skip all but the recent ones.
            "CREATE INDEX IF NOT EXISTS idx_events_block ON idx_events \
             USING brin (block_number) WITH (autosummarize = on)",
        ],
    };
    events.iter().chain(TABLES).copied().collect()
}

/// The other tables, the same on both engines.
const TABLES: &[&str] = &[
    // The checkpoint: the next block to index, and what the books are kept in.
    "CREATE TABLE IF NOT EXISTS idx_state (
        id BIGINT PRIMARY KEY,
        chain_id BIGINT NOT NULL,
        next_block BIGINT NOT NULL,
        currency TEXT NOT NULL,
        token_decimals BIGINT NOT NULL
    )",
    // Recent blocks (the reorg window) and the last block of each backfill commit.
    "CREATE TABLE IF NOT EXISTS idx_blocks (
        number BIGINT PRIMARY KEY,
        hash BYTEA NOT NULL,
        parent_hash BYTEA NOT NULL,
        timestamp BIGINT NOT NULL
    )",
    // Watched contracts; properties' contracts are added when the directory registers them.
    "CREATE TABLE IF NOT EXISTS idx_contracts (
        address BYTEA PRIMARY KEY,
        kind TEXT NOT NULL,
        property_id TEXT,
        added_block BIGINT NOT NULL
    )",
    // A contract's events by address. Share `Transfer` events, the bulk of all events, are left
    // out: they are read by block (the cap table), which the block index serves, and indexing
    // them by address would cost about a tenth of the indexing rate.
    "CREATE INDEX IF NOT EXISTS idx_events_contract ON idx_events (address, block_number) \
     WHERE event <> 'Transfer'",
    // Ledger entries made from events: `pending` until final, `posted`, or `retracted` when a
    // reorg removed the event.
    "CREATE TABLE IF NOT EXISTS idx_bookings (
        entry_key TEXT PRIMARY KEY,
        block_number BIGINT NOT NULL,
        log_index BIGINT NOT NULL,
        status TEXT NOT NULL,
        reference TEXT
    )",
    "CREATE INDEX IF NOT EXISTS idx_bookings_block ON idx_bookings (block_number)",
];
