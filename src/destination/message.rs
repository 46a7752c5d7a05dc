//! What a destination receives: records, checkpoints and each stream's start and end.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::catalog::StreamDescriptor;
use crate::record::RecordBatch;
use crate::source::Checkpoint;
/// What a destination receives, in order.
///
/// A stream's life is explicit: [`DestinationMessage::StreamStart`] comes before its first
/// record (it says whether the read resumes an interrupted one), and
/// [`DestinationMessage::StreamEnd`] says how it ended. Only [`StreamEnd::Complete`] may replace
/// an `overwrite` stream's old data; any other end, and an input that stops before the stream
/// ended, keeps the old data and what was staged for a resume.
#[derive(Debug, Clone)]
pub enum DestinationMessage {
    /// A stream starts. Comes once, before any of its records or checkpoints.
    StreamStart(Arc<StreamDescriptor>, StreamStart),
    /// Records to write.
    Records(RecordBatch),
    /// Every record of every stream before this message was sent; acknowledge once they are
    /// durable.
    Checkpoint(Checkpoint),
    /// A stream ended, and how.
    StreamEnd(Arc<StreamDescriptor>, StreamEnd),
}

/// How a stream's read starts, as the engine decided from the state it handed the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStart {
    /// The source continues an interrupted read from a resume token: what an `overwrite`
    /// destination staged for this stream before must be kept. `false`: the read starts over,
    /// and anything staged earlier must go (or it would be swapped in twice).
    pub resume: bool,
}

impl StreamStart {
    /// A read that starts over.
    pub const FRESH: StreamStart = StreamStart { resume: false };
    /// A read that continues an interrupted one.
    pub const RESUMING: StreamStart = StreamStart { resume: true };
}

/// How a stream's read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEnd {
    /// Every partition was read to its end: an `overwrite` may now replace the old data.
    Complete,
    /// The source skipped the stream, or stopped it at a development limit, without an
    /// error: the old data stays.
    Skipped,
    /// The stream failed: the old data stays.
    Failed,
    /// The sync was cancelled: the old data stays.
    Cancelled,
}

impl StreamEnd {
    /// Whether the stream was read completely (the only end that may swap an overwrite in).
    pub fn is_complete(self) -> bool {
        self == StreamEnd::Complete
    }
}

/// The input a destination reads: a bounded channel, so a slow destination slows the source.
pub type DestinationInput = mpsc::Receiver<DestinationMessage>;
