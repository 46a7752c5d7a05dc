//! Writing a record's JSON field by field, valid by construction.

use std::fmt;

use serde_json::Value;

use super::Record;
use crate::error::{Error, Result};
use crate::json::{compact_json, has_control_bytes};
/// Writes a record's JSON field by field, straight into its text: no [`Value`] tree, and no
/// second parse to check the result, because every piece is valid JSON by construction (names
/// are escaped as needed, raw values come from a JSON parser, other values from serde_json).
/// Made for sources that turn an API's JSON into records at volume; one builder is reused for
/// every record of a page.
///
/// ```
/// use intake::record::RecordBuilder;
/// use serde_json::value::RawValue;
///
/// let api: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
/// let email: &RawValue = serde_json::from_str(r#""ada@example.com""#).unwrap();
/// let mut builder = RecordBuilder::new();
/// builder
///     .str("id", "42")
///     .raw(("properties_", "email"), email)
///     .bool("archived", false)
///     .serialize("tags", &["a", "b"])?;
/// let record = builder.build();
/// assert_eq!(
///     record.json(),
///     r#"{"id":"42","properties_email":"ada@example.com","archived":false,"tags":["a","b"]}"#
/// );
/// # Ok::<(), intake::Error>(())
/// ```
///
/// Names are not checked for repeats: write each once.
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    json: String,
    scratch: Vec<u8>,
}

/// A field name for [`RecordBuilder`]: a `&str`, or two parts written one after the other
/// (`("properties_", name)`) without building the joined string.
pub trait FieldName {
    /// The name's parts, unquoted and unescaped (an [`EscapedName`] gives its escaped text).
    fn parts(&self) -> [&str; 2];

    /// The name already escaped, when it is an [`EscapedName`] (then written as it is).
    fn escaped(&self) -> Option<&EscapedName> {
        None
    }
}

/// A field name escaped for JSON once, for a name written into many records (a column a
/// source discovered): [`RecordBuilder`] copies it without looking at its bytes again. Made
/// only by [`EscapedName::new`], so it is always valid inside a JSON string.
///
/// ```
/// use intake::record::{EscapedName, RecordBuilder};
/// let email = EscapedName::new(("properties_", "e\"mail"));
/// let mut builder = RecordBuilder::new();
/// builder.str(&email, "ada@example.com");
/// assert_eq!(builder.build().json(), r#"{"properties_e\"mail":"ada@example.com"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapedName(Box<str>);

impl EscapedName {
    /// Escapes `name` (a `&str` or a pair of parts).
    pub fn new(name: impl FieldName) -> EscapedName {
        if let Some(done) = name.escaped() {
            return done.clone();
        }
        let mut text = String::new();
        for part in name.parts() {
            push_escaped(&mut text, part);
        }
        EscapedName(text.into())
    }
}

impl FieldName for &EscapedName {
    fn parts(&self) -> [&str; 2] {
        // Unescaped parts are not kept; `escaped` is what the builder uses.
        [&self.0, ""]
    }

    fn escaped(&self) -> Option<&EscapedName> {
        Some(self)
    }
}

impl FieldName for &str {
    fn parts(&self) -> [&str; 2] {
        [self, ""]
    }
}

impl FieldName for &String {
    fn parts(&self) -> [&str; 2] {
        [self.as_str(), ""]
    }
}

impl FieldName for (&str, &str) {
    fn parts(&self) -> [&str; 2] {
        [self.0, self.1]
    }
}

impl Default for RecordBuilder {
    fn default() -> Self {
        RecordBuilder::new()
    }
}

impl RecordBuilder {
    /// An empty record.
    pub fn new() -> Self {
        let mut json = String::with_capacity(512);
        json.push('{');
        RecordBuilder {
            json,
            scratch: Vec::new(),
        }
    }

    fn name(&mut self, name: impl FieldName) {
        if self.json.len() > 1 {
            self.json.push(',');
        }
        self.json.push('"');
        match name.escaped() {
            Some(escaped) => self.json.push_str(&escaped.0),
            None => {
                for part in name.parts() {
                    push_escaped(&mut self.json, part);
                }
            }
        }
        self.json.push_str("\":");
    }

    /// A field whose value is JSON a parser already checked (copied as it is): a serde_json
    /// [`RawValue`] or a [`RawJson`](crate::json::RawJson) from a [`json::Reader`](crate::json::Reader).
    pub fn raw<'v>(
        &mut self,
        name: impl FieldName,
        value: impl Into<crate::json::RawJson<'v>>,
    ) -> &mut Self {
        self.name(name);
        let text = value.into().get();
        if has_control_bytes(text) {
            // Pretty-printed JSON from the API: a record is one line.
            self.json.push_str(&compact_json(text));
        } else {
            self.json.push_str(text);
        }
        self
    }

    /// A string field.
    pub fn str(&mut self, name: impl FieldName, value: &str) -> &mut Self {
        self.name(name);
        self.json.push('"');
        push_escaped(&mut self.json, value);
        self.json.push('"');
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, name: impl FieldName, value: bool) -> &mut Self {
        self.name(name);
        self.json.push_str(if value { "true" } else { "false" });
        self
    }

    /// A null field.
    pub fn null(&mut self, name: impl FieldName) -> &mut Self {
        self.name(name);
        self.json.push_str("null");
        self
    }

    /// A field holding any serializable value (a number, a [`Value`], a list). Fails, writing
    /// nothing, if the value cannot be serialized as JSON (a map with non-string keys).
    pub fn serialize<T: serde::Serialize + ?Sized>(
        &mut self,
        name: impl FieldName,
        value: &T,
    ) -> Result<&mut Self> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let error =
            |e: &dyn fmt::Display| Error::system(format!("cannot write a record field: {e}"));
        let written = serde_json::to_writer(&mut scratch, value)
            .map_err(|e| error(&e))
            .and_then(|()| std::str::from_utf8(&scratch).map_err(|e| error(&e)));
        let result = written.map(|text| {
            self.name(name);
            self.json.push_str(text);
        });
        self.scratch = scratch;
        result.map(|()| self)
    }

    /// The record written so far; the builder starts the next one empty.
    pub fn build(&mut self) -> Record {
        self.json.push('}');
        let data: Box<str> = self.json.as_str().into();
        self.json.clear();
        self.json.push('{');
        Record { data }
    }
}

/// Appends `s` escaped for a JSON string (without quotes).
fn push_escaped(out: &mut String, s: &str) {
    if !crate::json::needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    let quoted = Value::from(s).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    #[test]
    fn the_escape_check_agrees_with_a_byte_by_byte_one() {
        let slow = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
        // Every byte value at every position of names from 1 to 20 bytes long, among
        // neighbours that are plain or high (UTF-8) bytes.
        for len in 1..=20 {
            for fill in [b'a', 0x7f, 0x80, 0xff, 0x20, 0x21] {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut b = vec![fill; len];
                        b[at] = byte;
                        assert_eq!(crate::json::needs_escape(&b), slow(&b), "{b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_builder_writes_valid_json_whatever_the_names_and_values() {
        let raw: Box<RawValue> = RawValue::from_string(r#"{"a": [1, 2]}"#.into()).unwrap();
        let mut b = RecordBuilder::new();
        b.str("plain", "x")
            .str("quo\"te", "back\\slash\nline\u{1}")
            .raw(("nested_", "tab\t"), &raw)
            .bool("yes", true)
            .null("nothing")
            .serialize("n", &12.5)
            .unwrap();
        let record = b.build();
        assert_eq!(
            record.to_value().unwrap(),
            serde_json::json!({
                "plain": "x", "quo\"te": "back\\slash\nline\u{1}",
                "nested_tab\t": {"a": [1, 2]}, "yes": true, "nothing": null, "n": 12.5
            })
        );
        // A value serde cannot write leaves the record as it was; the builder is reusable.
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        b.str("id", "1");
        assert!(b.serialize("bad", &bad).is_err());
        assert_eq!(b.build().json(), r#"{"id":"1"}"#);
        assert_eq!(b.build().json(), "{}");
        // Names escaped once write the same JSON, and escaping one again changes nothing.
        let once = EscapedName::new(("quo\"", "te\n"));
        assert_eq!(EscapedName::new(&once), once);
        b.str(&once, "a").str(&EscapedName::new(&once), "b");
        let mut plain = RecordBuilder::new();
        plain.str(("quo\"", "te\n"), "a");
        plain.str("quo\"te\n", "b");
        assert_eq!(b.build(), plain.build());
    }
}
