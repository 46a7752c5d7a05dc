//! Property tests over config parsing, for every connector: a valid config (a source's pointed
//! at its sandbox; a destination's at a temporary folder or a PostgreSQL server with a password)
//! with random fields replaced by random values — zero, negative and huge numbers, wrong types,
//! garbage strings, unknown keys — is checked (and, for a destination, written to). Every case
//! ends in success or a typed error within a time limit: never a panic, a hang, or a secret in
//! the error message.

use std::sync::Arc;
use std::time::Duration;

use intake::{PrimaryKey, Source};
use intake_source_google_sheets::SheetsSource;
use intake_source_google_sheets::mock as sheets;
use intake_source_hubspot::HubSpotSource;
use intake_source_hubspot::mock as hubspot;
use intake_source_mailchimp::MailchimpSource;
use intake_source_mailchimp::mock as mailchimp;
use intake_source_web::WebSource;
use intake_source_web::mock::FixtureSite;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// A value a user (or a template gone wrong) might put in any field.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        5 => prop_oneof![
            Just(0i64),
            Just(-1),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(u32::MAX as i64),
            Just(u32::MAX as i64 + 1),
            any::<i64>(),
        ]
        .prop_map(|n| json!(n)),
        3 => prop_oneof![
            Just(1e-300f64),
            Just(1e300),
            Just(-0.5),
            Just(f64::MIN_POSITIVE),
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
        ]
        .prop_map(|f| json!(f)),
        2 => prop_oneof![
            Just(String::new()),
            Just("((".to_string()),
            Just("2024-13-45T99:99:99Z".to_string()),
            Just("-us".to_string()),
            ".{0,24}",
        ]
        .prop_map(Value::String),
        1 => prop::collection::vec(".{0,6}".prop_map(Value::String), 0..3).prop_map(Value::Array),
        1 => Just(json!({})),
    ]
}

/// Where a connector talks to or writes to stays put: a random host or path would only test
/// the machine (its DNS, its file system), not the connector.
const WHERE: &[&str] = &["url", "host", "path", "start_urls", "sitemap_urls"];

fn exempt(pointer: &str) -> bool {
    WHERE.iter().any(|w| pointer.contains(w))
}

/// JSON pointers of a config's leaves.
fn leaves(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                leaves(x, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                leaves(x, &format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at.to_string()),
    }
}

/// One random change to a config: some leaves or declared settings replaced, maybe a key added.
#[derive(Debug, Clone)]
struct Mangling {
    edits: Vec<(usize, Value)>,
    extra: Option<(String, Value)>,
}

fn mangling() -> impl Strategy<Value = Mangling> {
    (
        prop::collection::vec((any::<usize>(), hostile_value()), 1..3),
        prop_oneof![
            7 => Just(None),
            1 => ("[a-z_]{1,10}", hostile_value()).prop_map(Some),
        ],
    )
        .prop_map(|(edits, extra)| Mangling { edits, extra })
}

impl Mangling {
    fn apply(&self, config: &Value, spec: &Value) -> Value {
        let mut c = config.clone();
        let mut pointers = Vec::new();
        leaves(&c, "", &mut pointers);
        // Every top-level setting the spec declares, set or not (rate limits, sizes, timeouts).
        if let Some(props) = spec["properties"].as_object() {
            for name in props.keys() {
                let p = format!("/{name}");
                if !pointers.contains(&p) && name != "credentials" {
                    pointers.push(p);
                }
            }
        }
        pointers.retain(|p| !exempt(p));
        for (i, value) in &self.edits {
            if pointers.is_empty() {
                break;
            }
            let p = &pointers[i % pointers.len()];
            if let Some(slot) = c.pointer_mut(p) {
                *slot = value.clone();
            } else if let Some(m) = c.as_object_mut() {
                m.insert(p[1..].to_string(), value.clone());
            }
        }
        if let (Some((k, v)), Some(m)) = (&self.extra, c.as_object_mut())
            && !exempt(k)
        {
            m.insert(k.clone(), v.clone());
        }
        c
    }
}

/// Runs `cases` cases: connector `which` (of `n`) with its config mangled; `case` says how it
/// ended.
fn run_mangled(cases: u32, n: usize, case: impl Fn(usize, &Mangling) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(0..n, mangling()), |(which, m)| case(which, &m))
        .unwrap();
}

#[test]
fn any_mangled_config_is_checked_without_a_panic_or_a_hang() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (hs, mc, gs, web) = rt.block_on(async {
        (
            hubspot::Sandbox::start(hubspot::SandboxSpec::small()).await,
            mailchimp::Sandbox::start(mailchimp::SandboxSpec::default()).await,
            sheets::Sandbox::start(sheets::spreadsheet(20), 100_000).await,
            FixtureSite::start().await,
        )
    });
    let mut web_config = web.config();
    web_config["timeout_seconds"] = json!(2);
    let sources: Vec<(&str, Arc<dyn Source>, Value)> = vec![
        ("hubspot", Arc::new(HubSpotSource::new()), hs.config()),
        (
            "hubspot oauth",
            Arc::new(HubSpotSource::new()),
            hs.oauth_config(),
        ),
        ("mailchimp", Arc::new(MailchimpSource::new()), mc.config()),
        ("sheets", Arc::new(SheetsSource::new()), gs.config()),
        (
            "sheets oauth",
            Arc::new(SheetsSource::new()),
            gs.oauth_config(),
        ),
        ("web", Arc::new(WebSource::new()), web_config),
    ];
    let secrets = [
        hubspot::TOKEN,
        hubspot::CLIENT_SECRET,
        hubspot::REFRESH_TOKEN,
        mailchimp::APIKEY,
        sheets::CLIENT_SECRET,
        sheets::REFRESH_TOKEN,
    ];
    run_mangled(192, sources.len(), |which, m| {
        let (name, source, config) = &sources[which];
        let config = m.apply(config, &source.spec().connection_specification);
        let outcome = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(90), source.check(&config)).await
        });
        let Ok(result) = outcome else {
            return Err(TestCaseError::fail(format!(
                "{name}: check hung on {config}"
            )));
        };
        if let Err(e) = result {
            let text = format!("{} {:?}", e.chain(), e);
            for s in secrets {
                prop_assert!(
                    !text.contains(s),
                    "{name}: the error holds a secret: {text}"
                );
            }
        }
        Ok(())
    });
}

/// Three records in one stream, for a destination to write.
struct Items;

#[intake::async_trait]
impl intake::Stream for Items {
    fn name(&self) -> &str {
        "items"
    }
    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(json!({"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"},
            "at": {"type": "string", "format": "date-time"}}}))
    }
    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }
    fn read(&self, _: intake::ReadRequest) -> intake::PageStream<'_> {
        use futures::StreamExt;
        let records: intake::Result<Vec<intake::Record>> = (1..=3)
            .map(|i| {
                intake::Record::from_value(
                    &json!({"id": i, "name": format!("item {i}"), "at": "2024-05-01T10:00:00Z"}),
                )
            })
            .collect();
        futures::stream::iter([records.map(intake::Page::new)]).boxed()
    }
}

struct ItemsSource;

#[intake::async_trait]
impl Source for ItemsSource {
    fn spec(&self) -> intake::ConnectorSpec {
        intake::ConnectorSpec::from_schema(json!({"type": "object"}))
    }
    async fn check(&self, _: &Value) -> intake::Result<()> {
        Ok(())
    }
    async fn streams(&self, _: &Value) -> intake::Result<Vec<Arc<dyn intake::Stream>>> {
        Ok(vec![Arc::new(Items)])
    }
}

#[test]
fn any_mangled_destination_config_is_checked_and_written_without_a_panic_or_a_hang() {
    use intake::Destination;
    use intake_destination_parquet::ParquetDestination;
    use intake_destination_postgres::PostgresDestination;
    use intake_destination_sqlite::SqliteDestination;

    #[path = "../../connectors/destination-postgres/tests/support/mod.rs"]
    mod postgres;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const PASSWORD: &str = "pg-hostile-SECRET-91";
    let pg = postgres::TestPostgres::start_with_password(PASSWORD);
    let url = rt.block_on(pg.database("intake_hostile"));
    let parsed = url::Url::parse(&url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let destinations: Vec<(&str, Arc<dyn Destination>, Value)> = vec![
        (
            "sqlite",
            Arc::new(SqliteDestination::default()),
            json!({"path": dir.path().join("h.db"), "journal": "wal", "synchronous": "normal"}),
        ),
        (
            "parquet",
            Arc::new(ParquetDestination::default()),
            json!({"destination_path": dir.path().join("parquet"), "row_group_rows": 1000}),
        ),
        (
            "postgres",
            Arc::new(PostgresDestination::default()),
            json!({"host": "127.0.0.1", "port": parsed.port().unwrap(), "user": "postgres",
                   "password": PASSWORD, "database": "intake_hostile", "schema": "public"}),
        ),
    ];
    run_mangled(128, destinations.len(), |which, m| {
        let (name, destination, config) = &destinations[which];
        let config = m.apply(config, &destination.spec().connection_specification);
        let outcome = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(90), async {
                destination.check(&config).await?;
                intake::sync(ItemsSource, json!({}))
                    .to(destination.clone())
                    .destination_config(config.clone())
                    .run()
                    .await
                    .map(|_| ())
            })
            .await
        });
        let Ok(result) = outcome else {
            return Err(TestCaseError::fail(format!("{name}: hung on {config}")));
        };
        if let Err(e) = result {
            let text = format!("{} {:?}", e.chain(), e);
            prop_assert!(
                !text.contains(PASSWORD),
                "{name}: the error holds the password: {text}"
            );
        }
        Ok(())
    });
}
