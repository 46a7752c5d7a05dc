//! A stream's life between source, engine and destination: a table is only ever replaced by a
//! complete read, a cursor only advances past what was read, and a sync stops when told.
//! Each test is named after the scenario of the lifecycle issue it proves.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use intake::PrimaryKey;
use intake::destination::jsonl::JsonlDestination;
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::protocol::run_destination_with;
use intake::source::{Skip, SkipOnError};
use intake::state::StreamState;
use intake::{
    ConfiguredCatalog, ConnectorSpec, Cursor, Destination, DestinationSyncMode, Error, PageStream,
    ReadOptions, ReadRequest, Result, Source, State, Stream, StreamDescriptor, StreamStatus,
    async_trait,
};
use serde_json::{Value, json};

use support::*;

/// A source over any streams.
#[derive(Clone)]
struct Streams(Vec<Arc<dyn Stream>>);

#[async_trait]
impl Source for Streams {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _config: &Value) -> Result<()> {
        Ok(())
    }
    async fn streams(&self, _config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(self.0.clone())
    }
}

fn every(n: u64) -> ReadOptions {
    ReadOptions {
        checkpoint_records: n,
        ..ReadOptions::default()
    }
}

fn d(name: &str) -> StreamDescriptor {
    StreamDescriptor::new(name)
}

// --- scenario 1 ------------------------------------------------------------------------------

fn overwrite_catalog() -> ConfiguredCatalog {
    serde_json::from_value(json!({"streams": [{
        "stream": {"name": "contacts", "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
                   "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}))
    .unwrap()
}

fn record(id: u64) -> String {
    json!({"type": "RECORD", "record": {"stream": "contacts", "data": {"id": id}, "emitted_at": 1}})
        .to_string()
}

fn status(s: &str) -> String {
    json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0,
        "stream_status": {"stream_descriptor": {"name": "contacts"}, "status": s}}})
    .to_string()
}

fn state(token: Option<u64>) -> String {
    let blob = match token {
        Some(t) => json!({"resume": {"token": t}}),
        None => json!({}),
    };
    json!({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "contacts"}, "stream_state": blob}}})
    .to_string()
}

async fn write(dir: &std::path::Path, lines: &[String]) -> i32 {
    let config = dir.join("config.json");
    let catalog = dir.join("catalog.json");
    let out = dir.join("out");
    std::fs::write(&config, json!({"destination_path": out}).to_string()).unwrap();
    std::fs::write(
        &catalog,
        serde_json::to_string(&overwrite_catalog()).unwrap(),
    )
    .unwrap();
    let input = lines.join("\n") + "\n";
    let mut stdout = Vec::new();
    let args = vec![
        "write".to_string(),
        "--config".into(),
        config.display().to_string(),
        "--catalog".into(),
        catalog.display().to_string(),
    ];
    run_destination_with(
        &JsonlDestination::default(),
        args,
        input.as_bytes(),
        &mut stdout,
    )
    .await
}

fn ids(dir: &std::path::Path) -> Vec<i64> {
    read_jsonl(&dir.join("out/contacts.jsonl"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn scenario_1_end_of_input_after_a_dead_source_keeps_the_overwrite_table() {
    let dir = tempfile::tempdir().unwrap();
    let full = [
        status("STARTED"),
        record(1),
        record(2),
        record(3),
        state(None),
        status("COMPLETE"),
    ];
    assert_eq!(write(dir.path(), &full).await, 0);
    assert_eq!(ids(dir.path()), [1, 2, 3]);

    // The source dies after two records and a checkpoint: a clean end of input, no COMPLETE.
    let died = [
        status("STARTED"),
        record(10),
        record(11),
        state(Some(2)),
        record(12),
    ];
    assert_eq!(write(dir.path(), &died).await, 0);
    assert_eq!(
        ids(dir.path()),
        [1, 2, 3],
        "a partial read replaced the table"
    );

    // The rerun resumes from the token: the staged records are kept, and the complete read
    // replaces the table with every record once.
    let resumed = [
        status("STARTED"),
        record(12),
        record(13),
        state(None),
        status("COMPLETE"),
    ];
    assert_eq!(write(dir.path(), &resumed).await, 0);
    assert_eq!(ids(dir.path()), [10, 11, 12, 13]);

    // An INCOMPLETE status keeps the table too.
    let failed = [status("STARTED"), record(20), status("INCOMPLETE")];
    assert_eq!(write(dir.path(), &failed).await, 0);
    assert_eq!(ids(dir.path()), [10, 11, 12, 13]);
}

#[tokio::test]
async fn scenario_1_a_source_that_sends_no_statuses_still_completes_at_the_end_of_input() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(write(dir.path(), &[record(1), state(None)]).await, 0);
    assert_eq!(write(dir.path(), &[record(5), state(None)]).await, 0);
    assert_eq!(ids(dir.path()), [5]);
}

// --- scenario 2 ------------------------------------------------------------------------------

/// A stream skipped when its read fails with the injected failure (a scope the token lacks).
fn skipping(inner: Arc<MemoryStream>) -> Arc<dyn Stream> {
    struct Shared(Arc<MemoryStream>);
    #[async_trait]
    impl Stream for Shared {
        fn name(&self) -> &str {
            Stream::name(&*self.0)
        }
        async fn json_schema(&self) -> Result<Value> {
            Stream::json_schema(&*self.0).await
        }
        fn primary_key(&self) -> PrimaryKey {
            Stream::primary_key(&*self.0)
        }
        fn cursor(&self) -> Option<Cursor> {
            Stream::cursor(&*self.0)
        }
        fn read(&self, request: ReadRequest) -> PageStream<'_> {
            Stream::read(&*self.0, request)
        }
    }
    Arc::new(SkipOnError::new(Shared(inner), |e, _| {
        e.to_string()
            .contains("injected failure")
            .then(|| Skip::Stream("deals skipped: the token lacks crm.objects.deals.read".into()))
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_2_a_skipped_stream_keeps_its_overwrite_table() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicI64::new(-1));
    let deals = Arc::new(
        MemoryStream::new("deals", records(2, 1))
            .page_size(1)
            .fail_after(fail.clone()),
    );
    let source = Streams(vec![skipping(deals)]);
    let first = intake::sync(source.clone(), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(first.records_written(), 2);

    // The second run is refused at once (403 MISSING_SCOPES): the table keeps its 2 rows.
    fail.store(0, Ordering::SeqCst);
    let second = intake::sync(source.clone(), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
    let s = second.stream("deals").unwrap();
    assert_eq!(s.status, Some(StreamStatus::Skipped));
    assert!(
        second.warnings.iter().any(|w| w.contains("lacks")),
        "{:?}",
        second.warnings
    );
    assert_eq!(id_counts(&dir.path().join("deals.jsonl")).len(), 2);

    // Refused half-way: still the old table.
    fail.store(1, Ordering::SeqCst);
    intake::sync(source, json!({}))
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(id_counts(&dir.path().join("deals.jsonl")).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_2_a_skip_half_way_does_not_advance_an_unordered_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicI64::new(150));
    let deals = Arc::new(
        MemoryStream::new("deals", records(400, 3))
            .cursor(Cursor::new("updatedAt"))
            .page_size(50)
            .fail_after(fail),
    );
    let report = intake::sync(Streams(vec![skipping(deals)]), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .options(every(50))
        .run()
        .await
        .unwrap();
    assert_eq!(
        report.stream("deals").unwrap().status,
        Some(StreamStatus::Skipped)
    );
    assert_eq!(report.records_written(), 150);
    let blob = report.state.stream(&d("deals")).unwrap();
    let st = StreamState::from_value(&d("deals"), blob).unwrap();
    assert_eq!(
        st.root.cursor, None,
        "the cursor advanced past pages never read: {blob}"
    );
}

// --- scenario 3 ------------------------------------------------------------------------------

/// A full-refresh stream of 500 records in resumable pages of 50, failing after `fail` records.
fn interrupted(fail: i64) -> Streams {
    let s = MemoryStream::new("contacts", records(500, 4))
        .page_size(50)
        .resumable()
        .fail_after(Arc::new(AtomicI64::new(fail)));
    Streams(vec![Arc::new(s)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_3_a_state_file_resuming_into_a_new_folder_reads_the_stream_from_the_start() {
    let work = tempfile::tempdir().unwrap();
    let state_file = work.path().join("state.json");
    let (old, new) = (work.path().join("old"), work.path().join("new"));
    let err = intake::sync(interrupted(250), json!({}))
        .to(JsonlDestination::new(&old))
        .state_file(&state_file)
        .options(every(50))
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    let saved = State::parse(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert!(
        saved.resumes(&d("contacts")),
        "the test needs a resume token"
    );

    let report = intake::sync(interrupted(-1), json!({}))
        .to(JsonlDestination::new(&new))
        .state_file(&state_file)
        .options(every(50))
        .run()
        .await
        .unwrap();
    let counts = id_counts(&new.join("contacts.jsonl"));
    assert_eq!(counts.len(), 500, "{report:?}");
    assert!(counts.values().all(|&n| n == 1));
    assert!(
        report.warnings.iter().any(|w| w.contains("from the start")),
        "{:?}",
        report.warnings
    );
}

/// A folder holding the staging of an overwrite interrupted after 250 of 500 records (its
/// stored state resumes it).
async fn interrupted_into_a_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    intake::sync(interrupted(250), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .options(every(50))
        .run()
        .await
        .unwrap_err();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_3_a_reset_state_drops_the_old_staging_instead_of_reading_it_twice() {
    let dir = interrupted_into_a_folder().await;
    // The user resets the connection's state; the staging of the interrupted run is still there.
    let report = intake::sync(interrupted(-1), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .state(State::new())
        .options(every(50))
        .run()
        .await
        .unwrap();
    let counts = id_counts(&dir.path().join("contacts.jsonl"));
    assert_eq!(counts.len(), 500, "{report:?}");
    assert!(
        counts.values().all(|&n| n == 1),
        "records read twice: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_3_the_destinations_own_state_still_resumes_its_staging() {
    let dir = interrupted_into_a_folder().await;
    let report = intake::sync(interrupted(-1), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .options(every(50))
        .run()
        .await
        .unwrap();
    // Resumed: only the pages after the last checkpoint were read again.
    assert!(report.records_read() < 500, "{report:?}");
    let counts = id_counts(&dir.path().join("contacts.jsonl"));
    assert_eq!(counts.len(), 500);
    assert!(counts.values().all(|&n| n == 1));
}

// --- scenario 6 ------------------------------------------------------------------------------

/// A stream that waits an hour (a rate-limit pause taken from a reset header) through its
/// context, then would deliver a page.
struct Sleeper {
    woke: Arc<AtomicBool>,
}

#[async_trait]
impl Stream for Sleeper {
    fn name(&self) -> &str {
        "slow"
    }
    async fn json_schema(&self) -> Result<Value> {
        Ok(json!({"type": "object", "properties": {}}))
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let woke = self.woke.clone();
        futures::stream::once(async move {
            let slept = request.context.sleep(Duration::from_secs(3600)).await;
            woke.store(true, Ordering::SeqCst);
            slept?;
            Ok(intake::Page::default())
        })
        .boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn scenario_6_a_cancel_wakes_a_sync_asleep_in_a_rate_limit_pause() {
    let woke = Arc::new(AtomicBool::new(false));
    let cancel = intake::CancellationToken::new();
    let started = tokio::time::Instant::now();
    let sync = intake::sync(
        Streams(vec![Arc::new(Sleeper { woke: woke.clone() })]),
        json!({}),
    )
    .to(Sink::draining(Arc::default()))
    .cancel_on(cancel.clone())
    .run();
    let canceller = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(sync, canceller);
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    // Paused time: the sync ended at the cancel, not after the hour.
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(!woke.load(Ordering::SeqCst), "the source was not stopped");
}

#[tokio::test(start_paused = true)]
async fn scenario_6_a_contexts_sleep_wakes_on_cancellation() {
    let cancel = intake::CancellationToken::new();
    let ctx = intake::StreamContext::detached("s").cancelled_by(cancel.clone());
    let started = tokio::time::Instant::now();
    let (slept, ()) = tokio::join!(ctx.sleep(Duration::from_secs(3600)), async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        cancel.cancel();
    });
    assert!(matches!(slept, Err(Error::Cancelled)), "{slept:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

// --- scenario 7 ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_7_a_failed_sync_leaves_no_task_running() {
    let dir = tempfile::tempdir().unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let woke = Arc::new(AtomicBool::new(false));
    // A state file the engine cannot write: the router fails at the first acknowledgement,
    // while the slow stream still sleeps.
    let fast = MemoryStream::new("contacts", records(10, 5));
    let err = intake::sync(
        Streams(vec![
            Arc::new(fast),
            Arc::new(Sleeper { woke: woke.clone() }),
        ]),
        json!({}),
    )
    .to(Sink::draining(finished.clone()))
    .state_file(dir.path().join("no/such/folder/state.json"))
    .run()
    .await
    .unwrap_err();
    assert!(err.to_string().contains("state file"), "{err}");
    // When run returns, the destination has finished and the source is stopped.
    assert!(
        finished.load(Ordering::SeqCst),
        "the destination outlived the sync"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !woke.load(Ordering::SeqCst),
        "the source ran on after the sync"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_7_a_second_writer_of_a_jsonl_folder_gets_a_config_error_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let _held = intake::destination::FolderLock::acquire(dir.path()).unwrap();
    let err = intake::sync(
        Streams(vec![Arc::new(MemoryStream::new("contacts", records(3, 6)))]),
        json!({}),
    )
    .to(JsonlDestination::new(dir.path()))
    .run()
    .await
    .unwrap_err();
    assert!(err.is_config(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().display().to_string())
            && msg.contains(&std::process::id().to_string()),
        "{msg}"
    );
    assert!(!dir.path().join("contacts.jsonl").exists());
}

#[test]
fn overwrite_is_the_mode_of_these_streams() {
    // The scenarios above rely on full-refresh streams defaulting to overwrite.
    let s = intake::CatalogStream::new("x", json!({"type": "object"}));
    assert_eq!(
        s.configure_default().destination_sync_mode,
        DestinationSyncMode::Overwrite
    );
}

// --- scenario 4 ------------------------------------------------------------------------------

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
struct Sink {
    finished: Arc<AtomicBool>,
    dropped: Arc<AtomicI64>,
    pause: Duration,
    hoard: bool,
}

impl Sink {
    fn draining(finished: Arc<AtomicBool>) -> Sink {
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
