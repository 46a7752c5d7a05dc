//! Crash and resume: `intake sync` runs as a child process against a mock API and is killed
//! with SIGKILL at a seeded random point, 20 trials per destination (JSONL, SQLite, PostgreSQL,
//! Parquet), each on a fresh destination; after the kill the state stored with the destination
//! never covers a record that is not there; then a rerun completes. Every kill lands after the
//! sync committed a checkpoint and before it finished, and the rerun resumes from that
//! checkpoint (it reads fewer records than the source has). Every destination then equals the
//! source exactly: nothing missing, nothing twice (append included).

#[path = "../../connectors/destination-postgres/tests/support/mod.rs"]
mod postgres;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use intake::{Destination, State, StreamDescriptor};
use intake_source_mailchimp::mock::{Sandbox, SandboxSpec};
use serde_json::{Value, json};

const KILLS: u64 = 20;
/// Records per checkpoint (`--checkpoint-every`).
const INTERVAL: usize = 50;

/// A small deterministic generator for the kill points.
struct Seeded(u64);

impl Seeded {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

enum Dest {
    Jsonl(std::path::PathBuf),
    Sqlite(std::path::PathBuf),
    Postgres(String),
    Parquet(std::path::PathBuf),
}

impl Dest {
    fn arg(&self) -> String {
        match self {
            Dest::Jsonl(p) => format!("jsonl:{}", p.display()),
            Dest::Sqlite(p) => format!("sqlite:{}", p.display()),
            Dest::Postgres(u) => format!("postgres:{u}"),
            Dest::Parquet(p) => format!("parquet:{}", p.display()),
        }
    }

    fn destination(&self) -> Arc<dyn Destination> {
        match self {
            Dest::Jsonl(p) => Arc::new(intake::destination::jsonl::JsonlDestination::new(p)),
            Dest::Sqlite(p) => Arc::new(intake_destination_sqlite::SqliteDestination::open(p)),
            Dest::Postgres(u) => {
                Arc::new(intake_destination_postgres::PostgresDestination::connect(u))
            }
            Dest::Parquet(p) => Arc::new(intake_destination_parquet::ParquetDestination::new(p)),
        }
    }

    fn committed_jsonl(dir: &std::path::Path, file: &str) -> String {
        let mut bytes = std::fs::read(dir.join(file)).unwrap_or_default();
        let committed = std::fs::read_to_string(dir.join(intake::destination::jsonl::STATE_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["files"][file].as_u64());
        if let Some(len) = committed {
            bytes.truncate(len as usize);
        }
        String::from_utf8(bytes).unwrap()
    }

    /// (list id, member id) of every row the destination holds.
    async fn rows(&self) -> Vec<(String, String)> {
        match self {
            // What the folder holds is each file up to its committed length (from the state
            // file): a kill can tear the line being written after it, and the next write cuts
            // that tail off. A torn line inside the committed part still fails the parse below.
            Dest::Jsonl(p) => Self::committed_jsonl(p, "list_members.jsonl")
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    (
                        v["list_id"].as_str().unwrap().into(),
                        v["id"].as_str().unwrap().into(),
                    )
                })
                .collect(),
            Dest::Sqlite(p) => {
                if !p.exists() {
                    return Vec::new();
                }
                let conn = rusqlite::Connection::open(p).unwrap();
                let Ok(mut stmt) = conn.prepare("SELECT list_id, id FROM list_members") else {
                    return Vec::new();
                };
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Dest::Postgres(u) => {
                let (client, conn) = tokio_postgres::connect(u, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                match client
                    .query("SELECT list_id, id FROM list_members", &[])
                    .await
                {
                    Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
                    Err(_) => Vec::new(),
                }
            }
            Dest::Parquet(p) => {
                use parquet::file::reader::{FileReader, SerializedFileReader};
                let mut out = Vec::new();
                let Ok(entries) = std::fs::read_dir(p.join("list_members")) else {
                    return out;
                };
                for entry in entries.flatten() {
                    // Only committed files carry the name; a crash leaves `.tmp` files.
                    if entry.path().extension().is_none_or(|e| e != "parquet") {
                        continue;
                    }
                    let reader =
                        SerializedFileReader::new(std::fs::File::open(entry.path()).unwrap())
                            .unwrap();
                    for row in reader.get_row_iter(None).unwrap() {
                        let row = row.unwrap();
                        let mut fields: HashMap<String, String> = HashMap::new();
                        for (name, field) in row.get_column_iter() {
                            if let parquet::record::Field::Str(s) = field {
                                fields.insert(name.clone(), s.clone());
                            }
                        }
                        out.push((fields["list_id"].clone(), fields["id"].clone()));
                    }
                }
                out
            }
        }
    }
}

/// Every record before a partition's saved cursor is in the destination.
async fn state_is_backed_by_rows(dest: &Dest, sandbox: &Sandbox) {
    let state: State = dest
        .destination()
        .stored_state(&json!({}))
        .await
        .unwrap()
        .unwrap_or_default();
    let Some(blob) = state.stream(&StreamDescriptor::new("list_members")) else {
        return;
    };
    let rows: std::collections::HashSet<(String, String)> = dest.rows().await.into_iter().collect();
    for p in blob["partitions"].as_array().into_iter().flatten() {
        let list = p["partition"]["list_id"].as_str().unwrap();
        let Some(cursor) = p["cursor"].as_str().and_then(intake::state::parse_datetime) else {
            continue;
        };
        for (l, id, changed) in sandbox.member_keys() {
            if l == list && intake::state::parse_datetime(&changed).unwrap() < cursor {
                assert!(
                    rows.contains(&(l.clone(), id.clone())),
                    "the state says list {list} is read up to {cursor}, but member {id} ({changed}) is not in the destination"
                );
            }
        }
    }
}

/// Whether the destination has committed a checkpoint of `list_members`.
async fn committed(dest: &Dest) -> bool {
    dest.destination()
        .stored_state(&json!({}))
        .await
        .ok()
        .flatten()
        .is_some_and(|s| s.stream(&StreamDescriptor::new("list_members")).is_some())
}

/// Runs `intake` and kills it with SIGKILL `extra_ms` after its first committed checkpoint.
/// Every trial must kill a sync that has committed at least one checkpoint and has not
/// finished: a kill that landed before the first checkpoint or after the end proves nothing.
async fn kill_after_a_checkpoint(args: &[String], dest: &Dest, extra_ms: u64) {
    // The child's errors go to a file, so a sync that ends early says why.
    let stderr = tempfile::tempfile().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !committed(dest).await {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the sync ended ({status}) before its first checkpoint: {}",
                read_all(stderr)
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(extra_ms)).await;
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert!(running, "the sync finished before it was killed");
}

/// What a child wrote to `file` (its stderr), from the start.
fn read_all(mut file: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut text).unwrap();
    text
}

/// Runs `intake` to completion; the records it read of `list_members`, from its summary table.
async fn run_to_end(args: &[String]) -> u64 {
    let mut args = args.to_vec();
    args.retain(|a| a != "-q");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("list_members"))
        .unwrap_or_else(|| panic!("no summary line: {stdout}"));
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap()
}

/// `KILLS` trials, each on a fresh destination: a sync killed at a seeded point, the state
/// checked against the rows, a rerun to completion, the result checked against the source.
async fn crash_and_resume(make: impl Fn(u64) -> Dest, seed: u64) {
    let sandbox = Sandbox::start(SandboxSpec {
        members: vec![300, 200, 150],
        campaigns: 2,
        emails_per_campaign: 2,
        ..SandboxSpec::default()
    })
    .await;
    // Slow answers, so a sync takes long enough to be killed anywhere in it.
    sandbox.api().hold(Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox.config();
    config["page_size"] = json!(25);
    let config_path = dir.path().join("mc.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let expected: BTreeMap<(String, String), usize> = sandbox
        .member_keys()
        .into_iter()
        .map(|(l, id, _)| ((l, id), 1))
        .collect();
    let mut rng = Seeded(seed);
    for trial in 0..KILLS {
        let dest = make(trial);
        let args: Vec<String> = [
            "-q",
            "sync",
            "mailchimp",
            "--config",
            config_path.to_str().unwrap(),
            "--to",
            &dest.arg(),
            "--streams",
            "list_members",
            "--checkpoint-every",
            &INTERVAL.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        kill_after_a_checkpoint(&args, &dest, rng.next_ms(250)).await;
        state_is_backed_by_rows(&dest, &sandbox).await;
        let before = dest.rows().await.len();
        assert!(before > 0, "trial {trial}: a checkpoint committed no rows");
        let reread = run_to_end(&args).await;
        // Resumed from the committed checkpoint, not from the start.
        assert!(
            reread < expected.len() as u64,
            "trial {trial}: the rerun read {reread} of {} records: it started over",
            expected.len()
        );
        state_is_backed_by_rows(&dest, &sandbox).await;
        let rows = dest.rows().await;
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for r in &rows {
            *counts.entry(r.clone()).or_default() += 1;
        }
        let missing = expected.keys().filter(|k| !counts.contains_key(k)).count();
        assert_eq!(missing, 0, "trial {trial}: records lost");
        assert_eq!(
            counts.len(),
            expected.len(),
            "trial {trial}: rows not in the source"
        );
        // Exactly once, in every destination: the records after the last checkpoint were cut
        // back (JSONL, Parquet) or rolled back (SQLite, PostgreSQL) and the rerun continued
        // from that checkpoint's resume point.
        let duplicates = rows.len() - counts.len();
        assert_eq!(
            duplicates, 0,
            "trial {trial}: {duplicates} duplicates after a kill and a rerun"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_syncs_to_jsonl_resume_to_exactly_the_source() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_resume(|t| Dest::Jsonl(dir.path().join(format!("out{t}"))), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_syncs_to_sqlite_resume_to_exactly_the_source() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_resume(|t| Dest::Sqlite(dir.path().join(format!("out{t}.db"))), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_syncs_to_parquet_resume_to_exactly_the_source() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_resume(|t| Dest::Parquet(dir.path().join(format!("lake{t}"))), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_syncs_to_postgres_resume_to_exactly_the_source() {
    let pg = postgres::TestPostgres::start();
    let mut urls = Vec::new();
    for t in 0..KILLS {
        urls.push(pg.database(&format!("intake_crash_{t}")).await);
    }
    crash_and_resume(|t| Dest::Postgres(urls[t as usize].clone()), 4).await;
}

#[test]
fn the_kill_points_are_seeded() {
    let a: Vec<u64> = (0..5)
        .map({
            let mut r = Seeded(7);
            move |_| r.next_ms(900)
        })
        .collect();
    let b: Vec<u64> = (0..5)
        .map({
            let mut r = Seeded(7);
            move |_| r.next_ms(900)
        })
        .collect();
    assert_eq!(a, b);
    assert!(a.iter().all(|&v| v < 900));
}
