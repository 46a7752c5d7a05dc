//! Sources and their streams.
//!
//! A [`Source`] is built from [`Stream`]s. A stream reads one partition at a time and yields
//! [`Page`]s of records; intake does everything around it: cursor tracking and boundary dedup
//! ([`crate::state::CursorTracker`]), checkpoints every N records or T seconds, concurrency
//! across streams and partitions, and stream statuses. A custom connector implements
//! [`Stream::read`] and declares the rest.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogStream, ConfiguredCatalog, StreamDescriptor, SyncMode};
use crate::error::{Error, Result};
use crate::record::{Record, RecordBatch};
use crate::spec::{ConfigUpdate, ConnectorSpec};
use crate::state::{Cursor, CursorState, CursorTracker, Observed, State, StreamState};

pub use crate::namespace::Namespaced;

/// One slice of a stream that is read on its own, with its own state: a parent record (the
/// members of one list), a date window, a shard. [`Partition::whole`] is the whole stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    key: Value,
}

impl Partition {
    /// The whole stream (its state lives at the root of the stream's state).
    pub fn whole() -> Self {
        Partition { key: Value::Null }
    }

    /// A partition identified by a JSON value (`{"list_id": "a1"}`). The value is stored in
    /// the state, so keep it small and stable across runs.
    pub fn new(key: Value) -> Self {
        Partition { key }
    }

    /// The partition's identity.
    pub fn key(&self) -> &Value {
        &self.key
    }
}

/// What a stream is asked to read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReadRequest {
    /// The partition to read.
    pub partition: Partition,
    /// Full refresh or incremental.
    pub sync_mode: SyncMode,
    /// For incremental reads, the cursor value to read from (inclusive unless the cursor
    /// declares [`crate::state::Boundary::Exclusive`]); lookback and start date already applied.
    /// `None` reads from the beginning.
    pub start: Option<Value>,
    /// A token from an earlier [`Page::resume`] to continue an interrupted read from.
    pub resume: Option<Value>,
    /// Where the read reports what is not a record: rate-limit waits, request counts, a
    /// rotated credential.
    pub context: StreamContext,
}

impl ReadRequest {
    /// A full-refresh read of `partition` from the beginning, reporting nowhere: what a
    /// connector's `check` or a test asks of a stream.
    pub fn full_refresh(stream: &str, partition: Partition) -> Self {
        ReadRequest {
            partition,
            sync_mode: SyncMode::FullRefresh,
            start: None,
            resume: None,
            context: StreamContext::detached(stream),
        }
    }

    /// Sets the incremental start (and the sync mode to incremental).
    pub fn starting_at(mut self, start: Option<Value>) -> Self {
        self.sync_mode = SyncMode::Incremental;
        self.start = start;
        self
    }

    /// Sets the resume token.
    pub fn resuming(mut self, token: Option<Value>) -> Self {
        self.resume = token;
        self
    }
}

/// What a stream did besides records: HTTP requests, retries and time spent waiting on rate
/// limits. Sent once per stream, at its end, as [`SourceEvent::Metrics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetrics {
    /// Requests sent (each retry counts).
    pub requests: u64,
    /// Requests that were retried.
    pub retries: u64,
    /// Time spent waiting for the rate limiter (proactive quota and reactive pauses).
    pub rate_limit_wait: Duration,
}

#[derive(Debug, Default)]
struct ContextShared {
    requests: AtomicU64,
    retries: AtomicU64,
    wait_nanos: AtomicU64,
    limited: AtomicBool,
}

/// A stream's line back to the sync while it reads: rate-limit statuses, metrics, config
/// updates and log lines. Cheap to clone; every clone reports for the same stream.
///
/// It also carries the sync's cancellation: every wait a read makes (a rate-limit pause, a
/// retry's backoff) goes through [`StreamContext::sleep`], which wakes when the sync is
/// cancelled, so a cancelled sync stops at once instead of after an hour's pause.
#[derive(Debug, Clone)]
pub struct StreamContext {
    stream: Arc<StreamDescriptor>,
    out: Option<EventSender>,
    shared: Arc<ContextShared>,
    cancel: CancellationToken,
    /// How the current partition's read ended early, if it did (one slot per partition read).
    ending: Arc<std::sync::Mutex<Option<PartitionEnd>>>,
}

/// Why a partition's pages stopped before its end without an error, as a stream reports it
/// through [`StreamContext::end_early`] just before its page stream ends. The read driver
/// decides what that means for the cursor and for the stream's end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionEnd {
    /// The stream cannot be read with these credentials (a scope the token lacks): the stream
    /// ends [`StreamStatus::Skipped`]; its old data and cursor stay as they were.
    StreamSkipped(String),
    /// The partition does not exist (any more), so it has no records: the stream may still
    /// complete; the partition's cursor does not advance.
    PartitionGone(String),
    /// A development limit (`max_records`, `max_pages`) stopped the read: not a complete read,
    /// so the stream ends [`StreamStatus::Skipped`] and the cursor does not advance past
    /// records never read.
    Limited(String),
}

impl PartitionEnd {
    /// The warning the user sees.
    pub fn message(&self) -> &str {
        match self {
            PartitionEnd::StreamSkipped(m)
            | PartitionEnd::PartitionGone(m)
            | PartitionEnd::Limited(m) => m,
        }
    }
}

impl StreamContext {
    /// A context that reports to `out` for `stream`.
    pub fn new(stream: Arc<StreamDescriptor>, out: EventSender) -> Self {
        StreamContext {
            stream,
            out: Some(out),
            shared: Arc::default(),
            cancel: CancellationToken::new(),
            ending: Arc::default(),
        }
    }

    /// A context that only counts (statuses, logs and config updates go nowhere).
    pub fn detached(stream: &str) -> Self {
        StreamContext {
            stream: Arc::new(StreamDescriptor::new(stream)),
            out: None,
            shared: Arc::default(),
            cancel: CancellationToken::new(),
            ending: Arc::default(),
        }
    }

    /// The same context, cancelled with `token`.
    pub fn cancelled_by(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// A context for one partition's read: the same stream, counters and cancellation, with
    /// its own [`PartitionEnd`] slot.
    pub fn for_partition(&self) -> Self {
        StreamContext {
            ending: Arc::default(),
            ..self.clone()
        }
    }

    /// The sync's cancellation token.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether the sync was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Sleeps for `duration`, or until the sync is cancelled ([`Error::Cancelled`]).
    pub async fn sleep(&self, duration: Duration) -> Result<()> {
        self.sleep_until(tokio::time::Instant::now() + duration)
            .await
    }

    /// Sleeps until `deadline`, or until the sync is cancelled ([`Error::Cancelled`]).
    pub async fn sleep_until(&self, deadline: tokio::time::Instant) -> Result<()> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
            _ = tokio::time::sleep_until(deadline) => Ok(()),
        }
    }

    /// Says that the partition being read stops early, and why; call it just before the page
    /// stream ends. The first call wins.
    pub fn end_early(&self, end: PartitionEnd) {
        if let Ok(mut slot) = self.ending.lock() {
            slot.get_or_insert(end);
        }
    }

    /// Takes what [`StreamContext::end_early`] recorded for this partition.
    pub fn take_end(&self) -> Option<PartitionEnd> {
        self.ending.lock().ok().and_then(|mut slot| slot.take())
    }

    /// The stream this context reports for.
    pub fn stream(&self) -> &Arc<StreamDescriptor> {
        &self.stream
    }

    async fn send(&self, event: SourceEvent) -> Result<()> {
        match &self.out {
            Some(out) => out.send(event).await,
            None => Ok(()),
        }
    }

    /// Reports that the stream waits on a rate limit until `reset_at_ms` (epoch ms, if known).
    /// Sends `RATE_LIMITED` once until [`StreamContext::rate_limit_cleared`].
    pub async fn rate_limited(&self, reset_at_ms: Option<i64>) -> Result<()> {
        if self.shared.limited.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        self.send(SourceEvent::Status(
            self.stream.clone(),
            StreamStatus::RateLimited { reset_at_ms },
        ))
        .await
    }

    /// Reports that the stream runs again after [`StreamContext::rate_limited`].
    pub async fn rate_limit_cleared(&self) -> Result<()> {
        if !self.shared.limited.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        self.send(SourceEvent::Status(
            self.stream.clone(),
            StreamStatus::Running,
        ))
        .await
    }

    /// Counts one request sent.
    pub fn count_request(&self) {
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one retry.
    pub fn count_retry(&self) {
        self.shared.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds time spent waiting on a rate limit.
    pub fn add_rate_limit_wait(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.shared.wait_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// What was counted so far.
    pub fn metrics(&self) -> StreamMetrics {
        StreamMetrics {
            requests: self.shared.requests.load(Ordering::Relaxed),
            retries: self.shared.retries.load(Ordering::Relaxed),
            rate_limit_wait: Duration::from_nanos(self.shared.wait_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Surfaces a config change the caller must persist (a rotated OAuth refresh token).
    pub async fn update_config(&self, update: ConfigUpdate) -> Result<()> {
        self.send(SourceEvent::ConfigUpdate(update)).await
    }

    /// Sends a log line.
    pub async fn log(&self, level: LogLevel, message: impl Into<String>) -> Result<()> {
        self.send(SourceEvent::Log(level, message.into())).await
    }
}

/// One page of records, as the stream read it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The records.
    pub records: Vec<Record>,
    /// A token from which the read can continue after this page (the next page's cursor or
    /// URL), if the stream supports resuming. `None` means an interrupted read starts over.
    pub resume: Option<Value>,
}

impl Page {
    /// A page of records without a resume token.
    pub fn new(records: Vec<Record>) -> Self {
        Page {
            records,
            resume: None,
        }
    }

    /// Sets the resume token.
    pub fn resume_from(mut self, token: Value) -> Self {
        self.resume = Some(token);
        self
    }
}

/// The pages a stream yields for one partition.
pub type PageStream<'a> = BoxStream<'a, Result<Page>>;

/// One stream of a source.
#[async_trait]
pub trait Stream: Send + Sync {
    /// The stream's name.
    fn name(&self) -> &str;

    /// The stream's namespace. Default none.
    fn namespace(&self) -> Option<&str> {
        None
    }

    /// The stream's JSON Schema (an object schema whose `properties` name every field).
    async fn json_schema(&self) -> Result<Value>;

    /// The primary key, as paths into the record. Default none.
    fn primary_key(&self) -> Vec<Vec<String>> {
        Vec::new()
    }

    /// The incremental cursor. Default none: the stream is full refresh only.
    fn cursor(&self) -> Option<&Cursor> {
        None
    }

    /// The partitions to read. Default one: the whole stream.
    async fn partitions(&self) -> Result<Vec<Partition>> {
        Ok(vec![Partition::whole()])
    }

    /// Reads one partition.
    fn read(&self, request: ReadRequest) -> PageStream<'_>;

    /// The stream as discover reports it; built from the methods above.
    async fn describe(&self) -> Result<CatalogStream> {
        let mut s = CatalogStream::new(self.name(), self.json_schema().await?);
        s.namespace = self.namespace().map(str::to_string);
        let pk = self.primary_key();
        if !pk.is_empty() {
            s.source_defined_primary_key = Some(pk);
        }
        if let Some(cursor) = self.cursor() {
            s.supported_sync_modes = vec![SyncMode::FullRefresh, SyncMode::Incremental];
            s.source_defined_cursor = Some(true);
            s.default_cursor_field = Some(cursor.field().to_vec());
            s.is_resumable = Some(true);
        }
        Ok(s)
    }
}

/// Options for reading: checkpoint cadence and concurrency.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Checkpoint after this many records of a stream. Default 10,000.
    pub checkpoint_records: u64,
    /// Checkpoint after this much time with records pending. Default 30 seconds.
    pub checkpoint_interval: Duration,
    /// How many partitions (across all streams) are read at once. Default 4.
    pub max_concurrency: usize,
    /// Cancelled when the read must stop (the sync was cancelled): every wait of the read
    /// wakes on it. Default: never cancelled.
    pub cancel: CancellationToken,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            checkpoint_records: 10_000,
            checkpoint_interval: Duration::from_secs(30),
            max_concurrency: 4,
            cancel: CancellationToken::new(),
        }
    }
}

/// A stream's progress, as the protocol's `STREAM_STATUS` names it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStatus {
    /// The stream started.
    Started,
    /// The first record was read.
    Running,
    /// Waiting on the API's rate limit; `reset_at_ms` is when the quota resets, if known.
    RateLimited {
        /// Epoch milliseconds of the quota reset, if known.
        reset_at_ms: Option<i64>,
    },
    /// Every partition was read to its end.
    Complete,
    /// The stream ended without an error but without being read completely: skipped on an
    /// error its connector recognizes (a scope the token lacks), or stopped at a development
    /// limit. Its old data and cursor are kept; on the Airbyte protocol it is `INCOMPLETE`.
    Skipped,
    /// The stream stopped on an error.
    Incomplete,
}

/// A log line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// An error.
    Error,
    /// Something the user should know (it ends up in the sync report's warnings).
    Warn,
    /// Progress.
    Info,
    /// Detail.
    Debug,
}

/// The state of one stream at a point where every record before it has been emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Sequence number, increasing through a sync (assigned by whoever forwards it).
    pub seq: u64,
    /// The stream.
    pub stream: Arc<StreamDescriptor>,
    /// The stream's state blob.
    pub state: Value,
    /// Records of this stream emitted since the previous checkpoint.
    pub records: u64,
}

/// What a source emits while reading, in order.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// Records.
    Records(RecordBatch),
    /// A checkpoint covering every record emitted before it.
    Checkpoint(Checkpoint),
    /// A stream's status changed.
    Status(Arc<StreamDescriptor>, StreamStatus),
    /// A log line for the user.
    Log(LogLevel, String),
    /// What a stream did besides records (sent once, at the stream's end, when it made requests).
    Metrics(Arc<StreamDescriptor>, StreamMetrics),
    /// A config change to persist (a rotated credential); the protocol runner prints it as a
    /// `CONTROL` `CONNECTOR_CONFIG` message, an embedded sync returns it in its report.
    ConfigUpdate(ConfigUpdate),
}

/// Where a source sends its events. Sending waits when the consumer is behind (backpressure):
/// for room in the channel and, in a sync, for room in its memory budget
/// ([`crate::buffer::ByteBudget`]).
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<SourceEvent>,
    budget: Option<Arc<crate::buffer::ByteBudget>>,
}

impl EventSender {
    /// Wraps a channel sender.
    pub fn new(tx: mpsc::Sender<SourceEvent>) -> Self {
        EventSender { tx, budget: None }
    }

    /// Record batches sent through this take their bytes from `budget` first.
    pub fn with_budget(mut self, budget: Arc<crate::buffer::ByteBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Sends one event; fails with [`Error::Cancelled`] when the consumer is gone.
    pub async fn send(&self, mut event: SourceEvent) -> Result<()> {
        if let (Some(budget), SourceEvent::Records(batch)) = (&self.budget, &mut event)
            && !batch.held.is_held()
        {
            batch.held = budget.take(batch.bytes()).await;
        }
        self.tx.send(event).await.map_err(|_| Error::Cancelled)
    }
}

/// A data source: a config schema, a connection check, a catalog and the reading of streams.
///
/// Config arrives as JSON (what the user wrote); parse it into your typed config with
/// [`crate::spec::parse_config`]. The trait is object safe: `Box<dyn Source>` works.
#[async_trait]
pub trait Source: Send + Sync {
    /// The connector's spec (its config's JSON Schema).
    fn spec(&self) -> ConnectorSpec;

    /// Proves the config works (credentials, reachability); a config error says what to fix.
    async fn check(&self, config: &Value) -> Result<()>;

    /// The streams this config gives access to.
    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>>;

    /// The catalog. Default: every stream's [`Stream::describe`].
    async fn discover(&self, config: &Value) -> Result<Catalog> {
        let mut catalog = Catalog::default();
        for stream in self.streams(config).await? {
            catalog.streams.push(stream.describe().await?);
        }
        Ok(catalog)
    }

    /// Reads the configured streams from `state`, sending events to `out`. Default: the
    /// standard driver over [`Source::streams`] ([`read_streams`]).
    async fn read(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<()> {
        let streams = self.streams(config).await?;
        read_streams(streams, catalog, state, options, out).await
    }
}

#[async_trait]
impl<S: Source + ?Sized> Source for Arc<S> {
    fn spec(&self) -> ConnectorSpec {
        (**self).spec()
    }
    async fn check(&self, config: &Value) -> Result<()> {
        (**self).check(config).await
    }
    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        (**self).streams(config).await
    }
    async fn discover(&self, config: &Value) -> Result<Catalog> {
        (**self).discover(config).await
    }
    async fn read(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<()> {
        (**self).read(config, catalog, state, options, out).await
    }
}

/// What a [`SkipOnError`] closure decided about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The whole stream cannot be read (a scope the token lacks): the stream ends
    /// [`StreamStatus::Skipped`], keeping its old data and cursor.
    Stream(String),
    /// This partition does not exist (any more; the report of a campaign never sent): it is
    /// read as empty and the stream may still complete.
    Partition(String),
}

type SkipFn = Arc<dyn Fn(&Error, &Partition) -> Option<Skip> + Send + Sync>;

/// A stream whose partition reads end, with a warning instead of an error, on the failures
/// `skip` recognizes: it returns what the error means ([`Skip`]), or `None` to fail as usual.
/// The warning goes through the stream's context, so the sync logs it and lists it in its
/// report. A skipped stream is never taken for a complete one: an `overwrite` keeps the old
/// table, an unordered cursor does not advance past pages never read.
pub struct SkipOnError<S> {
    inner: S,
    skip: SkipFn,
}

impl<S> SkipOnError<S> {
    /// Wraps `inner`.
    pub fn new(
        inner: S,
        skip: impl Fn(&Error, &Partition) -> Option<Skip> + Send + Sync + 'static,
    ) -> Self {
        SkipOnError {
            inner,
            skip: Arc::new(skip),
        }
    }
}

#[async_trait]
impl<S: Stream> Stream for SkipOnError<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn namespace(&self) -> Option<&str> {
        self.inner.namespace()
    }
    async fn json_schema(&self) -> Result<Value> {
        self.inner.json_schema().await
    }
    fn primary_key(&self) -> Vec<Vec<String>> {
        self.inner.primary_key()
    }
    fn cursor(&self) -> Option<&Cursor> {
        self.inner.cursor()
    }
    async fn partitions(&self) -> Result<Vec<Partition>> {
        self.inner.partitions().await
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let ctx = request.context.clone();
        let partition = request.partition.clone();
        let skip = self.skip.clone();
        let pages = self.inner.read(request);
        futures::stream::unfold(Some(pages), move |pages| {
            let (ctx, partition, skip) = (ctx.clone(), partition.clone(), skip.clone());
            async move {
                let mut pages = pages?;
                match pages.next().await? {
                    Ok(page) => Some((Ok(page), Some(pages))),
                    Err(e) => match skip(&e, &partition) {
                        Some(Skip::Stream(warning)) => {
                            ctx.end_early(PartitionEnd::StreamSkipped(warning));
                            None
                        }
                        Some(Skip::Partition(warning)) => {
                            ctx.end_early(PartitionEnd::PartitionGone(warning));
                            None
                        }
                        None => Some((Err(e), None)),
                    },
                }
            }
        })
        .boxed()
    }
}

/// Runs a stream (of pages, or of anything a connector produces in steps) on a task of its
/// own, one item ahead of its reader: fetching the next page overlaps processing this one (what
/// [`crate::http::HttpStream`] does for its pages). Chain two to overlap three stages. The task
/// logs where its caller logs, stops when the reader drops the stream, and a panic in it is an
/// error, never a silent end of the data.
pub fn prefetch<T: Send + 'static>(
    pages: BoxStream<'static, Result<T>>,
) -> BoxStream<'static, Result<T>> {
    use tracing::instrument::WithSubscriber;
    let (tx, rx) = mpsc::channel::<Result<T>>(1);
    let task = tokio::spawn(
        async move {
            let mut pages = pages;
            while let Some(page) = pages.next().await {
                let stop = page.is_err();
                if tx.send(page).await.is_err() || stop {
                    return;
                }
            }
        }
        .with_current_subscriber(),
    );
    struct Abort(Option<tokio::task::JoinHandle<()>>);
    impl Drop for Abort {
        fn drop(&mut self) {
            if let Some(t) = &self.0 {
                t.abort();
            }
        }
    }
    futures::stream::unfold((rx, Abort(Some(task))), |(mut rx, mut task)| async move {
        if let Some(item) = rx.recv().await {
            return Some((item, (rx, task)));
        }
        let handle = task.0.take()?;
        match handle.await {
            Err(e) if e.is_panic() => Some((
                Err(Error::system("a stream's page reader panicked")),
                (rx, Abort(None)),
            )),
            _ => None,
        }
    })
    .boxed()
}

/// The standard read driver: reads every configured stream's partitions concurrently (bounded
/// by [`ReadOptions::max_concurrency`]), tracks cursors, and emits records, checkpoints and
/// statuses in an order where each checkpoint covers only records emitted before it.
///
/// A configured stream the source does not have is a config error; a stream configured as
/// incremental that has no cursor is read in full. The first stream error stops the read.
pub async fn read_streams(
    streams: Vec<Arc<dyn Stream>>,
    catalog: &ConfiguredCatalog,
    state: &State,
    options: &ReadOptions,
    out: EventSender,
) -> Result<()> {
    let by_name: HashMap<(String, Option<String>), Arc<dyn Stream>> = streams
        .into_iter()
        .map(|s| ((s.name().to_string(), s.namespace().map(str::to_string)), s))
        .collect();
    let mut jobs = Vec::new();
    for configured in &catalog.streams {
        let d = configured.descriptor();
        let stream = by_name
            .get(&(d.name.clone(), d.namespace.clone()))
            .cloned()
            .ok_or_else(|| {
                Error::config(format!(
                    "the catalog names stream \"{d}\", which this source does not have"
                ))
            })?;
        let incremental =
            configured.sync_mode == SyncMode::Incremental && stream.cursor().is_some();
        let saved = match state.stream(&d) {
            Some(blob) => StreamState::from_value(&d, blob)?,
            None => StreamState::default(),
        };
        jobs.push((Arc::new(d), stream, incremental, saved));
    }
    let permits = Arc::new(Semaphore::new(options.max_concurrency.max(1)));
    let results =
        futures::future::join_all(jobs.into_iter().map(|(d, stream, incremental, saved)| {
            let out = out.clone();
            let permits = permits.clone();
            async move {
                let result =
                    read_stream(&d, stream, incremental, saved, options, &out, permits).await;
                let status = match &result {
                    Ok(StreamOutcome::Complete) => StreamStatus::Complete,
                    Ok(StreamOutcome::Skipped) => StreamStatus::Skipped,
                    Err(_) => StreamStatus::Incomplete,
                };
                // A closed channel means the consumer stopped; report the stream's own error first.
                let _ = out.send(SourceEvent::Status(d.clone(), status)).await;
                result.map(|_| ()).map_err(|e| e.in_stream(&d.to_string()))
            }
        }))
        .await;
    results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
}

/// Shared between the partitions of one stream: the stream's state and checkpoint cadence.
struct StreamProgress {
    state: StreamState,
    pending: u64,
    last_checkpoint: Instant,
    running: bool,
    missing_cursor: u64,
    /// A partition ended early in a way that leaves the stream incomplete.
    skipped: bool,
}

/// How a stream's read ended without an error.
enum StreamOutcome {
    Complete,
    Skipped,
}

async fn read_stream(
    d: &Arc<StreamDescriptor>,
    stream: Arc<dyn Stream>,
    incremental: bool,
    saved: StreamState,
    options: &ReadOptions,
    out: &EventSender,
    permits: Arc<Semaphore>,
) -> Result<StreamOutcome> {
    out.send(SourceEvent::Status(d.clone(), StreamStatus::Started))
        .await?;
    let partitions = stream.partitions().await?;
    // A full refresh starts over unless an earlier full refresh was interrupted with a token.
    let initial = if incremental {
        saved
    } else {
        let mut fresh = StreamState::default();
        for p in &partitions {
            if let Some(resume) = saved.partition(p.key()).and_then(|s| s.resume.clone()) {
                fresh.set_partition(
                    p.key(),
                    CursorState {
                        resume: Some(resume),
                        ..Default::default()
                    },
                );
            }
        }
        fresh
    };
    let context = StreamContext::new(d.clone(), out.clone()).cancelled_by(options.cancel.clone());
    let progress = Mutex::new(StreamProgress {
        state: initial,
        pending: 0,
        last_checkpoint: Instant::now(),
        running: false,
        missing_cursor: 0,
        skipped: false,
    });
    futures::stream::iter(partitions.into_iter().map(Ok::<_, Error>))
        .try_for_each_concurrent(None, |partition| {
            let stream = stream.clone();
            let permits = permits.clone();
            let progress = &progress;
            let context = context.clone();
            async move {
                let _permit = permits.acquire().await.map_err(|_| Error::Cancelled)?;
                let part = PartitionRead {
                    partition,
                    incremental,
                    context: context.for_partition(),
                };
                read_partition(d, &*stream, part, options, out, progress).await
            }
        })
        .await?;
    let metrics = context.metrics();
    if metrics != StreamMetrics::default() {
        out.send(SourceEvent::Metrics(d.clone(), metrics)).await?;
    }
    let mut p = progress.into_inner();
    if p.missing_cursor > 0 {
        out.send(SourceEvent::Log(
            LogLevel::Warn,
            format!(
                "stream \"{d}\": {} records had no usable cursor value (missing, null, blank, or not of the kind of the stream's other cursor values); they were delivered but did not move the cursor",
                p.missing_cursor
            ),
        ))
        .await?;
    }
    // The final checkpoint: every stream that was read ends with a state (a skipped one with
    // the state of what it did read, its unfinished partitions not advanced).
    let records = std::mem::take(&mut p.pending);
    out.send(SourceEvent::Checkpoint(Checkpoint {
        seq: 0,
        stream: d.clone(),
        state: p.state.to_value(),
        records,
    }))
    .await?;
    Ok(if p.skipped {
        StreamOutcome::Skipped
    } else {
        StreamOutcome::Complete
    })
}

struct PartitionRead {
    partition: Partition,
    incremental: bool,
    context: StreamContext,
}

async fn read_partition(
    d: &Arc<StreamDescriptor>,
    stream: &dyn Stream,
    part: PartitionRead,
    options: &ReadOptions,
    out: &EventSender,
    progress: &Mutex<StreamProgress>,
) -> Result<()> {
    let PartitionRead {
        partition,
        incremental,
        context,
    } = part;
    let saved = progress
        .lock()
        .await
        .state
        .partition(partition.key())
        .cloned()
        .unwrap_or_default();
    let primary_key = stream.primary_key();
    let mut tracker = match (incremental, stream.cursor()) {
        (true, Some(cursor)) => Some(CursorTracker::new(cursor.clone(), primary_key, &saved)),
        _ => None,
    };
    let request = ReadRequest {
        partition: partition.clone(),
        sync_mode: if tracker.is_some() {
            SyncMode::Incremental
        } else {
            SyncMode::FullRefresh
        },
        start: tracker.as_ref().and_then(|t| t.pass_start().cloned()),
        resume: saved.resume.as_ref().map(|r| r.token.clone()),
        context: context.clone(),
    };
    let mut pages = stream.read(request);
    let mut reported_missing = 0;
    loop {
        // A cancelled sync stops here too, whatever the stream is waiting on.
        let page = tokio::select! {
            biased;
            _ = context.cancellation().cancelled() => return Err(Error::Cancelled),
            page = pages.next() => page,
        };
        let Some(page) = page else { break };
        let page = page?;
        let mut records = page.records;
        if let Some(t) = tracker.as_mut() {
            let mut err = None;
            records.retain(|r| match t.observe(r) {
                Ok(Observed::Keep) => true,
                Ok(Observed::Duplicate) => false,
                Err(e) => {
                    err.get_or_insert(e);
                    false
                }
            });
            if let Some(e) = err {
                return Err(e);
            }
        }
        let last_resume = page.resume;
        let n = records.len() as u64;
        if n > 0 {
            out.send(SourceEvent::Records(RecordBatch::new(d.clone(), records)))
                .await?;
        }
        // Checkpoint when due, with this partition's current progress. Other partitions' entries
        // hold their last computed state: possibly older, but covering only emitted records.
        let mut p = progress.lock().await;
        if n > 0 && !p.running {
            p.running = true;
            out.send(SourceEvent::Status(d.clone(), StreamStatus::Running))
                .await?;
        }
        if let Some(t) = &tracker {
            p.missing_cursor += t.missing() - reported_missing;
            reported_missing = t.missing();
        }
        p.pending += n;
        // This partition's progress is recorded after every page, so a checkpoint taken for
        // any partition of the stream covers what every partition has emitted (otherwise a
        // crash re-reads the other partitions' pages since their own last checkpoint).
        let state = match &tracker {
            Some(t) => t.checkpoint(false, last_resume.as_ref()),
            None => CursorState {
                resume: last_resume.as_ref().map(|token| crate::state::ResumePoint {
                    token: token.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        };
        p.state.set_partition(partition.key(), state);
        let due = p.pending >= options.checkpoint_records
            || (p.pending > 0 && p.last_checkpoint.elapsed() >= options.checkpoint_interval);
        if due {
            let records = std::mem::take(&mut p.pending);
            p.last_checkpoint = Instant::now();
            let checkpoint = Checkpoint {
                seq: 0,
                stream: d.clone(),
                state: p.state.to_value(),
                records,
            };
            // Sent under the lock so checkpoints of one stream leave in the order they were taken.
            out.send(SourceEvent::Checkpoint(checkpoint)).await?;
        }
    }
    drop(pages);
    let ended_early = context.take_end();
    let mut p = progress.lock().await;
    let finished = match &ended_early {
        // Read to its end: the cursor may advance to the maximum delivered.
        None => match &tracker {
            Some(t) => t.checkpoint(true, None),
            None => CursorState::default(),
        },
        // Not read to its end: the cursor stays where it was, past nothing unread.
        Some(PartitionEnd::PartitionGone(_) | PartitionEnd::Limited(_)) => match &tracker {
            Some(t) => t.checkpoint(false, None),
            None => CursorState::default(),
        },
        // The stream is skipped: this partition keeps the progress of its last page (a resume
        // token covering only what was delivered), so a later run can continue it.
        Some(PartitionEnd::StreamSkipped(_)) => p
            .state
            .partition(partition.key())
            .cloned()
            .unwrap_or_default(),
    };
    if let Some(end) = &ended_early {
        if !matches!(end, PartitionEnd::PartitionGone(_)) {
            p.skipped = true;
        }
        out.send(SourceEvent::Log(LogLevel::Warn, end.message().to_string()))
            .await?;
    }
    p.state.set_partition(partition.key(), finished);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Keeps the traits object safe: this must compile.
    fn _object_safe(_: Box<dyn Source>, _: Box<dyn Stream>) {}
}
