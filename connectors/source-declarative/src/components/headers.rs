//! Response headers as templates see them: `headers['X-Next']` looks a name up whatever its
//! case (Python's requests keeps the case the server sent, which HTTP does not fix; any name
//! a manifest spells works), and `headers['link']` is the `Link` header parsed as requests'
//! `response.links` does (`{'next': {'url': ..., 'rel': 'next'}}`).

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde_json::{Map, json};

/// The headers of one response.
#[derive(Debug, Default)]
pub struct Headers {
    pairs: Vec<(String, Value)>,
}

impl Headers {
    /// From `(name, value)` pairs as received; a repeated name keeps its last value, as a
    /// Python `dict(response.headers)` does after requests joined them.
    pub fn new<'a>(received: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut pairs: Vec<(String, Value)> = Vec::new();
        let mut link = None;
        for (name, value) in received {
            if name.eq_ignore_ascii_case("link") {
                link = Some(value.to_string());
            }
            match pairs.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, v)) => *v = Value::from(format!("{}, {value}", v.as_str().unwrap_or(""))),
                None => pairs.push((name.to_string(), Value::from(value))),
            }
        }
        pairs.retain(|(n, _)| !n.eq_ignore_ascii_case("link"));
        pairs.push((
            "link".into(),
            Value::from_serialize(links(link.as_deref().unwrap_or(""))),
        ));
        Headers { pairs }
    }

    /// As a template value.
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl Object for Headers {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        self.pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.pairs
                .iter()
                .map(|(n, _)| Value::from(n.as_str()))
                .collect(),
        )
    }
}

/// requests' `parse_header_links`, keyed by `rel` (or the URL) as `response.links` is.
pub fn links(header: &str) -> Map<String, serde_json::Value> {
    let mut out = Map::new();
    let header = header.trim_matches([' ', '\'', '"']);
    if header.is_empty() {
        return out;
    }
    for part in split_links(header) {
        let (url, params) = match part.split_once(';') {
            Some((u, p)) => (u, p),
            None => (part, ""),
        };
        let mut link = Map::new();
        link.insert(
            "url".into(),
            json!(url.trim_matches(['<', '>', ' ', '\'', '"'])),
        );
        for param in params.split(';') {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            link.insert(
                k.trim_matches([' ', '\'', '"']).to_string(),
                json!(v.trim_matches([' ', '\'', '"'])),
            );
        }
        let key = link
            .get("rel")
            .or_else(|| link.get("url"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        out.insert(key, serde_json::Value::Object(link));
    }
    out
}

/// The links of a header, split where requests splits them (`, *<`).
fn split_links(header: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let bytes = header.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b',' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'<' {
                parts.push(&header[start..i]);
                start = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    parts.push(&header[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_parse_as_requests_does() {
        let l = links(
            r#"<https://api.example.com/p?page=2>; rel="next", <https://api.example.com/p?page=9>; rel="last""#,
        );
        assert_eq!(l["next"]["url"], "https://api.example.com/p?page=2");
        assert_eq!(l["last"]["rel"], "last");
        assert!(links("").is_empty());
    }

    #[test]
    fn names_are_found_whatever_their_case() {
        let h = Arc::new(Headers::new([
            ("x-next-page", "3"),
            ("Link", "<https://x/2>; rel=next"),
        ]));
        assert_eq!(
            h.get_value(&Value::from("X-Next-Page")),
            Some(Value::from("3"))
        );
        let link = h.get_value(&Value::from("link")).unwrap();
        assert_eq!(
            link.get_item(&Value::from("next"))
                .unwrap()
                .get_item(&Value::from("url"))
                .unwrap(),
            Value::from("https://x/2")
        );
    }
}
