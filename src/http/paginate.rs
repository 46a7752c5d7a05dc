//! Pagination: how the next page is asked for, and when there is none.
//!
//! A paginator turns one page's response into the request for the next one — a
//! [`PageRequest`], which is also the resume token a checkpoint stores, so an interrupted read
//! continues from the page after the last one delivered. The stream refuses to ask for the
//! same page twice, so an API whose cursor loops fails the sync with a system error instead
//! of syncing forever.

use reqwest::Url;
use reqwest::header::{HeaderMap, LINK};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::response::Pointer;
use crate::error::{Error, Result};

/// How a stream's pages are requested. Build one with the constructors; each documents its
/// stop conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Paginator {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    None,
    Cursor {
        at: Pointer,
        into: CursorTarget,
    },
    NextUrl {
        at: Pointer,
    },
    Link,
    Offset {
        offset_param: String,
        limit_param: String,
        limit: u64,
        total_at: Option<Pointer>,
        short_page_ends: bool,
    },
    Page {
        param: String,
        start: u64,
        size: Option<(String, u64)>,
        total_pages_at: Option<Pointer>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum CursorTarget {
    Query(String),
    Body(Pointer),
}

/// The changes that turn a stream's base request into the request for one page. Serialized,
/// it is the resume token of the page before it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageRequest {
    /// Query parameters to set (replacing any of the same name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// Body fields to set, by JSON pointer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body: Vec<(String, Value)>,
    /// A whole URL to request instead of the stream's own (it carries its own query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl PageRequest {
    fn with_query(&self, name: &str, value: String) -> PageRequest {
        let mut next = self.clone();
        next.query.retain(|(k, _)| k != name);
        next.query.push((name.to_string(), value));
        next
    }

    fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// What a user would recognise as "the cursor" of this request, for error messages.
    pub(crate) fn describe(&self) -> String {
        if let Some(url) = &self.url {
            return format!("next URL {url}");
        }
        let mut parts: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.extend(self.body.iter().map(|(k, v)| format!("{k}={v}")));
        parts.join(", ")
    }
}

/// What the paginator sees of a page.
pub(crate) struct PageInfo<'a> {
    /// Values at [`Paginator::pointers`], in order.
    pub(crate) values: &'a [Option<Box<RawValue>>],
    pub(crate) headers: &'a HeaderMap,
    pub(crate) records: usize,
    /// The URL the page came from (relative next links resolve against it).
    pub(crate) url: &'a Url,
}

/// A cursor read from the response body, not yet told where it goes; see
/// [`Paginator::cursor_from_body`].
#[derive(Debug, Clone)]
pub struct CursorPaginator {
    at: Pointer,
}

impl CursorPaginator {
    /// Sends the cursor as the query parameter `param`.
    pub fn into_query(self, param: &str) -> Paginator {
        Paginator {
            kind: Kind::Cursor {
                at: self.at,
                into: CursorTarget::Query(param.to_string()),
            },
        }
    }

    /// Sends the cursor in the JSON body, at `pointer` (`/after` for HubSpot's search).
    pub fn into_body(self, pointer: &str) -> Paginator {
        Paginator {
            kind: Kind::Cursor {
                at: self.at,
                into: CursorTarget::Body(Pointer::parse(pointer)),
            },
        }
    }
}

/// Offset/limit paging being configured; see [`Paginator::offset`].
#[derive(Debug, Clone)]
pub struct OffsetPaginator {
    offset_param: String,
    limit_param: String,
    limit: u64,
    total_at: Option<Pointer>,
    short_page_ends: Option<bool>,
}

impl OffsetPaginator {
    /// Whether a page shorter than the limit ends the paging. Default: yes without a total,
    /// no with one (an API that filters pages server-side can return short pages mid-way).
    /// Set it for APIs whose totals can be wrong in either direction (Mailchimp's
    /// `total_items`): then paging ends at the total, on a short page or on an empty page,
    /// whichever comes first.
    pub fn short_page_ends(mut self, yes: bool) -> Self {
        self.short_page_ends = Some(yes);
        self
    }

    /// Reads the total number of records from the body (`/total_items`); paging then stops
    /// when the offset reaches it, rather than on a short page.
    pub fn total_at(mut self, pointer: &str) -> Self {
        self.total_at = Some(Pointer::parse(pointer));
        self
    }
}

impl From<OffsetPaginator> for Paginator {
    fn from(o: OffsetPaginator) -> Self {
        Paginator {
            kind: Kind::Offset {
                offset_param: o.offset_param,
                limit_param: o.limit_param,
                limit: o.limit.max(1),
                short_page_ends: o.short_page_ends.unwrap_or(o.total_at.is_none()),
                total_at: o.total_at,
            },
        }
    }
}

/// Page-number paging being configured; see [`Paginator::page_number`].
#[derive(Debug, Clone)]
pub struct PageNumberPaginator {
    param: String,
    start: u64,
    size: Option<(String, u64)>,
    total_pages_at: Option<Pointer>,
}

impl PageNumberPaginator {
    /// The first page's number. Default 1.
    pub fn start_at(mut self, first: u64) -> Self {
        self.start = first;
        self
    }

    /// Sends the page size as `param`; a page with fewer records is then the last.
    pub fn page_size(mut self, param: &str, size: u64) -> Self {
        self.size = Some((param.to_string(), size.max(1)));
        self
    }

    /// Reads the number of pages from the body; paging stops after that page.
    pub fn total_pages_at(mut self, pointer: &str) -> Self {
        self.total_pages_at = Some(Pointer::parse(pointer));
        self
    }
}

impl From<PageNumberPaginator> for Paginator {
    fn from(p: PageNumberPaginator) -> Self {
        Paginator {
            kind: Kind::Page {
                param: p.param,
                start: p.start,
                size: p.size,
                total_pages_at: p.total_pages_at,
            },
        }
    }
}

impl From<CursorPaginator> for Paginator {
    /// A cursor with no target goes in the `cursor` query parameter.
    fn from(c: CursorPaginator) -> Self {
        c.into_query("cursor")
    }
}

impl Default for Paginator {
    fn default() -> Self {
        Paginator::none()
    }
}

impl Paginator {
    /// One request, one page.
    pub fn none() -> Self {
        Paginator { kind: Kind::None }
    }

    /// A cursor (token) from the response body at `pointer` (`/paging/next/after`), sent back
    /// with [`CursorPaginator::into_query`] or [`CursorPaginator::into_body`]. Stops when the
    /// cursor is missing, null or empty.
    pub fn cursor_from_body(pointer: &str) -> CursorPaginator {
        CursorPaginator {
            at: Pointer::parse(pointer),
        }
    }

    /// A next-page URL from the response body at `pointer` (absolute, or relative to the
    /// page's URL). Stops when it is missing, null or empty. A URL on another host than the
    /// API's is refused (credentials are never sent elsewhere).
    pub fn next_url(pointer: &str) -> Self {
        Paginator {
            kind: Kind::NextUrl {
                at: Pointer::parse(pointer),
            },
        }
    }

    /// The `Link` header's `rel="next"` URL (RFC 8288, as GitHub and Shopify send it). Stops
    /// when there is no next link.
    pub fn link_header() -> Self {
        Paginator { kind: Kind::Link }
    }

    /// Offset/limit: sends `limit_param=limit` and `offset_param=0, limit, 2*limit…`. Stops on
    /// an empty page, on a short page (fewer than `limit` records) unless a total is read
    /// with [`OffsetPaginator::total_at`], and when the offset reaches the total.
    pub fn offset(offset_param: &str, limit_param: &str, limit: u64) -> OffsetPaginator {
        OffsetPaginator {
            offset_param: offset_param.to_string(),
            limit_param: limit_param.to_string(),
            limit,
            total_at: None,
            short_page_ends: None,
        }
    }

    /// Page numbers: sends `param=1, 2, 3…`. Stops on an empty page, on a short page when the
    /// page size is known, and after the last page when the body says how many there are.
    pub fn page_number(param: &str) -> PageNumberPaginator {
        PageNumberPaginator {
            param: param.to_string(),
            start: 1,
            size: None,
            total_pages_at: None,
        }
    }

    /// The body values this paginator reads, in the order [`PageInfo::values`] holds them.
    pub(crate) fn pointers(&self) -> Vec<Pointer> {
        match &self.kind {
            Kind::Cursor { at, .. } | Kind::NextUrl { at } => vec![at.clone()],
            Kind::Offset {
                total_at: Some(p), ..
            }
            | Kind::Page {
                total_pages_at: Some(p),
                ..
            } => vec![p.clone()],
            _ => Vec::new(),
        }
    }

    /// The first page's request.
    pub(crate) fn first(&self) -> PageRequest {
        match &self.kind {
            Kind::Offset {
                offset_param,
                limit_param,
                limit,
                ..
            } => PageRequest {
                query: vec![
                    (limit_param.clone(), limit.to_string()),
                    (offset_param.clone(), "0".into()),
                ],
                ..Default::default()
            },
            Kind::Page {
                param, start, size, ..
            } => {
                let mut query = vec![(param.clone(), start.to_string())];
                if let Some((p, n)) = size {
                    query.push((p.clone(), n.to_string()));
                }
                PageRequest {
                    query,
                    ..Default::default()
                }
            }
            _ => PageRequest::default(),
        }
    }

    /// The request for the page after `current`, or `None` at the end.
    pub(crate) fn next(
        &self,
        current: &PageRequest,
        page: &PageInfo<'_>,
    ) -> Result<Option<PageRequest>> {
        match &self.kind {
            Kind::None => Ok(None),
            Kind::Cursor { at, into } => {
                let Some(cursor) = token(page.values.first(), at)? else {
                    return Ok(None);
                };
                Ok(Some(match into {
                    CursorTarget::Query(param) => current.with_query(param, cursor),
                    CursorTarget::Body(pointer) => {
                        let mut next = current.clone();
                        next.body.retain(|(k, _)| k != pointer.as_str());
                        next.body
                            .push((pointer.as_str().to_string(), Value::String(cursor)));
                        next
                    }
                }))
            }
            Kind::NextUrl { at } => match token(page.values.first(), at)? {
                Some(url) => Ok(Some(PageRequest {
                    url: Some(resolve(page.url, &url)?),
                    ..Default::default()
                })),
                None => Ok(None),
            },
            Kind::Link => match next_link(page.headers) {
                Some(url) => Ok(Some(PageRequest {
                    url: Some(resolve(page.url, &url)?),
                    ..Default::default()
                })),
                None => Ok(None),
            },
            Kind::Offset {
                offset_param,
                limit,
                total_at,
                short_page_ends,
                ..
            } => {
                let offset: u64 = current
                    .query_value(offset_param)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let next = offset.checked_add(page.records as u64).ok_or_else(|| {
                    Error::system(format!(
                        "the next offset after {offset} ({offset_param}) overflows; the API's paging cannot be followed"
                    ))
                })?;
                if page.records == 0 {
                    return Ok(None);
                }
                if let Some(at) = total_at
                    && let Some(total) = number(page.values.first(), at)?
                    && next >= total
                {
                    return Ok(None);
                }
                if *short_page_ends && (page.records as u64) < *limit {
                    return Ok(None);
                }
                Ok(Some(current.with_query(offset_param, next.to_string())))
            }
            Kind::Page {
                param,
                start,
                size,
                total_pages_at,
            } => {
                let number_now: u64 = current
                    .query_value(param)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(*start);
                if page.records == 0 {
                    return Ok(None);
                }
                if let Some((_, n)) = size
                    && (page.records as u64) < *n
                {
                    return Ok(None);
                }
                if let Some(at) = total_pages_at
                    && let Some(total) = number(page.values.first(), at)?
                {
                    // Pages count from `start`; the last page's number is start + total - 1.
                    let end = start.checked_add(total).ok_or_else(|| absurd(at, total))?;
                    if number_now.saturating_add(1) >= end {
                        return Ok(None);
                    }
                }
                let next = number_now.checked_add(1).ok_or_else(|| {
                    Error::system(format!(
                        "the page number after {number_now} ({param}) overflows; the API's paging cannot be followed"
                    ))
                })?;
                Ok(Some(current.with_query(param, next.to_string())))
            }
        }
    }
}

/// A cursor or URL from the body: a non-empty string or a number; `None` when absent.
fn token(raw: Option<&Option<Box<RawValue>>>, at: &Pointer) -> Result<Option<String>> {
    let Some(Some(raw)) = raw else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Null) => Ok(None),
        Ok(Value::String(s)) if s.is_empty() => Ok(None),
        Ok(Value::String(s)) => Ok(Some(s)),
        Ok(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => Err(Error::system(format!(
            "the pagination value at {at} is not a string or number: {}",
            crate::error::excerpt(raw.get())
        ))),
    }
}

/// The largest total a page may claim: more records or pages than any API holds (2^53, the
/// largest integer a JSON number carries exactly). Past it the total is refused, never
/// wrapped or saturated into a paging that stops after one page.
const MAX_TOTAL: f64 = 9_007_199_254_740_992.0;

fn number(raw: Option<&Option<Box<RawValue>>>, at: &Pointer) -> Result<Option<u64>> {
    match token(raw, at)? {
        None => Ok(None),
        Some(s) => {
            let n = s.parse::<f64>().map_err(|_| {
                Error::system(format!("the pagination total at {at} is not a number: {s}"))
            })?;
            if !(0.0..=MAX_TOTAL).contains(&n) || n.fract() != 0.0 {
                return Err(Error::system(format!(
                    "the pagination total at {at} is {s}, not a count of records or pages; the API's paging cannot be trusted"
                )));
            }
            Ok(Some(n as u64))
        }
    }
}

fn absurd(at: &Pointer, total: u64) -> Error {
    Error::system(format!(
        "the pagination total at {at} is {total}, past what paging can count; the API's paging cannot be trusted"
    ))
}

fn resolve(base: &Url, next: &str) -> Result<String> {
    base.join(next).map(String::from).map_err(|e| {
        Error::system(format!(
            "the API's next-page link is not a URL ({e}): {}",
            crate::error::excerpt(next)
        ))
    })
}

/// The `rel="next"` target of `Link` headers.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(text) = value.to_str() else { continue };
        for link in split_links(text) {
            let link = link.trim();
            let Some(end) = link.find('>') else { continue };
            if !link.starts_with('<') {
                continue;
            }
            let target = &link[1..end];
            let is_next = link[end + 1..].split(';').any(|param| {
                let param = param.trim();
                let Some((k, v)) = param.split_once('=') else {
                    return false;
                };
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if is_next {
                return Some(target.to_string());
            }
        }
    }
    None
}

/// Splits a `Link` header on the commas between links (not those inside `<...>` or quotes).
fn split_links(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            '"' => quoted = !quoted,
            ',' if depth == 0 && !quoted => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Any Link header value: no panic, and a found target is what sat between `<` and `>`.
        #[test]
        fn any_link_header_parses(text in "[<>,;=\"a-z:/?.& ]{0,80}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = reqwest::header::HeaderValue::from_str(&text) {
                h.insert(LINK, v);
                if let Some(target) = next_link(&h) {
                    let wrapped = format!("<{}>", target);
                    prop_assert!(text.contains(&wrapped), "{} not in {}", wrapped, text);
                }
            }
        }

        #[test]
        fn a_next_link_is_found_among_others(url in "https://[a-z]{1,10}\\.com/[a-z0-9?=&]{0,20}") {
            let text = format!("<https://x.com/p=1>; rel=\"prev\", <{url}>; rel=\"next\", <https://x.com/last>; rel=last");
            let mut h = HeaderMap::new();
            h.insert(LINK, reqwest::header::HeaderValue::from_str(&text).unwrap());
            prop_assert_eq!(next_link(&h), Some(url));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn link_header_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                r#"<https://api.test/x?page=1>; rel="prev", <https://api.test/x?page=3&a=1,2>; rel="next last""#,
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.test/x?page=3&a=1,2")
        );
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(r#"<https://api.test/x?page=1>; rel="first""#),
        );
        assert_eq!(next_link(&h), None);
    }
}
