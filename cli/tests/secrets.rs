//! No secret from a config reaches the output: every source connector (each way it can
//! authenticate) is synced by `intake -vvv` (tracing at TRACE) into every destination
//! (PostgreSQL with a real password), and failing runs with wrong credentials are made too.
//! Nothing a secret was, or what the sandboxes issued in exchange for one (access tokens),
//! may appear in stdout, stderr (every log line, message and error), the files written, or
//! the cassettes every run records (`INTAKE_RECORD`).

#[path = "../../connectors/destination-postgres/tests/support/mod.rs"]
mod postgres;

use std::path::Path;
use std::process::Output;

use intake_source_google_sheets::mock as sheets;
use intake_source_hubspot::mock as hubspot;
use intake_source_mailchimp::mock as mailchimp;
use intake_source_web::mock::FixtureSite;
use serde_json::{Value, json};

const PG_PASSWORD: &str = "pg-Pa55-TOPSECRET-77";

async fn intake(args: Vec<String>, record: &Path) -> Output {
    let record = record.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_intake"))
            .args(&args)
            .env("INTAKE_RECORD", record)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Every file under `dir`, as text (lossy).
fn files_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&files_text(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// The secrets a sandboxed run may meet: every config secret, a line of the service account's
/// private key, and the prefixes of the access tokens the sandboxes hand out.
fn secrets() -> Vec<String> {
    let key_line = sheets::PRIVATE_KEY
        .lines()
        .nth(2)
        .expect("a PEM body line")
        .to_string();
    vec![
        hubspot::TOKEN.into(),
        hubspot::CLIENT_SECRET.into(),
        hubspot::REFRESH_TOKEN.into(),
        "sandbox-access-".into(),
        mailchimp::APIKEY.into(),
        // The key's secret part without its datacenter suffix.
        mailchimp::APIKEY.split('-').next().unwrap().into(),
        mailchimp::OAUTH_TOKEN.into(),
        sheets::CLIENT_SECRET.into(),
        sheets::REFRESH_TOKEN.into(),
        "ya29.sandbox-".into(),
        key_line,
        PG_PASSWORD.into(),
        "WRONG-SECRET-0451".into(),
    ]
}

struct Run<'a> {
    what: &'a str,
    source: &'a str,
    config: Value,
    to: String,
    streams: &'a str,
    succeeds: bool,
}

/// Runs a sync with `INTAKE_RECORD` pointed at `out/cassettes/<what>`: the cassette is
/// scanned with the synced data at the end.
async fn run(dir: &Path, out: &Path, r: Run<'_>) -> String {
    let path = dir.join(format!("{}.json", r.what.replace(' ', "_")));
    std::fs::write(&path, r.config.to_string()).unwrap();
    let mut args: Vec<String> = vec!["-vvv".into(), "sync".into(), r.source.into()];
    args.extend(["--config".into(), path.display().to_string()]);
    args.extend(["--to".into(), r.to.clone()]);
    if !r.streams.is_empty() {
        args.extend(["--streams".into(), r.streams.into()]);
    }
    let cassette = out.join("cassettes").join(r.what.replace(' ', "_"));
    let out = intake(args, &cassette).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.success(),
        r.succeeds,
        "{}: exit {:?}\n{stderr}",
        r.what,
        out.status
    );
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "{}: tracing was on",
        r.what
    );
    // Every run that reached its API recorded it (a wrong PostgreSQL password still reads
    // Mailchimp's lists before the destination refuses, or fails before: either way the
    // folder exists).
    let recorded = std::fs::read_dir(&cassette).map_or(0, |d| d.count());
    assert!(
        stderr.contains("recorded ") && (recorded > 0 || !r.succeeds),
        "{}: nothing recorded into {}\n{stderr}",
        r.what,
        cassette.display()
    );
    format!("{stdout}\n{stderr}")
}

fn assert_clean(what: &str, text: &str) {
    for secret in secrets() {
        if let Some(at) = text.find(&secret) {
            let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let to = text[at..].find('\n').map_or(text.len(), |n| at + n);
            panic!("{what}: a secret ({secret}) leaked in: {}", &text[from..to]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let pg = postgres::TestPostgres::start_with_password(PG_PASSWORD);
    let url = pg.database("intake_secrets").await;
    assert!(url.contains(PG_PASSWORD), "the URL carries the password");
    let sqlite = |name: &str| format!("sqlite:{}", out.join(name).display());

    let hs = hubspot::Sandbox::start(hubspot::SandboxSpec::small()).await;
    let mc = mailchimp::Sandbox::start(mailchimp::SandboxSpec {
        members: vec![20],
        campaigns: 2,
        ..mailchimp::SandboxSpec::default()
    })
    .await;
    let gs = sheets::Sandbox::start(sheets::spreadsheet(40), 10_000).await;
    let web = FixtureSite::start().await;

    let mut wrong_hs = hs.config();
    wrong_hs["credentials"]["access_token"] = json!("pat-na1-WRONG-SECRET-0451");
    let mut wrong_mc = mc.config();
    wrong_mc["credentials"]["apikey"] = json!("ffffWRONG-SECRET-0451ffff-us6");
    let mut wrong_gs = gs.oauth_config();
    wrong_gs["credentials"]["client_secret"] = json!("WRONG-SECRET-0451");
    let mut wrong_pg = url.replace(PG_PASSWORD, "WRONG-SECRET-0451");
    wrong_pg.push_str("?connect_timeout=5");

    let runs = vec![
        Run {
            what: "hubspot private app to postgres",
            source: "hubspot",
            config: hs.config(),
            to: format!("postgres:{url}"),
            streams: "contacts,owners",
            succeeds: true,
        },
        Run {
            what: "hubspot oauth to sqlite",
            source: "hubspot",
            config: hs.oauth_config(),
            to: sqlite("hubspot.db"),
            streams: "contacts,deal_pipelines",
            succeeds: true,
        },
        Run {
            what: "mailchimp api key to jsonl",
            source: "mailchimp",
            config: mc.config(),
            to: format!("jsonl:{}", out.join("mailchimp").display()),
            streams: "lists,campaigns",
            succeeds: true,
        },
        Run {
            what: "mailchimp oauth to parquet",
            source: "mailchimp",
            config: mc.oauth_config(),
            to: format!("parquet:{}", out.join("parquet").display()),
            streams: "lists",
            succeeds: true,
        },
        Run {
            what: "sheets service account to sqlite",
            source: "google-sheets",
            config: gs.config(),
            to: sqlite("sheets.db"),
            streams: "",
            succeeds: true,
        },
        Run {
            what: "sheets oauth to postgres",
            source: "google-sheets",
            config: gs.oauth_config(),
            to: format!("postgres:{url}"),
            streams: "Orders",
            succeeds: true,
        },
        Run {
            what: "web to sqlite",
            source: "web",
            config: web.config(),
            to: sqlite("web.db"),
            streams: "products",
            succeeds: true,
        },
        Run {
            what: "hubspot wrong token",
            source: "hubspot",
            config: wrong_hs,
            to: sqlite("wrong.db"),
            streams: "contacts",
            succeeds: false,
        },
        Run {
            what: "mailchimp wrong key",
            source: "mailchimp",
            config: wrong_mc,
            to: sqlite("wrong.db"),
            streams: "lists",
            succeeds: false,
        },
        Run {
            what: "sheets wrong client secret",
            source: "google-sheets",
            config: wrong_gs,
            to: sqlite("wrong.db"),
            streams: "",
            succeeds: false,
        },
        Run {
            what: "postgres wrong password",
            source: "mailchimp",
            config: mc.config(),
            to: format!("postgres:{wrong_pg}"),
            streams: "lists",
            succeeds: false,
        },
    ];
    for r in runs {
        let what = r.what.to_string();
        let text = run(dir.path(), &out, r).await;
        assert_clean(&what, &text);
    }
    // The configs themselves are the only files that hold secrets; the data and the
    // cassettes do not.
    assert_clean("the synced data", &files_text(&out));
}
