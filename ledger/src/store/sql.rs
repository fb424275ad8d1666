//! One statement, two engines: owned bind values, a transaction over either engine, and rows with
//! typed getters.

use std::borrow::Cow;

use chrono::NaiveDate;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{AssertSqlSafe, Row as _, Transaction};

use crate::error::{Error, Result};

/// A bind value.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Blob(Vec<u8>),
    OptBlob(Option<Vec<u8>>),
    Date(NaiveDate),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Blob(v)
    }
}
impl From<Option<Vec<u8>>> for Arg {
    fn from(v: Option<Vec<u8>>) -> Self {
        Arg::OptBlob(v)
    }
}
impl From<NaiveDate> for Arg {
    fn from(v: NaiveDate) -> Self {
        Arg::Date(v)
    }
}

/// A statement and its bind values.
///
/// Fixed statements ([`Sql::new`]) use `$1`-style placeholders, which both engines accept.
/// Statements assembled at run time ([`Sql::assembled`]), such as multi-row inserts and `IN`
/// lists, use anonymous `?` markers in bind order instead, rewritten to `$n` for PostgreSQL:
/// SQLite resolves each named parameter by a linear search, which makes a statement with
/// thousands of `$n` parameters quadratic to bind.
#[derive(Debug)]
pub(crate) struct Sql {
    text: Cow<'static, str>,
    args: Vec<Arg>,
    positional: bool,
}

impl Sql {
    /// A fixed statement.
    pub(crate) fn new(text: &'static str) -> Self {
        Sql {
            text: Cow::Borrowed(text),
            args: Vec::new(),
            positional: false,
        }
    }

    /// A statement assembled at run time, with `?` markers in bind order. Callers build it
    /// only from fixed fragments, [`placeholders`] and [`list`]; values always travel as binds.
    pub(crate) fn assembled(text: String) -> Self {
        Sql {
            text: Cow::Owned(text),
            args: Vec::new(),
            positional: true,
        }
    }

    /// Adds a bind value.
    pub(crate) fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds a bind value in place.
    pub(crate) fn push(&mut self, arg: impl Into<Arg>) {
        self.args.push(arg.into());
    }
}

/// `(?,?,..),(..)` for `rows` rows of `cols` columns, for an [`Sql::assembled`] statement.
pub(crate) fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(","));
    vec![row.as_str(); rows].join(",")
}

/// `?,?,..` for an `IN (...)` list of `n` values, for an [`Sql::assembled`] statement.
pub(crate) fn list(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// Several positional statements as one SQLite request, separated by semicolons.
pub(crate) fn sequence(mut group: Vec<Sql>) -> Sql {
    if group.len() == 1 {
        return group.pop().unwrap_or_else(|| Sql::new("SELECT 1"));
    }
    let mut text = String::new();
    let mut args = Vec::new();
    for sql in group {
        text.push_str(&sql.text);
        text.push_str(";\n");
        args.extend(sql.args);
    }
    Sql {
        text: Cow::Owned(text),
        args,
        positional: true,
    }
}

/// One statement out of several positional ones: all but the last become data-modifying CTEs.
fn combined(mut group: Vec<Sql>) -> Sql {
    if group.len() == 1 {
        return group.pop().unwrap_or_else(|| Sql::new("SELECT 1"));
    }
    let mut text = String::from("WITH ");
    let mut args = Vec::new();
    let n = group.len();
    for (i, sql) in group.into_iter().enumerate() {
        if i + 1 < n {
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!("w{i} AS ({})", sql.text));
        } else {
            text.push(' ');
            text.push_str(&sql.text);
        }
        args.extend(sql.args);
    }
    Sql {
        text: Cow::Owned(text),
        args,
        positional: true,
    }
}

/// One PostgreSQL statement out of positional ones: the first becomes the CTE `h` (which the
/// others may select from), the last the main statement and the rest data-modifying CTEs.
pub(crate) fn with_head_lock(group: Vec<Sql>) -> Sql {
    let n = group.len();
    let mut text = String::from("WITH ");
    let mut args = Vec::new();
    for (i, sql) in group.into_iter().enumerate() {
        if i == 0 {
            text.push_str(&format!("h AS ({})", sql.text));
        } else if i + 1 < n {
            text.push_str(&format!(", w{i} AS ({})", sql.text));
        } else {
            text.push(' ');
            text.push_str(&sql.text);
        }
        args.extend(sql.args);
    }
    Sql {
        text: Cow::Owned(text),
        args,
        positional: true,
    }
}

/// An `INSERT INTO t (..) VALUES (..), .. [ON CONFLICT ..]` statement of this crate, assembled
/// with `?` markers, rewritten to insert its rows only where `gate` (fixed text, with at most
/// the one bind `gate_bind`) holds: `INSERT INTO t (..) SELECT * FROM (VALUES ..) v WHERE gate
/// [ON CONFLICT ..]`. The `WHERE` also keeps `ON CONFLICT` from reading as a join condition.
pub(crate) fn gate_insert(sql: Sql, gate: &str, gate_bind: Option<i64>) -> Result<Sql> {
    let malformed = || Error::Corrupt("only INSERT ... VALUES statements can be guarded".into());
    if !sql.positional || !sql.text.starts_with("INSERT INTO ") {
        return Err(malformed());
    }
    let (head, rest) = sql.text.split_once(" VALUES ").ok_or_else(malformed)?;
    let (values, conflict) = match rest.split_once(" ON CONFLICT ") {
        Some((values, conflict)) => (values, Some(conflict)),
        None => (rest, None),
    };
    let mut text = format!("{head} SELECT * FROM (VALUES {values}) v WHERE {gate}");
    if let Some(conflict) = conflict {
        text.push_str(" ON CONFLICT ");
        text.push_str(conflict);
    }
    let mut args = sql.args;
    if let Some(v) = gate_bind {
        args.push(Arg::Int(v));
    }
    Ok(Sql {
        text: Cow::Owned(text),
        args,
        positional: true,
    })
}

/// Rewrites `?` markers as PostgreSQL's `$1, $2, ...`.
fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut n = 0usize;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! bound {
    ($sql:expr) => {{
        let Sql { text, args, .. } = $sql;
        let mut q = sqlx::query(AssertSqlSafe(text));
        for arg in args {
            q = match arg {
                Arg::Int(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
                Arg::Blob(v) => q.bind(v),
                Arg::OptBlob(v) => q.bind(v),
                Arg::Date(v) => q.bind(v),
            };
        }
        q
    }};
}

/// A pooled connection for [`Tx::begin_write_with`].
pub(crate) enum WriteConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// A write transaction on a pooled connection that this crate begins and ends itself, so that
/// `BEGIN` and `COMMIT` can travel with other statements: see [`Tx::begin_write_with`] and
/// [`Tx::commit_with`].
///
/// Dropped while open (an error, or a cancelled caller), it rolls back in a spawned task before
/// the connection goes back to the pool, or closes the connection (which rolls back on the
/// server) when that fails. Either way the writers' lock is released.
pub(crate) struct Guarded {
    conn: Option<WriteConn>,
}

impl Guarded {
    /// Marks the transaction finished: the connection goes back to the pool as it is.
    fn finish(&mut self) {
        drop(self.conn.take());
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            match conn {
                WriteConn::Sqlite(mut c) => c.close_on_drop(),
                WriteConn::Postgres(mut c) => c.close_on_drop(),
            }
            return;
        };
        handle.spawn(async move {
            match conn {
                WriteConn::Sqlite(mut c) => {
                    if sqlx::raw_sql("ROLLBACK").execute(&mut *c).await.is_err() {
                        c.close_on_drop();
                    }
                }
                WriteConn::Postgres(mut c) => {
                    if sqlx::raw_sql("ROLLBACK").execute(&mut *c).await.is_err() {
                        c.close_on_drop();
                    }
                }
            }
        });
    }
}

/// The connection of a ledger transaction, for code of other crates that runs inside it (a
/// unit of work's hooks, [`crate::Ledger::read_with`]): sqlx statements on either engine.
/// Hold it only for the call it is passed to; the ledger begins and ends the transaction.
#[derive(Debug)]
pub enum TxConn<'c> {
    /// A SQLite connection.
    Sqlite(&'c mut sqlx::SqliteConnection),
    /// A PostgreSQL connection.
    Postgres(&'c mut sqlx::PgConnection),
}

/// A transaction on either engine. Dropped without a commit, it rolls back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
    Write(Guarded),
}

/// Runs `$body` with `$c` bound to the transaction's connection, once per engine.
macro_rules! on_conn {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite(tx) => {
                let $c: &mut sqlx::SqliteConnection = &mut **tx;
                $body
            }
            Tx::Postgres(tx) => {
                let $c: &mut sqlx::PgConnection = &mut **tx;
                $body
            }
            Tx::Write(Guarded {
                conn: Some(WriteConn::Sqlite(conn)),
            }) => {
                let $c: &mut sqlx::SqliteConnection = &mut **conn;
                $body
            }
            Tx::Write(Guarded {
                conn: Some(WriteConn::Postgres(conn)),
            }) => {
                let $c: &mut sqlx::PgConnection = &mut **conn;
                $body
            }
            Tx::Write(Guarded { conn: None }) => Err(sqlx::Error::PoolClosed),
        }
    };
}

impl Tx {
    /// The transaction's connection, for other crates' statements.
    pub(crate) fn conn(&mut self) -> Result<TxConn<'_>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => TxConn::Sqlite(tx),
            Tx::Postgres(tx) => TxConn::Postgres(tx),
            Tx::Write(Guarded {
                conn: Some(WriteConn::Sqlite(conn)),
            }) => TxConn::Sqlite(conn),
            Tx::Write(Guarded {
                conn: Some(WriteConn::Postgres(conn)),
            }) => TxConn::Postgres(conn),
            Tx::Write(Guarded { conn: None }) => return Err(sqlx::Error::PoolClosed),
        })
    }

    fn is_postgres(&self) -> bool {
        matches!(
            self,
            Tx::Postgres(_)
                | Tx::Write(Guarded {
                    conn: Some(WriteConn::Postgres(_))
                })
        )
    }

    /// Begins a write transaction on `conn` with `begin` (e.g. `BEGIN IMMEDIATE`) and runs
    /// `first` in the same request: on SQLite as one multi-statement request; on PostgreSQL as
    /// one simple query, so `first` must carry no binds (ids inlined as integer literals) and
    /// may hold several statements. Returns the rows `first` returns.
    pub(crate) async fn begin_write_with(
        conn: WriteConn,
        begin: &'static str,
        first: Sql,
    ) -> Result<(Tx, Vec<Row>), sqlx::Error> {
        let pg = matches!(conn, WriteConn::Postgres(_));
        let mut tx = Tx::Write(Guarded { conn: Some(conn) });
        let Sql { text, args, .. } = first;
        let text = format!("{begin};\n{text}");
        let rows = if pg {
            if !args.is_empty() {
                return Err(sqlx::Error::Protocol(
                    "the first statement of a write carries no binds".into(),
                ));
            }
            on_conn!(&mut tx, c => Ok(sqlx::raw_sql(AssertSqlSafe(text))
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::from)
                .collect::<Vec<Row>>()))?
        } else {
            tx.fetch_all(Sql {
                text: Cow::Owned(text),
                args,
                positional: true,
            })
            .await?
        };
        Ok((tx, rows))
    }

    /// Runs `sql` on `conn`, a request that commits or leaves no transaction open when it
    /// succeeds, and returns its rows. When it fails (or is cancelled) on SQLite the connection
    /// rolls back before it goes back to the pool; a failed PostgreSQL statement outside a
    /// transaction block has already rolled back.
    pub(crate) async fn run_and_finish(conn: WriteConn, sql: Sql) -> Result<Vec<Row>, sqlx::Error> {
        let pg = matches!(conn, WriteConn::Postgres(_));
        let mut tx = Tx::Write(Guarded { conn: Some(conn) });
        let result = tx.fetch_all(sql).await;
        if (result.is_ok() || pg)
            && let Tx::Write(g) = &mut tx
        {
            g.finish();
        }
        result
    }

    /// The statement in this engine's placeholder style.
    fn dialect(&self, mut sql: Sql) -> Sql {
        if sql.positional && self.is_postgres() {
            sql.text = Cow::Owned(numbered(&sql.text));
            sql.positional = false;
        }
        sql
    }

    pub(crate) async fn execute(&mut self, sql: Sql) -> Result<u64, sqlx::Error> {
        let sql = self.dialect(sql);
        on_conn!(self, c => Ok(bound!(sql).execute(c).await?.rows_affected()))
    }

    /// Executes data-changing statements in order, several per round trip.
    ///
    /// On PostgreSQL, consecutive statements are sent as one statement of data-modifying CTEs
    /// (`WITH w0 AS (INSERT ...), w1 AS (...) UPDATE ...`) while the binds fit; foreign keys
    /// are still checked, at the end of that statement. On SQLite they are sent as one
    /// multi-statement request to the connection's worker, binds consumed in order.
    pub(crate) async fn execute_all(&mut self, writes: Vec<Sql>) -> Result<(), sqlx::Error> {
        let sqlite = !self.is_postgres();
        let mut group: Vec<Sql> = Vec::new();
        let mut binds = 0;
        let mut it = writes.into_iter().peekable();
        while let Some(sql) = it.next() {
            binds += sql.args.len();
            group.push(sql);
            let next_fits = it
                .peek()
                .is_some_and(|n| n.positional && binds + n.args.len() <= super::MAX_BINDS);
            if !next_fits || !group.iter().all(|s| s.positional) {
                let group = std::mem::take(&mut group);
                self.execute(if sqlite {
                    sequence(group)
                } else {
                    combined(group)
                })
                .await?;
                binds = 0;
            }
        }
        Ok(())
    }

    /// Loads rows (binary `COPY` format) into `into`'s table: on PostgreSQL with a
    /// `COPY ... FROM STDIN`; on SQLite row by row (`rows`).
    pub(crate) async fn load(&mut self, into: &crate::unit::Table, data: &[u8]) -> Result<u64> {
        let conn: &mut sqlx::PgConnection = match self {
            Tx::Postgres(tx) => tx,
            Tx::Write(Guarded {
                conn: Some(WriteConn::Postgres(conn)),
            }) => conn,
            Tx::Sqlite(tx) => return super::rows::insert(tx, into, data).await,
            Tx::Write(Guarded {
                conn: Some(WriteConn::Sqlite(conn)),
            }) => return super::rows::insert(conn, into, data).await,
            Tx::Write(Guarded { conn: None }) => return Err(sqlx::Error::PoolClosed.into()),
        };
        let columns: Vec<&str> = into.columns.iter().map(|(name, _)| *name).collect();
        let copy = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            into.name,
            columns.join(", ")
        );
        Ok(Self::copy_in(conn, &copy, data).await?)
    }

    /// `COPY ... FROM STDIN` with `data` in the statement's format.
    async fn copy_in(
        conn: &mut sqlx::PgConnection,
        statement: &str,
        data: &[u8],
    ) -> Result<u64, sqlx::Error> {
        let mut copy = conn.copy_in_raw(statement).await?;
        // Sent in pieces of 1 MiB; the server buffers nothing it does not need.
        for piece in data.chunks(1 << 20) {
            if let Err(e) = copy.send(piece).await {
                let _ = copy.abort(e.to_string()).await;
                return Err(e);
            }
        }
        copy.finish().await
    }

    pub(crate) async fn fetch_all(&mut self, sql: Sql) -> Result<Vec<Row>, sqlx::Error> {
        let sql = self.dialect(sql);
        on_conn!(self, c => Ok(bound!(sql)
            .fetch_all(c)
            .await?
            .into_iter()
            .map(Row::from)
            .collect()))
    }

    pub(crate) async fn fetch_optional(&mut self, sql: Sql) -> Result<Option<Row>, sqlx::Error> {
        let sql = self.dialect(sql);
        on_conn!(self, c => Ok(bound!(sql).fetch_optional(c).await?.map(Row::from)))
    }

    pub(crate) async fn fetch_one(&mut self, sql: Sql) -> Result<Row, sqlx::Error> {
        let sql = self.dialect(sql);
        on_conn!(self, c => Ok(Row::from(bound!(sql).fetch_one(c).await?)))
    }

    /// Executes `writes` and commits: on SQLite in one request with the `COMMIT`; on
    /// PostgreSQL the writes (as few statements as fit), then `COMMIT`.
    pub(crate) async fn commit_with(mut self, mut writes: Vec<Sql>) -> Result<(), sqlx::Error> {
        if self.is_postgres() || !matches!(self, Tx::Write(_)) {
            self.execute_all(writes).await?;
            return self.commit().await;
        }
        writes.push(Sql {
            text: Cow::Borrowed("COMMIT"),
            args: Vec::new(),
            positional: true,
        });
        self.execute_all(writes).await?;
        if let Tx::Write(g) = &mut self {
            g.finish();
        }
        Ok(())
    }

    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
            Tx::Write(_) => {
                on_conn!(&mut self, c => sqlx::raw_sql("COMMIT").execute(c).await.map(|_| ()))?;
                if let Tx::Write(g) = &mut self {
                    g.finish();
                }
                Ok(())
            }
        }
    }
}

impl From<SqliteRow> for Row {
    fn from(r: SqliteRow) -> Self {
        Row::Sqlite(r)
    }
}

impl From<PgRow> for Row {
    fn from(r: PgRow) -> Self {
        Row::Postgres(r)
    }
}

/// A result row on either engine.
pub(crate) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

macro_rules! getter {
    ($name:ident, $ty:ty) => {
        pub(crate) fn $name(&self, index: usize) -> Result<$ty> {
            match self {
                Row::Sqlite(r) => r.try_get::<$ty, _>(index),
                Row::Postgres(r) => r.try_get::<$ty, _>(index),
            }
            .map_err(Error::from)
        }
    };
}

impl Row {
    /// Number of columns.
    pub(crate) fn width(&self) -> usize {
        match self {
            Row::Sqlite(r) => r.len(),
            Row::Postgres(r) => r.len(),
        }
    }

    getter!(int, i64);
    getter!(opt_int, Option<i64>);
    getter!(text, String);
    getter!(blob, Vec<u8>);
    getter!(opt_blob, Option<Vec<u8>>);
    getter!(date, NaiveDate);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(2, 3), "(?,?,?),(?,?,?)");
        assert_eq!(placeholders(1, 1), "(?)");
        assert_eq!(list(3), "?,?,?");
        assert_eq!(
            numbered("INSERT INTO t VALUES (?,?),(?,?) WHERE x IN (?)"),
            "INSERT INTO t VALUES ($1,$2),($3,$4) WHERE x IN ($5)"
        );
    }
}
