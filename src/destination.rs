//! Destinations and acknowledgements.
//!
//! A [`Destination`] receives the configured catalog and an ordered stream of
//! [`DestinationMessage`]s: record batches, checkpoints and stream completions. It writes the
//! records in batches and, for each checkpoint, sends it back through [`Acks`] only once every
//! record before it is durable (and, where it can, stores the state with the data). The sync
//! engine persists state only from these acknowledgements, so state never runs ahead of data.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::catalog::{ConfiguredCatalog, StreamDescriptor};
use crate::error::{Error, Result};
use crate::record::RecordBatch;
use crate::source::Checkpoint;
use crate::spec::ConnectorSpec;
use crate::state::State;

pub use crate::folder_lock::{FolderLock, LOCK_FILE};

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

/// Where a destination acknowledges checkpoints, in the order it received them.
#[derive(Debug, Clone)]
pub struct Acks {
    tx: mpsc::UnboundedSender<Checkpoint>,
}

impl Acks {
    /// A pair: the sender the destination uses, and the receiver the engine reads.
    pub fn channel() -> (Acks, mpsc::UnboundedReceiver<Checkpoint>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Acks { tx }, rx)
    }

    /// Acknowledges a checkpoint: every record before it is durable.
    pub fn ack(&self, checkpoint: Checkpoint) -> Result<()> {
        self.tx.send(checkpoint).map_err(|_| Error::Cancelled)
    }
}

/// What a destination wrote, per stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteSummary {
    /// Per stream.
    pub streams: BTreeMap<StreamDescriptor, StreamWriteSummary>,
}

/// What a destination wrote for one stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamWriteSummary {
    /// Records written.
    pub records: u64,
    /// Bytes of record JSON written.
    pub bytes: u64,
    /// Records kept only as raw JSON because they did not fit the table, with the reasons.
    pub rejected: u64,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

impl WriteSummary {
    /// The entry of one stream, created on first use.
    pub fn stream_mut(&mut self, d: &StreamDescriptor) -> &mut StreamWriteSummary {
        self.streams.entry(d.clone()).or_default()
    }
}

/// A data destination.
///
/// Config arrives as JSON; parse it with [`crate::spec::parse_config`]. A destination built
/// in code with its settings (`JsonlDestination::new(dir)`) may ignore the JSON it is given.
/// The trait is object safe: `Box<dyn Destination>` works.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The connector's spec.
    fn spec(&self) -> ConnectorSpec;

    /// Proves the config works (the path is writable, the server answers).
    async fn check(&self, config: &Value) -> Result<()>;

    /// The state stored with the data by earlier syncs, if this destination keeps one.
    /// Default: none.
    async fn stored_state(&self, _config: &Value) -> Result<Option<State>> {
        Ok(None)
    }

    /// Writes the messages until the input ends, acknowledging each checkpoint once the
    /// records before it are durable. Records after the last checkpoint may be discarded when
    /// the input ends. An `overwrite` stream replaces its old data only at a
    /// [`StreamEnd::Complete`]; at [`DestinationMessage::StreamStart`] without `resume` it
    /// discards what an earlier run staged.
    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary>;
}

#[async_trait]
impl<D: Destination + ?Sized> Destination for Arc<D> {
    fn spec(&self) -> ConnectorSpec {
        (**self).spec()
    }
    async fn check(&self, config: &Value) -> Result<()> {
        (**self).check(config).await
    }
    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        (**self).stored_state(config).await
    }
    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        (**self).write(config, catalog, input, acks).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Keeps the trait object safe: this must compile.
    fn _object_safe(_: Box<dyn Destination>) {}
}
