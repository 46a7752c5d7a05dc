//! A local HubSpot sandbox: the CRM v3 endpoints this connector reads, answering in HubSpot's
//! shapes from generated data, with HubSpot's limits and failures. For contract tests, the
//! CLI's offline demo and anyone testing code against HubSpot without a portal.
//!
//! What it models (see `../shared/apis/FACTS.md` section 1 for the real API):
//! - auth: a private-app token, or OAuth (`POST /oauth/v1/token` with a refresh token; access
//!   tokens can be expired on demand and then answer 401 `EXPIRED_AUTHENTICATION`);
//! - `GET /crm/v3/properties/{object}`, `GET /crm/v3/schemas` (one custom object, `cars`);
//! - `GET /crm/v3/objects/{object}`: id-ordered `after` paging (limit <= 100), `properties=`
//!   selection, `archived=true` for archived records only; a URL longer than 16,000 characters
//!   answers 414;
//! - `POST /crm/v3/objects/{object}/search`: GTE/GT/LTE/LT/EQ filters, one sort, limit <= 200,
//!   offset-like `after`; 400 past 10,000 results; its own limit of 4 requests per second
//!   (429 `SECONDLY`), outside the 10-second window;
//! - `POST /crm/v4/associations/{from}/{to}/batch/read`;
//! - owners (`archived=true` for archived ones), deal and ticket pipelines, account details;
//! - the portal's requests per 10 seconds (429 past it, `X-HubSpot-RateLimit-*` headers on
//!   every answer), an optional daily quota (429 `DAILY`), and scopes that can be withdrawn
//!   per object (403 `MISSING_SCOPES`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intake::testing::MockApi;
use serde_json::{Map, Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::properties::{instant, rfc3339};

/// The private-app token the sandbox accepts.
pub const TOKEN: &str = "pat-na1-sandbox-0000";
/// The OAuth app the sandbox knows.
pub const CLIENT_ID: &str = "sandbox-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "sandbox-client-secret";
/// The refresh token of the sandbox's install.
pub const REFRESH_TOKEN: &str = "sandbox-refresh-token";
/// The longest URL the list endpoint accepts.
pub const MAX_URL_CHARS: usize = 16_000;
/// Search requests per second before a 429.
pub const SEARCH_PER_SECOND: usize = 4;

/// How much data the sandbox generates.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// Seed of the generated data.
    pub seed: u64,
    /// Contacts (about 2% of every object type are archived).
    pub contacts: usize,
    /// Companies.
    pub companies: usize,
    /// Deals.
    pub deals: usize,
    /// Tickets.
    pub tickets: usize,
    /// Products.
    pub products: usize,
    /// Line items.
    pub line_items: usize,
    /// Records of each engagement type (calls, emails, meetings, notes, tasks).
    pub engagements: usize,
    /// Active owners (and a fifth as many archived ones).
    pub owners: usize,
    /// Records of the custom object `cars`.
    pub cars: usize,
    /// Extra custom properties on contacts (a portal with 1,500 properties needs chunking).
    pub extra_contact_properties: usize,
    /// The portal's requests per 10 seconds (100 for Free and Starter private apps).
    pub requests_per_10_seconds: usize,
    /// Search requests per second before a 429 `SECONDLY` (HubSpot: 4).
    pub search_per_second: usize,
}

impl Default for SandboxSpec {
    /// A portal of a few thousand records.
    fn default() -> Self {
        SandboxSpec {
            seed: 7,
            contacts: 2_000,
            companies: 400,
            deals: 600,
            tickets: 300,
            products: 60,
            line_items: 500,
            engagements: 100,
            owners: 25,
            cars: 120,
            extra_contact_properties: 0,
            requests_per_10_seconds: 100,
            search_per_second: SEARCH_PER_SECOND,
        }
    }
}

impl SandboxSpec {
    /// A portal small enough for quick tests: tens of records per object.
    pub fn small() -> Self {
        SandboxSpec {
            contacts: 250,
            companies: 40,
            deals: 60,
            tickets: 30,
            products: 10,
            line_items: 30,
            engagements: 12,
            owners: 6,
            cars: 15,
            ..SandboxSpec::default()
        }
    }
}

/// Object types, the property their search filters on, and their generated properties.
const OBJECT_TYPES: &[(&str, &str)] = &[
    ("contacts", "lastmodifieddate"),
    ("companies", "hs_lastmodifieddate"),
    ("deals", "hs_lastmodifieddate"),
    ("tickets", "hs_lastmodifieddate"),
    ("products", "hs_lastmodifieddate"),
    ("line_items", "hs_lastmodifieddate"),
    ("calls", "hs_lastmodifieddate"),
    ("emails", "hs_lastmodifieddate"),
    ("meetings", "hs_lastmodifieddate"),
    ("notes", "hs_lastmodifieddate"),
    ("tasks", "hs_lastmodifieddate"),
];
/// The custom object's type id and name.
pub const CARS_TYPE_ID: &str = "2-3508482";

/// 2024-01-01T00:00:00Z, where generated modification times start.
const EPOCH_MS: i64 = 1_704_067_200_000;

#[derive(Debug, Clone)]
struct Obj {
    id: u64,
    props: BTreeMap<String, Option<String>>,
    created_ms: i64,
    updated_ms: i64,
    archived: bool,
}

#[derive(Debug, Default)]
struct ObjectData {
    modified_property: String,
    definitions: Vec<Value>,
    records: BTreeMap<u64, Obj>,
}

#[derive(Debug, Default)]
struct Portal {
    objects: BTreeMap<String, ObjectData>,
    owners: Vec<Value>,
    associations: HashMap<(String, String), BTreeMap<u64, Vec<u64>>>,
    access_tokens: HashSet<String>,
    expired_tokens: HashSet<String>,
    issued: u64,
    token_requests: u64,
    denied: HashSet<String>,
    daily_limit: Option<u64>,
    daily_used: u64,
    window: VecDeque<Instant>,
    limit_10s: usize,
    search_limit: usize,
    search_arrivals: VecDeque<Instant>,
    search_requests: u64,
    search_violations: u64,
    clock_ms: i64,
    next_id: u64,
    rng: u64,
}

impl Portal {
    fn random(&mut self) -> u64 {
        // splitmix64: deterministic data without a dependency.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.random() % options.len() as u64) as usize]
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1 + self.random() % 7;
        self.next_id
    }
}

fn definition(name: &str, kind: &str, field: &str) -> Value {
    json!({
        "name": name, "label": name.replace('_', " "), "type": kind, "fieldType": field,
        "groupName": "generated", "description": "", "options": [], "displayOrder": -1,
        "calculated": false, "externalOptions": false, "hasUniqueValue": false, "hidden": false,
        "hubspotDefined": !name.starts_with("custom_") && name != "favorite_color" && name != "loyalty_points",
        "modificationMetadata": {"archivable": true, "readOnlyDefinition": false, "readOnlyValue": false},
        "formField": true, "createdAt": "2023-06-01T00:00:00Z", "updatedAt": "2023-06-01T00:00:00Z",
        "archived": false
    })
}

/// The property definitions of an object type: `(name, type, fieldType)`.
fn definitions(object: &str, modified: &str, extra: usize) -> Vec<Value> {
    let mut defs: Vec<(String, &str, &str)> = vec![
        ("hs_object_id".into(), "number", "number"),
        ("createdate".into(), "datetime", "date"),
        (modified.into(), "datetime", "date"),
    ];
    let specific: &[(&str, &str, &str)] = match object {
        "contacts" => &[
            ("email", "string", "text"),
            ("firstname", "string", "text"),
            ("lastname", "string", "text"),
            ("phone", "phone_number", "phonenumber"),
            ("lifecyclestage", "enumeration", "radio"),
            ("annualrevenue", "number", "number"),
            ("hs_email_optout", "bool", "booleancheckbox"),
            ("date_of_birth", "date", "date"),
            ("favorite_color", "enumeration", "select"),
            ("loyalty_points", "number", "number"),
            ("hs_lastmodifieddate", "datetime", "date"),
        ],
        "companies" => &[
            ("name", "string", "text"),
            ("domain", "string", "text"),
            ("industry", "enumeration", "select"),
            ("numberofemployees", "number", "number"),
            ("is_public", "bool", "booleancheckbox"),
        ],
        "deals" => &[
            ("dealname", "string", "text"),
            ("amount", "number", "number"),
            ("dealstage", "enumeration", "radio"),
            ("pipeline", "enumeration", "select"),
            ("closedate", "datetime", "date"),
        ],
        "tickets" => &[
            ("subject", "string", "text"),
            ("hs_pipeline_stage", "enumeration", "radio"),
            ("hs_ticket_priority", "enumeration", "select"),
            ("closed_date", "datetime", "date"),
        ],
        "products" | "line_items" => &[
            ("name", "string", "text"),
            ("price", "number", "number"),
            ("quantity", "number", "number"),
            ("hs_sku", "string", "text"),
        ],
        "cars" | CARS_TYPE_ID => &[
            ("make", "string", "text"),
            ("model", "string", "text"),
            ("year", "number", "number"),
            ("vin", "string", "text"),
        ],
        _ => &[
            ("hs_timestamp", "datetime", "date"),
            ("hs_body_preview", "string", "textarea"),
            ("hubspot_owner_id", "enumeration", "select"),
        ],
    };
    defs.extend(specific.iter().map(|(n, t, f)| (n.to_string(), *t, *f)));
    if object == "contacts" {
        for i in 0..extra {
            defs.push((format!("custom_field_{i:04}"), "string", "text"));
        }
    }
    defs.iter().map(|(n, t, f)| definition(n, t, f)).collect()
}

fn ms_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| rfc3339(&t))
        .unwrap_or_default()
}

/// A generated value for a property.
fn value(portal: &mut Portal, object: &str, name: &str, kind: &str, n: u64) -> Option<String> {
    let r = portal.random();
    Some(match (name, kind) {
        ("email", _) => format!("person{n}@example.com"),
        ("firstname", _) => portal
            .pick(&["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Zoë"])
            .into(),
        ("lastname", _) => portal
            .pick(&[
                "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "O'Neil",
            ])
            .into(),
        ("phone", _) => format!("+1 617 555 {:04}", r % 10_000),
        ("lifecyclestage", _) => portal
            .pick(&["subscriber", "lead", "marketingqualifiedlead", "customer"])
            .into(),
        ("favorite_color", _) => portal.pick(&["red", "green", "blue"]).into(),
        ("name", _) if object == "companies" => format!("Company {n} Ltd"),
        ("domain", _) => format!("company{n}.example.com"),
        ("dealname", _) => format!("Deal {n}"),
        ("subject", _) => format!("Ticket {n}: something broke"),
        ("make", _) => portal.pick(&["Volvo", "Saab", "Fiat"]).into(),
        ("vin", _) => format!("VIN{r:014}"),
        (_, "number") => match r % 10 {
            // An unset number arrives as "" (and must become null), sometimes as null.
            0 => String::new(),
            1 => return None,
            2 => format!("{}.{}", r % 100_000, r % 100),
            _ => (r % 100_000).to_string(),
        },
        (_, "bool") => (if r.is_multiple_of(2) { "true" } else { "false" }).into(),
        (_, "date") => ms_text(EPOCH_MS - (r % 20_000) as i64 * 86_400_000)[..10].to_string(),
        (_, "datetime") => ms_text(EPOCH_MS - (r % 1_000_000_000) as i64),
        (_, "enumeration") => portal.pick(&["a", "b", "c"]).into(),
        _ if name.starts_with("custom_field_") => {
            if r.is_multiple_of(3) {
                return None;
            }
            format!("value {r}")
        }
        _ => format!("{name} {n}"),
    })
}

fn generate(portal: &mut Portal, object: &str, modified: &str, count: usize, extra: usize) {
    let defs = definitions(object, modified, extra);
    let mut records = BTreeMap::new();
    for n in 0..count as u64 {
        let id = portal.id();
        let created_ms = EPOCH_MS - 86_400_000 * 30 + (n as i64) * 60_000;
        // Modification times increase with n, several records sharing an instant.
        let updated_ms = EPOCH_MS + (n as i64 / 3) * 1_000;
        let mut props = BTreeMap::new();
        for d in &defs {
            let name = d["name"].as_str().unwrap_or_default();
            let kind = d["type"].as_str().unwrap_or("string");
            let v = match name {
                "hs_object_id" => Some(id.to_string()),
                "createdate" => Some(ms_text(created_ms)),
                "lastmodifieddate" | "hs_lastmodifieddate" => Some(ms_text(updated_ms)),
                _ => value(portal, object, name, kind, n),
            };
            props.insert(name.to_string(), v);
        }
        let archived = portal.random().is_multiple_of(50);
        records.insert(
            id,
            Obj {
                id,
                props,
                created_ms,
                updated_ms,
                archived,
            },
        );
    }
    portal.clock_ms = portal
        .clock_ms
        .max(EPOCH_MS + (count as i64 / 3 + 1) * 1_000);
    portal.objects.insert(
        object.to_string(),
        ObjectData {
            modified_property: modified.to_string(),
            definitions: defs,
            records,
        },
    );
}

fn associate(portal: &mut Portal, from: &str, to: &str, max_each: u64) {
    let to_ids: Vec<u64> = portal.objects[to]
        .records
        .values()
        .filter(|o| !o.archived)
        .map(|o| o.id)
        .collect();
    let from_ids: Vec<u64> = portal.objects[from].records.keys().copied().collect();
    if to_ids.is_empty() {
        return;
    }
    let mut forward: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut backward: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for id in from_ids {
        let n = portal.random() % (max_each + 1);
        for _ in 0..n {
            let t = to_ids[(portal.random() % to_ids.len() as u64) as usize];
            let list = forward.entry(id).or_default();
            if !list.contains(&t) {
                list.push(t);
                backward.entry(t).or_default().push(id);
            }
        }
    }
    portal
        .associations
        .insert((from.to_string(), to.to_string()), forward);
    let reverse = portal
        .associations
        .entry((to.to_string(), from.to_string()))
        .or_default();
    for (k, v) in backward {
        let list = reverse.entry(k).or_default();
        for id in v {
            if !list.contains(&id) {
                list.push(id);
            }
        }
    }
}

fn owner(portal: &mut Portal, n: usize, archived: bool) -> Value {
    let id = 52_550_000 + n as u64;
    let first = portal.pick(&["Maria", "Jon", "Priya", "Wei"]);
    json!({
        "id": id.to_string(),
        "email": format!("owner{n}@example.com"),
        "firstName": first,
        "lastName": format!("Owner{n}"),
        "userId": 12_280_000 + n as u64,
        "userIdIncludingInactive": 12_280_000 + n as u64,
        "type": "PERSON",
        "createdAt": ms_text(EPOCH_MS - 86_400_000),
        "updatedAt": ms_text(EPOCH_MS + n as i64 * 3_600_000),
        "archived": archived,
        "teams": [{"id": "101", "name": "Sales", "primary": true}]
    })
}

/// The sandbox: a [`MockApi`] serving a generated portal.
pub struct Sandbox {
    api: MockApi,
    portal: Arc<Mutex<Portal>>,
}

fn lock(portal: &Mutex<Portal>) -> std::sync::MutexGuard<'_, Portal> {
    portal.lock().unwrap_or_else(|e| e.into_inner())
}

fn error(status: u16, category: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status": "error", "message": message, "correlationId": "00000000-0000-4000-8000-000000000000",
        "category": category
    }))
}

fn query(req: &Request) -> HashMap<String, String> {
    req.url.query_pairs().into_owned().collect()
}

/// The API object of a record, with the properties asked for (`None`: the defaults).
fn render(o: &Obj, modified: &str, wanted: Option<&HashSet<String>>) -> Value {
    let mut props = Map::new();
    for (k, v) in &o.props {
        let default = k == "hs_object_id" || k == "createdate" || k == modified;
        let take = match wanted {
            Some(w) => w.contains(k) || default,
            None => default || k == "email" || k == "name" || k == "firstname",
        };
        if take {
            props.insert(
                k.clone(),
                v.clone().map(Value::String).unwrap_or(Value::Null),
            );
        }
    }
    let mut out = json!({
        "id": o.id.to_string(),
        "properties": props,
        "createdAt": ms_text(o.created_ms),
        "updatedAt": ms_text(o.updated_ms),
        "archived": o.archived,
    });
    if o.archived {
        out["archivedAt"] = json!(ms_text(o.updated_ms));
    }
    out
}

fn compare_ms(value: i64, operator: &str, target: i64) -> bool {
    match operator {
        "GTE" => value >= target,
        "GT" => value > target,
        "LTE" => value <= target,
        "LT" => value < target,
        "EQ" => value == target,
        "NEQ" => value != target,
        _ => true,
    }
}

fn compare(value: Option<&str>, operator: &str, target: &str) -> bool {
    let Some(value) = value else {
        return false;
    };
    let as_ms = |s: &str| instant(s).map(|t| t.timestamp_millis());
    let ord = match (as_ms(value), as_ms(target)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => match (value.parse::<f64>(), target.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
            _ => value.cmp(target),
        },
    };
    use std::cmp::Ordering::*;
    match operator {
        "GTE" => ord != Less,
        "GT" => ord == Greater,
        "LTE" => ord != Greater,
        "LT" => ord == Less,
        "EQ" => ord == Equal,
        "NEQ" => ord != Equal,
        _ => true,
    }
}

impl Sandbox {
    /// Generates a portal and starts serving it on a loopback port.
    pub async fn start(spec: SandboxSpec) -> Sandbox {
        let mut portal = Portal {
            rng: spec.seed,
            next_id: 1_000,
            limit_10s: spec.requests_per_10_seconds.max(1),
            search_limit: spec.search_per_second.max(1),
            ..Portal::default()
        };
        let counts = [
            spec.contacts,
            spec.companies,
            spec.deals,
            spec.tickets,
            spec.products,
            spec.line_items,
            spec.engagements,
            spec.engagements,
            spec.engagements,
            spec.engagements,
            spec.engagements,
        ];
        for ((object, modified), count) in OBJECT_TYPES.iter().zip(counts) {
            let extra = if *object == "contacts" {
                spec.extra_contact_properties
            } else {
                0
            };
            generate(&mut portal, object, modified, count, extra);
        }
        generate(
            &mut portal,
            CARS_TYPE_ID,
            "hs_lastmodifieddate",
            spec.cars,
            0,
        );
        // The custom object's definitions name its own properties.
        if let Some(cars) = portal.objects.get_mut(CARS_TYPE_ID) {
            cars.definitions = definitions("cars", "hs_lastmodifieddate", 0);
        }
        associate(&mut portal, "contacts", "companies", 2);
        associate(&mut portal, "deals", "contacts", 3);
        associate(&mut portal, "deals", "companies", 1);
        let mut owners = Vec::new();
        for n in 0..spec.owners {
            owners.push(owner(&mut portal, n, false));
        }
        for n in 0..spec.owners.div_ceil(5) {
            owners.push(owner(&mut portal, spec.owners + n, true));
        }
        portal.owners = owners;
        let api = MockApi::start().await;
        api.rate_limit(spec.requests_per_10_seconds.max(1), Duration::from_secs(10));
        let sandbox = Sandbox {
            api,
            portal: Arc::new(Mutex::new(portal)),
        };
        sandbox.mount().await;
        sandbox
    }

    /// The base URL.
    pub fn uri(&self) -> String {
        self.api.uri()
    }

    /// The mock underneath (statistics, injected faults).
    pub fn api(&self) -> &MockApi {
        &self.api
    }

    /// A config with the private-app token.
    pub fn config(&self) -> Value {
        self.config_with(json!({"auth_type": "private_app", "access_token": TOKEN}))
    }

    /// A config with the OAuth app.
    pub fn oauth_config(&self) -> Value {
        self.config_with(json!({"auth_type": "oauth", "client_id": CLIENT_ID,
                                "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}))
    }

    fn config_with(&self, credentials: Value) -> Value {
        let p = lock(&self.portal);
        json!({
            "credentials": credentials,
            "base_url": self.uri(),
            "requests_per_10_seconds": p.limit_10s,
            "search_requests_per_second": p.search_limit,
        })
    }

    /// Records of an object type (`contacts`, or the custom object's type id), active or
    /// archived.
    pub fn count(&self, object: &str, archived: bool) -> usize {
        lock(&self.portal)
            .objects
            .get(object)
            .map(|o| {
                o.records
                    .values()
                    .filter(|r| r.archived == archived)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Active and archived owners.
    pub fn owners(&self) -> usize {
        lock(&self.portal).owners.len()
    }

    /// The ids associated with a record.
    pub fn associated(&self, from: &str, id: &str, to: &str) -> Vec<String> {
        let id: u64 = id.parse().unwrap_or_default();
        lock(&self.portal)
            .associations
            .get(&(from.to_string(), to.to_string()))
            .and_then(|m| m.get(&id))
            .map(|v| v.iter().map(u64::to_string).collect())
            .unwrap_or_default()
    }

    /// A record's raw property value.
    pub fn property(&self, object: &str, id: &str, name: &str) -> Option<String> {
        let id: u64 = id.parse().ok()?;
        lock(&self.portal)
            .objects
            .get(object)?
            .records
            .get(&id)?
            .props
            .get(name)?
            .clone()
    }

    /// Sets a record's raw property value (as HubSpot stores it: a string).
    pub fn set_property(&self, object: &str, id: &str, name: &str, value: Option<&str>) {
        let Ok(id) = id.parse::<u64>() else { return };
        let mut portal = lock(&self.portal);
        if let Some(o) = portal
            .objects
            .get_mut(object)
            .and_then(|d| d.records.get_mut(&id))
        {
            o.props.insert(name.to_string(), value.map(str::to_string));
        }
    }

    /// Active record ids of an object type, in id order.
    pub fn ids(&self, object: &str) -> Vec<String> {
        lock(&self.portal)
            .objects
            .get(object)
            .map(|o| {
                o.records
                    .values()
                    .filter(|r| !r.archived)
                    .map(|r| r.id.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Modifies `n` active records of an object type, spread over its ids: their modification
    /// time moves past every earlier one. Returns their ids.
    pub fn touch(&self, object: &str, n: usize) -> Vec<String> {
        let mut portal = lock(&self.portal);
        let now = chrono::Utc::now().timestamp_millis();
        portal.clock_ms = (portal.clock_ms + 1_000).max(now);
        let at = portal.clock_ms;
        let step = portal
            .objects
            .get(object)
            .map(|o| (o.records.len() / n.max(1)).max(1))
            .unwrap_or(1);
        let Some(data) = portal.objects.get_mut(object) else {
            return Vec::new();
        };
        let modified = data.modified_property.clone();
        let mut touched = Vec::new();
        for o in data
            .records
            .values_mut()
            .filter(|o| !o.archived)
            .step_by(step)
            .take(n)
        {
            o.updated_ms = at;
            for name in [modified.as_str(), "lastmodifieddate", "hs_lastmodifieddate"] {
                if o.props.contains_key(name) {
                    o.props.insert(name.to_string(), Some(ms_text(at)));
                }
            }
            touched.push(o.id.to_string());
        }
        touched
    }

    /// Creates `n` records of an object type, modified now; returns their ids.
    pub fn create(&self, object: &str, n: usize) -> Vec<String> {
        let mut portal = lock(&self.portal);
        let now = chrono::Utc::now().timestamp_millis();
        portal.clock_ms = (portal.clock_ms + 1_000).max(now);
        let at = portal.clock_ms;
        let Some((modified, defs)) = portal
            .objects
            .get(object)
            .map(|d| (d.modified_property.clone(), d.definitions.clone()))
        else {
            return Vec::new();
        };
        let mut created = Vec::new();
        for k in 0..n {
            let id = portal.id();
            let mut props = BTreeMap::new();
            for d in &defs {
                let name = d["name"].as_str().unwrap_or_default();
                let kind = d["type"].as_str().unwrap_or("string");
                let v = match name {
                    "hs_object_id" => Some(id.to_string()),
                    "createdate" => Some(ms_text(at)),
                    _ if name == modified => Some(ms_text(at)),
                    _ => value(&mut portal, object, name, kind, 900_000 + k as u64),
                };
                props.insert(name.to_string(), v);
            }
            if let Some(data) = portal.objects.get_mut(object) {
                data.records.insert(
                    id,
                    Obj {
                        id,
                        props,
                        created_ms: at,
                        updated_ms: at,
                        archived: false,
                    },
                );
            }
            created.push(id.to_string());
        }
        created
    }

    /// Withdraws the read scope of an object type (`contacts`, `owners`, `schemas`, ...):
    /// its endpoints answer 403 MISSING_SCOPES.
    pub fn deny_scope(&self, object: &str) {
        lock(&self.portal).denied.insert(object.to_string());
    }

    /// Answers 429 DAILY once `n` more requests have been served.
    pub fn daily_limit(&self, n: u64) {
        let mut portal = lock(&self.portal);
        portal.daily_limit = Some(portal.daily_used + n);
    }

    /// Expires every OAuth access token issued so far (they answer 401 EXPIRED_AUTHENTICATION).
    pub fn expire_access_tokens(&self) {
        let mut portal = lock(&self.portal);
        let tokens: Vec<String> = portal.access_tokens.drain().collect();
        portal.expired_tokens.extend(tokens);
    }

    /// Token requests served.
    pub fn token_requests(&self) -> u64 {
        lock(&self.portal).token_requests
    }

    /// Search requests served (including refused ones).
    pub fn search_requests(&self) -> u64 {
        lock(&self.portal).search_requests
    }

    /// Search requests past the search limit of 4 per second.
    pub fn search_violations(&self) -> u64 {
        lock(&self.portal).search_violations
    }

    /// The refusal of a request, if any: bad auth, a withdrawn scope, a spent daily quota.
    fn refuse(portal: &Mutex<Portal>, req: &Request, scope: &str) -> Option<ResponseTemplate> {
        let mut p = lock(portal);
        let sent = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string();
        if p.expired_tokens.contains(&sent) {
            return Some(error(
                401,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired 0 second(s) ago.",
            ));
        }
        if sent != TOKEN && !p.access_tokens.contains(&sent) {
            return Some(error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            ));
        }
        if p.denied.contains(scope) {
            let needed = match scope {
                "owners" => "crm.objects.owners.read".to_string(),
                "schemas" => "crm.schemas.custom.read".to_string(),
                "tickets" => "tickets".to_string(),
                other => format!("crm.objects.{other}.read"),
            };
            return Some(ResponseTemplate::new(403).set_body_json(json!({
                "status": "error",
                "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
                "correlationId": "00000000-0000-4000-8000-000000000001",
                "errors": [{"message": "One or more of the following scopes are required.",
                            "context": {"requiredGranularScopes": [needed]}}],
                "links": {"scopes": "https://developers.hubspot.com/scopes"},
                "category": "MISSING_SCOPES"
            })));
        }
        p.daily_used += 1;
        if p.daily_limit.is_some_and(|l| p.daily_used > l) {
            return Some(ResponseTemplate::new(429).set_body_json(json!({
                "status": "error",
                "message": "You have reached your daily limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": "00000000-0000-4000-8000-000000000002",
                "policyName": "DAILY",
                "requestId": "00000000-0000-4000-8000-000000000003"
            })));
        }
        None
    }

    fn headers(portal: &Mutex<Portal>, t: ResponseTemplate) -> ResponseTemplate {
        let mut p = lock(portal);
        let now = Instant::now();
        p.window
            .retain(|at| now.duration_since(*at) < Duration::from_secs(10));
        p.window.push_back(now);
        let remaining = p.limit_10s.saturating_sub(p.window.len());
        let daily = p.daily_limit.unwrap_or(250_000);
        t.insert_header("X-HubSpot-RateLimit-Max", p.limit_10s.to_string().as_str())
            .insert_header(
                "X-HubSpot-RateLimit-Remaining",
                remaining.to_string().as_str(),
            )
            .insert_header("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
            .insert_header("X-HubSpot-RateLimit-Daily", daily.to_string().as_str())
            .insert_header(
                "X-HubSpot-RateLimit-Daily-Remaining",
                daily.saturating_sub(p.daily_used).to_string().as_str(),
            )
    }

    async fn mount(&self) {
        let p = self.portal.clone();
        self.api
            .handle("POST", r"^/oauth/v1/token$", move |req| {
                let form: HashMap<String, String> =
                    url::form_urlencoded::parse(&req.body).into_owned().collect();
                let mut p = lock(&p);
                p.token_requests += 1;
                let ok = form.get("grant_type").map(String::as_str) == Some("refresh_token")
                    && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                    && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
                    && form.get("refresh_token").map(String::as_str) == Some(REFRESH_TOKEN);
                if !ok {
                    return ResponseTemplate::new(400).set_body_json(json!({
                        "status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
                        "correlationId": "00000000-0000-4000-8000-000000000004"
                    }));
                }
                p.issued += 1;
                let token = format!("sandbox-access-{}", p.issued);
                p.access_tokens.insert(token.clone());
                ResponseTemplate::new(200).set_body_json(json!({
                    "token_type": "bearer", "access_token": token,
                    "refresh_token": REFRESH_TOKEN, "expires_in": 1800
                }))
            })
            .await;

        let p = self.portal.clone();
        self.api
            .handle("GET", r"^/account-info/v3/details$", move |req| {
                if let Some(t) = Sandbox::refuse(&p, req, "account") {
                    return t;
                }
                Sandbox::headers(
                    &p,
                    ResponseTemplate::new(200).set_body_json(json!({
                        "portalId": 4_242_424, "accountType": "STANDARD", "timeZone": "Europe/Oslo",
                        "companyCurrency": "EUR", "additionalCurrencies": [], "utcOffset": "+01:00",
                        "utcOffsetMilliseconds": 3_600_000, "uiDomain": "app-eu1.hubspot.com",
                        "dataHostingLocation": "eu1"
                    })),
                )
            })
            .await;

        let p = self.portal.clone();
        self.api
            .handle("GET", r"^/crm/v3/properties/[^/]+$", move |req| {
                let object = req
                    .url
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let scope = if object == CARS_TYPE_ID {
                    "cars"
                } else {
                    object.as_str()
                };
                if let Some(t) = Sandbox::refuse(&p, req, scope) {
                    return t;
                }
                let defs = lock(&p).objects.get(&object).map(|o| o.definitions.clone());
                let t = match defs {
                    Some(d) => ResponseTemplate::new(200).set_body_json(json!({"results": d})),
                    None => error(
                        400,
                        "VALIDATION_ERROR",
                        &format!("Unable to infer object type from: {object}"),
                    ),
                };
                Sandbox::headers(&p, t)
            })
            .await;

        let p = self.portal.clone();
        self.api
            .handle("GET", r"^/crm/v3/schemas$", move |req| {
                if let Some(t) = Sandbox::refuse(&p, req, "schemas") {
                    return t;
                }
                let defs = definitions("cars", "hs_lastmodifieddate", 0);
                Sandbox::headers(
                    &p,
                    ResponseTemplate::new(200).set_body_json(json!({"results": [{
                        "id": "3508482", "name": "cars", "objectTypeId": CARS_TYPE_ID,
                        "fullyQualifiedName": "p4242424_cars",
                        "labels": {"singular": "Car", "plural": "Cars"},
                        "primaryDisplayProperty": "vin", "requiredProperties": ["vin"],
                        "properties": defs, "archived": false,
                        "createdAt": "2023-06-01T00:00:00Z", "updatedAt": "2023-06-01T00:00:00Z"
                    }]})),
                )
            })
            .await;

        let p = self.portal.clone();
        let base = self.uri();
        self.api
            .handle("GET", r"^/crm/v3/objects/[^/]+$", move |req| {
                let object = req.url.path().rsplit('/').next().unwrap_or_default().to_string();
                let scope = if object == CARS_TYPE_ID { "cars" } else { object.as_str() };
                if let Some(t) = Sandbox::refuse(&p, req, scope) {
                    return t;
                }
                if req.url.as_str().len() - base.len() > MAX_URL_CHARS {
                    return ResponseTemplate::new(414).set_body_string(
                        "<html><body><h1>414 Request-URI Too Large</h1></body></html>",
                    );
                }
                let q = query(req);
                let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
                if limit > 100 {
                    return error(400, "VALIDATION_ERROR", "limit must be <= 100");
                }
                let archived = q.get("archived").map(String::as_str) == Some("true");
                let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                let wanted: Option<HashSet<String>> = q
                    .get("properties")
                    .map(|s| s.split(',').map(str::to_string).collect());
                let portal = lock(&p);
                let Some(data) = portal.objects.get(&object) else {
                    drop(portal);
                    return error(400, "VALIDATION_ERROR", &format!("Unable to infer object type from: {object}"));
                };
                let mut page: Vec<Value> = Vec::new();
                let mut next = None;
                for o in data.records.range(after..).map(|(_, o)| o).filter(|o| o.archived == archived) {
                    if page.len() == limit {
                        next = Some(o.id);
                        break;
                    }
                    page.push(render(o, &data.modified_property, wanted.as_ref()));
                }
                drop(portal);
                let mut body = json!({"results": page});
                if let Some(n) = next {
                    body["paging"] = json!({"next": {"after": n.to_string(),
                        "link": format!("{}/crm/v3/objects/{object}?after={n}", base.trim_end_matches('/'))}});
                }
                Sandbox::headers(&p, ResponseTemplate::new(200).set_body_json(body))
            })
            .await;

        let p = self.portal.clone();
        self.api
            .handle_exempt("POST", r"^/crm/v3/objects/[^/]+/search$", move |req| {
                let object = req.url.path().split('/').nth(4).unwrap_or_default().to_string();
                {
                    let mut portal = lock(&p);
                    portal.search_requests += 1;
                    let now = Instant::now();
                    portal
                        .search_arrivals
                        .retain(|at| now.duration_since(*at) < Duration::from_secs(1));
                    portal.search_arrivals.push_back(now);
                    if portal.search_arrivals.len() > portal.search_limit {
                        portal.search_violations += 1;
                        return ResponseTemplate::new(429).set_body_json(json!({
                            "status": "error", "message": "You have reached your secondly limit.",
                            "errorType": "RATE_LIMIT", "correlationId": "00000000-0000-4000-8000-000000000005",
                            "policyName": "SECONDLY"
                        }));
                    }
                }
                let scope = if object == CARS_TYPE_ID { "cars" } else { object.as_str() };
                if let Some(t) = Sandbox::refuse(&p, req, scope) {
                    return t;
                }
                let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                    return error(400, "VALIDATION_ERROR", "Invalid input JSON");
                };
                let limit = body["limit"].as_u64().unwrap_or(10) as usize;
                if limit > 200 {
                    return error(400, "VALIDATION_ERROR", "limit must be <= 200");
                }
                let after: usize = match &body["after"] {
                    Value::String(s) => s.parse().unwrap_or(0),
                    Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
                    _ => 0,
                };
                if after + limit > 10_000 {
                    return error(
                        400,
                        "VALIDATION_ERROR",
                        "There was a problem with the request. (paging past 10,000 results)",
                    );
                }
                let wanted: HashSet<String> = body["properties"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                let portal = lock(&p);
                let Some(data) = portal.objects.get(&object) else {
                    drop(portal);
                    return error(400, "VALIDATION_ERROR", &format!("Unable to infer object type from: {object}"));
                };
                let filters: Vec<(String, String, String)> = body["filterGroups"]
                    .as_array()
                    .and_then(|g| g.first())
                    .and_then(|g| g["filters"].as_array())
                    .map(|fs| {
                        fs.iter()
                            .map(|f| {
                                (
                                    f["propertyName"].as_str().unwrap_or_default().to_string(),
                                    f["operator"].as_str().unwrap_or_default().to_string(),
                                    match &f["value"] {
                                        Value::String(s) => s.clone(),
                                        other => other.to_string(),
                                    },
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // The modification time is kept as a number: filter and sort on it directly.
                let modified = data.modified_property.as_str();
                let on_modified = |prop: &str| prop == modified || prop == "lastmodifieddate" || prop == "hs_lastmodifieddate";
                let targets: Vec<Option<i64>> = filters
                    .iter()
                    .map(|(_, _, v)| instant(v).map(|t| t.timestamp_millis()))
                    .collect();
                let mut matched: Vec<&Obj> = data
                    .records
                    .values()
                    .filter(|o| !o.archived)
                    .filter(|o| {
                        filters.iter().zip(&targets).all(|((prop, op, v), target)| {
                            match target {
                                Some(t) if on_modified(prop) => compare_ms(o.updated_ms, op, *t),
                                _ => compare(o.props.get(prop).and_then(|x| x.as_deref()), op, v),
                            }
                        })
                    })
                    .collect();
                if let Some(sort) = body["sorts"].as_array().and_then(|s| s.first()) {
                    let prop = sort["propertyName"].as_str().unwrap_or_default();
                    let fast = on_modified(prop);
                    let key = |o: &Obj| -> i64 {
                        if fast {
                            return o.updated_ms;
                        }
                        o.props
                            .get(prop)
                            .and_then(|v| v.as_deref())
                            .and_then(|v| instant(v).map(|t| t.timestamp_millis()).or_else(|| v.parse().ok()))
                            .unwrap_or(i64::MIN)
                    };
                    matched.sort_by_key(|o| (key(o), o.id));
                    if sort["direction"].as_str() == Some("DESCENDING") {
                        matched.reverse();
                    }
                }
                let total = matched.len();
                let page: Vec<Value> = matched
                    .iter()
                    .skip(after)
                    .take(limit)
                    .map(|o| render(o, &data.modified_property, Some(&wanted)))
                    .collect();
                drop(portal);
                let mut out = json!({"total": total, "results": page});
                if after + limit < total {
                    out["paging"] = json!({"next": {"after": (after + limit).to_string()}});
                }
                ResponseTemplate::new(200).set_body_json(out)
            })
            .await;

        let p = self.portal.clone();
        self.api
            .handle("POST", r"^/crm/v4/associations/[^/]+/[^/]+/batch/read$", move |req| {
                let parts: Vec<&str> = req.url.path().split('/').collect();
                let (from, to) = (parts[4].to_string(), parts[5].to_string());
                if let Some(t) = Sandbox::refuse(&p, req, &from) {
                    return t;
                }
                let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                    return error(400, "VALIDATION_ERROR", "Invalid input JSON");
                };
                let ids: Vec<u64> = body["inputs"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|i| i["id"].as_str()?.parse().ok()).collect())
                    .unwrap_or_default();
                if ids.len() > 1_000 {
                    return error(400, "VALIDATION_ERROR", "at most 1000 inputs");
                }
                let portal = lock(&p);
                let map = portal.associations.get(&(from.clone(), to.clone()));
                let mut results = Vec::new();
                let mut errors = Vec::new();
                for id in ids {
                    match map.and_then(|m| m.get(&id)).filter(|v| !v.is_empty()) {
                        Some(list) => results.push(json!({
                            "from": {"id": id.to_string()},
                            "to": list.iter().map(|t| json!({"toObjectId": t, "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": null}]})).collect::<Vec<_>>()
                        })),
                        None => errors.push(json!({
                            "status": "error", "category": "OBJECT_NOT_FOUND",
                            "message": format!("No {to} is associated with {from} {id}."),
                            "context": {"fromObjectId": [id.to_string()]}
                        })),
                    }
                }
                drop(portal);
                let status = if errors.is_empty() { 200 } else { 207 };
                let mut out = json!({"status": "COMPLETE", "results": results,
                                     "startedAt": "2024-01-01T00:00:00Z", "completedAt": "2024-01-01T00:00:01Z"});
                if !errors.is_empty() {
                    out["numErrors"] = json!(errors.len());
                    out["errors"] = json!(errors);
                }
                Sandbox::headers(&p, ResponseTemplate::new(status).set_body_json(out))
            })
            .await;

        let p = self.portal.clone();
        self.api
            .handle("GET", r"^/crm/v3/owners/?$", move |req| {
                if let Some(t) = Sandbox::refuse(&p, req, "owners") {
                    return t;
                }
                let q = query(req);
                let limit: usize = q
                    .get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(100)
                    .min(500);
                let archived = q.get("archived").map(String::as_str) == Some("true");
                let after: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                let owners: Vec<Value> = lock(&p)
                    .owners
                    .iter()
                    .filter(|o| o["archived"].as_bool() == Some(archived))
                    .cloned()
                    .collect();
                let page: Vec<Value> = owners.iter().skip(after).take(limit).cloned().collect();
                let mut body = json!({"results": page});
                if after + limit < owners.len() {
                    body["paging"] = json!({"next": {"after": (after + limit).to_string()}});
                }
                Sandbox::headers(&p, ResponseTemplate::new(200).set_body_json(body))
            })
            .await;

        let p = self.portal.clone();
        self.api
            .handle("GET", r"^/crm/v3/pipelines/(deals|tickets)$", move |req| {
                let object = req.url.path().rsplit('/').next().unwrap_or_default().to_string();
                if let Some(t) = Sandbox::refuse(&p, req, &object) {
                    return t;
                }
                let stages: &[&str] = if object == "deals" {
                    &["appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"]
                } else {
                    &["1", "2", "3", "4"]
                };
                let pipelines: Vec<Value> = ["default", "enterprise"]
                    .iter()
                    .enumerate()
                    .map(|(i, id)| json!({
                        "id": id, "label": format!("{} pipeline", id), "displayOrder": i,
                        "archived": false, "createdAt": "2023-01-01T00:00:00Z",
                        "updatedAt": "2023-06-01T00:00:00Z",
                        "stages": stages.iter().enumerate().map(|(k, s)| json!({
                            "id": format!("{id}-{s}"), "label": s, "displayOrder": k, "archived": false,
                            "metadata": {"isClosed": if k + 2 >= stages.len() {"true"} else {"false"},
                                         "probability": format!("{:.1}", k as f64 / stages.len() as f64)},
                            "createdAt": "2023-01-01T00:00:00Z", "updatedAt": "2023-06-01T00:00:00Z"
                        })).collect::<Vec<_>>()
                    }))
                    .collect();
                Sandbox::headers(&p, ResponseTemplate::new(200).set_body_json(json!({"results": pipelines})))
            })
            .await;
    }
}
