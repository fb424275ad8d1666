//! Copies of a SQLite ledger taken while it is in use, and their check.
//!
//! The copy is SQLite's own: `VACUUM INTO` writes the database as one read transaction sees
//! it, so it is consistent however many commits land meanwhile, and it neither blocks the
//! writer (the database runs in WAL mode) nor copies the write-ahead log's history. A
//! PostgreSQL ledger is copied with PostgreSQL's tools (`pg_dump`, or a base backup with WAL
//! archiving for point-in-time recovery).

use std::{path::Path, time::Duration};

use sqlx::{
    ConnectOptions, Connection,
    sqlite::{SqliteConnectOptions, SqliteConnection},
};

use crate::{Error, Result};

/// How long the copy waits for a writer that holds the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

async fn open_existing(path: &Path) -> Result<SqliteConnection> {
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT)
        .connect()
        .await?)
}

/// Writes a consistent copy of the SQLite ledger at `src` to `dst`, a file that must not exist
/// yet, while other connections and processes keep reading and writing `src`.
pub async fn copy_sqlite(src: &Path, dst: &Path) -> Result<()> {
    if dst.exists() {
        return Err(Error::invalid(
            "backup file",
            format!("{} exists already", dst.display()),
        ));
    }
    let target = dst
        .to_str()
        .ok_or_else(|| Error::invalid("backup file", "the path is not UTF-8"))?;
    let mut conn = open_existing(src).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Checks a SQLite ledger file page by page (`PRAGMA integrity_check`); an error names the
/// first problem SQLite reports.
pub async fn check_sqlite(path: &Path) -> Result<()> {
    let mut conn = open_existing(path).await?;
    let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if verdict != "ok" {
        return Err(Error::invalid(
            "database file",
            format!("{} fails its integrity check: {verdict}", path.display()),
        ));
    }
    Ok(())
}
