//! What a stream's read can reach while it runs: metrics, waits, cancellation, early ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{EventSender, LogLevel, SourceEvent, StreamStatus};
use crate::catalog::StreamDescriptor;
use crate::error::{Error, Result};
use crate::spec::ConfigUpdate;

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
