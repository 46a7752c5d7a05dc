//! Scenarios 1 and 2: how a stream ends decides what its table and cursor keep.

use super::*;

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
