//! The router: moves a source's events to its destination, one stream's life at a time.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::{Progress, SyncBuilder, SyncReport};
use crate::catalog::{ConfiguredCatalog, DestinationSyncMode, StreamDescriptor};
use crate::destination::{DestinationMessage, StreamEnd, StreamStart};
use crate::error::{Error, Result};
use crate::record::RecordBatch;
use crate::source::{LogLevel, SourceEvent, StreamStatus};

/// The router's ends of the pipeline and the memory budget they share.
pub(super) struct Channels {
    pub(super) src_rx: mpsc::Receiver<SourceEvent>,
    pub(super) dst_tx: mpsc::Sender<DestinationMessage>,
    pub(super) budget: Arc<crate::buffer::ByteBudget>,
}

/// Why the router stopped.
pub(super) enum Routed {
    /// The source ended its events.
    SourceDone,
    /// The destination stopped reading (its task has the error).
    DestinationGone,
    /// The sync must stop with this error (cancelled, a record it cannot write).
    Stopped(Error),
}

/// How long both channels must stay empty, with a source waiting for the memory budget,
/// before the destination is taken to keep the batches it read (see [`crate::buffer`]).
const HOARDING_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

impl SyncBuilder {
    /// Moves the source's events to the destination until the source is done, the destination
    /// stops, the sync is cancelled or a record must stop it. Acknowledgements are recorded
    /// meanwhile. Each stream's start reaches the destination before its first record, and its
    /// end as the source reported it; a stream the source never ended is not complete.
    pub(super) async fn route(
        &self,
        report: &mut SyncReport,
        catalog: &ConfiguredCatalog,
        mut starts: std::collections::HashMap<StreamDescriptor, StreamStart>,
        channels: Channels,
        ack_rx: &mut mpsc::UnboundedReceiver<crate::source::Checkpoint>,
    ) -> Result<Routed> {
        let Channels {
            mut src_rx,
            dst_tx,
            budget,
        } = channels;
        // Streams merged on their key: a record without one cannot be merged (it would pile up
        // as a duplicate), so it stops the sync instead of slipping in.
        let dedup_keys: std::collections::HashMap<StreamDescriptor, Vec<Vec<String>>> = catalog
            .streams
            .iter()
            .filter(|s| s.destination_sync_mode == DestinationSyncMode::AppendDedup)
            .map(|s| (s.descriptor(), s.effective_primary_key()))
            .filter(|(_, k)| !k.is_empty())
            .collect();
        // Slots of the destination's channel reserved ahead, `room` at a time.
        let room = (self.channel_capacity / 2).max(1);
        let mut reserved: Option<mpsc::PermitIterator<'_, DestinationMessage>> = None;
        let mut seq = 0u64;
        let mut acks_open = true;
        let mut empty_since: Option<tokio::time::Instant> = None;
        loop {
            // A source waiting for the memory budget while both channels are empty waits for
            // batches the destination keeps: it may go on (see `crate::buffer`). Looked at
            // again every 20 ms while a source waits, as the destination drains its channel
            // without waking this task.
            let reserved_len = reserved.as_ref().map_or(0, ExactSizeIterator::len);
            let empty =
                src_rx.is_empty() && dst_tx.capacity() + reserved_len >= dst_tx.max_capacity();
            // Empty for a moment means a destination busy with its batch; empty for a while
            // with a source waiting means one that keeps its batches.
            let since = if empty {
                *empty_since.get_or_insert_with(tokio::time::Instant::now)
            } else {
                empty_since = None;
                tokio::time::Instant::now()
            };
            budget.set_drained(empty && since.elapsed() >= HOARDING_AFTER);
            let event = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(Routed::Stopped(Error::Cancelled)),
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)), if budget.has_waiters() => continue,
                ack = ack_rx.recv(), if acks_open => {
                    match ack {
                        Some(cp) => self.acknowledged(report, cp).await?,
                        None => acks_open = false,
                    }
                    continue;
                }
                event = src_rx.recv() => event,
            };
            let Some(event) = event else {
                return Ok(Routed::SourceDone);
            };
            // The stream this event is about, and whether it still has to be started.
            let about = match &event {
                SourceEvent::Records(b) => Some(&b.stream),
                SourceEvent::Checkpoint(cp) => Some(&cp.stream),
                SourceEvent::Status(d, _) => Some(d),
                _ => None,
            };
            let start = about.and_then(|d| {
                let start = starts.remove(&**d)?;
                Some(DestinationMessage::StreamStart(d.clone(), start))
            });
            let forward = match event {
                SourceEvent::Records(batch) => {
                    if let Some(key) = dedup_keys.get(&batch.stream)
                        && let Some(e) =
                            keyless(&batch, key, report.stream_mut(&batch.stream).records_read)
                    {
                        return Ok(Routed::Stopped(e));
                    }
                    let s = report.stream_mut(&batch.stream);
                    s.records_read += batch.len() as u64;
                    s.bytes_read += batch.bytes();
                    s.pages += 1;
                    self.notify(|| Progress::Records {
                        stream: batch.stream.clone(),
                        records: batch.len() as u64,
                        bytes: batch.bytes(),
                    });
                    Some(DestinationMessage::Records(batch))
                }
                SourceEvent::Checkpoint(mut cp) => {
                    seq += 1;
                    cp.seq = seq;
                    Some(DestinationMessage::Checkpoint(cp))
                }
                SourceEvent::Status(d, status) => {
                    let s = report.stream_mut(&d);
                    match &status {
                        StreamStatus::Started => s.started = Some(Instant::now()),
                        StreamStatus::Complete
                        | StreamStatus::Incomplete
                        | StreamStatus::Skipped => {
                            s.duration = s.started.map(|t| t.elapsed()).unwrap_or_default();
                        }
                        StreamStatus::RateLimited { .. } | StreamStatus::Running => {}
                    }
                    s.status = Some(status.clone());
                    self.notify(|| Progress::Status {
                        stream: d.clone(),
                        status: status.clone(),
                    });
                    let end = match status {
                        StreamStatus::Complete => Some(StreamEnd::Complete),
                        StreamStatus::Skipped => Some(StreamEnd::Skipped),
                        StreamStatus::Incomplete => Some(StreamEnd::Failed),
                        _ => None,
                    };
                    end.map(|end| DestinationMessage::StreamEnd(d, end))
                }
                SourceEvent::Metrics(d, metrics) => {
                    let s = report.stream_mut(&d);
                    s.requests += metrics.requests;
                    s.retries += metrics.retries;
                    s.rate_limit_wait += metrics.rate_limit_wait;
                    self.notify(|| Progress::Metrics {
                        stream: d.clone(),
                        metrics: metrics.clone(),
                    });
                    None
                }
                SourceEvent::ConfigUpdate(update) => {
                    let config = report
                        .updated_config
                        .get_or_insert_with(|| self.source_config.clone());
                    update.apply(config)?;
                    None
                }
                SourceEvent::Log(level, message) => {
                    match level {
                        LogLevel::Error => tracing::error!("{message}"),
                        LogLevel::Warn => tracing::warn!("{message}"),
                        LogLevel::Info => tracing::info!("{message}"),
                        LogLevel::Debug => tracing::debug!("{message}"),
                    }
                    if level == LogLevel::Warn {
                        report.warnings.push(message);
                    }
                    None
                }
            };
            for msg in [start, forward].into_iter().flatten() {
                loop {
                    if let Some(permit) = reserved.as_mut().and_then(Iterator::next) {
                        permit.send(msg);
                        break;
                    }
                    match dst_tx.try_reserve() {
                        Ok(permit) => {
                            permit.send(msg);
                            break;
                        }
                        // The destination stopped; its task has the error.
                        Err(mpsc::error::TrySendError::Closed(())) => {
                            return Ok(Routed::DestinationGone);
                        }
                        Err(mpsc::error::TrySendError::Full(())) => {}
                    }
                    // Full: wait until half the channel is free, so a destination slower than
                    // the source wakes this task once per several batches rather than for
                    // each; keep draining acks meanwhile, and stop waiting when cancelled (a
                    // stuck destination must not hold up Ctrl-C).
                    let mut reserve = std::pin::pin!(dst_tx.reserve_many(room));
                    let got = loop {
                        tokio::select! {
                            biased;
                            _ = self.cancel.cancelled() => break None,
                            got = &mut reserve => break Some(got),
                            Some(cp) = ack_rx.recv(), if acks_open => self.acknowledged(report, cp).await?,
                        }
                    };
                    match got {
                        Some(Ok(permits)) => reserved = Some(permits),
                        Some(Err(_)) => return Ok(Routed::DestinationGone),
                        None => return Ok(Routed::Stopped(Error::Cancelled)),
                    }
                }
            }
        }
    }
}

/// The error for the first record of `batch` without its primary key (missing or null), if
/// any; `before` records of the stream came earlier.
fn keyless(batch: &RecordBatch, key: &[Vec<String>], before: u64) -> Option<Error> {
    let (i, outcome) = batch
        .records
        .iter()
        .map(|r| r.has_primary_key(key))
        .enumerate()
        .find(|(_, k)| !matches!(k, Ok(true)))?;
    let why = match outcome {
        Err(e) => format!("its key cannot be read ({e})"),
        _ => "its primary key is missing or null".to_string(),
    };
    let key: Vec<String> = key.iter().map(|p| p.join(".")).collect();
    Some(Error::system(format!(
        "stream \"{}\": record {} has no usable primary key [{}]: {why}; append_dedup cannot merge it, so the sync stops before writing it (the source sent a malformed record)",
        batch.stream,
        before + i as u64 + 1,
        key.join(", ")
    )))
}
