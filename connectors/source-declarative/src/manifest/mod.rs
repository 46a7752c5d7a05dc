//! A manifest, loaded: YAML (or JSON) parsed, references resolved, types and `$parameters`
//! propagated, exactly as airbyte-cdk preprocesses it before building components.

mod parameters;
pub(crate) mod path;
mod refs;

use serde_json::{Map, Value};

pub(crate) use parameters::truthy;

use crate::error::{ManifestError, Result};

/// A preprocessed manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    root: Value,
}

impl Manifest {
    /// Parses and preprocesses a manifest's text.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let mut yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| ManifestError::Yaml(e.to_string()))?;
        yaml.apply_merge()
            .map_err(|e| ManifestError::Yaml(e.to_string()))?;
        let json = yaml_to_json(yaml, "")?;
        Self::from_value(json)
    }

    /// Preprocesses a manifest already parsed.
    pub fn from_value(mut raw: Value) -> Result<Self> {
        let Value::Object(map) = &mut raw else {
            return Err(ManifestError::invalid(
                "",
                "a manifest is a mapping with streams, spec and check",
            ));
        };
        map.entry("type")
            .or_insert_with(|| Value::String("DeclarativeSource".into()));
        let resolved = refs::resolve(&raw)?;
        let root = parameters::propagate(&resolved);
        Ok(Manifest { root })
    }

    /// Sets every non-empty `url_base` to `url`: for running a manifest against a mock when
    /// its spec allows only the vendor's hosts (airbyte-oracle's `--url-base` does the same).
    pub fn override_url_base(&mut self, url: &str) {
        fn walk(v: &mut Value, url: &str) {
            match v {
                Value::Object(map) => {
                    for (k, item) in map.iter_mut() {
                        if k == "url_base" && item.as_str().is_some_and(|s| !s.is_empty()) {
                            *item = Value::String(url.to_string());
                        } else {
                            walk(item, url);
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(|i| walk(i, url)),
                _ => {}
            }
        }
        walk(&mut self.root, url);
    }

    /// The whole preprocessed manifest.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The `version` it was written for.
    pub fn version(&self) -> Option<&str> {
        self.root.get("version").and_then(Value::as_str)
    }

    /// The stream definitions (`streams:`), each with its manifest path.
    pub fn streams(&self) -> Vec<(String, &Map<String, Value>)> {
        self.root
            .get("streams")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.as_object().map(|m| (format!("streams[{i}]"), m)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// YAML to JSON: keys that are not strings (`200:`) become their text, as a JSON document
/// would spell them.
fn yaml_to_json(v: serde_yaml::Value, path: &str) -> Result<Value> {
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, item) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => if b { "True" } else { "False" }.to_string(),
                    Y::Null => "None".to_string(),
                    other => {
                        return Err(ManifestError::invalid(
                            path,
                            format!("a mapping key must be text, not {other:?}"),
                        ));
                    }
                };
                let child = path::child(path, &key);
                out.insert(key, yaml_to_json(item, &child)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value, path)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_is_resolved_and_parameterised_as_the_cdk_does() {
        let m = Manifest::from_yaml(
            r##"
version: 6.13.0
definitions:
  requester:
    url_base: "https://api.example.com/v1"
    http_method: GET
  base_stream:
    retriever:
      requester:
        $ref: "#/definitions/requester"
        path: "{{ parameters.path }}"
      record_selector:
        extractor:
          field_path: ["data"]
  users:
    type: DeclarativeStream
    $ref: "#/definitions/base_stream"
    $parameters:
      name: users
      path: /users
streams:
  - "#/definitions/users"
"##,
        )
        .unwrap();
        assert_eq!(m.version(), Some("6.13.0"));
        let streams = m.streams();
        assert_eq!(streams.len(), 1);
        let (path, users) = &streams[0];
        assert_eq!(path, "streams[0]");
        assert_eq!(users["name"], "users");
        assert_eq!(users["retriever"]["type"], "SimpleRetriever");
        assert_eq!(users["retriever"]["requester"]["type"], "HttpRequester");
        assert_eq!(
            users["retriever"]["requester"]["url_base"],
            "https://api.example.com/v1"
        );
        assert_eq!(
            users["retriever"]["requester"]["$parameters"]["path"],
            "/users"
        );
        assert_eq!(
            users["retriever"]["record_selector"]["extractor"]["type"],
            "DpathExtractor"
        );
        assert_eq!(m.root()["type"], "DeclarativeSource");
    }

    #[test]
    fn not_yaml_or_not_a_mapping_is_a_clear_error() {
        let e = Manifest::from_yaml("streams: [").unwrap_err().to_string();
        assert!(e.starts_with("the manifest is not valid YAML"), "{e}");
        let e = Manifest::from_yaml("- a\n- b").unwrap_err().to_string();
        assert!(e.contains("a manifest is a mapping"), "{e}");
    }
}
