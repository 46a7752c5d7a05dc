//! The connection: intake's pragmas, the state table, the state stored by earlier syncs.

use std::time::Duration;

use intake::{Error, Result, State, StreamDescriptor};
use rusqlite::Connection;
use serde_json::Value;

use crate::sql::STATE_TABLE;
use crate::{Journal, SqliteConfig, Synchronous};

pub(super) fn sql_error(what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let message = format!("SQLite: {what}: {e}");
        if busy {
            Error::transient(message)
        } else {
            Error::system(message)
        }
    }
}

/// The writer's automatic checkpoint without a background checkpointer (merges).
pub(super) const AUTOCHECKPOINT_PAGES: i64 = 16_384;

/// Commits between background checkpoints: each checkpoint syncs the WAL, so not every one.
pub(super) const CHECKPOINT_EVERY_COMMITS: u64 = 2;

/// With the background checkpointer, the writer's own automatic checkpoint comes due at
/// 2,048 pages (64 MiB at 32 KiB pages) instead of [`AUTOCHECKPOINT_PAGES`].
pub(super) const BULK_AUTOCHECKPOINT_PAGES: i64 = 2_048;

/// Opens the database with intake's settings and makes sure the state table exists.
pub(crate) fn open(cfg: &SqliteConfig) -> Result<Connection> {
    if let Some(parent) = cfg.path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::config(format!(
                "cannot create the folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    let conn = Connection::open(&cfg.path).map_err(|e| {
        Error::config(format!(
            "cannot open the SQLite database {}: {e}",
            cfg.path.display()
        ))
    })?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(sql_error("setting the busy timeout"))?;
    // 32 KiB pages (for a new file; an existing one keeps its size): records of a few hundred
    // bytes split fewer B-tree pages, and a bulk load writes fewer, larger WAL frames. Larger
    // pages were no faster, and every update rewrites a whole page into the WAL, so scattered
    // merges would pay for them (page sizes compared in docs/benchmarks.md).
    conn.pragma_update(None, "page_size", 32_768)
        .map_err(sql_error("setting the page size"))?;
    let wanted = match cfg.journal {
        Journal::Wal => "WAL",
        Journal::Delete => "DELETE",
    };
    let mode: String = conn
        .query_row(&format!("PRAGMA journal_mode = {wanted}"), [], |r| r.get(0))
        .map_err(|e| {
            Error::config(format!(
                "{} is not a SQLite database intake can write: {e}",
                cfg.path.display()
            ))
        })?;
    if !mode.eq_ignore_ascii_case(wanted) {
        tracing::warn!("SQLite kept journal mode {mode} ({wanted} unavailable here)");
    }
    let sync = match cfg.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
        Synchronous::Off => "OFF",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(sql_error("setting synchronous"))?;
    // The writer copies the WAL into the database itself only past 16,384 pages (512 MiB at
    // 32 KiB pages) instead of 1,000: each copy syncs the file, and those syncs dominated
    // merges. Bulk loads lower it again once their
    // background checkpointer is running (see `Writer::run`).
    conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)
        .map_err(sql_error("setting the WAL checkpoint size"))?;
    // A 16 MiB page cache: big transactions without going back to the file for index pages.
    conn.pragma_update(None, "cache_size", -16_384)
        .map_err(sql_error("setting the cache size"))?;
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
            stream TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            namespace TEXT,
            state TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        )"
    ))
    .map_err(sql_error("creating the state table"))?;
    Ok(conn)
}

pub(super) fn stream_key(d: &StreamDescriptor) -> String {
    match &d.namespace {
        Some(ns) => format!("{ns}.{}", d.name),
        None => d.name.clone(),
    }
}

/// Opens the database only to read it: no pragma that changes the file, no table created.
/// Reading the state (at the start of a sync, or by another process while one runs) must
/// never take a lock a running writer could trip over; WAL readers take none.
pub(crate) fn open_to_read(cfg: &SqliteConfig) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        &cfg.path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        Error::config(format!(
            "cannot open the SQLite database {}: {e}",
            cfg.path.display()
        ))
    })?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(sql_error("setting the busy timeout"))?;
    Ok(conn)
}

/// The state stored by earlier syncs (none when the state table does not exist yet).
pub(crate) fn stored_state(conn: &Connection) -> Result<Option<State>> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [STATE_TABLE],
            |r| r.get(0),
        )
        .map_err(|e| {
            Error::config(format!(
                "{} is not a SQLite database intake can read: {e}",
                conn.path().unwrap_or("the database")
            ))
        })?;
    if !exists {
        return Ok(None);
    }
    let mut stmt = conn
        .prepare(&format!("SELECT name, namespace, state FROM {STATE_TABLE}"))
        .map_err(sql_error("reading the state"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(sql_error("reading the state"))?;
    let mut state = State::new();
    for row in rows {
        let (name, namespace, text) = row.map_err(sql_error("reading the state"))?;
        let blob: Value = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "the state stored for stream \"{name}\" in {STATE_TABLE} is not JSON ({e}); delete its row to start that stream over"
            ))
        })?;
        state.set_stream(StreamDescriptor { name, namespace }, blob);
    }
    Ok((!state.is_empty()).then_some(state))
}
