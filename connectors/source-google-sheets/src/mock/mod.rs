//! A local Google Sheets sandbox: Google's token endpoint and the Sheets v4 endpoints this
//! connector reads, answering in Google's shapes.
//!
//! - `POST /token` verifies a service account's JWT the way Google does: the RS256 signature
//!   against the account's public key, `kid`, `iss`, `scope`, `aud`, and `iat`/`exp` (at most
//!   an hour apart, not in the future); or a refresh-token grant. Refusals are `invalid_grant`.
//! - `GET /v4/spreadsheets/{id}` lists the tabs (grid, chart, hidden ones); `GET
//!   /v4/spreadsheets/{id}/values:batchGet` answers A1 ranges (quoted titles with spaces,
//!   apostrophes and emoji) like Google: trailing empty cells and rows dropped, interior blank
//!   rows as `[]`, ranges clamped to the grid, formatted or unformatted values.
//! - 60 read requests a minute by default (429 `RESOURCE_EXHAUSTED` past it), 403
//!   `PERMISSION_DENIED` while the spreadsheet is not shared, 404 for another id.

mod data;
mod routes;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use intake::testing::MockApi;
use serde_json::{Value, json};

/// The sandbox spreadsheet's id.
pub const SPREADSHEET_ID: &str = "1SandboxSheetIdForIntakeTests0123456789abcd";
/// The service account's email.
pub const CLIENT_EMAIL: &str = "intake-reader@sandbox-project.iam.gserviceaccount.com";
/// The service account key's id.
pub const KEY_ID: &str = "sandbox-key-1";
/// The OAuth client the sandbox knows.
pub const CLIENT_ID: &str = "sandbox-client.apps.googleusercontent.com";
/// Its secret.
pub const CLIENT_SECRET: &str = "sandbox-client-secret";
/// The refresh token the sandbox accepts.
pub const REFRESH_TOKEN: &str = "sandbox-refresh-token";
/// The service account's private key (a test key generated for intake; never used elsewhere).
pub const PRIVATE_KEY: &str = include_str!("keys/test_rsa_private.pem");
const PUBLIC_KEY: &str = include_str!("keys/test_rsa_public.pem");

use data::Book;
pub use data::{TabSpec, spreadsheet};

/// The sandbox.
pub struct Sandbox {
    api: MockApi,
    book: Arc<Mutex<Book>>,
}

fn lock(b: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox {
    /// Serves `tabs` as spreadsheet [`SPREADSHEET_ID`], allowing `per_minute` read requests
    /// a minute.
    pub async fn start(tabs: Vec<TabSpec>, per_minute: usize) -> Sandbox {
        let api = MockApi::start().await;
        api.rate_limit(per_minute.max(1), Duration::from_secs(60));
        let sandbox = Sandbox {
            api,
            book: Arc::new(Mutex::new(Book {
                tabs,
                shared: true,
                ..Book::default()
            })),
        };
        sandbox.mount().await;
        sandbox
    }

    /// The mock underneath.
    pub fn api(&self) -> &MockApi {
        &self.api
    }

    /// The service account's key file, as Google Cloud downloads it.
    pub fn service_account_key(&self) -> Value {
        json!({
            "type": "service_account", "project_id": "sandbox-project",
            "private_key_id": KEY_ID, "private_key": PRIVATE_KEY,
            "client_email": CLIENT_EMAIL, "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{}/token", self.api.uri()),
        })
    }

    /// A config with the service account.
    pub fn config(&self) -> Value {
        json!({
            "spreadsheet_id": format!("https://docs.google.com/spreadsheets/d/{SPREADSHEET_ID}/edit#gid=0"),
            "credentials": {"auth_type": "service_account",
                            "service_account_info": self.service_account_key().to_string()},
            "base_url": self.api.uri(),
        })
    }

    /// A config with the OAuth client.
    pub fn oauth_config(&self) -> Value {
        json!({
            "spreadsheet_id": SPREADSHEET_ID,
            "credentials": {"auth_type": "oauth", "client_id": CLIENT_ID,
                            "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN},
            "base_url": self.api.uri(),
            "token_url": format!("{}/token", self.api.uri()),
        })
    }

    /// Shares the spreadsheet with the account, or stops sharing it (403 from then on).
    pub fn share(&self, shared: bool) {
        lock(&self.book).shared = shared;
    }

    /// Token requests answered, and why each refused assertion was refused.
    pub fn token_requests(&self) -> (u64, Vec<String>) {
        let b = lock(&self.book);
        (b.token_requests, b.refused_assertions.clone())
    }

    /// Appends rows to a tab (growing its grid as needed).
    pub fn append(&self, title: &str, rows: Vec<Vec<Value>>) {
        let mut b = lock(&self.book);
        if let Some(t) = b.tabs.iter_mut().find(|t| t.title == title) {
            t.rows.extend(rows);
            t.row_count = t.row_count.max(t.rows.len());
        }
    }

    /// Changes a tab's cells (row 0 is the header row), as someone editing the sheet would.
    pub fn edit(&self, title: &str, f: impl FnOnce(&mut Vec<Vec<Value>>)) {
        let mut b = lock(&self.book);
        if let Some(t) = b.tabs.iter_mut().find(|t| t.title == title) {
            f(&mut t.rows);
            t.row_count = t.row_count.max(t.rows.len());
        }
    }
}
