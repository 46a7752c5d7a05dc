//! Airbyte-protocol output checked against the vendored schema.
#![allow(dead_code)]

use std::path::Path;

use serde_json::{Value, json};

pub fn message_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/airbyte_protocol.yaml"),
    )
    .unwrap();
    let yaml: Value = serde_yaml::from_str(&text).unwrap();
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": "#/definitions/AirbyteMessage",
        "definitions": yaml["definitions"],
    });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// Parses stdout into messages, asserting every line is a valid protocol message.
pub fn messages(out: &[u8]) -> Vec<Value> {
    let validator = message_validator();
    let text = std::str::from_utf8(out).unwrap();
    text.lines()
        .map(|line| {
            let m: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let errors: Vec<String> = validator
                .iter_errors(&m)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "invalid message {line}: {errors:?}");
            m
        })
        .collect()
}
