//! Acknowledging checkpoints, and what a destination reports it wrote.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use crate::catalog::StreamDescriptor;
use crate::error::{Error, Result};
use crate::source::Checkpoint;
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
