//! The `intake` command as a user runs it: a child process against the connectors' sandboxes,
//! syncing to every destination, rerunning incrementally, refusing bad configs with the config
//! exit code, printing specs and catalogs, and the demo completing.

#[path = "../../connectors/destination-postgres/tests/support/mod.rs"]
mod postgres;

use std::path::{Path, PathBuf};
use std::process::Output;

use intake_source_mailchimp::mock::{Sandbox, SandboxSpec};
use serde_json::{Value, json};

/// Runs `intake` with `args` (and extra environment) off the test's runtime.
async fn intake(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
            .args(&args)
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Starts `intake` with piped output, for tests that signal it while it runs.
fn spawn_intake(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends SIGINT (what Ctrl-C sends) to a running `intake`.
fn interrupt(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxSpec {
        members: vec![120, 80],
        campaigns: 4,
        emails_per_campaign: 5,
        ..SandboxSpec::default()
    })
    .await
}

fn write_config(dir: &Path, name: &str, config: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
    path
}

fn count(db: &Path, table: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
            r.get(0)
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_spec_and_discover_print_what_a_user_needs() {
    let out = intake(&["sources"], &[]).await;
    assert!(out.status.success());
    let (stdout, _) = text(&out);
    for name in ["hubspot", "mailchimp", "google-sheets", "web"] {
        assert!(stdout.lines().any(|l| l.starts_with(name)), "{stdout}");
    }
    let out = intake(&["spec", "hubspot"], &[]).await;
    assert!(out.status.success());
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["connectionSpecification"]["properties"]["credentials"].is_object());

    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "mc.json", &sandbox.config());
    let out = intake(
        &[
            "discover",
            "mailchimp",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{:?}", text(&out));
    let catalog: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"list_members") && names.contains(&"campaigns"),
        "{names:?}"
    );
    let out = intake(
        &["check", "mailchimp", "--config", config.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(out.status.success());
    assert!(text(&out).0.contains("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_are_config_errors_with_a_clear_message() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = {
        let not_json = dir.path().join("broken.json");
        std::fs::write(&not_json, "{\"credentials\": ").unwrap();
        let missing = write_config(
            dir.path(),
            "missing.json",
            &json!({"start_date": "2024-01-01T00:00:00Z"}),
        );
        let mut bad_key = sandbox.config();
        bad_key["credentials"]["apikey"] = json!("ffffffffffffffffffffffffffffffff-us6");
        let bad_key = write_config(dir.path(), "badkey.json", &bad_key);
        let env_missing = write_config(
            dir.path(),
            "env.json",
            &json!({"credentials": {"auth_type": "apikey", "apikey": "${INTAKE_TEST_UNSET_KEY}"}}),
        );
        let p = |p: &PathBuf| p.to_str().unwrap().to_string();
        vec![
            (
                vec![
                    "sync".into(),
                    "mailchimp".into(),
                    "--config".into(),
                    p(&not_json),
                ],
                "not valid JSON",
            ),
            (
                vec![
                    "sync".into(),
                    "mailchimp".into(),
                    "--config".into(),
                    p(&missing),
                ],
                "credentials",
            ),
            (
                vec![
                    "check".into(),
                    "mailchimp".into(),
                    "--config".into(),
                    p(&bad_key),
                ],
                "API Key Invalid",
            ),
            (
                vec![
                    "check".into(),
                    "mailchimp".into(),
                    "--config".into(),
                    p(&env_missing),
                ],
                "INTAKE_TEST_UNSET_KEY",
            ),
            (
                vec!["spec".into(), "salesforce".into()],
                "no source \"salesforce\"",
            ),
            (
                vec![
                    "sync".into(),
                    "mailchimp".into(),
                    "--config".into(),
                    p(&missing),
                    "--to".into(),
                    "mysql:x".into(),
                ],
                "unknown destination",
            ),
        ]
    };
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = intake(&args, &[]).await;
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("config error"), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("ffffffffffffffff"),
            "the key is never echoed: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_to_sqlite_then_rerun_reads_only_the_changes() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    // YAML, with the key from the environment.
    let yaml = dir.path().join("mailchimp.yaml");
    std::fs::write(
        &yaml,
        format!(
            "credentials:\n  auth_type: apikey\n  apikey: ${{MC_KEY}}\nbase_url: {}\n",
            sandbox.config()["base_url"].as_str().unwrap()
        ),
    )
    .unwrap();
    let db = dir.path().join("out.db");
    let to = format!("sqlite:{}", db.display());
    let key = intake_source_mailchimp::mock::APIKEY;
    let args = [
        "-q",
        "sync",
        "mailchimp",
        "--config",
        yaml.to_str().unwrap(),
        "--to",
        &to,
        "--streams",
        "lists,list_members",
    ];
    let out = intake(&args, &[("MC_KEY", key)]).await;
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(count(&db, "list_members"), 200);
    let list = sandbox.lists()[1].clone();
    let changed = sandbox.touch_members(&list, 2);
    // Without -q: the summary table shows what the rerun read.
    let args = [
        "sync",
        "mailchimp",
        "--config",
        yaml.to_str().unwrap(),
        "--to",
        &to,
        "--streams",
        "lists,list_members",
    ];
    let out = intake(&args, &[("MC_KEY", key)]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("list_members"))
        .unwrap();
    assert!(row.split_whitespace().nth(1) == Some("2"), "{stdout}");
    assert!(stdout.contains("records written"), "{stdout}");
    // Deduplicated on the key: still 200 rows, the two changed ones updated.
    assert_eq!(count(&db, "list_members"), 200);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let fname: String = conn
        .query_row(
            "SELECT json_extract(merge_fields, '$.FNAME') FROM list_members WHERE id = ?1",
            [&changed[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fname, "Changed");
    // --full-refresh reads everything again and replaces the table.
    let args = [
        "-q",
        "sync",
        "mailchimp",
        "--config",
        yaml.to_str().unwrap(),
        "--to",
        &to,
        "--streams",
        "list_members",
        "--full-refresh",
    ];
    assert!(intake(&args, &[("MC_KEY", key)]).await.status.success());
    assert_eq!(count(&db, "list_members"), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_to_jsonl_parquet_and_postgres() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "mc.json", &sandbox.config());
    let c = config.to_str().unwrap();
    let jsonl = dir.path().join("jsonl");
    let to = format!("jsonl:{}", jsonl.display());
    let state = dir.path().join("state.json");
    let out = intake(
        &[
            "-q",
            "sync",
            "mailchimp",
            "--config",
            c,
            "--to",
            &to,
            "--streams",
            "list_members",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{:?}", text(&out));
    let lines = std::fs::read_to_string(jsonl.join("list_members.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 200);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(saved.to_string().contains("list_members"), "{saved}");

    let parquet = dir.path().join("parquet");
    let to = format!("parquet:{}", parquet.display());
    let out = intake(
        &[
            "-q",
            "sync",
            "mailchimp",
            "--config",
            c,
            "--to",
            &to,
            "--streams",
            "campaigns",
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{:?}", text(&out));
    let files: Vec<_> = std::fs::read_dir(parquet.join("campaigns"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert!(!files.is_empty());

    let pg = postgres::TestPostgres::start();
    let url = pg.database("intake_cli").await;
    let to = format!("postgres:{url}");
    for _ in 0..2 {
        let out = intake(
            &[
                "-q",
                "sync",
                "mailchimp",
                "--config",
                c,
                "--to",
                &to,
                "--streams",
                "list_members",
                "--namespace",
                "mailchimp",
            ],
            &[],
        )
        .await;
        assert!(out.status.success(), "{:?}", text(&out));
    }
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let n: i64 = client
        .query_one("SELECT count(*) FROM mailchimp.list_members", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 200, "the rerun was incremental and deduplicated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_completes_against_its_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = intake(&["demo", "--db", db.to_str().unwrap()], &[]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("== what happened =="), "{stdout}");
    for table in [
        "hubspot__contacts",
        "mailchimp__list_members",
        "sheets__Orders",
        "web__products",
    ] {
        assert!(count(&db, table) > 0, "{table}");
    }
    // The second round read only the 25 modified contacts.
    let hubspot = stdout.lines().find(|l| l.starts_with("hubspot ")).unwrap();
    assert!(hubspot.contains("25 contacts"), "{hubspot}");
    // Incremental syncs go through HubSpot's search, which holds the active contacts.
    let portal = intake_source_hubspot::mock::Sandbox::start(Default::default()).await;
    assert_eq!(
        count(&db, "hubspot__contacts") as usize,
        portal.count("contacts", false)
    );
}

/// A destination wedged on a lock another session holds: the first Ctrl-C starts the graceful
/// stop, which waits for the destination; the second exits at once. Nothing was committed, and
/// once the lock is gone a rerun loads everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_exits_while_the_destination_waits_on_a_lock() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "mc.json", &sandbox.config());
    let db = dir.path().join("out.db");
    // Another session holds the write lock (WAL, as the destination uses): the destination
    // waits on it for its busy timeout (30 s) before it can create its tables.
    let holder = rusqlite::Connection::open(&db).unwrap();
    let mode: String = holder
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    holder
        .execute_batch("BEGIN IMMEDIATE; CREATE TABLE held (x INTEGER);")
        .unwrap();
    let to = format!("sqlite:{}", db.display());
    let args = [
        "-q",
        "sync",
        "mailchimp",
        "--config",
        config.to_str().unwrap(),
        "--to",
        &to,
        "--streams",
        "list_members",
    ];
    let mut child = spawn_intake(&args);
    // The source has reached the API: the interrupt handler is in place.
    let waited = std::time::Instant::now();
    while sandbox.api().requests() == 0 {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(30),
            "the sync never reached the API"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    interrupt(&child);
    // The graceful stop waits for the destination, which waits for the lock.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sync ended although its destination could not have"
    );
    interrupt(&child);
    let stopped = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            stopped.elapsed() < std::time::Duration::from_secs(10),
            "a second Ctrl-C did not exit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted again"), "{stderr}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let out = intake(&args, &[]).await;
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(count(&db, "list_members"), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_with_the_interrupted_exit_code() {
    let sandbox = sandbox().await;
    // One request at a time, 200 ms each: 20 pages take 4 s, so the interrupt below lands
    // mid-sync however fast the machine writes.
    sandbox.api().hold(std::time::Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox.config();
    config["page_size"] = json!(10);
    config["concurrency"] = json!(1);
    let config = write_config(dir.path(), "mc.json", &config);
    let db = dir.path().join("out.db");
    let to = format!("sqlite:{}", db.display());
    let child = spawn_intake(&[
        "sync",
        "mailchimp",
        "--config",
        config.to_str().unwrap(),
        "--to",
        &to,
        "--streams",
        "list_members",
        "--checkpoint-every",
        "20",
    ]);
    let db_path = db.clone();
    let out = tokio::task::spawn_blocking(move || {
        // Interrupt once the first checkpoint is committed (20 rows), not at a guessed time.
        let committed = |db: &Path| {
            rusqlite::Connection::open(db)
                .and_then(|c| {
                    c.query_row("SELECT count(*) FROM list_members", [], |r| {
                        r.get::<_, i64>(0)
                    })
                })
                .unwrap_or(0)
        };
        let waited = std::time::Instant::now();
        while committed(&db_path) < 20 {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(30),
                "no checkpoint committed in 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        interrupt(&child);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // What was committed before the interrupt is there, with its state; a rerun completes.
    let kept = count(&db, "list_members");
    assert!(kept < 200, "the sync was stopped part-way ({kept} rows)");
    let c = config.to_str().unwrap();
    let out = intake(
        &[
            "-q",
            "sync",
            "mailchimp",
            "--config",
            c,
            "--to",
            &to,
            "--streams",
            "list_members",
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(count(&db, "list_members"), 200);
}

/// The checked-in `spec/*.json` are the code's specs: a change to a config type without
/// `intake specs` fails here, and the fix is named.
#[tokio::test]
async fn checked_in_specs_match_the_code() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec");
    let out = intake(&["specs", "--check", dir], &[]).await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A drifted file is reported with the command that fixes it, exit 2.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("spec");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    let hubspot = copy.join("source-hubspot.json");
    let edited = std::fs::read_to_string(&hubspot)
        .unwrap()
        .replace("private_app", "privat_app");
    std::fs::write(&hubspot, edited).unwrap();
    std::fs::remove_file(copy.join("destination-sqlite.json")).unwrap();
    let out = intake(&["specs", "--check", copy.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("source-hubspot.json")
            && err.contains("destination-sqlite.json")
            && err.contains("intake-cli -- specs"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_lint_lists_each_component_and_fails_on_an_unsupported_one() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = |incremental: &str| {
        format!(
            r#"
check: {{type: CheckStream, stream_names: [items]}}
streams:
  - type: DeclarativeStream
    name: items
    retriever:
      type: SimpleRetriever
      requester: {{type: HttpRequester, url_base: "https://api.example.com", path: items}}
      record_selector: {{type: RecordSelector, extractor: {{type: DpathExtractor, field_path: [data]}}}}
    schema_loader: {{type: InlineSchemaLoader, schema: {{type: object}}}}
{incremental}"#
        )
    };
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, manifest("")).unwrap();
    let out = intake(&["manifest", "lint", good.to_str().unwrap()], &[]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("supported      DpathExtractor               streams[0].retriever.record_selector.extractor"), "{stdout}");
    assert!(stdout.contains("0 not supported"), "{stdout}");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        manifest("    incremental_sync: {type: DatetimeBasedCursor, cursor_field: updated_at}\n"),
    )
    .unwrap();
    let out = intake(&["manifest", "lint", bad.to_str().unwrap()], &[]).await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("NOT SUPPORTED  DatetimeBasedCursor          streams[0].incremental_sync"),
        "{stdout}"
    );
    assert!(
        stderr.contains("streams[0].incremental_sync: DatetimeBasedCursor is not supported"),
        "{stderr}"
    );
}
