//! Reading a page of CRM objects: one checked pass over the body, records kept raw.

use std::borrow::Cow;

use intake::json::{JsonError, RawJson, Reader};
use intake::{Error, Result};
use serde_json::Value;

use crate::properties::instant;
/// A search page as the endpoint sends it: the records kept as raw JSON (one pass over the
/// body, no tree), the paging read.
#[derive(serde::Deserialize)]
pub(super) struct RawPage {
    #[serde(default)]
    pub(super) results: Option<Vec<Box<serde_json::value::RawValue>>>,
    #[serde(default)]
    pub(super) paging: Option<Value>,
}

/// `paging.next.after`: the next page's cursor, if any. No `paging` (or no `paging.next`)
/// is the last page; a `paging.next.after` that is not a non-empty string or a number is a
/// broken page, never the end of the data (taking it for the end loses every page after it).
pub(super) fn next_after(paging: Option<&Value>) -> Result<Option<String>> {
    let next = match paging {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(p)) => match p.get("next") {
            None | Some(Value::Null) => return Ok(None),
            Some(next) => next,
        },
        Some(other) => return Err(bad_paging("paging", other)),
    };
    match next.get("after") {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(bad_paging("paging.next.after", other)),
        None => Err(bad_paging("paging.next.after", &Value::Null)),
    }
}

pub(super) fn bad_paging(field: &str, value: &Value) -> Error {
    Error::system(format!(
        "HubSpot sent a page whose {field} is {}, not a paging cursor; stopping rather than taking it for the last page",
        intake::error::excerpt(&value.to_string())
    ))
}

/// A list page's records, read from its body with intake's checking reader: every byte is
/// checked, the values the records need are borrowed, nothing else is built (parsing pages was
/// the connector's largest cost).
///
/// A page without results (`null` or absent) is the empty last page; beside a next-page
/// cursor (`has_next`) it is a broken page, refused rather than skipped.
pub(super) fn parse_chunk(body: &[u8], has_next: bool) -> Result<Vec<ApiObject<'_>>> {
    // Checked as UTF-8 once here (the reader works on text).
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::system(format!("HubSpot sent a list page that is not UTF-8 ({e})")))?;
    let page = |e: JsonError| {
        Error::system(format!(
            "HubSpot sent a list page that is not valid JSON ({e})"
        ))
    };
    let mut r = Reader::new(text);
    let mut objects = Vec::new();
    let mut listed = false;
    let mut top = r.object().map_err(page)?;
    while let Some(key) = top.next_key(&mut r).map_err(page)? {
        if key != "results" || r.peek() == Some(b'n') {
            r.value().map_err(page)?;
            continue;
        }
        listed = true;
        let mut results = r.array().map_err(|e| {
            Error::system(format!(
                "HubSpot sent a list page whose results are not CRM objects ({e})"
            ))
        })?;
        while results.next(&mut r).map_err(page)? {
            let start = r.offset();
            let object = read_object(&mut r).map_err(|e| not_an_object(&text[start..], &e))?;
            objects.push(object);
        }
    }
    r.finish().map_err(page)?;
    if !listed && has_next {
        return Err(Error::system(
            "HubSpot sent a list page without results (null or absent) but with a next-page cursor; refusing it rather than skipping its records",
        ));
    }
    Ok(objects)
}

/// Why a result is not a CRM object: its JSON, or its shape.
#[derive(Debug, thiserror::Error)]
pub(super) enum ObjectError {
    #[error("{0}")]
    Json(#[from] JsonError),
    #[error("{0}")]
    Shape(&'static str),
}

pub(super) fn not_an_object(from: &str, e: &ObjectError) -> Error {
    Error::system(format!(
        "HubSpot sent a record that is not a CRM object ({e}): {}",
        intake::error::excerpt(from)
    ))
}

/// The CRM object that comes next in `r`: the members this connector reads, borrowed; the
/// rest checked and stepped over.
pub(super) fn read_object<'a>(
    r: &mut Reader<'a>,
) -> std::result::Result<ApiObject<'a>, ObjectError> {
    pub(super) fn unless_null(v: RawJson<'_>) -> Option<RawJson<'_>> {
        (!v.is_null()).then_some(v)
    }
    let mut object = r.object()?;
    let (mut id, mut properties, mut archived) = (None, None, None);
    let (mut created_at, mut updated_at, mut archived_at) = (None, None, None);
    while let Some(key) = object.next_key(r)? {
        match key.as_ref() {
            "id" => id = Some(r.value()?),
            "properties" if r.peek() == Some(b'{') => {
                let mut members = r.object()?;
                let mut props = Vec::with_capacity(16);
                while let Some(name) = members.next_key(r)? {
                    props.push((name, r.value()?));
                }
                properties = Some(RawProps(props));
            }
            "properties" => {
                if !r.value()?.is_null() {
                    return Err(ObjectError::Shape("its properties are not an object"));
                }
                properties = None;
            }
            "createdAt" => created_at = unless_null(r.value()?),
            "updatedAt" => updated_at = unless_null(r.value()?),
            "archivedAt" => archived_at = unless_null(r.value()?),
            "archived" => {
                let v = r.value()?;
                archived = match v.as_bool() {
                    Some(b) => Some(b),
                    None if v.is_null() => None,
                    None => return Err(ObjectError::Shape("its archived flag is not a boolean")),
                };
            }
            _ => {
                r.value()?;
            }
        }
    }
    let id = id.ok_or(ObjectError::Shape("it has no id"))?;
    // The id names the record in every table: null, "", an object or a list would write the
    // record under an id the source does not have.
    let usable = match id.get().as_bytes().first() {
        Some(b'"') => id.get() != "\"\"",
        Some(b'-' | b'0'..=b'9') => true,
        _ => false,
    };
    if !usable {
        return Err(ObjectError::Shape(
            "its id is not a non-empty string or a number",
        ));
    }
    Ok(ApiObject {
        id,
        properties,
        created_at,
        updated_at,
        archived_at,
        archived,
    })
}

pub(super) type Raw = Box<serde_json::value::RawValue>;

/// The parts of a CRM object this connector reads, borrowed from its JSON.
pub(super) struct ApiObject<'a> {
    pub(super) id: RawJson<'a>,
    pub(super) properties: Option<RawProps<'a>>,
    pub(super) created_at: Option<RawJson<'a>>,
    pub(super) updated_at: Option<RawJson<'a>>,
    pub(super) archived_at: Option<RawJson<'a>>,
    pub(super) archived: Option<bool>,
}

impl<'a> ApiObject<'a> {
    /// The id as text (HubSpot sends a string; a number is taken as its digits), borrowed from
    /// the JSON when it has no escapes.
    pub(super) fn id(&self) -> Cow<'a, str> {
        let text: &'a str = self.id.get();
        intake::json::json_str(text).unwrap_or(Cow::Borrowed(text))
    }

    pub(super) fn updated_ms(&self, modified_property: &str) -> Option<i64> {
        self.updated_at
            .and_then(RawJson::as_str)
            .and_then(|t| instant(&t))
            .or_else(|| {
                self.properties
                    .as_ref()?
                    .0
                    .iter()
                    .find(|(k, _)| k == modified_property)
                    .and_then(|(_, v)| v.as_str())
                    .and_then(|t| instant(&t))
            })
            .map(|t| t.timestamp_millis())
    }
}

/// An object's properties as (name, raw value) pairs, in the order sent.
pub(super) struct RawProps<'a>(pub(super) Vec<(Cow<'a, str>, RawJson<'a>)>);

pub(super) fn parse_object(raw: &serde_json::value::RawValue) -> Result<ApiObject<'_>> {
    let mut r = Reader::new(raw.get());
    read_object(&mut r)
        .and_then(|o| r.finish().map(|()| o).map_err(ObjectError::from))
        .map_err(|e| not_an_object(raw.get(), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages_are_read_as_the_api_sends_them() {
        let page = br#"{"results": [
            {"id": "1", "properties": {"email": "a\"b@example.com", "n\u00e4me": null,
              "hs_object_id": "1"}, "createdAt": "2024-01-01T00:00:00Z", "updatedAt": null,
              "archived": false, "associations": {"deals": {"results": []}}, "url": "x"},
            {"id": 2, "properties": null, "archived": null}
          ], "paging": {"next": {"after": "2", "link": "?after=2"}}}"#;
        let objects = parse_chunk(page, true).unwrap();
        assert_eq!(objects.len(), 2);
        let (a, b) = (&objects[0], &objects[1]);
        assert_eq!((a.id(), b.id()), ("1".into(), "2".into()));
        let props: Vec<(&str, &str)> = a
            .properties
            .as_ref()
            .unwrap()
            .0
            .iter()
            .map(|(k, v)| (k.as_ref(), v.get()))
            .collect();
        assert_eq!(
            props,
            [
                ("email", r#""a\"b@example.com""#),
                ("näme", "null"),
                ("hs_object_id", r#""1""#)
            ]
        );
        assert_eq!(a.created_at.unwrap().get(), r#""2024-01-01T00:00:00Z""#);
        assert!(a.updated_at.is_none() && a.archived_at.is_none());
        assert_eq!((a.archived, b.archived), (Some(false), None));
        assert!(b.properties.is_none());
        assert!(
            parse_chunk(br#"{"results": null}"#, false)
                .unwrap()
                .is_empty()
        );
        assert!(parse_chunk(br#"{"paging": {}}"#, false).unwrap().is_empty());
        // Beside a next page, a page without results is broken, not empty.
        let err = parse_chunk(
            br#"{"results": null, "paging": {"next": {"after": "9"}}}"#,
            true,
        );
        assert!(err.is_err());
    }

    #[test]
    fn broken_list_pages_are_refused_wherever_the_fault_is() {
        for (page, expect) in [
            // In a member the connector does not read: still checked.
            (
                &br#"{"results": [{"id": "1", "url": [1, tru]}]}"#[..],
                "not a CRM object",
            ),
            (
                br#"{"results": [{"id": "1", "properties": {"a": "x\qy"}}]}"#,
                "not a CRM object",
            ),
            (br#"{"results": [{"properties": {}}]}"#, "it has no id"),
            (
                br#"{"results": [{"id": "1", "properties": "x"}]}"#,
                "not an object",
            ),
            (
                br#"{"results": [{"id": "1", "archived": "no"}]}"#,
                "not a boolean",
            ),
            (br#"{"results": ["x"]}"#, "not a CRM object"),
            (br#"{"results": {}}"#, "results are not CRM objects"),
            (
                br#"{"results": [], "paging": {"next": {"after": "2"}}"#,
                "not valid JSON",
            ),
            (br#"{"results": []} <html>"#, "not valid JSON"),
            (b"<html>maintenance</html>", "not valid JSON"),
            (b"{\"results\": [{\"id\": \"\xff\"}]}", "not UTF-8"),
        ] {
            let err = match parse_chunk(page, false) {
                Ok(_) => panic!("accepted {}", String::from_utf8_lossy(page)),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(expect), "{err}");
        }
        // The excerpt of a long record stops at a character boundary, not inside one.
        let long = format!(
            r#"{{"results": [{{"x": "{}", "id": tru}}]}}"#,
            "é".repeat(150)
        );
        let err = parse_chunk(long.as_bytes(), false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a CRM object"), "{err}");
    }
}
