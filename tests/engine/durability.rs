//! State never passes durable data: a failing destination, an interruption anywhere.

use super::*;

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
