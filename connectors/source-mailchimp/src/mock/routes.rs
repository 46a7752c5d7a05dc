//! The HTTP routes: Mailchimp's auth, paging, filters, limits and error bodies.

use std::collections::HashMap;

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::{APIKEY, DC, OAUTH_TOKEN, Sandbox, lock};
pub(super) fn problem(status: u16, title: &str, detail: &str) -> ResponseTemplate {
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

impl Sandbox {
    pub(super) async fn mount(&self) {
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
