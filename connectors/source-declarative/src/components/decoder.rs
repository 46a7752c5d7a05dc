//! `JsonDecoder`, as airbyte-cdk decodes a response body: a JSON list is one body per item, any
//! other JSON value one body; an empty list, `null`, an empty or invalid body give one empty
//! mapping (the CDK's historical fallback, which the paginators and extractors then see).

use serde_json::{Map, Value};

/// The bodies a response decodes to (never none).
pub fn decode_json(body: &[u8]) -> Vec<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) if !items.is_empty() => items,
        Ok(Value::Null) | Ok(Value::Array(_)) | Err(_) => vec![Value::Object(Map::new())],
        Ok(other) => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_as_the_cdk_decodes_them() {
        assert_eq!(decode_json(br#"{"a": 1}"#), vec![json!({"a": 1})]);
        assert_eq!(
            decode_json(br#"[{"a": 1}, {"a": 2}]"#),
            vec![json!({"a": 1}), json!({"a": 2})]
        );
        assert_eq!(decode_json(b"[]"), vec![json!({})]);
        assert_eq!(decode_json(b"null"), vec![json!({})]);
        assert_eq!(decode_json(b""), vec![json!({})]);
        assert_eq!(decode_json(b"<html>"), vec![json!({})]);
        assert_eq!(decode_json(b"0"), vec![json!(0)]);
    }
}
