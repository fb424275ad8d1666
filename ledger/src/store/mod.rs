//! Storage: the [`Ledger`] handle over a SQLite or PostgreSQL pool, and the small layer that lets
//! the aggregate modules (`account`, `entry`, `report`, `export`, `verify`) write each query once.
//!
//! Both engines take the same SQL text: `$1`-style placeholders work in SQLite too (statements
//! assembled at run time use `?`, numbered for PostgreSQL), and the schemas
//! (`migrations/sqlite`, `migrations/postgres`) keep the same tables and columns. The
//! differences live here and in `sql`: how a write transaction begins and locks the head row,
//! how several statements share a round trip, and how reads get a consistent snapshot.
//!
//! Writers serialize on the single `ledger_head` row: on SQLite the transaction begins with
//! `BEGIN IMMEDIATE` (one writer at a time: a handle's writers take turns on its one write
//! connection, other processes wait on the busy timeout); on PostgreSQL
//! it begins with `BEGIN; SELECT ... FROM ledger_head ... FOR UPDATE` in READ COMMITTED, and the
//! balances are read by a later statement, which sees every commit made before the lock was
//! granted. Balances are read and written under that lock, so there are no lost updates.
//!
//! A write costs few round trips: `BEGIN`, the lock and the balance read travel together; the
//! inserts and updates go as one request (a multi-statement request on SQLite, data-modifying
//! CTEs on PostgreSQL), with `COMMIT` on SQLite. A small entry can do with a single round trip:
//! the head carries a version, advanced by one on every update of the head (the schema enforces
//! it), and a handle remembers the head and the totals its last write left. An entry computed
//! from them is applied by [`Ledger::apply_if_current`] in one request that commits: every
//! insert and the head update are guarded by the head still having that version once the lock
//! is held, so a write never lands on a head or balances that changed since. Accounts are
//! immutable, so their attributes
//! come from an in-process cache rather than a read per write. Write transactions are begun and
//! ended by this crate (not sqlx's `Transaction`), and roll back when dropped, including when a
//! caller is cancelled mid-statement.
//!
//! On SQLite, WAL checkpoints run on a connection of their own beside the writer (`checkpoint`),
//! and many rows load through one prepared statement driven directly (`rows`).

mod checkpoint;
mod rows;
mod sql;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::account::{Accounts, Loaded, load_accounts, load_with_totals, totals_from_row};
use crate::budget::Budgets;
use crate::core::{Account, AccountId, ChainLink, EntryHash, EntryId, Totals, chain_hash};
use crate::entry::Entries;
use crate::error::{Error, Result};
use crate::export::Exports;
use crate::report::Reports;
use crate::verify::Verifier;

pub use sql::TxConn;
pub(crate) use sql::{Arg, Row, Sql, Tx, WriteConn, list, placeholders};

use sql::gate_insert;

/// Most rows bound in one statement, below both SQLite's and PostgreSQL's parameter limits.
pub(crate) const MAX_BINDS: usize = 30_000;

/// Most units of work begun and not yet finished on a SQLite handle (on PostgreSQL, the
/// pool's size): each holds its rows in memory until it finishes.
const SQLITE_UNITS_IN_FLIGHT: usize = 4;

/// Most rows read per page when scanning the whole ledger (verification, exports).
pub(crate) const PAGE_ROWS: i64 = 2_000;

/// How durable a SQLite commit is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum SqliteDurability {
    /// `synchronous=FULL`: a commit is on disk when it returns (survives power loss).
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits survive a process crash but the last ones may be lost on
    /// power loss; the database stays consistent either way.
    Normal,
}

/// Options for a SQLite ledger.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Database file; created when missing.
    pub path: PathBuf,
    /// Commit durability.
    pub durability: SqliteDurability,
    /// Readers' pool size (readers run in parallel under WAL); writers take turns on one more
    /// connection of their own.
    pub max_connections: u32,
    /// How long a writer waits for another writer before giving up.
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    /// Defaults for a file: durable commits, 4 connections, 30 s busy timeout.
    pub fn new(path: impl AsRef<Path>) -> Self {
        SqliteOptions {
            path: path.as_ref().to_owned(),
            durability: SqliteDurability::Full,
            max_connections: 4,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// Options for a PostgreSQL ledger.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Connection URL, `postgres://user@host:port/db`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

impl PostgresOptions {
    /// Defaults: 8 connections.
    pub fn new(url: &str) -> Self {
        PostgresOptions {
            url: url.to_owned(),
            max_connections: 8,
        }
    }
}

/// Which engine a ledger runs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    /// Embedded SQLite in WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// Readers share `read`; writers take turns on `write`'s one connection.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        checkpoints: checkpoint::Checkpoints,
    },
    Postgres(PgPool),
}

/// The ledger: a handle over one database. Cheap to clone; clones share the pool.
#[derive(Clone, Debug)]
pub struct Ledger {
    pub(crate) pool: Pool,
    accounts: Arc<AccountCache>,
    last_write: Arc<Mutex<Option<WriteState>>>,
    /// Units of work begun and not yet finished ([`Ledger::begin`]).
    units: Arc<tokio::sync::Semaphore>,
}

/// Most balances kept in [`WriteState`]; past that it starts over.
const WRITE_STATE_MAX: usize = 10_000;

/// The head and some accounts' totals as this process last wrote them, at `head.version`.
///
/// Only a guess: another process (or another handle) may have written since. A write computed
/// from it is applied only if, under the writers' lock, the head still has that version (every
/// update of the head advances it, and every write of entries or balances updates the head);
/// otherwise nothing is written and the writer takes the locked path.
#[derive(Debug)]
pub(crate) struct WriteState {
    pub(crate) head: Head,
    pub(crate) totals: HashMap<AccountId, Totals>,
}

/// Most accounts kept in the in-process cache; past that it starts over.
const ACCOUNT_CACHE_MAX: usize = 100_000;

/// Accounts by id, as read from the database. Sound to cache and share between clones (and
/// safe next to other processes) because accounts are immutable once opened: the schema
/// refuses updates and deletes of `ledger_accounts`.
#[derive(Debug, Default)]
pub(crate) struct AccountCache {
    by_id: RwLock<HashMap<AccountId, Account>>,
}

impl Ledger {
    /// Opens (creating if needed) a SQLite ledger with default options and applies migrations.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Ledger> {
        Self::open_sqlite_with(SqliteOptions::new(path)).await
    }

    /// Opens a SQLite ledger and applies migrations.
    pub async fn open_sqlite_with(options: SqliteOptions) -> Result<Ledger> {
        let connect = SqliteConnectOptions::new()
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.durability {
                SqliteDurability::Full => SqliteSynchronous::Full,
                SqliteDurability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout)
            // Large writes (a batch of entries, a range of indexed blocks) stay in memory until
            // commit instead of spilling pages early: up to 64 MiB of page cache per
            // connection, and temporary structures in memory.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            // A ping per acquire would cost as much as a statement; a broken connection fails
            // its statement instead and is replaced.
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        // SQLite runs one writer at a time anyway: the handle's writers take turns on one
        // connection of their own, whose page cache stays valid from one write to the next (a
        // connection that did not make the last commit rereads the pages it changed).
        // Checkpoints run beside the writer, which keeps its own only as a backstop.
        let checkpoints = checkpoint::Checkpoints::start(&connect).await?;
        let signal = checkpoints.signal();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(options.busy_timeout)
            .after_release(move |_, _| {
                signal.wrote();
                Box::pin(async { Ok(true) })
            })
            .connect_with(
                connect.pragma("wal_autocheckpoint", checkpoint::BACKSTOP_PAGES.to_string()),
            )
            .await?;
        Ok(Ledger {
            pool: Pool::Sqlite {
                read: pool,
                write: writer,
                checkpoints,
            },
            accounts: Arc::default(),
            last_write: Arc::default(),
            units: Arc::new(tokio::sync::Semaphore::new(SQLITE_UNITS_IN_FLIGHT)),
        })
    }

    /// Connects to PostgreSQL with default options and applies migrations.
    pub async fn connect_postgres(url: &str) -> Result<Ledger> {
        Self::connect_postgres_with(PostgresOptions::new(url)).await
    }

    /// Connects to PostgreSQL and applies migrations (under PostgreSQL's advisory lock, so
    /// several processes may start at once).
    pub async fn connect_postgres_with(options: PostgresOptions) -> Result<Ledger> {
        let connect = PgConnectOptions::from_str(&options.url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            // A ping per acquire is a round trip per transaction; a broken connection fails its
            // statement instead and is replaced.
            .test_before_acquire(false)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let units = options.max_connections.max(1) as usize;
        Ok(Ledger {
            pool: Pool::Postgres(pool),
            accounts: Arc::default(),
            last_write: Arc::default(),
            units: Arc::new(tokio::sync::Semaphore::new(units)),
        })
    }

    /// Opens a ledger from a URL: `sqlite:<path>` or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Ledger> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Self::open_sqlite(path).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::connect_postgres(url).await;
        }
        Err(Error::invalid(
            "database url",
            "expected sqlite:<path> or postgres://...",
        ))
    }

    /// A place among the units of work in flight; waits while they are all taken.
    pub(crate) async fn unit_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.units
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Database(sqlx::Error::PoolClosed))
    }

    /// Runs `read` on a read-only transaction that sees one consistent snapshot, with the
    /// transaction's connection: other crates read their own tables beside the books with
    /// sqlx, on either engine.
    ///
    /// ```no_run
    /// # async fn demo(ledger: propledger_ledger::Ledger) -> propledger_ledger::Result<()> {
    /// use propledger_ledger::TxConn;
    /// let n: i64 = ledger
    ///     .read_with(|conn| {
    ///         Box::pin(async move {
    ///             let sql = "SELECT COUNT(*) FROM api_outbox";
    ///             Ok(match conn {
    ///                 TxConn::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut **c).await?,
    ///                 TxConn::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut **c).await?,
    ///             })
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = n;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_with<R, F>(&self, read: F) -> Result<R>
    where
        F: for<'c> FnOnce(&'c mut TxConn<'c>) -> ReadFuture<'c, R>,
    {
        let mut tx = self.read().await?;
        let value = {
            let mut conn = tx.conn()?;
            read(&mut conn).await?
        };
        tx.commit().await?;
        Ok(value)
    }

    /// Applies another crate's migrations to this database (see `ledger/migrations/README.md`):
    /// the engine's set, recorded in that crate's own migrations table. On SQLite they run on
    /// the writers' connection, on PostgreSQL under sqlx's advisory lock.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<()> {
        match &self.pool {
            Pool::Sqlite { write, .. } => migrations.sqlite.run(write).await?,
            Pool::Postgres(p) => migrations.postgres.run(p).await?,
        }
        Ok(())
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite {
                read,
                write,
                checkpoints,
            } => {
                write.close().await;
                checkpoints.close().await;
                read.close().await;
            }
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// Accounts and currencies.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(self)
    }

    /// Platform fee schedules.
    pub fn fees(&self) -> crate::fees::Fees<'_> {
        crate::fees::Fees::new(self)
    }

    /// Rehab budgets.
    pub fn budgets(&self) -> Budgets<'_> {
        Budgets::new(self)
    }

    /// Entries: recording, finality, reversal, lookup.
    pub fn entries(&self) -> Entries<'_> {
        Entries::new(self)
    }

    /// Reports and balances.
    pub fn reports(&self) -> Reports<'_> {
        Reports::new(self)
    }

    /// CSV and Beancount exports.
    pub fn exports(&self) -> Exports<'_> {
        Exports::new(self)
    }

    /// The auditor's checks: hash chain and balances.
    pub fn verifier(&self) -> Verifier<'_> {
        Verifier::new(self)
    }

    /// Begins a write transaction holding the writers' lock and reads the head, in one round
    /// trip: on SQLite `BEGIN IMMEDIATE` and the read as one request; on PostgreSQL `BEGIN` and
    /// `SELECT ... FOR UPDATE` of the head row as one simple query. Every statement after the
    /// lock sees all commits made before it was granted.
    pub(crate) async fn write(&self) -> Result<(Tx, Head)> {
        const HEAD: &str =
            "SELECT next_entry_id, chain_seq, chain_hash, version FROM ledger_head WHERE id = 1";
        let (tx, rows) = match &self.pool {
            Pool::Sqlite { write: p, .. } => {
                let conn = WriteConn::Sqlite(p.acquire().await?);
                Tx::begin_write_with(conn, "BEGIN IMMEDIATE", Sql::new(HEAD)).await?
            }
            Pool::Postgres(p) => {
                let conn = WriteConn::Postgres(p.acquire().await?);
                let first = Sql::new(
                    "SELECT next_entry_id, chain_seq, chain_hash, version FROM ledger_head WHERE id = 1 FOR UPDATE",
                );
                Tx::begin_write_with(conn, "BEGIN", first).await?
            }
        };
        let head = Head::from_row(
            rows.first()
                .ok_or_else(|| Error::Corrupt("no head row".into()))?,
        )?;
        Ok((tx, head))
    }

    /// Begins a write transaction on PostgreSQL without the writers' lock yet: statements run
    /// on it before [`Ledger::lock_head`] overlap another writer's transaction. `None` on
    /// SQLite, where the lock comes with the transaction ([`Ledger::write`]).
    pub(crate) async fn begin_unlocked(&self) -> Result<Option<Tx>> {
        match &self.pool {
            Pool::Postgres(p) => {
                let conn = WriteConn::Postgres(p.acquire().await?);
                let (tx, _) = Tx::begin_write_with(conn, "BEGIN", Sql::new("SELECT 1")).await?;
                Ok(Some(tx))
            }
            Pool::Sqlite { .. } => Ok(None),
        }
    }

    /// Takes the writers' lock in a transaction begun by [`Ledger::begin_unlocked`] and reads
    /// the head; the statements after it see every commit made before the lock was granted.
    pub(crate) async fn lock_head(tx: &mut Tx) -> Result<Head> {
        let rows = tx
            .fetch_all(Sql::new(
                "SELECT next_entry_id, chain_seq, chain_hash, version FROM ledger_head WHERE id = 1 FOR UPDATE",
            ))
            .await?;
        Head::from_row(
            rows.first()
                .ok_or_else(|| Error::Corrupt("no head row".into()))?,
        )
    }

    /// Begins a write transaction and reads, under the lock and in the same round trip, the
    /// head and the stored totals of the given accounts; the accounts themselves come from the
    /// cache (read inside the transaction on a miss). Missing accounts are left out. On
    /// PostgreSQL the totals are read by a second statement of the simple query, which starts
    /// after the head-row lock is granted and so sees the latest balances.
    pub(crate) async fn write_loading(&self, ids: &[AccountId]) -> Result<(Tx, Head, Loaded)> {
        if ids.is_empty() || ids.len() > MAX_BINDS {
            let (mut tx, head) = self.write().await?;
            let loaded = load_with_totals(&mut tx, ids).await?;
            return Ok((tx, head, loaded));
        }
        const TOTALS: &str =
            "b.account_id, b.posted_debit, b.posted_credit, b.pending_debit, b.pending_credit";
        let (mut tx, rows) = match &self.pool {
            Pool::Sqlite { write: p, .. } => {
                let mut first = Sql::assembled(format!(
                    "SELECT h.next_entry_id, h.chain_seq, h.chain_hash, h.version, {TOTALS} FROM ledger_head h \
                     LEFT JOIN ledger_balances b ON b.account_id IN ({}) WHERE h.id = 1",
                    list(ids.len())
                ));
                for id in ids {
                    first.push(id.get());
                }
                let conn = WriteConn::Sqlite(p.acquire().await?);
                Tx::begin_write_with(conn, "BEGIN IMMEDIATE", first).await?
            }
            Pool::Postgres(p) => {
                // Ids are integers, inlined as literals: a simple query carries no binds.
                let literal: Vec<String> = ids.iter().map(|id| id.get().to_string()).collect();
                let first = Sql::assembled(format!(
                    "SELECT next_entry_id, chain_seq, chain_hash, version FROM ledger_head WHERE id = 1 FOR UPDATE; \
                     SELECT NULL, NULL, NULL, NULL, {TOTALS} FROM ledger_balances b WHERE b.account_id IN ({})",
                    literal.join(",")
                ));
                let conn = WriteConn::Postgres(p.acquire().await?);
                Tx::begin_write_with(conn, "BEGIN", first).await?
            }
        };
        let first = rows
            .first()
            .ok_or_else(|| Error::Corrupt("no head row".into()))?;
        let head = Head::from_row(first)?;
        let accounts = self.cached_accounts(&mut tx, ids).await?;
        let mut loaded = Loaded::with_capacity(ids.len());
        // On PostgreSQL the first row is the head alone (four columns).
        for row in rows.iter().filter(|r| r.width() > 4) {
            let Some(id) = row.opt_int(4)? else { continue };
            let id = AccountId::new(id);
            let Some(account) = accounts.get(&id) else {
                continue;
            };
            let totals = totals_from_row(row, 5, account.currency)?;
            loaded.insert(id, (account.clone(), totals));
        }
        Ok((tx, head, loaded))
    }

    /// The accounts with these ids that exist: from the cache, the rest read inside `tx`.
    async fn cached_accounts(
        &self,
        tx: &mut Tx,
        ids: &[AccountId],
    ) -> Result<HashMap<AccountId, Account>> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let cache = self
                .accounts
                .by_id
                .read()
                .map_err(|_| Error::Corrupt("account cache poisoned".into()))?;
            for id in ids {
                match cache.get(id) {
                    Some(a) => {
                        found.insert(*id, a.clone());
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let loaded = load_accounts(tx, &missing).await?;
        let mut cache = self
            .accounts
            .by_id
            .write()
            .map_err(|_| Error::Corrupt("account cache poisoned".into()))?;
        if cache.len() + loaded.len() > ACCOUNT_CACHE_MAX {
            cache.clear();
        }
        for a in loaded {
            cache.insert(a.id, a.clone());
            found.insert(a.id, a);
        }
        Ok(found)
    }

    /// The accounts with these ids, from the cache alone; `None` when any is not cached.
    fn cached_only(&self, ids: &[AccountId]) -> Option<HashMap<AccountId, Account>> {
        let cache = self.accounts.by_id.read().ok()?;
        ids.iter()
            .map(|id| cache.get(id).map(|a| (*id, a.clone())))
            .collect()
    }

    /// Takes the last write's state if it knows every one of these accounts (and they are
    /// cached): the head and the accounts with their totals as of `head.version`. While taken,
    /// other writers of this handle take the locked path; give it back with
    /// [`Ledger::remember_applied`].
    pub(crate) fn take_write_state(&self, ids: &[AccountId]) -> Option<(WriteState, Loaded)> {
        if ids.is_empty() {
            return None;
        }
        let mut slot = self.last_write.lock().ok()?;
        let state = slot.as_ref()?;
        if !ids.iter().all(|id| state.totals.contains_key(id)) {
            return None;
        }
        let accounts = self.cached_only(ids)?;
        let state = slot.take()?;
        let loaded = accounts
            .into_iter()
            .map(|(id, a)| (id, (a, state.totals[&id])))
            .collect();
        Some((state, loaded))
    }

    /// Records the state after a write applied from `taken` (see [`Ledger::apply_if_current`]):
    /// `head` as written, `changed` the totals written.
    pub(crate) fn remember_applied(
        &self,
        taken: WriteState,
        head: Head,
        changed: &[(AccountId, Totals)],
    ) {
        let mut totals = taken.totals;
        totals.extend(changed.iter().copied());
        self.remember(WriteState { head, totals });
    }

    /// Records the state after a write committed under the lock: `read` the head as read,
    /// `read_totals` the totals read with it, `head` as written and `changed` the totals written.
    pub(crate) fn remember_locked(
        &self,
        read: &Head,
        read_totals: Vec<(AccountId, Totals)>,
        head: Head,
        changed: &[(AccountId, Totals)],
    ) {
        let Ok(mut slot) = self.last_write.lock() else {
            return;
        };
        let mut totals: HashMap<AccountId, Totals> = match slot.take() {
            // Still valid: nothing was written between that state and this read.
            Some(s) if s.head.version == read.version => s.totals,
            Some(s) if s.head.version > read.version => {
                *slot = Some(s);
                return;
            }
            _ => HashMap::new(),
        };
        totals.extend(read_totals);
        totals.extend(changed.iter().copied());
        if totals.len() <= WRITE_STATE_MAX {
            *slot = Some(WriteState { head, totals });
        }
    }

    fn remember(&self, state: WriteState) {
        let Ok(mut slot) = self.last_write.lock() else {
            return;
        };
        if state.totals.len() > WRITE_STATE_MAX {
            return;
        }
        if slot
            .as_ref()
            .is_none_or(|s| s.head.version < state.head.version)
        {
            *slot = Some(state);
        }
    }

    /// Applies `inserts` (multi-row `INSERT ... VALUES` statements) and writes `head` back, in
    /// one request that commits, only if the head is still at version `expected` once the
    /// writers' lock is held; otherwise writes nothing and returns false.
    ///
    /// On SQLite: `BEGIN IMMEDIATE`, each insert guarded by the head's version, the head update
    /// (guarded likewise) and `COMMIT`, as one request on a pooled connection. On PostgreSQL:
    /// one autocommit statement whose first CTE locks the head row `FOR UPDATE` where it still
    /// has that version; every insert and the head update select from it, so they write
    /// nothing unless the lock was taken on an unchanged head. A failing statement rolls the
    /// whole write back either way.
    pub(crate) async fn apply_if_current(
        &self,
        expected: i64,
        inserts: Vec<Sql>,
        head: &Head,
    ) -> Result<bool> {
        let rows = match &self.pool {
            Pool::Sqlite { write: p, .. } => {
                const GATE: &str = "(SELECT version FROM ledger_head WHERE id = 1) = ?";
                let mut group = Vec::with_capacity(inserts.len() + 3);
                group.push(Sql::assembled("BEGIN IMMEDIATE".to_owned()));
                for sql in inserts {
                    group.push(gate_insert(sql, GATE, Some(expected))?);
                }
                group.push(head.update_where(" AND version = ?")?.bind(expected));
                group.push(Sql::assembled("COMMIT".to_owned()));
                let conn = WriteConn::Sqlite(p.acquire().await?);
                Tx::run_and_finish(conn, sql::sequence(group)).await?
            }
            Pool::Postgres(p) => {
                const GATE: &str = "EXISTS (SELECT 1 FROM h)";
                let mut group = Vec::with_capacity(inserts.len() + 2);
                group.push(
                    Sql::assembled(
                        "SELECT id FROM ledger_head WHERE id = 1 AND version = ? FOR UPDATE"
                            .to_owned(),
                    )
                    .bind(expected),
                );
                for sql in inserts {
                    group.push(gate_insert(sql, GATE, None)?);
                }
                group.push(head.update_where(&format!(" AND {GATE}"))?);
                let conn = WriteConn::Postgres(p.acquire().await?);
                Tx::run_and_finish(conn, sql::with_head_lock(group)).await?
            }
        };
        match rows.as_slice() {
            [] => Ok(false),
            [row] if row.int(0)? == expected + 1 => Ok(true),
            _ => Err(Error::Corrupt("head version out of step".into())),
        }
    }

    /// Begins a read-only transaction that sees one consistent snapshot.
    pub(crate) async fn read(&self) -> Result<Tx> {
        Ok(match &self.pool {
            // In WAL mode a deferred transaction reads one snapshot from its first read on.
            Pool::Sqlite { read, .. } => Tx::Sqlite(read.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
        })
    }
}

/// What [`Ledger::read_with`] takes: a future on the transaction's connection.
pub type ReadFuture<'c, R> = Pin<Box<dyn Future<Output = Result<R>> + Send + 'c>>;

/// Another crate's migrations for the ledger's database, one set per engine, recorded in a
/// migrations table of that crate's own: sqlx refuses migrations it does not know in a table,
/// so two crates cannot share one (the ledger's is sqlx's default, `_sqlx_migrations`).
#[derive(Debug)]
pub struct Migrations {
    sqlite: sqlx::migrate::Migrator,
    postgres: sqlx::migrate::Migrator,
}

impl Migrations {
    /// The sets of `sqlx::migrate!("migrations/sqlite")` and `("migrations/postgres")`,
    /// recorded in `table` (`_<crate>_migrations`; not the ledger's own).
    pub fn new(
        table: &'static str,
        mut sqlite: sqlx::migrate::Migrator,
        mut postgres: sqlx::migrate::Migrator,
    ) -> Result<Migrations> {
        if table == "_sqlx_migrations" || !table.starts_with('_') {
            return Err(Error::invalid(
                "migrations table",
                format!("{table:?}: name a table of the crate's own, `_<crate>_migrations`"),
            ));
        }
        sqlite.dangerous_set_table_name(table);
        postgres.dangerous_set_table_name(table);
        Ok(Migrations { sqlite, postgres })
    }
}

/// The head row as read under the write lock; written back before commit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub(crate) next_entry_id: i64,
    pub(crate) chain_seq: u64,
    pub(crate) chain_hash: EntryHash,
    /// Advanced by one on every update of the head (enforced by the schema).
    pub(crate) version: i64,
}

impl Head {
    /// Links entry `id` (of content hash `content`) into the hash chain after the head, and
    /// moves the head onto it: the one step every posting of an entry takes.
    pub(crate) fn link(&mut self, id: EntryId, content: &EntryHash) -> ChainLink {
        let seq = self.chain_seq + 1;
        let hash = chain_hash(seq, &self.chain_hash, id, content);
        let link = ChainLink {
            seq,
            prev_hash: self.chain_hash,
            hash,
        };
        self.chain_seq = seq;
        self.chain_hash = hash;
        link
    }

    fn from_row(row: &Row) -> Result<Head> {
        Ok(Head {
            next_entry_id: row.int(0)?,
            chain_seq: u64::try_from(row.int(1)?)
                .map_err(|_| Error::Corrupt("negative chain sequence".into()))?,
            chain_hash: EntryHash::from_stored(&row.blob(2)?)?,
            version: row.int(3)?,
        })
    }

    /// The statement that writes the head back (advancing its version).
    pub(crate) fn update(&self) -> Result<Sql> {
        self.update_where("")
    }

    /// [`Head::update`] with `condition` (fixed text, no binds) added to its `WHERE` clause,
    /// returning the new version.
    fn update_where(&self, condition: &str) -> Result<Sql> {
        let seq = i64::try_from(self.chain_seq)
            .map_err(|_| Error::Corrupt("chain sequence overflow".into()))?;
        let returning = if condition.is_empty() {
            ""
        } else {
            " RETURNING version"
        };
        Ok(Sql::assembled(format!(
            "UPDATE ledger_head SET next_entry_id = ?, chain_seq = ?, chain_hash = ?, \
             version = version + 1 WHERE id = 1{condition}{returning}"
        ))
        .bind(self.next_entry_id)
        .bind(seq)
        .bind(self.chain_hash.as_bytes().to_vec()))
    }
}
