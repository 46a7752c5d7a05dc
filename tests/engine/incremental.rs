//! Incremental runs read only what changed; bad input is a config error.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_incremental_run_reads_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let stream = Arc::new(
        MemoryStream::new("contacts", records(500, 1))
            .cursor(Cursor::new("updatedAt"))
            .page_size(40),
    );
    let source = MemorySource {
        streams: vec![stream.clone()],
    };

    let first = intake::sync(source.clone(), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
    let report = first.stream("contacts").unwrap();
    assert_eq!(report.records_read, 500);
    assert_eq!(report.records_written, 500);
    assert_eq!(report.pages, 13);
    assert_eq!(report.status, Some(intake::StreamStatus::Complete));
    assert!(
        report.bytes_written > report.bytes_read,
        "lines add a newline each"
    );
    let max = "2024-01-28T23:00:00Z";
    let blob = first
        .state
        .stream(&StreamDescriptor::new("contacts"))
        .unwrap();
    let st = StreamState::from_value(&StreamDescriptor::new("contacts"), blob).unwrap();
    let saved_cursor = st.root.cursor.clone().unwrap();
    assert!(saved_cursor.as_str().unwrap() <= max);

    // Change two records (newer cursor), add one; the second run delivers exactly those three.
    {
        let mut rows = stream.records.lock().unwrap();
        for r in rows.iter_mut().filter(|r| r["id"] == 7 || r["id"] == 8) {
            r["updatedAt"] = json!("2024-02-01T00:00:00Z");
            r["name"] = json!("changed");
        }
        rows.push(json!({"id": 501, "updatedAt": "2024-02-01T00:00:00Z", "name": "new"}));
    }
    let second = intake::sync(source, json!({}))
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
    assert_eq!(
        second.stream("contacts").unwrap().records_read,
        3,
        "{second:?}"
    );
    let lines = read_jsonl(&dir.path().join("contacts.jsonl"));
    assert_eq!(lines.len(), 503);
    let changed: BTreeSet<i64> = lines
        .iter()
        .filter(|r| r["name"] != json!(format!("row {}", r["id"])))
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(changed, BTreeSet::from([7, 8, 501]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_far_in_the_future_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stream =
        Arc::new(MemoryStream::new("contacts", records(100, 2)).cursor(Cursor::new("updatedAt")));
    let mut state = State::new();
    state.set_stream(
        StreamDescriptor::new("contacts"),
        json!({"cursor": "2999-01-01T00:00:00Z"}),
    );
    let report = intake::sync(
        MemorySource {
            streams: vec![stream],
        },
        json!({}),
    )
    .to(JsonlDestination::new(dir.path()))
    .state(state)
    .run()
    .await
    .unwrap();
    assert_eq!(report.records_read(), 0);
    // The state survives a run that read nothing.
    assert_eq!(
        report.state.stream(&StreamDescriptor::new("contacts")),
        Some(&json!({"cursor": "2999-01-01T00:00:00Z"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_refresh_stream_configured_as_incremental_is_read_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let stream = Arc::new(MemoryStream::new("lists", records(50, 3)));
    let source = MemorySource {
        streams: vec![stream],
    };
    let mut catalog = source_catalog(&source).await;
    catalog.streams[0].sync_mode = SyncMode::Incremental;
    catalog.streams[0].destination_sync_mode = DestinationSyncMode::Append;
    for _ in 0..2 {
        let report = intake::sync(source.clone(), json!({}))
            .to(JsonlDestination::new(dir.path()))
            .catalog(catalog.clone())
            .run()
            .await
            .unwrap();
        assert_eq!(report.records_read(), 50);
    }
    assert_eq!(read_jsonl(&dir.path().join("lists.jsonl")).len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_streams_and_bad_state_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let stream =
        Arc::new(MemoryStream::new("contacts", records(10, 1)).cursor(Cursor::new("updatedAt")));
    let source = MemorySource {
        streams: vec![stream],
    };
    let err = intake::sync(source.clone(), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .streams(["nope"])
        .run()
        .await
        .unwrap_err();
    assert!(err.is_config() && err.to_string().contains("nope"), "{err}");

    let state_file = dir.path().join("state.whatever");
    std::fs::write(&state_file, "{\"type\": \"STREAM\", \"stream\": 12}").unwrap();
    let err = intake::sync(source.clone(), json!({}))
        .to(JsonlDestination::new(dir.path()))
        .state_file(&state_file)
        .run()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err}");

    let mut foreign = State::new();
    foreign.set_stream(StreamDescriptor::new("contacts"), json!("not an object"));
    let err = intake::sync(source, json!({}))
        .to(JsonlDestination::new(dir.path()))
        .state(foreign)
        .run()
        .await
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("corrupt state"),
        "{err}"
    );
}
