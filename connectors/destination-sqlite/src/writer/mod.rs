//! The writer: runs on a blocking thread, one connection, one transaction between checkpoints.

mod connection;
mod rows;
mod store;
mod table;

use std::collections::{BTreeMap, HashMap};

use intake::destination::table::TablePlan;
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, StreamDescriptor};
use rusqlite::Connection;

use crate::SqliteConfig;
use crate::sql::{RAW, STAGING_PREFIX, quote, table_name};
use connection::BULK_AUTOCHECKPOINT_PAGES;
use connection::sql_error;
use rows::Op;
use rows::{Converted, convert};
use store::{Store, Txn, checkpointer};
use table::{Table, ensure_table};

pub(crate) use connection::{open, open_to_read, stored_state};

/// Writes one sync's messages: this thread splits records into typed cells and decides schema
/// changes; a second thread owns the connection and runs the statements, so converting the
/// next batch overlaps inserting this one.
pub(crate) struct Writer {
    conn: Connection,
    tables: HashMap<StreamDescriptor, Table>,
}

/// Hand-overs queued for the SQLite thread (each up to [`GROUP`] batches of about one API page).
const QUEUE: usize = 4;

/// Batches handed over together at most: the thread switches a hand-over costs are paid once
/// for several pages instead of once a page.
const GROUP: usize = 8;

/// Converted batches not yet handed over.
#[derive(Default)]
struct Group {
    batches: Vec<Converted>,
}

impl Group {
    fn flush(&mut self, tx: &std::sync::mpsc::SyncSender<Op>) -> Result<()> {
        if self.batches.is_empty() {
            return Ok(());
        }
        send(tx, Op::Insert(std::mem::take(&mut self.batches)))
    }
}

impl Writer {
    /// Opens the database and prepares every configured stream's table.
    pub(crate) fn start(cfg: &SqliteConfig, catalog: &ConfiguredCatalog) -> Result<Writer> {
        let conn = open(cfg)?;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_error("starting a transaction"))?;
        let mut tables = HashMap::new();
        for cs in &catalog.streams {
            let d = cs.stream.descriptor();
            let name = table_name(&d);
            let plan = TablePlan::new(cs, "SQLite")?;
            let target = match plan.mode {
                // Kept as it is until the stream starts: only then is it known whether the
                // source resumes the interrupted overwrite staged there.
                DestinationSyncMode::Overwrite => format!("{STAGING_PREFIX}{name}"),
                _ => name.clone(),
            };
            let mut table = Table {
                stream: d.clone(),
                name,
                target,
                mode: plan.mode,
                schema: plan.schema,
                pk: plan.primary_key,
                cursor: plan.cursor,
                conflict: String::new(),
                inserts: Vec::new(),
                records: 0,
                bytes: 0,
                rejected: 0,
                misfits: BTreeMap::new(),
            };
            ensure_table(&conn, &mut table)?;
            tables.insert(d, table);
        }
        conn.execute_batch("COMMIT")
            .map_err(sql_error("creating the tables"))?;
        Ok(Writer { conn, tables })
    }

    /// Reads messages until the input ends.
    pub(crate) fn run(self, mut input: DestinationInput, acks: Acks) -> Result<WriteSummary> {
        let Writer { conn, mut tables } = self;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Op>(QUEUE);
        let wal = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .is_ok_and(|m| m.eq_ignore_ascii_case("wal"));
        // Bulk loads (overwrite, append) grow the WAL by every row they write: a background
        // checkpointer keeps the writer from stopping to copy it. Merges rewrite the same
        // pages, where it only adds syncs.
        let bulk = tables
            .values()
            .any(|t| t.mode != DestinationSyncMode::AppendDedup);
        let background = match conn.path() {
            Some(path) if wal && bulk && !path.is_empty() => {
                let synchronous = conn
                    .query_row("PRAGMA synchronous", [], |r| r.get(0))
                    .map_err(sql_error("reading synchronous"))?;
                checkpointer(std::path::Path::new(path), synchronous)
            }
            _ => None,
        };
        if background.is_some() {
            // The WAL only restarts from its beginning once a checkpoint has copied all of it
            // between two transactions, which the background one, racing the writer, never
            // does: left to it, the WAL grew to the size of the whole load (401 MB for 1M
            // rows) and the last connection's close copied and synced that much before the
            // sync could end (0.29-0.35 s). The writer finishing the copy itself every 64 MiB
            // (the background one having done most of it) keeps the WAL near that size, and
            // the close took 0.03-0.06 s; full refresh of 1M rows 1.24-1.47 s -> 1.16-1.31 s.
            conn.pragma_update(None, "wal_autocheckpoint", BULK_AUTOCHECKPOINT_PAGES)
                .map_err(sql_error("setting the WAL checkpoint size"))?;
        }
        let (checkpoints, checkpoint_thread) = background.unzip();
        let store = Store {
            conn,
            txn: Txn {
                in_txn: false,
                checkpoints,
                commits: 0,
            },
        };
        let sqlite = std::thread::Builder::new()
            .name("intake-sqlite".into())
            .spawn(move || store.run(rx, acks))
            .map_err(|e| Error::system(format!("cannot start the SQLite thread: {e}")))?;
        let converted = (|| -> Result<()> {
            let mut group = Group::default();
            loop {
                // Take what has already arrived without waiting; before waiting, hand over what
                // is converted, so nothing sits here while the SQLite thread idles.
                let message = match input.try_recv() {
                    Ok(message) => message,
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                        group.flush(&tx)?;
                        match input.blocking_recv() {
                            Some(message) => message,
                            None => break,
                        }
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
                };
                let op = match message {
                    DestinationMessage::Records(batch) => {
                        convert(&mut tables, batch, &mut group, &tx)?;
                        if group.batches.len() >= GROUP {
                            group.flush(&tx)?;
                        }
                        continue;
                    }
                    DestinationMessage::Checkpoint(cp) => Op::Checkpoint(cp),
                    // A read that starts over empties what an earlier run staged, in the
                    // transaction that stores the stream's next state (so a crash cannot
                    // leave a resume token naming rows that are gone).
                    DestinationMessage::StreamStart(d, start) => match tables.get(&d) {
                        Some(t) if t.mode == DestinationSyncMode::Overwrite && !start.resume => {
                            Op::Sql(
                                format!("DELETE FROM {}", quote(&t.target)),
                                "clearing a staging table",
                            )
                        }
                        _ => continue,
                    },
                    // Only a complete read replaces the old table.
                    DestinationMessage::StreamEnd(d, end) => match tables.get(&d) {
                        Some(t)
                            if t.mode == DestinationSyncMode::Overwrite && end.is_complete() =>
                        {
                            let (name, staging) = (quote(&t.name), quote(&t.target));
                            Op::Commit(
                                format!(
                                    "DROP TABLE IF EXISTS {name}; ALTER TABLE {staging} RENAME TO {name};"
                                ),
                                "replacing a table",
                            )
                        }
                        _ => continue,
                    },
                };
                group.flush(&tx)?;
                send(&tx, op)?;
            }
            group.flush(&tx)
        })();
        drop(tx);
        let stored = sqlite
            .join()
            .map_err(|_| Error::system("the SQLite thread panicked"))?;
        if let Some(t) = checkpoint_thread {
            let _ = t.join();
        }
        // The SQLite thread's error explains a conversion that stopped early; report it first.
        stored?;
        converted?;
        let mut summary = WriteSummary::default();
        for t in tables.values() {
            let s = summary.stream_mut(&t.stream);
            s.records = t.records;
            s.bytes = t.bytes;
            s.rejected = t.rejected;
            for (reason, n) in &t.misfits {
                s.warnings.push(format!(
                    "stream \"{}\": {n} record(s) kept as raw JSON in {RAW}: {reason}",
                    t.stream
                ));
            }
        }
        Ok(summary)
    }
}

fn send(tx: &std::sync::mpsc::SyncSender<Op>, op: Op) -> Result<()> {
    tx.send(op)
        .map_err(|_| Error::system("the SQLite thread stopped"))
}
