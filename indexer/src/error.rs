//! The indexer's error type.

use crate::source::SourceError;

/// What can go wrong while indexing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the chain failed (after the source's retries).
    #[error("chain source: {0}")]
    Source(#[from] SourceError),
    /// The ledger or its database refused or failed.
    #[error("ledger: {0}")]
    Ledger(#[from] propledger_ledger::Error),
    /// The endpoint serves another chain than the deployment or the database.
    #[error("chain id mismatch: expected {expected}, the endpoint serves {found}")]
    ChainMismatch {
        /// The chain id expected.
        expected: u64,
        /// The chain id found.
        found: u64,
    },
    /// A reorg reached below the window of stored block hashes.
    #[error(
        "block {at} does not extend the indexed chain and no fork point was found within the last {window} blocks"
    )]
    ReorgTooDeep {
        /// The first block that did not link.
        at: u64,
        /// The window size.
        window: u64,
    },
    /// Another indexer moved the checkpoint since this one read it; nothing was committed.
    /// Not fatal: [`crate::Indexer::run`] reloads and goes on from the stored checkpoint.
    #[error(
        "the checkpoint is no longer at block {expected}: another indexer writes to this database"
    )]
    Superseded {
        /// Where this indexer believed the checkpoint was.
        expected: u64,
    },
    /// A configuration error.
    #[error("configuration: {0}")]
    Config(String),
    /// Stored data is not what the indexer wrote.
    #[error("corrupt index data: {0}")]
    Corrupt(String),
}

impl Error {
    /// Whether retrying cannot help.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Error::ChainMismatch { .. }
                | Error::ReorgTooDeep { .. }
                | Error::Config(_)
                | Error::Corrupt(_)
        )
    }
}

/// Results of the indexer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
