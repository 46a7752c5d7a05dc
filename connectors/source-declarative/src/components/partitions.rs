//! Partition routers: the partitions (the CDK's stream slices) a stream is read in, and the
//! request options each partition adds.
//! - `ListPartitionRouter`: one partition per value (`values` is a list, or a template of the
//!   config giving one), `{cursor_field: value}`, the value injected by `request_option`
//!   (a falsy value is not injected, as in the CDK);
//! - a list of routers is their cartesian product (the CDK's `CartesianProductStreamSlicer`):
//!   each partition merges one partition of each router, in order.
//!
//! `SubstreamPartitionRouter` (partitions from a parent stream's records) is not implemented
//! yet and is refused by the stream builder.

use serde_json::{Map, Value};

use super::paginator::PageOptions;
use super::request_option::RequestOption;
use crate::error::{ManifestError, Result};
use crate::interpolation::{Context, Interpolated};
use crate::manifest::truthy;

/// A partition router.
#[derive(Debug, Clone)]
pub enum Router {
    /// `ListPartitionRouter`.
    List {
        /// The partition values.
        values: Vec<Value>,
        /// The partition's key (`stream_slice.<cursor_field>`).
        cursor_field: String,
        /// Where the value goes on the request.
        option: Option<RequestOption>,
    },
    /// Several routers, combined.
    Product(Vec<Router>),
}

impl Router {
    /// Builds the router of a `partition_router` value (a router node or a list of them).
    /// `ctx` holds the config and parameters.
    pub fn from_value(v: &Value, path: &str, ctx: &Context) -> Result<Self> {
        match v {
            Value::Array(items) => Ok(Router::Product(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Router::from_value(item, &format!("{path}[{i}]"), ctx))
                    .collect::<Result<_>>()?,
            )),
            Value::Object(node) => Router::from_node(node, path, ctx),
            other => Err(ManifestError::invalid(
                path,
                format!("a partition router is a mapping, not {other}"),
            )),
        }
    }

    fn from_node(node: &Map<String, Value>, path: &str, ctx: &Context) -> Result<Self> {
        let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "ListPartitionRouter" => {
                let values = match node.get("values") {
                    Some(Value::Array(items)) => items.clone(),
                    Some(Value::String(s)) => {
                        match Interpolated::new(s, &format!("{path}.values"))?
                            .eval_string_value(ctx)?
                        {
                            Value::Array(items) => items,
                            other => {
                                return Err(ManifestError::invalid(
                                    format!("{path}.values"),
                                    format!(
                                        "{s:?} gives {other}, not a list of partition values: check the config"
                                    ),
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(ManifestError::invalid(
                            format!("{path}.values"),
                            "a ListPartitionRouter needs values (a list, or a template giving one)",
                        ));
                    }
                };
                let cursor_field = match node.get("cursor_field") {
                    Some(Value::String(s)) => {
                        Interpolated::new(s, &format!("{path}.cursor_field"))?.eval_text(ctx)?
                    }
                    _ => {
                        return Err(ManifestError::invalid(
                            format!("{path}.cursor_field"),
                            "a ListPartitionRouter needs a cursor_field",
                        ));
                    }
                };
                let option = node
                    .get("request_option")
                    .and_then(Value::as_object)
                    .map(|o| RequestOption::from_node(o, &format!("{path}.request_option")))
                    .transpose()?;
                Ok(Router::List {
                    values,
                    cursor_field,
                    option,
                })
            }
            other => Err(ManifestError::Unsupported {
                path: path.into(),
                kind: if other.is_empty() {
                    "a partition router without a type".into()
                } else {
                    other.into()
                },
                why: Some(
                    "only ListPartitionRouter (alone or in a list) is implemented yet".into(),
                ),
            }),
        }
    }

    /// The partitions, in the CDK's order.
    pub fn partitions(&self) -> Vec<Map<String, Value>> {
        match self {
            Router::List {
                values,
                cursor_field,
                ..
            } => values
                .iter()
                .map(|v| Map::from_iter([(cursor_field.clone(), v.clone())]))
                .collect(),
            Router::Product(routers) => {
                let mut out = vec![Map::new()];
                for r in routers {
                    let mut next = Vec::new();
                    for prefix in &out {
                        for p in r.partitions() {
                            let mut merged = prefix.clone();
                            merged.extend(p);
                            next.push(merged);
                        }
                    }
                    out = next;
                }
                out
            }
        }
    }

    /// The request options partition `slice` adds.
    pub fn options(&self, slice: &Map<String, Value>, ctx: &Context) -> Result<PageOptions> {
        let mut out = PageOptions::default();
        match self {
            Router::List {
                cursor_field,
                option: Some(opt),
                ..
            } => {
                if let Some(v) = slice.get(cursor_field).filter(|v| truthy(v)) {
                    opt.inject(out.of(opt.inject_into), v.clone(), ctx)?;
                }
            }
            Router::List { option: None, .. } => {}
            Router::Product(routers) => {
                for r in routers {
                    out = out.combine(r.options(slice, ctx)?)?;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_their_products_partition_as_the_cdk_does() {
        let ctx = Context::new(&json!({"survey_id": [11, 12]}));
        let r = Router::from_value(
            &json!([
                {"type": "ListPartitionRouter", "values": "{{ config.get('survey_id') }}", "cursor_field": "survey_id",
                 "request_option": {"type": "RequestOption", "inject_into": "request_parameter", "field_name": "survey_id"}},
                {"type": "ListPartitionRouter", "values": ["a", "b"], "cursor_field": "kind"},
            ]),
            "streams[0].retriever.partition_router",
            &ctx,
        )
        .unwrap();
        let parts = r.partitions();
        assert_eq!(
            parts
                .iter()
                .map(|p| Value::Object(p.clone()))
                .collect::<Vec<_>>(),
            vec![
                json!({"survey_id": 11, "kind": "a"}),
                json!({"survey_id": 11, "kind": "b"}),
                json!({"survey_id": 12, "kind": "a"}),
                json!({"survey_id": 12, "kind": "b"}),
            ]
        );
        let o = r.options(&parts[0], &ctx).unwrap();
        assert_eq!(Value::Object(o.params), json!({"survey_id": 11}));
        let e = Router::from_value(
            &json!({"type": "ListPartitionRouter", "values": "{{ config.get('missing') }}", "cursor_field": "x"}),
            "p",
            &ctx,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("p.values:"), "{e}");
        let e = Router::from_value(&json!({"type": "SubstreamPartitionRouter"}), "p", &ctx)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("SubstreamPartitionRouter is not supported"),
            "{e}"
        );
    }
}
