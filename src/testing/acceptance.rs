//! The standard acceptance suite: the checks every connector must pass, each reported as
//! passed, failed (with the reason) or skipped (with a reason).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber;

use super::mock::{Fault, MockApi};
use crate::catalog::{Catalog, ConfiguredCatalog, DestinationSyncMode, SyncMode};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::source::{EventSender, ReadOptions, Source, SourceEvent, Stream};
use crate::state::{Cursor, CursorValue, State, StreamState};

/// The checks, by name.
pub mod checks {
    /// The spec is a valid draft-07 JSON Schema and every secret-looking field is marked secret.
    pub const SPEC: &str = "spec";
    /// `check` succeeds with the good config.
    pub const CHECK: &str = "check";
    /// `check` fails with a config error when the API answers 401.
    pub const CHECK_UNAUTHORIZED: &str = "check_unauthorized";
    /// `check` fails with a config error when the API answers 403.
    pub const CHECK_FORBIDDEN: &str = "check_forbidden";
    /// `discover` returns streams with valid schemas whose properties name the primary key and
    /// cursor fields.
    pub const DISCOVER: &str = "discover";
    /// A full refresh reads every record exactly once, each matching its stream's schema.
    pub const FULL_REFRESH: &str = "full_refresh";
    /// Primary keys are present and unique within a full refresh.
    pub const PRIMARY_KEYS: &str = "primary_keys";
    /// A second incremental read returns only records at or after the first one's cursor.
    pub const INCREMENTAL: &str = "incremental";
    /// Records changed between two incremental reads are in the second one.
    pub const INCREMENTAL_CHANGES: &str = "incremental_changes";
    /// A read from a state far in the future returns no records.
    pub const FUTURE_STATE: &str = "future_state";
    /// A read resumed from a mid-sync checkpoint returns the rest, nothing lost.
    pub const RESUME: &str = "resume";
    /// 429 and 5xx answers are retried to success.
    pub const RETRIES: &str = "retries";
    /// The mock's rate limit is never exceeded.
    pub const RATE_LIMIT: &str = "rate_limit";
    /// The declared concurrency cap is never exceeded.
    pub const CONCURRENCY: &str = "concurrency";
    /// No secret from the config appears in any message or log line.
    pub const SECRETS: &str = "secrets";

    /// Every check, in the order the suite runs them.
    pub const ALL: &[&str] = &[
        SPEC,
        CHECK,
        CHECK_UNAUTHORIZED,
        CHECK_FORBIDDEN,
        DISCOVER,
        FULL_REFRESH,
        PRIMARY_KEYS,
        INCREMENTAL,
        INCREMENTAL_CHANGES,
        FUTURE_STATE,
        RESUME,
        RETRIES,
        RATE_LIMIT,
        CONCURRENCY,
        SECRETS,
    ];
}

/// How one check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It passed; what it saw.
    Passed(String),
    /// It failed; why.
    Failed(String),
    /// It did not run; why.
    Skipped(String),
}

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The check's name (see [`checks`]).
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// What the suite found.
#[derive(Debug, Clone, Default)]
pub struct AcceptanceReport {
    /// Every check, in the order they ran.
    pub checks: Vec<CheckResult>,
}

impl AcceptanceReport {
    /// The outcome of one check.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .collect()
    }

    /// Whether no check failed.
    pub fn all_passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// Panics with the whole report when a check failed (skips are allowed: each states why).
    #[track_caller]
    pub fn assert_all_passed(&self) {
        assert!(self.all_passed(), "acceptance suite failed:\n{self}");
    }
}

impl fmt::Display for AcceptanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let (tag, text) = match &c.outcome {
                Outcome::Passed(t) => ("pass", t),
                Outcome::Failed(t) => ("FAIL", t),
                Outcome::Skipped(t) => ("skip", t),
            };
            writeln!(f, "{tag} {:<20} {text}", c.name)?;
        }
        Ok(())
    }
}

type ChangeFn = Box<dyn Fn() -> BoxFuture<'static, Vec<(String, Value)>> + Send + Sync>;

/// The suite for one source and config; see [`acceptance`].
pub struct Acceptance<'a> {
    source: Arc<dyn Source>,
    config: Value,
    mock: Option<&'a MockApi>,
    expected: BTreeMap<String, u64>,
    change: Option<ChangeFn>,
    max_concurrency: Option<u64>,
    skips: BTreeMap<String, String>,
    results: Vec<CheckResult>,
    /// The state after the first incremental read, for the checks that build on it.
    first_state: Mutex<Option<State>>,
    read_timeout: std::time::Duration,
    /// Every log line the connector wrote during the suite.
    logs: Captured,
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
        expected: BTreeMap::new(),
        change: None,
        max_concurrency: None,
        skips: BTreeMap::new(),
        results: Vec::new(),
        first_state: Mutex::new(None),
        read_timeout: std::time::Duration::from_secs(300),
        dispatch: capture(&logs),
        logs,
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
            expected: self.expected,
            change: self.change,
            max_concurrency: self.max_concurrency,
            skips: self.skips,
            results: self.results,
            first_state: self.first_state,
            read_timeout: self.read_timeout,
            logs: self.logs,
            dispatch: self.dispatch,
        }
    }

    /// How many records a full refresh of `stream` must read.
    pub fn expect_records(mut self, stream: &str, count: u64) -> Self {
        self.expected.insert(stream.to_string(), count);
        self
    }

    /// Changes the API's data between the two incremental reads (touch a record, add one)
    /// and returns the `(stream, primary key)` of the records the second read must contain.
    /// A single-field key may be given bare (`json!("42")`).
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

    fn record(&mut self, name: &'static str, outcome: Outcome) {
        self.results.push(CheckResult { name, outcome });
    }

    /// Runs a call into the connector with its log lines captured and the time it may take
    /// bounded.
    async fn bounded<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.read_timeout, self.traced(f)).await {
            Ok(result) => result,
            Err(_) => Err(Error::system(format!(
                "the connector did not answer within {:?} (Acceptance::timeout)",
                self.read_timeout
            ))),
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
        step!(checks::SPEC, self.check_spec());
        step!(checks::CHECK, self.check_ok());
        step!(
            checks::CHECK_UNAUTHORIZED,
            self.check_rejected(Fault::Unauthorized, 401)
        );
        step!(
            checks::CHECK_FORBIDDEN,
            self.check_rejected(Fault::Forbidden, 403)
        );
        let Some(catalog) = step!(checks::DISCOVER, self.check_discover()) else {
            for name in &checks::ALL[5..checks::ALL.len() - 1] {
                self.record(name, Outcome::Skipped("discover failed".into()));
            }
            step!(checks::SECRETS, self.check_secrets(None));
            return AcceptanceReport {
                checks: self.results,
            };
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
                Outcome::Skipped("the full refresh failed".into()),
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
        drop(full);
        step!(checks::RETRIES, self.check_retries(&catalog));
        step!(checks::RATE_LIMIT, self.check_rate_limit());
        step!(checks::CONCURRENCY, self.check_concurrency());
        step!(checks::SECRETS, self.check_secrets(Some(&catalog)));
        AcceptanceReport {
            checks: self.results,
        }
    }

    async fn read(
        &self,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: ReadOptions,
    ) -> Result<Read> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let collect = async {
            let mut read = Read::default();
            while let Some(event) = rx.recv().await {
                match event {
                    SourceEvent::Records(batch) => {
                        let name = batch.stream.name.clone();
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

    async fn check_spec(&self) -> std::result::Result<((), String), Outcome> {
        let spec = self.source.spec();
        let schema = &spec.connection_specification;
        if let Err(e) = jsonschema::draft7::meta::validate(schema) {
            return Err(Outcome::Failed(format!(
                "the spec is not a draft-07 JSON Schema: {e}"
            )));
        }
        if schema.get("type") != Some(&json!("object")) {
            return Err(Outcome::Failed(
                "the spec's schema is not an object schema".into(),
            ));
        }
        let marked: HashSet<String> = spec.secret_fields().into_iter().collect();
        let mut unmarked = Vec::new();
        secret_looking(schema, "", &mut |pointer| {
            if !marked.contains(pointer) {
                unmarked.push(pointer.to_string());
            }
        });
        if !unmarked.is_empty() {
            return Err(Outcome::Failed(format!(
                "fields that look secret are not marked airbyte_secret: {} (use #[schemars(schema_with = \"intake::spec::secret\")] on a SecretString)",
                unmarked.join(", ")
            )));
        }
        Ok((
            (),
            format!("draft-07; {} secret field(s) marked", marked.len()),
        ))
    }

    async fn check_ok(&self) -> std::result::Result<((), String), Outcome> {
        self.bounded(self.source.check(&self.config))
            .await
            .map(|()| ((), "the good config checks".into()))
            .map_err(|e| Outcome::Failed(format!("check failed with the good config: {e}")))
    }

    async fn check_rejected(
        &self,
        fault: Fault,
        status: u16,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.mock else {
            return Err(no_mock());
        };
        let _guard = mock.inject_always(fault);
        match self.bounded(self.source.check(&self.config)).await {
            Err(e) if e.is_config() => Ok((
                (),
                format!("HTTP {status} -> config error: {}", e.message()),
            )),
            Err(e) => Err(Outcome::Failed(format!(
                "HTTP {status} gave a {:?} error, not a config error: {e}",
                e.failure_type()
            ))),
            Ok(()) => Err(Outcome::Failed(format!(
                "check passed although the API answered {status}"
            ))),
        }
    }

    async fn check_discover(&self) -> std::result::Result<(Catalog, String), Outcome> {
        let catalog = self
            .bounded(self.source.discover(&self.config))
            .await
            .map_err(|e| Outcome::Failed(format!("discover failed: {e}")))?;
        if catalog.streams.is_empty() {
            return Err(Outcome::Failed("discover returned no streams".into()));
        }
        let mut problems = Vec::new();
        for s in &catalog.streams {
            if let Err(e) = jsonschema::validator_for(&s.json_schema) {
                problems.push(format!("{}: invalid JSON Schema: {e}", s.name));
                continue;
            }
            let Some(props) = s.json_schema.get("properties").and_then(Value::as_object) else {
                problems.push(format!(
                    "{}: the schema has no top-level properties",
                    s.name
                ));
                continue;
            };
            for key in s.source_defined_primary_key.iter().flatten() {
                if let Some(first) = key.first()
                    && !props.contains_key(first)
                {
                    problems.push(format!(
                        "{}: primary key field \"{first}\" is not in the schema",
                        s.name
                    ));
                }
            }
            if let Some(first) = s.default_cursor_field.as_ref().and_then(|c| c.first())
                && !props.contains_key(first)
            {
                problems.push(format!(
                    "{}: cursor field \"{first}\" is not in the schema",
                    s.name
                ));
            }
            if s.supports_incremental() && s.default_cursor_field.is_none() {
                problems.push(format!(
                    "{}: incremental without a default cursor field",
                    s.name
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        let detail = format!("{} stream(s)", catalog.streams.len());
        Ok((catalog, detail))
    }

    async fn check_full_refresh(
        &self,
        catalog: &Catalog,
    ) -> std::result::Result<(Read, String), Outcome> {
        let configured = full_refresh(catalog);
        let read = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the full refresh failed: {e}")))?;
        let mut problems = Vec::new();
        let mut summary = Vec::new();
        for s in &catalog.streams {
            let records = read.of(&s.name);
            summary.push(format!("{} {}", s.name, records.len()));
            match jsonschema::validator_for(&s.json_schema) {
                Ok(validator) => {
                    let mut bad = 0;
                    let mut first = None;
                    for r in &records {
                        let value = r.to_value().unwrap_or(Value::Null);
                        if let Some(e) = validator.iter_errors(&value).next() {
                            bad += 1;
                            first.get_or_insert_with(|| format!("{e} at {}", e.instance_path()));
                        }
                    }
                    if let Some(first) = first {
                        problems.push(format!(
                            "{}: {bad} record(s) do not match the schema, first: {first}",
                            s.name
                        ));
                    }
                }
                Err(e) => problems.push(format!("{}: invalid schema: {e}", s.name)),
            }
            let key = s.source_defined_primary_key.clone().unwrap_or_default();
            let distinct: HashSet<String> = records.iter().map(|r| identity(r, &key)).collect();
            if distinct.len() != records.len() {
                problems.push(format!(
                    "{}: {} record(s) read more than once",
                    s.name,
                    records.len() - distinct.len()
                ));
            }
            if let Some(want) = self.expected.get(&s.name)
                && *want != records.len() as u64
            {
                problems.push(format!(
                    "{}: read {} records, expected {want}",
                    s.name,
                    records.len()
                ));
            }
        }
        for name in self.expected.keys() {
            if catalog.stream(name).is_none() {
                problems.push(format!(
                    "expected records for \"{name}\", which discover did not return"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        let detail = format!("records: {}", summary.join(", "));
        Ok((read, detail))
    }

    async fn check_primary_keys(
        &self,
        catalog: &Catalog,
        read: &Read,
    ) -> std::result::Result<((), String), Outcome> {
        let mut problems = Vec::new();
        let mut checked = 0;
        for s in &catalog.streams {
            let Some(key) = s
                .source_defined_primary_key
                .clone()
                .filter(|k| !k.is_empty())
            else {
                continue;
            };
            checked += 1;
            let mut seen = HashSet::new();
            let (mut missing, mut dupes) = (0, 0);
            for r in read.of(&s.name) {
                match r.primary_key(&key) {
                    Ok(Some(k)) => {
                        if !seen.insert(k.to_string()) {
                            dupes += 1;
                        }
                    }
                    _ => missing += 1,
                }
            }
            if missing > 0 || dupes > 0 {
                problems.push(format!(
                    "{}: {missing} record(s) without a key, {dupes} duplicate key(s)",
                    s.name
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        if checked == 0 {
            return Err(Outcome::Skipped("no stream declares a primary key".into()));
        }
        Ok(((), format!("{checked} stream(s) with unique, present keys")))
    }

    async fn check_incremental(
        &self,
        catalog: &Catalog,
    ) -> std::result::Result<(State, String), Outcome> {
        let configured = incremental(catalog);
        if configured.streams.is_empty() {
            return Err(Outcome::Skipped(
                "no stream supports incremental reads".into(),
            ));
        }
        let first = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the first incremental read failed: {e}")))?;
        let state = first.state();
        *self.first_state.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
        let second = self
            .read(&configured, &state, ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the second incremental read failed: {e}")))?;
        let streams = self.streams().await?;
        let mut problems = Vec::new();
        let mut summary = Vec::new();
        for c in &configured.streams {
            let name = &c.stream.name;
            let Some(cursor) = streams.get(name).and_then(|s| s.cursor().cloned()) else {
                continue;
            };
            let d = c.stream.descriptor();
            let saved = state
                .stream(&d)
                .map(|b| StreamState::from_value(&d, b))
                .transpose()
                .map_err(|e| Outcome::Failed(format!("{name}: unreadable state: {e}")))?
                .unwrap_or_default();
            let bound = lowest_cursor(&saved, &cursor);
            let records = second.of(name);
            summary.push(format!(
                "{name} {} then {}",
                first.of(name).len(),
                records.len()
            ));
            let Some(bound) = bound else { continue };
            let early: Vec<String> = records
                .iter()
                .filter_map(|r| {
                    let v = r.field_path(cursor.field()).ok().flatten()?;
                    let v: Value = serde_json::from_str(v.get()).ok()?;
                    let parsed = cursor.parse(&v)?;
                    (parsed < bound).then(|| v.to_string())
                })
                .collect();
            if !early.is_empty() {
                problems.push(format!(
                    "{name}: the second read returned {} record(s) before the saved cursor (first: {})",
                    early.len(),
                    early[0]
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        let mut after = state.clone();
        for (d, blob) in second.state().streams() {
            after.set_stream(d.clone(), blob.clone());
        }
        Ok((
            after,
            format!("records, first then second read: {}", summary.join(", ")),
        ))
    }

    async fn check_changes(
        &self,
        catalog: &Catalog,
        base: Option<&State>,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(change) = &self.change else {
            return Err(Outcome::Skipped(
                "no change between reads was declared (Acceptance::change_between_reads)".into(),
            ));
        };
        let Some(base) = base else {
            return Err(Outcome::Skipped(
                "needs a state from the incremental check".into(),
            ));
        };
        let configured = incremental(catalog);
        let expected = change().await;
        let second = self
            .read(&configured, base, ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the second incremental read failed: {e}")))?;
        let mut missing = Vec::new();
        for (stream, key) in &expected {
            let pk = catalog
                .stream(stream)
                .and_then(|s| s.source_defined_primary_key.clone())
                .unwrap_or_default();
            let found = second.of(stream).iter().any(|r| match r.primary_key(&pk) {
                Ok(Some(Value::Array(parts))) => {
                    &Value::Array(parts.clone()) == key || (parts.len() == 1 && &parts[0] == key)
                }
                _ => false,
            });
            if !found {
                missing.push(format!("{stream} {key}"));
            }
        }
        if !missing.is_empty() {
            return Err(Outcome::Failed(format!(
                "changed records missing from the second read: {}",
                missing.join(", ")
            )));
        }
        Ok((
            (),
            format!("{} changed record(s) picked up", expected.len()),
        ))
    }

    async fn check_future(
        &self,
        catalog: &Catalog,
        state: Option<&State>,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(state) = state else {
            return Err(Outcome::Skipped(
                "needs a state from the incremental check".into(),
            ));
        };
        let configured = incremental(catalog);
        let mut future = State::new();
        let mut covered = Vec::new();
        for c in &configured.streams {
            let d = c.stream.descriptor();
            let Some(blob) = state.stream(&d) else {
                continue;
            };
            let Ok(mut saved) = StreamState::from_value(&d, blob) else {
                continue;
            };
            let mut any = false;
            for cs in std::iter::once(&mut saved.root)
                .chain(saved.partitions.iter_mut().map(|p| &mut p.state))
            {
                if let Some(v) = cs.cursor.as_ref().and_then(far_future) {
                    cs.cursor = Some(v);
                    cs.boundary_keys.clear();
                    cs.resume = None;
                    any = true;
                }
            }
            if any {
                covered.push(c.stream.name.clone());
                future.set_stream(d, saved.to_value());
            }
        }
        if covered.is_empty() {
            return Err(Outcome::Skipped(
                "no incremental stream saved a cursor".into(),
            ));
        }
        let configured = ConfiguredCatalog {
            streams: configured
                .streams
                .into_iter()
                .filter(|c| covered.contains(&c.stream.name))
                .collect(),
            extra: Default::default(),
        };
        let read = self
            .read(&configured, &future, ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the read from a future state failed: {e}")))?;
        if !read.records.is_empty() {
            let by: BTreeMap<&str, usize> =
                read.records.iter().fold(BTreeMap::new(), |mut m, (s, _)| {
                    *m.entry(s.as_str()).or_default() += 1;
                    m
                });
            return Err(Outcome::Failed(format!(
                "a state in the year 9999 still returned records: {by:?}"
            )));
        }
        Ok(((), format!("no records for {}", covered.join(", "))))
    }

    async fn check_resume(&self, catalog: &Catalog) -> std::result::Result<((), String), Outcome> {
        let configured = catalog.configure_all();
        let options = ReadOptions {
            checkpoint_records: 1,
            ..ReadOptions::default()
        };
        let whole = self
            .read(&configured, &State::new(), options.clone())
            .await
            .map_err(|e| Outcome::Failed(format!("the checkpointed read failed: {e}")))?;
        let mut problems = Vec::new();
        let mut resumed_streams = Vec::new();
        for c in &configured.streams {
            let name = &c.stream.name;
            let cps: Vec<&(usize, String, Value)> = whole
                .checkpoints
                .iter()
                .filter(|(_, s, _)| s == name)
                .collect();
            if cps.len() < 3 {
                continue; // one page and the final checkpoint: nothing to resume in the middle
            }
            let (before, _, blob) = cps[cps.len() / 2];
            let key = c
                .stream
                .source_defined_primary_key
                .clone()
                .unwrap_or_default();
            let mut got: HashSet<String> = whole.records[..*before]
                .iter()
                .filter(|(s, _)| s == name)
                .map(|(_, r)| identity(r, &key))
                .collect();
            let mut state = State::new();
            state.set_stream(c.stream.descriptor(), blob.clone());
            let one = ConfiguredCatalog {
                streams: vec![c.clone()],
                extra: Default::default(),
            };
            let rest = self
                .read(&one, &state, options.clone())
                .await
                .map_err(|e| Outcome::Failed(format!("{name}: the resumed read failed: {e}")))?;
            got.extend(rest.of(name).iter().map(|r| identity(r, &key)));
            let lost = whole
                .of(name)
                .iter()
                .filter(|r| !got.contains(&identity(r, &key)))
                .count();
            if lost > 0 {
                problems.push(format!(
                    "{name}: {lost} record(s) lost when resuming from a mid-sync checkpoint"
                ));
            }
            resumed_streams.push(name.clone());
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        if resumed_streams.is_empty() {
            return Err(Outcome::Skipped(
                "no stream has more than one page to resume within".into(),
            ));
        }
        Ok((
            (),
            format!(
                "resumed {} mid-way, nothing lost",
                resumed_streams.join(", ")
            ),
        ))
    }

    async fn check_retries(&self, catalog: &Catalog) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.mock else {
            return Err(no_mock());
        };
        let Some(first) = catalog.streams.first() else {
            return Err(Outcome::Skipped("no stream".into()));
        };
        let configured = ConfiguredCatalog {
            streams: full_refresh(catalog).streams.into_iter().take(1).collect(),
            extra: Default::default(),
        };
        let clean = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("a read without faults failed: {e}")))?;
        let before = mock.requests();
        let _rate_limited = mock.inject(
            Fault::TooManyRequests {
                retry_after: Some("1".into()),
            },
            1,
        );
        let _unavailable = mock.inject(Fault::Status(503), 1);
        let read = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| {
                Outcome::Failed(format!("a read with a 429 and a 503 injected failed: {e}"))
            })?;
        let (got, want) = (read.of(&first.name).len(), clean.of(&first.name).len());
        if got != want {
            return Err(Outcome::Failed(format!(
                "{}: read {got} records with faults injected, {want} without",
                first.name
            )));
        }
        Ok((
            (),
            format!(
                "{}: a 429 (Retry-After: 1) and a 503 retried; {got} records in {} requests",
                first.name,
                mock.requests() - before
            ),
        ))
    }

    async fn check_rate_limit(&self) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.mock else {
            return Err(no_mock());
        };
        if !mock.has_rate_limit() {
            return Err(Outcome::Skipped(
                "the mock has no rate limit (MockApi::rate_limit)".into(),
            ));
        }
        match mock.violations() {
            0 => Ok((
                (),
                format!("{} requests, none over the limit", mock.requests()),
            )),
            n => Err(Outcome::Failed(format!(
                "{n} of {} requests broke the mock's rate limit",
                mock.requests()
            ))),
        }
    }

    async fn check_concurrency(&self) -> std::result::Result<((), String), Outcome> {
        let Some(cap) = self.max_concurrency else {
            return Err(Outcome::Skipped(
                "the connector declares no concurrency cap (Acceptance::max_concurrency)".into(),
            ));
        };
        let Some(mock) = self.mock else {
            return Err(no_mock());
        };
        match mock.max_in_flight() {
            n if n <= cap => Ok(((), format!("at most {n} request(s) in flight, cap {cap}"))),
            n => Err(Outcome::Failed(format!(
                "{n} requests were in flight at once; the cap is {cap}"
            ))),
        }
    }

    async fn check_secrets(
        &self,
        catalog: Option<&Catalog>,
    ) -> std::result::Result<((), String), Outcome> {
        let spec = self.source.spec();
        // (pointer, value) of every secret in the config.
        let mut secrets: Vec<(String, String)> = Vec::new();
        let mut pointers = spec.secret_fields();
        secret_looking(&spec.connection_specification, "", &mut |p| {
            pointers.push(p.to_string())
        });
        for pointer in pointers {
            let mut values = Vec::new();
            collect_strings(self.config.pointer(&pointer), &mut values);
            secrets.extend(values.into_iter().map(|v| (pointer.clone(), v)));
        }
        secrets.retain(|(_, v)| v.chars().count() >= 4);
        secrets.sort();
        secrets.dedup();
        if secrets.is_empty() {
            return Err(Outcome::Skipped("the config holds no secret value".into()));
        }
        let mut output = scan_run(
            self.source.clone(),
            self.config.clone(),
            catalog.map(full_refresh),
            self.logs.clone(),
            self.read_timeout,
        )
        .await
        .map_err(|e| Outcome::Failed(format!("running the connector: {e}")))?;
        // Everything the connector logged during the whole suite, too.
        output.push_str(&self.logs.text());
        let mut leaked: Vec<&str> = secrets
            .iter()
            .filter(|(_, v)| output.contains(v.as_str()))
            .map(|(p, _)| p.as_str())
            .collect();
        leaked.dedup();
        if !leaked.is_empty() {
            return Err(Outcome::Failed(format!(
                "the value of {} appears in the connector's output or logs",
                leaked.join(", ")
            )));
        }
        Ok((
            (),
            format!(
                "{} secret(s) absent from {} bytes of messages and logs",
                secrets.len(),
                output.len()
            ),
        ))
    }
}

fn no_mock() -> Outcome {
    Outcome::Skipped("no mock API given (Acceptance::mock)".into())
}

fn full_refresh(catalog: &Catalog) -> ConfiguredCatalog {
    let mut c = catalog.configure_all();
    for s in &mut c.streams {
        s.sync_mode = SyncMode::FullRefresh;
        s.destination_sync_mode = DestinationSyncMode::Overwrite;
    }
    c
}

fn incremental(catalog: &Catalog) -> ConfiguredCatalog {
    let mut c = catalog.configure_all();
    c.streams.retain(|s| s.sync_mode == SyncMode::Incremental);
    c
}

/// The lowest saved cursor of a stream (over its partitions), with the cursor's lookback
/// applied: no record of a later read may be before it.
fn lowest_cursor(saved: &StreamState, cursor: &Cursor) -> Option<CursorValue> {
    std::iter::once(&saved.root)
        .chain(saved.partitions.iter().map(|p| &p.state))
        .filter_map(|s| s.cursor.as_ref())
        .filter_map(|v| cursor.request_start(Some(v)))
        .filter_map(|v| cursor.parse(&v))
        .min()
}

/// A cursor value of the same kind as `v`, far in the future.
fn far_future(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) => {
            let x = n.as_f64()?;
            // Epoch milliseconds or seconds: the end of year 9999; a plain counter: far past it.
            let far = if x.abs() >= 1e11 {
                253_402_300_799_000i64
            } else if x.abs() >= 1e8 {
                253_402_300_799i64
            } else {
                (x.abs() * 1000.0) as i64 + 1_000_000_000
            };
            Some(json!(far))
        }
        Value::String(s) => Some(match crate::state::parse_datetime(s) {
            Some(_) if s.len() == 10 => json!("9999-12-31"),
            Some(_) => json!("9999-12-31T23:59:59Z"),
            None => match s.parse::<f64>() {
                Ok(_) => json!("253402300799000"),
                Err(_) => json!(format!("{s}\u{10FFFF}")),
            },
        }),
        _ => None,
    }
}

fn collect_strings(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) => out.push(s.clone()),
        Some(Value::Object(m)) => m.values().for_each(|v| collect_strings(Some(v), out)),
        Some(Value::Array(a)) => a.iter().for_each(|v| collect_strings(Some(v), out)),
        _ => {}
    }
}

/// Calls `f` with the pointer of every property whose name looks like it holds a secret.
fn secret_looking(schema: &Value, at: &str, f: &mut dyn FnMut(&str)) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            let pointer = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
            // Only leaves hold secrets: an object (or a choice of objects) is checked inside.
            let composite = sub.get("type") == Some(&json!("object"))
                || ["properties", "oneOf", "anyOf", "allOf", "$ref"]
                    .iter()
                    .any(|k| sub.get(*k).is_some());
            if looks_secret(name) && !composite {
                f(&pointer);
            }
            secret_looking(sub, &pointer, f);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for sub in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            secret_looking(sub, at, f);
        }
    }
}

fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let not = [
        "_uri", "_url", "_id", "_type", "_date", "_at", "_name", "_expiry", "_path", "_file",
    ];
    if not.iter().any(|s| n.ends_with(s)) {
        return false;
    }
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "private_key",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
        || n == "key"
        || n.ends_with("_key")
}

/// Runs spec, check, discover and (with a catalog) read through the protocol runner on a
/// runtime of its own, capturing stdout and every log line.
async fn scan_run(
    source: Arc<dyn Source>,
    config: Value,
    catalog: Option<ConfiguredCatalog>,
    logs: Captured,
    limit: std::time::Duration,
) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let subscriber = capture(&logs);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::system(format!("a runtime for the secrets check: {e}")))?;
        let dir = TempDir::new()?;
        let config_path = dir.write("config.json", &config.to_string())?;
        let mut out = Vec::new();
        tracing::dispatcher::with_default(&subscriber, || {
            rt.block_on(async {
                let cfg = config_path.display().to_string();
                let mut commands = vec![
                    vec!["spec".to_string()],
                    vec!["check".into(), "--config".into(), cfg.clone()],
                    vec!["discover".into(), "--config".into(), cfg.clone()],
                ];
                if let Some(catalog) = &catalog
                    && let Ok(text) = serde_json::to_string(catalog)
                    && let Ok(path) = dir.write("catalog.json", &text)
                {
                    commands.push(vec![
                        "read".into(),
                        "--config".into(),
                        cfg,
                        "--catalog".into(),
                        path.display().to_string(),
                    ]);
                }
                for args in commands {
                    // A command that hangs is cut off; what it printed so far is still scanned.
                    let mut buf = Vec::new();
                    let _ = tokio::time::timeout(
                        limit,
                        crate::protocol::run_source_with(&*source, args, &mut buf),
                    )
                    .await;
                    out.extend_from_slice(&buf);
                }
            })
        });
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
    .await
    .map_err(|e| Error::system(format!("the secrets check panicked: {e}")))?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names() {
        for yes in [
            "api_token",
            "access_token",
            "client_secret",
            "password",
            "api_key",
            "private_key",
            "key",
            "refresh_token",
        ] {
            assert!(looks_secret(yes), "{yes}");
        }
        for no in [
            "token_uri",
            "client_id",
            "start_date",
            "base_url",
            "keyword",
            "token_type",
            "spreadsheet_id",
        ] {
            assert!(!looks_secret(no), "{no}");
        }
    }

    #[test]
    fn far_future_matches_the_cursor_kind() {
        assert_eq!(
            far_future(&json!("2024-01-01T00:00:00Z")),
            Some(json!("9999-12-31T23:59:59Z"))
        );
        assert_eq!(far_future(&json!("2024-01-01")), Some(json!("9999-12-31")));
        assert_eq!(
            far_future(&json!(1_704_067_200_000i64)),
            Some(json!(253_402_300_799_000i64))
        );
        assert_eq!(
            far_future(&json!(1_704_067_200)),
            Some(json!(253_402_300_799i64))
        );
    }
}
