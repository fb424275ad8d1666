//! Loading many rows into SQLite: one prepared `INSERT` stepped once per row, each value bound
//! in place from the rows' buffer (the binary `COPY` format PostgreSQL loads the same rows
//! from, see [`crate::unit::BulkRows`]).
//!
//! Through sqlx, every value of every row is copied into its argument list, copied again by
//! SQLite when bound, and the rows travel as a multi-row `VALUES` statement that SQLite parses
//! first; loading the indexer's events that way took the writer about 1.6 times as long as
//! this does (0.15 against 0.095 core-seconds per 100,000 events). Here the connection is taken from its worker thread (`lock_handle`) and driven through SQLite's C
//! API, binding pointers into the buffer (`SQLITE_STATIC`). This is the workspace's only
//! unsafe code: each call below names what it relies on.
#![allow(unsafe_code)]

use std::borrow::Cow;
use std::ffi::{CStr, c_int};
use std::fmt;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;
use sqlx::error::{DatabaseError, ErrorKind};

use crate::error::{Error, Result};
use crate::unit::{Column, Table as Load};

/// `INSERT INTO <table> (<columns>) VALUES (?1, ..)` for `load`.
fn insert_text(load: &Load) -> String {
    let columns: Vec<&str> = load.columns.iter().map(|(name, _)| *name).collect();
    let markers: Vec<String> = (1..=load.columns.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        load.name,
        columns.join(", "),
        markers.join(", ")
    )
}

/// Inserts the rows of `data` (binary `COPY` format, as [`crate::unit::BulkRows`] writes it)
/// into `load`'s table on `conn`, inside whatever transaction `conn` has open, and returns how
/// many rows it inserted. A malformed buffer or a refused row ends the load with an error;
/// the rows before it stay in the transaction, which the caller rolls back.
pub(crate) async fn insert(conn: &mut SqliteConnection, load: &Load, data: &[u8]) -> Result<u64> {
    let sql = insert_text(load);
    let mut rows = Rows::new(data)?;
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // The loop runs to its end without yielding (a few tens of milliseconds for a large
    // commit): on a multi-threaded runtime the worker hands its other tasks on first.
    let mut run = || {
        // SAFETY: `handle` keeps the connection's worker thread from using `db` or its
        // statements until it is dropped, after this call returns.
        unsafe { insert_locked(db, &sql, load.columns, &mut rows) }
    };
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}

/// The load itself, on a connection no other thread is using.
///
/// # Safety
/// `db` is an open connection that nothing else uses until this returns.
unsafe fn insert_locked(
    db: NonNull<ffi::sqlite3>,
    sql: &str,
    columns: &[(&str, Column)],
    rows: &mut Rows<'_>,
) -> Result<u64> {
    let db = db.as_ptr();
    let statement = Prepared::new(db, sql)?;
    let mut inserted = 0u64;
    while rows.next_row(columns.len())? {
        for (i, (name, column)) in columns.iter().enumerate() {
            // Parameters are numbered from 1; there are as many as columns, far below c_int.
            let index = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
            let value = rows.value()?;
            // SAFETY: `statement` is a live statement of `db`. Text and blobs are bound with
            // SQLITE_STATIC, pointing into the rows' buffer, which outlives the statement (it
            // is finalized when `statement` drops, before `rows` can); bindings are replaced
            // before the next step.
            let rc = unsafe {
                match (value, column) {
                    (None, _) => ffi::sqlite3_bind_null(statement.0, index),
                    (Some(v), Column::Int) => {
                        let v: [u8; 8] = v.try_into().map_err(|_| {
                            malformed(format!("{name}: an integer of {} bytes", v.len()))
                        })?;
                        ffi::sqlite3_bind_int64(statement.0, index, i64::from_be_bytes(v))
                    }
                    (Some(v), Column::Text) => {
                        std::str::from_utf8(v)
                            .map_err(|_| malformed(format!("{name}: text that is not UTF-8")))?;
                        // Lengths come from an i32 in the buffer, so they fit.
                        let len = c_int::try_from(v.len()).unwrap_or(c_int::MAX);
                        ffi::sqlite3_bind_text(
                            statement.0,
                            index,
                            v.as_ptr().cast(),
                            len,
                            ffi::SQLITE_STATIC(),
                        )
                    }
                    // A zero-length blob, not NULL (SQLite reads a null pointer as NULL).
                    (Some([]), Column::Bytes) => ffi::sqlite3_bind_zeroblob(statement.0, index, 0),
                    (Some(v), Column::Bytes) => {
                        let len = c_int::try_from(v.len()).unwrap_or(c_int::MAX);
                        ffi::sqlite3_bind_blob(
                            statement.0,
                            index,
                            v.as_ptr().cast(),
                            len,
                            ffi::SQLITE_STATIC(),
                        )
                    }
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(failure(db, rc));
            }
        }
        // SAFETY: a prepared statement of `db` with every parameter bound.
        let rc = unsafe { ffi::sqlite3_step(statement.0) };
        if rc != ffi::SQLITE_DONE {
            return Err(failure(db, rc));
        }
        // SAFETY: as above; a statement that finished is reset before it runs again.
        unsafe { ffi::sqlite3_reset(statement.0) };
        inserted += 1;
    }
    Ok(inserted)
}

/// A prepared statement, finalized when dropped.
struct Prepared(*mut ffi::sqlite3_stmt);

impl Prepared {
    fn new(db: *mut ffi::sqlite3, sql: &str) -> Result<Self> {
        let len = c_int::try_from(sql.len())
            .map_err(|_| malformed("the insert statement is too long".into()))?;
        let mut statement = ptr::null_mut();
        // SAFETY: `db` is open and ours (see `insert_locked`); `sql` is valid for `len` bytes;
        // the statement is finalized by `Prepared`'s drop.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                0,
                &mut statement,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK || statement.is_null() {
            return Err(failure(db, rc));
        }
        Ok(Prepared(statement))
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // SAFETY: a statement prepared by `Prepared::new` and not yet finalized. Finalizing a
        // statement whose last step failed returns that failure again; it was reported already.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// The last error of `db`, which returned `rc`.
fn failure(db: *mut ffi::sqlite3, rc: c_int) -> Error {
    // SAFETY: `db` is an open connection used by this thread only; the message is copied out
    // before any other call on it.
    let (code, message) = unsafe {
        let message = ffi::sqlite3_errmsg(db);
        let message = if message.is_null() {
            format!("SQLite error {rc}")
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        };
        (ffi::sqlite3_extended_errcode(db), message)
    };
    Error::Database(sqlx::Error::Database(Box::new(LoadFailed {
        code,
        message,
    })))
}

fn malformed(reason: String) -> Error {
    Error::InvalidInput {
        field: "loaded rows",
        reason,
    }
}

/// A row SQLite refused while loading, reported like sqlx reports SQLite's errors.
#[derive(Debug)]
struct LoadFailed {
    /// The extended result code.
    code: c_int,
    message: String,
}

impl fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for LoadFailed {}

impl DatabaseError for LoadFailed {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// A reader of rows in PostgreSQL's binary `COPY` format: a header, then per row a 16-bit
/// value count and per value a 32-bit length (-1 for NULL) and its bytes, then a count of -1.
struct Rows<'a> {
    data: &'a [u8],
    at: usize,
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl<'a> Rows<'a> {
    fn new(data: &'a [u8]) -> Result<Self> {
        let mut rows = Rows { data, at: 0 };
        if rows.take(SIGNATURE.len())? != SIGNATURE {
            return Err(malformed("no COPY signature".into()));
        }
        rows.take(4)?; // flags
        let extension = rows.int32()?;
        let extension = usize::try_from(extension)
            .map_err(|_| malformed("negative header extension length".into()))?;
        rows.take(extension)?;
        Ok(rows)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| malformed("the buffer ends inside a row".into()))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn int32(&mut self) -> Result<i32> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Moves to the next row, which must have `columns` values; false at the end.
    fn next_row(&mut self, columns: usize) -> Result<bool> {
        let bytes = self.take(2)?;
        let count = i16::from_be_bytes([bytes[0], bytes[1]]);
        if count == -1 {
            if self.at != self.data.len() {
                return Err(malformed("bytes after the last row".into()));
            }
            return Ok(false);
        }
        if usize::try_from(count).ok() != Some(columns) {
            return Err(malformed(format!(
                "a row of {count} values for {columns} columns"
            )));
        }
        Ok(true)
    }

    /// The next value of the row; `None` for NULL.
    fn value(&mut self) -> Result<Option<&'a [u8]>> {
        match self.int32()? {
            -1 => Ok(None),
            n => {
                let n =
                    usize::try_from(n).map_err(|_| malformed(format!("a value of length {n}")))?;
                self.take(n).map(Some)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::BulkRows;

    const MARKS: Load = Load {
        name: "marks",
        columns: &[("n", Column::Int), ("label", Column::Text)],
    };

    #[test]
    fn insert_text_numbers_its_markers() {
        assert_eq!(
            insert_text(&MARKS),
            "INSERT INTO marks (n, label) VALUES (?1, ?2)"
        );
    }

    #[test]
    fn reads_what_copy_rows_writes() {
        let mut rows = BulkRows::with_capacity(0);
        rows.row(2);
        rows.push_i64(-7);
        rows.push_text("seven");
        rows.row(2);
        rows.push_null();
        rows.push_bytes(b"");
        let data = rows.finish();
        let mut r = Rows::new(&data).unwrap();
        assert!(r.next_row(2).unwrap());
        assert_eq!(r.value().unwrap(), Some(&(-7i64).to_be_bytes()[..]));
        assert_eq!(r.value().unwrap(), Some(&b"seven"[..]));
        assert!(r.next_row(2).unwrap());
        assert_eq!(r.value().unwrap(), None);
        assert_eq!(r.value().unwrap(), Some(&b""[..]));
        assert!(!r.next_row(2).unwrap());
    }

    #[test]
    fn refuses_malformed_buffers() {
        let mut rows = BulkRows::with_capacity(0);
        rows.row(3);
        rows.push_i64(1);
        let data = rows.finish();
        let mut r = Rows::new(&data).unwrap();
        assert!(matches!(r.next_row(2), Err(Error::InvalidInput { .. })));
        assert!(Rows::new(b"PGCOPY").is_err());
        assert!(Rows::new(b"NOTCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0").is_err());
        let truncated = &data[..data.len() - 2];
        let mut r = Rows::new(truncated).unwrap();
        assert!(r.next_row(3).unwrap());
        assert!(r.value().is_ok());
        assert!(r.value().is_err());
    }
}
