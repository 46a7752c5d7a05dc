//! The SQLite side: one connection on its own thread, one transaction between checkpoints,
//! a background checkpointer for the WAL.

use std::time::Duration;

use intake::Result;
use intake::destination::Acks;
use rusqlite::Connection;

use super::connection::{CHECKPOINT_EVERY_COMMITS, sql_error, stream_key};
use super::rows::{Converted, Op};
use crate::raw;
use crate::sql::STATE_TABLE;

/// The SQLite side: one connection, one transaction between checkpoints.
pub(super) struct Store {
    pub(super) conn: Connection,
    pub(super) txn: Txn,
}

/// The transaction state of the SQLite thread's connection.
pub(super) struct Txn {
    pub(super) in_txn: bool,
    /// Wakes the checkpointer after a commit (WAL mode).
    pub(super) checkpoints: Option<std::sync::mpsc::SyncSender<()>>,
    pub(super) commits: u64,
}

/// Copies committed WAL frames into the database on a connection and thread of its own (a
/// PASSIVE checkpoint takes no writer lock), so when the writer's own automatic checkpoint
/// comes due, little is left to copy and the WAL restarts from its beginning. `synchronous`
/// is the writer's setting (a checkpoint syncs the files as it says).
pub(super) fn checkpointer(
    path: &std::path::Path,
    synchronous: i64,
) -> Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)> {
    let conn = Connection::open(path).ok()?;
    conn.busy_timeout(Duration::from_secs(30)).ok()?;
    conn.pragma_update(None, "synchronous", synchronous).ok()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    let handle = std::thread::Builder::new()
        .name("intake-sqlite-checkpoint".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!("a WAL checkpoint did not run: {e}");
                }
            }
        })
        .ok()?;
    Some((tx, handle))
}

impl Txn {
    pub(super) fn begin(&mut self, conn: &Connection) -> Result<()> {
        if !self.in_txn {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(sql_error("starting a transaction"))?;
            self.in_txn = true;
        }
        Ok(())
    }

    pub(super) fn commit(&mut self, conn: &Connection) -> Result<()> {
        if self.in_txn {
            conn.execute_batch("COMMIT")
                .map_err(sql_error("committing"))?;
            self.in_txn = false;
            self.commits += 1;
            if let Some(c) = &self.checkpoints
                && self.commits.is_multiple_of(CHECKPOINT_EVERY_COMMITS)
            {
                // Coalesced: a checkpoint already pending covers this commit too.
                let _ = c.try_send(());
            }
        }
        Ok(())
    }
}

impl Store {
    pub(super) fn run(self, ops: std::sync::mpsc::Receiver<Op>, acks: Acks) -> Result<()> {
        let Store { conn, mut txn } = self;
        // Declared after `conn`, so dropped before it: the statements close first.
        let mut inserts = raw::Inserts::new(&conn);
        while let Ok(op) = ops.recv() {
            match op {
                Op::Sql(sql, what) => {
                    txn.begin(&conn)?;
                    conn.execute_batch(&sql).map_err(sql_error(what))?;
                }
                Op::Insert(group) => {
                    txn.begin(&conn)?;
                    for Converted { batch, chunks } in &group {
                        for (sql, params) in chunks {
                            inserts
                                .get(sql)
                                .map_err(sql_error("preparing the insert"))?
                                .run(params.iter().map(|p| p.value(batch)))
                                .map_err(sql_error("inserting records"))?;
                        }
                    }
                }
                Op::Checkpoint(cp) => {
                    txn.begin(&conn)?;
                    conn.execute(
                        &format!(
                            "INSERT INTO {STATE_TABLE} (stream, name, namespace, state, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (stream) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
                        ),
                        rusqlite::params![
                            stream_key(&cp.stream),
                            cp.stream.name,
                            cp.stream.namespace,
                            cp.state.to_string(),
                            intake::record::now_millis()
                        ],
                    )
                    .map_err(sql_error("storing the state"))?;
                    txn.commit(&conn)?;
                    acks.ack(cp)?;
                }
                Op::Commit(sql, what) => {
                    txn.begin(&conn)?;
                    conn.execute_batch(&sql).map_err(sql_error(what))?;
                    txn.commit(&conn)?;
                }
            }
        }
        drop(inserts);
        // Records no checkpoint covered are not kept: the next run reads them again.
        if txn.in_txn {
            conn.execute_batch("ROLLBACK")
                .map_err(sql_error("rolling back"))?;
        }
        Ok(())
    }
}
