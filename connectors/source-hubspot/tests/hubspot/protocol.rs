//! The connector binary on the Airbyte protocol, and a stream refused by its scope.

use super::*;

/// The `source-hubspot` executable speaks the Airbyte protocol: spec, check, discover and a
/// read of one stream, every line a valid message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_speaks_the_protocol() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let dir = tempfile_dir();
    let config = dir.join("config.json");
    std::fs::write(&config, sandbox.config().to_string()).unwrap();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_source-hubspot"))
                .args(&args)
                .output()
                .unwrap();
            let messages: Vec<Value> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (out.status.code(), messages)
        })
    };
    let c = config.display().to_string();
    let (code, spec) = run(vec!["spec".into()]).await.unwrap();
    assert_eq!(code, Some(0));
    assert!(spec.iter().any(|m| m["type"] == "SPEC"));
    let (_, check) = run(vec!["check".into(), "--config".into(), c.clone()])
        .await
        .unwrap();
    let status = check
        .iter()
        .find(|m| m["type"] == "CONNECTION_STATUS")
        .unwrap();
    assert_eq!(status["connectionStatus"]["status"], "SUCCEEDED");
    let (_, discovered) = run(vec!["discover".into(), "--config".into(), c.clone()])
        .await
        .unwrap();
    let catalog = &discovered.iter().find(|m| m["type"] == "CATALOG").unwrap()["catalog"];
    let owners = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "owners")
        .unwrap()
        .clone();
    let configured = json!({"streams": [{"stream": owners, "sync_mode": "full_refresh",
                                         "destination_sync_mode": "overwrite"}]});
    let catalog_path = dir.join("catalog.json");
    std::fs::write(&catalog_path, configured.to_string()).unwrap();
    let (code, read) = run(vec![
        "read".into(),
        "--config".into(),
        c,
        "--catalog".into(),
        catalog_path.display().to_string(),
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0));
    let records = read.iter().filter(|m| m["type"] == "RECORD").count();
    assert_eq!(records, sandbox.owners());
    assert!(read.iter().any(|m| m["type"] == "STATE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_2_a_deals_full_refresh_refused_for_a_missing_scope_keeps_the_table() {
    let sandbox = Sandbox::start(SandboxSpec::small()).await;
    let config = sandbox.config();
    let mut catalog = HubSpotSource::new()
        .discover(&config)
        .await
        .unwrap()
        .configure_all()
        .select(&["deals"])
        .unwrap();
    catalog.streams[0].sync_mode = SyncMode::FullRefresh;
    catalog.streams[0].destination_sync_mode = intake::DestinationSyncMode::Overwrite;
    let dir = tempfile_dir();
    let sync = || {
        intake::sync(HubSpotSource::new(), config.clone())
            .catalog(catalog.clone())
            .to(JsonlDestination::new(&dir))
    };
    let first = sync().run().await.unwrap();
    let deals = sandbox.count("deals", false) + sandbox.count("deals", true);
    assert_eq!(
        first.stream("deals").unwrap().records_written as usize,
        deals
    );
    let lines = || {
        std::fs::read_to_string(dir.join("deals.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(lines(), deals);
    // The token loses the deals scope: the run succeeds with a warning, the table stays.
    sandbox.deny_scope("deals");
    let second = sync().run().await.unwrap();
    assert_eq!(
        second.stream("deals").unwrap().status,
        Some(intake::StreamStatus::Skipped)
    );
    assert_eq!(lines(), deals, "a skipped stream replaced the table");
}
