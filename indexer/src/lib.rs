//! # propledger-indexer
//!
//! Follows an EVM chain over JSON-RPC and records the events of the PropLedger contracts in the
//! database, booking them into the ledger with finality and reorg handling.
//!
//! Map: this crate is the home of the chain follower. It holds no code yet; the contract bindings
//! it will decode with live in `propledger-contracts` (`contracts/bindings`) and the books it will
//! write in `propledger-ledger`.
