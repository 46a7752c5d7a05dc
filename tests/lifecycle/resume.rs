//! Scenario 3: an overwrite resumes only into the staging it was read for.

use super::*;

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

/// Two partitions of full-refresh pages: `a` one page, `b` three; counts the pages served.
struct Segments {
    served: Arc<std::sync::Mutex<Vec<(String, u64)>>>,
}

#[async_trait]
impl Stream for Segments {
    fn name(&self) -> &str {
        "invoices"
    }
    async fn json_schema(&self) -> Result<Value> {
        Ok(json!({"type": "object", "properties": {"id": {"type": "string"}}}))
    }
    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }
    async fn partitions(&self) -> Result<Vec<intake::Partition>> {
        Ok(vec![
            intake::Partition::new(json!("a")),
            intake::Partition::new(json!("b")),
        ])
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let part = request
            .partition
            .key()
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pages = if part == "a" { 1 } else { 3 };
        let served = self.served.clone();
        intake::Page::by_token(request.resume, move |token| {
            let n = token.and_then(|t| t.as_u64()).unwrap_or(0);
            served.lock().unwrap().push((part.clone(), n));
            let records = vec![intake::Record::from_value(
                &json!({"id": format!("{part}-{n}")}),
            )];
            let next = (n + 1 < pages).then(|| json!(n + 1));
            std::future::ready(
                records
                    .into_iter()
                    .collect::<Result<Vec<_>>>()
                    .map(|r| (r, next)),
            )
        })
    }
}

/// Reads `invoices` from `state` with a checkpoint after every page, one partition at a time;
/// returns the checkpoints' states and the pages served.
async fn read_segments(state: &State) -> (Vec<Value>, Vec<(String, u64)>) {
    let served = Arc::new(std::sync::Mutex::new(Vec::new()));
    let source = Streams(vec![Arc::new(Segments {
        served: served.clone(),
    })]);
    let config = json!({});
    let catalog = source.discover(&config).await.unwrap().configure_all();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let options = ReadOptions {
        checkpoint_records: 1,
        max_concurrency: 1,
        ..ReadOptions::default()
    };
    let read = source.read(
        &config,
        &catalog,
        state,
        &options,
        intake::EventSender::new(tx),
    );
    let collect = async {
        let mut states = Vec::new();
        while let Some(e) = rx.recv().await {
            if let intake::SourceEvent::Checkpoint(cp) = e {
                states.push(cp.state);
            }
        }
        states
    };
    let (result, states) = tokio::join!(read, collect);
    result.unwrap();
    let served = served.lock().unwrap().clone();
    (states, served)
}

/// A crash after a partition's last page costs no request: the checkpoint marks the
/// partition done, a resumed full refresh skips it and continues the other from its token,
/// and the stream's final state forgets the marks so the next sync reads everything again.
#[tokio::test]
async fn a_resumed_full_refresh_does_not_read_again_the_partitions_it_finished() {
    let (states, served) = read_segments(&State::new()).await;
    assert_eq!(served.len(), 4, "{served:?}");
    // After a's only page and b's first: a is done, b resumes at page 1.
    let mid = &states[1];
    assert_eq!(mid["partitions"][0]["resume"]["done"], json!(true), "{mid}");
    let mut state = State::new();
    state.set_stream(d("invoices"), mid.clone());
    let (after, resumed) = read_segments(&state).await;
    assert_eq!(resumed, vec![("b".into(), 1), ("b".into(), 2)]);
    let last = after.last().unwrap().to_string();
    assert!(
        !last.contains("done"),
        "the final state keeps a done mark: {last}"
    );
    // The next full refresh reads both partitions from their start.
    let mut state = State::new();
    state.set_stream(d("invoices"), after.last().unwrap().clone());
    let (_, again) = read_segments(&state).await;
    assert_eq!(again.len(), 4, "{again:?}");
}
