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
//! - [`follow`]: the [`Indexer`]: the step machine (backfill, following the head, reorgs);
//!   `follow::window`, the pure reorg window (extends / forked / inconsistent, fork points);
//!   `follow::pipeline`, the backfill pass (chunks prepared ahead, commits in flight);
//!   `follow::stage`, a commit staged in named steps; `follow::accounts`, the accounts booked
//!   into.
//! - [`store`]: every statement on the indexer's tables (`idx_*`, in the ledger's database),
//!   their migrations (`indexer/migrations/`, recorded in `_indexer_migrations`), and the
//!   typed reads other crates use ([`store::checkpoint`] for the indexer's lag).
//! - [`leader`]: one indexer per chain and database; standbys take over when it dies.
//! - [`audit`]: the cap table at any block and the reconciliation of books against chain.
//! - [`error`]: the error type.

pub mod audit;
pub mod books;
pub mod decode;
pub mod error;
pub mod follow;
pub mod leader;
pub mod source;
pub mod store;

pub use error::{Error, Result};
pub use follow::{Indexer, IndexerConfig, Step};
pub use leader::{Leader, run_exclusive};
