//! # propledger-indexer
//!
//! Follows an EVM chain over JSON-RPC, records every event of the platform's contracts exactly
//! once in canonical order, books the events that move money into the ledger with finality,
//! survives reorgs and crashes, and reconciles the books against chain state.
//!
//! Map:
//! - [`source`]: the chain side: JSON-RPC reads with adaptive `eth_getLogs` ranges, bounded
//!   concurrency, and retries with backoff.
//! - [`decode`]: every event of every platform contract, decoded by the committed ABIs.
//! - [`books`]: which events make which ledger entries.
//! - [`follow`]: the [`Indexer`]: backfill, following the head, reorg rollback, and the
//!   one-transaction commit of a range of blocks (events, entries, window, checkpoint).
//! - [`leader`]: one indexer per chain and database; standbys take over when it dies.
//! - [`audit`]: the cap table at any block and the reconciliation of books against chain.
//! - `schema`: the indexer's tables, kept in the ledger's database.
//! - [`error`]: the error type.

pub mod audit;
pub mod books;
pub mod decode;
pub mod error;
pub mod follow;
pub mod leader;
mod schema;
pub mod source;

pub use error::{Error, Result};
pub use follow::{Indexer, IndexerConfig, Step};
pub use leader::{Leader, run_exclusive};
