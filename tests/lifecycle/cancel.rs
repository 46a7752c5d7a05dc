//! Scenarios 6 and 7: a cancel wakes every wait; a failed sync leaves nothing running.

use super::limits::Sink;
use super::*;

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
