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

mod data;
mod routes;
mod search;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intake::testing::MockApi;
use serde_json::{Value, json};

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
pub use data::CARS_TYPE_ID;
use data::{OBJECT_TYPES, Obj, Portal, associate, definitions, generate, ms_text, owner, value};

/// The sandbox: a [`MockApi`] serving a generated portal.
pub struct Sandbox {
    api: MockApi,
    portal: Arc<Mutex<Portal>>,
}

fn lock(portal: &Mutex<Portal>) -> std::sync::MutexGuard<'_, Portal> {
    portal.lock().unwrap_or_else(|e| e.into_inner())
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
    /// time moves past every earlier one. Returns their ids. The portal's clock is its own,
    /// never the wall clock, so the same changes make the same requests in every run and a
    /// recorded cassette replays them.
    pub fn touch(&self, object: &str, n: usize) -> Vec<String> {
        let mut portal = lock(&self.portal);
        portal.clock_ms += 1_000;
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

    /// Creates `n` records of an object type, modified at the portal's next tick; returns
    /// their ids.
    pub fn create(&self, object: &str, n: usize) -> Vec<String> {
        let mut portal = lock(&self.portal);
        portal.clock_ms += 1_000;
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
}
