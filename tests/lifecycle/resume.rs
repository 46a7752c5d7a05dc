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
