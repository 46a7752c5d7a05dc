//! The insert statements, run through SQLite's C API instead of rusqlite's statements: rusqlite
//! binds every text with `SQLITE_TRANSIENT`, so SQLite copies each value into memory of its own
//! (a malloc, a copy and a free per value) before copying it again into the row. Here text is
//! bound with `SQLITE_STATIC`, pointing into the records of the batch being inserted, which
//! outlive the statement's use of them: bindings are cleared before [`Insert::run`] returns.
//!
//! The copies were a measured share of a bulk load (docs/benchmarks.md, "Why the code is as it
//! is"). This is the only unsafe code of the crate; each block says what it relies on.

use std::ffi::{CStr, c_char, c_int};
use std::ptr::NonNull;
use std::sync::Arc;

use rusqlite::{Connection, ffi};

/// One value to bind.
pub(crate) enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
}

/// A prepared insert of the SQLite thread's connection.
pub(crate) struct Insert {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: *mut ffi::sqlite3,
}

/// The error SQLite reports for `rc` on `db`, as rusqlite would have built it.
fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is a live connection handle (see `Inserts`); sqlite3_errmsg returns a
    // NUL-terminated string owned by SQLite, copied here before any other call on `db`.
    let (code, message) = unsafe {
        let message = ffi::sqlite3_errmsg(db);
        let message =
            (!message.is_null()).then(|| CStr::from_ptr(message).to_string_lossy().into_owned());
        (ffi::sqlite3_extended_errcode(db), message)
    };
    let code = if code == 0 { rc } else { code };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

impl Insert {
    /// Prepares `sql` on `db`.
    ///
    /// # Safety
    /// `db` must be the handle of a connection that stays open, on this thread, for as long as
    /// the statement lives.
    unsafe fn prepare(db: *mut ffi::sqlite3, sql: &str) -> rusqlite::Result<Insert> {
        let len = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_TOOBIG),
                Some("the insert statement is too long".into()),
            )
        })?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `db` is live (the caller's promise); `sql` is valid for `len` bytes (no NUL
        // terminator needed when the length is given); `stmt` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast::<c_char>(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc));
        }
        match NonNull::new(stmt) {
            Some(stmt) => Ok(Insert { stmt, db }),
            None => Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some("the insert statement is empty".into()),
            )),
        }
    }

    /// Binds `values` to parameters 1, 2, ... and runs the statement once. The statement keeps
    /// no pointer into `values` afterwards.
    pub(crate) fn run<'a>(
        &mut self,
        values: impl ExactSizeIterator<Item = rusqlite::Result<Value<'a>>>,
    ) -> rusqlite::Result<()> {
        let stmt = self.stmt.as_ptr();
        // SAFETY: `stmt` is a live statement of `self.db` (finalized only in Drop).
        let expected = unsafe { ffi::sqlite3_bind_parameter_count(stmt) };
        if usize::try_from(expected).ok() != Some(values.len()) {
            return Err(rusqlite::Error::InvalidParameterCount(
                values.len(),
                usize::try_from(expected).unwrap_or_default(),
            ));
        }
        let outcome = self.bind_and_step(values);
        // SAFETY: as above. Reset ends the statement's run; clearing the bindings drops every
        // SQLITE_STATIC pointer into `values` before the borrow ends.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        outcome
    }

    fn bind_and_step<'a>(
        &mut self,
        values: impl Iterator<Item = rusqlite::Result<Value<'a>>>,
    ) -> rusqlite::Result<()> {
        let stmt = self.stmt.as_ptr();
        for (i, value) in values.enumerate() {
            let value = value?;
            // Parameter indexes fit: the count was checked against SQLite's (a c_int).
            let index = (i + 1) as c_int;
            // SAFETY: `stmt` is live and `index` is within its parameter count. Text is bound
            // SQLITE_STATIC: its bytes stay borrowed until `run` clears the bindings.
            let rc = unsafe {
                match value {
                    // Cleared bindings are NULL already.
                    Value::Null => ffi::SQLITE_OK,
                    Value::Integer(v) => ffi::sqlite3_bind_int64(stmt, index, v),
                    Value::Real(v) => ffi::sqlite3_bind_double(stmt, index, v),
                    Value::Text(bytes) => {
                        // A zero-length slice may dangle: point at a static empty string.
                        let bytes = if bytes.is_empty() {
                            b"".as_slice()
                        } else {
                            bytes
                        };
                        ffi::sqlite3_bind_text64(
                            stmt,
                            index,
                            bytes.as_ptr().cast::<c_char>(),
                            bytes.len() as ffi::sqlite3_uint64,
                            ffi::SQLITE_STATIC(),
                            ffi::SQLITE_UTF8 as u8,
                        )
                    }
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(self.db, rc));
            }
        }
        // SAFETY: `stmt` is live with every parameter bound.
        match unsafe { ffi::sqlite3_step(stmt) } {
            ffi::SQLITE_DONE => Ok(()),
            ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
            rc => Err(error(self.db, rc)),
        }
    }
}

impl Drop for Insert {
    fn drop(&mut self) {
        // SAFETY: the statement is live and finalized once; its connection is still open
        // (`Inserts` is dropped before the connection it was made from).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The prepared inserts of one connection, looked up by their SQL (the same `Arc` for every
/// full chunk of a table, so usually a pointer comparison).
pub(crate) struct Inserts<'c> {
    conn: &'c Connection,
    cached: Vec<(Arc<str>, Insert)>,
}

/// Statements kept: a table's full-chunk insert, a few shorter chunks, and a few tables.
const CACHED: usize = 32;

impl<'c> Inserts<'c> {
    /// Borrowing the connection ties every statement's life to it: the connection cannot be
    /// closed or moved while they exist.
    pub(crate) fn new(conn: &'c Connection) -> Inserts<'c> {
        Inserts {
            conn,
            cached: Vec::new(),
        }
    }

    /// The insert for `sql`, prepared the first time.
    pub(crate) fn get(&mut self, sql: &Arc<str>) -> rusqlite::Result<&mut Insert> {
        let found = self
            .cached
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, sql) || **s == **sql);
        let at = match found {
            Some(at) => at,
            None => {
                if self.cached.len() == CACHED {
                    self.cached.remove(0);
                }
                // SAFETY: the handle is of `self.conn`, which `Inserts` borrows, so it stays
                // open (and on this thread: `Connection` is not `Sync`) while the statement lives.
                let insert = unsafe { Insert::prepare(self.conn.handle(), sql)? };
                self.cached.push((sql.clone(), insert));
                self.cached.len() - 1
            }
        };
        Ok(&mut self.cached[at].1)
    }
}
