//! `DefaultPaginator` and `NoPagination`: the strategy (`pagination.rs`) decides the next
//! token; the paginator puts the token and the page size on the next request, as airbyte-cdk
//! does:
//! - the token goes where `page_token_option` says, or replaces the whole path for a
//!   `RequestPath`; a `None` token is not sent (a `0` is);
//! - the page size goes where `page_size_option` says, on every request, when the strategy
//!   has a truthy page size; a `page_size_option` without a page size is a manifest error.

use serde_json::{Map, Value};

use super::pagination::{PageRead, Strategy};
use super::request_option::{InjectInto, RequestOption};
use crate::error::{ManifestError, Result};
use crate::interpolation::Context;

/// Where a page token goes.
#[derive(Debug, Clone)]
pub enum TokenOption {
    /// A request option (`page_token_option: RequestOption`).
    Option(RequestOption),
    /// The whole path (`page_token_option: RequestPath`).
    Path,
}

/// A `DefaultPaginator`'s parts.
#[derive(Debug, Clone)]
pub struct DefaultPaginator {
    /// Decides the next token.
    pub strategy: Strategy,
    /// Where the token goes.
    pub token_option: Option<TokenOption>,
    /// Where the page size goes.
    pub size_option: Option<RequestOption>,
}

/// A paginator.
#[derive(Debug, Clone)]
pub enum Paginator {
    /// `NoPagination`: one page.
    None,
    /// `DefaultPaginator`.
    Default(Box<DefaultPaginator>),
}

/// The request options a paginator adds, per place.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PageOptions {
    /// Query parameters.
    pub params: Map<String, Value>,
    /// Headers.
    pub headers: Map<String, Value>,
    /// Form body fields.
    pub body_data: Map<String, Value>,
    /// JSON body fields.
    pub body_json: Map<String, Value>,
    /// A path (a URL) that replaces the request's.
    pub path: Option<String>,
}

impl PageOptions {
    /// Both sets of options, as the CDK's `combine_mappings` combines them: a key given twice
    /// is an error (in a JSON body, only when the values differ); one path wins over none.
    pub fn combine(mut self, other: PageOptions) -> Result<PageOptions> {
        for (mine, theirs, what) in [
            (&mut self.params, other.params, "request parameter"),
            (&mut self.headers, other.headers, "header"),
            (&mut self.body_data, other.body_data, "body field"),
        ] {
            for (k, v) in theirs {
                if mine.contains_key(&k) {
                    return Err(ManifestError::invalid(
                        "",
                        format!(
                            "the {what} {k:?} is set twice (by the paginator, a partition router or the requester); the CDK refuses duplicate keys too"
                        ),
                    ));
                }
                mine.insert(k, v);
            }
        }
        merge_json(&mut self.body_json, other.body_json)?;
        if self.path.is_none() {
            self.path = other.path;
        }
        Ok(self)
    }

    pub(crate) fn of(&mut self, into: InjectInto) -> &mut Map<String, Value> {
        match into {
            InjectInto::RequestParameter => &mut self.params,
            InjectInto::Header => &mut self.headers,
            InjectInto::BodyData => &mut self.body_data,
            InjectInto::BodyJson => &mut self.body_json,
        }
    }
}

/// A JSON body merged into another: nested mappings merge, a leaf given twice must agree.
fn merge_json(into: &mut Map<String, Value>, from: Map<String, Value>) -> Result<()> {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (None, v) => {
                into.insert(k, v);
            }
            (Some(Value::Object(a)), Value::Object(b)) => merge_json(a, b)?,
            (Some(a), b) if *a == b => {}
            (Some(_), _) => {
                return Err(ManifestError::invalid(
                    "",
                    format!("the JSON body field {k:?} is set twice with different values"),
                ));
            }
        }
    }
    Ok(())
}

impl Paginator {
    /// Builds the paginator of a `SimpleRetriever.paginator` node (absent: `NoPagination`).
    pub fn from_node(node: Option<&Map<String, Value>>, path: &str, ctx: &Context) -> Result<Self> {
        let Some(node) = node else {
            return Ok(Paginator::None);
        };
        match node.get("type").and_then(Value::as_str) {
            Some("NoPagination") => Ok(Paginator::None),
            Some("DefaultPaginator") => {
                let strategy_path = format!("{path}.pagination_strategy");
                let strategy_node = node
                    .get("pagination_strategy")
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        ManifestError::invalid(
                            &strategy_path,
                            "a DefaultPaginator needs a pagination_strategy",
                        )
                    })?;
                let strategy = Strategy::from_node(strategy_node, &strategy_path, ctx)?;
                let token_option = match node.get("page_token_option").and_then(Value::as_object) {
                    None => None,
                    Some(o) if o.get("type").and_then(Value::as_str) == Some("RequestPath") => {
                        Some(TokenOption::Path)
                    }
                    Some(o) => Some(TokenOption::Option(RequestOption::from_node(
                        o,
                        &format!("{path}.page_token_option"),
                    )?)),
                };
                let size_option = match node.get("page_size_option").and_then(Value::as_object) {
                    None => None,
                    Some(o) => Some(RequestOption::from_node(
                        o,
                        &format!("{path}.page_size_option"),
                    )?),
                };
                if size_option.is_some() && strategy.page_size(ctx)?.is_none_or(|s| s == 0) {
                    return Err(ManifestError::invalid(
                        format!("{path}.page_size_option"),
                        "page_size_option cannot be set if the pagination strategy does not have a page_size",
                    ));
                }
                Ok(Paginator::Default(Box::new(DefaultPaginator {
                    strategy,
                    token_option,
                    size_option,
                })))
            }
            Some(other) => Err(ManifestError::Unsupported {
                path: path.into(),
                kind: other.into(),
                why: Some("use DefaultPaginator or NoPagination".into()),
            }),
            None => Err(ManifestError::invalid(path, "a paginator needs a type")),
        }
    }

    /// The token of the first request.
    pub fn initial_token(&self) -> Option<Value> {
        match self {
            Paginator::None => None,
            Paginator::Default(p) => p.strategy.initial_token(),
        }
    }

    /// The options the request for `token` carries (the first request's token may be `None`).
    pub fn options(&self, token: Option<&Value>, ctx: &Context) -> Result<PageOptions> {
        let mut out = PageOptions::default();
        let Paginator::Default(p) = self else {
            return Ok(out);
        };
        let DefaultPaginator {
            strategy,
            token_option,
            size_option,
        } = p.as_ref();
        match (token_option, token) {
            (Some(TokenOption::Option(opt)), Some(t)) if !t.is_null() => {
                opt.inject(out.of(opt.inject_into), t.clone(), ctx)?;
            }
            (Some(TokenOption::Path), Some(t)) if crate::manifest::truthy(t) => {
                out.path = Some(match t {
                    Value::String(s) => s.clone(),
                    other => crate::interpolation::python_str_of_json(other),
                });
            }
            _ => {}
        }
        if let Some(opt) = size_option
            && let Some(size) = strategy.page_size(ctx)?.filter(|s| *s != 0)
        {
            opt.inject(out.of(opt.inject_into), Value::from(size), ctx)?;
        }
        Ok(out)
    }

    /// The next page's token, `None` when the partition is read.
    pub fn next_token(
        &self,
        page: &PageRead<'_>,
        last_token: Option<&Value>,
        ctx: &Context,
    ) -> Result<Option<Value>> {
        match self {
            Paginator::None => Ok(None),
            Paginator::Default(p) => p.strategy.next_token(page, last_token, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paginator(node: Value) -> Result<Paginator> {
        Paginator::from_node(
            node.as_object(),
            "streams[0].retriever.paginator",
            &Context::new(&json!({})),
        )
    }

    #[test]
    fn tokens_and_sizes_go_on_the_request() {
        let p = paginator(json!({
            "type": "DefaultPaginator",
            "pagination_strategy": {"type": "OffsetIncrement", "page_size": 100, "inject_on_first_request": true},
            "page_token_option": {"type": "RequestOption", "inject_into": "request_parameter", "field_name": "offset"},
            "page_size_option": {"type": "RequestOption", "inject_into": "request_parameter", "field_name": "count"},
        }))
        .unwrap();
        let first = p.initial_token();
        assert_eq!(first, Some(json!(0)));
        let o = p.options(first.as_ref(), &Context::default()).unwrap();
        assert_eq!(Value::Object(o.params), json!({"offset": 0, "count": 100}));
        let path = paginator(json!({
            "type": "DefaultPaginator",
            "pagination_strategy": {"type": "CursorPagination", "cursor_value": "{{ response.next }}"},
            "page_token_option": {"type": "RequestPath"},
        }))
        .unwrap();
        let o = path
            .options(
                Some(&json!("https://api.example.com/v1/items?page=2")),
                &Context::default(),
            )
            .unwrap();
        assert_eq!(
            o.path.as_deref(),
            Some("https://api.example.com/v1/items?page=2")
        );
        assert!(o.params.is_empty());
        assert!(
            path.options(None, &Context::default())
                .unwrap()
                .path
                .is_none()
        );
    }

    #[test]
    fn a_page_size_option_without_a_page_size_is_refused() {
        let e = paginator(json!({
            "type": "DefaultPaginator",
            "pagination_strategy": {"type": "PageIncrement"},
            "page_size_option": {"inject_into": "request_parameter", "field_name": "per_page"},
        }))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "streams[0].retriever.paginator.page_size_option: page_size_option cannot be set"
            ),
            "{e}"
        );
        let e = paginator(json!({"type": "SomeOtherPaginator"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SomeOtherPaginator is not supported"), "{e}");
    }
}
