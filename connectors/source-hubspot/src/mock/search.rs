//! The search endpoint: filters, one sort, `after` paging, the 10,000-result cap and its own
//! per-second limit.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::data::{CARS_TYPE_ID, Obj};
use super::routes::{error, render};
use super::{Sandbox, lock};
use crate::properties::instant;
pub(super) fn compare_ms(value: i64, operator: &str, target: i64) -> bool {
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

pub(super) fn compare(value: Option<&str>, operator: &str, target: &str) -> bool {
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
    /// `POST /crm/v3/objects/{object}/search`.
    pub(super) async fn mount_search(&self) {
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
    }
}
