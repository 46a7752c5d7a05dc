//! The pagination strategies of a `DefaultPaginator`, deciding the next page token from the
//! page just read, with airbyte-cdk's rules:
//! - `CursorPagination`: `stop_condition` true ends; else the token is `cursor_value`, and a
//!   falsy token (`""`, `0`, `None`, `{}`) ends too. Both see `response` (the first decoded
//!   body), `headers` (with `link` parsed), `last_record`, `last_page_size`, `page_size` and
//!   `stream_slice`.
//! - `OffsetIncrement`: a page shorter than `page_size`, or an empty one, ends; else the
//!   offset grows by the records the page held (before any filter). The first request carries
//!   offset 0 only with `inject_on_first_request`.
//! - `PageIncrement`: the same end rule; the page number counts up from `start_from_page`
//!   (default 0, sent on the first request only with `inject_on_first_request`).
//!
//! Page sizes given as templates are evaluated once with the config (an `OffsetIncrement`'s
//! with each response too), and must be integers.

use serde_json::{Map, Value};

use crate::error::{ManifestError, Result};
use crate::interpolation::{Context, Interpolated};
use crate::manifest::truthy;

/// What the strategies see of the page just read.
pub struct PageRead<'a> {
    /// The decoded bodies (the first is `response`).
    pub bodies: &'a [Value],
    /// The response headers, as templates see them (`headers.rs`).
    pub headers: minijinja::Value,
    /// The last record of the page, if any.
    pub last_record: Option<&'a Value>,
    /// How many records the page kept (after a filter): `last_page_size` in templates.
    pub last_page_size: usize,
    /// How many records the extractor found (before a filter): what the offset and page
    /// strategies count, as the CDK's `extracted_record_count`.
    pub extracted: usize,
    /// The partition being read.
    pub stream_slice: &'a Value,
}

/// A pagination strategy.
#[derive(Debug, Clone)]
pub enum Strategy {
    /// `CursorPagination`.
    Cursor {
        /// The token template.
        cursor_value: Interpolated,
        /// When to stop.
        stop_condition: Option<Interpolated>,
        /// The page size to ask for.
        page_size: Option<i64>,
    },
    /// `OffsetIncrement`.
    Offset {
        /// The page size (a number, or a template of config and response).
        page_size: Option<PageSize>,
        /// Whether the first request carries offset 0.
        inject_on_first_request: bool,
    },
    /// `PageIncrement`.
    Page {
        /// The page size.
        page_size: Option<i64>,
        /// The first page's number.
        start_from_page: i64,
        /// Whether the first request carries the first page's number.
        inject_on_first_request: bool,
    },
}

/// A page size: a number, or a template.
#[derive(Debug, Clone)]
pub enum PageSize {
    /// A number.
    Fixed(i64),
    /// A template, evaluated with the config (and the response, deciding the next offset).
    Template(Interpolated),
}

fn int_of(v: &Value, path: &str) -> Result<i64> {
    v.as_i64().ok_or_else(|| {
        ManifestError::invalid(
            path,
            format!("{v} is of type {}. Expected <class 'int'>", type_name(v)),
        )
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<class 'NoneType'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Number(n) if n.is_f64() => "<class 'float'>",
        Value::Number(_) => "<class 'int'>",
        Value::String(_) => "<class 'str'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

/// A page size field evaluated once with the config (`CursorPagination`, `PageIncrement`).
fn fixed_page_size(node: &Map<String, Value>, path: &str, ctx: &Context) -> Result<Option<i64>> {
    let here = format!("{path}.page_size");
    match node.get("page_size") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            Ok(Some(n.as_i64().ok_or_else(|| {
                ManifestError::invalid(&here, "page_size must be an integer")
            })?))
        }
        Some(Value::String(s)) => {
            let v = Interpolated::new(s, &here)?.eval_string_value(ctx)?;
            int_of(&v, &here).map(Some)
        }
        Some(other) => Err(ManifestError::invalid(
            here,
            format!("page_size must be an integer, not {other}"),
        )),
    }
}

impl Strategy {
    /// Builds the strategy of a `DefaultPaginator.pagination_strategy` node. `ctx` holds the
    /// config and the node's parameters.
    pub fn from_node(node: &Map<String, Value>, path: &str, ctx: &Context) -> Result<Self> {
        let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
        let flag = |name: &str| node.get(name).is_some_and(truthy);
        if node.get("extractor").is_some() {
            return Err(ManifestError::Unsupported {
                path: format!("{path}.extractor"),
                kind: format!("{kind}.extractor"),
                why: Some(
                    "counting records with an extractor of its own is not implemented yet".into(),
                ),
            });
        }
        match kind {
            "CursorPagination" => {
                let cursor_value = match node.get("cursor_value") {
                    Some(Value::String(s)) => {
                        Interpolated::new(s, &format!("{path}.cursor_value"))?
                    }
                    _ => {
                        return Err(ManifestError::invalid(
                            format!("{path}.cursor_value"),
                            "CursorPagination needs a cursor_value (a template reading the next page's token)",
                        ));
                    }
                };
                let stop_condition = match node.get("stop_condition") {
                    Some(Value::String(s)) => {
                        Some(Interpolated::new(s, &format!("{path}.stop_condition"))?)
                    }
                    _ => None,
                };
                let page_size = fixed_page_size(node, path, ctx)?;
                if page_size.is_none() {
                    for (field, t) in [
                        ("cursor_value", Some(&cursor_value)),
                        ("stop_condition", stop_condition.as_ref()),
                    ] {
                        if let Some(t) = t
                            && reads_page_size(t.source())
                        {
                            return Err(ManifestError::invalid(
                                format!("{path}.{field}"),
                                "reads `page_size`, but this CursorPagination declares no page_size: declare one, or compare with a value the manifest defines (config['page_size'])",
                            ));
                        }
                    }
                }
                Ok(Strategy::Cursor {
                    cursor_value,
                    stop_condition,
                    page_size,
                })
            }
            "OffsetIncrement" => {
                let here = format!("{path}.page_size");
                let page_size = match node.get("page_size") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => {
                        Some(PageSize::Fixed(n.as_i64().ok_or_else(|| {
                            ManifestError::invalid(&here, "page_size must be an integer")
                        })?))
                    }
                    Some(Value::String(s)) if s.is_empty() => None,
                    Some(Value::String(s)) => {
                        Some(PageSize::Template(Interpolated::new(s, &here)?))
                    }
                    Some(other) => {
                        return Err(ManifestError::invalid(
                            here,
                            format!("page_size must be an integer, not {other}"),
                        ));
                    }
                };
                Ok(Strategy::Offset {
                    page_size,
                    inject_on_first_request: flag("inject_on_first_request"),
                })
            }
            "PageIncrement" => {
                // The CDK's factory: `model.start_from_page or 0`.
                let start_from_page = match node.get("start_from_page") {
                    None | Some(Value::Null) => 0,
                    Some(v) => int_of(v, &format!("{path}.start_from_page"))?,
                };
                Ok(Strategy::Page {
                    page_size: fixed_page_size(node, path, ctx)?,
                    start_from_page,
                    inject_on_first_request: flag("inject_on_first_request"),
                })
            }
            other => Err(ManifestError::Unsupported {
                path: path.into(),
                kind: if other.is_empty() {
                    "a pagination strategy without a type".into()
                } else {
                    other.into()
                },
                why: Some("use CursorPagination, OffsetIncrement or PageIncrement".into()),
            }),
        }
    }

    /// The token the first request carries, if any.
    pub fn initial_token(&self) -> Option<Value> {
        match self {
            Strategy::Cursor { .. } => None,
            Strategy::Offset {
                inject_on_first_request,
                ..
            } => inject_on_first_request.then(|| Value::from(0)),
            Strategy::Page {
                start_from_page,
                inject_on_first_request,
                ..
            } => inject_on_first_request.then(|| Value::from(*start_from_page)),
        }
    }

    /// The page size to ask for (`page_size_option`), evaluated with the config.
    pub fn page_size(&self, ctx: &Context) -> Result<Option<i64>> {
        match self {
            Strategy::Cursor { page_size, .. } | Strategy::Page { page_size, .. } => Ok(*page_size),
            Strategy::Offset { page_size, .. } => match page_size {
                None => Ok(None),
                Some(PageSize::Fixed(n)) => Ok(Some(*n)),
                Some(PageSize::Template(t)) => {
                    let v = t.eval_string_value(ctx)?;
                    int_of(&v, "page_size").map(Some)
                }
            },
        }
    }

    /// The next page's token after `page`, `None` when the partition is read. `last_token` is
    /// the token of the page just read; `ctx` holds the config and parameters.
    pub fn next_token(
        &self,
        page: &PageRead<'_>,
        last_token: Option<&Value>,
        ctx: &Context,
    ) -> Result<Option<Value>> {
        let response = page
            .bodies
            .first()
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        match self {
            Strategy::Cursor {
                cursor_value,
                stop_condition,
                page_size,
            } => {
                let mut c = ctx.clone();
                c.set("response", &response);
                c.set_value("headers", page.headers.clone());
                c.set("last_record", page.last_record.unwrap_or(&Value::Null));
                c.set("last_page_size", &Value::from(page.last_page_size));
                c.set(
                    "page_size",
                    &page_size.map(Value::from).unwrap_or(Value::Null),
                );
                c.set("stream_slice", page.stream_slice);
                if let Some(stop) = stop_condition
                    && stop.eval_bool(&c)?
                {
                    return Ok(None);
                }
                let token = cursor_value.eval_string_value(&c)?;
                Ok(truthy(&token).then_some(token))
            }
            Strategy::Offset { page_size, .. } => {
                let requested = match page_size {
                    None => None,
                    Some(PageSize::Fixed(n)) => Some(*n),
                    Some(PageSize::Template(t)) => {
                        let c = ctx.clone().with("response", &response);
                        Some(int_of(&t.eval_string_value(&c)?, "page_size")?)
                    }
                };
                let size = page.extracted as i64;
                if requested.is_some_and(|r| r != 0 && size < r) || size == 0 {
                    return Ok(None);
                }
                match last_token {
                    None | Some(Value::Null) => Ok(Some(Value::from(size))),
                    Some(v) => {
                        let last = v.as_i64().ok_or_else(|| {
                            ManifestError::invalid(
                                "",
                                format!("Last page token value {v} for OffsetIncrement pagination strategy was not an integer"),
                            )
                        })?;
                        Ok(Some(Value::from(last + size)))
                    }
                }
            }
            Strategy::Page {
                page_size,
                start_from_page,
                ..
            } => {
                let size = page.extracted as i64;
                if page_size.is_some_and(|p| p != 0 && size < p) || size == 0 {
                    return Ok(None);
                }
                match last_token {
                    None | Some(Value::Null) => Ok(Some(Value::from(start_from_page + 1))),
                    Some(v) => {
                        let last = v.as_i64().ok_or_else(|| {
                            ManifestError::invalid(
                                "",
                                format!("Last page token value {v} for PageIncrement pagination strategy was not an integer"),
                            )
                        })?;
                        Ok(Some(Value::from(last + 1)))
                    }
                }
            }
        }
    }
}

/// Whether a template reads the `page_size` variable.
fn reads_page_size(source: &str) -> bool {
    let re = regex::Regex::new(r"\bpage_size\b").expect("a valid pattern");
    // `config['page_size']` names a config key, not the variable.
    re.find_iter(source).any(|m| {
        let before = &source[..m.start()];
        !(before.ends_with('\'') || before.ends_with('"') || before.ends_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::headers::Headers;
    use serde_json::json;

    fn strategy(node: Value) -> Strategy {
        Strategy::from_node(
            node.as_object().unwrap(),
            "p",
            &Context::new(&json!({"size": "2"})),
        )
        .unwrap()
    }

    fn next(s: &Strategy, bodies: &[Value], size: usize, last: Option<Value>) -> Option<Value> {
        let page = PageRead {
            bodies,
            headers: Headers::new([("Link", "<https://x/?page=2>; rel=\"next\"")]).into_value(),
            last_record: None,
            last_page_size: size,
            extracted: size,
            stream_slice: &Value::Null,
        };
        s.next_token(&page, last.as_ref(), &Context::new(&json!({})))
            .unwrap()
    }

    #[test]
    fn offsets_and_pages_count_as_the_cdk_counts() {
        let off = strategy(json!({"type": "OffsetIncrement", "page_size": 10}));
        assert_eq!(off.initial_token(), None);
        assert_eq!(next(&off, &[json!({})], 10, None), Some(json!(10)));
        assert_eq!(
            next(&off, &[json!({})], 10, Some(json!(10))),
            Some(json!(20))
        );
        assert_eq!(next(&off, &[json!({})], 3, Some(json!(20))), None);
        assert_eq!(next(&off, &[json!({})], 0, None), None);
        let first = strategy(
            json!({"type": "OffsetIncrement", "page_size": 10, "inject_on_first_request": true}),
        );
        assert_eq!(first.initial_token(), Some(json!(0)));
        let page = strategy(
            json!({"type": "PageIncrement", "page_size": "{{ config.size }}", "start_from_page": 0}),
        );
        assert_eq!(page.page_size(&Context::default()).unwrap(), Some(2));
        assert_eq!(next(&page, &[json!({})], 2, None), Some(json!(1)));
        assert_eq!(next(&page, &[json!({})], 2, Some(json!(1))), Some(json!(2)));
        assert_eq!(next(&page, &[json!({})], 1, Some(json!(2))), None);
        // No page size: only an empty page ends; pages count from 0 by default, so the
        // second request asks for page 1.
        let open = strategy(json!({"type": "PageIncrement"}));
        assert_eq!(next(&open, &[json!({})], 1, None), Some(json!(1)));
    }

    #[test]
    fn cursors_stop_on_the_condition_or_a_falsy_token() {
        let cur = strategy(json!({
            "type": "CursorPagination",
            "cursor_value": "{{ response.get('pagination', {}).get('next_page_token', {}) }}",
            "stop_condition": "{{ not response.get('pagination', {}).get('next_page_token', {}) }}",
        }));
        assert_eq!(
            next(
                &cur,
                &[json!({"pagination": {"next_page_token": "abc"}})],
                5,
                None
            ),
            Some(json!("abc"))
        );
        assert_eq!(next(&cur, &[json!({"pagination": {}})], 5, None), None);
        let link = strategy(json!({
            "type": "CursorPagination",
            "cursor_value": "{{ headers['link']['next']['url'] }}",
            "stop_condition": "{{ 'next' not in headers['link'] }}",
        }));
        assert_eq!(
            next(&link, &[json!({})], 5, None),
            Some(json!("https://x/?page=2"))
        );
        let zero =
            strategy(json!({"type": "CursorPagination", "cursor_value": "{{ response.n }}"}));
        assert_eq!(
            next(&zero, &[json!({"n": 0})], 5, None),
            None,
            "a falsy token ends"
        );
        let e = Strategy::from_node(
            json!({"type": "CursorPagination", "cursor_value": "x", "stop_condition": "{{ last_page_size < page_size }}"}).as_object().unwrap(),
            "streams[0].retriever.paginator.pagination_strategy",
            &Context::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("streams[0].retriever.paginator.pagination_strategy.stop_condition: reads `page_size`"), "{e}");
    }
}
