//! The indexer's error type.

use crate::source::SourceError;

/// What can go wrong while indexing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the chain failed (after the source's retries).
    #[error("reading the chain failed")]
    Source(#[from] SourceError),
    /// The database failed (a lost connection, a timeout): the commit did not happen and may
    /// be tried again.
    #[error("the database failed")]
    Database(#[source] propledger_ledger::Error),
    /// The ledger refused what the indexer asked of it (a unit over its limits, an entry it
    /// does not take): trying the same again would be refused again.
    #[error("the ledger refused a commit")]
    Rejected(#[source] propledger_ledger::Error),
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
    /// One block makes more ledger entries than one commit can hold; blocks are never split.
    #[error("block {block} makes {entries} ledger entries, more than the {max} one commit holds")]
    BlockTooLarge {
        /// The block.
        block: u64,
        /// Entries its events make.
        entries: usize,
        /// The most one commit holds.
        max: usize,
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
    /// The chain answered with data that does not hold together (logs out of order, a missing
    /// block, a value out of range); a later answer may be right.
    #[error("bad chain data: {0}")]
    BadChainData(String),
    /// The index's tables hold what the indexer never writes.
    #[error("corrupt index data: {0}")]
    CorruptStore(String),
    /// A task of the indexer (preparing a chunk, finishing a commit) panicked or was cancelled.
    #[error("an indexer task failed: {0}")]
    TaskFailed(String),
    /// A broken invariant of the indexer itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Whether retrying cannot help: the run stops and returns the error.
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::ChainMismatch { .. }
            | Error::ReorgTooDeep { .. }
            | Error::BlockTooLarge { .. }
            | Error::Rejected(_)
            | Error::Config(_)
            | Error::CorruptStore(_)
            | Error::Internal(_) => true,
            Error::Source(_)
            | Error::Database(_)
            | Error::Superseded { .. }
            | Error::BadChainData(_)
            | Error::TaskFailed(_) => false,
        }
    }

    /// The error and its causes, `: `-separated, for logs.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cause = e.source();
        }
        out
    }
}

impl From<propledger_ledger::Error> for Error {
    /// A database failure may pass; anything else the ledger says is a refusal that would
    /// repeat. (A failed checkpoint guard is mapped where the commit is applied, to
    /// [`Error::Superseded`].)
    fn from(e: propledger_ledger::Error) -> Self {
        match e {
            propledger_ledger::Error::Database(_) | propledger_ledger::Error::LockFile { .. } => {
                Error::Database(e)
            }
            _ => Error::Rejected(e),
        }
    }
}

/// Results of the indexer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_ledger_are_never_retried() {
        let invalid = propledger_ledger::Error::InvalidInput {
            field: "unit of work",
            reason: "10001 entries exceed the limit of 10000".into(),
        };
        let e = Error::from(invalid);
        assert!(matches!(e, Error::Rejected(_)), "{e:?}");
        assert!(e.is_fatal());
        let batch = propledger_ledger::Error::BatchTooLarge {
            count: 10_001,
            max: 10_000,
        };
        assert!(Error::from(batch).is_fatal());
        let lost = propledger_ledger::Error::Database(sqlx::Error::PoolTimedOut);
        let e = Error::from(lost);
        assert!(matches!(e, Error::Database(_)) && !e.is_fatal(), "{e:?}");
        assert!(
            e.report().starts_with("the database failed: "),
            "{}",
            e.report()
        );
    }
}
