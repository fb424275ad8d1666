//! The API's database: the same SQLite file or PostgreSQL database the ledger and the indexer
//! use, with the API's own tables (`api_*`) and its own migrations table (`_api_migrations`).
//!
//! Statements are written once, with `$1`-style placeholders that both engines accept, and run
//! through [`Query`] on either engine. Values travel as binds, never formatted into the text.
//! Reads use the pool ([`Db::reader`]); writes run in a [`Tx`] begun by [`Db::begin`]: on
//! SQLite the API's writers take turns on one connection of their own and begin with
//! `BEGIN IMMEDIATE` (so a transaction never fails to upgrade from reading to writing), and wait
//! on the busy timeout for the ledger's writer in another connection; on PostgreSQL they use the
//! pool in READ COMMITTED, guarding every change that depends on what it read with the row it
//! changes (`UPDATE ... WHERE version = $n`) or a unique key.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row as _, Transaction};

use crate::error::{Error, Result};

/// The name of the table that records which of the API's migrations were applied. The ledger
/// keeps sqlx's default table for its own, and sqlx refuses a table that lists migrations it
/// does not know, so each crate keeps its own.
pub const MIGRATIONS_TABLE: &str = "_api_migrations";

/// Which engine the database runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The API's handle on its database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Inner,
}

#[derive(Clone, Debug)]
enum Inner {
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        watch: std::sync::Arc<ChangeWatch>,
    },
    Postgres(PgPool),
}

impl Db {
    /// Opens a database from a URL (`sqlite:<path>` or `postgres://...`) and applies the API's
    /// migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Self::open_sqlite(Path::new(path)).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::connect_postgres(url).await;
        }
        Err(Error::Config(
            "database url: expected sqlite:<path> or postgres://...".to_owned(),
        ))
    }

    /// Opens (creating if needed) a SQLite file in WAL mode and applies the migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Db> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await?;
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect)
            .await?;
        migrator(sqlx::migrate!("migrations/sqlite"))
            .run(&write)
            .await?;
        Ok(Db {
            inner: Inner::Sqlite {
                read,
                write,
                watch: std::sync::Arc::new(ChangeWatch::new(path)),
            },
        })
    }

    /// Connects to PostgreSQL and applies the migrations (sqlx takes an advisory lock, so
    /// several replicas may start at once).
    pub async fn connect_postgres(url: &str) -> Result<Db> {
        let connect = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(false)
            .connect_with(connect)
            .await?;
        migrator(sqlx::migrate!("migrations/postgres"))
            .run(&pool)
            .await?;
        Ok(Db {
            inner: Inner::Postgres(pool),
        })
    }

    /// For SQLite, what tells a commit by any connection or process: see [`ChangeWatch`].
    pub fn change_watch(&self) -> Option<std::sync::Arc<ChangeWatch>> {
        match &self.inner {
            Inner::Sqlite { watch, .. } => Some(watch.clone()),
            Inner::Postgres(_) => None,
        }
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        match self.inner {
            Inner::Sqlite { .. } => Engine::Sqlite,
            Inner::Postgres(_) => Engine::Postgres,
        }
    }

    /// Where reads run: the pool.
    pub fn reader(&self) -> Exec<'_> {
        match &self.inner {
            Inner::Sqlite { read, .. } => Exec::SqlitePool(read),
            Inner::Postgres(pool) => Exec::PgPool(pool),
        }
    }

    /// Begins a write transaction. It rolls back when dropped without [`Tx::commit`].
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.inner {
            Inner::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Inner::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        Query::new("SELECT 1").fetch_one(self.reader()).await?;
        Ok(())
    }

    /// Closes the pools.
    pub async fn close(&self) {
        match &self.inner {
            Inner::Sqlite { read, write, .. } => {
                write.close().await;
                read.close().await;
            }
            Inner::Postgres(pool) => pool.close().await,
        }
    }
}

fn migrator(mut m: Migrator) -> Migrator {
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

/// A write transaction on either engine.
#[derive(Debug)]
pub enum Tx {
    /// On SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// Where the transaction's statements run.
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(tx) => Exec::SqliteConn(tx),
            Tx::Postgres(tx) => Exec::PgConn(tx),
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Where a statement runs: a pool, or a connection in a transaction.
#[derive(Debug)]
pub enum Exec<'a> {
    /// A SQLite pool.
    SqlitePool(&'a SqlitePool),
    /// A PostgreSQL pool.
    PgPool(&'a PgPool),
    /// A SQLite connection.
    SqliteConn(&'a mut sqlx::SqliteConnection),
    /// A PostgreSQL connection.
    PgConn(&'a mut sqlx::PgConnection),
}

impl Exec<'_> {
    /// The same place for a shorter while, so one `Exec` runs several statements in turn.
    pub fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::SqlitePool(p) => Exec::SqlitePool(p),
            Exec::PgPool(p) => Exec::PgPool(p),
            Exec::SqliteConn(c) => Exec::SqliteConn(c),
            Exec::PgConn(c) => Exec::PgConn(c),
        }
    }
}

/// A bind value.
#[derive(Clone, Debug)]
pub enum Arg {
    /// An integer, or NULL.
    Int(Option<i64>),
    /// A float, or NULL (coordinates only; never money).
    Float(Option<f64>),
    /// Text, or NULL.
    Text(Option<String>),
    /// Bytes, or NULL.
    Bytes(Option<Vec<u8>>),
    /// A boolean, or NULL.
    Bool(Option<bool>),
}

macro_rules! arg_from {
    ($($ty:ty => $arm:ident),* $(,)?) => {
        $(
            impl From<$ty> for Arg {
                fn from(v: $ty) -> Self {
                    Arg::$arm(Some(v.into()))
                }
            }
            impl From<Option<$ty>> for Arg {
                fn from(v: Option<$ty>) -> Self {
                    Arg::$arm(v.map(Into::into))
                }
            }
        )*
    };
}

arg_from!(i64 => Int, f64 => Float, String => Text, &str => Text, Vec<u8> => Bytes, &[u8] => Bytes, bool => Bool);

/// One statement with its bind values.
#[derive(Clone, Debug, Default)]
pub struct Query {
    text: Cow<'static, str>,
    args: Vec<Arg>,
}

/// A value both engines can decode.
pub trait Column:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
{
}

/// A result row from either engine.
#[derive(Debug)]
pub enum Row {
    /// From SQLite.
    Sqlite(SqliteRow),
    /// From PostgreSQL.
    Postgres(PgRow),
}

impl Row {
    /// The value of a column by name.
    pub fn get<T: Column>(&self, column: &str) -> Result<T> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(column)?,
            Row::Postgres(r) => r.try_get(column)?,
        })
    }
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for arg in $args {
            q = match arg {
                Arg::Int(v) => q.bind(v),
                Arg::Float(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
            };
        }
        q
    }};
}

macro_rules! run {
    ($self:ident, $exec:ident, $method:ident, $wrap:expr) => {{
        let text = AssertSqlSafe($self.text);
        let args = $self.args;
        match $exec {
            Exec::SqlitePool(p) => $wrap(
                bind_all!(sqlx::query(text), args).$method(p).await?,
                Row::Sqlite,
            ),
            Exec::SqliteConn(c) => $wrap(
                bind_all!(sqlx::query(text), args).$method(&mut *c).await?,
                Row::Sqlite,
            ),
            Exec::PgPool(p) => $wrap(
                bind_all!(sqlx::query(text), args).$method(p).await?,
                Row::Postgres,
            ),
            Exec::PgConn(c) => $wrap(
                bind_all!(sqlx::query(text), args).$method(&mut *c).await?,
                Row::Postgres,
            ),
        }
    }};
}

impl Query {
    /// A fixed statement.
    pub fn new(text: &'static str) -> Self {
        Query {
            text: Cow::Borrowed(text),
            args: Vec::new(),
        }
    }

    /// A statement assembled at run time from fixed fragments (never from values, which travel
    /// as binds).
    pub fn assembled(text: String) -> Self {
        Query {
            text: Cow::Owned(text),
            args: Vec::new(),
        }
    }

    /// The same binds with another statement text (assembled from fixed fragments).
    pub fn with_text(mut self, text: String) -> Self {
        self.text = Cow::Owned(text);
        self
    }

    /// Adds a bind value.
    pub fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds a bind value in place.
    pub fn push(&mut self, arg: impl Into<Arg>) {
        self.args.push(arg.into());
    }

    /// How many values are bound so far (for numbering the next placeholder).
    pub fn binds(&self) -> usize {
        self.args.len()
    }

    /// Runs the statement; returns the number of rows it changed.
    pub async fn execute(self, exec: Exec<'_>) -> Result<u64> {
        fn affected<T: AffectedRows, F>(r: T, _: F) -> u64 {
            r.affected()
        }
        Ok(run!(self, exec, execute, affected))
    }

    /// Runs the statement and returns every row.
    pub async fn fetch_all(self, exec: Exec<'_>) -> Result<Vec<Row>> {
        fn all<R>(rows: Vec<R>, wrap: fn(R) -> Row) -> Vec<Row> {
            rows.into_iter().map(wrap).collect()
        }
        Ok(run!(self, exec, fetch_all, all))
    }

    /// Runs the statement and returns its first row, if any.
    pub async fn fetch_optional(self, exec: Exec<'_>) -> Result<Option<Row>> {
        fn opt<R>(row: Option<R>, wrap: fn(R) -> Row) -> Option<Row> {
            row.map(wrap)
        }
        Ok(run!(self, exec, fetch_optional, opt))
    }

    /// Runs the statement and returns its one row.
    pub async fn fetch_one(self, exec: Exec<'_>) -> Result<Row> {
        fn one<R>(row: R, wrap: fn(R) -> Row) -> Row {
            wrap(row)
        }
        Ok(run!(self, exec, fetch_one, one))
    }
}

trait AffectedRows {
    fn affected(&self) -> u64;
}

impl AffectedRows for sqlx::sqlite::SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl AffectedRows for sqlx::postgres::PgQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// Whether an error is a unique-key violation (an insert that lost a race, or a duplicate the
/// caller should hear about as a domain error).
pub fn is_unique_violation(e: &Error) -> bool {
    match e {
        Error::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
        _ => false,
    }
}

/// Tells whether a SQLite database in WAL mode changed, without a query: the header of its
/// shared-memory WAL index (`<database>-shm`), which every connection of every process updates
/// on each commit (the frame count, the salts when the log restarts, the change counter), read
/// with one `stat` and one positioned read. A token that differs means a commit happened; no
/// token (no index file yet) means nothing may be assumed.
#[derive(Debug)]
pub struct ChangeWatch {
    shm: std::path::PathBuf,
    /// The index file open, and its inode: a new file (after every connection closed and the
    /// database was opened again) is opened again.
    file: std::sync::Mutex<Option<(u64, std::fs::File)>>,
}

/// The WAL index header's size: two copies follow each other; the first is read.
const WAL_INDEX_HEADER: usize = 48;

/// What a [`ChangeWatch`] reads: the index file's inode and its header.
pub type ChangeToken = (u64, [u8; WAL_INDEX_HEADER]);

impl ChangeWatch {
    fn new(database: &Path) -> ChangeWatch {
        let mut shm = database.as_os_str().to_owned();
        shm.push("-shm");
        ChangeWatch {
            shm: shm.into(),
            file: std::sync::Mutex::new(None),
        }
    }

    /// The current token, or `None` when it cannot be read.
    pub fn token(&self) -> Option<ChangeToken> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let ino = std::fs::metadata(&self.shm).ok()?.ino();
        let mut held = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.as_ref().is_none_or(|(i, _)| *i != ino) {
            let f = std::fs::File::open(&self.shm).ok()?;
            *held = Some((f.metadata().ok()?.ino(), f));
        }
        let (ino, f) = held.as_ref()?;
        let mut header = [0u8; WAL_INDEX_HEADER];
        f.read_exact_at(&mut header, 0).ok()?;
        Some((*ino, header))
    }
}
