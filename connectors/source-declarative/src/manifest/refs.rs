//! `$ref` resolution, as airbyte-cdk's `ManifestReferenceResolver` does it:
//! - a string value starting with `#/` is a reference and is replaced by what it points at
//!   (the old style: `stream: "#/definitions/campaigns_stream"`);
//! - a mapping with a `$ref` key is the referenced mapping with the mapping's own keys laid
//!   over it, shallowly (a local `requester:` replaces the whole referenced requester);
//! - a pointer is read from the top of the manifest, trying the longest key first at each level
//!   (so a key holding a `/` can be reached) and a number as a list index;
//! - `config_overrides` values are configs, not components: copied as they are.
//!
//! Invariants: a reference that points at nothing, or that refers back to itself, is an error
//! naming the manifest path where it is written; the result holds no `$ref` and no `#/` string
//! outside `config_overrides`.

use serde_json::{Map, Value};

use crate::error::{ManifestError, Result};
use crate::manifest::path::child;

/// Fields whose values are connector config rather than components.
const CONFIG_VALUE_FIELDS: &[&str] = &["config_overrides"];

/// The manifest with every reference resolved.
pub(crate) fn resolve(manifest: &Value) -> Result<Value> {
    let mut visiting = Vec::new();
    eval(manifest, manifest, &mut visiting, "")
}

fn eval(node: &Value, manifest: &Value, visiting: &mut Vec<String>, path: &str) -> Result<Value> {
    match node {
        Value::Object(map) => {
            let mut own = Map::new();
            for (k, v) in map {
                if k == "$ref" {
                    continue;
                }
                let value = if CONFIG_VALUE_FIELDS.contains(&k.as_str()) {
                    v.clone()
                } else {
                    eval(v, manifest, visiting, &child(path, k))?
                };
                own.insert(k.clone(), value);
            }
            let Some(reference) = map.get("$ref") else {
                return Ok(Value::Object(own));
            };
            match eval(reference, manifest, visiting, &child(path, "$ref"))? {
                Value::Object(mut base) => {
                    base.extend(own);
                    Ok(Value::Object(base))
                }
                // A reference to a non-mapping replaces the node (the CDK does the same).
                other => Ok(other),
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| eval(v, manifest, visiting, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
        Value::String(s) if s.starts_with("#/") => {
            if visiting.contains(s) {
                let chain = visiting.join(" -> ");
                return Err(ManifestError::invalid(
                    path,
                    format!("the reference {s} refers back to itself ({chain} -> {s})"),
                ));
            }
            let target = lookup(&s[2..], manifest).ok_or_else(|| {
                ManifestError::invalid(
                    path,
                    format!("the reference {s} points at nothing in the manifest"),
                )
            })?;
            visiting.push(s.clone());
            let resolved = eval(target, manifest, visiting, path);
            visiting.pop();
            resolved
        }
        other => Ok(other.clone()),
    }
}

/// The value at `pointer` (`definitions/streams/users`): at each level the whole remaining
/// pointer is tried as a key first, then its first segment (a number indexes a list).
fn lookup<'a>(pointer: &str, mut node: &'a Value) -> Option<&'a Value> {
    let mut rest = pointer;
    while !rest.is_empty() {
        if let Value::Object(map) = node
            && let Some(v) = map.get(rest)
        {
            return Some(v);
        }
        let (head, tail) = match rest.split_once('/') {
            Some((h, t)) => (h, t),
            None => (rest, ""),
        };
        node = match node {
            Value::Object(map) => map.get(head)?,
            Value::Array(items) => items.get(head.parse::<usize>().ok()?)?,
            _ => return None,
        };
        rest = tail;
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_merge_shallowly_with_local_keys_winning() {
        let m = json!({
            "definitions": {
                "requester": {"url_base": "https://a", "http_method": "GET", "request_parameters": {"a": 1}},
                "retriever": {"requester": "#/definitions/requester", "paginator": {"type": "NoPagination"}},
            },
            "stream": {
                "$ref": "#/definitions/retriever",
                "requester": {"$ref": "#/definitions/requester", "request_parameters": {"b": 2}},
            },
        });
        let r = resolve(&m).unwrap();
        assert_eq!(
            r["stream"]["requester"],
            json!({"url_base": "https://a", "http_method": "GET", "request_parameters": {"b": 2}})
        );
        assert_eq!(r["stream"]["paginator"]["type"], "NoPagination");
        assert_eq!(
            r["definitions"]["retriever"]["requester"]["url_base"],
            "https://a"
        );
    }

    #[test]
    fn pointers_try_keys_with_slashes_and_list_indexes() {
        let m = json!({
            "nested": {"path": "first"},
            "nested/path": "whole key",
            "list": [{"x": 1}, {"x": 2}],
            "a": "#/nested/path",
            "b": "#/list/1/x",
        });
        let r = resolve(&m).unwrap();
        assert_eq!(r["a"], "whole key");
        assert_eq!(r["b"], 2);
    }

    #[test]
    fn a_dangling_or_circular_reference_names_where_it_is_written() {
        let m = json!({"streams": [{"retriever": "#/definitions/nothing"}]});
        let e = resolve(&m).unwrap_err().to_string();
        assert_eq!(
            e,
            "streams[0].retriever: the reference #/definitions/nothing points at nothing in the manifest"
        );
        let m = json!({"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}}});
        let e = resolve(&m).unwrap_err().to_string();
        assert!(e.contains("refers back to itself"), "{e}");
    }

    #[test]
    fn config_overrides_are_configs_not_references() {
        let m = json!({"x": {"config_overrides": {"path": "#/not/a/ref"}}});
        assert_eq!(resolve(&m).unwrap(), m);
    }
}
