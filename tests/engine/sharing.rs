//! Several sources in one destination, dedup keys, and JSONL's acknowledgements.

use super::*;

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
            partition: None,
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
