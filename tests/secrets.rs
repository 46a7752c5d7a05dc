//! No secret from the config appears in stdout, in an error, or in a log line at TRACE level.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use intake::Secret;
use intake::protocol::run_source_with;
use intake::spec::parse_config;
use intake::{
    ConnectorSpec, Error, Page, PageStream, ReadRequest, Record, Result, Source, Stream,
    async_trait,
};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

const SECRET: &str = "sk_live_TOPSECRET_1234567890";

/// Config with a secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The API token.
    api_token: Secret,
    /// Fail check as if the token were rejected.
    #[serde(default)]
    reject: bool,
}

struct Items {
    config: Arc<Config>,
}

#[async_trait]
impl Stream for Items {
    fn name(&self) -> &str {
        "items"
    }
    async fn json_schema(&self) -> Result<Value> {
        Ok(json!({"type": "object", "properties": {"id": {"type": "integer"}}}))
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        tracing::trace!(config = ?self.config, ?request, "reading items");
        // The token is used (as a client would), never logged.
        let _authorization = format!("Bearer {}", self.config.api_token.expose_secret());
        futures::stream::iter([Record::from_value(&json!({"id": 1})).map(|r| Page::new(vec![r]))])
            .boxed()
    }
}

struct SecretSource;

#[async_trait]
impl Source for SecretSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<Config>()
    }
    async fn check(&self, config: &Value) -> Result<()> {
        let config: Config = parse_config(config)?;
        tracing::debug!(?config, "checking");
        if config.reject {
            return Err(Error::config(
                "the API rejected the token (401); create a new one under Settings -> API",
            ));
        }
        Ok(())
    }
    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        let config: Config = parse_config(config)?;
        tracing::trace!(?config, "building streams");
        Ok(vec![Arc::new(Items {
            config: Arc::new(config),
        })])
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_command_reveals_the_secret() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };
    let good = write("good.json", json!({"api_token": SECRET}));
    let rejected = write(
        "rejected.json",
        json!({"api_token": SECRET, "reject": true}),
    );
    let typo = write(
        "typo.json",
        json!({"api_token": SECRET, "api_tokn": SECRET}),
    );
    let wrong_type = write("wrong.json", json!({"api_token": [SECRET]}));
    let catalog = write(
        "catalog.json",
        serde_json::to_value(
            SecretSource
                .discover(&json!({"api_token": SECRET}))
                .await
                .unwrap()
                .configure_all(),
        )
        .unwrap(),
    );

    let mut stdout = Vec::new();
    let commands = [
        "spec".to_string(),
        format!("check --config {good}"),
        format!("check --config {rejected}"),
        format!("check --config {typo}"),
        format!("check --config {wrong_type}"),
        format!("discover --config {good}"),
        format!("read --config {good} --catalog {catalog}"),
    ];
    for cmd in &commands {
        run_source_with(
            &SecretSource,
            cmd.split_whitespace().map(String::from).collect(),
            &mut stdout,
        )
        .await;
    }
    // The engine path too.
    let out = tempfile::tempdir().unwrap();
    let report = intake::sync(SecretSource, json!({"api_token": SECRET}))
        .to(intake::destination::jsonl::JsonlDestination::new(
            out.path(),
        ))
        .run()
        .await
        .unwrap();
    let debug = format!("{report:?}");

    let stdout = String::from_utf8(stdout).unwrap();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        stdout.contains("\"status\":\"FAILED\""),
        "check with a rejected token must fail: {stdout}"
    );
    assert!(stdout.contains("api_tokn"), "the typo is named: {stdout}");
    assert!(
        logs.contains("reading items") && logs.contains("checking"),
        "tracing captured nothing: {logs}"
    );
    for (what, text) in [("stdout", &stdout), ("logs", &logs), ("report", &debug)] {
        assert!(!text.contains(SECRET), "the secret leaked into {what}");
        assert!(
            !text.contains("TOPSECRET"),
            "part of the secret leaked into {what}"
        );
    }
}
