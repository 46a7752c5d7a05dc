//! Responses: the body read under a size cap, content-type checks, and a one-pass extraction
//! of the records array and the few values pagination needs, without materializing records.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::HttpErrorKind;

/// A response that arrived in full with a success status.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Response {
    /// The status.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as shared bytes (no copy), for parsing it later, away from the request.
    pub fn body_bytes(&self) -> Bytes {
        self.body.clone()
    }

    /// Checks that the body is JSON: the content type says so (or says nothing, or is a
    /// generic text type while the body starts like JSON), and it is not an HTML page.
    pub(crate) fn expect_json(&self) -> Result<(), HttpErrorKind> {
        let first = self.body.iter().find(|b| !b.is_ascii_whitespace()).copied();
        let content_type = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let looks_json = matches!(first, Some(b'{' | b'['));
        if first == Some(b'<') || content_type.contains("html") {
            return Err(HttpErrorKind::Decode {
                detail: format!(
                    "expected JSON but the server sent an HTML page ({})",
                    if content_type.is_empty() {
                        "no content type"
                    } else {
                        &content_type
                    }
                ),
                truncated: false,
            });
        }
        let generic = content_type.is_empty()
            || content_type.contains("json")
            || content_type.contains("javascript")
            || content_type.starts_with("text/plain")
            || content_type.starts_with("application/octet-stream");
        if !generic && !looks_json {
            return Err(HttpErrorKind::Decode {
                detail: format!("expected JSON but the content type is {content_type}"),
                truncated: false,
            });
        }
        if first.is_none() {
            return Err(HttpErrorKind::Decode {
                detail: "expected JSON but the body is empty".into(),
                truncated: true,
            });
        }
        Ok(())
    }

    /// Parses the body as `T`; a decode failure is typed (a truncated body is retryable).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpErrorKind> {
        self.expect_json()?;
        serde_json::from_slice(&self.body).map_err(|e| decode_error(&e, "the response"))
    }

    /// One top-level member of a JSON object body (`Ok(None)` when absent or null), found
    /// without parsing the rest: the body is followed structurally (strings, nesting, the
    /// object's end), so a truncated, non-JSON or HTML body is refused here with the same error
    /// [`Response::json`] gives, but the values stepped over are not checked. For a fetch loop
    /// that needs only the cursor now and parses the records later (and reports them then).
    ///
    /// ```
    /// # use intake::http::Response;
    /// # fn next(r: &Response) -> Result<(), intake::http::HttpErrorKind> {
    /// let paging: Option<serde_json::Value> = r.json_member("paging")?;
    /// # Ok(()) }
    /// ```
    pub fn json_member<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, HttpErrorKind> {
        self.expect_json()?;
        let text = match crate::json::scan::member_bytes(&self.body, name) {
            Some(found) => found,
            // Not followed: the parser says why (or reads what the scanner could not).
            None => {
                let whole: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&self.body)
                        .map_err(|e| decode_error(&e, "the response"))?;
                return match whole.get(name) {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(v) => T::deserialize(v)
                        .map(Some)
                        .map_err(|e| decode_error(&e, name)),
                };
            }
        };
        match text {
            None | Some(b"null") => Ok(None),
            Some(text) => serde_json::from_slice(text)
                .map(Some)
                .map_err(|e| decode_error(&e, name)),
        }
    }
}

pub(crate) fn decode_error(e: &serde_json::Error, what: &str) -> HttpErrorKind {
    let truncated = e.is_eof();
    let detail = if truncated {
        format!(
            "{what} ends early (truncated at line {}, column {})",
            e.line(),
            e.column()
        )
    } else {
        format!("{what} is not the expected JSON: {e}")
    };
    HttpErrorKind::Decode { detail, truncated }
}

/// A JSON pointer, split into unescaped segments. `""` (or `"/"`) is the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pointer {
    text: String,
    segments: Vec<String>,
}

impl Pointer {
    pub(crate) fn parse(text: &str) -> Pointer {
        let segments = if text.is_empty() || text == "/" {
            Vec::new()
        } else {
            text.trim_start_matches('/')
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect()
        };
        Pointer {
            text: text.to_string(),
            segments,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            f.write_str("/")
        } else {
            f.write_str(&self.text)
        }
    }
}

/// What one pass over a body found.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    /// The records array's elements, as raw JSON (empty when the array is missing or null).
    pub(crate) records: Vec<Box<RawValue>>,
    /// Whether the records pointer was present.
    pub(crate) records_found: bool,
    /// The records' place held `null`.
    pub(crate) records_null: bool,
    /// The value at each other pointer, in the order asked.
    pub(crate) values: Vec<Option<Box<RawValue>>>,
}

/// Walks `body` once, collecting the array at `records` and the values at `others`.
pub(crate) fn extract(
    body: &[u8],
    records: &Pointer,
    others: &[Pointer],
) -> Result<Extracted, HttpErrorKind> {
    let mut out = Extracted {
        values: vec![None; others.len()],
        ..Default::default()
    };
    let mut targets: Vec<Target<'_>> = Vec::with_capacity(others.len() + 1);
    targets.push(Target {
        id: TargetId::Records,
        rest: &records.segments,
    });
    for (i, p) in others.iter().enumerate() {
        targets.push(Target {
            id: TargetId::Value(i),
            rest: &p.segments,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    Node {
        targets,
        out: &mut out,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| decode_error(&e, "the response"))?;
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TargetId {
    Records,
    Value(usize),
}

#[derive(Debug, Clone, Copy)]
struct Target<'p> {
    id: TargetId,
    rest: &'p [String],
}

/// One level of the walk: the targets whose pointers pass through here.
struct Node<'p, 'o> {
    targets: Vec<Target<'p>>,
    out: &'o mut Extracted,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // A target that ends here takes the whole value.
        let ends: Vec<TargetId> = self
            .targets
            .iter()
            .filter(|t| t.rest.is_empty())
            .map(|t| t.id)
            .collect();
        match ends.as_slice() {
            [] => d.deserialize_any(self),
            [TargetId::Records] if self.targets.len() == 1 => {
                RecordsSeed { out: self.out }.deserialize(d)
            }
            [TargetId::Value(i)] if self.targets.len() == 1 => {
                self.out.values[*i] = Some(Box::<RawValue>::deserialize(d)?);
                Ok(())
            }
            _ => {
                // Several targets meet at this value (rare): keep it raw, then walk it again.
                let raw = Box::<RawValue>::deserialize(d)?;
                for t in &self.targets {
                    let mut de = serde_json::Deserializer::from_str(raw.get());
                    Node {
                        targets: vec![*t],
                        out: &mut *self.out,
                    }
                    .deserialize(&mut de)
                    .map_err(de::Error::custom)?;
                }
                Ok(())
            }
        }
    }
}

/// Deserializes an object key without allocating unless it is escaped.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Node { targets, out } = self;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let inner: Vec<Target<'_>> = targets
                .iter()
                .filter(|t| t.rest.first().map(String::as_str) == Some(key.0.as_ref()))
                .map(|t| Target {
                    id: t.id,
                    rest: &t.rest[1..],
                })
                .collect();
            if inner.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Node {
                    targets: inner,
                    out: &mut *out,
                })?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Node { targets, out } = self;
        let mut index = 0usize;
        loop {
            let i = index.to_string();
            let inner: Vec<Target<'_>> = targets
                .iter()
                .filter(|t| t.rest.first() == Some(&i))
                .map(|t| Target {
                    id: t.id,
                    rest: &t.rest[1..],
                })
                .collect();
            let more = if inner.is_empty() {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                seq.next_element_seed(Node {
                    targets: inner,
                    out: &mut *out,
                })?
                .is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    // Scalars on the way to a target: the target is absent.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

struct RecordsSeed<'o> {
    out: &'o mut Extracted,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.records_found = true;
        if let Some(n) = seq.size_hint() {
            self.out.records.reserve(n);
        }
        while let Some(r) = seq.next_element::<Box<RawValue>>()? {
            self.out.records.push(r);
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.records_found = true;
        self.out.records_null = true;
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pointer {
        Pointer::parse(s)
    }

    fn response(content_type: &str, body: &'static [u8]) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        Response {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn scenario_10_a_body_cut_after_the_member_is_refused_and_the_last_repeated_key_wins() {
        let json = "application/json";
        // Paging first, then the body stops: not a page to trust.
        let cut = response(
            json,
            br#"{"paging":{"next":{"after":"7"}},"results":[{"id":"1"},{"id":"#,
        );
        match cut.json_member::<serde_json::Value>("paging") {
            Err(HttpErrorKind::Decode { truncated, .. }) => assert!(truncated),
            other => panic!("trusted a truncated body: {other:?}"),
        }
        // A repeated key reads as serde_json reads it: the last one.
        let twice = response(json, br#"{"next":"a","results":[],"next":"b"}"#);
        assert_eq!(
            twice.json_member::<String>("next").unwrap().as_deref(),
            Some("b")
        );
        let whole: serde_json::Value = serde_json::from_slice(&twice.body).unwrap();
        assert_eq!(whole["next"], "b");
    }

    #[test]
    fn one_member_is_read_and_a_broken_body_refused_as_the_parser_would() {
        let json = "application/json";
        let page = response(
            json,
            br#"{"results":[{"id":"1","p":{"a":"}"}}],"paging":{"next":{"after":"7"}}}"#,
        );
        let paging: Option<serde_json::Value> = page.json_member("paging").unwrap();
        assert_eq!(paging.unwrap()["next"]["after"], "7");
        assert_eq!(page.json_member::<u32>("missing").unwrap(), None);
        let last = response(json, br#"{"results":[],"paging":null}"#);
        assert_eq!(
            last.json_member::<serde_json::Value>("paging").unwrap(),
            None
        );
        // Cut short: refused as truncated, so it is retried like any truncated body.
        let cut = response(json, br#"{"results":[{"id":"1"}],"paging":{"ne"#);
        match cut.json_member::<serde_json::Value>("paging") {
            Err(HttpErrorKind::Decode { truncated, .. }) => assert!(truncated),
            other => panic!("{other:?}"),
        }
        let html = response("text/html", b"<html>busy</html>");
        assert!(matches!(
            html.json_member::<serde_json::Value>("paging"),
            Err(HttpErrorKind::Decode { .. })
        ));
        // A member of the wrong shape is the member's error.
        let wrong = response(json, br#"{"paging":"x"}"#);
        assert!(wrong.json_member::<u32>("paging").is_err());
        // Not an object: the parser reads it (and finds no member).
        let list = response(json, b"[1, 2]");
        assert!(list.json_member::<u32>("paging").is_err());
    }

    #[test]
    fn one_pass_finds_records_and_values() {
        let body = br#"{"results":[{"id":"1"},{"id":"2"}],"paging":{"next":{"after":"2","link":"x"}},"total":2}"#;
        let e = extract(
            body,
            &p("/results"),
            &[p("/paging/next/after"), p("/total"), p("/missing")],
        )
        .unwrap();
        assert_eq!(e.records.len(), 2);
        assert_eq!(e.records[1].get(), r#"{"id":"2"}"#);
        assert_eq!(e.values[0].as_ref().unwrap().get(), r#""2""#);
        assert_eq!(e.values[1].as_ref().unwrap().get(), "2");
        assert!(e.values[2].is_none());
    }

    #[test]
    fn body_as_records_and_nested_indexes() {
        let e = extract(br#"[{"a":1},{"a":2}]"#, &p(""), &[]).unwrap();
        assert_eq!(e.records.len(), 2);
        let e = extract(br#"{"d":[{"items":[{"x":1}]}]}"#, &p("/d/0/items"), &[]).unwrap();
        assert_eq!(e.records.len(), 1);
        // Overlapping targets.
        let e = extract(
            br#"{"page":{"next":"n","size":3}}"#,
            &p("/none"),
            &[p("/page"), p("/page/next")],
        )
        .unwrap();
        assert_eq!(e.values[1].as_ref().unwrap().get(), r#""n""#);
        assert!(e.values[0].as_ref().unwrap().get().contains("size"));
    }

    #[test]
    fn escaped_keys_match() {
        let e = extract(br#"{"re\u0073ults":[{"a":1}]}"#, &p("/results"), &[]).unwrap();
        assert_eq!(e.records.len(), 1);
    }

    #[test]
    fn bad_bodies_are_typed() {
        let truncated = extract(br#"{"results":[{"id":1},{"id""#, &p("/results"), &[]).unwrap_err();
        assert!(
            matches!(
                truncated,
                HttpErrorKind::Decode {
                    truncated: true,
                    ..
                }
            ),
            "{truncated:?}"
        );
        let garbage = extract(b"{\"results\": [1,,2]}", &p("/results"), &[]).unwrap_err();
        assert!(matches!(
            garbage,
            HttpErrorKind::Decode {
                truncated: false,
                ..
            }
        ));
        let trailing = extract(b"{} x", &p("/results"), &[]).unwrap_err();
        assert!(matches!(trailing, HttpErrorKind::Decode { .. }));
        let not_array = extract(br#"{"results":{"a":1}}"#, &p("/results"), &[]).unwrap_err();
        assert!(
            not_array.to_string().contains("array of records"),
            "{not_array}"
        );
        let null = extract(br#"{"results":null}"#, &p("/results"), &[]).unwrap();
        assert!(null.records_found && null.records_null && null.records.is_empty());
    }
}
