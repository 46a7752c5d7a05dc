//! The standard acceptance suite: the checks every connector must pass, each reported as
//! passed, failed (with the reason) or skipped (with a reason).
//!
//! One file per family of checks: `connection` (spec, check, discover), `full_refresh`
//! (records and keys), `incremental` (cursors, changes, future state, resume), `limits`
//! (retries, rate limit, concurrency), `secrets`.

mod connection;
mod full_refresh;
mod incremental;
mod limits;
mod report;
mod secrets;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::Value;
use tracing::instrument::WithSubscriber;

use crate::catalog::ConfiguredCatalog;
use crate::error::{Error, Result};
use crate::http::Recording;
use crate::record::Record;
use crate::source::{EventSender, ReadOptions, Source, SourceEvent, Stream};
use crate::state::State;
use crate::testing::cassette::{Cassette, Replay};
use crate::testing::mock::{Fault, MockApi};

use limits::Declared;

pub use report::{AcceptanceReport, CheckResult, Outcome, checks};

type ChangeFn = Box<dyn Fn() -> BoxFuture<'static, Vec<(String, Value)>> + Send + Sync>;

/// The suite for one source and config; see [`acceptance`].
pub struct Acceptance<'a> {
    source: Arc<dyn Source>,
    config: Value,
    mock: Option<&'a MockApi>,
    /// The cassette to replay (or, with `INTAKE_RECORD` set, record), and its replay.
    cassette: Option<std::path::PathBuf>,
    /// Record the cassette whatever `INTAKE_RECORD` says.
    record: bool,
    replay: Option<Replay>,
    expected: BTreeMap<String, u64>,
    change: Option<ChangeFn>,
    max_concurrency: Option<u64>,
    /// The API's published rate limit, set on the mock the checks use.
    rate_limit: Option<(usize, std::time::Duration)>,
    /// What the source's streams declare (see [`Acceptance::adopt_declared_limits`]).
    declared: Declared,
    skips: BTreeMap<String, String>,
    results: Vec<CheckResult>,
    /// The state after the first incremental read, for the checks that build on it.
    first_state: Mutex<Option<State>>,
    read_timeout: std::time::Duration,
    /// Every log line the connector wrote during the suite.
    logs: Captured,
    /// The error messages the connector returned to the checks.
    messages: Mutex<Vec<String>>,
    dispatch: tracing::Dispatch,
}

/// The standard acceptance suite for `source` with a config that works against the mock.
///
/// ```no_run
/// # async fn demo(source: impl intake::Source + 'static) {
/// use intake::testing::{MockApi, acceptance};
/// let api = MockApi::start().await;
/// // ... mount the connector's endpoints on `api` ...
/// acceptance(source, serde_json::json!({"api_token": "good-token", "base_url": api.uri()}))
///     .mock(&api)
///     .run()
///     .await
///     .assert_all_passed();
/// # }
/// ```
pub fn acceptance<S: Source + 'static>(source: S, config: Value) -> Acceptance<'static> {
    let logs = Captured::default();
    Acceptance {
        source: Arc::new(source),
        config,
        mock: None,
        cassette: None,
        record: false,
        replay: None,
        expected: BTreeMap::new(),
        change: None,
        max_concurrency: None,
        rate_limit: None,
        declared: Declared::default(),
        skips: BTreeMap::new(),
        results: Vec::new(),
        first_state: Mutex::new(None),
        read_timeout: std::time::Duration::from_secs(300),
        dispatch: capture(&logs),
        logs,
        messages: Mutex::new(Vec::new()),
    }
}

/// A subscriber that writes every event, at every level, into `logs`.
fn capture(logs: &Captured) -> tracing::Dispatch {
    let writer = logs.clone();
    tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
}

/// Records per stream, in the order read, with the checkpoints between them.
#[derive(Default)]
struct Read {
    /// (stream, record) in event order.
    records: Vec<(String, Record)>,
    /// The partition each record came from, aligned with `records` (`None` when the source
    /// did not say).
    partitions: Vec<Option<Arc<Value>>>,
    /// (records emitted before it, stream, state) in event order.
    checkpoints: Vec<(usize, String, Value)>,
}

impl Read {
    fn of(&self, stream: &str) -> Vec<&Record> {
        self.records
            .iter()
            .filter(|(s, _)| s == stream)
            .map(|(_, r)| r)
            .collect()
    }

    /// A stream's records with the partition each came from.
    fn of_partitioned(&self, stream: &str) -> Vec<(Option<&Value>, &Record)> {
        self.records
            .iter()
            .zip(&self.partitions)
            .filter(|((s, _), _)| s == stream)
            .map(|((_, r), p)| (p.as_deref(), r))
            .collect()
    }

    fn state(&self) -> State {
        let mut state = State::new();
        for (_, stream, blob) in &self.checkpoints {
            state.set_stream(crate::StreamDescriptor::new(stream.as_str()), blob.clone());
        }
        state
    }
}

/// A record's identity: its primary key, or its whole JSON when it has none.
fn identity(record: &Record, key: &[Vec<String>]) -> String {
    match record.primary_key(key) {
        Ok(Some(k)) => k.to_string(),
        _ => record.json().to_string(),
    }
}

impl<'a> Acceptance<'a> {
    /// The mock the config points at: enables the checks that inject 401, 403, 429 and 5xx
    /// answers and read the mock's rate-limit and concurrency counters.
    pub fn mock<'b>(self, mock: &'b MockApi) -> Acceptance<'b> {
        Acceptance {
            source: self.source,
            config: self.config,
            mock: Some(mock),
            cassette: self.cassette,
            record: self.record,
            replay: self.replay,
            expected: self.expected,
            change: self.change,
            max_concurrency: self.max_concurrency,
            rate_limit: self.rate_limit,
            declared: self.declared,
            skips: self.skips,
            results: self.results,
            first_state: self.first_state,
            read_timeout: self.read_timeout,
            logs: self.logs,
            messages: self.messages,
            dispatch: self.dispatch,
        }
    }

    /// Runs the suite against a recorded cassette (see [`crate::testing::Cassette`]) instead
    /// of the API: its replay is the mock (faults, limits and log included), and every
    /// http(s) URL in the config is pointed at it. With `INTAKE_RECORD` set (to anything),
    /// the suite instead runs against what the config points at and records the exchanges
    /// into `dir`, secrets replaced; no fault is injected while recording.
    pub fn cassette(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cassette = Some(dir.into());
        self
    }

    /// Records the cassette into `dir` (as [`Acceptance::cassette`] does with
    /// `INTAKE_RECORD` set): for a test that records and replays in one run.
    pub fn record_cassette(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cassette = Some(dir.into());
        self.record = true;
        self
    }

    /// The mock the checks use: the cassette's replay, or the one given.
    fn api(&self) -> Option<&MockApi> {
        self.replay.as_ref().map(Replay::api).or(self.mock)
    }

    /// How many records a full refresh of `stream` must read.
    pub fn expect_records(mut self, stream: &str, count: u64) -> Self {
        self.expected.insert(stream.to_string(), count);
        self
    }

    /// Changes the API's data between the two incremental reads (touch a record, add one)
    /// and returns the `(stream, primary key)` of the records the second read must contain.
    /// A single-field key may be given bare (`json!("42")`). Replaying a cassette, the
    /// change is still made (on a live mock nobody reads; the recording's second read holds
    /// the changed records) and URLs in the keys are pointed at the replay, like the config's.
    pub fn change_between_reads<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<(String, Value)>> + Send + 'static,
    {
        self.change = Some(Box::new(move || Box::pin(f())));
        self
    }

    /// The most requests the connector may have in flight at once (its declared cap); checked
    /// against the mock, which should [`MockApi::hold`] answers so requests overlap.
    pub fn max_concurrency(mut self, n: u64) -> Self {
        self.max_concurrency = Some(n);
        self
    }

    /// The API's published rate limit (`limit` requests per `window`), set on the mock the
    /// checks use: for a cassette's replay, which knows no limit of its own, when the source
    /// paces itself from its config rather than declaring a quota.
    pub fn rate_limit(mut self, limit: usize, window: std::time::Duration) -> Self {
        self.rate_limit = Some((limit, window));
        self
    }

    /// The longest any one call into the connector (a check, a discover, a read) may take
    /// before its check fails: a hung connector must not hang the test. Default 5 minutes.
    /// The suite runs on real time: do not pause the clock.
    pub fn timeout(mut self, limit: std::time::Duration) -> Self {
        self.read_timeout = limit;
        self
    }

    /// Skips a check, stating why (`"the API has no incremental endpoint"`).
    pub fn skip(mut self, check: &str, reason: &str) -> Self {
        self.skips.insert(check.to_string(), reason.to_string());
        self
    }

    /// Keeps an error message the connector returned, for the secrets check.
    fn note_message(&self, message: String) {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    /// Skips the checks that need an HTTP API to fail, limit or slow down (the 401 and 403
    /// checks, retries, rate limit, concurrency), stating why: for a source that reads no
    /// HTTP API (a file, a database, memory).
    pub fn without_http(self, reason: &str) -> Self {
        [
            checks::CHECK_UNAUTHORIZED,
            checks::CHECK_FORBIDDEN,
            checks::RETRIES,
            checks::RATE_LIMIT,
            checks::CONCURRENCY,
        ]
        .into_iter()
        .fold(self, |a, check| a.skip(check, reason))
    }

    fn record(&mut self, name: &'static str, outcome: Outcome) {
        self.results.push(CheckResult { name, outcome });
    }

    /// Runs a call into the connector with its log lines captured and the time it may take
    /// bounded.
    async fn bounded<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        self.restart_window();
        match tokio::time::timeout(self.read_timeout, self.traced(f)).await {
            Ok(result) => result,
            Err(_) => Err(Error::system(format!(
                "the connector did not answer within {:?} (Acceptance::timeout)",
                self.read_timeout
            ))),
        }
    }

    /// Each call into the connector builds its own client and limiter: the mock's rate
    /// limit holds each call to the quota on its own.
    fn restart_window(&self) {
        if let Some(mock) = self.api() {
            mock.restart_window();
        }
    }

    /// Runs a call into the connector with its log lines captured.
    fn traced<'f, T>(&self, f: impl Future<Output = T> + 'f) -> impl Future<Output = T> + 'f {
        f.with_subscriber(self.dispatch.clone())
    }

    fn finish<T>(
        &mut self,
        name: &'static str,
        result: std::result::Result<(T, String), Outcome>,
    ) -> Option<T> {
        match result {
            Ok((value, detail)) => {
                self.record(name, Outcome::Passed(detail));
                Some(value)
            }
            Err(outcome) => {
                self.record(name, outcome);
                None
            }
        }
    }

    /// Runs every check.
    pub async fn run(mut self) -> AcceptanceReport {
        let recording = match self.start_cassette().await {
            Ok(recording) => recording,
            Err(outcome) => {
                self.record(checks::CASSETTE, outcome);
                None
            }
        };
        self.run_checks().await;
        if self.cassette.is_some() {
            let outcome = self.finish_cassette(recording);
            self.record(checks::CASSETTE, outcome);
        }
        AcceptanceReport {
            checks: self.results,
        }
    }

    /// Loads and serves the cassette, or starts recording it.
    async fn start_cassette(&mut self) -> std::result::Result<Option<Recording>, Outcome> {
        let Some(dir) = self.cassette.clone() else {
            return Ok(None);
        };
        if self.record
            || std::env::var_os(crate::http::record::RECORD_ENV).is_some_and(|v| !v.is_empty())
        {
            // Recording: the real API (or a sandbox standing in for it) answers; nothing is
            // injected into what is recorded.
            self.mock = None;
            self.record = true;
            let spec = self.source.spec();
            let origins = url_origins(&self.config);
            let recording = match origins.as_slice() {
                [origin] => Recording::start_for_origin(&dir, &spec, &self.config, origin),
                _ => Recording::start(&dir, &spec, &self.config),
            };
            return recording
                .map(Some)
                .map_err(|e| Outcome::Failed(e.to_string()));
        }
        let cassette = Cassette::load(&dir).map_err(|e| Outcome::Failed(e.to_string()))?;
        let replay = cassette.replay().await;
        self.config = replay.point_config(&self.config);
        self.replay = Some(replay);
        Ok(None)
    }

    /// The cassette's outcome: what was recorded, or whether every request was replayed.
    fn finish_cassette(&self, recording: Option<Recording>) -> Outcome {
        if let Some(recording) = recording {
            let dir = recording.dir().display().to_string();
            return match recording.finish() {
                Ok(n) => Outcome::Passed(format!("recorded {n} exchange(s) into {dir}")),
                Err(e) => Outcome::Failed(e.to_string()),
            };
        }
        let Some(replay) = &self.replay else {
            return Outcome::Failed("the cassette could not be replayed".into());
        };
        match replay.unmatched().as_slice() {
            [] => Outcome::Passed(format!(
                "{} request(s) replayed, every one matched a recorded exchange",
                replay.requests()
            )),
            unmatched => Outcome::Failed(format!(
                "{} request(s) match no recorded exchange (record the cassette again with INTAKE_RECORD set): {}",
                unmatched.len(),
                unmatched
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }

    async fn run_checks(&mut self) {
        // Runs a check unless the connector skipped it, and records its outcome.
        macro_rules! step {
            ($name:expr, $call:expr) => {{
                match self.skips.get($name).cloned() {
                    Some(reason) => {
                        self.record($name, Outcome::Skipped(reason));
                        None
                    }
                    None => {
                        let result = $call.await;
                        self.finish($name, result)
                    }
                }
            }};
        }
        self.adopt_declared_limits().await;
        step!(checks::SPEC, self.check_spec());
        step!(checks::CHECK, self.check_ok());
        step!(
            checks::CHECK_UNAUTHORIZED,
            self.off_the_record(self.check_rejected(Fault::Unauthorized, 401))
        );
        step!(
            checks::CHECK_FORBIDDEN,
            self.off_the_record(self.check_rejected(Fault::Forbidden, 403))
        );
        let Some(catalog) = step!(checks::DISCOVER, self.check_discover()) else {
            for name in &checks::ALL[5..checks::ALL.len() - 1] {
                self.record(name, Outcome::Unchecked("discover failed".into()));
            }
            step!(checks::SECRETS, self.check_secrets(None));
            return;
        };
        let full = step!(checks::FULL_REFRESH, self.check_full_refresh(&catalog));
        match &full {
            Some(read) => {
                step!(
                    checks::PRIMARY_KEYS,
                    self.check_primary_keys(&catalog, read)
                );
            }
            None => self.record(
                checks::PRIMARY_KEYS,
                Outcome::Unchecked("the full refresh failed".into()),
            ),
        }
        let state = step!(checks::INCREMENTAL, self.check_incremental(&catalog));
        step!(
            checks::INCREMENTAL_CHANGES,
            self.check_changes(&catalog, state.as_ref())
        );
        // The future-state check needs the first read's cursors even when the incremental
        // check failed.
        let first_state = self
            .first_state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        step!(
            checks::FUTURE_STATE,
            self.check_future(&catalog, first_state.as_ref())
        );
        step!(checks::RESUME, self.check_resume(&catalog));
        step!(
            checks::RETRIES,
            self.off_the_record(self.check_retries(&catalog, full.as_ref()))
        );
        drop(full);
        step!(
            checks::RATE_LIMIT,
            self.off_the_record(self.check_rate_limit())
        );
        step!(
            checks::CONCURRENCY,
            self.off_the_record(self.check_concurrency(&catalog))
        );
        step!(checks::SECRETS, self.check_secrets(Some(&catalog)));
    }

    async fn read(
        &self,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: ReadOptions,
    ) -> Result<Read> {
        self.restart_window();
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let collect = async {
            let mut read = Read::default();
            while let Some(event) = rx.recv().await {
                match event {
                    SourceEvent::Records(batch) => {
                        let name = batch.stream.name.clone();
                        read.partitions
                            .extend(std::iter::repeat_n(batch.partition.clone(), batch.len()));
                        read.records
                            .extend(batch.records.into_iter().map(|r| (name.clone(), r)));
                    }
                    SourceEvent::Checkpoint(cp) => {
                        read.checkpoints.push((
                            read.records.len(),
                            cp.stream.name.clone(),
                            cp.state,
                        ));
                    }
                    _ => {}
                }
            }
            read
        };
        let reading =
            self.source
                .read(&self.config, catalog, state, &options, EventSender::new(tx));
        let both = async { tokio::join!(self.traced(reading), collect) };
        match tokio::time::timeout(self.read_timeout, both).await {
            Ok((result, read)) => result.map(|()| read),
            Err(_) => Err(Error::system(format!(
                "the read did not finish within {:?} (Acceptance::timeout)",
                self.read_timeout
            ))),
        }
    }

    /// Runs a check the recording of a cassette does not run (it injects faults or limits):
    /// replaying, the replay is rewound afterwards, so the checks after it are answered as
    /// the recording was, whichever of these checks ran.
    async fn off_the_record<T>(&self, check: impl Future<Output = T>) -> T {
        let position = self.replay.as_ref().map(Replay::position);
        let out = check.await;
        if let (Some(replay), Some(position)) = (&self.replay, position) {
            replay.rewind(&position);
        }
        out
    }

    /// Why a check that needs the mock did not run. While a cassette is recorded the API is
    /// real (or stands in for it), so nothing is injected: the replay runs these checks.
    fn no_mock(&self) -> Outcome {
        if self.record && self.cassette.is_some() {
            return Outcome::NotApplicable(
                "recording a cassette: no fault is injected into a real API; the replay runs this check".into(),
            );
        }
        Outcome::Unchecked("no mock API given (Acceptance::mock)".into())
    }

    async fn streams(&self) -> std::result::Result<BTreeMap<String, Arc<dyn Stream>>, Outcome> {
        let streams = self
            .bounded(self.source.streams(&self.config))
            .await
            .map_err(|e| Outcome::Failed(format!("streams: {e}")))?;
        Ok(streams
            .into_iter()
            .map(|s| (s.name().to_string(), s))
            .collect())
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A scratch directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "intake-acceptance-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    fn write(&self, name: &str, text: &str) -> Result<std::path::PathBuf> {
        let path = self.0.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The distinct origins of the http(s) URLs in a config.
fn url_origins(config: &Value) -> Vec<String> {
    let mut strings = Vec::new();
    crate::http::secret_forms::collect_strings(Some(config), &mut strings);
    let mut origins: Vec<String> = strings
        .iter()
        .filter_map(|s| url::Url::parse(s).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    origins
}
