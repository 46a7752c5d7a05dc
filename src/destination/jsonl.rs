//! The JSONL destination: one file per stream, one record per line.
//!
//! Layout of `destination_path`:
//! ```text
//! contacts.jsonl            the records of stream "contacts", one JSON object per line
//! crm__deals.jsonl          stream "deals" in namespace "crm"
//! .contacts.jsonl.staging   an overwrite in progress (renamed over contacts.jsonl at the end)
//! _intake_state.json        the acknowledged state and each file's committed length
//! ```
//! Modes: `append` and `overwrite`. `append_dedup` is refused with a config error (a JSONL
//! file cannot merge in place; use the SQLite destination).
//!
//! # Durability
//! At each checkpoint the stream's file is flushed and `fsync`ed, then `_intake_state.json`
//! is replaced atomically (write, sync, rename) with the new state and the file's committed
//! length, and only then is the checkpoint acknowledged. When a write starts, each file is cut
//! back to its committed length, so records written after the last checkpoint of a crashed
//! run are dropped and read again: even `append` is exactly-once across crashes, for a source
//! that resumes from the acknowledged state exactly (a resume token or an inclusive cursor with
//! its boundary keys, as intake's read driver keeps them). `cli/tests/crash.rs` asserts it under
//! SIGKILL: 20 kills, each after a committed checkpoint and before the end, 0 duplicates.
//!
//! The syncs run on a thread of their own, checkpoint after checkpoint in order, while the
//! records that follow a checkpoint are already being written: a slow `fsync` holds back the
//! acknowledgement, never the data behind it.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{ConfiguredCatalog, DestinationSyncMode, StreamDescriptor};
use crate::destination::{
    Acks, Destination, DestinationInput, DestinationMessage, FolderLock, WriteSummary,
};
use crate::error::{Error, Result};
use crate::fs::write_atomically_blocking;
use crate::source::Checkpoint;
use crate::spec::{ConnectorSpec, parse_config};
use crate::state::State;

/// The name of the state file inside the destination folder.
pub const STATE_FILE: &str = "_intake_state.json";

/// Settings of the JSONL destination.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// Folder to write `<stream>.jsonl` files into; created if missing.
    pub destination_path: PathBuf,
    /// Call fsync on each checkpoint so acknowledged data survives a power loss, not just a
    /// crash. Default true.
    #[serde(default = "default_true")]
    pub fsync: bool,
}

fn default_true() -> bool {
    true
}

/// The JSONL destination. [`JsonlDestination::new`] fixes the folder in code; the default
/// instance reads `destination_path` from the config it is given.
#[derive(Debug, Clone, Default)]
pub struct JsonlDestination {
    preset: Option<JsonlConfig>,
}

impl JsonlDestination {
    /// Writes into this folder, whatever config JSON it is given.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonlDestination {
            preset: Some(JsonlConfig {
                destination_path: path.into(),
                fsync: true,
            }),
        }
    }

    /// Turns fsync on checkpoints off (faster; acknowledged data then survives a process crash
    /// but not a power loss).
    pub fn without_fsync(mut self) -> Self {
        if let Some(p) = self.preset.as_mut() {
            p.fsync = false;
        }
        self
    }

    fn config(&self, config: &Value) -> Result<JsonlConfig> {
        match &self.preset {
            Some(p) => Ok(p.clone()),
            None => parse_config(config),
        }
    }
}

/// The file a stream is written to: its name (and namespace) with anything but letters,
/// digits, `-`, `_` and `.` replaced by `_`.
pub fn stream_file_name(d: &StreamDescriptor) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let base = match &d.namespace {
        Some(ns) => format!("{}__{}", clean(ns), clean(&d.name)),
        None => clean(&d.name),
    };
    let base = base.trim_start_matches('.');
    format!("{}.jsonl", if base.is_empty() { "_" } else { base })
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    /// State messages, as [`State::to_messages`] writes them.
    state: Value,
    /// Committed length of each data file.
    files: BTreeMap<String, u64>,
}

fn load_state_file(dir: &Path) -> Result<Option<(State, BTreeMap<String, u64>)>> {
    let path = dir.join(STATE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::from(e).context(format!("reading {}", path.display()))),
    };
    let file: StateFile = serde_json::from_str(&text).map_err(|e| {
        Error::config(format!(
            "corrupt state file {} ({e}); fix or delete it",
            path.display()
        ))
    })?;
    Ok(Some((State::from_value(&file.state)?, file.files)))
}

#[async_trait]
impl Destination for JsonlDestination {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<JsonlConfig>()
            .destination_sync_modes(&[DestinationSyncMode::Append, DestinationSyncMode::Overwrite])
    }

    async fn check(&self, config: &Value) -> Result<()> {
        let cfg = self.config(config)?;
        let dir = cfg.destination_path.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
            let probe = dir.join(".intake_check");
            std::fs::write(&probe, b"ok")
                .map_err(|e| Error::config(format!("cannot write into {}: {e}", dir.display())))?;
            let _ = std::fs::remove_file(probe);
            Ok(())
        })
        .await
        .map_err(|e| Error::system(format!("check panicked: {e}")))?
    }

    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        let cfg = self.config(config)?;
        tokio::task::spawn_blocking(move || {
            load_state_file(&cfg.destination_path).map(|o| o.map(|(s, _)| s))
        })
        .await
        .map_err(|e| Error::system(format!("reading state panicked: {e}")))?
    }

    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let cfg = self.config(config)?;
        let catalog = catalog.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = JsonlWriter::open(cfg, &catalog)?;
            writer.run(input, acks)
        })
        .await
        .map_err(|e| Error::system(format!("the JSONL writer panicked: {e}")))?
    }
}

struct StreamFile {
    mode: DestinationSyncMode,
    /// The file records are written to now (the staging file for overwrite).
    path: PathBuf,
    /// Where an overwrite's staging file goes at the end.
    final_path: PathBuf,
    file_key: String,
    out: BufWriter<File>,
    /// The same file, for the committer to sync while `out` goes on writing.
    sync: Arc<File>,
    written: u64,
    dirty: bool,
}

struct JsonlWriter {
    cfg: JsonlConfig,
    streams: HashMap<StreamDescriptor, StreamFile>,
    state: State,
    committed: BTreeMap<String, u64>,
    summary: WriteSummary,
    /// This writer is the folder's only one while it lives.
    _lock: FolderLock,
}

/// Work for the committer thread, done in the order sent.
enum Job {
    /// Sync these files, then replace the state file with this one, then acknowledge.
    Commit {
        files: Vec<Arc<File>>,
        state: StateFile,
        checkpoint: Checkpoint,
    },
    /// Answer once every job sent before is done.
    Barrier(std::sync::mpsc::Sender<()>),
}

/// The thread that makes checkpoints durable (with fsync on): syncs their files, writes the
/// state file, then acknowledges, while the writer goes on with the records after them.
struct Committer {
    jobs: std::sync::mpsc::SyncSender<Job>,
    thread: std::thread::JoinHandle<Result<()>>,
}

/// Checkpoints that may wait for the disk at once: past that, the writer waits too.
const COMMITS_IN_FLIGHT: usize = 8;

impl Committer {
    fn start(dir: PathBuf, acks: Acks) -> Result<Committer> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(COMMITS_IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("intake-jsonl-commit".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Commit {
                            files,
                            state,
                            checkpoint,
                        } => {
                            for f in &files {
                                f.sync_data()?;
                            }
                            write_state_file(&dir, &state, true)?;
                            acks.ack(checkpoint)?;
                        }
                        Job::Barrier(done) => {
                            let _ = done.send(());
                        }
                    }
                }
                Ok(())
            })?;
        Ok(Committer { jobs, thread })
    }

    /// Queues a job. Fails only when the thread has stopped: [`Committer::stop`] says why.
    fn send(&self, job: Job) -> Result<()> {
        self.jobs
            .send(job)
            .map_err(|_| Error::system("the JSONL committer has stopped"))
    }

    /// Waits until every job sent so far is done.
    fn wait(&self) -> Result<()> {
        let (done, reply) = std::sync::mpsc::channel();
        self.send(Job::Barrier(done))?;
        reply
            .recv()
            .map_err(|_| Error::system("the JSONL committer has stopped"))
    }

    /// Finishes the queued jobs and ends the thread, with its error if it had one.
    fn stop(self) -> Result<()> {
        drop(self.jobs);
        self.thread
            .join()
            .map_err(|_| Error::system("the JSONL committer panicked"))?
    }
}

impl JsonlWriter {
    fn open(cfg: JsonlConfig, catalog: &ConfiguredCatalog) -> Result<Self> {
        let dir = cfg.destination_path.clone();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
        let lock = FolderLock::acquire(&dir)?;
        let (state, mut committed) = load_state_file(&dir)?.unwrap_or_default();
        let mut streams = HashMap::new();
        for s in &catalog.streams {
            let d = s.descriptor();
            let name = stream_file_name(&d);
            let final_path = dir.join(&name);
            let mode = s.destination_sync_mode;
            let (path, file_key) = match mode {
                DestinationSyncMode::Append => (final_path.clone(), name.clone()),
                DestinationSyncMode::Overwrite => {
                    // Kept as committed until the stream starts: only then is it known whether
                    // the source resumes the interrupted overwrite staged here.
                    let staging = format!(".{name}.staging");
                    (dir.join(&staging), staging)
                }
                other => {
                    return Err(Error::config(format!(
                        "stream \"{d}\": the JSONL destination supports append and overwrite, not {}; \
                         use the SQLite destination to deduplicate",
                        serde_json::to_value(other)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    )));
                }
            };
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
                .map_err(|e| Error::from(e).context(format!("opening {}", path.display())))?;
            let len = file.metadata()?.len();
            // Records after the last acknowledged checkpoint are dropped: the source sends them again.
            // A file this folder's state never tracked (written before intake) is kept as it is.
            let keep = committed.get(&file_key).copied().unwrap_or(
                if mode == DestinationSyncMode::Append {
                    len
                } else {
                    0
                },
            );
            if len > keep {
                file.set_len(keep)?;
            }
            committed.insert(file_key.clone(), keep.min(len));
            let sync = Arc::new(file.try_clone()?);
            streams.insert(
                d,
                StreamFile {
                    mode,
                    path,
                    final_path,
                    file_key,
                    out: BufWriter::with_capacity(1 << 20, file),
                    sync,
                    written: keep.min(len),
                    dirty: false,
                },
            );
        }
        let writer = JsonlWriter {
            cfg,
            streams,
            state,
            committed,
            summary: WriteSummary::default(),
            _lock: lock,
        };
        // Own the folder from the start: a crash before the first checkpoint is cut back too.
        writer.persist()?;
        Ok(writer)
    }

    fn run(&mut self, input: DestinationInput, acks: Acks) -> Result<WriteSummary> {
        let mut acker = if self.cfg.fsync {
            Acker::Committer(Committer::start(self.cfg.destination_path.clone(), acks)?)
        } else {
            Acker::Inline(acks)
        };
        let written = self.write_all(input, &mut acker);
        // Whatever happened, the checkpoints already queued are finished (or fail) first; the
        // committer's own error explains a write that stopped because it had stopped.
        if let Acker::Committer(c) = acker {
            c.stop()?;
        }
        written
    }

    fn write_all(
        &mut self,
        mut input: DestinationInput,
        acker: &mut Acker,
    ) -> Result<WriteSummary> {
        while let Some(msg) = input.blocking_recv() {
            match msg {
                DestinationMessage::Records(batch) => {
                    let f = self.streams.get_mut(&batch.stream).ok_or_else(|| {
                        Error::system(format!(
                            "records for stream \"{}\", which is not in the catalog",
                            batch.stream
                        ))
                    })?;
                    let mut bytes = 0u64;
                    // A record's text is one line by construction (see `Record`).
                    for r in &batch.records {
                        let json = r.json().as_bytes();
                        f.out.write_all(json)?;
                        f.out.write_all(b"\n")?;
                        bytes += json.len() as u64 + 1;
                    }
                    f.written += bytes;
                    f.dirty = true;
                    let s = self.summary.stream_mut(&batch.stream);
                    s.records += batch.records.len() as u64;
                    s.bytes += bytes;
                }
                DestinationMessage::Checkpoint(cp) => {
                    let mut files = Vec::new();
                    if let Some(f) = self.streams.get_mut(&cp.stream) {
                        if f.dirty {
                            f.out.flush()?;
                            f.dirty = false;
                            files.push(f.sync.clone());
                        }
                        self.committed.insert(f.file_key.clone(), f.written);
                    }
                    self.state
                        .set_stream((*cp.stream).clone(), cp.state.clone());
                    match acker {
                        Acker::Inline(acks) => {
                            self.persist()?;
                            acks.ack(cp)?;
                        }
                        Acker::Committer(c) => c.send(Job::Commit {
                            files,
                            state: self.state_file(),
                            checkpoint: cp,
                        })?,
                    }
                }
                DestinationMessage::StreamStart(d, start) => {
                    let Some(f) = self.streams.get_mut(&d) else {
                        continue;
                    };
                    if f.mode != DestinationSyncMode::Overwrite || start.resume {
                        continue;
                    }
                    // The read starts over: what an earlier run staged goes, and so does the
                    // resume point it was staged for (stored at once, so a crash now cannot
                    // leave a resume token naming records that are gone).
                    if let Acker::Committer(c) = acker {
                        c.wait()?;
                    }
                    f.out.flush()?;
                    f.out.get_ref().set_len(0)?;
                    f.written = 0;
                    f.dirty = false;
                    self.committed.insert(f.file_key.clone(), 0);
                    self.state.forget_resume(&d);
                    self.persist()?;
                }
                DestinationMessage::StreamEnd(d, end) => {
                    // Only a complete read replaces the old file; any other end keeps it, and
                    // keeps the staged records for a resume.
                    if !end.is_complete() {
                        continue;
                    }
                    // The checkpoints before it are on disk before its file is renamed.
                    if let Acker::Committer(c) = acker {
                        c.wait()?;
                    }
                    let Some(f) = self.streams.get_mut(&d) else {
                        continue;
                    };
                    sync_file(f, self.cfg.fsync)?;
                    if f.mode == DestinationSyncMode::Overwrite {
                        std::fs::rename(&f.path, &f.final_path)?;
                        self.committed.remove(&f.file_key);
                        let final_key = f
                            .final_path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        self.committed.insert(final_key.clone(), f.written);
                        // Later records of this stream (none expected) go to the final file.
                        f.path = f.final_path.clone();
                        f.file_key = final_key;
                        f.mode = DestinationSyncMode::Append;
                    } else {
                        self.committed.insert(f.file_key.clone(), f.written);
                    }
                    self.persist()?;
                }
            }
        }
        // Input ended: flush what was written; anything not covered by a checkpoint stays
        // uncommitted and is cut back when the next write starts.
        for f in self.streams.values_mut() {
            f.out.flush()?;
        }
        Ok(std::mem::take(&mut self.summary))
    }

    fn state_file(&self) -> StateFile {
        StateFile {
            state: Value::Array(self.state.to_messages()),
            files: self.committed.clone(),
        }
    }

    fn persist(&self) -> Result<()> {
        write_state_file(
            &self.cfg.destination_path,
            &self.state_file(),
            self.cfg.fsync,
        )
    }
}

/// Replaces the folder's state file: atomically, and synced with `fsync`.
fn write_state_file(dir: &Path, file: &StateFile, fsync: bool) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(file)
        .map_err(|e| Error::system(format!("serializing state: {e}")))?;
    let path = dir.join(STATE_FILE);
    if fsync {
        write_atomically_blocking(&path, &bytes)
    } else {
        let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

/// Who makes checkpoints durable and acknowledges them: the writer itself (without fsync, there
/// is no disk to wait for), or the committer thread.
enum Acker {
    Inline(Acks),
    Committer(Committer),
}

fn sync_file(f: &mut StreamFile, fsync: bool) -> Result<()> {
    if f.dirty {
        f.out.flush()?;
        if fsync {
            f.out.get_ref().sync_data()?;
        }
        f.dirty = false;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(
            stream_file_name(&StreamDescriptor::new("contacts")),
            "contacts.jsonl"
        );
        assert_eq!(
            stream_file_name(&StreamDescriptor::new("../etc/passwd")),
            "_etc_passwd.jsonl"
        );
        let d = StreamDescriptor {
            name: "deals".into(),
            namespace: Some("crm v2".into()),
        };
        assert_eq!(stream_file_name(&d), "crm_v2__deals.jsonl");
    }
}
