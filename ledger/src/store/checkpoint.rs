//! WAL checkpoints off the writer's path.
//!
//! In WAL mode a commit appends the pages it changed to the write-ahead log, and a checkpoint
//! copies them into the database file and syncs it. SQLite's default runs that checkpoint
//! inside the commit that takes the log past 1,000 pages, on the writer's connection: a large
//! write (a range of indexed blocks, a batch of entries) returns only once it has been written
//! twice and synced twice, and the next write waits for it.
//!
//! Here a connection of its own checkpoints after writes, while the writer goes on with the
//! next one. It runs in `PASSIVE` mode, which never waits for (or blocks) readers or the
//! writer: it copies what has been committed and is not needed by a reader's snapshot. The
//! writer keeps SQLite's automatic checkpoint, at [`BACKSTOP_PAGES`], for when this one falls
//! behind or fails: the log stays bounded either way.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::mpsc;

/// The writer's own automatic checkpoint, in pages of log (SQLite's default is 1,000).
pub(crate) const BACKSTOP_PAGES: u32 = 8_192;

/// Least time between two checkpoints: writes made meanwhile go into the next one, so a run of
/// small commits costs a checkpoint (and its syncs) per interval rather than per commit.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

enum Message {
    /// Something was written: checkpoint when the interval allows.
    Wrote,
    /// The ledger is closing.
    Close,
}

/// The handle on a running checkpointer. The checkpointer stops when [`Checkpoints::close`] is
/// called or when the last handle is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Checkpoints {
    tx: mpsc::Sender<Message>,
}

/// Tells the checkpointer of writes without keeping it running: the writers' pool holds one,
/// and the checkpointer stops with the ledger's handles, not with the pool.
#[derive(Clone)]
pub(crate) struct WriteSignal {
    tx: mpsc::WeakSender<Message>,
}

impl WriteSignal {
    /// Asks for a checkpoint; requests made while one is pending or running are merged.
    pub(crate) fn wrote(&self) {
        if let Some(tx) = self.tx.upgrade() {
            // Full means a checkpoint is already asked for.
            let _ = tx.try_send(Message::Wrote);
        }
    }
}

impl Checkpoints {
    /// Opens the checkpointer's connection to the database of `connect` and starts it.
    pub(crate) async fn start(connect: &SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let conn = connect.connect().await?;
        // One slot: a request waiting there stands for every write made since it was sent.
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(run(conn, rx));
        Ok(Checkpoints { tx })
    }

    /// The signal for the writers' pool.
    pub(crate) fn signal(&self) -> WriteSignal {
        WriteSignal {
            tx: self.tx.downgrade(),
        }
    }

    /// Stops the checkpointer, which closes its connection.
    pub(crate) async fn close(&self) {
        let _ = self.tx.send(Message::Close).await;
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Message>) {
    while let Some(Message::Wrote) = rx.recv().await {
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_optional(&mut conn)
            .await
        {
            // The writer's own checkpoint still bounds the log.
            tracing::warn!(%error, "background WAL checkpoint failed");
        }
        tokio::time::sleep(MIN_INTERVAL).await;
    }
    let _ = conn.close().await;
}
