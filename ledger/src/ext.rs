//! Tables kept beside the books, and changes that commit with them.
//!
//! A crate that keeps its own tables in the ledger's database (the indexer keeps raw chain
//! events and its checkpoint there) needs its rows and the ledger entries they cause to commit
//! together: a block's events, their entries and the checkpoint are all there after a crash, or
//! none of them. [`Ledger::apply`] does that: one write transaction, under the same writers'
//! lock as every other ledger write, that settles and retracts entries by key, records new
//! entries, then runs the caller's statements, and commits.
//!
//! The caller's statements are SQL that runs on both engines, with values always passed as
//! binds (never formatted into the text). They may not touch the `ledger_*` tables; the
//! append-only triggers refuse updates and deletes there anyway.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::NaiveDate;

use crate::account::{load_with_totals, store_totals};
use crate::core::{
    AccountId, EntryDraft, EntryId, EntryStatus, IdempotencyKey, Receipt, Source, Totals,
    chain_hash,
};
use crate::entry::{KeyLookup, load_entries, record_in, reversal_map};
use crate::error::{Error, Result};
use crate::store::{Arg, Ledger, MAX_BINDS, Sql, Tx, list};

/// Most statements, entries and key changes one [`Changes`] may carry, each.
pub const MAX_CHANGES: usize = crate::entry::MAX_BATCH_ENTRIES;

/// A bind value of a [`Statement`]. Vectors of integers, strings and byte strings are
/// PostgreSQL arrays (for `INSERT ... SELECT * FROM UNNEST($1::bigint[], ...)`); SQLite has no
/// arrays and refuses statements that carry them.
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
    Vec<i64> => IntArray,
    Vec<String> => TextArray,
    Vec<Vec<u8>> => BlobArray,
);

/// One SQL statement with its bind values, for tables kept beside the books; or many rows
/// loaded into one table ([`Statement::load`]).
#[derive(Debug)]
pub struct Statement(Sql, Option<(&'static Load, Vec<u8>)>);

/// A table, and the columns of the rows [`Statement::load`] loads into it, in the order each
/// row gives their values.
#[derive(Debug)]
pub struct Load {
    /// The table's name.
    pub table: &'static str,
    /// Each column's name and type.
    pub columns: &'static [(&'static str, Column)],
}

/// The type of a loaded column's values: what [`CopyRows`] pushes for it, and how SQLite binds
/// it (PostgreSQL's `COPY` reads each value as its column's own type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// A `BIGINT` ([`CopyRows::push_i64`]).
    Int,
    /// A `TEXT` ([`CopyRows::push_text`]).
    Text,
    /// A `BYTEA` ([`CopyRows::push_bytes`], [`CopyRows::push_bytes_from`]).
    Bytes,
}

/// A statement of [`Changes`], and when it runs.
#[derive(Debug)]
struct Step {
    statement: Statement,
    when: When,
}

/// When a statement of [`Changes`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// Before anything else, a query that must return a row ([`Changes::precondition`]).
    Precondition,
    /// Before the writers' lock is asked for, on PostgreSQL ([`Changes::unlocked`]).
    Unlocked,
    /// First under the lock ([`Changes::guard`]).
    Guard,
    /// After the ledger's own writes ([`Changes::statement`]).
    After,
}

impl Statement {
    /// A fixed statement with `$1`-style placeholders (both engines accept them).
    pub fn new(text: &'static str) -> Self {
        Statement(Sql::new(text), None)
    }

    /// A statement assembled at run time with anonymous `?` markers in bind order (rewritten
    /// for PostgreSQL). Build the text only from fixed fragments and [`placeholders`]; values
    /// travel as binds.
    pub fn assembled(text: String) -> Self {
        Statement(Sql::assembled(text), None)
    }

    /// Loads `rows` into `into`'s table, the fastest way each engine has: on PostgreSQL a
    /// binary `COPY ... FROM STDIN`; on SQLite one prepared `INSERT` run per row, its values
    /// bound straight from `rows`. A malformed row (a wrong number of values, an integer that
    /// is not 8 bytes, text that is not UTF-8) is refused and the whole change with it.
    pub fn load(into: &'static Load, rows: CopyRows) -> Self {
        let columns: Vec<&str> = into.columns.iter().map(|(name, _)| *name).collect();
        let copy = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            into.table,
            columns.join(", ")
        );
        Statement(Sql::assembled(copy), Some((into, rows.finish())))
    }

    /// Adds a bind value.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.0.push(value.into().0);
        self
    }

    /// Adds a bind value in place.
    pub fn push(&mut self, value: impl Into<Value>) {
        self.0.push(value.into().0);
    }

    fn postgres_only(&self) -> bool {
        self.0.has_arrays()
    }
}

/// Rows for [`Statement::load`], in PostgreSQL's binary `COPY` format: call [`CopyRows::row`]
/// with the row's column count, then one `push_*` per column.
#[derive(Debug)]
pub struct CopyRows {
    data: Vec<u8>,
}

impl Default for CopyRows {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyRows {
    /// No rows yet.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// No rows yet, with room for about `bytes` of them (each value takes its length plus
    /// four bytes, each row two more).
    pub fn with_capacity(bytes: usize) -> Self {
        // Signature, flags, header extension length.
        let mut data = Vec::with_capacity(bytes.saturating_add(21));
        data.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        CopyRows { data }
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

/// `(?,?,..),(..)`: markers for a multi-row `VALUES` list of `rows` rows of `cols` columns.
pub fn placeholders(rows: usize, cols: usize) -> String {
    crate::store::placeholders(rows, cols)
}

/// Most bind values one statement may carry (below both engines' limits).
pub const MAX_STATEMENT_BINDS: usize = MAX_BINDS;

/// A row read by [`Ledger::query`].
pub struct Row(crate::store::Row);

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row").finish_non_exhaustive()
    }
}

impl Row {
    /// An integer column.
    pub fn int(&self, i: usize) -> Result<i64> {
        self.0.int(i)
    }
    /// A nullable integer column.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.0.opt_int(i)
    }
    /// A text column.
    pub fn text(&self, i: usize) -> Result<String> {
        self.0.text(i)
    }
    /// A nullable text column.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.0.opt_text(i)
    }
    /// A blob (`BYTEA`) column.
    pub fn blob(&self, i: usize) -> Result<Vec<u8>> {
        self.0.blob(i)
    }
    /// A nullable blob column.
    pub fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        self.0.opt_blob(i)
    }
    /// A date column.
    pub fn date(&self, i: usize) -> Result<NaiveDate> {
        self.0.date(i)
    }
}

/// How [`Changes::retract`] undoes an entry whose cause went away (a chain event removed by a
/// reorg): a pending entry is voided; a posted one is reversed by a new posted entry.
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

/// Changes that commit together in one transaction: see [`Ledger::apply`].
#[derive(Debug, Default)]
pub struct Changes {
    post: Vec<IdempotencyKey>,
    retract: Vec<Retraction>,
    record: Vec<EntryDraft>,
    statements: Vec<Step>,
}

impl Changes {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
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
        self.push(statement, When::After)
    }

    /// Runs a statement before the writers' lock is taken: an insert of rows no other writer
    /// touches (a range of blocks' events, say), which then overlaps the transaction of the
    /// writer before instead of waiting for it. It still commits or rolls back with the rest.
    /// On PostgreSQL it runs right after `BEGIN`; SQLite has one writer at a time and takes
    /// the lock at `BEGIN IMMEDIATE`, so there it runs after the guards.
    pub fn unlocked(&mut self, statement: Statement) -> &mut Self {
        self.push(statement, When::Unlocked)
    }

    /// Adds a precondition: a query that must return at least one row, checked before
    /// anything else; when it returns none, nothing is applied and [`Ledger::apply`] fails
    /// with [`Error::GuardFailed`]. On PostgreSQL it runs before the writers' lock (and before
    /// the [`Changes::unlocked`] statements), so it cannot see a commit still in progress:
    /// it turns a stale writer away early, and a guard under the lock still decides.
    pub fn precondition(&mut self, statement: Statement) -> &mut Self {
        self.push(statement, When::Precondition)
    }

    /// Adds a guard: a statement that must change at least one row. Guards run first, right
    /// after the writers' lock is taken and before the ledger's own writes; when one changes
    /// no row, nothing of the changes is applied and [`Ledger::apply`] fails with
    /// [`Error::GuardFailed`] (its `index` counts every statement added, guards included).
    ///
    /// A conditional update of a checkpoint (`UPDATE .. SET next = $1 WHERE next = $2`)
    /// fences off a writer whose view is stale: every write holds the writers' lock, so the
    /// condition is checked against the latest commit.
    pub fn guard(&mut self, statement: Statement) -> &mut Self {
        self.push(statement, When::Guard)
    }

    fn push(&mut self, statement: Statement, when: When) -> &mut Self {
        self.statements.push(Step { statement, when });
        self
    }

    /// The statements added so far, guards included, taken out (for preparing them ahead of
    /// a commit).
    pub fn into_statements(self) -> Vec<Statement> {
        self.statements.into_iter().map(|s| s.statement).collect()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.post.is_empty()
            && self.retract.is_empty()
            && self.record.is_empty()
            && self.statements.is_empty()
    }
}

/// What [`Ledger::apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    /// One receipt per posted key, in order.
    pub posted: Vec<Receipt>,
    /// One receipt per retraction, in order: the voided entry, or the reversing entry.
    pub retracted: Vec<Receipt>,
    /// One receipt per recorded draft, in order.
    pub recorded: Vec<Receipt>,
    /// Rows affected by each statement (guards included; for preconditions, rows returned), in
    /// the order they were added.
    pub rows_affected: Vec<u64>,
}

impl Ledger {
    /// Applies `changes` in one write transaction: first the guards, then posts, then
    /// retractions, then new entries, then the other statements; all of it commits or, on any
    /// error (a guard that matches nothing, a refused entry, an unknown key, a failing
    /// statement), none of it. [`Changes::unlocked`] statements run first on PostgreSQL,
    /// before the writers' lock is asked for, and right after the guards on SQLite.
    pub async fn apply(&self, changes: Changes) -> Result<Applied> {
        self.begin(changes).await?.finish().await
    }

    /// Starts applying `changes`: checks them and, on PostgreSQL, opens their transaction and
    /// runs the [`Changes::unlocked`] statements; [`Begun::finish`] takes the writers' lock and
    /// does the rest, as [`Ledger::apply`]. A caller can so run one commit's bulk inserts while
    /// the commit before it holds the lock, and still ask for the lock only once that one is
    /// over. Dropping what is begun rolls it back.
    pub async fn begin(&self, changes: Changes) -> Result<Begun> {
        let Changes {
            post,
            retract,
            record,
            statements,
        } = changes;
        for (what, n) in [
            ("posts", post.len()),
            ("retractions", retract.len()),
            ("entries", record.len()),
            ("statements", statements.len()),
        ] {
            if n > MAX_CHANGES {
                return Err(Error::invalid(
                    "changes",
                    format!("{n} {what} exceed the limit of {MAX_CHANGES}"),
                ));
            }
        }
        self.check_binds(statements.iter().map(|s| &s.statement))?;
        let mut out = Applied {
            rows_affected: vec![0; statements.len()],
            ..Applied::default()
        };
        let (mut preconditions, mut unlocked) = (Vec::new(), Vec::new());
        let (mut guards, mut rest) = (Vec::new(), Vec::new());
        for (index, Step { statement, when }) in statements.into_iter().enumerate() {
            match when {
                When::Precondition => preconditions.push((index, statement)),
                When::Unlocked => unlocked.push((index, statement)),
                When::Guard => guards.push((index, statement)),
                When::After => rest.push((index, statement)),
            }
        }
        // Only changes with something to run before the lock begin early; the others take the
        // lock with `BEGIN`, in one round trip, when they finish.
        let early = !(preconditions.is_empty() && unlocked.is_empty());
        let tx = match if early {
            self.begin_unlocked().await?
        } else {
            None
        } {
            Some(mut tx) => {
                for (index, statement) in std::mem::take(&mut preconditions) {
                    out.rows_affected[index] = precondition(&mut tx, index, statement).await?;
                }
                for (index, statement) in std::mem::take(&mut unlocked) {
                    out.rows_affected[index] = run_statement(&mut tx, statement).await?;
                }
                Some(tx)
            }
            None => None,
        };
        Ok(Begun {
            ledger: self.clone(),
            tx,
            out,
            post,
            retract,
            record,
            preconditions,
            guards,
            unlocked,
            rest,
        })
    }
}

/// Changes begun by [`Ledger::begin`], waiting for [`Begun::finish`].
pub struct Begun {
    ledger: Ledger,
    /// The open transaction, when unlocked statements ran on it (PostgreSQL).
    tx: Option<Tx>,
    out: Applied,
    post: Vec<IdempotencyKey>,
    retract: Vec<Retraction>,
    record: Vec<EntryDraft>,
    preconditions: Vec<(usize, Statement)>,
    guards: Vec<(usize, Statement)>,
    unlocked: Vec<(usize, Statement)>,
    rest: Vec<(usize, Statement)>,
}

impl std::fmt::Debug for Begun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Begun")
            .field("open", &self.tx.is_some())
            .finish_non_exhaustive()
    }
}

impl Begun {
    /// Takes the writers' lock and applies the rest of the changes, as [`Ledger::apply`].
    pub async fn finish(self) -> Result<Applied> {
        let Begun {
            ledger,
            tx,
            mut out,
            post,
            retract,
            record,
            preconditions,
            guards,
            unlocked,
            rest,
        } = self;
        let (mut tx, mut head) = match tx {
            Some(mut tx) => {
                let head = Ledger::lock_head(&mut tx).await?;
                (tx, head)
            }
            None => ledger.write().await?,
        };

        // Guards first: a stale writer is turned away before any work. Dropping the
        // transaction rolls it back.
        for (index, statement) in preconditions {
            out.rows_affected[index] = precondition(&mut tx, index, statement).await?;
        }
        for (index, statement) in guards {
            let rows = run_statement(&mut tx, statement).await?;
            if rows == 0 {
                return Err(Error::GuardFailed { index });
            }
            out.rows_affected[index] = rows;
        }
        for (index, statement) in unlocked {
            out.rows_affected[index] = run_statement(&mut tx, statement).await?;
        }

        // Entries named by key, with their postings.
        let keys: Vec<&IdempotencyKey> =
            post.iter().chain(retract.iter().map(|r| &r.key)).collect();
        let by_key = ids_by_key(&mut tx, &keys).await?;
        let id_of = |key: &IdempotencyKey| {
            by_key
                .get(key)
                .copied()
                .ok_or_else(|| Error::UnknownKey(key.clone()))
        };
        let mut wanted: Vec<EntryId> = keys.iter().map(|k| id_of(k)).collect::<Result<_>>()?;
        wanted.sort_unstable();
        wanted.dedup();
        let mut entries: HashMap<EntryId, crate::core::Entry> = load_entries(&mut tx, &wanted)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let reversed = reversal_map(&mut tx, &wanted).await?;

        // Which entries settle, and which posted ones get a reversal.
        let mut settle: Vec<(EntryId, EntryStatus)> = Vec::new();
        for key in &post {
            let e = &entries[&id_of(key)?];
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
        for r in &retract {
            let e = &entries[&id_of(&r.key)?];
            if settle.iter().any(|(id, _)| *id == e.id) {
                return Err(Error::invalid(
                    "changes",
                    format!("entry {} is both posted and retracted", e.id),
                ));
            }
            match e.status {
                EntryStatus::Pending => {
                    settle.push((e.id, EntryStatus::Voided));
                    out.retracted
                        .push(receipt_as(e, EntryStatus::Voided, false));
                    retract_slots.push(None);
                }
                EntryStatus::Voided => {
                    out.retracted.push(receipt_as(e, EntryStatus::Voided, true));
                    retract_slots.push(None);
                }
                EntryStatus::Posted if reversed.contains_key(&e.id) => {
                    // Already undone: answer with the reversal on record (a replay).
                    let reversal = load_entries(&mut tx, &[reversed[&e.id]])
                        .await?
                        .pop()
                        .ok_or(Error::UnknownEntry(reversed[&e.id]))?;
                    out.retracted
                        .push(receipt_as(&reversal, reversal.status, true));
                    retract_slots.push(None);
                }
                EntryStatus::Posted => {
                    reversals.push(EntryDraft::reversal_of(
                        e,
                        r.reversal_key.clone(),
                        r.effective_date,
                        &r.description,
                        r.source.clone(),
                    )?);
                    out.retracted
                        .push(receipt_as(e, EntryStatus::Posted, false));
                    retract_slots.push(Some(reversals.len() - 1));
                }
            }
        }

        // Balances of every account touched by a settlement or a new entry, loaded once.
        let drafts: Vec<EntryDraft> = reversals.iter().cloned().chain(record).collect();
        let mut accounts: Vec<AccountId> = settle
            .iter()
            .flat_map(|(id, _)| entries[id].postings.iter().map(|p| p.account))
            .chain(
                drafts
                    .iter()
                    .flat_map(|d| d.postings().iter().map(|p| p.account)),
            )
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut loaded = load_with_totals(&mut tx, &accounts).await?;

        let mut writes: Vec<Sql> = Vec::new();
        let mut settled_totals: Vec<(AccountId, Totals)> = Vec::new();
        for (id, to) in &settle {
            let entry = entries.get_mut(id).ok_or(Error::UnknownEntry(*id))?;
            for p in &entry.postings {
                let (_, t) = loaded.get_mut(&p.account).ok_or(Error::UnknownAccount {
                    key: Some(entry.key.clone()),
                    account: p.account,
                })?;
                t.settle(p.direction, p.amount, *to)?;
            }
            let mut sql = Sql::assembled(
                "UPDATE ledger_entries SET status = ?, chain_seq = ?, prev_hash = ?, hash = ? \
                 WHERE id = ? AND status = 'pending'"
                    .to_owned(),
            )
            .bind(to.as_str());
            if *to == EntryStatus::Posted {
                let seq = head.chain_seq + 1;
                let hash = chain_hash(seq, &head.chain_hash, *id, &entry.content_hash);
                sql = sql
                    .bind(Some(i64::try_from(seq).map_err(|_| {
                        Error::Corrupt("chain sequence overflow".into())
                    })?))
                    .bind(Some(head.chain_hash.as_bytes().to_vec()))
                    .bind(Some(hash.as_bytes().to_vec()));
                head.chain_seq = seq;
                head.chain_hash = hash;
            } else {
                sql = sql
                    .bind(None::<i64>)
                    .bind(None::<Vec<u8>>)
                    .bind(None::<Vec<u8>>);
            }
            writes.push(sql.bind(id.get()));
        }
        for (id, _) in &settle {
            for p in &entries[id].postings {
                settled_totals.push((p.account, loaded[&p.account].1));
            }
        }
        settled_totals.sort_unstable_by_key(|(id, _)| *id);
        settled_totals.dedup_by_key(|(id, _)| *id);
        store_totals(&mut writes, &settled_totals);
        // Settlements go first, as their own statements: PostgreSQL must not see one balance
        // row updated twice by one statement. The updates are guarded by `status = 'pending'`,
        // which under the lock always matches.
        tx.execute_all(writes).await?;

        // The handle's remembered state (for one-request writes) is not updated here: the
        // head's version moves on, so its next fast write finds it stale and takes the lock.
        let (receipts, mut writes, _) =
            record_in(&mut tx, &mut head, loaded, drafts, KeyLookup::Full).await?;
        let (reversal_receipts, recorded) = receipts.split_at(reversals.len());
        for (slot, receipt) in retract_slots.iter().zip(out.retracted.iter_mut()) {
            if let Some(i) = slot {
                *receipt = reversal_receipts[*i].clone();
            }
        }
        out.recorded = recorded.to_vec();
        writes.push(head.update()?);
        tx.execute_all(writes).await?;
        for (i, statement) in rest {
            out.rows_affected[i] = run_statement(&mut tx, statement).await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

impl Ledger {
    /// Refuses array binds on SQLite, which has no arrays.
    fn check_binds<'a>(&self, mut statements: impl Iterator<Item = &'a Statement>) -> Result<()> {
        if self.backend() == crate::Backend::Sqlite && statements.any(Statement::postgres_only) {
            return Err(Error::invalid(
                "statement",
                "array values and COPY are for PostgreSQL statements",
            ));
        }
        Ok(())
    }

    /// Runs a read-only query on a consistent snapshot.
    pub async fn query(&self, statement: Statement) -> Result<Vec<Row>> {
        self.check_binds(std::iter::once(&statement))?;
        let mut tx = self.read().await?;
        Ok(tx
            .fetch_all(statement.0)
            .await?
            .into_iter()
            .map(Row)
            .collect())
    }

    /// Runs several read-only queries on one consistent snapshot.
    pub async fn query_many(&self, statements: Vec<Statement>) -> Result<Vec<Vec<Row>>> {
        self.check_binds(statements.iter())?;
        let mut tx = self.read().await?;
        let mut out = Vec::with_capacity(statements.len());
        for s in statements {
            out.push(tx.fetch_all(s.0).await?.into_iter().map(Row).collect());
        }
        Ok(out)
    }

    /// Creates tables kept beside the books: runs `schema` (statements such as
    /// `CREATE TABLE IF NOT EXISTS`, which must be safe to run again) in one write transaction.
    pub async fn ensure_schema(&self, schema: &[&'static str]) -> Result<()> {
        let (mut tx, _head) = self.write().await?;
        for s in schema {
            tx.execute(Sql::new(s)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Runs a [`Changes::precondition`]: the number of rows it returns, at least one.
async fn precondition(tx: &mut Tx, index: usize, statement: Statement) -> Result<u64> {
    let rows = tx.fetch_all(statement.0).await?.len();
    if rows == 0 {
        return Err(Error::GuardFailed { index });
    }
    Ok(rows as u64)
}

async fn run_statement(tx: &mut Tx, statement: Statement) -> Result<u64> {
    Ok(match statement {
        Statement(sql, None) => tx.execute(sql).await?,
        Statement(sql, Some((into, data))) => tx.load(sql.text(), into, &data).await?,
    })
}

fn receipt_as(e: &crate::core::Entry, status: EntryStatus, replayed: bool) -> Receipt {
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

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value(Arg::Text(v.into_owned()))
    }
}
