//! A slow or stuck destination slows the source; memory stays bounded; cancels stop it.

use super::*;

/// A destination that takes one message and then stops reading until the engine closes its
/// input (stuck on something outside the sync, a lock say), then ends cleanly: the source must
/// stall, and a cancellation must still end the sync.
struct StuckDestination;

#[async_trait]
impl Destination for StuckDestination {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object"}))
    }
    async fn check(&self, _: &Value) -> Result<()> {
        Ok(())
    }
    async fn write(
        &self,
        _: &Value,
        _: &ConfiguredCatalog,
        mut input: DestinationInput,
        _: Acks,
    ) -> Result<WriteSummary> {
        input.recv().await;
        while !input.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(WriteSummary::default())
    }
}

/// Counts the pages a stream has produced.
struct CountingStream {
    pages: Arc<AtomicU64>,
}

#[async_trait]
impl intake::Stream for CountingStream {
    fn name(&self) -> &str {
        "endless"
    }
    async fn json_schema(&self) -> Result<Value> {
        Ok(json!({"type": "object", "properties": {"i": {"type": "integer"}}}))
    }
    fn read(&self, _: intake::ReadRequest) -> intake::PageStream<'_> {
        use futures::StreamExt;
        let pages = self.pages.clone();
        futures::stream::repeat_with(move || {
            let i = pages.fetch_add(1, Ordering::SeqCst);
            Ok(intake::Page::new(vec![
                intake::Record::from_value(&json!({"i": i})).unwrap(),
            ]))
        })
        .boxed()
    }
}

struct EndlessSource(Arc<AtomicU64>);

#[async_trait]
impl intake::Source for EndlessSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object"}))
    }
    async fn check(&self, _: &Value) -> Result<()> {
        Ok(())
    }
    async fn streams(&self, _: &Value) -> Result<Vec<Arc<dyn intake::Stream>>> {
        Ok(vec![Arc::new(CountingStream {
            pages: self.0.clone(),
        })])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_destination_stalls_the_source_memory_stays_bounded() {
    let pages = Arc::new(AtomicU64::new(0));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(
        intake::sync(EndlessSource(pages.clone()), json!({}))
            .to(StuckDestination)
            .channel_capacity(4)
            .cancel_on(cancel.clone())
            .run(),
    );
    // Give the source every chance to run ahead.
    for _ in 0..200 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let produced = pages.load(Ordering::SeqCst);
    // 4 in the source channel, 4 in the destination channel, one in flight at each hop.
    assert!(
        produced <= 4 + 4 + 4,
        "the source ran ahead: {produced} pages"
    );
    assert!(produced >= 4, "the source never started: {produced}");
    cancel.cancel();
    run.abort();
}

/// Reads slowly (a pause every few messages) and records what arrives, acknowledging every
/// checkpoint: the engine, waiting for room in the channel in bursts, must still deliver every
/// batch and checkpoint once, in the order the source produced them.
struct SlowRecorder {
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait]
impl Destination for SlowRecorder {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object"}))
    }
    async fn check(&self, _: &Value) -> Result<()> {
        Ok(())
    }
    async fn write(
        &self,
        _: &Value,
        _: &ConfiguredCatalog,
        mut input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let mut summary = WriteSummary::default();
        let mut n = 0u64;
        while let Some(message) = input.recv().await {
            n += 1;
            if n.is_multiple_of(3) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let entry = match message {
                DestinationMessage::Records(batch) => {
                    summary.stream_mut(&batch.stream).records += batch.len() as u64;
                    let ids: Vec<String> = batch
                        .records
                        .iter()
                        .map(|r| r.to_value().unwrap()["id"].to_string())
                        .collect();
                    format!("records {}", ids.join(","))
                }
                DestinationMessage::Checkpoint(cp) => {
                    let entry = format!("checkpoint {}", cp.seq);
                    acks.ack(cp)?;
                    entry
                }
                DestinationMessage::StreamStart(d, start) => {
                    format!("start {d} resume={}", start.resume)
                }
                DestinationMessage::StreamEnd(d, end) => format!("end {d} {end:?}"),
            };
            self.seen.lock().unwrap().push(entry);
        }
        Ok(summary)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_destination_gets_every_batch_and_checkpoint_in_order_at_any_channel_size() {
    let mut expected: Option<Vec<String>> = None;
    for capacity in [1, 2, 5, 16] {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let source = MemorySource {
            streams: vec![Arc::new(
                MemoryStream::new("contacts", records(300, 7))
                    .cursor(Cursor::new("updatedAt"))
                    .page_size(4),
            )],
        };
        let report = intake::sync(source, json!({}))
            .to(SlowRecorder { seen: seen.clone() })
            .options(options(10))
            .channel_capacity(capacity)
            .run()
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(report.records_written(), 300, "capacity {capacity}");
        // Pages of 4 from the source's order, checkpoints numbered 1, 2, ... between them.
        let ids: Vec<String> = seen
            .iter()
            .filter_map(|e| e.strip_prefix("records "))
            .flat_map(|ids| ids.split(','))
            .map(str::to_string)
            .collect();
        let source_order: Vec<String> = records(300, 7)
            .iter()
            .map(|r| r["id"].to_string())
            .collect();
        assert_eq!(ids, source_order, "capacity {capacity}");
        let checkpoints: Vec<u64> = seen
            .iter()
            .filter_map(|e| e.strip_prefix("checkpoint ")?.parse().ok())
            .collect();
        // One after every 12 records (10, rounded up to whole pages of 4) and one at the end.
        assert_eq!(
            checkpoints.len(),
            26,
            "capacity {capacity}: {checkpoints:?}"
        );
        assert!(
            checkpoints.iter().zip(1..).all(|(&c, i)| c == i),
            "capacity {capacity}: {checkpoints:?}"
        );
        assert_eq!(
            seen.first().map(String::as_str),
            Some("start contacts resume=false")
        );
        assert_eq!(
            seen.last().map(String::as_str),
            Some("end contacts Complete")
        );
        // Every channel size delivers exactly the same sequence.
        match &expected {
            None => expected = Some(seen),
            Some(first) => assert_eq!(&seen, first, "capacity {capacity}"),
        }
        assert!(
            report
                .state
                .stream(&StreamDescriptor::new("contacts"))
                .is_some(),
            "the acknowledged state reached the report"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_while_a_stuck_destination_has_no_room_stops_the_sync() {
    let pages = Arc::new(AtomicU64::new(0));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(
        intake::sync(EndlessSource(pages.clone()), json!({}))
            .to(StuckDestination)
            .channel_capacity(4)
            .cancel_on(cancel.clone())
            .run(),
    );
    // Wait until both channels are full and the engine is waiting for room.
    while pages.load(Ordering::SeqCst) < 8 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the sync ignored the cancellation while waiting for room")
        .unwrap();
    assert!(
        matches!(outcome, Err(Error::Cancelled)),
        "{:?}",
        outcome.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_sync_stops_it() {
    let pages = Arc::new(AtomicU64::new(0));
    let run = intake::sync(EndlessSource(pages.clone()), json!({}))
        .to(SlowRecorder {
            seen: Arc::default(),
        })
        .run();
    // The sync never ends by itself: the timeout drops its future.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), run)
            .await
            .is_err()
    );
    assert!(pages.load(Ordering::SeqCst) > 0, "the sync never started");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_drop = pages.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pages.load(Ordering::SeqCst),
        after_drop,
        "the source kept reading after the sync was dropped"
    );
}
