//! What a read sends its consumer: records, checkpoints, statuses, logs and metrics.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::StreamMetrics;
use crate::catalog::StreamDescriptor;
use crate::error::{Error, Result};
use crate::record::RecordBatch;
use crate::spec::ConfigUpdate;

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
