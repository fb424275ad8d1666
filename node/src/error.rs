//! The node's error type.

use std::path::PathBuf;

/// Errors of the node library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("i/o error at {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedded chain failed to start or stop.
    #[error("embedded chain: {0}")]
    Chain(#[from] crate::chain::Error),
    /// The deployment record is not valid JSON of the expected shape.
    #[error("deployment record {path} is unreadable: {reason}")]
    BadRecord {
        /// The record file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The data directory records a deployment on a different chain.
    #[error(
        "the data directory belongs to chain {recorded}, but the rpc endpoint is chain {actual}"
    )]
    ChainMismatch {
        /// Chain id in the record.
        recorded: u64,
        /// Chain id reported by the endpoint.
        actual: u64,
    },
    /// The data directory's deployment record names another platform than the database's.
    #[error(
        "this data directory records the platform whose directory is {data_dir}, but the database records the one at {database}; use the data directory of that platform, or another database"
    )]
    PlatformDiffers {
        /// The data directory's platform (its directory contract).
        data_dir: alloy::primitives::Address,
        /// The database's platform (its directory contract).
        database: alloy::primitives::Address,
    },
    /// The recorded contracts have no code on the external chain.
    #[error(
        "the recorded contract {address} has no code on chain {chain_id}; remove {record} to deploy anew"
    )]
    MissingContracts {
        /// A recorded address without code.
        address: alloy::primitives::Address,
        /// The chain.
        chain_id: u64,
        /// The record file.
        record: PathBuf,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The ledger's database failed or refused.
    #[error("ledger: {0}")]
    Ledger(#[from] propledger_ledger::Error),
    /// The indexer failed.
    #[error("indexer: {0}")]
    Indexer(#[from] propledger_indexer::Error),
    /// A JSON-RPC request failed.
    #[error("rpc error: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A key could not be loaded.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// A backup could not be made or restored.
    #[error("backup: {0}")]
    Backup(String),
    /// A restored node's books disagree with its chain.
    #[error("the restored books do not match the chain: {0}")]
    RestoredBooksDiffer(String),
    /// The HTTP API failed to start.
    #[error("api: {0}")]
    Api(#[from] propledger_api::Error),
    /// Deploying the contracts failed.
    #[error(transparent)]
    Deploy(#[from] propledger_contracts::Error),
}

/// Result alias of the node library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
