//! The sync engine: one source into one destination, in-process.
//!
//! ```text
//!  source task ──(bounded channel of batches)──> router ──(bounded channel)──> destination task
//!       ^                                          │  ^                              │
//!       └──── backpressure: a full channel waits ──┘  └──── acknowledged checkpoints ┘
//! ```
//! The source reads streams and partitions concurrently ([`ReadOptions::max_concurrency`]);
//! batches travel through bounded channels and take their bytes from the sync's memory budget
//! ([`SyncBuilder::buffer_bytes`], 32 MiB by default; see [`crate::buffer`]), so memory is
//! bounded in bytes whatever the data's size or the size of its pages. When the
//! destination's channel is full, the router waits until half of it is free and then fills it,
//! so it is not woken for every batch a slower destination takes. Checkpoints
//! go to the destination in order; the engine records a stream's state only when the destination
//! acknowledges it, so a crash or cancellation at any point leaves the last acknowledged state
//! valid and the next run resumes from it with no record lost.
//!
//! # Example
//! ```no_run
//! # async fn demo(source: impl intake::Source + 'static) -> intake::Result<()> {
//! use intake::destination::jsonl::JsonlDestination;
//! let report = intake::sync(source, serde_json::json!({"api_token": "..."}))
//!     .to(JsonlDestination::new("out"))
//!     .run()
//!     .await?;
//! println!("{} records", report.records_written());
//! # Ok(()) }
//! ```

mod report;
mod route;

use route::{Channels, Routed};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use report::{StreamReport, SyncReport};

/// What a running sync reports, for progress displays ([`SyncBuilder::on_progress`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Progress {
    /// A page of records was read from a stream.
    Records {
        /// The stream.
        stream: Arc<StreamDescriptor>,
        /// Records in the page.
        records: u64,
        /// Their bytes of JSON.
        bytes: u64,
    },
    /// A stream's status changed (started, running, rate limited, complete, incomplete).
    Status {
        /// The stream.
        stream: Arc<StreamDescriptor>,
        /// The new status.
        status: StreamStatus,
    },
    /// The destination committed a checkpoint of a stream: its records are durable.
    Committed {
        /// The stream.
        stream: Arc<StreamDescriptor>,
        /// Records the checkpoint covered.
        records: u64,
    },
    /// A stream's requests, retries and rate-limit waits, at its end.
    Metrics {
        /// The stream.
        stream: Arc<StreamDescriptor>,
        /// What it did.
        metrics: StreamMetrics,
    },
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

use crate::catalog::{ConfiguredCatalog, DestinationSyncMode, StreamDescriptor};
use crate::destination::{Acks, Destination, StreamStart, WriteSummary};
use crate::error::{Error, Result};
use crate::fs::write_atomically;
use crate::source::{EventSender, ReadOptions, Source, StreamMetrics, StreamStatus};
use crate::state::State;

/// Starts building a sync from a source and its config (JSON, as a user writes it).
pub fn sync<S: Source + 'static>(source: S, config: Value) -> SyncBuilder {
    SyncBuilder {
        source: Arc::new(source),
        source_config: config,
        destination: None,
        destination_config: Value::Object(Default::default()),
        catalog: None,
        streams: None,
        state: None,
        state_file: None,
        options: ReadOptions::default(),
        channel_capacity: 16,
        buffer_bytes: DEFAULT_BUFFER_BYTES,
        cancel: CancellationToken::new(),
        progress: None,
    }
}

/// Aborts the task when dropped, so dropping a sync's future stops it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A sync being configured. Run it with [`SyncBuilder::run`].
pub struct SyncBuilder {
    source: Arc<dyn Source>,
    source_config: Value,
    destination: Option<Arc<dyn Destination>>,
    destination_config: Value,
    catalog: Option<ConfiguredCatalog>,
    streams: Option<Vec<String>>,
    state: Option<State>,
    state_file: Option<PathBuf>,
    options: ReadOptions,
    channel_capacity: usize,
    buffer_bytes: u64,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
}

/// The default memory budget of a sync's channels: 32 MiB of record JSON.
pub const DEFAULT_BUFFER_BYTES: u64 = 32 << 20;

impl SyncBuilder {
    /// Calls `f` as the sync runs: pages read, status changes, commits, metrics. It runs on the
    /// sync's task, so keep it quick (update a counter or a progress bar).
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    fn notify(&self, event: impl FnOnce() -> Progress) {
        if let Some(f) = &self.progress {
            f(&event());
        }
    }

    /// The destination. Required.
    pub fn to<D: Destination + 'static>(mut self, destination: D) -> Self {
        self.destination = Some(Arc::new(destination));
        self
    }

    /// The destination's config JSON. Default `{}` (for destinations built in code).
    pub fn destination_config(mut self, config: Value) -> Self {
        self.destination_config = config;
        self
    }

    /// The configured catalog. Default: discover, then configure every stream with
    /// [`crate::CatalogStream::configure_default`] (incremental + dedup where possible).
    pub fn catalog(mut self, catalog: ConfiguredCatalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Only these streams. Default: all.
    pub fn streams<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.streams = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The state to start from. Default: the state file's, else the destination's stored
    /// state, else empty.
    pub fn state(mut self, state: State) -> Self {
        self.state = Some(state);
        self
    }

    /// A file to read the starting state from and to write every acknowledged state to
    /// (atomically: write, sync, rename). Default none.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Checkpoint cadence and concurrency. Default [`ReadOptions::default`].
    pub fn options(mut self, options: ReadOptions) -> Self {
        self.options = options;
        self
    }

    /// How many batches may wait in each channel. Default 16.
    pub fn channel_capacity(mut self, batches: usize) -> Self {
        self.channel_capacity = batches.max(1);
        self
    }

    /// How many bytes of record JSON may be buffered between the source and the destination
    /// (in both channels and in batches the destination has not dropped yet), whatever the
    /// batches' count or size: a source ahead of it waits. Default 32 MiB
    /// ([`DEFAULT_BUFFER_BYTES`]); see [`crate::buffer`].
    pub fn buffer_bytes(mut self, bytes: u64) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// Stops the sync cleanly when the token is cancelled: the destination finishes what it
    /// acknowledged and the sync returns [`Error::Cancelled`]. Default: never.
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Runs the sync. On failure the error is returned; the state acknowledged until then is
    /// stored (state file, destination), so a rerun continues from it.
    pub async fn run(self) -> Result<SyncReport> {
        let (report, error) = self.run_report().await;
        match error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Runs the sync and returns the report whether it failed or not, with the error if any.
    ///
    /// The sync runs as a task of the runtime rather than inside the caller's future: a caller
    /// that blocks on it (`Runtime::block_on`, `#[tokio::main]`) would otherwise have its own
    /// thread parked and woken for every batch the sync routes. Dropping the returned future
    /// still stops the sync.
    pub async fn run_report(self) -> (SyncReport, Option<Error>) {
        let started = Instant::now();
        let mut task = AbortOnDrop(tokio::spawn(async move {
            let mut report = SyncReport::default();
            let result = self.run_inner(&mut report).await;
            (report, result)
        }));
        let (mut report, result) = match (&mut task.0).await {
            Ok(done) => done,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => (
                SyncReport::default(),
                Err(Error::system(format!("the sync task stopped: {join}"))),
            ),
        };
        report.duration = started.elapsed();
        (report, result.err())
    }

    async fn run_inner(self, report: &mut SyncReport) -> Result<()> {
        let destination = self
            .destination
            .clone()
            .ok_or_else(|| Error::config("the sync has no destination; call .to(...)"))?;
        let mut catalog = match self.catalog.clone() {
            Some(c) => c,
            None => {
                let mut c = self
                    .source
                    .discover(&self.source_config)
                    .await?
                    .configure_all();
                fit_to_destination(&mut c, &destination.spec());
                c
            }
        };
        if let Some(names) = &self.streams {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            catalog = catalog.select(&names)?;
        }
        catalog.validate()?;
        // What the destination holds decides whether an interrupted overwrite can resume: its
        // staged records belong to the state it stored, not to a state file or one given here.
        let stored = destination
            .stored_state(&self.destination_config)
            .await?
            .unwrap_or_default();
        let mut state = match (&self.state, &self.state_file) {
            (Some(s), _) => s.clone(),
            (None, Some(path)) if path.exists() => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    Error::from(e).context(format!("reading state file {}", path.display()))
                })?;
                State::parse(&text)
                    .map_err(|e| e.context(format!("state file {}", path.display())))?
            }
            _ => stored.clone(),
        };
        let mut starts = std::collections::HashMap::new();
        for s in &catalog.streams {
            let d = s.descriptor();
            let mut resume = state.resumes(&d);
            if resume
                && s.destination_sync_mode == DestinationSyncMode::Overwrite
                && state.stream(&d) != stored.stream(&d)
            {
                // The source would continue at page N into a staging area that does not hold
                // pages 1..N (a new folder) or holds another run's: start the stream over.
                let warning = format!(
                    "stream \"{d}\": the state resumes an interrupted overwrite that the destination did not stage; reading it from the start"
                );
                tracing::warn!("{warning}");
                report.warnings.push(warning);
                state.forget_resume(&d);
                resume = false;
            }
            starts.insert(d.clone(), StreamStart { resume });
            report.stream_mut(&d);
        }
        report.state = state.clone();

        let budget = crate::buffer::ByteBudget::new(self.buffer_bytes);
        let (src_tx, src_rx) = mpsc::channel(self.channel_capacity);
        let (dst_tx, dst_rx) = mpsc::channel(self.channel_capacity);
        let (acks, mut ack_rx) = Acks::channel();

        // Both tasks are aborted if this future is dropped or returns early: no reader or
        // writer outlives the sync that started it.
        let mut source_task = AbortOnDrop({
            let source = self.source.clone();
            let config = self.source_config.clone();
            let catalog = catalog.clone();
            let mut options = self.options.clone();
            options.cancel = self.cancel.clone();
            let state = state.clone();
            let out = EventSender::new(src_tx).with_budget(budget.clone());
            tokio::spawn(async move { source.read(&config, &catalog, &state, &options, out).await })
        });
        let mut destination_task = AbortOnDrop({
            let destination = destination.clone();
            let config = self.destination_config.clone();
            let catalog = catalog.clone();
            tokio::spawn(async move { destination.write(&config, &catalog, dst_rx, acks).await })
        });

        let channels = Channels {
            src_rx,
            dst_tx,
            budget,
        };
        let routed = self
            .route(report, &catalog, starts, channels, &mut ack_rx)
            .await;
        // The router has stopped (and dropped both channels). A source still running is
        // stopped now: it may be asleep in an hour's rate-limit pause, and nothing reads it.
        let source_done = matches!(routed, Ok(Routed::SourceDone));
        if !source_done {
            source_task.0.abort();
        }
        let source_result = match (&mut source_task.0).await {
            Ok(r) => r,
            Err(join) if join.is_cancelled() => Err(Error::Cancelled),
            Err(join) => Err(Error::system(format!("the source task panicked: {join}"))),
        };
        let destination_result = match (&mut destination_task.0).await {
            Ok(r) => r,
            Err(join) => Err(Error::system(format!(
                "the destination task panicked: {join}"
            ))),
        };
        while let Some(cp) = ack_rx.recv().await {
            self.acknowledged(report, cp).await?;
        }
        let failure = match routed {
            Ok(Routed::Stopped(e)) => Some(e),
            Ok(Routed::SourceDone | Routed::DestinationGone) => None,
            Err(e) => Some(e),
        };
        match destination_result {
            Ok(summary) => merge_write_summary(report, summary),
            Err(e) => {
                // The destination's own error explains a source that saw a closed channel.
                return Err(e);
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        match source_result {
            Err(Error::Cancelled) if self.cancel.is_cancelled() => Err(Error::Cancelled),
            Err(e) => Err(e),
            Ok(()) => Ok(()),
        }
    }

    async fn acknowledged(
        &self,
        report: &mut SyncReport,
        cp: crate::source::Checkpoint,
    ) -> Result<()> {
        report
            .state
            .set_stream((*cp.stream).clone(), cp.state.clone());
        report.checkpoints += 1;
        let s = report.stream_mut(&cp.stream);
        s.records_committed += cp.records;
        self.notify(|| Progress::Committed {
            stream: cp.stream.clone(),
            records: cp.records,
        });
        s.state = Some(cp.state);
        if let Some(path) = &self.state_file {
            write_atomically(path, report.state.to_json().as_bytes())
                .await
                .map_err(|e| e.context(format!("writing state file {}", path.display())))?;
        }
        Ok(())
    }
}

/// Downgrades default write modes the destination does not support: `append_dedup` and
/// `overwrite` fall back to `append`, which every destination supports.
fn fit_to_destination(catalog: &mut ConfiguredCatalog, spec: &crate::spec::ConnectorSpec) {
    let Some(supported) = &spec.supported_destination_sync_modes else {
        return;
    };
    for s in &mut catalog.streams {
        if !supported.contains(&s.destination_sync_mode) {
            s.destination_sync_mode = crate::catalog::DestinationSyncMode::Append;
        }
    }
}

fn merge_write_summary(report: &mut SyncReport, summary: WriteSummary) {
    for (d, w) in summary.streams {
        let s = report.stream_mut(&d);
        s.records_written = w.records;
        s.bytes_written = w.bytes;
        s.rejected = w.rejected;
        for warning in w.warnings {
            report.warnings.push(format!("stream \"{d}\": {warning}"));
        }
    }
}
