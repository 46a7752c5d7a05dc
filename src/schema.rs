//! JSON Schema inference from sample records, for streams whose API publishes no schema.
//!
//! The inferred schema is what orchestrators need: an object schema whose `properties` name
//! every field seen, each typed by the union of the JSON types observed (always nullable,
//! since a field absent from the sample may be null elsewhere). Nested objects get their own
//! `properties`; arrays get `items`.
//!
//! # Example
//! ```
//! use intake::Record;
//! use intake::schema::infer;
//!
//! let records = [
//!     Record::from_json(r#"{"id": 1, "name": "a", "tags": ["x"]}"#)?,
//!     Record::from_json(r#"{"id": 2, "name": null, "score": 1.5}"#)?,
//! ];
//! let schema = infer(&records);
//! assert_eq!(schema["properties"]["id"]["type"], serde_json::json!(["null", "integer"]));
//! assert_eq!(schema["properties"]["score"]["type"], serde_json::json!(["null", "number"]));
//! assert_eq!(schema["properties"]["tags"]["items"]["type"], serde_json::json!(["null", "string"]));
//! # Ok::<(), intake::Error>(())
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::record::Record;

/// How deep nested objects and arrays are described; deeper values are typed without detail.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Default, Clone)]
struct Shape {
    boolean: bool,
    integer: bool,
    number: bool,
    string: bool,
    object: Option<BTreeMap<String, Shape>>,
    array: Option<Box<Shape>>,
}

impl Shape {
    fn observe(&mut self, value: &Value, depth: usize) {
        match value {
            Value::Null => {}
            Value::Bool(_) => self.boolean = true,
            Value::Number(n) if n.is_i64() || n.is_u64() => self.integer = true,
            Value::Number(_) => self.number = true,
            Value::String(_) => self.string = true,
            Value::Array(items) => {
                let shape = self.array.get_or_insert_with(Box::default);
                if depth < MAX_DEPTH {
                    for item in items {
                        shape.observe(item, depth + 1);
                    }
                }
            }
            Value::Object(map) => {
                let fields = self.object.get_or_insert_with(BTreeMap::new);
                if depth < MAX_DEPTH {
                    for (key, v) in map {
                        fields.entry(key.clone()).or_default().observe(v, depth + 1);
                    }
                }
            }
        }
    }

    fn to_schema(&self) -> Value {
        let mut types = vec![json!("null")];
        if self.boolean {
            types.push(json!("boolean"));
        }
        // An integer column that also saw fractions is a number column.
        if self.number {
            types.push(json!("number"));
        } else if self.integer {
            types.push(json!("integer"));
        }
        if self.string {
            types.push(json!("string"));
        }
        let mut schema = Map::new();
        if let Some(items) = &self.array {
            types.push(json!("array"));
            schema.insert("items".into(), items.to_schema());
        }
        if let Some(fields) = &self.object {
            types.push(json!("object"));
            let props: Map<String, Value> = fields
                .iter()
                .map(|(k, s)| (k.clone(), s.to_schema()))
                .collect();
            schema.insert("properties".into(), Value::Object(props));
        }
        schema.insert("type".into(), Value::Array(types));
        Value::Object(schema)
    }
}

/// Infers an object schema from sample records (draft-07; every field nullable). Records that
/// fail to parse are skipped; an empty sample gives an object schema with no properties that
/// allows any field.
pub fn infer(records: &[Record]) -> Value {
    let mut fields: BTreeMap<String, Shape> = BTreeMap::new();
    for record in records {
        if let Ok(Value::Object(map)) = record.to_value() {
            for (key, v) in &map {
                fields.entry(key.clone()).or_default().observe(v, 1);
            }
        }
    }
    let props: Map<String, Value> = fields
        .iter()
        .map(|(k, s)| (k.clone(), s.to_schema()))
        .collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "properties": props,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_types_and_describes_nested_objects() {
        let records = [
            Record::from_json(r#"{"a": 1, "o": {"x": "s"}, "l": [{"k": true}]}"#).unwrap(),
            Record::from_json(r#"{"a": 2.5, "o": null, "l": []}"#).unwrap(),
            Record::from_json(r#"{"a": "3"}"#).unwrap(),
        ];
        let s = infer(&records);
        assert_eq!(s["type"], "object");
        assert_eq!(
            s["properties"]["a"]["type"],
            json!(["null", "number", "string"])
        );
        assert_eq!(
            s["properties"]["o"]["properties"]["x"]["type"],
            json!(["null", "string"])
        );
        assert_eq!(
            s["properties"]["l"]["items"]["properties"]["k"]["type"],
            json!(["null", "boolean"])
        );
        assert_eq!(infer(&[])["properties"], json!({}));
    }
}
