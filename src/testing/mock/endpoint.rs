//! An endpoint: its records, paging style, filters and required headers, and the page it
//! answers.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use super::limits::held;
use super::{Dataset, Fault, MockApi};
use crate::state::parse_datetime;

/// How a mock endpoint pages. Each style answers the way the matching
/// [`crate::http::Paginator`] expects.
#[derive(Debug, Clone, PartialEq)]
pub enum PageStyle {
    /// Everything in one response.
    None,
    /// A cursor in the body at `at` (a JSON pointer such as `/paging/next/after`), sent back
    /// as the query parameter `param`. Absent on the last page.
    Cursor {
        /// Where the next cursor goes in the body.
        at: String,
        /// The query parameter the client sends it back in.
        param: String,
    },
    /// A cursor in the body at `at`, sent back in the request's JSON body at `body_pointer`
    /// (HubSpot's search: `/paging/next/after` -> `/after`).
    BodyCursor {
        /// Where the next cursor goes in the response.
        at: String,
        /// Where the client puts it in the request body.
        body_pointer: String,
    },
    /// An absolute next-page URL in the body at `at`; null on the last page.
    NextUrl {
        /// Where the URL goes in the body.
        at: String,
    },
    /// A `Link: <...>; rel="next"` header.
    LinkHeader,
    /// `offset_param` and `limit_param` from the query (the limit is capped at the endpoint's
    /// page size); the total at `total_at` when set.
    Offset {
        /// The offset query parameter.
        offset_param: String,
        /// The limit query parameter.
        limit_param: String,
        /// Where the total goes in the body, if anywhere.
        total_at: Option<String>,
    },
    /// `param` = 1, 2, 3...; the page size from `size_param` when the client sends it; the
    /// number of pages at `total_pages_at` when set.
    PageNumber {
        /// The page number query parameter.
        param: String,
        /// The page size query parameter, if the client sends one.
        size_param: Option<String>,
        /// Where the page count goes in the body, if anywhere.
        total_pages_at: Option<String>,
    },
}

impl PageStyle {
    /// [`PageStyle::Cursor`].
    pub fn cursor(at: &str, param: &str) -> Self {
        PageStyle::Cursor {
            at: at.into(),
            param: param.into(),
        }
    }

    /// [`PageStyle::NextUrl`].
    pub fn next_url(at: &str) -> Self {
        PageStyle::NextUrl { at: at.into() }
    }

    /// [`PageStyle::Offset`] without a total.
    pub fn offset(offset_param: &str, limit_param: &str) -> Self {
        PageStyle::Offset {
            offset_param: offset_param.into(),
            limit_param: limit_param.into(),
            total_at: None,
        }
    }

    /// [`PageStyle::PageNumber`] without a size parameter or page count.
    pub fn page_number(param: &str) -> Self {
        PageStyle::PageNumber {
            param: param.into(),
            size_param: None,
            total_pages_at: None,
        }
    }
}

/// An incremental filter the endpoint honours, so incremental reads are tested for real:
/// only records whose `field` is at or after the requested value are served, in `field` order.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The value comes from the query parameter `param` (`updated_since=...`).
    Query {
        /// The query parameter.
        param: String,
        /// The record field compared.
        field: String,
    },
    /// The value comes from the JSON request body at `pointer` (a search request's
    /// greater-or-equal filter, `/filterGroups/0/filters/0/value`).
    Body {
        /// Where the value is in the request body.
        pointer: String,
        /// The record field compared.
        field: String,
    },
}

impl Filter {
    /// [`Filter::Query`].
    pub fn query(param: &str, field: &str) -> Self {
        Filter::Query {
            param: param.into(),
            field: field.into(),
        }
    }

    /// [`Filter::Body`].
    pub fn body(pointer: &str, field: &str) -> Self {
        Filter::Body {
            pointer: pointer.into(),
            field: field.into(),
        }
    }

    pub(super) fn field(&self) -> &str {
        match self {
            Filter::Query { field, .. } | Filter::Body { field, .. } => field,
        }
    }
}

/// One endpoint being configured; see [`MockApi::endpoint`].
#[must_use = "an endpoint does nothing until mounted"]
pub struct Endpoint<'a> {
    pub(super) api: &'a MockApi,
    pub(super) path: String,
    pub(super) method: String,
    pub(super) data: Dataset,
    pub(super) records_at: String,
    pub(super) page_size: usize,
    pub(super) style: PageStyle,
    pub(super) filter: Option<Filter>,
    pub(super) auth: Option<(String, String)>,
    pub(super) extra: Map<String, Value>,
}

impl Endpoint<'_> {
    /// The method answered. Default `GET`.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.to_ascii_uppercase();
        self
    }

    /// The records served. Default none.
    pub fn records(mut self, data: impl Into<Dataset>) -> Self {
        self.data = data.into();
        self
    }

    /// Where the records array goes in each page (a JSON pointer; `""` makes the page the
    /// array itself). Default `/results`.
    pub fn records_at(mut self, pointer: &str) -> Self {
        self.records_at = pointer.to_string();
        self
    }

    /// Records per page (the most an offset or page-size client gets). Default 100.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// How pages are linked. Default [`PageStyle::None`].
    pub fn paginate(mut self, style: PageStyle) -> Self {
        self.style = style;
        self
    }

    /// Serve only records at or after the requested value. Default: no filter.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Answer 401 unless the request has this header value (`authorization`,
    /// `Bearer good-token`). Default: no check.
    pub fn require_header(mut self, name: &str, value: &str) -> Self {
        self.auth = Some((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// A fixed field added to every page (`"object": "list"`).
    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_string(), value);
        self
    }

    /// Mounts the endpoint.
    pub async fn mount(self) {
        let stats = self.api.stats.clone();
        let base = self.api.uri();
        let Endpoint {
            path: route,
            method: verb,
            data,
            records_at,
            page_size,
            style,
            filter,
            auth,
            extra,
            ..
        } = self;
        let route_for_links = route.clone();
        stats
            .datasets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((route.clone(), data.clone()));
        Mock::given(path(route.as_str()))
            .and(method(verb.as_str()))
            .respond_with(move |req: &Request| {
                let (limited, hold, seq) = stats.arrive(true, req);
                if let Some(t) = limited {
                    return t;
                }
                if let Some((name, value)) = &auth {
                    let sent = req.headers.get(name.as_str()).and_then(|v| v.to_str().ok());
                    if sent != Some(value.as_str()) {
                        return held(Fault::Unauthorized.respond(), hold);
                    }
                }
                let page = Page {
                    req,
                    data: &data,
                    records_at: &records_at,
                    page_size,
                    style: &style,
                    filter: filter.as_ref(),
                    extra: &extra,
                    base: &base,
                    route: &route_for_links,
                };
                let (answer, served) = page.respond();
                stats.served_records(seq, served);
                held(answer, hold)
            })
            .mount(&self.api.server)
            .await;
    }
}

pub(super) struct Page<'a> {
    pub(super) req: &'a Request,
    pub(super) data: &'a Dataset,
    pub(super) records_at: &'a str,
    pub(super) page_size: usize,
    pub(super) style: &'a PageStyle,
    pub(super) filter: Option<&'a Filter>,
    pub(super) extra: &'a Map<String, Value>,
    pub(super) base: &'a str,
    pub(super) route: &'a str,
}

impl Page<'_> {
    /// The page's answer, and the records it holds.
    pub(super) fn respond(&self) -> (ResponseTemplate, Vec<Value>) {
        let query: HashMap<String, String> = self.req.url.query_pairs().into_owned().collect();
        let body: Value = serde_json::from_slice(&self.req.body).unwrap_or(Value::Null);
        let records = self.selected(&query, &body);
        let total = records.len();
        let int = |name: &str| query.get(name).and_then(|v| v.parse::<usize>().ok());
        let (start, size) = match self.style {
            PageStyle::None => (0, total.max(1)),
            PageStyle::Cursor { param, .. } => (int(param).unwrap_or(0), self.page_size),
            PageStyle::BodyCursor { body_pointer, .. } => (
                body.pointer(body_pointer)
                    .and_then(|v| {
                        v.as_str()
                            .and_then(|s| s.parse().ok())
                            .or(v.as_u64().map(|n| n as usize))
                    })
                    .unwrap_or(0),
                self.page_size,
            ),
            PageStyle::NextUrl { .. } | PageStyle::LinkHeader => {
                (int("page_token").unwrap_or(0), self.page_size)
            }
            PageStyle::Offset {
                offset_param,
                limit_param,
                ..
            } => (
                int(offset_param).unwrap_or(0),
                int(limit_param)
                    .unwrap_or(self.page_size)
                    .clamp(1, self.page_size),
            ),
            PageStyle::PageNumber {
                param, size_param, ..
            } => {
                let size = size_param
                    .as_deref()
                    .and_then(int)
                    .unwrap_or(self.page_size)
                    .clamp(1, self.page_size);
                (int(param).unwrap_or(1).saturating_sub(1) * size, size)
            }
        };
        let end = (start + size).min(total);
        let slice: Vec<Value> = records
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        let more = end < total;
        let served = slice.clone();
        let mut page = if self.records_at.is_empty() || self.records_at == "/" {
            Value::Array(slice)
        } else {
            let mut page = Value::Object(self.extra.clone());
            let _ = crate::spec::set_pointer(&mut page, self.records_at, Value::Array(slice));
            page
        };
        let mut link = None;
        let next_url = || {
            let mut url = format!("{}{}?page_token={end}", self.base, self.route);
            for (k, v) in &query {
                if k != "page_token" {
                    url.push_str(&format!(
                        "&{}={}",
                        url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>(),
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    ));
                }
            }
            url
        };
        match self.style {
            PageStyle::None => {}
            PageStyle::Cursor { at, .. } | PageStyle::BodyCursor { at, .. } => {
                if more {
                    let _ = crate::spec::set_pointer(&mut page, at, Value::String(end.to_string()));
                }
            }
            PageStyle::NextUrl { at } => {
                let next = if more {
                    Value::String(next_url())
                } else {
                    Value::Null
                };
                let _ = crate::spec::set_pointer(&mut page, at, next);
            }
            PageStyle::LinkHeader => {
                if more {
                    link = Some(format!("<{}>; rel=\"next\"", next_url()));
                }
            }
            PageStyle::Offset { total_at, .. } => {
                if let Some(at) = total_at {
                    let _ = crate::spec::set_pointer(&mut page, at, json!(total));
                }
            }
            PageStyle::PageNumber { total_pages_at, .. } => {
                if let Some(at) = total_pages_at {
                    let _ = crate::spec::set_pointer(&mut page, at, json!(total.div_ceil(size)));
                }
            }
        }
        let t = ResponseTemplate::new(200).set_body_json(page);
        let t = match link {
            Some(l) => t.insert_header("link", l.as_str()),
            None => t,
        };
        (t, served)
    }

    /// The records after the incremental filter, in the filter field's order.
    pub(super) fn selected(&self, query: &HashMap<String, String>, body: &Value) -> Vec<Value> {
        let mut records = self.data.snapshot();
        let Some(filter) = self.filter else {
            return records;
        };
        let since = match filter {
            Filter::Query { param, .. } => query.get(param).map(|v| Value::String(v.clone())),
            Filter::Body { pointer, .. } => body.pointer(pointer).cloned(),
        };
        let field = filter.field();
        if let Some(since) = since.and_then(|v| Comparable::of(&v)) {
            records.retain(|r| {
                r.get(field)
                    .and_then(Comparable::of)
                    .is_some_and(|v| v.at_or_after(&since))
            });
        }
        records.sort_by(|a, b| {
            let (a, b) = (
                a.get(field).and_then(Comparable::of),
                b.get(field).and_then(Comparable::of),
            );
            a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
        });
        records
    }
}

/// A filter value: an instant (dates, RFC 3339, epoch seconds or milliseconds) or text.
#[derive(Debug, PartialEq, PartialOrd)]
pub(super) enum Comparable {
    Millis(i64),
    Text(String),
}

impl Comparable {
    pub(super) fn of(v: &Value) -> Option<Comparable> {
        let epoch = |n: f64| {
            let ms = if n.abs() >= 1e11 { n } else { n * 1000.0 };
            Comparable::Millis(ms as i64)
        };
        match v {
            Value::Number(n) => n.as_f64().map(epoch),
            Value::String(s) => Some(match parse_datetime(s) {
                Some(t) => Comparable::Millis(t.timestamp_millis()),
                None => match s.parse::<f64>() {
                    Ok(n) => epoch(n),
                    Err(_) => Comparable::Text(s.clone()),
                },
            }),
            _ => None,
        }
    }

    pub(super) fn at_or_after(&self, since: &Comparable) -> bool {
        matches!(
            self.partial_cmp(since),
            Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
        )
    }
}
