//! What a sync did.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::catalog::StreamDescriptor;
use crate::source::StreamStatus;
use crate::state::State;

/// The result of one sync.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Per stream, in name order.
    pub streams: BTreeMap<StreamDescriptor, StreamReport>,
    /// Wall time of the whole sync.
    pub duration: Duration,
    /// The state acknowledged by the destination: what the next run starts from.
    pub state: State,
    /// How many checkpoints the destination acknowledged.
    pub checkpoints: u64,
    /// Things the user should know (records without a cursor, records that did not fit).
    pub warnings: Vec<String>,
    /// The source's config with every change the source surfaced applied (a rotated OAuth
    /// refresh token), when there was one: persist it, or the next run may fail to
    /// authenticate. Contains secrets.
    pub updated_config: Option<Value>,
}

impl SyncReport {
    /// The entry of one stream, created on first use.
    pub fn stream_mut(&mut self, d: &StreamDescriptor) -> &mut StreamReport {
        self.streams.entry(d.clone()).or_default()
    }

    /// The entry of the stream with this name, if any.
    pub fn stream(&self, name: &str) -> Option<&StreamReport> {
        self.streams
            .iter()
            .find(|(d, _)| d.name == name)
            .map(|(_, s)| s)
    }

    /// Records read across all streams.
    pub fn records_read(&self) -> u64 {
        self.streams.values().map(|s| s.records_read).sum()
    }

    /// Records written across all streams.
    pub fn records_written(&self) -> u64 {
        self.streams.values().map(|s| s.records_written).sum()
    }
}

/// What a sync did for one stream.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    /// Records the source delivered (after boundary dedup).
    pub records_read: u64,
    /// Bytes of record JSON the source delivered.
    pub bytes_read: u64,
    /// Batches (pages) the source delivered.
    pub pages: u64,
    /// Records the destination wrote.
    pub records_written: u64,
    /// Bytes of record JSON the destination wrote.
    pub bytes_written: u64,
    /// Records covered by acknowledged checkpoints.
    pub records_committed: u64,
    /// Records the destination kept only as raw JSON.
    pub rejected: u64,
    /// The last status the source reported.
    pub status: Option<StreamStatus>,
    /// From the stream's start to its completion.
    pub duration: Duration,
    /// The last acknowledged state blob.
    pub state: Option<Value>,
    /// HTTP requests the stream sent (retries included).
    pub requests: u64,
    /// Requests that were retried.
    pub retries: u64,
    /// Time the stream spent waiting on rate limits.
    pub rate_limit_wait: Duration,
    pub(crate) started: Option<Instant>,
}
