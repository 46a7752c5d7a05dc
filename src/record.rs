//! Records and their batches.
//!
//! A [`Record`] is one JSON object, kept as the exact bytes the source produced
//! ([`serde_json::value::RawValue`]). Nothing on the hot path parses it into a
//! [`serde_json::Value`]: the cursor and primary key are read with a single scan
//! ([`Record::field`]), and destinations that write JSON copy the bytes as they are.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::catalog::StreamDescriptor;
use crate::error::{Error, Result};

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
    if let Some(found) = crate::scan::member(text, name) {
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

/// The first 120 characters of a text, quoted, for error messages (cut at a character
/// boundary).
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    let mut end = text.len().min(MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{:?}...", &text[..end])
    } else {
        format!("{text:?}")
    }
}

/// The string a JSON string literal holds (`None` for any other JSON value, or text that is
/// not a valid literal), borrowed from the text when it has no escapes: only a string with a
/// backslash, a quote or a control character inside goes to the parser (eight bytes are
/// checked at a time).
///
/// ```
/// use intake::record::json_str;
/// assert_eq!(json_str(r#""ada""#).as_deref(), Some("ada"));
/// assert_eq!(json_str(r#""a\"b""#).as_deref(), Some("a\"b"));
/// assert_eq!(json_str("42"), None);
/// assert_eq!(json_str("\"a\tb\""), None); // a raw tab: not valid JSON
/// ```
pub fn json_str(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if !crate::scan::needs_escape(inner.as_bytes()) {
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str(text).ok()
}

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
    if !crate::scan::needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    let quoted = Value::from(s).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// Records of one stream, read together (usually one API page).
#[derive(Debug, Clone)]
pub struct RecordBatch {
    /// The stream the records belong to.
    pub stream: Arc<StreamDescriptor>,
    /// The records, in source order.
    pub records: Vec<Record>,
    /// When the batch was read, in milliseconds since the Unix epoch.
    pub emitted_at: i64,
    /// The batch's share of the sync's memory budget, returned when it is dropped (see
    /// [`crate::buffer`]). Default: none.
    pub held: crate::buffer::BufferPermit,
}

impl RecordBatch {
    /// A batch stamped with the current time.
    pub fn new(stream: Arc<StreamDescriptor>, records: Vec<Record>) -> Self {
        RecordBatch {
            stream,
            records,
            emitted_at: now_millis(),
            held: Default::default(),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Total JSON bytes of the records.
    pub fn bytes(&self) -> u64 {
        self.records.iter().map(|r| r.len() as u64).sum()
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Whether JSON text holds a byte below 0x20: in valid JSON that can only be whitespace (a line
/// break, a tab) between tokens, since strings must escape control characters. Checked 16
/// bytes at a time so the common, compact case costs little.
pub(crate) fn has_control_bytes(text: &str) -> bool {
    text.as_bytes()
        .chunks(16)
        .any(|c| c.iter().fold(false, |any, &b| any | (b < 0x20)))
}

/// Valid JSON text without the whitespace between its tokens (strings are copied as they are).
pub(crate) fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {

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
    use super::*;

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
                        assert_eq!(crate::scan::needs_escape(&b), slow(&b), "{b:?}");
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
