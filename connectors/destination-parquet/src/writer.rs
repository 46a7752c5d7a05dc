//! The writer: arrow builders per stream, a Parquet file per checkpoint, a sidecar that names
//! the committed files and the state.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use intake::destination::table::{Cell, ColumnKind, Fields, TableSchema};
use intake::destination::{Acks, DestinationInput, DestinationMessage, FolderLock, WriteSummary};
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, State, StreamDescriptor};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ParquetConfig;

/// The sidecar with the acknowledged state and the committed files.
pub const STATE_FILE: &str = "_intake_state.json";
const EXTRACTED_AT: &str = "_intake_extracted_at";
const RAW: &str = "_intake_raw";
const ERROR: &str = "_intake_error";
/// Rows buffered before they go to the Parquet writer as one arrow batch.
const BATCH_ROWS: usize = 8_192;

fn io(what: String) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::system(format!("{what}: {e}"))
}

fn pq(what: &'static str) -> impl Fn(parquet::errors::ParquetError) -> Error {
    move |e| Error::system(format!("Parquet: {what}: {e}"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Sidecar {
    /// State messages.
    state: Value,
    /// Committed files per stream folder (relative to the destination folder).
    files: BTreeMap<String, Vec<String>>,
}

fn read_sidecar(dir: &Path) -> Result<Sidecar> {
    let path = dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "{} is not an intake state file ({e}); remove it to start over",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Sidecar::default()),
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

/// The state the last sync left.
pub(crate) fn stored_state(dir: &Path) -> Result<Option<State>> {
    let sidecar = read_sidecar(dir)?;
    if sidecar.state.is_null() {
        return Ok(None);
    }
    let state = State::from_value(&sidecar.state)?;
    Ok((!state.is_empty()).then_some(state))
}

fn write_sidecar(dir: &Path, sidecar: &Sidecar) -> Result<()> {
    let tmp = dir.join(format!(".{STATE_FILE}.tmp"));
    let text = serde_json::to_vec_pretty(sidecar)
        .map_err(|e| Error::system(format!("serializing the state: {e}")))?;
    let mut f = File::create(&tmp).map_err(io(format!("writing {}", tmp.display())))?;
    std::io::Write::write_all(&mut f, &text).map_err(io(format!("writing {}", tmp.display())))?;
    f.sync_all()
        .map_err(io(format!("syncing {}", tmp.display())))?;
    std::fs::rename(&tmp, dir.join(STATE_FILE)).map_err(io("replacing the state file".into()))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

/// The folder a stream is written to: its name (and namespace) with anything but letters,
/// digits, `-`, `_` and `.` replaced by `_`.
pub fn folder_name(d: &StreamDescriptor) -> String {
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
    let base = base.trim_start_matches('.').to_string();
    if base.is_empty() { "_".into() } else { base }
}

fn data_type(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::String | ColumnKind::Json => DataType::Utf8,
        ColumnKind::Integer => DataType::Int64,
        ColumnKind::Number => DataType::Float64,
        ColumnKind::Boolean => DataType::Boolean,
        ColumnKind::DateTime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColumnKind::Date => DataType::Date32,
    }
}

enum Builder {
    Str(StringBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    Date(Date32Builder),
}

impl Builder {
    fn new(kind: ColumnKind) -> Builder {
        match kind {
            ColumnKind::String | ColumnKind::Json => Builder::Str(StringBuilder::new()),
            ColumnKind::Integer => Builder::I64(Int64Builder::new()),
            ColumnKind::Number => Builder::F64(Float64Builder::new()),
            ColumnKind::Boolean => Builder::Bool(BooleanBuilder::new()),
            ColumnKind::DateTime => {
                Builder::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            ColumnKind::Date => Builder::Date(Date32Builder::new()),
        }
    }

    fn push(&mut self, c: &Cell<'_>) {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        match (self, c) {
            (Builder::Str(b), Cell::Text(s)) => b.append_value(s),
            (Builder::Str(b), Cell::Json(s)) => b.append_value(s),
            (Builder::I64(b), Cell::Integer(i)) => b.append_value(*i),
            (Builder::F64(b), Cell::Number(f)) => b.append_value(*f),
            (Builder::F64(b), Cell::Integer(i)) => b.append_value(*i as f64),
            (Builder::Bool(b), Cell::Boolean(v)) => b.append_value(*v),
            (Builder::Ts(b), Cell::DateTime(t)) => b.append_value(t.timestamp_micros()),
            (Builder::Date(b), Cell::Date(d)) => b.append_value((*d - epoch).num_days() as i32),
            (Builder::Str(b), _) => b.append_null(),
            (Builder::I64(b), _) => b.append_null(),
            (Builder::F64(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Ts(b), _) => b.append_null(),
            (Builder::Date(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Ts(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
        }
    }
}

struct Open {
    writer: ArrowWriter<File>,
    tmp: PathBuf,
    name: String,
}

struct StreamFiles {
    d: StreamDescriptor,
    /// Folder readers see (relative name).
    folder: String,
    /// Folder written now (the staging folder for overwrite).
    target: String,
    mode: DestinationSyncMode,
    schema: TableSchema,
    arrow: Arc<Schema>,
    builders: Vec<Builder>,
    extracted: TimestampMillisecondBuilder,
    raw: StringBuilder,
    error: StringBuilder,
    rows: usize,
    open: Option<Open>,
    /// Finished files not yet committed by a checkpoint: (tmp path, final name).
    finished: Vec<(PathBuf, String)>,
    records: u64,
    bytes: u64,
    rejected: u64,
    misfits: BTreeMap<String, u64>,
}

impl StreamFiles {
    fn reset_builders(&mut self) {
        let mut fields: Vec<Field> = self
            .schema
            .columns()
            .iter()
            .map(|c| Field::new(&c.name, data_type(c.kind), true))
            .collect();
        fields.push(Field::new(
            EXTRACTED_AT,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ));
        fields.push(Field::new(RAW, DataType::Utf8, true));
        fields.push(Field::new(ERROR, DataType::Utf8, true));
        self.arrow = Arc::new(Schema::new(fields));
        self.builders = self
            .schema
            .columns()
            .iter()
            .map(|c| Builder::new(c.kind))
            .collect();
        self.extracted = TimestampMillisecondBuilder::new().with_timezone("UTC");
        self.raw = StringBuilder::new();
        self.error = StringBuilder::new();
        self.rows = 0;
    }
}

/// Writes one sync's messages.
pub(crate) struct Writer {
    root: PathBuf,
    row_group_rows: usize,
    run: String,
    seq: u64,
    streams: HashMap<StreamDescriptor, StreamFiles>,
    sidecar: Sidecar,
    state: State,
    /// This writer is the folder's only one while it lives.
    _lock: FolderLock,
}

impl Writer {
    pub(crate) fn start(cfg: &ParquetConfig, catalog: &ConfiguredCatalog) -> Result<Writer> {
        let root = cfg.destination_path.clone();
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::config(format!("cannot create {}: {e}", root.display())))?;
        let lock = FolderLock::acquire(&root)?;
        let sidecar = read_sidecar(&root)?;
        let state = if sidecar.state.is_null() {
            State::new()
        } else {
            State::from_value(&sidecar.state)?
        };
        let mut streams = HashMap::new();
        for cs in &catalog.streams {
            let d = cs.stream.descriptor();
            let folder = folder_name(&d);
            let target = match cs.destination_sync_mode {
                // Kept as committed until the stream starts: only then is it known whether the
                // source resumes the interrupted overwrite staged there.
                DestinationSyncMode::Overwrite => format!(".{folder}.staging"),
                _ => folder.clone(),
            };
            let dir = root.join(&target);
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            // Anything a crashed run left that no checkpoint committed goes.
            let committed = sidecar.files.get(&target).cloned().unwrap_or_default();
            for entry in
                std::fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))?
            {
                let entry = entry.map_err(io(format!("listing {}", dir.display())))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let stray = name.ends_with(".tmp")
                    || (name.ends_with(".parquet") && !committed.contains(&name));
                if stray {
                    tracing::info!(
                        "removing {name}, written after the last checkpoint of a crashed run"
                    );
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            let mut s = StreamFiles {
                d: d.clone(),
                folder,
                target,
                mode: cs.destination_sync_mode,
                schema: TableSchema::from_json_schema(&cs.stream.json_schema),
                arrow: Arc::new(Schema::empty()),
                builders: Vec::new(),
                extracted: TimestampMillisecondBuilder::new(),
                raw: StringBuilder::new(),
                error: StringBuilder::new(),
                rows: 0,
                open: None,
                finished: Vec::new(),
                records: 0,
                bytes: 0,
                rejected: 0,
                misfits: BTreeMap::new(),
            };
            s.reset_builders();
            streams.insert(d, s);
        }
        Ok(Writer {
            root,
            row_group_rows: cfg.row_group_rows.max(1),
            run: chrono::Utc::now().format("%Y%m%dT%H%M%S%3f").to_string(),
            seq: 0,
            streams,
            sidecar,
            state,
            _lock: lock,
        })
    }

    /// Sends buffered rows to the stream's open file (opening one if needed).
    fn flush(&mut self, d: &StreamDescriptor) -> Result<()> {
        let Some(s) = self.streams.get_mut(d) else {
            return Ok(());
        };
        if s.rows == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = s.builders.iter_mut().map(Builder::finish).collect();
        columns.push(Arc::new(s.extracted.finish()));
        columns.push(Arc::new(s.raw.finish()));
        columns.push(Arc::new(s.error.finish()));
        let batch = RecordBatch::try_new(s.arrow.clone(), columns)
            .map_err(|e| Error::system(format!("building an arrow batch: {e}")))?;
        s.rows = 0;
        if s.open.is_none() {
            self.seq += 1;
            let name = format!("part-{}-{:05}.parquet", self.run, self.seq);
            let tmp = self.root.join(&s.target).join(format!(".{name}.tmp"));
            let file = File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_size(self.row_group_rows)
                .build();
            let writer = ArrowWriter::try_new(file, s.arrow.clone(), Some(props))
                .map_err(pq("opening a file"))?;
            s.open = Some(Open { writer, tmp, name });
        }
        if let Some(open) = s.open.as_mut() {
            open.writer.write(&batch).map_err(pq("writing rows"))?;
        }
        Ok(())
    }

    /// Finishes the stream's open file (footer written, synced); it is committed later.
    fn finish_file(&mut self, d: &StreamDescriptor) -> Result<()> {
        self.flush(d)?;
        let Some(s) = self.streams.get_mut(d) else {
            return Ok(());
        };
        if let Some(open) = s.open.take() {
            let file = open.writer.into_inner().map_err(pq("finishing a file"))?;
            file.sync_all()
                .map_err(io(format!("syncing {}", open.tmp.display())))?;
            s.finished.push((open.tmp, open.name));
        }
        Ok(())
    }

    /// Renames the stream's finished files into place and records them in the sidecar.
    fn commit_files(&mut self, d: &StreamDescriptor) -> Result<()> {
        self.finish_file(d)?;
        let Some(s) = self.streams.get_mut(d) else {
            return Ok(());
        };
        let dir = self.root.join(&s.target);
        for (tmp, name) in s.finished.drain(..) {
            std::fs::rename(&tmp, dir.join(&name)).map_err(io(format!("committing {name}")))?;
            self.sidecar
                .files
                .entry(s.target.clone())
                .or_default()
                .push(name);
        }
        sync_dir(&dir)
    }

    /// Replaces the live folder with the staged one. Readers see the old files or the new,
    /// never no folder: on Linux the two folders are exchanged in one `renameat2` call.
    /// Before it, the sidecar lists both runs' files under both folders, so a crash on either
    /// side of the exchange loses neither (the next start clears what the staging holds).
    fn swap_in(&mut self, folder: &str, staging: &str) -> Result<()> {
        let (live, staged) = (self.root.join(folder), self.root.join(staging));
        let new_files = self.sidecar.files.get(staging).cloned().unwrap_or_default();
        let old_files = self.sidecar.files.get(folder).cloned().unwrap_or_default();
        let both: Vec<String> = old_files.iter().chain(&new_files).cloned().collect();
        self.sidecar.files.insert(folder.to_string(), both.clone());
        self.sidecar.files.insert(staging.to_string(), both);
        self.save()?;
        exchange_dirs(&staged, &live).map_err(io(format!("replacing {folder}")))?;
        self.sidecar.files.insert(folder.to_string(), new_files);
        self.sidecar.files.insert(staging.to_string(), Vec::new());
        self.save()?;
        // The staging folder now holds the old files.
        for name in old_files {
            let _ = std::fs::remove_file(staged.join(name));
        }
        Ok(())
    }

    fn save(&mut self) -> Result<()> {
        self.sidecar.state = Value::Array(self.state.to_messages());
        write_sidecar(&self.root, &self.sidecar)
    }

    pub(crate) fn run(mut self, mut input: DestinationInput, acks: Acks) -> Result<WriteSummary> {
        while let Some(message) = input.blocking_recv() {
            match message {
                DestinationMessage::Records(batch) => {
                    let d = (*batch.stream).clone();
                    if !self.streams.contains_key(&d) {
                        return Err(Error::system(format!(
                            "records arrived for stream \"{d}\", which the catalog does not configure"
                        )));
                    }
                    for record in &batch.records {
                        self.write_record(&d, record, batch.emitted_at)?;
                    }
                }
                DestinationMessage::Checkpoint(cp) => {
                    let d = (*cp.stream).clone();
                    self.commit_files(&d)?;
                    self.state.set_stream(d, cp.state.clone());
                    self.save()?;
                    acks.ack(cp)?;
                }
                DestinationMessage::StreamStart(d, start) => {
                    let Some(s) = self
                        .streams
                        .get(&*d)
                        .filter(|s| s.mode == DestinationSyncMode::Overwrite && !start.resume)
                    else {
                        continue;
                    };
                    // The read starts over: the earlier run's staged files go, and so does the
                    // resume point they were staged for (stored at once, so a crash now cannot
                    // leave a resume token naming files that are gone).
                    let dir = self.root.join(&s.target);
                    let staged = self.sidecar.files.remove(&s.target).unwrap_or_default();
                    for name in staged {
                        let _ = std::fs::remove_file(dir.join(name));
                    }
                    self.state.forget_resume(&d);
                    self.save()?;
                }
                DestinationMessage::StreamEnd(d, end) => {
                    // Only a complete read replaces the old files.
                    let swap = self
                        .streams
                        .get(&*d)
                        .filter(|s| s.mode == DestinationSyncMode::Overwrite && end.is_complete())
                        .map(|s| (s.folder.clone(), s.target.clone()));
                    if let Some((folder, staging)) = swap {
                        self.commit_files(&d)?;
                        self.swap_in(&folder, &staging)?;
                    }
                }
            }
        }
        // Open and finished-but-uncommitted files are not covered by a checkpoint: they go.
        for s in self.streams.values_mut() {
            if let Some(open) = s.open.take() {
                drop(open.writer);
                let _ = std::fs::remove_file(&open.tmp);
            }
            for (tmp, _) in s.finished.drain(..) {
                let _ = std::fs::remove_file(tmp);
            }
        }
        let mut summary = WriteSummary::default();
        for s in self.streams.values() {
            let w = summary.stream_mut(&s.d);
            w.records = s.records;
            w.bytes = s.bytes;
            w.rejected = s.rejected;
            for (reason, n) in &s.misfits {
                w.warnings.push(format!(
                    "stream \"{}\": {n} record(s) kept as raw JSON in {RAW}: {reason}",
                    s.d
                ));
            }
        }
        Ok(summary)
    }

    fn write_record(
        &mut self,
        d: &StreamDescriptor,
        record: &intake::Record,
        emitted_at: i64,
    ) -> Result<()> {
        let fields = Fields::of(record)?;
        // A new field or a widened column starts a new file with the new schema.
        let changes = self.streams[d]
            .schema
            .changes_for(&fields, &[EXTRACTED_AT, RAW, ERROR]);
        if !changes.is_empty() {
            self.finish_file(d)?;
            let s = self
                .streams
                .get_mut(d)
                .ok_or_else(|| Error::system("unknown stream"))?;
            for c in changes {
                tracing::info!("stream \"{}\": column {} is now {}", s.d, c.name, c.kind);
                s.schema.push(c);
            }
            s.reset_builders();
        }
        let s = self
            .streams
            .get_mut(d)
            .ok_or_else(|| Error::system("unknown stream"))?;
        let (cells, misfits) = s.schema.cells(&fields);
        for m in &misfits {
            *s.misfits.entry(m.to_string()).or_default() += 1;
        }
        let error = misfits.first().map(ToString::to_string);
        for (b, c) in s.builders.iter_mut().zip(&cells) {
            b.push(c);
        }
        s.extracted.append_value(emitted_at);
        match &error {
            Some(e) => {
                s.rejected += 1;
                s.raw.append_value(record.json());
                s.error.append_value(e);
            }
            None => {
                s.raw.append_null();
                s.error.append_null();
            }
        }
        s.rows += 1;
        s.records += 1;
        s.bytes += record.len() as u64;
        if s.rows >= BATCH_ROWS {
            self.flush(d)?;
        }
        Ok(())
    }
}

/// Swaps two paths atomically; `live` may not exist yet (then `staged` is renamed to it).
#[cfg(target_os = "linux")]
fn exchange_dirs(staged: &Path, live: &Path) -> std::io::Result<()> {
    if !live.exists() {
        std::fs::rename(staged, live)?;
        return std::fs::create_dir_all(staged);
    }
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, staged, CWD, live, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

/// Without an atomic exchange: the live folder is moved aside, then the staged one renamed
/// over it (a reader may find no folder for that instant).
#[cfg(not(target_os = "linux"))]
fn exchange_dirs(staged: &Path, live: &Path) -> std::io::Result<()> {
    let aside = live.with_extension("old");
    let _ = std::fs::remove_dir_all(&aside);
    if live.exists() {
        std::fs::rename(live, &aside)?;
    }
    std::fs::rename(staged, live)?;
    if aside.exists() {
        std::fs::rename(&aside, staged)?;
    } else {
        std::fs::create_dir_all(staged)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_10_the_overwrite_swap_exchanges_the_folders_in_one_step() {
        let root = tempfile::tempdir().unwrap();
        let (live, staged) = (
            root.path().join("contacts"),
            root.path().join(".contacts.staging"),
        );
        // No live folder yet: the staged one becomes it.
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(staged.join("a.parquet"), b"1").unwrap();
        exchange_dirs(&staged, &live).unwrap();
        assert!(live.join("a.parquet").exists() && staged.is_dir());
        // Both exist: their contents trade places, and the live path is never missing.
        std::fs::write(staged.join("b.parquet"), b"2").unwrap();
        exchange_dirs(&staged, &live).unwrap();
        assert!(live.join("b.parquet").exists() && !live.join("a.parquet").exists());
        assert!(staged.join("a.parquet").exists());
        assert!(!root.path().join("contacts.old").exists());
    }
}
