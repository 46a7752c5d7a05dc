//! Property definitions from `/crm/v3/properties/{object}`: the stream's JSON Schema, the
//! casting of HubSpot's string values to their declared types, and the splitting of long
//! property lists into URL-sized chunks.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use intake::json::RawJson;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The prefix of a property's column: HubSpot's `properties.email` becomes `properties_email`
/// (Airbyte's naming, so SQL written against either reads the same).
pub const PREFIX: &str = "properties_";

/// How long the `properties=` query value of one list request may grow (HubSpot rejects URLs
/// past about 16 KB; the rest of the URL needs room too).
pub const MAX_PROPERTIES_CHARS: usize = 15_000;

/// The type a property declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    /// `number`: an integer or a decimal.
    Number,
    /// `bool` / `booleancheckbox`.
    Boolean,
    /// `date`: a calendar date.
    Date,
    /// `datetime`: an instant.
    DateTime,
    /// `string`, `enumeration`, `phone_number`, `json`, `object_coordinates` and any type this
    /// connector does not know.
    String,
}

impl PropertyType {
    /// Maps HubSpot's `type` name.
    pub fn from_hubspot(name: &str) -> PropertyType {
        match name {
            "number" => PropertyType::Number,
            "bool" | "boolean" => PropertyType::Boolean,
            "date" => PropertyType::Date,
            "datetime" | "date-time" => PropertyType::DateTime,
            _ => PropertyType::String,
        }
    }

    /// The JSON Schema of a column of this type (always nullable: HubSpot sends null for unset
    /// properties).
    pub fn json_schema(self) -> Value {
        match self {
            PropertyType::Number => json!({"type": ["null", "number"]}),
            PropertyType::Boolean => json!({"type": ["null", "boolean"]}),
            PropertyType::Date => json!({"type": ["null", "string"], "format": "date"}),
            PropertyType::DateTime => json!({"type": ["null", "string"], "format": "date-time"}),
            PropertyType::String => json!({"type": ["null", "string"]}),
        }
    }
}

/// One property definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// The internal name (`email`, `hs_lastmodifieddate`, a custom `favorite_color`).
    pub name: String,
    /// Its type.
    pub kind: PropertyType,
}

#[derive(Deserialize)]
struct RawProperty {
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// Parses a properties response: `{"results": [...]}` as the API sends it, or a bare array
/// (some recorded mocks). Definitions without a name are skipped.
pub fn parse_properties(body: &Value) -> Vec<Property> {
    let list = match body {
        Value::Array(items) => items.as_slice(),
        other => other
            .get("results")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default(),
    };
    let mut out: Vec<Property> = list
        .iter()
        .filter_map(|p| serde_json::from_value::<RawProperty>(p.clone()).ok())
        .filter(|p| !p.name.is_empty())
        .map(|p| Property {
            kind: PropertyType::from_hubspot(p.kind.as_deref().unwrap_or("string")),
            name: p.name,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// Splits property names into groups whose comma-joined, URL-encoded length stays within
/// `max_chars`, keeping the order. A single name longer than the limit gets a group of its own.
pub fn chunk_properties(properties: &[Property], max_chars: usize) -> Vec<Vec<String>> {
    let mut chunks: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut len = 0;
    for p in properties {
        let encoded = encoded_len(&p.name);
        // A comma between names is `%2C` once encoded.
        let extra = if current.is_empty() {
            encoded
        } else {
            encoded + 3
        };
        if !current.is_empty() && len + extra > max_chars {
            chunks.push(std::mem::take(&mut current));
            len = 0;
            current.push(p.name.clone());
            len += encoded;
        } else {
            current.push(p.name.clone());
            len += extra;
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn encoded_len(name: &str) -> usize {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .map(str::len)
        .sum()
}

/// Casts one property value to its declared type. HubSpot sends every value as a string (or
/// null): `""` for a number, boolean, date or date-time is null; a value that will not cast
/// stays the string it was, so nothing is lost (a destination keeps it in its raw column).
pub fn cast(kind: PropertyType, value: Value) -> Value {
    let Value::String(text) = value else {
        // Already typed (some endpoints send numbers and booleans as JSON), or null.
        return value;
    };
    let trimmed = text.trim();
    if trimmed.is_empty() && kind != PropertyType::String {
        return Value::Null;
    }
    let cast = match kind {
        PropertyType::String => None,
        PropertyType::Number => number(trimmed),
        PropertyType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        PropertyType::DateTime => instant(trimmed).map(|t| Value::String(rfc3339(&t))),
        PropertyType::Date => NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
            .ok()
            .or_else(|| instant(trimmed).map(|t| t.date_naive()))
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string())),
    };
    cast.unwrap_or(Value::String(text))
}

fn number(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// A property value cast for the output record, borrowing the API's JSON where it is already
/// in its final form.
#[derive(Debug)]
pub enum Out<'a> {
    /// The API's JSON as is (a string property, a canonical date-time, null, a typed value).
    Raw(RawJson<'a>),
    /// A value the cast produced.
    Value(Value),
}

impl serde::Serialize for Out<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Raw(r) => r.serialize(s),
            Out::Value(v) => v.serialize(s),
        }
    }
}

/// Casts one property value (the API's JSON) like [`cast`], as a value to serialize: when the
/// API's value is already final (any string for a string property, `2024-01-15T14:22:10.456Z`
/// for a date-time, null, a typed value) it is written as is, without a copy.
pub fn cast_raw(kind: PropertyType, raw: RawJson<'_>) -> Out<'_> {
    let text = raw.get().trim();
    if kind == PropertyType::String || !text.starts_with('"') {
        return Out::Raw(raw);
    }
    // The common case, checked on the JSON itself: a canonical instant has no escapes.
    if kind == PropertyType::DateTime
        && text.len() == 26
        && text.ends_with('"')
        && is_canonical_instant(&text[1..25])
    {
        return Out::Raw(raw);
    }
    let Some(s) = intake::json::json_str(text) else {
        return Out::Raw(raw);
    };
    let trimmed = s.trim();
    match kind {
        _ if trimmed.is_empty() => Out::Value(Value::Null),
        PropertyType::DateTime if is_canonical_instant(trimmed) => Out::Raw(raw),
        PropertyType::Date if is_canonical_date(trimmed) => Out::Raw(raw),
        PropertyType::Number if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            match trimmed.parse::<i64>() {
                Ok(i) => Out::Value(Value::from(i)),
                Err(_) => Out::Value(cast(kind, Value::String(s.into_owned()))),
            }
        }
        _ => Out::Value(cast(kind, Value::String(s.into_owned()))),
    }
}

/// `2024-01-15T14:22:10.456Z`: the form [`rfc3339`] writes.
fn is_canonical_instant(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[23] == b'Z'
        && b[19] == b'.'
        && b[10] == b'T'
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && [13, 16].iter().all(|&i| b[i] == b':')
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
        && {
            // Field ranges without a calendar: a day past the month's end is caught when a
            // destination types the column (the value is kept raw, never lost).
            let n = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
            (1..=12).contains(&n(5))
                && (1..=31).contains(&n(8))
                && n(11) < 24
                && n(14) < 60
                && n(17) < 61
        }
}

fn is_canonical_date(s: &str) -> bool {
    s.len() == 10 && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// An instant written as RFC 3339 (any offset) or as epoch milliseconds.
pub fn instant(text: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = intake::state::parse_datetime(text) {
        return Some(t);
    }
    let ms = text.parse::<i64>().ok()?;
    DateTime::from_timestamp_millis(ms)
}

/// `2024-01-15T14:22:10.456Z`: UTC, milliseconds, the form HubSpot's own timestamps take.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The JSON Schema of a CRM object stream: the record's own fields, one column per property
/// and one array of ids per association.
pub fn object_schema(properties: &[Property], associations: &[String]) -> Value {
    let mut props = Map::new();
    props.insert("id".into(), json!({"type": "string"}));
    props.insert(
        "createdAt".into(),
        json!({"type": ["null", "string"], "format": "date-time"}),
    );
    props.insert(
        "updatedAt".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    props.insert("archived".into(), json!({"type": "boolean"}));
    props.insert(
        "archivedAt".into(),
        json!({"type": ["null", "string"], "format": "date-time"}),
    );
    for p in properties {
        props.insert(format!("{PREFIX}{}", p.name), p.kind.json_schema());
    }
    for a in associations {
        props.insert(
            a.clone(),
            json!({"type": ["null", "array"], "items": {"type": "string"}}),
        );
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "properties": props,
        "required": ["id", "updatedAt"]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str) -> Property {
        Property {
            name: name.into(),
            kind: PropertyType::String,
        }
    }

    #[test]
    fn values_cast_to_their_declared_types() {
        use PropertyType::*;
        assert_eq!(cast(Number, json!("42")), json!(42));
        assert_eq!(cast(Number, json!("1.5")), json!(1.5));
        assert_eq!(cast(Number, json!("")), Value::Null);
        assert_eq!(cast(Number, json!("n/a")), json!("n/a"));
        assert_eq!(cast(Number, json!("NaN")), json!("NaN"));
        assert_eq!(cast(Boolean, json!("true")), json!(true));
        assert_eq!(cast(Boolean, json!("FALSE")), json!(false));
        assert_eq!(cast(Boolean, json!("yes")), json!("yes"));
        assert_eq!(
            cast(DateTime, json!("2021-02-23T20:08:49.603000+00:00")),
            json!("2021-02-23T20:08:49.603Z")
        );
        assert_eq!(
            cast(DateTime, json!("1614110929603")),
            json!("2021-02-23T20:08:49.603Z")
        );
        assert_eq!(cast(Date, json!("2024-03-01")), json!("2024-03-01"));
        assert_eq!(cast(Date, json!("1709251200000")), json!("2024-03-01"));
        assert_eq!(cast(Date, json!("")), Value::Null);
        assert_eq!(cast(String, json!("")), json!(""));
        assert_eq!(cast(String, json!("007")), json!("007"));
        assert_eq!(cast(Number, Value::Null), Value::Null);
    }

    #[test]
    fn casting_raw_json_gives_what_cast_gives() {
        use PropertyType::*;
        let cases = [
            (Number, json!("42")),
            (Number, json!("-7")),
            (Number, json!("1.5")),
            (Number, json!("")),
            (Number, json!("n/a")),
            (Number, json!("NaN")),
            (Number, json!("99999999999999999999")),
            (Boolean, json!("true")),
            (Boolean, json!("FALSE")),
            (Boolean, json!("yes")),
            (DateTime, json!("2021-02-23T20:08:49.603000+00:00")),
            (DateTime, json!("2021-02-23T20:08:49.603Z")),
            (DateTime, json!("1614110929603")),
            (DateTime, json!("not a date")),
            (Date, json!("2024-03-01")),
            (Date, json!("1709251200000")),
            (Date, json!("")),
            (String, json!("")),
            (String, json!("a \"quoted\" ünïcode\n")),
            (Number, Value::Null),
            (Number, json!(12)),
            (Boolean, json!(true)),
        ];
        for (kind, value) in cases {
            let raw = serde_json::value::to_raw_value(&value).unwrap();
            let serialized = serde_json::to_value(cast_raw(kind, (&*raw).into())).unwrap();
            assert_eq!(serialized, cast(kind, value.clone()), "{kind:?} {value}");
        }
    }

    #[test]
    fn properties_parse_from_results_or_a_bare_array() {
        let wrapped = json!({"results": [
            {"name": "closed_date", "type": "datetime", "createdAt": null},
            {"name": "amount", "type": "number"},
            {"name": "stage", "type": "enumeration"},
            {"name": "where", "type": "object_coordinates"},
            {"label": "no name"}
        ]});
        let parsed = parse_properties(&wrapped);
        let kinds: Vec<(&str, PropertyType)> =
            parsed.iter().map(|p| (p.name.as_str(), p.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("amount", PropertyType::Number),
                ("closed_date", PropertyType::DateTime),
                ("stage", PropertyType::String),
                ("where", PropertyType::String),
            ]
        );
        let bare = json!([{"name": "closed_date", "type": "datetime"}]);
        assert_eq!(parse_properties(&bare).len(), 1);
    }

    #[test]
    fn chunks_stay_under_the_limit_and_keep_every_name_once() {
        let names: Vec<Property> = (0..1500)
            .map(|i| prop(&format!("custom_property_number_{i:04}")))
            .collect();
        let chunks = chunk_properties(&names, MAX_PROPERTIES_CHARS);
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        for c in &chunks {
            let joined: String =
                url::form_urlencoded::byte_serialize(c.join(",").as_bytes()).collect();
            assert!(joined.len() <= MAX_PROPERTIES_CHARS, "{}", joined.len());
        }
        let flat: Vec<&String> = chunks.iter().flatten().collect();
        assert_eq!(flat.len(), 1500);
        assert_eq!(flat[0], "custom_property_number_0000");
        assert_eq!(chunk_properties(&[], 100), Vec::<Vec<String>>::new());
        // A name longer than the limit still goes out, alone.
        let long = vec![prop("a"), prop(&"x".repeat(50)), prop("b")];
        assert_eq!(chunk_properties(&long, 10).len(), 3);
    }
}
