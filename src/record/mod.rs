//! Records and their batches.
//!
//! A [`Record`] is one JSON object, kept as the exact bytes the source produced
//! ([`serde_json::value::RawValue`]). Nothing on the hot path parses it into a
//! [`serde_json::Value`]: the cursor and primary key are read with a single scan
//! ([`Record::field`]), and destinations that write JSON copy the bytes as they are.

mod batch;
mod builder;

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, Result, excerpt};
use crate::json::{compact_json, has_control_bytes};

pub use batch::RecordBatch;
pub use builder::{EscapedName, FieldName, RecordBuilder};

/// One record: a JSON object, stored as its raw text. Every constructor guarantees the text
/// is one valid JSON object: parsed ([`Record::from_json`]), serialized
/// ([`Record::from_value`]), already parsed by serde ([`Record::from_raw`]) or written valid by
/// construction ([`RecordBuilder`]); and on one line (no raw line break or tab: text copied
/// from a pretty-printed response is compacted), so writers copy it into a line as it is.
#[derive(Clone)]
pub struct Record {
    data: Box<str>,
}

impl PartialEq for Record {
    /// Records are equal when their JSON text is identical.
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl Eq for Record {}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Record").field(&&*self.data).finish()
    }
}

impl Record {
    /// Wraps raw JSON text that is known to be an object (for example, a slice of a page the
    /// HTTP toolkit already parsed). Fails with a system error if it is not an object.
    ///
    /// JSON copied from a pretty-printed response keeps its line breaks and tabs; a record's
    /// text never does (a protocol message is one line), so such text is compacted here:
    /// whitespace outside strings removed, strings untouched.
    pub fn from_raw(data: Box<RawValue>) -> Result<Self> {
        if data.get().as_bytes().first() != Some(&b'{') {
            return Err(Error::system(format!(
                "a record must be a JSON object, got {}",
                excerpt(data.get())
            )));
        }
        if has_control_bytes(data.get()) {
            return Ok(Record {
                data: compact_json(data.get()).into(),
            });
        }
        Ok(Record { data: data.into() })
    }

    /// Parses JSON text into a record. Fails with a system error on malformed JSON or a
    /// value that is not an object.
    pub fn from_json(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        let raw = RawValue::from_string(text.trim().to_owned()).map_err(|e| {
            Error::system(format!(
                "malformed record JSON: {e}; starts with {}",
                excerpt(&text)
            ))
        })?;
        Record::from_raw(raw)
    }

    /// Serializes a [`Value`] into a record. Fails if it is not an object.
    pub fn from_value(value: &Value) -> Result<Self> {
        if !value.is_object() {
            return Err(Error::system(format!(
                "a record must be a JSON object, got {}",
                excerpt(&value.to_string())
            )));
        }
        let raw = serde_json::value::to_raw_value(value)
            .map_err(|e| Error::system(format!("serializing record: {e}")))?;
        Ok(Record { data: raw.into() })
    }

    /// The record's JSON text.
    pub fn json(&self) -> &str {
        &self.data
    }

    /// Size of the record's JSON text in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the JSON text is empty (never true for a valid record).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Parses the record into a [`Value`] (allocates; use for transforms, not the hot path).
    pub fn to_value(&self) -> Result<Value> {
        serde_json::from_str(&self.data)
            .map_err(|e| Error::system(format!("malformed record JSON: {e}")))
    }

    /// The raw value of a top-level field, without parsing anything else into memory.
    /// `Ok(None)` when the field is absent.
    pub fn field(&self, name: &str) -> Result<Option<&RawValue>> {
        find_field(&self.data, name)?.map(raw_value).transpose()
    }

    /// The raw value at a path of nested object fields (`["properties", "email"]`).
    pub fn field_path<S: AsRef<str>>(&self, path: &[S]) -> Result<Option<&RawValue>> {
        self.field_text(path)?.map(raw_value).transpose()
    }

    /// The JSON text of the value at a path of nested object fields.
    pub(crate) fn field_text<S: AsRef<str>>(&self, path: &[S]) -> Result<Option<&str>> {
        let Some((first, rest)) = path.split_first() else {
            return Ok(None);
        };
        let Some(mut current) = find_field(&self.data, first.as_ref())? else {
            return Ok(None);
        };
        for part in rest {
            match find_field(current, part.as_ref())? {
                Some(next) => current = next,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// Whether every field of the primary key is present and not null (what a merge needs),
    /// without building the key.
    pub(crate) fn has_primary_key(&self, key: &[Vec<String>]) -> Result<bool> {
        if key.is_empty() {
            return Ok(false);
        }
        for path in key {
            match self.field_text(path)? {
                Some(text) if text != "null" => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The primary key of this record as a JSON array of the key fields' values, in order.
    /// `Ok(None)` if any key field is missing or null.
    pub fn primary_key(&self, key: &[Vec<String>]) -> Result<Option<Value>> {
        if key.is_empty() {
            return Ok(None);
        }
        let mut parts = Vec::with_capacity(key.len());
        for path in key {
            match self.field_text(path)? {
                Some(text) if text != "null" => parts.push(
                    serde_json::from_str::<Value>(text)
                        .map_err(|e| Error::system(format!("malformed key field: {e}")))?,
                ),
                _ => return Ok(None),
            }
        }
        Ok(Some(Value::Array(parts)))
    }
}

/// Finds a top-level key in a raw JSON object with one scan and no allocation for other fields,
/// returning the value's JSON text.
fn find_field<'a>(text: &'a str, name: &str) -> Result<Option<&'a str>> {
    if text.as_bytes().first() != Some(&b'{') {
        return Ok(None);
    }
    // The text is valid JSON (a record's or a part of one), so the structural scan finds the
    // field; the parser only runs if the scan cannot follow the text, to say why.
    if let Some(found) = crate::json::scan::member(text, name) {
        return Ok(found);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let found = de::Deserializer::deserialize_map(&mut de, FieldFinder { name })
        .map_err(|e| Error::system(format!("malformed record JSON: {e}")))?;
    Ok(found.map(RawValue::get))
}

struct FieldFinder<'n> {
    name: &'n str,
}

impl<'de> Visitor<'de> for FieldFinder<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_match) = map.next_key_seed(KeyIs(self.name))? {
            if is_match && found.is_none() {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct KeyIs<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// A value's text as a [`RawValue`] (checked again: serde_json has no unchecked constructor).
fn raw_value(text: &str) -> Result<&RawValue> {
    serde_json::from_str(text).map_err(|e| Error::system(format!("malformed record JSON: {e}")))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_8_a_record_from_a_pretty_printed_page_is_one_line() {
        for page in [
            "{\n  \"id\": \"1\",\n  \"email\": \"a b@x.io\",\n  \"teams\": [\n    {\"n\": \"x\\\"\\ny\"}\n  ]\n}",
            "{\r\n\t\"id\": \"1\",\r\n\t\"email\": \"a b@x.io\",\r\n\t\"teams\": [{\"n\": \"x\\\"\\ny\"}]\r\n}",
        ] {
            let raw = RawValue::from_string(page.to_string()).unwrap();
            let r = Record::from_raw(raw).unwrap();
            assert!(!r.json().contains(['\n', '\r', '\t']), "{}", r.json());
            assert_eq!(
                r.json(),
                r#"{"id":"1","email":"a b@x.io","teams":[{"n":"x\"\ny"}]}"#
            );
            let mut b = RecordBuilder::new();
            b.raw(
                "teams",
                &*RawValue::from_string("[\n 1,\n\t2 ]".into()).unwrap(),
            );
            assert_eq!(b.build().json(), r#"{"teams":[1,2]}"#);
        }
    }

    #[test]
    fn field_reads_top_level_values_only() {
        let r = Record::from_json(
            r#"{"id":"1","properties":{"updatedAt":"x"},"updatedAt":"2024-01-02T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            r.field("updatedAt").unwrap().unwrap().get(),
            "\"2024-01-02T00:00:00Z\""
        );
        assert_eq!(r.field("id").unwrap().unwrap().get(), "\"1\"");
        assert!(r.field("missing").unwrap().is_none());
        assert_eq!(
            r.field_path(&["properties", "updatedAt"])
                .unwrap()
                .unwrap()
                .get(),
            "\"x\""
        );
    }

    #[test]
    fn the_fast_scan_agrees_with_the_parser() {
        let texts = [
            r#"{"a":1,"b":"x\"}y","c":{"d":[1,{"e":"}"}]},"f":null,"g":-1.5e3,"h":true}"#,
            "{ \"a\" : [ ] ,\n \"b\" : { } , \"c\" :\"\\\\\" }",
            r#"{}"#,
        ];
        for text in texts {
            let r = Record::from_json(text).unwrap();
            let full: Value = serde_json::from_str(text).unwrap();
            for key in ["a", "b", "c", "d", "f", "g", "h", "zz"] {
                let fast = r
                    .field(key)
                    .unwrap()
                    .map(|v| serde_json::from_str::<Value>(v.get()).unwrap());
                assert_eq!(fast.as_ref(), full.get(key), "{text} {key}");
            }
        }
    }

    #[test]
    fn escaped_keys_match() {
        let r = Record::from_json(r#"{"a\"b":1,"\u0063":2}"#).unwrap();
        assert_eq!(r.field("a\"b").unwrap().unwrap().get(), "1");
        assert_eq!(r.field("c").unwrap().unwrap().get(), "2");
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(
            Record::from_json("[1,2]")
                .unwrap_err()
                .to_string()
                .contains("object")
        );
        assert!(Record::from_json("{\"a\":").is_err());
        assert!(Record::from_value(&serde_json::json!(3)).is_err());
    }

    #[test]
    fn primary_key_is_an_array_of_values() {
        let r = Record::from_json(r#"{"id":7,"sub":{"k":"a"}}"#).unwrap();
        let key = vec![
            vec!["id".to_string()],
            vec!["sub".to_string(), "k".to_string()],
        ];
        assert_eq!(
            r.primary_key(&key).unwrap(),
            Some(serde_json::json!([7, "a"]))
        );
        let missing = vec![vec!["nope".to_string()]];
        assert_eq!(r.primary_key(&missing).unwrap(), None);
    }
}
