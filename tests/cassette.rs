//! Cassettes: a connector's exchanges recorded with secrets replaced, replayed offline under
//! the acceptance suite, an unmatched request answered with the nearest recorded one.

use intake::Secret;
use intake::destination::jsonl::JsonlDestination;
use intake::http::{Auth, HttpApi, HttpSource, Paginator, Quota, Recording};
use intake::testing::{Cassette, Dataset, Filter, MockApi, Outcome, PageStyle, acceptance, checks};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

const TOKEN: &str = "tok-live-9f8e7d6c5b4a";

#[derive(Deserialize, JsonSchema)]
struct Config {
    /// Token.
    api_token: Secret,
    /// A second key the API takes in the query.
    api_key: Secret,
    /// Host.
    base_url: String,
}

fn source(page_size: &'static str) -> HttpSource<Config> {
    HttpSource::new("items", move |cfg: &Config| {
        use secrecy::ExposeSecret;
        let api = HttpApi::parse(&cfg.base_url)?
            .auth(Auth::bearer(cfg.api_token.clone()))
            .quota(Quota::per_second(50));
        Ok(vec![
            api.stream("items")
                .get("/items")
                .query("limit", page_size)
                .query("key", cfg.api_key.expose_secret())
                .query("since", "{cursor}")
                .records_at("/results")
                .paginate(Paginator::cursor_from_body("/next").into_query("after"))
                .primary_key("id")
                .cursor("updated_at")
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}, "updated_at": {"type": "string"}}})),
        ])
    })
}

async fn api() -> MockApi {
    let api = MockApi::start().await;
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
        .require_header("authorization", &format!("Bearer {TOKEN}"))
        .mount()
        .await;
    api
}

fn config(base: &str, token: &str) -> Value {
    json!({"api_token": token, "api_key": format!("{token}-key"), "base_url": base})
}

/// Every file of a cassette, concatenated, with what its base64 runs decode to.
fn cassette_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    text
}

fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        support::base64_of(secret),
        support::base64_of(&format!("user:{secret}")),
        serde_json::to_string(secret).unwrap(),
    ]
}

/// Syncs `source` with `config` into a scratch folder: how many records it read.
async fn sync_all<S: intake::Source + 'static>(source: S, config: Value) -> intake::Result<u64> {
    let out = tempfile::tempdir().unwrap();
    let report = intake::sync(source, config)
        .to(JsonlDestination::new(out.path()))
        .run()
        .await?;
    Ok(report.records_read())
}

/// Records a sync of `source` with `config` (its API at `origin`) into a new folder: the
/// folder, how many records were read and how many exchange files were written.
async fn record_sync<S: intake::Source + 'static>(
    source: S,
    config: Value,
    origin: &str,
) -> (tempfile::TempDir, u64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let spec = source.spec();
    let recording = Recording::start_for_origin(dir.path(), &spec, &config, origin).unwrap();
    let read = sync_all(source, config).await.unwrap();
    let written = recording.finish().unwrap();
    (dir, read, written)
}

#[tokio::test]
async fn a_recorded_sync_holds_no_secret_in_any_form() {
    let api = api().await;
    let (dir, read, written) =
        record_sync(source("10"), config(&api.uri(), TOKEN), &api.uri()).await;
    assert_eq!(read, 25);
    assert_eq!(written, 3, "one file per page");
    let text = cassette_text(dir.path());
    for secret in [TOKEN.to_string(), format!("{TOKEN}-key")] {
        for form in forms(&secret) {
            assert!(!text.contains(&form), "{form} in the cassette:\n{text}");
        }
    }
    // Placeholders say what was there; bodies are pretty-printed JSON.
    assert!(
        text.contains("\"authorization\": \"<<redacted>>\""),
        "{text}"
    );
    assert!(text.contains("\"<<secret:/api_key>>\""), "{text}");
    assert!(text.contains("\n      \"results\": ["), "{text}");
    let first = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .min()
        .unwrap();
    assert_eq!(first, "00001-get-items.json");
}

#[tokio::test]
async fn a_cassette_recorded_by_the_suite_replays_under_it_offline() {
    let dir = tempfile::tempdir().unwrap();
    {
        let api = api().await;
        let recorded = acceptance(source("10"), config(&api.uri(), TOKEN))
            .record_cassette(dir.path())
            .run()
            .await;
        let outcome = recorded.outcome(checks::CASSETTE).unwrap();
        assert!(
            matches!(outcome, Outcome::Passed(m) if m.starts_with("recorded ")),
            "{recorded}"
        );
    } // the API is gone: the replay is all there is
    let cassette = Cassette::load(dir.path()).unwrap();
    assert!(cassette.len() >= 3);
    let report = acceptance(
        source("10"),
        config("https://api.example.invalid", "test-token"),
    )
    .cassette(dir.path())
    .expect_records("items", 25)
    .skip(checks::INCREMENTAL_CHANGES, "the recording holds no change")
    .skip(
        checks::CONCURRENCY,
        "the source declares no concurrency cap",
    )
    .run()
    .await;
    println!("{report}");
    report.assert_all_passed();
    let outcome = report.outcome(checks::CASSETTE).unwrap();
    assert!(
        matches!(outcome, Outcome::Passed(m) if m.contains("every one matched")),
        "{report}"
    );
    // The faults were injected into the replay and retried against it.
    assert!(matches!(
        report.outcome(checks::RETRIES),
        Some(Outcome::Passed(_))
    ));
}

#[tokio::test]
async fn an_unmatched_request_is_answered_with_the_nearest_recorded_one() {
    let api = api().await;
    let (dir, _, _) = record_sync(source("10"), config(&api.uri(), TOKEN), &api.uri()).await;

    let replay = Cassette::load(dir.path()).unwrap().replay().await;
    // The same connector asking for pages of 20: nothing recorded matches.
    let cfg = replay.point_config(&config("https://api.example.invalid", "other"));
    let err = sync_all(source("20"), cfg).await.unwrap_err();
    let unmatched = replay.unmatched();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert!(
        unmatched[0].starts_with("GET /items?limit=20&key=other-key: no recorded exchange matches; nearest: GET /items?limit=10&key=<<secret:/api_key>> (differs in limit=20, recorded 10)"),
        "{unmatched:?}"
    );
    assert!(
        err.to_string().contains("no recorded exchange matches"),
        "{err}"
    );
}

#[derive(Deserialize, JsonSchema)]
struct OAuthConfig {
    /// The OAuth client's secret.
    client_secret: Secret,
    /// The refresh token.
    refresh_token: Secret,
    /// Host (the token endpoint is `{base_url}/oauth/token`).
    base_url: String,
}

fn oauth_source() -> HttpSource<OAuthConfig> {
    HttpSource::new("oauth-items", |cfg: &OAuthConfig| {
        let token_url = format!("{}/oauth/token", cfg.base_url.trim_end_matches('/'))
            .parse()
            .map_err(|e| intake::Error::config(format!("base_url: {e}")))?;
        let oauth = intake::http::OAuth2::refresh_token(
            token_url,
            "client-1",
            cfg.client_secret.clone(),
            cfg.refresh_token.clone(),
        );
        let api = HttpApi::parse(&cfg.base_url)?.auth(Auth::oauth2(oauth));
        Ok(vec![
            api.stream("items")
                .get("/items")
                .records_at("/results")
                .paginate(Paginator::cursor_from_body("/next").into_query("after"))
                .primary_key("id")
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    })
}

/// The token exchange is part of the cassette (with the client secret, the refresh token
/// and the access token issued all redacted), so a replay authenticates with a test
/// config's credentials and reads what the recording read.
#[tokio::test]
async fn a_token_exchange_is_recorded_redacted_and_replayed() {
    let api = MockApi::start().await;
    api.handle("POST", "^/oauth/token$", |req| {
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&req.body).into_owned().collect();
        if form.get("refresh_token").map(String::as_str) != Some("rt-live-5e6f7a") {
            return wiremock::ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"}));
        }
        wiremock::ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "at-issued-1a2b3c4d", "expires_in": 3600, "token_type": "bearer"}),
        )
    })
    .await;
    api.endpoint("/items")
        .records(Dataset::new((0..15).map(|i| json!({"id": i})).collect()))
        .page_size(10)
        .paginate(PageStyle::cursor("/next", "after"))
        .require_header("authorization", "Bearer at-issued-1a2b3c4d")
        .mount()
        .await;
    let cfg = json!({"client_secret": "cs-live-0d9c8b", "refresh_token": "rt-live-5e6f7a", "base_url": api.uri()});
    let (dir, _, _) = record_sync(oauth_source(), cfg, &api.uri()).await;
    drop(api);

    let text = cassette_text(dir.path());
    for secret in ["cs-live-0d9c8b", "rt-live-5e6f7a", "at-issued-1a2b3c4d"] {
        for form in forms(secret) {
            assert!(!text.contains(&form), "{form} in the cassette");
        }
    }
    let cassette = Cassette::load(dir.path()).unwrap();
    assert_eq!(cassette.len(), 3, "the token exchange and two pages");
    assert!(text.contains("\"path\": \"/oauth/token\""), "{text}");

    let replay = cassette.replay().await;
    let cfg = replay.point_config(&json!({
        "client_secret": "test-secret", "refresh_token": "test-refresh",
        "base_url": "https://api.example.invalid",
    }));
    assert_eq!(sync_all(oauth_source(), cfg).await.unwrap(), 15);
    assert!(replay.unmatched().is_empty(), "{:?}", replay.unmatched());
    assert_eq!(replay.requests(), 3);
}

#[derive(Deserialize, JsonSchema)]
struct LinkConfig {
    /// Host.
    base_url: String,
}

/// Pages linked by absolute next URLs (`{"next": "http://127.0.0.1:PORT/items?page=2"}`).
fn linked_source() -> HttpSource<LinkConfig> {
    HttpSource::new("linked-items", |cfg: &LinkConfig| {
        let api = HttpApi::parse(&cfg.base_url)?;
        Ok(vec![
            api.stream("items")
                .get("/items")
                .records_at("/results")
                .paginate(Paginator::next_url("/next"))
                .primary_key("id")
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    })
}

/// A recorded next-page link names the recorded host; the replay points it at itself, so
/// the replayed sync follows it to the replay (the recorded host is gone).
#[tokio::test]
async fn absolute_links_in_recorded_answers_lead_to_the_replay() {
    let api = MockApi::start().await;
    api.endpoint("/items")
        .records(Dataset::new((0..12).map(|i| json!({"id": i})).collect()))
        .page_size(5)
        .paginate(PageStyle::next_url("/next"))
        .mount()
        .await;
    let (dir, _, _) =
        record_sync(linked_source(), json!({"base_url": api.uri()}), &api.uri()).await;
    let recorded = api.uri();
    assert!(cassette_text(dir.path()).contains(&format!("{recorded}/items")));
    let asked = api.requests();

    // The recording's API stays up (so the replay gets a port of its own, not the same
    // server back from wiremock's pool), and is never asked again.
    let replay = Cassette::load(dir.path()).unwrap().replay().await;
    assert_ne!(replay.api().uri(), recorded);
    let cfg = replay.point_config(&json!({"base_url": "https://api.example.invalid"}));
    assert_eq!(sync_all(linked_source(), cfg).await.unwrap(), 12);
    assert_eq!(replay.requests(), 3, "three pages, all from the replay");
    assert_eq!(api.requests(), asked, "the recorded host was not asked");
    assert!(replay.unmatched().is_empty(), "{:?}", replay.unmatched());
}

/// A body that is not UTF-8 (a gzipped file) is recorded byte for byte and replayed so.
#[tokio::test]
async fn a_binary_body_replays_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let origin = "http://files.example.test";
    let spec = intake::Source::spec(&linked_source());
    let recording =
        Recording::start_for_origin(dir.path(), &spec, &json!({"base_url": origin}), origin)
            .unwrap();
    let body: Vec<u8> = vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00, 0x80, 0x41];
    let url: url::Url = format!("{origin}/export.bin").parse().unwrap();
    let mut answered = reqwest::header::HeaderMap::new();
    answered.insert("content-type", "application/octet-stream".parse().unwrap());
    intake::http::Exchange {
        method: "GET",
        url: &url,
        request_headers: &reqwest::header::HeaderMap::new(),
        request_body: None,
        status: 200,
        response_headers: &answered,
        response_body: &body,
    }
    .record();
    assert_eq!(recording.finish().unwrap(), 1);
    assert!(cassette_text(dir.path()).contains("\"base64\""));

    let replay = Cassette::load(dir.path()).unwrap().replay().await;
    let got = reqwest::get(format!("{}/export.bin", replay.api().uri()))
        .await
        .unwrap();
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    assert_eq!(got.bytes().await.unwrap().as_ref(), &body[..]);
}

#[test]
fn a_missing_cassette_says_how_to_record_one() {
    let err = Cassette::load("/nonexistent/cassette").unwrap_err();
    assert!(err.is_config());
    assert!(
        err.to_string().contains("record it with INTAKE_RECORD set"),
        "{err}"
    );
}
