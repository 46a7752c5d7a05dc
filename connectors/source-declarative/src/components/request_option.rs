//! `RequestOption` and `RequestPath`: where a value (a page token, a page size, a cursor
//! bound, a partition value) goes on a request, as airbyte-cdk injects it:
//! - `inject_into: request_parameter | header | body_data | body_json`, under `field_name`
//!   (interpolated with the config and parameters), or for `body_json` under a nested
//!   `field_path`;
//! - a `RequestPath` token replaces the request's whole path (a next-page URL).

use serde_json::{Map, Value};

use crate::error::{ManifestError, Result};
use crate::interpolation::{Context, Interpolated};

/// Where a request option goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectInto {
    /// The query string.
    RequestParameter,
    /// A header.
    Header,
    /// A form-encoded body.
    BodyData,
    /// A JSON body.
    BodyJson,
}

impl InjectInto {
    fn parse(v: Option<&Value>, path: &str) -> Result<Self> {
        match v.and_then(Value::as_str) {
            Some("request_parameter") => Ok(InjectInto::RequestParameter),
            Some("header") => Ok(InjectInto::Header),
            Some("body_data") => Ok(InjectInto::BodyData),
            Some("body_json") => Ok(InjectInto::BodyJson),
            // The manifests' `path` option type belongs to RequestPath.
            other => Err(ManifestError::invalid(
                format!("{path}.inject_into"),
                format!(
                    "inject_into is one of request_parameter, header, body_data, body_json (found {})",
                    other
                        .map(|s| format!("{s:?}"))
                        .unwrap_or_else(|| "nothing".into())
                ),
            )),
        }
    }
}

#[derive(Debug, Clone)]
enum Field {
    Name(Interpolated),
    Path(Vec<Interpolated>),
}

/// A `RequestOption`.
#[derive(Debug, Clone)]
pub struct RequestOption {
    /// Where it goes.
    pub inject_into: InjectInto,
    field: Field,
}

impl RequestOption {
    /// Builds one from its manifest node.
    pub fn from_node(node: &Map<String, Value>, path: &str) -> Result<Self> {
        let inject_into = InjectInto::parse(node.get("inject_into"), path)?;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let field = match (node.get("field_name"), node.get("field_path")) {
            (Some(name), None) => Field::Name(Interpolated::new(
                &text(name),
                &format!("{path}.field_name"),
            )?),
            (None, Some(Value::Array(parts))) => {
                if inject_into != InjectInto::BodyJson {
                    return Err(ManifestError::invalid(
                        format!("{path}.field_path"),
                        "Nested field injection is only supported for body JSON injection. Please use a top-level field_name for other injection types.",
                    ));
                }
                Field::Path(
                    parts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            Interpolated::new(&text(p), &format!("{path}.field_path[{i}]"))
                        })
                        .collect::<Result<_>>()?,
                )
            }
            (Some(_), Some(_)) => {
                return Err(ManifestError::invalid(
                    path,
                    "Only one of field_name or field_path can be provided to RequestOption",
                ));
            }
            _ => {
                return Err(ManifestError::invalid(
                    path,
                    "RequestOption requires either a field_name or field_path",
                ));
            }
        };
        Ok(RequestOption { inject_into, field })
    }

    /// Puts `value` into `target` (the options of its kind); `ctx` holds the config and
    /// parameters the field name is interpolated with.
    pub fn inject(
        &self,
        target: &mut Map<String, Value>,
        value: Value,
        ctx: &Context,
    ) -> Result<()> {
        match &self.field {
            Field::Name(name) => {
                target.insert(name.eval_text(ctx)?, value);
            }
            Field::Path(parts) => {
                let keys: Vec<String> = parts
                    .iter()
                    .map(|p| p.eval_text(ctx))
                    .collect::<Result<_>>()?;
                let Some((last, parents)) = keys.split_last() else {
                    return Ok(());
                };
                let mut current = target;
                for key in parents {
                    let slot = current
                        .entry(key.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    current = slot.as_object_mut().expect("an object was just put there");
                }
                current.insert(last.clone(), value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_go_where_they_say() {
        let ctx = Context::new(&json!({"prefix": "since"}))
            .with("parameters", &json!({"cursor_field": "created"}));
        let opt = RequestOption::from_node(
            json!({"type": "RequestOption", "inject_into": "request_parameter", "field_name": "{{ config.prefix }}_{{ parameters['cursor_field'] }}"}).as_object().unwrap(),
            "x",
        )
        .unwrap();
        let mut params = Map::new();
        opt.inject(&mut params, json!("2024-01-01"), &ctx).unwrap();
        assert_eq!(
            Value::Object(params),
            json!({"since_created": "2024-01-01"})
        );
        let nested = RequestOption::from_node(
            json!({"inject_into": "body_json", "field_path": ["page", "cursor"]})
                .as_object()
                .unwrap(),
            "x",
        )
        .unwrap();
        let mut body = Map::new();
        nested.inject(&mut body, json!("tok"), &ctx).unwrap();
        assert_eq!(Value::Object(body), json!({"page": {"cursor": "tok"}}));
        let e = RequestOption::from_node(
            json!({"inject_into": "header", "field_path": ["a"]})
                .as_object()
                .unwrap(),
            "streams[0].x",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("streams[0].x.field_path: Nested field injection"),
            "{e}"
        );
        let e = RequestOption::from_node(
            json!({"inject_into": "query", "field_name": "a"})
                .as_object()
                .unwrap(),
            "p",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("inject_into is one of"), "{e}");
    }
}
