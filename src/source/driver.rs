//! The standard read driver: partitions, concurrency, cursor tracking and checkpoints.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use tokio::sync::{Mutex, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{
    Checkpoint, EventSender, LogLevel, Partition, PartitionEnd, ReadRequest, SourceEvent, Stream,
    StreamContext, StreamMetrics, StreamStatus,
};
use crate::catalog::{ConfiguredCatalog, StreamDescriptor, SyncMode};
use crate::error::{Error, Result};
use crate::record::RecordBatch;
use crate::state::{CursorState, CursorTracker, Observed, ResumePoint, State, StreamState};

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
    // the state of what it did read, its unfinished partitions not advanced). A complete one
    // forgets which partitions were done: the next full refresh reads them all again.
    if !p.skipped {
        p.state.clear_done();
    }
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
    let mut saved = saved;
    if saved.resume.as_ref().is_some_and(|r| r.done) {
        if !incremental {
            // An interrupted full refresh already read this partition to its end.
            return Ok(());
        }
        saved.resume = None; // a full refresh's mark means nothing to an incremental pass
    }
    let primary_key = stream.primary_key();
    let mut tracker = match (incremental, stream.cursor()) {
        (true, Some(cursor)) => Some(CursorTracker::new(cursor, primary_key.into_paths(), &saved)),
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
    // Batches say which partition they came from (the acceptance kit checks each against its
    // own cursor); the whole stream's key (null) is not repeated on every batch.
    let key = (!partition.key().is_null()).then(|| Arc::new(partition.key().clone()));
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
        let last_page = page.last;
        let n = records.len() as u64;
        if n > 0 {
            let mut batch = RecordBatch::new(d.clone(), records);
            batch.partition = key.clone();
            out.send(SourceEvent::Records(batch)).await?;
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
            // The partition's last page: it is read to its end, as at the end of the loop.
            Some(t) if last_page => t.checkpoint(true, None),
            Some(t) => t.checkpoint(false, last_resume.as_ref()),
            None if last_page => CursorState {
                resume: Some(ResumePoint::done()),
                ..Default::default()
            },
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
            // Marked done until the whole stream is (see `read_stream`'s final checkpoint).
            None => CursorState {
                resume: Some(ResumePoint::done()),
                ..Default::default()
            },
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
