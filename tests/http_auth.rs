//! Auth schemes against wiremock: API keys, bearer, basic, the OAuth2 refresh-token grant
//! (ahead of expiry, on a 401, with a rotated refresh token surfaced as a CONTROL message),
//! and a Google service-account JWT that the mock decodes and verifies.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use intake::Secret;
use intake::http::{
    Auth, GoogleServiceAccount, HttpApi, HttpSource, HttpStream, OAuth2, RetryPolicy,
    ServiceAccountKey,
};
use intake::{Partition, ReadRequest, Result, Stream};
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

fn items(api: HttpApi) -> HttpStream {
    api.stream("items").get("/items").records_at("/data")
}

async fn read(stream: &HttpStream) -> Result<usize> {
    let mut pages = stream.read(ReadRequest::full_refresh(stream.name(), Partition::whole()));
    let mut n = 0;
    while let Some(p) = pages.next().await {
        n += p?.records.len();
    }
    Ok(n)
}

fn ok_items() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": 1}, {"id": 2}]}))
}

fn api(server: &MockServer) -> HttpApi {
    HttpApi::parse(&server.uri())
        .unwrap()
        .timeout(None)
        .retry(RetryPolicy::none())
}

#[tokio::test]
async fn api_keys_bearer_and_basic_reach_the_server() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .and(header("x-api-key", "k-123456"))
        .respond_with(ok_items())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(query_param("apikey", "q-123456"))
        .respond_with(ok_items())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer b-123456"))
        .respond_with(ok_items())
        .expect(1)
        .mount(&server)
        .await;
    // Mailchimp: any user name, the API key as password.
    Mock::given(path("/items"))
        .and(header("authorization", "Basic YW55c3RyaW5nOmtleS11czY="))
        .respond_with(ok_items())
        .expect(1)
        .mount(&server)
        .await;
    for auth in [
        Auth::api_key_header("X-API-Key", secret("k-123456")),
        Auth::api_key_query("apikey", secret("q-123456")),
        Auth::bearer(secret("b-123456")),
        Auth::basic("anystring", secret("key-us6")),
    ] {
        assert_eq!(read(&items(api(&server).auth(auth))).await.unwrap(), 2);
    }
}

/// A token endpoint that hands out `access-1`, `access-2`, ... valid for `expires_in`, and
/// records the refresh tokens it was sent. With `rotate`, each answer carries a new refresh
/// token `rt-2`, `rt-3`, ...
async fn token_endpoint(
    server: &MockServer,
    expires_in: u64,
    rotate: bool,
) -> Arc<Mutex<Vec<String>>> {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let calls = AtomicU64::new(0);
    let s = sent.clone();
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(move |req: &Request| {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(&req.body).into_owned().collect();
            assert_eq!(form["grant_type"], "refresh_token");
            assert_eq!(form["client_id"], "cid");
            assert_eq!(form["client_secret"], "csecret-xyz");
            s.lock().unwrap().push(form["refresh_token"].clone());
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            let mut body = json!({"access_token": format!("access-{n}"), "expires_in": expires_in, "token_type": "bearer"});
            if rotate {
                body["refresh_token"] = json!(format!("rt-{}", n + 1));
            }
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(server)
        .await;
    sent
}

fn oauth(server: &MockServer) -> OAuth2 {
    OAuth2::refresh_token(
        format!("{}/oauth/v1/token", server.uri()).parse().unwrap(),
        "cid",
        secret("csecret-xyz"),
        secret("rt-1"),
    )
    .refresh_token_pointer("/credentials/refresh_token")
}

#[tokio::test(start_paused = true)]
async fn oauth_refreshes_ahead_of_expiry() {
    let server = MockServer::start().await;
    let sent = token_endpoint(&server, 120, false).await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(ok_items())
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer access-2"))
        .respond_with(ok_items())
        .expect(1)
        .mount(&server)
        .await;
    let stream = items(api(&server).auth(Auth::oauth2(oauth(&server))));
    read(&stream).await.unwrap();
    tokio::time::advance(Duration::from_secs(50)).await;
    read(&stream).await.unwrap(); // still fresh: 70 s left, more than the 60 s margin
    tokio::time::advance(Duration::from_secs(15)).await;
    read(&stream).await.unwrap(); // 55 s left: renewed first
    assert_eq!(*sent.lock().unwrap(), vec!["rt-1", "rt-1"]);
}

#[tokio::test]
async fn oauth_refreshes_once_on_401_and_retries() {
    let server = MockServer::start().await;
    let sent = token_endpoint(&server, 3600, false).await;
    // The API revoked access-1 early.
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer access-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "expired"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer access-2"))
        .respond_with(ok_items())
        .expect(1)
        .mount(&server)
        .await;
    let stream = items(api(&server).auth(Auth::oauth2(oauth(&server))));
    assert_eq!(read(&stream).await.unwrap(), 2);
    assert_eq!(sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_second_401_after_refreshing_is_a_config_error() {
    let server = MockServer::start().await;
    let sent = token_endpoint(&server, 3600, false).await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "no"})))
        .expect(2)
        .mount(&server)
        .await;
    let err = read(&items(api(&server).auth(Auth::oauth2(oauth(&server)))))
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    assert_eq!(sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_a_config_error_naming_the_oauth_error() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/v1/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ))
        .mount(&server)
        .await;
    let err = read(&items(api(&server).auth(Auth::oauth2(oauth(&server)))))
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("invalid_grant") && msg.contains("expired or revoked"),
        "{msg}"
    );
    assert!(
        !msg.contains("csecret-xyz") && !msg.contains("rt-1"),
        "{msg}"
    );
}

/// The config of a small OAuth source, as a user writes it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OAuthConfig {
    /// OAuth app credentials.
    credentials: Credentials,
    /// API host.
    base_url: String,
}

/// OAuth app credentials.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    /// Client id.
    client_id: String,
    /// Client secret.
    client_secret: Secret,
    /// Refresh token.
    refresh_token: Secret,
}

fn oauth_source() -> HttpSource<OAuthConfig> {
    HttpSource::new("oauth-demo", |cfg: &OAuthConfig| {
        let auth = OAuth2::refresh_token(
            format!("{}/oauth/v1/token", cfg.base_url).parse().unwrap(),
            cfg.credentials.client_id.clone(),
            cfg.credentials.client_secret.clone(),
            cfg.credentials.refresh_token.clone(),
        )
        .refresh_token_pointer("/credentials/refresh_token");
        let api = HttpApi::parse(&cfg.base_url)?
            .timeout(None)
            .auth(Auth::oauth2(auth));
        Ok(vec![
            api.stream("items")
                .get("/items")
                .records_at("/data")
                .primary_key("id")
                .schema(json!({"type": "object", "properties": {"id": {"type": "integer"}}})),
        ])
    })
}

#[tokio::test]
async fn a_rotated_refresh_token_becomes_a_control_message() {
    let server = MockServer::start().await;
    token_endpoint(&server, 3600, true).await;
    Mock::given(path("/items"))
        .respond_with(ok_items())
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "credentials": {"client_id": "cid", "client_secret": "csecret-xyz", "refresh_token": "rt-1"},
        "base_url": server.uri(),
    });
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let catalog = json!({"streams": [{
        "stream": {"name": "items", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "append"
    }]});
    let catalog_path = dir.path().join("catalog.json");
    std::fs::write(&catalog_path, catalog.to_string()).unwrap();
    let args = vec![
        "read".to_string(),
        "--config".into(),
        config_path.display().to_string(),
        "--catalog".into(),
        catalog_path.display().to_string(),
    ];
    let mut out = Vec::new();
    let code = intake::protocol::run_source_with(&oauth_source(), args, &mut out).await;
    // Every line validates against the protocol schema, the CONTROL message included.
    let messages: Vec<Value> = support::protocol::messages(&out);
    assert_eq!(code, 0, "{messages:#?}");
    let control: Vec<&Value> = messages.iter().filter(|m| m["type"] == "CONTROL").collect();
    assert_eq!(control.len(), 1, "{messages:#?}");
    assert_eq!(control[0]["control"]["type"], "CONNECTOR_CONFIG");
    let new_config = &control[0]["control"]["connectorConfig"]["config"];
    assert_eq!(new_config["credentials"]["refresh_token"], "rt-2");
    assert_eq!(new_config["credentials"]["client_id"], "cid");
    assert_eq!(new_config["base_url"], json!(server.uri()));
    // Embedded, the same rotation lands in the sync report.
    let report = intake::sync(oauth_source(), config)
        .to(intake::destination::jsonl::JsonlDestination::new(
            dir.path().join("out"),
        ))
        .run()
        .await
        .unwrap();
    let updated = report.updated_config.as_ref().expect("the rotated token");
    assert_eq!(updated["credentials"]["refresh_token"], "rt-3");
    assert_eq!(report.records_written(), 2);
}

fn test_key(token_uri: &str) -> ServiceAccountKey {
    ServiceAccountKey::from_json(
        &json!({
            "type": "service_account",
            "project_id": "intake-tests",
            "private_key_id": "kid-1",
            "private_key": include_str!("fixtures/test_rsa_private.pem"),
            "client_email": "reader@intake-tests.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string(),
    )
    .unwrap()
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    scope: String,
    aud: String,
    iat: u64,
    exp: u64,
}

#[tokio::test]
async fn a_google_service_account_signs_an_assertion_the_mock_verifies() {
    let server = MockServer::start().await;
    let token_uri = format!("{}/token", server.uri());
    let seen: Arc<Mutex<Vec<(jsonwebtoken::Header, Claims)>>> = Arc::default();
    let s = seen.clone();
    let expected_aud = token_uri.clone();
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(move |req: &Request| {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(&req.body).into_owned().collect();
            if form.get("grant_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            {
                return ResponseTemplate::new(400).set_body_json(json!({"error": "unsupported_grant_type"}));
            }
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(include_bytes!("fixtures/test_rsa_public.pem")).unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[expected_aud.as_str()]);
            match jsonwebtoken::decode::<Claims>(&form["assertion"], &key, &validation) {
                Ok(data) => {
                    s.lock().unwrap().push((data.header, data.claims));
                    ResponseTemplate::new(200).set_body_json(
                        json!({"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}),
                    )
                }
                Err(e) => ResponseTemplate::new(400)
                    .set_body_json(json!({"error": "invalid_grant", "error_description": e.to_string()})),
            }
        })
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/items"))
        .and(header("authorization", "Bearer ya29.test"))
        .respond_with(ok_items())
        .expect(2)
        .mount(&server)
        .await;
    let account = GoogleServiceAccount::new(
        test_key(&token_uri),
        &[
            "https://www.googleapis.com/auth/spreadsheets.readonly",
            "https://www.googleapis.com/auth/drive.readonly",
        ],
    )
    .unwrap();
    let stream = items(api(&server).auth(Auth::google_service_account(account)));
    read(&stream).await.unwrap();
    read(&stream).await.unwrap(); // the token is cached: one exchange
    let seen = seen.lock().unwrap();
    let (header, claims) = &seen[0];
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("kid-1"));
    assert_eq!(claims.iss, "reader@intake-tests.iam.gserviceaccount.com");
    assert_eq!(
        claims.scope,
        "https://www.googleapis.com/auth/spreadsheets.readonly https://www.googleapis.com/auth/drive.readonly"
    );
    assert_eq!(claims.aud, token_uri);
    assert_eq!(claims.exp - claims.iat, 3600);
}

#[tokio::test]
async fn a_malformed_service_account_key_is_a_config_error_that_hides_the_key() {
    let err =
        ServiceAccountKey::from_json(r#"{"private_key": "-----BEGIN nonsense"}"#).unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(!err.to_string().contains("nonsense"), "{err}");
    let mut key = test_key("https://oauth2.googleapis.com/token");
    key.private_key = secret("-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----");
    let err = GoogleServiceAccount::new(key, &["s"]).unwrap_err();
    assert!(
        err.is_config() && !err.to_string().contains("not-a-key"),
        "{err}"
    );
}
