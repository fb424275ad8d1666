//! Roles held by one process at a time among those sharing a database.
//!
//! Some work must have a single writer even when several processes share the ledger's
//! database: the indexer of a chain is one (a second one would fetch and commit the same
//! blocks). [`Ledger::try_lock`] takes a named lock that lasts as long as the returned
//! [`NamedLock`] lives, and ends with the process that holds it, however it ends:
//!
//! - PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its
//!   own, outside the pool. The server releases it when that session ends, including when the
//!   holder is killed and its socket closes.
//! - SQLite: an exclusive OS file lock (`flock`) on `<database>.<name>.lock` beside the
//!   database file, released by the kernel when the holder's file descriptor closes. An
//!   in-memory database cannot be shared with another process, so its lock is always granted.
//!
//! A lock is advisory: it keeps cooperating processes apart; it does not fence a holder that
//! lost it without noticing. Writers that must never overlap also guard their commits (see
//! [`crate::unit::UnitOfWork::guard`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::error::{Error, Result};
use crate::store::{Ledger, Pool};

/// Longest lock name, in bytes.
const MAX_NAME: usize = 64;

/// How long [`NamedLock::held`] waits for PostgreSQL to answer.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A named lock held by this process; released when dropped.
#[derive(Debug)]
pub struct NamedLock {
    name: String,
    held: Held,
}

#[derive(Debug)]
enum Held {
    Postgres(Option<PgConnection>),
    /// The lock file stays when released (removing it could race with a process that just
    /// opened it); its lock goes with the descriptor.
    File {
        /// Kept open for as long as the lock is held.
        _file: File,
    },
    Memory,
}

impl NamedLock {
    /// Releases the lock now and waits until it is released (dropping it releases it too;
    /// on PostgreSQL the server notices the closed session a moment later).
    pub async fn release(mut self) {
        if let Held::Postgres(Some(mut conn)) = std::mem::replace(&mut self.held, Held::Memory) {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(advisory_key(&self.name))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the lock is still held. On PostgreSQL this asks the lock's session (an answer
    /// means the session, and so the lock, is alive); a session that does not answer within
    /// five seconds is closed and the lock counts as lost from then on. File and in-memory
    /// locks last as long as the process.
    pub async fn held(&mut self) -> bool {
        match &mut self.held {
            Held::Postgres(conn) => {
                let Some(c) = conn.as_mut() else {
                    return false;
                };
                let alive = matches!(
                    tokio::time::timeout(PING_TIMEOUT, c.ping()).await,
                    Ok(Ok(()))
                );
                if !alive {
                    // Dropping the connection ends the session for good.
                    *conn = None;
                }
                alive
            }
            Held::File { .. } | Held::Memory => true,
        }
    }
}

/// The PostgreSQL advisory lock key of a name: the first eight bytes of its SHA-256, in a
/// namespace of its own.
fn advisory_key(name: &str) -> i64 {
    let digest = Sha256::digest(format!("propledger-lock:{name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "lock name",
            format!("1 to {MAX_NAME} characters of a-z, 0-9, '-' and '_'"),
        ))
    }
}

impl Ledger {
    /// Takes the lock `name` (1 to 64 characters of `a-z0-9-_`) if no other holder has it:
    /// `Ok(None)` when another process (or another [`NamedLock`] of this one) holds it. See
    /// the [module](crate::lock) for how each engine keeps it.
    pub async fn try_lock(&self, name: &str) -> Result<Option<NamedLock>> {
        check_name(name)?;
        let held = match &self.pool {
            Pool::Postgres(pool) => {
                let options = pool.connect_options();
                let mut conn = PgConnection::connect_with(&options).await?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(advisory_key(name))
                    .fetch_one(&mut conn)
                    .await?;
                if !got {
                    conn.close().await.ok();
                    return Ok(None);
                }
                Held::Postgres(Some(conn))
            }
            Pool::Sqlite { write, .. } => {
                let options = write.connect_options();
                let file = options.get_filename();
                let in_memory = file.as_os_str().is_empty() || file.as_os_str() == ":memory:";
                if in_memory {
                    Held::Memory
                } else {
                    let mut path = file.as_os_str().to_owned();
                    path.push(format!(".{name}.lock"));
                    let path = PathBuf::from(path);
                    let failed = |source| Error::LockFile {
                        path: path.display().to_string(),
                        source,
                    };
                    let mut f = OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)
                        .map_err(failed)?;
                    match f.try_lock() {
                        Ok(()) => {}
                        Err(TryLockError::WouldBlock) => return Ok(None),
                        Err(TryLockError::Error(e)) => return Err(failed(e)),
                    }
                    // Who holds it, for whoever looks at the file.
                    f.set_len(0)
                        .and_then(|()| writeln!(f, "{}", std::process::id()))
                        .map_err(failed)?;
                    Held::File { _file: f }
                }
            }
        };
        Ok(Some(NamedLock {
            name: name.to_owned(),
            held,
        }))
    }
}
