//! `DpathExtractor` and `RecordFilter`, with airbyte-cdk's semantics:
//! - each decoded body (see `decoder.rs`) is searched: an empty `field_path` is the body itself,
//!   a path with a `*` segment every match (`dpath.values`), else the one value at the path
//!   (`dpath.get`, nothing when missing);
//! - a list found gives one record per item, anything else truthy one record, anything falsy
//!   none;
//! - `field_path` segments are interpolated with the config and parameters only;
//! - a `RecordFilter` keeps the records whose `condition` is true (`InterpolatedBoolean`),
//!   evaluated with `record`, `stream_slice` and `next_page_token`.

use serde_json::{Map, Value};

use super::dpath;
use crate::error::{ManifestError, Result};
use crate::interpolation::{Context, Interpolated};
use crate::manifest::truthy;

/// A `DpathExtractor`.
#[derive(Debug, Clone)]
pub struct DpathExtractor {
    field_path: Vec<Interpolated>,
    path: String,
}

impl DpathExtractor {
    /// Builds one from its manifest node, at `path`.
    pub fn from_node(node: &Map<String, Value>, path: &str) -> Result<Self> {
        let segments = match node.get("field_path") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => {
                return Err(ManifestError::invalid(
                    format!("{path}.field_path"),
                    format!("field_path is a list of keys, not {other}"),
                ));
            }
        };
        let field_path = segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let here = format!("{path}.field_path[{i}]");
                match s {
                    Value::String(text) => Interpolated::new(text, &here),
                    other => Interpolated::new(&other.to_string(), &here),
                }
            })
            .collect::<Result<_>>()?;
        Ok(DpathExtractor {
            field_path,
            path: path.into(),
        })
    }

    /// The records in the decoded `bodies`. `ctx` holds `config` and `parameters`.
    pub fn extract(&self, bodies: &[Value], ctx: &Context) -> Result<Vec<Value>> {
        let segments: Vec<String> = self
            .field_path
            .iter()
            .map(|p| p.eval_text(ctx))
            .collect::<Result<_>>()?;
        let mut out = Vec::new();
        for body in bodies {
            let found: Value = if segments.is_empty() {
                body.clone()
            } else if segments.iter().any(|s| s == "*") {
                Value::Array(
                    dpath::values(body, &segments)
                        .into_iter()
                        .cloned()
                        .collect(),
                )
            } else {
                match dpath::get(body, &segments) {
                    Ok(v) => v.clone(),
                    Err(dpath::GetError::Missing) => Value::Array(Vec::new()),
                    Err(dpath::GetError::Ambiguous) => {
                        return Err(ManifestError::invalid(
                            format!("{}.field_path", self.path),
                            format!(
                                "the path {segments:?} matches more than one value (dpath.get() globs must match only one leaf)"
                            ),
                        ));
                    }
                }
            };
            match found {
                Value::Array(items) => out.extend(items),
                v if truthy(&v) => out.push(v),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// A `RecordFilter`.
#[derive(Debug, Clone)]
pub struct RecordFilter {
    condition: Interpolated,
}

impl RecordFilter {
    /// Builds one from its manifest node.
    pub fn from_node(node: &Map<String, Value>, path: &str) -> Result<Self> {
        let condition = node.get("condition").and_then(Value::as_str).unwrap_or("");
        Ok(RecordFilter {
            condition: Interpolated::new(condition, &format!("{path}.condition"))?,
        })
    }

    /// Whether `record` is kept; `ctx` holds config, parameters, stream_slice and
    /// next_page_token, and gets `record` set (one context serves a whole page).
    pub fn keeps(&self, record: &Value, ctx: &mut Context) -> Result<bool> {
        ctx.set("record", record);
        self.condition.eval_bool(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::decoder::decode_json;
    use serde_json::json;

    fn extractor(node: Value) -> DpathExtractor {
        DpathExtractor::from_node(node.as_object().unwrap(), "x").unwrap()
    }

    fn ctx() -> Context {
        Context::new(&json!({"key": "items"})).with("parameters", &json!({"data_field": "members"}))
    }

    #[test]
    fn records_are_found_as_the_cdk_finds_them() {
        let bodies = decode_json(br#"{"members": [{"id": 1}, {"id": 2}], "one": {"id": 3}, "empty": null, "nested": [{"items": [{"id": 4}]}, {"items": [{"id": 5}]}]}"#);
        let get = |node: Value| extractor(node).extract(&bodies, &ctx()).unwrap();
        assert_eq!(
            get(json!({"field_path": ["{{ parameters.data_field }}"]})),
            vec![json!({"id": 1}), json!({"id": 2})]
        );
        assert_eq!(get(json!({"field_path": ["one"]})), vec![json!({"id": 3})]);
        assert_eq!(get(json!({"field_path": ["empty"]})), Vec::<Value>::new());
        assert_eq!(get(json!({"field_path": ["missing"]})), Vec::<Value>::new());
        // A `*` collects every match: here two lists, each a record.
        assert_eq!(
            get(json!({"field_path": ["nested", "*", "{{ config.key }}"]})),
            vec![json!([{"id": 4}]), json!([{"id": 5}])]
        );
        // A top-level list is one body per item; an empty field_path is each body.
        let list = decode_json(br#"[{"id": 1}, {"id": 2}]"#);
        assert_eq!(
            extractor(json!({"field_path": []}))
                .extract(&list, &ctx())
                .unwrap()
                .len(),
            2
        );
        // An empty list decodes to one empty body, which is falsy: no record.
        let empty = decode_json(b"[]");
        assert!(
            extractor(json!({"field_path": []}))
                .extract(&empty, &ctx())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_filter_keeps_what_its_condition_accepts() {
        let f = RecordFilter::from_node(
            json!({"condition": "{{ record['status'] != 'deleted' }}"})
                .as_object()
                .unwrap(),
            "x",
        )
        .unwrap();
        let mut c = ctx();
        assert!(f.keeps(&json!({"status": "active"}), &mut c).unwrap());
        assert!(!f.keeps(&json!({"status": "deleted"}), &mut c).unwrap());
    }
}
