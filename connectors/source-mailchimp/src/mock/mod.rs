//! A local Mailchimp sandbox: the Marketing API v3 endpoints this connector reads, under
//! `/3.0`, answering in Mailchimp's shapes from generated data (lists, thousands of members with
//! merge fields, segments, interests, tags, campaigns, reports, email activity, unsubscribes,
//! automations), with Mailchimp's behaviour:
//! - Basic auth with any user name and the key as password; a key for another datacenter
//!   answers 401 "wrong datacenter"; OAuth tokens at `/oauth2/metadata` (`Authorization: OAuth`),
//!   which answers 200 without `api_endpoint` for an unknown token;
//! - offset/count paging (count <= 1000) with `total_items`, which overstates what is returned
//!   for automations (as recorded from the real API) and, on request, everywhere;
//! - the `since_*` filters and `sort_field`/`sort_dir`, `exclude_fields=<key>._links`;
//! - 10 simultaneous connections (the 11th answers 429, counted as a violation);
//! - problem+json errors, and a 404 for the report of a campaign marked sent without one.

mod data;
mod routes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use intake::testing::MockApi;
use serde_json::{Value, json};

use data::{Account, at, generate, hex};
use routes::problem;

/// The sandbox's datacenter.
pub const DC: &str = "us6";
/// The API key the sandbox accepts.
pub const APIKEY: &str = "5a9d2c4e8f1b3a7d6c0e9f2b4a8d1c3e-us6";
/// The OAuth access token the sandbox accepts.
pub const OAUTH_TOKEN: &str = "sandbox-oauth-token";
/// Simultaneous connections before a 429.
pub const MAX_CONNECTIONS: usize = 10;

/// How much data the sandbox generates.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// Members per list (one list per entry).
    pub members: Vec<usize>,
    /// Campaigns; three of every four are sent.
    pub campaigns: usize,
    /// Emails with activity per sent campaign.
    pub emails_per_campaign: usize,
    /// Whether every `total_items` overstates the records by 5 (automations always do).
    pub overstated_totals: bool,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        SandboxSpec {
            members: vec![1_200, 700, 300],
            campaigns: 12,
            emails_per_campaign: 40,
            overstated_totals: false,
        }
    }
}

/// The sandbox: a [`MockApi`] serving a generated account.
pub struct Sandbox {
    api: MockApi,
    account: Arc<Mutex<Account>>,
}

fn lock(a: &Mutex<Account>) -> std::sync::MutexGuard<'_, Account> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox {
    /// Generates an account and starts serving it on a loopback port.
    pub async fn start(spec: SandboxSpec) -> Sandbox {
        let api = MockApi::start().await;
        api.concurrency_limit(
            MAX_CONNECTIONS,
            problem(
                429,
                "Too Many Requests",
                "You have exceeded the limit of 10 simultaneous connections.",
            ),
        );
        let sandbox = Sandbox {
            api,
            account: Arc::new(Mutex::new(generate(&spec))),
        };
        sandbox.mount().await;
        sandbox
    }

    /// The mock underneath (statistics, faults, [`MockApi::hold`]).
    pub fn api(&self) -> &MockApi {
        &self.api
    }

    /// A config with the API key, pointed at the sandbox.
    pub fn config(&self) -> Value {
        json!({"credentials": {"auth_type": "apikey", "apikey": APIKEY},
               "base_url": format!("{}/3.0", self.api.uri())})
    }

    /// A config with the OAuth token: the datacenter and endpoint come from the sandbox's
    /// metadata endpoint.
    pub fn oauth_config(&self) -> Value {
        json!({"credentials": {"auth_type": "oauth", "access_token": OAUTH_TOKEN},
               "oauth_metadata_url": format!("{}/oauth2/metadata", self.api.uri())})
    }

    /// The list ids.
    pub fn lists(&self) -> Vec<String> {
        lock(&self.account)
            .lists
            .iter()
            .filter_map(|l| l["id"].as_str().map(str::to_string))
            .collect()
    }

    /// Members of a list.
    pub fn members(&self, list: &str) -> usize {
        lock(&self.account).members.get(list).map_or(0, Vec::len)
    }

    /// Every member as (list id, member id, last_changed).
    pub fn member_keys(&self) -> Vec<(String, String, String)> {
        let a = lock(&self.account);
        a.members
            .iter()
            .flat_map(|(list, members)| {
                members.iter().map(move |m| {
                    (
                        list.clone(),
                        m["id"].as_str().unwrap_or_default().to_string(),
                        m["last_changed"].as_str().unwrap_or_default().to_string(),
                    )
                })
            })
            .collect()
    }

    /// Records a stream's full refresh reads (for the acceptance suite).
    pub fn expected(&self, stream: &str) -> u64 {
        let a = lock(&self.account);
        let sum = |m: &HashMap<String, Vec<Value>>| m.values().map(Vec::len).sum::<usize>() as u64;
        match stream {
            "lists" => a.lists.len() as u64,
            "list_members" => sum(&a.members),
            "campaigns" => a.campaigns.len() as u64,
            "reports" => a.reports.len() as u64,
            "automations" => a.automations.len() as u64,
            "tags" => sum(&a.tags),
            "merge_fields" => sum(&a.merge_fields),
            "email_activity" => a
                .activity
                .values()
                .flatten()
                .map(|e| e["activity"].as_array().map_or(0, Vec::len) as u64)
                .sum(),
            "unsubscribes" => sum(&a.unsubscribes),
            "segments" => sum(&a.segments),
            // A segment's members are the first 25 of its list's.
            "segment_members" => a
                .segments
                .iter()
                .map(|(list, segments)| {
                    let members = a.members.get(list).map_or(0, Vec::len).min(25);
                    (segments.len() * members) as u64
                })
                .sum(),
            "interest_categories" => sum(&a.categories),
            "interests" => sum(&a.interests),
            _ => 0,
        }
    }

    /// Changes `n` members of one list (their `last_changed` moves to the account's next
    /// tick, later than every record it holds); returns their ids. The clock is the
    /// account's own, never the wall clock, so the same changes make the same requests in
    /// every run and a recorded cassette replays them.
    pub fn touch_members(&self, list: &str, n: usize) -> Vec<String> {
        let mut a = lock(&self.account);
        a.clock += 1;
        let now = at(a.clock);
        let Some(members) = a.members.get_mut(list) else {
            return Vec::new();
        };
        let step = (members.len() / n.max(1)).max(1);
        members
            .iter_mut()
            .step_by(step)
            .take(n)
            .map(|m| {
                m["last_changed"] = json!(now);
                m["merge_fields"]["FNAME"] = json!("Changed");
                m["id"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    /// Adds a draft campaign created at the account's next tick; returns its id.
    pub fn create_campaign(&self) -> String {
        let mut a = lock(&self.account);
        a.clock += 1;
        let id = hex(a.clock as u64, 10);
        let created = at(a.clock);
        let list_id = a.lists[0]["id"].clone();
        a.campaigns.push(
            json!({"id": id, "web_id": 1, "type": "regular", "create_time": created,
            "status": "save", "emails_sent": 0, "send_time": "", "recipients": {"list_id": list_id},
            "settings": {"title": "New"}, "_links": []}),
        );
        id
    }
}
