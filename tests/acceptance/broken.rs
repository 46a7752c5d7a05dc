//! A small HTTP source whose defects each test chooses: each defect fails the check that
//! names it, and the source without defects passes.

use super::*;

use intake::http::ErrorAction;
use intake::{Error, PageStream, ReadRequest, Source, Stream, async_trait};

/// A small source whose defects the tests choose.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Token.
    pub(crate) api_token: Secret,
    /// Host.
    pub(crate) base_url: String,
}

#[derive(Clone, Copy, Default)]
struct Defects {
    ignores_cursor: bool,
    /// Reads the first page only (no paginator).
    first_page_only: bool,
    /// Declares a cursor field its records do not carry.
    phantom_cursor: bool,
    no_retries: bool,
    logs_token: bool,
    /// Logs its token base64-encoded (as a Basic header would carry it).
    logs_token_base64: bool,
    too_fast: bool,
    /// Retries a 429 after a millisecond, whatever its `Retry-After` says.
    retries_too_soon: bool,
    /// Starts every read from its first page, ignoring the resume token it is given.
    restarts_on_resume: bool,
    /// Puts its token into the error a 401 returns.
    token_in_errors: bool,
}

fn broken(defects: Defects) -> HttpSource<Config> {
    HttpSource::new("broken", move |cfg: &Config| {
        if defects.logs_token {
            tracing::info!("connecting with token {}", cfg.api_token.expose_secret());
        }
        if defects.logs_token_base64 {
            let encoded = support::base64_of(cfg.api_token.expose_secret());
            tracing::info!("authorization: Basic {encoded}");
        }
        let mut api = HttpApi::parse(&cfg.base_url)?.auth(Auth::bearer(cfg.api_token.clone()));
        if defects.no_retries {
            api = api.retry(RetryPolicy::none());
        }
        if !defects.too_fast {
            api = api.quota(intake::http::Quota::per_second(9));
        }
        if defects.retries_too_soon {
            api = api.on_error(|e| match e.status() {
                Some(429) => ErrorAction::Retry(Some(Duration::from_millis(1))),
                _ => ErrorAction::Default,
            });
            api = api.retry(
                RetryPolicy::default()
                    .initial_delay(Duration::from_millis(1))
                    .jitter(false),
            );
        }
        if defects.token_in_errors {
            let token = cfg.api_token.expose_secret().to_string();
            api = api.on_error(move |e| match e.status() {
                Some(401) => {
                    ErrorAction::Fail(Error::config(format!("the API refused the token {token}")))
                }
                _ => ErrorAction::Default,
            });
        }
        let mut stream = api
            .stream("items")
            .get("/items")
            .records_at("/results")
            .primary_key("id")
            .cursor(if defects.phantom_cursor {
                "modified_at"
            } else {
                "updated_at"
            })
            .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}}}));
        if !defects.ignores_cursor {
            stream = stream.query("since", "{cursor}");
        }
        if !defects.first_page_only {
            stream = stream.paginate(Paginator::cursor_from_body("/next").into_query("after"));
        }
        Ok(vec![stream])
    })
}

async fn items_api() -> MockApi {
    let api = MockApi::start().await;
    api.rate_limit(10, Duration::from_secs(1));
    let items = Dataset::new(
        (0..25)
            .map(|i| json!({"id": i, "updated_at": format!("2024-05-{:02}T00:00:00Z", 1 + i)}))
            .collect(),
    );
    api.endpoint("/items")
        .records(items)
        .page_size(10)
        .paginate(PageStyle::cursor("/next", "after"))
        .filter(Filter::query("since", "updated_at"))
        .require_header("authorization", "Bearer tok-1234")
        .mount()
        .await;
    api
}

async fn run_broken(defects: Defects) -> AcceptanceReport {
    let api = items_api().await;
    let config = json!({"api_token": "tok-1234", "base_url": api.uri()});
    let suite = if defects.restarts_on_resume {
        acceptance(Restarting(broken(defects)), config)
    } else {
        acceptance(broken(defects), config)
    };
    let report = suite
        .mock(&api)
        .skip(
            checks::INCREMENTAL_CHANGES,
            "changes are proved on the REST example",
        )
        .skip(
            checks::CONCURRENCY,
            "the connector declares no concurrency cap",
        )
        .run()
        .await;
    println!("{report}");
    report
}

#[tokio::test]
async fn a_good_small_connector_passes() {
    let report = run_broken(Defects::default()).await;
    report.assert_all_passed();
}

/// Hole 2: with a mock attached, the full refresh is compared with every record the mock
/// holds, whether or not the test set an expected count.
#[tokio::test]
async fn a_connector_reading_only_its_first_page_fails_the_full_refresh() {
    let report = run_broken(Defects {
        first_page_only: true,
        ..Default::default()
    })
    .await;
    let full = report.outcome(checks::FULL_REFRESH).unwrap();
    assert!(
        matches!(full, Outcome::Failed(m) if m.contains("items: read 10 of the 25 record(s) the mock's /items holds")),
        "{report}"
    );
}

/// Hole 3: a cursor no record carries leaves no cursor in the state: the incremental and
/// future-state checks fail instead of passing on nothing.
#[tokio::test]
async fn a_cursor_no_record_carries_fails_the_incremental_checks() {
    let report = run_broken(Defects {
        phantom_cursor: true,
        ..Default::default()
    })
    .await;
    let inc = report.outcome(checks::INCREMENTAL).unwrap();
    assert!(
        matches!(inc, Outcome::Failed(m) if m.contains("declares the cursor \"modified_at\"") && m.contains("holds no cursor")),
        "{report}"
    );
    assert_outcome(&report, checks::FUTURE_STATE, "fail");
    assert_outcome(&report, checks::FULL_REFRESH, "pass");
}

#[tokio::test]
async fn a_connector_that_ignores_its_cursor_fails_the_incremental_checks() {
    let report = run_broken(Defects {
        ignores_cursor: true,
        ..Defects::default()
    })
    .await;
    assert_outcome(&report, checks::INCREMENTAL, "fail");
    assert_outcome(&report, checks::FUTURE_STATE, "fail");
    assert_outcome(&report, checks::FULL_REFRESH, "pass");
}

#[tokio::test]
async fn a_connector_without_retries_fails_the_retry_check() {
    let report = run_broken(Defects {
        no_retries: true,
        ..Defects::default()
    })
    .await;
    assert_outcome(&report, checks::RETRIES, "fail");
}

#[tokio::test]
async fn a_connector_that_logs_its_token_fails_the_secrets_check() {
    let report = run_broken(Defects {
        logs_token: true,
        ..Defects::default()
    })
    .await;
    assert_outcome(&report, checks::SECRETS, "fail");
    // The report names the leak without repeating the secret.
    assert!(!report.to_string().contains("tok-1234"), "{report}");
}

/// Hole 8: a secret is looked for in its encodings too, not only as it is.
#[tokio::test]
async fn a_connector_that_logs_its_token_base64_encoded_fails_the_secrets_check() {
    assert_eq!(support::base64_of("tok-1234"), "dG9rLTEyMzQ=");
    let report = run_broken(Defects {
        logs_token_base64: true,
        ..Default::default()
    })
    .await;
    let secrets = report.outcome(checks::SECRETS).unwrap();
    assert!(
        matches!(secrets, Outcome::Failed(m) if m.contains("/api_token")),
        "{report}"
    );
}

#[tokio::test]
async fn a_connector_without_a_quota_breaks_the_mocks_rate_limit() {
    // The API allows 2 requests a second; the connector's 3 pages go out at once.
    let api = items_api().await;
    api.rate_limit(2, Duration::from_secs(1));
    let config = json!({"api_token": "tok-1234", "base_url": api.uri()});
    let report = acceptance(
        broken(Defects {
            too_fast: true,
            ..Defects::default()
        }),
        config,
    )
    .mock(&api)
    .run()
    .await;
    let rate = report.outcome(checks::RATE_LIMIT).unwrap();
    assert!(
        matches!(rate, Outcome::Failed(m) if m.contains("requests broke the mock's rate limit (set by the test)")),
        "{report}"
    );
}

/// A config whose secret is a plain string: the spec check must notice.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LeakyConfig {
    /// Not marked secret.
    api_key: String,
    /// Host.
    base_url: String,
}

#[tokio::test]
async fn an_unmarked_secret_field_fails_the_spec_check_and_skips_are_reported() {
    let api = items_api().await;
    let source = HttpSource::new("leaky", |cfg: &LeakyConfig| {
        let api = HttpApi::parse(&cfg.base_url)?
            .auth(Auth::bearer(SecretString::from(cfg.api_key.clone())))
            .quota(intake::http::Quota::per_second(9));
        Ok(vec![
            api.stream("items")
                .get("/items")
                .records_at("/results")
                .primary_key("id")
                .paginate(Paginator::cursor_from_body("/next").into_query("after"))
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    });
    let report = acceptance(
        source,
        json!({"api_key": "tok-1234", "base_url": api.uri()}),
    )
    .mock(&api)
    .skip(
        checks::RESUME,
        "resuming is covered by the connector's own tests",
    )
    .run()
    .await;
    let spec = report.outcome(checks::SPEC).unwrap();
    assert!(
        matches!(spec, Outcome::Failed(m) if m.contains("/api_key")),
        "{spec:?}"
    );
    assert_eq!(
        report.outcome(checks::RESUME),
        Some(&Outcome::Skipped(
            "resuming is covered by the connector's own tests".into()
        ))
    );
    assert_outcome(&report, checks::INCREMENTAL, "n/a");
}

#[tokio::test]
async fn a_hanging_connector_fails_its_checks_instead_of_hanging_the_test() {
    let api = items_api().await;
    let _stall = api.inject_always(intake::testing::Fault::Delay(Duration::from_secs(3)));
    let source = HttpSource::new("stalls", |cfg: &Config| {
        let api = HttpApi::parse(&cfg.base_url)?
            .auth(Auth::bearer(cfg.api_token.clone()))
            .timeout(None);
        Ok(vec![
            api.stream("items")
                .get("/items")
                .records_at("/results")
                .primary_key("id")
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    });
    let report = acceptance(
        source,
        json!({"api_token": "tok-1234", "base_url": api.uri()}),
    )
    .mock(&api)
    .timeout(Duration::from_millis(300))
    .skip(checks::SECRETS, "covered by the other tests")
    .run()
    .await;
    let check = report.outcome(checks::CHECK).unwrap();
    assert!(
        matches!(check, Outcome::Failed(m) if m.contains("did not answer within")),
        "{report}"
    );
    let full = report.outcome(checks::FULL_REFRESH).unwrap();
    assert!(
        matches!(full, Outcome::Failed(m) if m.contains("did not finish within")),
        "{report}"
    );
}

/// A source whose streams ignore the resume token they are given.
struct Restarting<S>(S);

struct RestartingStream(Arc<dyn Stream>);

#[async_trait]
impl Stream for RestartingStream {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn json_schema(&self) -> intake::Result<serde_json::Value> {
        self.0.json_schema().await
    }
    fn primary_key(&self) -> intake::PrimaryKey {
        self.0.primary_key()
    }
    fn cursor(&self) -> Option<intake::Cursor> {
        self.0.cursor()
    }
    fn declared_limits(&self) -> intake::DeclaredLimits {
        self.0.declared_limits()
    }
    fn read(&self, mut request: ReadRequest) -> PageStream<'_> {
        request.resume = None;
        self.0.read(request)
    }
}

#[async_trait]
impl<S: Source> Source for Restarting<S> {
    fn spec(&self) -> intake::ConnectorSpec {
        self.0.spec()
    }
    async fn check(&self, config: &serde_json::Value) -> intake::Result<()> {
        self.0.check(config).await
    }
    async fn streams(&self, config: &serde_json::Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        Ok(self
            .0
            .streams(config)
            .await?
            .into_iter()
            .map(|s| Arc::new(RestartingStream(s)) as Arc<dyn Stream>)
            .collect())
    }
}

/// Hole 5: a connector that starts over instead of resuming reads again what the checkpoint
/// covered, and the mock's log shows the requests it repeated.
#[tokio::test]
async fn a_connector_that_restarts_instead_of_resuming_fails_the_resume_check() {
    let report = run_broken(Defects {
        restarts_on_resume: true,
        ..Default::default()
    })
    .await;
    let resume = report.outcome(checks::RESUME).unwrap();
    assert!(
        matches!(resume, Outcome::Failed(m)
            if m.contains("items: the resumed full refresh read returned") && m.contains("started over")
            && m.contains("sent 2 request(s) whose answers the checkpoint already covered (first: GET /items")),
        "{report}"
    );
    assert_outcome(&report, checks::FULL_REFRESH, "pass");
}

/// Hole 6: a retry sooner than `Retry-After` allows fails, named with the request.
#[tokio::test]
async fn a_connector_retrying_sooner_than_retry_after_fails_the_retry_check() {
    let report = run_broken(Defects {
        retries_too_soon: true,
        ..Default::default()
    })
    .await;
    let retries = report.outcome(checks::RETRIES).unwrap();
    assert!(
        matches!(retries, Outcome::Failed(m)
            if m.contains("items: GET /items") && m.contains("after a 429 with Retry-After: 1; it must wait at least that long")),
        "{report}"
    );
}

/// Hole 6: the good connector's pass says what was proved.
#[tokio::test]
async fn the_retry_check_proves_each_fault_was_served_and_retried() {
    let report = run_broken(Defects::default()).await;
    let retries = report.outcome(checks::RETRIES).unwrap();
    assert!(
        matches!(retries, Outcome::Passed(m)
            if m.contains("1 stream(s) each retried a 429 (no sooner than Retry-After: 1) and a 503")),
        "{report}"
    );
}

/// Hole 8: a secret in the error a 401 returns is a leak too.
#[tokio::test]
async fn a_connector_naming_its_token_in_an_auth_error_fails_the_secrets_check() {
    let report = run_broken(Defects {
        token_in_errors: true,
        ..Default::default()
    })
    .await;
    assert_outcome(&report, checks::CHECK_UNAUTHORIZED, "pass");
    let secrets = report.outcome(checks::SECRETS).unwrap();
    assert!(
        matches!(secrets, Outcome::Failed(m) if m.contains("/api_token") && m.contains("error messages")),
        "{report}"
    );
}
