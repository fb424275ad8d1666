//! Integration tests of the indexer against real chains: anvil from node_modules and the
//! embedded chain, with real SQLite and a throwaway PostgreSQL.
//!
//! - `source`: the JSON-RPC layer against anvil, the embedded chain and a fault-injecting proxy.
//! - `bench`: the benchmark behind `scripts/bench indexer` (ignored; run in release mode).
//! - `books`: the entries events make, reconciliation, contracts registered later, faults.
//! - `crash`: SIGKILL at 60 seeded points while indexing; the result equals an uninterrupted run.
//! - `leader`: several indexers on one database: stale commits are refused, a standby takes
//!   over from a leader that is gone.
//! - `limits`: ranges with more booking events than one ledger unit takes are committed in
//!   several; a block that alone holds more is a fatal error, not retried.
//! - `reorg`: reorgs of every kind on both chains and both engines, compared with a fresh index.
//! - `tls`: backfill and follow over `https://` and `wss://` through a TLS-terminating proxy;
//!   an untrusted certificate is refused.
//! - `upgrade`: databases whose index tables were made without migrations (committed fixtures,
//!   SQLite and a PostgreSQL dump) are adopted and end with this schema and the same data.

mod bench;
mod books;
mod crash;
mod leader;
mod limits;
mod reorg;
mod source;
mod support;
mod tls;
mod upgrade;

/// The allocator the `propledger` binary uses, so tests and the benchmark run as the node does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
