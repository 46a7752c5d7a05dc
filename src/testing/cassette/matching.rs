//! Whether an incoming request is a recorded one: method and path equal, the same query
//! pairs (in any order) and body, where a recorded placeholder (`<<...>>`) matches anything.

use serde_json::Value;
use wiremock::Request;

/// An incoming request, in the recording's terms.
pub(super) struct Incoming {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    pub(super) fn of(req: &Request) -> Self {
        Incoming {
            method: req.method.to_string(),
            path: req.url.path().to_string(),
            query: req.url.query_pairs().into_owned().collect(),
            body: req.body.clone(),
        }
    }

    pub(super) fn line(&self) -> String {
        line(&self.method, &self.path, &self.query)
    }
}

fn line(method: &str, path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return format!("{method} {path}");
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method} {path}?{}", q.join("&"))
}

/// The `[[k, v], ...]` pairs of a recorded query or form.
fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let p = p.as_array()?;
            Some((
                p.first()?.as_str()?.to_string(),
                p.get(1)?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Whether `actual` is `recorded` with each `<<...>>` placeholder standing for any text.
pub(super) fn wild_eq(recorded: &str, actual: &str) -> bool {
    if !recorded.contains("<<") {
        return recorded == actual;
    }
    // Literal pieces between placeholders must appear in order; the ends are anchored.
    let mut pieces = Vec::new();
    let mut rest = recorded;
    while let Some(start) = rest.find("<<") {
        let Some(end) = rest[start..].find(">>") else {
            break;
        };
        pieces.push(&rest[..start]);
        rest = &rest[start + end + 2..];
    }
    pieces.push(rest);
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !actual.starts_with(first) || !actual[first.len()..].ends_with(last) {
        return false;
    }
    let mut at = first.len();
    let end = actual.len() - last.len();
    for piece in &pieces[1..pieces.len() - 1] {
        match actual[at..end].find(piece) {
            Some(i) => at += i + piece.len(),
            None => return false,
        }
    }
    true
}

fn pairs_match(recorded: &[(String, String)], actual: &[(String, String)]) -> bool {
    if recorded.len() != actual.len() {
        return false;
    }
    let mut recorded: Vec<_> = recorded.iter().collect();
    let mut actual: Vec<_> = actual.iter().collect();
    recorded.sort_by(|a, b| a.0.cmp(&b.0));
    actual.sort_by(|a, b| a.0.cmp(&b.0));
    recorded
        .iter()
        .zip(&actual)
        .all(|(r, a)| r.0 == a.0 && wild_eq(&r.1, &a.1))
}

fn json_match(recorded: &Value, actual: &Value) -> bool {
    match (recorded, actual) {
        (Value::String(r), Value::String(a)) => wild_eq(r, a),
        (Value::String(r), _) if r.starts_with("<<") && r.ends_with(">>") => true,
        (Value::Array(r), Value::Array(a)) => {
            r.len() == a.len() && r.iter().zip(a).all(|(r, a)| json_match(r, a))
        }
        (Value::Object(r), Value::Object(a)) => {
            r.len() == a.len()
                && r.iter()
                    .all(|(k, rv)| a.get(k).is_some_and(|av| json_match(rv, av)))
        }
        _ => recorded == actual,
    }
}

fn body_matches(recorded: &Value, body: &[u8]) -> bool {
    if let Some(json) = recorded.get("json") {
        return serde_json::from_slice::<Value>(body).is_ok_and(|a| json_match(json, &a));
    }
    if recorded.get("form").is_some() {
        let actual: Vec<(String, String)> =
            url::form_urlencoded::parse(body).into_owned().collect();
        return pairs_match(&pairs(recorded.get("form")), &actual);
    }
    if let Some(text) = recorded.get("text").and_then(Value::as_str) {
        return wild_eq(text, &String::from_utf8_lossy(body));
    }
    body.is_empty()
}

pub(super) fn request_matches(recorded: &Value, incoming: &Incoming) -> bool {
    let s = |k: &str| recorded.get(k).and_then(Value::as_str).unwrap_or("");
    s("method") == incoming.method
        && wild_eq(s("path"), &incoming.path)
        && pairs_match(&pairs(recorded.get("query")), &incoming.query)
        && body_matches(recorded, &incoming.body)
}

/// The recorded request most like `incoming` (same method and path first, then the most
/// equal query pairs), described with how it differs.
pub(super) fn nearest<'a>(
    recorded: impl DoubleEndedIterator<Item = &'a Value>,
    incoming: &Incoming,
) -> Option<String> {
    let score = |r: &Value| {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
        let query = pairs(r.get("query"));
        let same_pairs = query
            .iter()
            .filter(|(k, v)| {
                incoming
                    .query
                    .iter()
                    .any(|(ik, iv)| ik == k && wild_eq(v, iv))
            })
            .count();
        // Pairs in common count for it, recorded pairs not sent against it.
        (s("method") == incoming.method) as i64 * 1000
            + wild_eq(s("path"), &incoming.path) as i64 * 500
            + same_pairs as i64 * 10
            - (query.len() - same_pairs) as i64 * 10
            + body_matches(r, &incoming.body) as i64 * 5
    };
    // The first of equals: the earliest recorded.
    let best = recorded.rev().max_by_key(|r| score(r))?;
    let s = |k: &str| {
        best.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let query = pairs(best.get("query"));
    let mut differs = Vec::new();
    if s("method") != incoming.method || !wild_eq(&s("path"), &incoming.path) {
        differs.push("method or path".to_string());
    }
    for (k, v) in &query {
        match incoming.query.iter().find(|(ik, _)| ik == k) {
            None => differs.push(format!("{k} not sent")),
            Some((_, iv)) if !wild_eq(v, iv) => differs.push(format!("{k}={iv}, recorded {v}")),
            _ => {}
        }
    }
    for (k, _) in &incoming.query {
        if !query.iter().any(|(rk, _)| rk == k) {
            differs.push(format!("{k} not recorded"));
        }
    }
    if !body_matches(best, &incoming.body) {
        differs.push("the body".to_string());
    }
    Some(format!(
        "{} (differs in {})",
        line(&s("method"), &s("path"), &query),
        if differs.is_empty() {
            "nothing".to_string()
        } else {
            differs.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_match_any_text() {
        assert!(wild_eq("<<secret:/api_key>>", "tok-1"));
        assert!(wild_eq("Bearer <<redacted>>", "Bearer abc"));
        assert!(wild_eq("a<<x>>b<<y>>c", "a1b2c"));
        assert!(!wild_eq("a<<x>>b<<y>>c", "a1c"));
        assert!(!wild_eq("plain", "plainer"));
    }

    #[test]
    fn query_pairs_match_in_any_order() {
        let r = vec![
            ("a".into(), "1".into()),
            ("key".into(), "<<secret:/k>>".into()),
        ];
        let a = vec![("key".into(), "test".into()), ("a".into(), "1".into())];
        assert!(pairs_match(&r, &a));
        assert!(!pairs_match(&r, &a[..1]));
    }
}
