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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use intake::testing::MockApi;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

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

/// 2024-01-01T00:00:00Z in seconds.
const EPOCH: i64 = 1_704_067_200;

fn at(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}

fn hex(n: u64, width: usize) -> String {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let s = format!("{:016x}{:016x}", z ^ (z >> 31), z.rotate_left(17));
    s[..width].to_string()
}

#[derive(Debug, Default)]
struct Account {
    lists: Vec<Value>,
    members: HashMap<String, Vec<Value>>,
    merge_fields: HashMap<String, Vec<Value>>,
    segments: HashMap<String, Vec<Value>>,
    categories: HashMap<String, Vec<Value>>,
    interests: HashMap<String, Vec<Value>>,
    tags: HashMap<String, Vec<Value>>,
    campaigns: Vec<Value>,
    reports: Vec<Value>,
    activity: HashMap<String, Vec<Value>>,
    unsubscribes: HashMap<String, Vec<Value>>,
    automations: Vec<Value>,
    overstated: bool,
    clock: i64,
}

fn generate(spec: &SandboxSpec) -> Account {
    let mut a = Account {
        overstated: spec.overstated_totals,
        ..Account::default()
    };
    let mut tick = EPOCH;
    for (l, &count) in spec.members.iter().enumerate() {
        let list_id = hex(l as u64 + 1, 10);
        a.lists.push(json!({
            "id": list_id, "web_id": 100 + l, "name": format!("Newsletter {l}"),
            "contact": {"company": "Analytical Engines", "country": "GB"},
            "permission_reminder": "You signed up on our site.",
            "campaign_defaults": {"from_name": "Ada", "from_email": "ada@example.com", "subject": "", "language": "en"},
            "date_created": at(EPOCH - 86_400 * (30 - l as i64)), "list_rating": 3,
            "email_type_option": false, "visibility": "prv", "double_optin": false,
            "stats": {"member_count": count, "campaign_last_sent": "", "last_sub_date": at(EPOCH), "last_unsub_date": ""},
            "_links": [{"rel": "self", "href": "https://us6.api.mailchimp.com/3.0/lists"}]
        }));
        a.merge_fields.insert(
            list_id.clone(),
            [
                (1, "FNAME", "text"),
                (2, "LNAME", "text"),
                (3, "LTV", "number"),
                (4, "BIRTHDAY", "birthday"),
                (5, "ADDRESS", "address"),
                (6, "JOINED_AT", "date"),
            ]
            .iter()
            .map(|(id, tag, kind)| {
                json!({
                    "merge_id": id, "tag": tag, "name": tag, "type": kind, "required": false,
                    "default_value": "", "public": true, "display_order": id, "options": {},
                    "list_id": list_id, "_links": []
                })
            })
            .collect(),
        );
        let mut members = Vec::with_capacity(count);
        for m in 0..count {
            tick += 1;
            let n = (l * 100_000 + m) as u64;
            let email = format!("member{n}@example.com");
            members.push(json!({
                "id": hex(n + 1_000_000, 32), "email_address": email,
                "unique_email_id": hex(n + 2_000_000, 10), "contact_id": hex(n + 3_000_000, 24),
                "full_name": format!("Member {n}"), "web_id": 500_000 + n, "email_type": "html",
                "status": if m % 17 == 0 { "unsubscribed" } else { "subscribed" },
                "merge_fields": {
                    "FNAME": "Member", "LNAME": format!("No. {n}"),
                    "LTV": if m % 5 == 0 { json!("") } else { json!((m % 900) as f64 * 1.5) },
                    "BIRTHDAY": if m % 3 == 0 { json!("") } else { json!(format!("{:02}/{:02}", 1 + m % 12, 1 + m % 28)) },
                    "ADDRESS": if m % 4 == 0 { json!("") } else {
                        json!({"addr1": "1 Main St", "addr2": "", "city": "Oslo", "state": "", "zip": "0150", "country": "NO"}) },
                    "JOINED_AT": if m % 6 == 0 { json!("") } else { json!("2023-05-01") }
                },
                "interests": {}, "stats": {"avg_open_rate": 0.5, "avg_click_rate": 0.1},
                "ip_signup": "", "timestamp_signup": if m % 2 == 0 { json!("") } else { json!(at(EPOCH - 5_000)) },
                "ip_opt": "10.0.0.1", "timestamp_opt": at(EPOCH - 4_000),
                "member_rating": 2 + m % 4, "last_changed": at(tick), "language": "en", "vip": false,
                "email_client": "", "location": {"latitude": 59.9, "longitude": 10.7, "gmtoff": 1, "dstoff": 2, "country_code": "NO", "timezone": "Europe/Oslo"},
                "source": "API - Generic", "tags_count": 1, "tags": [{"id": 1, "name": "vip"}],
                "list_id": list_id, "_links": [{"rel": "self"}]
            }));
        }
        a.segments.insert(
            list_id.clone(),
            (0..2)
                .map(|s| json!({"id": 9_000 + l * 10 + s, "name": format!("Segment {s}"), "member_count": 25,
                    "type": "static", "created_at": at(EPOCH - 1_000), "updated_at": at(EPOCH - 500 + s as i64),
                    "options": {}, "list_id": list_id, "_links": []}))
                .collect(),
        );
        let cat = hex(l as u64 + 50, 10);
        a.categories.insert(
            list_id.clone(),
            vec![json!({"list_id": list_id, "id": cat, "title": "Interests", "display_order": 0, "type": "checkboxes", "_links": []})],
        );
        a.interests.insert(
            cat.clone(),
            (0..3)
                .map(|i| json!({"category_id": cat, "list_id": list_id, "id": hex(l as u64 * 10 + i + 70, 10),
                    "name": format!("Topic {i}"), "subscriber_count": "10", "display_order": i, "_links": []}))
                .collect(),
        );
        a.tags.insert(
            list_id.clone(),
            (0..3)
                .map(|t| json!({"id": 1 + t, "name": format!("tag-{t}")}))
                .collect(),
        );
        a.members.insert(list_id.clone(), members);
    }
    for c in 0..spec.campaigns {
        let id = hex(c as u64 + 900, 10);
        let sent = c % 4 != 3;
        let list = &a.lists[c % a.lists.len()];
        let list_id = list["id"].as_str().unwrap_or_default().to_string();
        let created = EPOCH + 1_000 * c as i64;
        a.campaigns.push(json!({
            "id": id, "web_id": 70_000 + c, "type": "regular", "create_time": at(created),
            "archive_url": format!("https://eepurl.com/{id}"), "status": if sent { "sent" } else { "save" },
            "emails_sent": if sent { spec.emails_per_campaign } else { 0 },
            "send_time": if sent { at(created + 600) } else { String::new() },
            "content_type": "template", "recipients": {"list_id": list_id, "list_is_active": true, "segment_opts": {"conditions": [null]}},
            "settings": {"subject_line": format!("News #{c}"), "title": format!("Campaign {c}")},
            "tracking": {"opens": true, "html_clicks": true},
            "report_summary": {"opens": 10, "unique_opens": 8, "open_rate": 0.2, "clicks": 3},
            "delivery_status": {"enabled": false}, "_links": []
        }));
        // The last sent campaign has no report: Mailchimp answers 404 for it.
        if !sent || c + 4 >= spec.campaigns && c % 4 == 2 {
            continue;
        }
        a.reports.push(json!({
            "id": id, "campaign_title": format!("Campaign {c}"), "type": "regular", "list_id": list_id,
            "list_name": list["name"], "subject_line": format!("News #{c}"),
            "emails_sent": spec.emails_per_campaign, "abuse_reports": 0, "unsubscribed": 3,
            "send_time": at(created + 600), "bounces": {"hard_bounces": 1, "soft_bounces": 0},
            "forwards": {"forwards_count": 0}, "opens": {"opens_total": 30, "unique_opens": 20, "open_rate": 0.5},
            "clicks": {"clicks_total": 9, "unique_clicks": 7, "click_rate": 0.17}, "list_stats": {}, "_links": []
        }));
        let members = &a.members[&list_id];
        let emails: Vec<Value> = (0..spec.emails_per_campaign.min(members.len()))
            .map(|e| {
                let m = &members[e];
                let acts: Vec<Value> = (0..(e % 4))
                    .map(|k| {
                        let action = ["open", "click", "bounce"][k % 3];
                        let mut act = json!({"action": action, "timestamp": at(created + 700 + (e * 10 + k) as i64), "ip": "10.1.1.1"});
                        if action == "click" {
                            act["url"] = json!("https://example.com/offer");
                        }
                        if action == "bounce" {
                            act["type"] = json!("soft");
                        }
                        act
                    })
                    .collect();
                json!({"campaign_id": id, "list_id": list_id, "list_is_active": true,
                       "email_id": m["id"], "email_address": m["email_address"], "activity": acts, "_links": []})
            })
            .collect();
        a.activity.insert(id.clone(), emails);
        a.unsubscribes.insert(
            id.clone(),
            (0..3)
                .map(|u| json!({"email_id": members[u]["id"], "email_address": members[u]["email_address"],
                    "merge_fields": {"FNAME": "Member", "LNAME": ""}, "vip": false,
                    "timestamp": at(created + 900 + u as i64), "reason": "N/A (Unsubscribed by admin)",
                    "campaign_id": id, "list_id": list_id, "_links": []}))
                .collect(),
        );
    }
    a.automations = (0..2)
        .map(|i| json!({"id": hex(i + 990, 10), "create_time": at(EPOCH - 10_000 + i as i64), "start_time": "",
            "status": "save", "emails_sent": 0, "recipients": {"list_id": a.lists[0]["id"]},
            "settings": {"title": format!("Welcome {i}")}, "tracking": {}, "report_summary": {}, "_links": []}))
        .collect();
    a.clock = tick;
    a
}

fn problem(status: u16, title: &str, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        json!({"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title,
               "status": status, "detail": detail, "instance": "00000000-1111-2222-3333-444444444444"})
        .to_string(),
        "application/problem+json; charset=utf-8",
    )
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The refusal of a request with bad credentials.
fn refuse(req: &Request) -> Option<ResponseTemplate> {
    let header = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(token) = header.strip_prefix("Bearer ") {
        return (token != OAUTH_TOKEN).then(|| {
            problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        });
    }
    let key = header
        .strip_prefix("Basic ")
        .and_then(base64_decode)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(_, k)| k.to_string()));
    match key {
        Some(k) if k == APIKEY => None,
        Some(k) if !k.ends_with(&format!("-{DC}")) && k.contains('-') => Some(problem(
            401,
            "Wrong Datacenter",
            &format!(
                "The API key provided is linked to a different datacenter. Are you sure you want to access {DC}?"
            ),
        )),
        Some(_) => Some(problem(401, "API Key Invalid", "API key has been disabled")),
        None => Some(problem(
            401,
            "API Key Missing",
            "Your request did not include an API key.",
        )),
    }
}

/// One page of `items` as Mailchimp serves it.
fn page(req: &Request, key: &str, mut items: Vec<Value>, overstated: bool) -> ResponseTemplate {
    let q: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
    let count: usize = q.get("count").and_then(|c| c.parse().ok()).unwrap_or(10);
    if count > 1_000 {
        return problem(
            400,
            "Invalid Resource",
            "The count must be less than or equal to 1000.",
        );
    }
    let offset: usize = q.get("offset").and_then(|c| c.parse().ok()).unwrap_or(0);
    let since: Vec<(&str, &str)> = [
        ("since_last_changed", "last_changed"),
        ("since_date_created", "date_created"),
        ("since_create_time", "create_time"),
        ("since_send_time", "send_time"),
        ("since_updated_at", "updated_at"),
    ]
    .into_iter()
    .filter(|(p, _)| q.contains_key(*p))
    .collect();
    for (param, field) in since {
        let Some(from) = q.get(param).and_then(|v| intake::state::parse_datetime(v)) else {
            return problem(
                400,
                "Invalid Resource",
                &format!("{param} is not a valid date"),
            );
        };
        items.retain(|i| {
            i[field]
                .as_str()
                .and_then(intake::state::parse_datetime)
                .is_some_and(|t| t >= from)
        });
    }
    if let Some(field) = q.get("sort_field") {
        items.sort_by(|a, b| {
            a[field.as_str()]
                .as_str()
                .unwrap_or_default()
                .cmp(b[field.as_str()].as_str().unwrap_or_default())
        });
        if q.get("sort_dir").map(String::as_str) == Some("DESC") {
            items.reverse();
        }
    }
    let total = items.len() + if overstated { 5 } else { 0 };
    let exclude_links = q
        .get("exclude_fields")
        .is_some_and(|f| f.split(',').any(|f| f == format!("{key}._links")));
    let page: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|mut v| {
            if exclude_links && let Value::Object(m) = &mut v {
                m.remove("_links");
            }
            v
        })
        .collect();
    ResponseTemplate::new(200)
        .set_body_json(json!({ key: page, "total_items": total, "_links": [] }))
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
            _ => 0,
        }
    }

    /// Changes `n` members of one list (their `last_changed` moves to now); returns their ids.
    pub fn touch_members(&self, list: &str, n: usize) -> Vec<String> {
        let mut a = lock(&self.account);
        a.clock = (a.clock + 1).max(chrono::Utc::now().timestamp());
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

    /// Adds a draft campaign created now; returns its id.
    pub fn create_campaign(&self) -> String {
        let mut a = lock(&self.account);
        a.clock = (a.clock + 1).max(chrono::Utc::now().timestamp());
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

    async fn mount(&self) {
        let uri = self.api.uri();
        self.api
            .handle("GET", r"^/oauth2/metadata$", move |req| {
                let sent = req
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if sent == format!("OAuth {OAUTH_TOKEN}") {
                    ResponseTemplate::new(200).set_body_json(json!({
                        "dc": DC, "role": "owner", "accountname": "Analytical Engines",
                        "user_id": 1, "login": {"login_name": "ada"},
                        "login_url": "https://login.mailchimp.com", "api_endpoint": uri
                    }))
                } else {
                    // Mailchimp answers 200 for a token it does not know.
                    ResponseTemplate::new(200).set_body_json(
                        json!({"error": "invalid_token", "error_description": "Invalid OAuth token"}),
                    )
                }
            })
            .await;
        self.api
            .handle("GET", r"^/3\.0/ping$", |req| {
                refuse(req).unwrap_or_else(|| {
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"health_status": "Everything's Chimpy!"}))
                })
            })
            .await;
        let routes: Vec<(&str, &str)> = vec![
            (r"^/3\.0/lists$", "lists"),
            (r"^/3\.0/lists/([^/]+)/members$", "members"),
            (r"^/3\.0/lists/([^/]+)/merge-fields$", "merge_fields"),
            (r"^/3\.0/lists/([^/]+)/segments$", "segments"),
            (r"^/3\.0/lists/([^/]+)/segments/([^/]+)/members$", "members"),
            (r"^/3\.0/lists/([^/]+)/interest-categories$", "categories"),
            (
                r"^/3\.0/lists/([^/]+)/interest-categories/([^/]+)/interests$",
                "interests",
            ),
            (r"^/3\.0/lists/([^/]+)/tag-search$", "tags"),
            (r"^/3\.0/campaigns$", "campaigns"),
            (r"^/3\.0/reports$", "reports"),
            (r"^/3\.0/reports/([^/]+)/email-activity$", "emails"),
            (r"^/3\.0/reports/([^/]+)/unsubscribed$", "unsubscribes"),
            (r"^/3\.0/automations$", "automations"),
        ];
        for (route, key) in routes {
            let account = self.account.clone();
            self.api
                .handle("GET", route, move |req| {
                    if let Some(refusal) = refuse(req) {
                        return refusal;
                    }
                    let parts: Vec<&str> = req.url.path().split('/').collect();
                    let a = lock(&account);
                    let not_found = || {
                        problem(
                            404,
                            "Resource Not Found",
                            "The requested resource could not be found.",
                        )
                    };
                    let items: Option<Vec<Value>> = match (key, parts.len()) {
                        ("lists", _) => Some(a.lists.clone()),
                        ("members", 5) => a.members.get(parts[3]).cloned(),
                        ("members", _) => {
                            // A segment's members: the first 25 of its list.
                            a.members
                                .get(parts[3])
                                .map(|m| m.iter().take(25).cloned().collect())
                        }
                        ("merge_fields", _) => a.merge_fields.get(parts[3]).cloned(),
                        ("segments", _) => a.segments.get(parts[3]).cloned(),
                        ("categories", _) => a.categories.get(parts[3]).cloned(),
                        ("interests", _) => a.interests.get(parts[5]).cloned(),
                        ("tags", _) => a.tags.get(parts[3]).cloned(),
                        ("campaigns", _) => Some(a.campaigns.clone()),
                        ("reports", _) => Some(a.reports.clone()),
                        ("emails", _) => a.activity.get(parts[3]).map(|emails| {
                            let q: HashMap<String, String> =
                                req.url.query_pairs().into_owned().collect();
                            let since = q
                                .get("since")
                                .and_then(|s| intake::state::parse_datetime(s));
                            emails
                                .iter()
                                .filter_map(|e| {
                                    let Some(since) = since else {
                                        return Some(e.clone());
                                    };
                                    let mut e = e.clone();
                                    let kept: Vec<Value> = e["activity"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .filter(|act| {
                                            act["timestamp"]
                                                .as_str()
                                                .and_then(intake::state::parse_datetime)
                                                .is_some_and(|t| t >= since)
                                        })
                                        .cloned()
                                        .collect();
                                    (!kept.is_empty()).then(|| {
                                        e["activity"] = json!(kept);
                                        e
                                    })
                                })
                                .collect()
                        }),
                        ("unsubscribes", _) => a.unsubscribes.get(parts[3]).cloned(),
                        ("automations", _) => Some(a.automations.clone()),
                        _ => None,
                    };
                    let overstated = a.overstated || key == "automations";
                    drop(a);
                    match items {
                        Some(items) => page(req, key, items, overstated),
                        None => not_found(),
                    }
                })
                .await;
        }
    }
}
