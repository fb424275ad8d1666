//! Units of work: entry changes and other crates' rows, committed in one transaction.
//!
//! A crate that keeps its own tables in the ledger's database (the indexer keeps raw chain
//! events and its checkpoint there; the API keeps an outbox) needs its rows and the ledger
//! entries they go with to commit together: a block's events, their entries and the checkpoint
//! are all there after a crash, or none of them. A [`UnitOfWork`] collects them and
//! [`Ledger::apply`] commits it: one write transaction, under the same writers' lock as every
//! other ledger write, that runs in this order:
//!
//! 1. [`UnitOfWork::precondition`] queries, each of which must return a row, and
//!    [`UnitOfWork::before_lock`] statements (on PostgreSQL these run before the writers' lock
//!    is asked for, see [`Ledger::begin`]);
//! 2. the writers' lock, then [`UnitOfWork::guard`] statements, each of which must change a
//!    row (a checkpoint moved by a stale writer turns the unit away before any work);
//! 3. the entries it posts ([`UnitOfWork::post`]) and retracts ([`UnitOfWork::retract`]);
//! 4. the entries it records ([`UnitOfWork::record`]);
//! 5. its statements ([`UnitOfWork::statement`], [`UnitOfWork::insert`],
//!    [`UnitOfWork::statement_in`]);
//! 6. its hooks ([`UnitOfWork::hook`]): the caller's own code on the transaction's connection
//!    ([`TxConn`]), with sqlx, seeing what steps 3 and 4 recorded ([`Applied`]);
//! 7. `COMMIT`.
//!
//! Any refusal rolls the whole unit back. Statements are SQL that runs on both engines, with
//! values always passed as binds; multi-row inserts and `IN` lists are split by the ledger under
//! the engines' bind limits. Neither statements nor hooks may change the `ledger_*` tables (the
//! append-only triggers refuse updates and deletes there anyway).
//!
//! ```no_run
//! # async fn demo(ledger: propledger_ledger::Ledger, draft: propledger_ledger::core::EntryDraft)
//! # -> propledger_ledger::Result<()> {
//! use propledger_ledger::unit::UnitOfWork;
//! use propledger_ledger::TxConn;
//!
//! let mut unit = UnitOfWork::new();
//! unit.record(draft);
//! // One outbox row per entry the unit recorded, in the same transaction.
//! unit.hook(|conn, applied| {
//!     Box::pin(async move {
//!         for receipt in &applied.recorded {
//!             let sql = "INSERT INTO api_outbox (entry_key) VALUES ($1)";
//!             match &mut *conn {
//!                 TxConn::Sqlite(c) => {
//!                     sqlx::query(sql).bind(receipt.key.as_str()).execute(&mut **c).await?;
//!                 }
//!                 TxConn::Postgres(c) => {
//!                     sqlx::query(sql).bind(receipt.key.as_str()).execute(&mut **c).await?;
//!                 }
//!             }
//!         }
//!         Ok(())
//!     })
//! });
//! ledger.apply(unit).await?;
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use chrono::NaiveDate;
use tokio::sync::OwnedSemaphorePermit;

use crate::account::{load_with_totals, store_totals};
use crate::core::{
    AccountId, Entry, EntryDraft, EntryId, EntryStatus, IdempotencyKey, Receipt, Source, Totals,
};
use crate::entry::{KeyLookup, load_entries, record_in, reversal_map, settle_statement};
use crate::error::{Error, Result};
use crate::store::{Arg, Head, Ledger, MAX_BINDS, Sql, Tx, TxConn, list, placeholders};

/// Most entries one [`UnitOfWork`] may record; as many posts, retractions and statements
/// again, each. A caller that must commit more splits its work into several units.
pub const MAX_UNIT_ENTRIES: usize = crate::entry::MAX_BATCH_ENTRIES;

/// A bind value of a [`Statement`] or an [`Insert`].
#[derive(Clone, Debug)]
pub struct Value(Arg);

macro_rules! value_from {
    ($($ty:ty => $arm:ident),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value(Arg::$arm(v.into()))
            }
        })*
    };
}

value_from!(
    i64 => Int,
    Option<i64> => OptInt,
    String => Text,
    &str => Text,
    Option<String> => OptText,
    Vec<u8> => Blob,
    &[u8] => Blob,
    Option<Vec<u8>> => OptBlob,
    NaiveDate => Date,
);

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value(Arg::Text(v.into_owned()))
    }
}

/// One SQL statement with its bind values, or many rows loaded into one table.
#[derive(Debug)]
pub struct Statement {
    kind: StatementKind,
}

#[derive(Debug)]
enum StatementKind {
    /// A statement with `$1`-style placeholders (both engines accept them).
    Sql(Sql),
    /// Rows loaded into a table the fastest way each engine has ([`Statement::load`]).
    Load {
        /// Where they go.
        table: &'static Table,
        /// The rows, in PostgreSQL's binary `COPY` format.
        rows: Vec<u8>,
    },
}

impl Statement {
    /// A fixed statement with `$1`-style placeholders (both engines accept them).
    pub fn new(text: &'static str) -> Self {
        Statement {
            kind: StatementKind::Sql(Sql::new(text)),
        }
    }

    /// Loads `rows` into `table`: on PostgreSQL a binary `COPY ... FROM STDIN`; on SQLite one
    /// prepared `INSERT` run per row, its values bound straight from `rows`. A malformed row (a
    /// wrong number of values, an integer that is not 8 bytes, text that is not UTF-8) is
    /// refused and the whole unit with it.
    pub fn load(table: &'static Table, rows: BulkRows) -> Self {
        Statement {
            kind: StatementKind::Load {
                table,
                rows: rows.finish(),
            },
        }
    }

    /// Adds a bind value (a statement of [`Statement::load`] takes none).
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        if let StatementKind::Sql(sql) = &mut self.kind {
            sql.push(value.into().0);
        }
        self
    }

    fn assembled(sql: Sql) -> Self {
        Statement {
            kind: StatementKind::Sql(sql),
        }
    }
}

/// A table and the columns [`Statement::load`] loads into it, in the order each row gives
/// their values.
#[derive(Debug)]
pub struct Table {
    /// The table's name.
    pub name: &'static str,
    /// Each column's name and type.
    pub columns: &'static [(&'static str, Column)],
}

/// The type of a loaded column's values: what [`BulkRows`] pushes for it, and how SQLite binds
/// it (PostgreSQL's `COPY` reads each value as its column's own type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// A `BIGINT` ([`BulkRows::push_i64`]).
    Int,
    /// A `TEXT` ([`BulkRows::push_text`]).
    Text,
    /// A `BYTEA` ([`BulkRows::push_bytes`], [`BulkRows::push_bytes_from`]).
    Bytes,
}

/// Rows for [`Statement::load`]: call [`BulkRows::row`] with the row's column count, then one
/// `push_*` per column. Kept in PostgreSQL's binary `COPY` format, which SQLite's loader reads
/// too.
#[derive(Debug)]
pub struct BulkRows {
    data: Vec<u8>,
}

impl BulkRows {
    /// No rows yet, with room for about `bytes` of them (each value takes its length plus
    /// four bytes, each row two more).
    pub fn with_capacity(bytes: usize) -> Self {
        // Signature, flags, header extension length.
        let mut data = Vec::with_capacity(bytes.saturating_add(21));
        data.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        BulkRows { data }
    }

    /// Starts a row of `columns` values.
    pub fn row(&mut self, columns: u16) {
        self.data.extend_from_slice(&columns.to_be_bytes());
    }

    /// A `BIGINT`.
    pub fn push_i64(&mut self, v: i64) {
        self.data.extend_from_slice(&8i32.to_be_bytes());
        self.data.extend_from_slice(&v.to_be_bytes());
    }

    /// A `BYTEA`.
    pub fn push_bytes(&mut self, v: &[u8]) {
        self.push_len(v.len());
        self.data.extend_from_slice(v);
    }

    /// A `BYTEA` made of `parts` one after the other (topics, say), without joining them first.
    pub fn push_bytes_from<'a, I>(&mut self, parts: I)
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        let parts = parts.into_iter();
        self.push_len(parts.clone().map(<[u8]>::len).sum());
        for part in parts {
            self.data.extend_from_slice(part);
        }
    }

    /// A `TEXT`.
    pub fn push_text(&mut self, v: &str) {
        self.push_bytes(v.as_bytes());
    }

    /// A NULL.
    pub fn push_null(&mut self) {
        self.data.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn push_len(&mut self, n: usize) {
        // Values are far below 2 GiB (the row would be refused by the server before that).
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        self.data.extend_from_slice(&n.to_be_bytes());
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.data.extend_from_slice(&(-1i16).to_be_bytes());
        self.data
    }
}

/// Rows for a multi-row `INSERT`, split by the ledger into statements under the engines' bind
/// limits ([`UnitOfWork::insert`]).
#[derive(Debug)]
pub struct Insert {
    head: &'static str,
    tail: &'static str,
    columns: usize,
    values: Vec<Value>,
    malformed: bool,
}

impl Insert {
    /// Rows for `head`, `INSERT INTO <table> (<columns>)`, of `columns` values each.
    pub fn into_table(head: &'static str, columns: usize) -> Self {
        Insert {
            head,
            tail: "",
            columns: columns.max(1),
            values: Vec::new(),
            malformed: false,
        }
    }

    /// Text after the `VALUES` list, such as an `ON CONFLICT` clause (fixed text, no binds).
    pub fn then(mut self, tail: &'static str) -> Self {
        self.tail = tail;
        self
    }

    /// Adds a row; it must hold as many values as the insert has columns (a row that does not
    /// makes the unit refuse to begin).
    pub fn row(&mut self, values: impl IntoIterator<Item = Value>) {
        let before = self.values.len();
        self.values.extend(values);
        if self.values.len() - before != self.columns {
            self.malformed = true;
        }
    }

    /// Rows added so far.
    pub fn len(&self) -> usize {
        self.values.len() / self.columns
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The statements: each holds a power of two of rows, largest first, so that their texts
    /// recur from one unit to the next and a connection's statement cache spares preparing them
    /// again (a statement of thousands of rows takes milliseconds to prepare).
    fn statements(self) -> Vec<Statement> {
        let most = (MAX_BINDS / self.columns).max(1);
        let per_statement = 1usize << most.ilog2();
        let mut left = self.len();
        let mut values = self.values.into_iter();
        let mut out = Vec::new();
        while left > 0 {
            let n = if left >= per_statement {
                per_statement
            } else {
                1usize << left.ilog2()
            };
            left -= n;
            let mut sql = Sql::assembled(format!(
                "{} VALUES {}{}{}",
                self.head,
                placeholders(n, self.columns),
                if self.tail.is_empty() { "" } else { " " },
                self.tail
            ));
            for value in values.by_ref().take(n * self.columns) {
                sql.push(value.0);
            }
            out.push(Statement::assembled(sql));
        }
        out
    }
}

/// How [`UnitOfWork::retract`] undoes an entry whose cause went away (a chain event removed by
/// a reorg): a pending entry is voided; a posted one is reversed by a new posted entry.
#[derive(Clone, Debug)]
pub struct Retraction {
    /// Key of the entry to undo.
    pub key: IdempotencyKey,
    /// Key of the reversing entry, used when the entry was already posted.
    pub reversal_key: IdempotencyKey,
    /// Effective date of the reversal.
    pub effective_date: NaiveDate,
    /// Description of the reversal.
    pub description: String,
    /// Source of the reversal.
    pub source: Source,
}

/// What a hook returns: a future on the transaction's connection.
pub type HookFuture<'c> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'c>>;

/// A caller's code run inside a unit's transaction, after the ledger's own writes and the
/// unit's statements: it gets the connection and what the unit applied. Any closure
/// `for<'c> FnOnce(&'c mut TxConn<'c>, &'c Applied) -> HookFuture<'c>` is one.
pub trait Hook: Send {
    /// Runs the hook.
    fn run<'c>(self: Box<Self>, conn: &'c mut TxConn<'c>, applied: &'c Applied) -> HookFuture<'c>;
}

impl<F> Hook for F
where
    F: for<'c> FnOnce(&'c mut TxConn<'c>, &'c Applied) -> HookFuture<'c> + Send,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut TxConn<'c>, applied: &'c Applied) -> HookFuture<'c> {
        (*self)(conn, applied)
    }
}

/// A statement of a [`UnitOfWork`], and when it runs.
#[derive(Debug)]
struct Step {
    statement: Statement,
    when: When,
}

/// When a statement of a [`UnitOfWork`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// First, a query that must return a row ([`UnitOfWork::precondition`]).
    Precondition,
    /// Before the writers' lock is asked for, on PostgreSQL ([`UnitOfWork::before_lock`]).
    BeforeLock,
    /// First under the lock ([`UnitOfWork::guard`]).
    Guard,
    /// After the ledger's own writes ([`UnitOfWork::statement`]).
    After,
}

/// Entry changes and other crates' rows that commit together: see the [module](self) docs.
#[derive(Default)]
pub struct UnitOfWork {
    post: Vec<IdempotencyKey>,
    retract: Vec<Retraction>,
    record: Vec<EntryDraft>,
    steps: Vec<Step>,
    hooks: Vec<Box<dyn Hook>>,
    malformed: bool,
}

impl std::fmt::Debug for UnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitOfWork")
            .field("post", &self.post.len())
            .field("retract", &self.retract.len())
            .field("record", &self.record.len())
            .field("steps", &self.steps.len())
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl UnitOfWork {
    /// Nothing to do yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries recorded so far (at most [`MAX_UNIT_ENTRIES`]).
    pub fn entries(&self) -> usize {
        self.record.len()
    }

    /// Posts the pending entry recorded under `key` (a replay when already posted).
    pub fn post(&mut self, key: IdempotencyKey) -> &mut Self {
        self.post.push(key);
        self
    }

    /// Undoes the entry recorded under `retraction.key`: see [`Retraction`]. Undoing an entry
    /// that is already voided or reversed changes nothing.
    pub fn retract(&mut self, retraction: Retraction) -> &mut Self {
        self.retract.push(retraction);
        self
    }

    /// Records a new entry (idempotent on its key, as [`crate::entry::Entries::record`]).
    pub fn record(&mut self, draft: EntryDraft) -> &mut Self {
        self.record.push(draft);
        self
    }

    /// Runs a statement after the ledger's own writes.
    pub fn statement(&mut self, statement: Statement) -> &mut Self {
        self.step(statement, When::After)
    }

    /// Inserts `rows` after the ledger's own writes, in as many statements as the engines'
    /// bind limits need.
    pub fn insert(&mut self, rows: Insert) -> &mut Self {
        self.malformed |= rows.malformed;
        for statement in rows.statements() {
            self.step(statement, When::After);
        }
        self
    }

    /// Runs `head (?, ..)` over `values` after the ledger's own writes, as many statements as
    /// the bind limits need: `head` ends in `IN`, as `UPDATE t SET x = 1 WHERE key IN`.
    pub fn statement_in(
        &mut self,
        head: &'static str,
        values: impl IntoIterator<Item = Value>,
    ) -> &mut Self {
        let values: Vec<Value> = values.into_iter().collect();
        for chunk in values.chunks(MAX_BINDS) {
            let mut sql = Sql::assembled(format!("{head} ({})", list(chunk.len())));
            for v in chunk {
                sql.push(v.0.clone());
            }
            self.step(Statement::assembled(sql), When::After);
        }
        self
    }

    /// Runs a statement first, under the lock, that must change at least one row; when it
    /// changes none, nothing is applied and [`Ledger::apply`] fails with
    /// [`Error::GuardFailed`]. For optimistic concurrency: `UPDATE checkpoint SET n = $new
    /// WHERE n = $expected`.
    pub fn guard(&mut self, statement: Statement) -> &mut Self {
        self.step(statement, When::Guard)
    }

    /// Runs a query before anything else that must return at least one row; when it returns
    /// none, nothing is applied and [`Ledger::apply`] fails with [`Error::GuardFailed`]. Unlike
    /// a guard it runs before the writers' lock on PostgreSQL, so it can turn a stale writer
    /// away before its [`UnitOfWork::before_lock`] statements; a guard under the lock must
    /// still decide.
    pub fn precondition(&mut self, statement: Statement) -> &mut Self {
        self.step(statement, When::Precondition)
    }

    /// Runs a statement before the writers' lock is asked for, on PostgreSQL (on SQLite,
    /// where a write transaction begins with the lock, first under it): rows no other writer
    /// touches, such as a bulk [`Statement::load`], then go in while another writer holds the
    /// lock. See [`Ledger::begin`].
    pub fn before_lock(&mut self, statement: Statement) -> &mut Self {
        self.step(statement, When::BeforeLock)
    }

    /// Runs `hook` after the unit's statements, before `COMMIT`, on the transaction's
    /// connection: the caller's own rows go in with sqlx, on either engine, with the receipts
    /// of what the unit posted, retracted and recorded at hand. A hook's error rolls the
    /// whole unit back and is what [`Ledger::apply`] returns.
    pub fn hook<F>(&mut self, hook: F) -> &mut Self
    where
        F: for<'c> FnOnce(&'c mut TxConn<'c>, &'c Applied) -> HookFuture<'c> + Send + 'static,
    {
        self.hooks.push(Box::new(hook));
        self
    }

    fn step(&mut self, statement: Statement, when: When) -> &mut Self {
        self.steps.push(Step { statement, when });
        self
    }

    /// Refuses a unit over the limits or with a malformed insert.
    fn check(&self) -> Result<()> {
        for (what, n) in [
            ("posts", self.post.len()),
            ("retractions", self.retract.len()),
            ("entries", self.record.len()),
            ("statements", self.steps.len()),
        ] {
            if n > MAX_UNIT_ENTRIES {
                return Err(Error::invalid(
                    "unit of work",
                    format!("{n} {what} exceed the limit of {MAX_UNIT_ENTRIES}"),
                ));
            }
        }
        if self.malformed {
            return Err(Error::invalid(
                "unit of work",
                "an insert has a row with the wrong number of values",
            ));
        }
        Ok(())
    }
}

/// What a unit of work did.
#[derive(Debug, Default)]
pub struct Applied {
    /// One receipt per [`UnitOfWork::post`], in order (`replayed` when it was posted already).
    pub posted: Vec<Receipt>,
    /// One receipt per [`UnitOfWork::retract`], in order: the voided entry, or the reversing
    /// entry of a posted one (`replayed` when it was undone already).
    pub retracted: Vec<Receipt>,
    /// One receipt per [`UnitOfWork::record`], in order.
    pub recorded: Vec<Receipt>,
    /// Rows changed (or returned, for a precondition) by each statement, in the order they
    /// were added (an [`UnitOfWork::insert`] or [`UnitOfWork::statement_in`] counts as the
    /// statements it was split into).
    pub rows_affected: Vec<u64>,
}

impl Ledger {
    /// Applies `unit` in one transaction: see the [module](crate::unit) docs.
    pub async fn apply(&self, unit: UnitOfWork) -> Result<Applied> {
        self.begin(unit).await?.finish().await
    }

    /// Starts applying `unit`: checks it and, on PostgreSQL, opens its transaction and runs
    /// its preconditions and [`UnitOfWork::before_lock`] statements; [`BegunUnit::finish`]
    /// takes the writers' lock and does the rest, as [`Ledger::apply`]. A caller can so load
    /// one unit's bulk rows while the unit before it holds the lock, and ask for the lock only
    /// once that one is over. Dropping a begun unit rolls it back.
    ///
    /// Units begun and not yet finished are limited per handle (on PostgreSQL to the pool's
    /// size, as each keeps its connection): beyond that, `begin` waits until one is finished
    /// or dropped. So a caller that begins units in order and finishes them in the same order
    /// always has a connection to finish the earliest on.
    pub async fn begin(&self, unit: UnitOfWork) -> Result<BegunUnit> {
        unit.check()?;
        let permit = self.unit_permit().await?;
        let UnitOfWork {
            post,
            retract,
            record,
            steps,
            hooks,
            malformed: _,
        } = unit;
        let mut out = Applied {
            rows_affected: vec![0; steps.len()],
            ..Applied::default()
        };
        let mut staged = Staged::default();
        for (index, Step { statement, when }) in steps.into_iter().enumerate() {
            let list = match when {
                When::Precondition => &mut staged.preconditions,
                When::BeforeLock => &mut staged.before_lock,
                When::Guard => &mut staged.guards,
                When::After => &mut staged.after,
            };
            list.push((index, statement));
        }
        // Only units with something to run before the lock begin early; the others take the
        // lock with `BEGIN`, in one round trip, when they finish.
        let early = !(staged.preconditions.is_empty() && staged.before_lock.is_empty());
        let tx = if early {
            self.begin_unlocked().await?
        } else {
            None
        };
        let tx = match tx {
            Some(mut tx) => {
                staged.run_before_lock(&mut tx, &mut out).await?;
                Some(tx)
            }
            None => None,
        };
        Ok(BegunUnit {
            ledger: self.clone(),
            tx,
            out,
            post,
            retract,
            record,
            staged,
            hooks,
            _permit: permit,
        })
    }
}

/// The statements of a unit, sorted by when they run, each with its place in the unit.
#[derive(Debug, Default)]
struct Staged {
    preconditions: Vec<(usize, Statement)>,
    before_lock: Vec<(usize, Statement)>,
    guards: Vec<(usize, Statement)>,
    after: Vec<(usize, Statement)>,
}

impl Staged {
    /// Step 1: preconditions, then the statements that go before the lock.
    async fn run_before_lock(&mut self, tx: &mut Tx, out: &mut Applied) -> Result<()> {
        self.run_preconditions(tx, out).await?;
        self.run_before_lock_statements(tx, out).await
    }

    async fn run_preconditions(&mut self, tx: &mut Tx, out: &mut Applied) -> Result<()> {
        for (index, statement) in std::mem::take(&mut self.preconditions) {
            out.rows_affected[index] = precondition(tx, index, statement).await?;
        }
        Ok(())
    }

    async fn run_before_lock_statements(&mut self, tx: &mut Tx, out: &mut Applied) -> Result<()> {
        for (index, statement) in std::mem::take(&mut self.before_lock) {
            out.rows_affected[index] = run_statement(tx, statement).await?;
        }
        Ok(())
    }

    /// Step 2: the guards, under the lock. A stale writer is turned away before any work;
    /// dropping the transaction rolls it back.
    async fn run_guards(&mut self, tx: &mut Tx, out: &mut Applied) -> Result<()> {
        for (index, statement) in std::mem::take(&mut self.guards) {
            let rows = run_statement(tx, statement).await?;
            if rows == 0 {
                return Err(Error::GuardFailed { index });
            }
            out.rows_affected[index] = rows;
        }
        Ok(())
    }

    /// Step 5: the statements after the ledger's writes.
    async fn run_after(&mut self, tx: &mut Tx, out: &mut Applied) -> Result<()> {
        for (index, statement) in std::mem::take(&mut self.after) {
            out.rows_affected[index] = run_statement(tx, statement).await?;
        }
        Ok(())
    }
}

/// A unit begun by [`Ledger::begin`], waiting for [`BegunUnit::finish`].
pub struct BegunUnit {
    ledger: Ledger,
    /// The open transaction, when statements ran before the lock (PostgreSQL).
    tx: Option<Tx>,
    out: Applied,
    post: Vec<IdempotencyKey>,
    retract: Vec<Retraction>,
    record: Vec<EntryDraft>,
    staged: Staged,
    hooks: Vec<Box<dyn Hook>>,
    /// The handle's allowance of units in flight, given back when this is finished or dropped.
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for BegunUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BegunUnit")
            .field("open", &self.tx.is_some())
            .finish_non_exhaustive()
    }
}

/// The entries a unit settles or retracts, as found under the lock.
struct Targets {
    /// Entries by id, with their postings.
    entries: HashMap<EntryId, Entry>,
    /// Pending entries that move to posted or voided.
    settle: Vec<(EntryId, EntryStatus)>,
    /// Reversals of posted entries that are retracted.
    reversals: Vec<EntryDraft>,
    /// For each retraction, the index of its reversal in `reversals`, if it needs one.
    retract_slots: Vec<Option<usize>>,
}

impl BegunUnit {
    /// Takes the writers' lock and applies the rest of the unit, as [`Ledger::apply`].
    pub async fn finish(self) -> Result<Applied> {
        let BegunUnit {
            ledger,
            tx,
            mut out,
            post,
            retract,
            record,
            mut staged,
            hooks,
            _permit,
        } = self;
        let (mut tx, mut head) = match tx {
            Some(mut tx) => {
                let head = Ledger::lock_head(&mut tx).await?;
                (tx, head)
            }
            None => {
                // SQLite (or nothing to run early): the lock comes with the transaction, and
                // the guards still go before the bulk rows.
                let (mut tx, head) = ledger.write().await?;
                staged.run_preconditions(&mut tx, &mut out).await?;
                (tx, head)
            }
        };
        staged.run_guards(&mut tx, &mut out).await?;
        staged.run_before_lock_statements(&mut tx, &mut out).await?;
        let targets = find_targets(&mut tx, &post, &retract, &mut out).await?;
        let drafts = settle_targets(&mut tx, &mut head, targets, record).await?;
        record_drafts(&mut tx, &mut head, drafts, &mut out).await?;
        staged.run_after(&mut tx, &mut out).await?;
        for hook in hooks {
            let mut conn = tx.conn()?;
            hook.run(&mut conn, &out).await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// Step 3a: the entries named by key, with their postings, and what becomes of each: pending
/// ones posted or voided, posted ones retracted by a reversal. Receipts go to `out`.
async fn find_targets(
    tx: &mut Tx,
    post: &[IdempotencyKey],
    retract: &[Retraction],
    out: &mut Applied,
) -> Result<Targets> {
    let keys: Vec<&IdempotencyKey> = post.iter().chain(retract.iter().map(|r| &r.key)).collect();
    let by_key = ids_by_key(tx, &keys).await?;
    let id_of = |key: &IdempotencyKey| {
        by_key
            .get(key)
            .copied()
            .ok_or_else(|| Error::UnknownKey(key.clone()))
    };
    let mut wanted: Vec<EntryId> = keys.iter().map(|k| id_of(k)).collect::<Result<_>>()?;
    wanted.sort_unstable();
    wanted.dedup();
    let entries: HashMap<EntryId, Entry> = load_entries(tx, &wanted)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let reversed = reversal_map(tx, &wanted).await?;
    let entry = |id: EntryId| entries.get(&id).ok_or(Error::UnknownEntry(id));

    let mut settle: Vec<(EntryId, EntryStatus)> = Vec::new();
    for key in post {
        let e = entry(id_of(key)?)?;
        match e.status {
            EntryStatus::Pending => settle.push((e.id, EntryStatus::Posted)),
            EntryStatus::Posted => {}
            status => {
                return Err(Error::NotPending {
                    entry: e.id,
                    status,
                });
            }
        }
        out.posted.push(receipt_as(
            e,
            EntryStatus::Posted,
            e.status == EntryStatus::Posted,
        ));
    }
    let mut reversals: Vec<EntryDraft> = Vec::new();
    let mut retract_slots: Vec<Option<usize>> = Vec::new();
    for r in retract {
        let e = entry(id_of(&r.key)?)?;
        if settle.iter().any(|(id, _)| *id == e.id) {
            return Err(Error::invalid(
                "unit of work",
                format!("entry {} is both posted and retracted", e.id),
            ));
        }
        let slot = match e.status {
            EntryStatus::Pending => {
                settle.push((e.id, EntryStatus::Voided));
                out.retracted
                    .push(receipt_as(e, EntryStatus::Voided, false));
                None
            }
            EntryStatus::Voided => {
                out.retracted.push(receipt_as(e, EntryStatus::Voided, true));
                None
            }
            EntryStatus::Posted => match reversed.get(&e.id) {
                Some(reversal_id) => {
                    // Already undone: answer with the reversal on record (a replay).
                    let reversal = load_entries(tx, &[*reversal_id])
                        .await?
                        .pop()
                        .ok_or(Error::UnknownEntry(*reversal_id))?;
                    out.retracted
                        .push(receipt_as(&reversal, reversal.status, true));
                    None
                }
                None => {
                    reversals.push(EntryDraft::reversal_of(
                        e,
                        r.reversal_key.clone(),
                        r.effective_date,
                        &r.description,
                        r.source.clone(),
                    )?);
                    out.retracted
                        .push(receipt_as(e, EntryStatus::Posted, false));
                    Some(reversals.len() - 1)
                }
            },
        };
        retract_slots.push(slot);
    }
    Ok(Targets {
        entries,
        settle,
        reversals,
        retract_slots,
    })
}

/// Step 3b: moves the settled entries to their new status (posted ones join the hash chain)
/// and writes the balances they change. Returns the drafts to record next: the reversals of
/// retracted posted entries, then the unit's own, with the retraction receipts pointing at
/// their reversals once recorded (see [`record_drafts`]).
async fn settle_targets(
    tx: &mut Tx,
    head: &mut Head,
    targets: Targets,
    record: Vec<EntryDraft>,
) -> Result<Drafts> {
    let Targets {
        entries,
        settle,
        reversals,
        retract_slots,
    } = targets;
    let reversal_count = reversals.len();
    let drafts: Vec<EntryDraft> = reversals.into_iter().chain(record).collect();
    // Balances of every account touched by a settlement or a new entry, loaded once.
    let mut accounts: Vec<AccountId> = settle
        .iter()
        .flat_map(|(id, _)| {
            entries
                .get(id)
                .into_iter()
                .flat_map(|e| e.postings.iter().map(|p| p.account))
        })
        .chain(
            drafts
                .iter()
                .flat_map(|d| d.postings().iter().map(|p| p.account)),
        )
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    let mut loaded = load_with_totals(tx, &accounts).await?;

    let mut writes: Vec<Sql> = Vec::new();
    let mut settled_totals: Vec<(AccountId, Totals)> = Vec::new();
    for (id, to) in &settle {
        let entry = entries.get(id).ok_or(Error::UnknownEntry(*id))?;
        for p in &entry.postings {
            let (_, t) = loaded.get_mut(&p.account).ok_or(Error::UnknownAccount {
                key: Some(entry.key.clone()),
                account: p.account,
            })?;
            t.settle(p.direction, p.amount, *to)?;
        }
        let link = match to {
            EntryStatus::Posted => Some(head.link(*id, &entry.content_hash)),
            _ => None,
        };
        writes.push(settle_statement(*id, *to, link)?);
    }
    for (id, _) in &settle {
        for p in entries.get(id).iter().flat_map(|e| e.postings.iter()) {
            settled_totals.push((p.account, loaded[&p.account].1));
        }
    }
    settled_totals.sort_unstable_by_key(|(id, _)| *id);
    settled_totals.dedup_by_key(|(id, _)| *id);
    store_totals(&mut writes, &settled_totals);
    // Settlements go first, as their own statements: PostgreSQL must not see one balance row
    // updated twice by one statement. The updates are guarded by `status = 'pending'`, which
    // under the lock always matches.
    tx.execute_all(writes).await?;
    Ok(Drafts {
        loaded,
        drafts,
        reversal_count,
        retract_slots,
    })
}

/// What [`record_drafts`] records.
struct Drafts {
    loaded: crate::account::Loaded,
    drafts: Vec<EntryDraft>,
    reversal_count: usize,
    retract_slots: Vec<Option<usize>>,
}

/// Step 4: records the reversals and the unit's entries, and writes the head back.
async fn record_drafts(
    tx: &mut Tx,
    head: &mut Head,
    drafts: Drafts,
    out: &mut Applied,
) -> Result<()> {
    let Drafts {
        loaded,
        drafts,
        reversal_count,
        retract_slots,
    } = drafts;
    // The handle's remembered state (for one-request writes) is not updated here: the head's
    // version moves on, so its next fast write finds it stale and takes the lock.
    let (receipts, mut writes, _) = record_in(tx, head, loaded, drafts, KeyLookup::Full).await?;
    let (reversal_receipts, recorded) = receipts.split_at(reversal_count);
    for (slot, receipt) in retract_slots.iter().zip(out.retracted.iter_mut()) {
        if let Some(i) = slot {
            *receipt = reversal_receipts[*i].clone();
        }
    }
    out.recorded = recorded.to_vec();
    writes.push(head.update()?);
    tx.execute_all(writes).await?;
    Ok(())
}

/// Runs a [`UnitOfWork::precondition`]: the number of rows it returns, at least one.
async fn precondition(tx: &mut Tx, index: usize, statement: Statement) -> Result<u64> {
    let rows = match statement.kind {
        StatementKind::Sql(sql) => tx.fetch_all(sql).await?.len(),
        StatementKind::Load { .. } => {
            return Err(Error::invalid(
                "precondition",
                "a precondition is a query, not a load",
            ));
        }
    };
    if rows == 0 {
        return Err(Error::GuardFailed { index });
    }
    Ok(rows as u64)
}

async fn run_statement(tx: &mut Tx, statement: Statement) -> Result<u64> {
    Ok(match statement.kind {
        StatementKind::Sql(sql) => tx.execute(sql).await?,
        StatementKind::Load { table, rows } => tx.load(table, &rows).await?,
    })
}

fn receipt_as(e: &Entry, status: EntryStatus, replayed: bool) -> Receipt {
    Receipt {
        id: e.id,
        key: e.key.clone(),
        status,
        replayed,
        chain: e.chain,
    }
}

/// The ids of the entries recorded under these keys.
async fn ids_by_key(
    tx: &mut Tx,
    keys: &[&IdempotencyKey],
) -> Result<HashMap<IdempotencyKey, EntryId>> {
    let mut out = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_BINDS) {
        let mut sql = Sql::assembled(format!(
            "SELECT idempotency_key, id FROM ledger_entries WHERE idempotency_key IN ({})",
            list(chunk.len())
        ));
        for k in chunk {
            sql.push(k.as_str());
        }
        for row in tx.fetch_all(sql).await? {
            let text = row.text(0)?;
            let key = IdempotencyKey::parse(&text)
                .map_err(|_| Error::Corrupt(format!("idempotency key {text:?}")))?;
            out.insert(key, EntryId::new(row.int(1)?));
        }
    }
    Ok(out)
}
