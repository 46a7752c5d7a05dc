//! Scenarios 4 and 10: development limits end a stream as limited; memory is bounded in
//! bytes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_4_development_limits_end_a_stream_skipped_without_finalizing_its_cursor() {
    use wiremock::matchers::{path, query_param, query_param_is_missing};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    // Two pages, unordered: the newest record is on the second page.
    let first = json!({"results": [
        {"id": 1, "updatedAt": "2024-01-01T00:00:00Z"},
        {"id": 2, "updatedAt": "2024-01-02T00:00:00Z"}], "next": "p2"});
    let second = json!({"results": [{"id": 3, "updatedAt": "2024-06-01T00:00:00Z"}]});
    Mock::given(path("/deals"))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .mount(&server)
        .await;
    Mock::given(path("/deals"))
        .and(query_param("after", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(second))
        .mount(&server)
        .await;
    let api = intake::http::HttpApi::parse(&server.uri()).unwrap();
    let deals = || {
        api.stream("deals")
            .get("/deals")
            .records_at("/results")
            .paginate(intake::http::Paginator::cursor_from_body("/next").into_query("after"))
            .primary_key("id")
            .cursor("updatedAt")
            .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}}))
    };
    for limited in [deals().max_records(1), deals().max_pages(1)] {
        let dir = tempfile::tempdir().unwrap();
        let report = intake::sync(Streams(vec![Arc::new(limited)]), json!({}))
            .to(JsonlDestination::new(dir.path()))
            .run()
            .await
            .unwrap();
        let s = report.stream("deals").unwrap();
        assert_eq!(s.status, Some(StreamStatus::Skipped), "{report:?}");
        assert!(
            report.warnings.iter().any(|w| w.contains("max_")),
            "{:?}",
            report.warnings
        );
        let blob = report.state.stream(&d("deals")).unwrap();
        let st = StreamState::from_value(&d("deals"), blob).unwrap();
        assert_eq!(st.root.cursor, None, "advanced past unread records: {blob}");
    }
    // The same stream without a limit completes and advances to the newest record.
    let dir = tempfile::tempdir().unwrap();
    let report = intake::sync(Streams(vec![Arc::new(deals())]), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
    let blob = report.state.stream(&d("deals")).unwrap();
    assert_eq!(blob["cursor"], "2024-06-01T00:00:00Z");
    assert_eq!(
        report.stream("deals").unwrap().status,
        Some(StreamStatus::Complete)
    );
}

// --- scenario 10: memory is bounded in bytes ---------------------------------------------------

/// A source that sends `pages` batches of about 1 MiB and notes, after each send, how many
/// bytes have been sent but not yet dropped by the destination.
struct BigPages {
    pages: usize,
    dropped: Arc<AtomicI64>,
    peak: Arc<AtomicI64>,
}

#[async_trait]
impl Source for BigPages {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _config: &Value) -> Result<()> {
        Ok(())
    }
    async fn streams(&self, _config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(vec![Arc::new(MemoryStream::new("big", Vec::new()))])
    }
    async fn read(
        &self,
        _config: &Value,
        _catalog: &ConfiguredCatalog,
        _state: &State,
        _options: &ReadOptions,
        out: intake::EventSender,
    ) -> Result<()> {
        let d = Arc::new(d("big"));
        let record = intake::Record::from_value(&json!({"id": 1, "pad": "x".repeat(1 << 16)}))?;
        let mut sent = 0i64;
        for _ in 0..self.pages {
            let batch = intake::RecordBatch::new(d.clone(), vec![record.clone(); 16]);
            sent += batch.bytes() as i64;
            out.send(intake::SourceEvent::Records(batch)).await?;
            let outstanding = sent - self.dropped.load(Ordering::SeqCst);
            self.peak.fetch_max(outstanding, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// A destination that reads until its input ends (acknowledging checkpoints), then says so in
/// `finished`. Optionally it pauses on each batch (slower than the source) and counts the bytes
/// it dropped, or keeps every batch (`hoard`), as a destination that writes at the end would.
pub(super) struct Sink {
    finished: Arc<AtomicBool>,
    dropped: Arc<AtomicI64>,
    pause: Duration,
    hoard: bool,
}

impl Sink {
    pub(super) fn draining(finished: Arc<AtomicBool>) -> Sink {
        Sink {
            finished,
            dropped: Arc::default(),
            pause: Duration::ZERO,
            hoard: false,
        }
    }
}

#[async_trait]
impl Destination for Sink {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _config: &Value) -> Result<()> {
        Ok(())
    }
    async fn write(
        &self,
        _config: &Value,
        _catalog: &ConfiguredCatalog,
        mut input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let mut kept = Vec::new();
        let mut summary = WriteSummary::default();
        while let Some(m) = input.recv().await {
            match m {
                DestinationMessage::Checkpoint(cp) => acks.ack(cp)?,
                DestinationMessage::Records(batch) => {
                    if !self.pause.is_zero() {
                        tokio::time::sleep(self.pause).await;
                    }
                    summary.stream_mut(&batch.stream).records += batch.len() as u64;
                    let bytes = batch.bytes() as i64;
                    if self.hoard {
                        kept.push(batch);
                    } else {
                        drop(batch);
                    }
                    self.dropped.fetch_add(bytes, Ordering::SeqCst);
                }
                _ => {}
            }
        }
        self.finished.store(true, Ordering::SeqCst);
        Ok(summary)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_10_the_channels_hold_at_most_the_byte_budget_whatever_the_page_size() {
    let page = 16 * (1 << 16) as i64; // about 1 MiB a batch
    for hoard in [false, true] {
        let (dropped, peak) = (Arc::new(AtomicI64::new(0)), Arc::new(AtomicI64::new(0)));
        let report = intake::sync(
            BigPages {
                pages: 60,
                dropped: dropped.clone(),
                peak: peak.clone(),
            },
            json!({}),
        )
        .to(Sink {
            dropped: dropped.clone(),
            pause: Duration::from_millis(2),
            hoard,
            finished: Arc::default(),
        })
        .channel_capacity(16)
        .buffer_bytes(4 << 20)
        .run()
        .await
        .unwrap();
        assert_eq!(report.stream("big").unwrap().records_written, 60 * 16);
        if !hoard {
            // 16 + 16 batches of 1 MiB would be 32 MiB in the channels; the budget keeps it
            // to 4 MiB plus the batch being sent and the one being written.
            let peak = peak.load(Ordering::SeqCst);
            assert!(
                peak <= (4 << 20) + 2 * page + 4096,
                "{peak} bytes in flight"
            );
        }
    }
}
