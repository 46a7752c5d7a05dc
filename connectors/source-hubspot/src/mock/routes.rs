//! The HTTP routes: auth, properties, schemas, the object lists, associations, owners and
//! pipelines, with HubSpot's limits and error bodies (search is in `search`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use wiremock::{Request, ResponseTemplate};

use super::data::{CARS_TYPE_ID, Obj, Portal, definitions, ms_text};
use super::{CLIENT_ID, CLIENT_SECRET, MAX_URL_CHARS, REFRESH_TOKEN, Sandbox, TOKEN, lock};
pub(super) fn error(status: u16, category: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status": "error", "message": message, "correlationId": "00000000-0000-4000-8000-000000000000",
        "category": category
    }))
}

pub(super) fn query(req: &Request) -> HashMap<String, String> {
    req.url.query_pairs().into_owned().collect()
}

/// The API object of a record, with the properties asked for (`None`: the defaults).
pub(super) fn render(o: &Obj, modified: &str, wanted: Option<&HashSet<String>>) -> Value {
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

impl Sandbox {
    /// The refusal of a request, if any: bad auth, a withdrawn scope, a spent daily quota.
    pub(super) fn refuse(
        portal: &Mutex<Portal>,
        req: &Request,
        scope: &str,
    ) -> Option<ResponseTemplate> {
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

    pub(super) fn headers(portal: &Mutex<Portal>, t: ResponseTemplate) -> ResponseTemplate {
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

    /// Mounts every route.
    pub(super) async fn mount(&self) {
        self.mount_auth().await;
        self.mount_metadata().await;
        self.mount_objects().await;
        self.mount_search().await;
        self.mount_associations().await;
        self.mount_owners_and_pipelines().await;
    }

    /// The OAuth token endpoint.
    pub(super) async fn mount_auth(&self) {
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
    }

    /// Account details, property definitions and custom object schemas.
    pub(super) async fn mount_metadata(&self) {
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
    }

    /// The object lists: `after` paging, property selection, archived records.
    pub(super) async fn mount_objects(&self) {
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
    }

    /// The v4 associations batch read.
    pub(super) async fn mount_associations(&self) {
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
    }

    /// Owners and pipelines.
    pub(super) async fn mount_owners_and_pipelines(&self) {
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
