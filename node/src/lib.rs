//! # propledger-node
//!
//! The PropLedger node: it brings up a chain (its own embedded chain, or any EVM chain over
//! JSON-RPC), makes sure the platform contracts are deployed there exactly once, and keeps running
//! until stopped. The `propledger` binary (`src/bin/propledger.rs`) is a thin shell over this crate.
//!
//! Map:
//! - [`config`]: command-line and environment options of the binary.
//! - [`keys`]: signing keys from hex or encrypted keystores, for every key option.
//! - [`logging`]: the log, with every known secret masked.
//! - [`backup`]: backups taken while the node runs, and their checked restore.
//! - [`chain`]: the embedded chain: a persistent single-node EVM chain on revm with standard
//!   JSON-RPC over HTTP and WebSocket.
//! - [`deployment`]: the record of deployed contract addresses kept in the data directory.
//! - [`code`]: the deployed contracts' code hashes, and how a start compares them.
//! - [`node`]: start-up and shutdown of a node ([`Node::start`]).

pub use propledger_chain as chain;
pub mod backup;
pub mod code;
pub mod config;
pub mod demo;
pub mod deployment;
pub mod keys;
pub mod logging;
pub mod node;

mod error;

pub use error::{Error, Result};
pub use node::{Node, NodeConfig, RoleKeys};
