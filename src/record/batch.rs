//! Records of one stream, read together.

use std::sync::Arc;

use super::{Record, now_millis};
use crate::catalog::StreamDescriptor;
/// Records of one stream, read together (usually one API page).
#[derive(Debug, Clone)]
pub struct RecordBatch {
    /// The stream the records belong to.
    pub stream: Arc<StreamDescriptor>,
    /// The records, in source order.
    pub records: Vec<Record>,
    /// When the batch was read, in milliseconds since the Unix epoch.
    pub emitted_at: i64,
    /// The batch's share of the sync's memory budget, returned when it is dropped (see
    /// [`crate::buffer`]). Default: none.
    pub held: crate::buffer::BufferPermit,
    /// The key of the partition the records were read from (see [`crate::Partition::key`]);
    /// `None` when the source does not say (a whole-stream read, a protocol input).
    pub partition: Option<Arc<serde_json::Value>>,
}

impl RecordBatch {
    /// A batch stamped with the current time.
    pub fn new(stream: Arc<StreamDescriptor>, records: Vec<Record>) -> Self {
        RecordBatch {
            stream,
            records,
            emitted_at: now_millis(),
            held: Default::default(),
            partition: None,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Total JSON bytes of the records.
    pub fn bytes(&self) -> u64 {
        self.records.iter().map(|r| r.len() as u64).sum()
    }
}
