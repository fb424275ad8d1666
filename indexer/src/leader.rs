//! One indexer per chain and database, with standbys.
//!
//! Several processes may share one database (API replicas on one PostgreSQL, or a second
//! node started by mistake on the same data directory); only one of them may index a given
//! chain into it. The role is a named lock of the ledger (`indexer-<chain id>`; see
//! [`propledger_ledger::lock`]): the process holding it is the leader and indexes; the others
//! stand by, trying the lock every few seconds, and the first to get it after the leader dies
//! takes over from the stored checkpoint. A leader checks that its lock is still alive between
//! steps and stands by again when it is not.
//!
//! The lock keeps cooperating processes apart; correctness does not rest on it. Every commit
//! also guards the checkpoint (it moves only from where the committing indexer last read
//! it), so an indexer that lost its role without noticing commits nothing: its transaction
//! rolls back with [`Error::Superseded`].

use std::time::Duration;

use propledger_ledger::Ledger;
use propledger_ledger::lock::NamedLock;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::error::Result;
use crate::follow::{Indexer, IndexerConfig};

/// How often a leader checks it still holds the lock.
pub const LOCK_INTERVAL: Duration = Duration::from_secs(2);

/// How often a standby tries the lock: the most a takeover waits after the leader's process
/// is gone (a try is one short connection on PostgreSQL, a lock-file attempt on SQLite).
pub const STANDBY_INTERVAL: Duration = Duration::from_millis(500);

/// The lock naming the indexer of `chain_id`.
pub fn lock_name(chain_id: u64) -> String {
    format!("indexer-{chain_id}")
}

/// An indexer that holds its chain's role in its database.
pub struct Leader {
    lock: NamedLock,
    indexer: Indexer,
}

impl std::fmt::Debug for Leader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader")
            .field("lock", &self.lock.name())
            .field("next_block", &self.indexer.next_block())
            .finish_non_exhaustive()
    }
}

impl Leader {
    /// Takes the role of indexing `cfg`'s chain into `ledger`'s database and opens the
    /// indexer (see [`Indexer::new`]); `None` when another indexer holds the role.
    pub async fn try_acquire(ledger: &Ledger, cfg: &IndexerConfig) -> Result<Option<Leader>> {
        let Some(lock) = ledger.try_lock(&lock_name(cfg.platform.chain_id)).await? else {
            return Ok(None);
        };
        // Opened only once the role is held: a first start initializes the database, which
        // two processes must not do at once.
        let indexer = Indexer::new(ledger.clone(), cfg.clone()).await?;
        Ok(Some(Leader { lock, indexer }))
    }

    /// The indexer.
    pub fn indexer(&mut self) -> &mut Indexer {
        &mut self.indexer
    }

    /// Indexes (as [`Indexer::run`]) until `stop` turns true, returning `Ok(true)`, or until
    /// the lock is found lost, returning `Ok(false)`.
    pub async fn run(&mut self, stop: watch::Receiver<bool>) -> Result<bool> {
        let Leader { lock, indexer } = self;
        tokio::select! {
            result = indexer.run(stop) => result.map(|()| true),
            () = lost(lock) => Ok(false),
        }
    }
}

/// Resolves once `lock` is no longer held.
async fn lost(lock: &mut NamedLock) {
    loop {
        tokio::time::sleep(LOCK_INTERVAL).await;
        if !lock.held().await {
            return;
        }
    }
}

/// Indexes `cfg`'s chain into `ledger` as the one indexer of that chain in that database,
/// until `stop` turns true: leads with `leader` when given, otherwise stands by until the
/// role is free, and stands by again whenever the role is lost. Returns the errors that
/// retrying cannot help (see [`crate::Error::is_fatal`]).
pub async fn run_exclusive(
    ledger: Ledger,
    cfg: IndexerConfig,
    mut leader: Option<Leader>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let name = lock_name(cfg.platform.chain_id);
    let mut announced = false;
    while !*stop.borrow() {
        let mut current = match leader.take() {
            Some(l) => l,
            None => match Leader::try_acquire(&ledger, &cfg).await {
                Ok(Some(l)) => {
                    info!(lock = %name, next_block = l.indexer.next_block(), "indexer role taken");
                    l
                }
                Err(e) if e.is_fatal() => return Err(e),
                result => {
                    match result {
                        Err(e) => warn!(error = %e, "taking the indexer role failed; retrying"),
                        _ if !announced => {
                            info!(lock = %name, "another indexer holds this chain's role; standing by");
                            announced = true;
                        }
                        _ => {}
                    }
                    tokio::select! {
                        () = tokio::time::sleep(STANDBY_INTERVAL) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            },
        };
        announced = false;
        let led = current.run(stop.clone()).await;
        let Leader { lock, .. } = current;
        match led {
            Ok(true) => {
                lock.release().await;
                return Ok(());
            }
            Err(e) => {
                lock.release().await;
                return Err(e);
            }
            Ok(false) => {}
        }
        warn!(lock = %name, "the indexer's lock was lost; standing by");
    }
    Ok(())
}
