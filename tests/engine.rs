//! The sync engine end to end: incremental runs, failures mid-write, interruptions and resumes.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use intake::destination::jsonl::{JsonlDestination, STATE_FILE};
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::state::{CursorOrder, StreamState};
use intake::{
    CancellationToken, ConfiguredCatalog, ConnectorSpec, Cursor, Destination, DestinationSyncMode,
    Error, ReadOptions, Result, State, StreamDescriptor, SyncMode, async_trait,
};
use serde_json::{Value, json};
use support::*;
use tokio::sync::mpsc;

fn options(every: u64) -> ReadOptions {
    ReadOptions {
        checkpoint_records: every,
        ..ReadOptions::default()
    }
}

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

async fn source_catalog(source: &MemorySource) -> ConfiguredCatalog {
    use intake::Source;
    source.discover(&json!({})).await.unwrap().configure_all()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_file_receives_every_acknowledged_state() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let stream =
        Arc::new(MemoryStream::new("contacts", records(300, 4)).cursor(Cursor::new("updatedAt")));
    let source = MemorySource {
        streams: vec![stream],
    };
    let report = intake::sync(source.clone(), json!({}))
        .to(JsonlDestination::new(dir.path().join("out")))
        .state_file(&state_file)
        .options(options(100))
        .run()
        .await
        .unwrap();
    assert!(report.checkpoints >= 3, "{report:?}");
    let saved = State::parse(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert_eq!(saved, report.state);
    // A rerun from the state file reads only the boundary, which is deduplicated away.
    let again = intake::sync(source, json!({}))
        .to(JsonlDestination::new(dir.path().join("out")))
        .state_file(&state_file)
        .run()
        .await
        .unwrap();
    assert_eq!(again.records_read(), 0);
}

/// Forwards to an inner destination, then fails after `records` records: the way a disk
/// filling up or a lost connection looks to the engine.
struct FlakyDestination {
    inner: JsonlDestination,
    records: u64,
}

#[async_trait]
impl Destination for FlakyDestination {
    fn spec(&self) -> ConnectorSpec {
        self.inner.spec()
    }
    async fn check(&self, config: &Value) -> Result<()> {
        self.inner.check(config).await
    }
    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        self.inner.stored_state(config).await
    }
    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        mut input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let (tx, rx) = mpsc::channel(4);
        let limit = self.records;
        let forward = async move {
            let mut seen = 0u64;
            while let Some(msg) = input.recv().await {
                if let DestinationMessage::Records(b) = &msg {
                    seen += b.len() as u64;
                    if seen > limit {
                        return Err(Error::system("injected destination failure: disk full"));
                    }
                }
                if tx.send(msg).await.is_err() {
                    break;
                }
            }
            Ok(())
        };
        let (forwarded, written) =
            tokio::join!(forward, self.inner.write(config, catalog, rx, acks));
        forwarded?;
        written
    }
}

/// The committed part of a JSONL file: what a rerun keeps.
fn committed_ids(dir: &Path, file: &str) -> Vec<i64> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(STATE_FILE)).unwrap()).unwrap();
    let len = state["files"][file].as_u64().unwrap_or(0) as usize;
    let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
    let text = String::from_utf8(bytes[..len.min(bytes.len())].to_vec()).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_failing_mid_write_never_lets_state_pass_durable_data() {
    for limit in [0, 1, 49, 50, 51, 120, 333, 777] {
        let dir = tempfile::tempdir().unwrap();
        let cursor = Cursor::new("updatedAt").order(CursorOrder::Ascending);
        let rows = records(1000, 9);
        let stream = Arc::new(
            MemoryStream::new("contacts", rows.clone())
                .cursor(cursor.clone())
                .page_size(30),
        );
        let source = MemorySource {
            streams: vec![stream],
        };
        let (report, err) = intake::sync(source.clone(), json!({}))
            .to(FlakyDestination {
                inner: JsonlDestination::new(dir.path()),
                records: limit,
            })
            .options(options(50))
            .run_report()
            .await;
        let err = err.expect("the sync must fail");
        assert!(
            err.to_string().contains("disk full"),
            "limit {limit}: {err}"
        );
        assert!(report.stream("contacts").unwrap().records_committed <= limit);

        // The engine's state is exactly what the destination stored with its data.
        let stored = JsonlDestination::new(dir.path())
            .stored_state(&json!({}))
            .await
            .unwrap()
            .unwrap_or_default();
        assert_eq!(stored, report.state, "limit {limit}");
        // Everything before the stored cursor is in the committed data.
        let committed: BTreeSet<i64> = committed_ids(dir.path(), "contacts.jsonl")
            .into_iter()
            .collect();
        if let Some(blob) = stored.stream(&StreamDescriptor::new("contacts")) {
            let st = StreamState::from_value(&StreamDescriptor::new("contacts"), blob).unwrap();
            let saved = cursor.parse(st.root.cursor.as_ref().unwrap()).unwrap();
            for r in &rows {
                if cursor.parse(&r["updatedAt"]).unwrap() < saved {
                    assert!(
                        committed.contains(&r["id"].as_i64().unwrap()),
                        "limit {limit}: {} lost",
                        r["id"]
                    );
                }
            }
        }
        // And a rerun ends with every record exactly once.
        intake::sync(source, json!({}))
            .to(JsonlDestination::new(dir.path()))
            .options(options(50))
            .run()
            .await
            .unwrap();
        let counts = id_counts(&dir.path().join("contacts.jsonl"));
        assert_eq!(counts.len(), 1000, "limit {limit}");
        assert!(
            counts.values().all(|&n| n == 1),
            "limit {limit}: duplicates"
        );
    }
}

#[derive(Debug, Clone, Copy)]
enum Interruption {
    SourceFails,
    Cancelled,
    DestinationFails,
}

/// Three streams of different kinds, interrupted at seeded points, then resumed: every source
/// record ends up in the destination exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_interrupted_anywhere_resumes_with_nothing_lost() {
    let modes = [
        Interruption::SourceFails,
        Interruption::Cancelled,
        Interruption::DestinationFails,
    ];
    let total = 400 + 300 + 200;
    for seed in 0..24u64 {
        let mode = modes[(seed % 3) as usize];
        let point = pick(seed, total as u64 - 1);
        let dir = tempfile::tempdir().unwrap();
        let counter = Arc::new(AtomicI64::new(-1));
        let cancel = CancellationToken::new();
        let build = |counter: Arc<AtomicI64>, cancel: Option<CancellationToken>| {
            let wrap = |s: MemoryStream| {
                let s = s.fail_after(counter.clone());
                Arc::new(match &cancel {
                    Some(c) => s.cancel_at_zero(c.clone()),
                    None => s,
                })
            };
            MemorySource {
                streams: vec![
                    wrap(
                        MemoryStream::new("contacts", records(400, seed))
                            .cursor(Cursor::new("updatedAt").order(CursorOrder::Ascending))
                            .page_size(23),
                    ),
                    wrap(
                        MemoryStream::new("deals", records(300, seed + 100))
                            .cursor(Cursor::new("updatedAt"))
                            .page_size(17)
                            .resumable(),
                    ),
                    wrap(
                        MemoryStream::new("lists", records(200, seed + 200))
                            .page_size(31)
                            .resumable(),
                    ),
                ],
            }
        };
        let interrupted = build(
            counter.clone(),
            matches!(mode, Interruption::Cancelled).then(|| cancel.clone()),
        );
        counter.store(
            match mode {
                Interruption::DestinationFails => -1,
                _ => point as i64,
            },
            Ordering::SeqCst,
        );
        let mut catalog = source_catalog(&interrupted).await;
        for s in &mut catalog.streams {
            s.destination_sync_mode = if s.stream.name == "lists" {
                DestinationSyncMode::Overwrite
            } else {
                DestinationSyncMode::Append
            };
        }
        let opts = ReadOptions {
            checkpoint_records: 40,
            max_concurrency: 3,
            ..ReadOptions::default()
        };
        let run = intake::sync(interrupted, json!({}))
            .catalog(catalog.clone())
            .options(opts.clone())
            .cancel_on(cancel.clone());
        let result = match mode {
            Interruption::DestinationFails => {
                run.to(FlakyDestination {
                    inner: JsonlDestination::new(dir.path()),
                    records: point,
                })
                .run()
                .await
            }
            _ => run.to(JsonlDestination::new(dir.path())).run().await,
        };
        let err = result.expect_err("interrupted");
        match mode {
            Interruption::SourceFails => assert!(
                err.is_retryable() && err.to_string().contains("injected failure"),
                "{err}"
            ),
            Interruption::Cancelled => assert!(matches!(err, Error::Cancelled), "{err}"),
            Interruption::DestinationFails => {
                assert!(err.to_string().contains("disk full"), "{err}")
            }
        }

        // Resume: same data, no interruption.
        let resumed = build(Arc::new(AtomicI64::new(-1)), None);
        let report = intake::sync(resumed, json!({}))
            .to(JsonlDestination::new(dir.path()))
            .catalog(catalog)
            .options(opts)
            .run()
            .await
            .unwrap_or_else(|e| panic!("seed {seed} {mode:?}: resume failed: {e}"));
        for (name, n) in [("contacts", 400), ("deals", 300), ("lists", 200)] {
            let counts = id_counts(&dir.path().join(format!("{name}.jsonl")));
            assert_eq!(
                counts.len(),
                n,
                "seed {seed} {mode:?} point {point}: {name} lost records; {report:?}"
            );
            let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
            assert!(
                dups.is_empty(),
                "seed {seed} {mode:?} point {point}: {name} duplicated {dups:?}"
            );
        }
        assert!(!dir.path().join(".lists.jsonl.staging").exists());
    }
}

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

/// Two sources with a stream of the same name sync into one destination side by side when
/// each is namespaced: separate files (tables), separate states, and each incremental rerun
/// reads only its own changes. Progress events report pages, statuses and commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_sources_share_a_destination_and_report_progress() {
    use intake::source::Namespaced;
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        Arc::new(
            MemoryStream::new("contacts", records(120, 1))
                .cursor(Cursor::new("updatedAt"))
                .page_size(50),
        )
    };
    let (a, b) = (make(), make());
    let events = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for (ns, stream) in [("crm", &a), ("mail", &b)] {
        let seen = events.clone();
        let report = intake::sync(
            Namespaced::new(
                MemorySource {
                    streams: vec![stream.clone()],
                },
                ns,
            ),
            json!({}),
        )
        .to(JsonlDestination::new(dir.path()))
        .on_progress(move |p| {
            let line = match p {
                intake::Progress::Records {
                    stream, records, ..
                } => format!("{stream} read {records}"),
                intake::Progress::Status { stream, status } => format!("{stream} {status:?}"),
                intake::Progress::Committed { stream, records } => {
                    format!("{stream} committed {records}")
                }
                _ => return,
            };
            seen.lock().unwrap().push(line);
        })
        .run()
        .await
        .unwrap();
        assert_eq!(report.stream("contacts").unwrap().records_written, 120);
        assert!(
            report
                .state
                .stream(&StreamDescriptor {
                    name: "contacts".into(),
                    namespace: Some(ns.into())
                })
                .is_some()
        );
    }
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.contains(&"crm.contacts read 50".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("mail.contacts committed")),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"crm.contacts Complete".to_string()),
        "{seen:?}"
    );
    // One file per namespace, each complete.
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    // Change one record of `mail` only: `crm`'s rerun reads nothing, `mail`'s reads it.
    b.records.lock().unwrap()[3]["updatedAt"] = json!("2024-03-01T00:00:00Z");
    for (ns, stream, expected) in [("crm", &a, 0), ("mail", &b, 1)] {
        let report = intake::sync(
            Namespaced::new(
                MemorySource {
                    streams: vec![stream.clone()],
                },
                ns,
            ),
            json!({}),
        )
        .to(JsonlDestination::new(dir.path()))
        .run()
        .await
        .unwrap();
        assert_eq!(
            report.stream("contacts").unwrap().records_read,
            expected,
            "{ns}"
        );
    }
}

/// Drains its input and counts the records it was handed.
struct CountingDestination {
    records: Arc<AtomicU64>,
}

#[async_trait]
impl Destination for CountingDestination {
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
        while let Some(msg) = input.recv().await {
            if let DestinationMessage::Records(b) = msg {
                self.records.fetch_add(b.len() as u64, Ordering::SeqCst);
            }
        }
        Ok(WriteSummary::default())
    }
}

#[tokio::test]
async fn a_record_without_its_key_stops_a_dedup_sync_before_it_is_written() {
    let mut rows = records(250, 1);
    rows[170].as_object_mut().unwrap().remove("id");
    let source = MemorySource {
        streams: vec![Arc::new(MemoryStream::new("contacts", rows.clone()))],
    };
    let mut catalog = source_catalog(&source).await;
    catalog.streams[0].destination_sync_mode = DestinationSyncMode::AppendDedup;
    let written = Arc::new(AtomicU64::new(0));
    let (report, err) = intake::sync(source, json!({}))
        .to(CountingDestination {
            records: written.clone(),
        })
        .catalog(catalog.clone())
        .run_report()
        .await;
    let err = err.expect("the sync fails");
    assert_eq!(err.failure_type(), intake::FailureType::SystemError);
    assert!(
        err.message()
            .contains("stream \"contacts\": record 171 has no usable primary key [id]"),
        "{err}"
    );
    assert_eq!(
        written.load(Ordering::SeqCst),
        100,
        "the page before it only"
    );
    assert_eq!(report.records_read(), 100);

    // A null key is no key; in append mode the record passes (nothing is merged on it).
    rows[170] = json!({"id": null, "updatedAt": "2024-01-01T00:00:00Z"});
    let source = MemorySource {
        streams: vec![Arc::new(MemoryStream::new("contacts", rows.clone()))],
    };
    let (_, err) = intake::sync(source.clone(), json!({}))
        .to(CountingDestination {
            records: Arc::new(AtomicU64::new(0)),
        })
        .catalog(catalog)
        .run_report()
        .await;
    assert!(err.unwrap().message().contains("record 171"));
    let written = Arc::new(AtomicU64::new(0));
    intake::sync(source, json!({}))
        .to(CountingDestination {
            records: written.clone(),
        })
        .run()
        .await
        .unwrap();
    assert_eq!(written.load(Ordering::SeqCst), 250);
}

/// A JSONL destination writing stream "contacts" (append) into `dir`, driven by hand: the
/// sender of its input, the receiver of its acknowledgements, and the write's task.
struct DrivenJsonl {
    stream: Arc<StreamDescriptor>,
    input: mpsc::Sender<DestinationMessage>,
    acked: mpsc::UnboundedReceiver<intake::Checkpoint>,
    writing: tokio::task::JoinHandle<Result<WriteSummary>>,
}

impl DrivenJsonl {
    async fn start(dir: &Path) -> DrivenJsonl {
        let mut catalog = source_catalog(&MemorySource {
            streams: vec![Arc::new(MemoryStream::new("contacts", records(10, 4)))],
        })
        .await;
        catalog.streams[0].destination_sync_mode = DestinationSyncMode::Append;
        let (input, rx) = mpsc::channel(64);
        let (acks, acked) = Acks::channel();
        let destination = JsonlDestination::new(dir);
        let writing =
            tokio::spawn(async move { destination.write(&json!({}), &catalog, rx, acks).await });
        DrivenJsonl {
            stream: Arc::new(StreamDescriptor::new("contacts")),
            input,
            acked,
            writing,
        }
    }

    async fn records(&self, records: Vec<intake::Record>) {
        let batch = intake::RecordBatch {
            stream: self.stream.clone(),
            records,
            emitted_at: 0,
            held: Default::default(),
        };
        self.input
            .send(DestinationMessage::Records(batch))
            .await
            .unwrap();
    }

    /// Checkpoint `seq`, its state `{"at": seq}`.
    async fn checkpoint(&self, seq: u64, records: u64) {
        let cp = intake::Checkpoint {
            seq,
            stream: self.stream.clone(),
            state: json!({"at": seq}),
            records,
        };
        self.input
            .send(DestinationMessage::Checkpoint(cp))
            .await
            .unwrap();
    }
}

/// The JSONL destination syncs and records a checkpoint on a thread of its own while it goes on
/// writing the records after it: each acknowledgement must still find the state file naming
/// that checkpoint and the data file holding every record before it, and the records sent
/// after it outside the committed length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_acknowledges_a_checkpoint_only_once_its_records_and_state_are_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut driven = DrivenJsonl::start(dir.path()).await;
    // 30 checkpoints of 7 records each, all sent before any acknowledgement is looked at.
    let mut line_bytes = Vec::new();
    for c in 0..30u64 {
        let batch: Vec<intake::Record> = (0..7)
            .map(|i| {
                intake::Record::from_value(&json!({"id": c * 7 + i, "pad": "x".repeat(50)}))
                    .unwrap()
            })
            .collect();
        line_bytes.extend(batch.iter().map(|r| r.len() as u64 + 1));
        driven.records(batch).await;
        driven.checkpoint(c, 7).await;
    }
    for c in 0..30u64 {
        let cp = driven.acked.recv().await.expect("an acknowledgement");
        assert_eq!(cp.seq, c, "acknowledged out of order");
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap())
                .unwrap();
        let covered: u64 = line_bytes[..(c as usize + 1) * 7].iter().sum();
        let committed = state["files"]["contacts.jsonl"].as_u64().unwrap();
        // The state file may already be past this checkpoint, never behind it.
        assert!(
            committed >= covered,
            "checkpoint {c}: {committed} < {covered}"
        );
        let on_disk = std::fs::metadata(dir.path().join("contacts.jsonl"))
            .unwrap()
            .len();
        assert!(
            on_disk >= committed,
            "checkpoint {c}: file {on_disk} < {committed}"
        );
        let at = state["state"][0]["stream"]["stream_state"]["at"]
            .as_u64()
            .unwrap();
        assert!(at >= c, "checkpoint {c}: the state file says {at}");
    }
    drop(driven.input);
    driven.writing.await.unwrap().unwrap();
    assert_eq!(read_jsonl(&dir.path().join("contacts.jsonl")).len(), 210);
}

/// A checkpoint the JSONL committer cannot record fails the write, and is never acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_reports_a_checkpoint_it_could_not_record_and_does_not_acknowledge_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut driven = DrivenJsonl::start(dir.path()).await;
    let record = |id: i64| vec![intake::Record::from_value(&json!({"id": id})).unwrap()];
    driven.records(record(1)).await;
    driven.checkpoint(0, 1).await;
    assert_eq!(driven.acked.recv().await.unwrap().seq, 0);
    // The state file's place taken by a folder that is not empty: it cannot be replaced.
    let state = dir.path().join(STATE_FILE);
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("keep"), b"x").unwrap();
    driven.records(record(2)).await;
    driven.checkpoint(1, 1).await;
    drop(driven.input);
    let err = driven
        .writing
        .await
        .unwrap()
        .expect_err("the write must fail");
    assert!(!err.to_string().is_empty());
    assert!(
        driven.acked.recv().await.is_none(),
        "a checkpoint not recorded was acknowledged"
    );
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
