//! [`MockApi`]: a local API over wiremock that pages, filters, fails and rate-limits the way
//! real APIs do, and counts what a connector did to it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::state::parse_datetime;

/// Records a mock endpoint serves, shared with the test so it can change them between reads
/// (a new record, an updated one) the way a live account changes.
#[derive(Debug, Clone, Default)]
pub struct Dataset(Arc<Mutex<Vec<Value>>>);

impl Dataset {
    /// A dataset of these records.
    pub fn new(records: Vec<Value>) -> Self {
        Dataset(Arc::new(Mutex::new(records)))
    }

    /// Adds a record.
    pub fn push(&self, record: Value) {
        self.lock().push(record);
    }

    /// Changes the records in place.
    pub fn update(&self, f: impl FnOnce(&mut Vec<Value>)) {
        f(&mut self.lock());
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the records.
    pub fn snapshot(&self) -> Vec<Value> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl From<Vec<Value>> for Dataset {
    fn from(records: Vec<Value>) -> Self {
        Dataset::new(records)
    }
}

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

    fn field(&self) -> &str {
        match self {
            Filter::Query { field, .. } | Filter::Body { field, .. } => field,
        }
    }
}

/// A failure to inject ([`MockApi::inject`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429, with this `Retry-After` (seconds or an HTTP date) if given.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after: Option<String>,
    },
    /// An error status (500, 502, 503...), with a JSON error body.
    Status(u16),
    /// A good-looking answer that arrives after this delay (past a client's timeout).
    Delay(Duration),
    /// A 200 whose JSON body stops half-way.
    Truncated,
    /// A 200 with an HTML maintenance page.
    Html,
    /// The connection closes before the body is complete.
    Drop,
    /// 401 with a JSON error body.
    Unauthorized,
    /// 403 with a JSON error body.
    Forbidden,
    /// Any status with this JSON body: an API's own error shape (a quota named in the body,
    /// an expired token's category).
    Json {
        /// The status.
        status: u16,
        /// The body.
        body: Value,
    },
    /// A 200 of this content type whose connection closes after `body`, short of the length
    /// it declared: a transfer cut mid-page (for HTML, where a short page still parses).
    Cut {
        /// The `Content-Type`.
        content_type: String,
        /// What arrives before the connection closes.
        body: String,
    },
    /// Any status with a body of any content type: an edge proxy's HTML error page.
    Raw {
        /// The status.
        status: u16,
        /// The `Content-Type`.
        content_type: String,
        /// The body.
        body: String,
    },
}

impl Fault {
    fn respond(&self) -> ResponseTemplate {
        match self {
            Fault::TooManyRequests { retry_after } => {
                let t = ResponseTemplate::new(429).set_body_json(json!({
                    "status": "error", "message": "You have reached your rate limit.", "errorType": "RATE_LIMIT"
                }));
                match retry_after {
                    Some(ra) => t.insert_header("retry-after", ra.as_str()),
                    None => t,
                }
            }
            Fault::Status(s) => ResponseTemplate::new(*s)
                .set_body_json(json!({"status": "error", "message": format!("injected HTTP {s}")})),
            Fault::Delay(d) => ResponseTemplate::new(200)
                .set_body_json(json!({"delayed": true}))
                .set_delay(*d),
            Fault::Truncated => ResponseTemplate::new(200)
                .set_body_raw(r#"{"results": [{"id": "1", "name": "tru"#, "application/json"),
            Fault::Html => ResponseTemplate::new(200).set_body_raw(
                "<html><body><h1>Down for maintenance</h1></body></html>",
                "text/html; charset=utf-8",
            ),
            // A declared length the body never reaches: the server closes the connection.
            Fault::Drop => ResponseTemplate::new(200)
                .set_body_raw(r#"{"results": ["#, "application/json")
                .insert_header("content-length", "100000"),
            Fault::Cut { content_type, body } => ResponseTemplate::new(200)
                .set_body_raw(body.clone(), content_type)
                .insert_header("content-length", (body.len() + 100_000).to_string().as_str()),
            Fault::Unauthorized => ResponseTemplate::new(401).set_body_json(
                json!({"status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION"}),
            ),
            Fault::Forbidden => ResponseTemplate::new(403).set_body_json(
                json!({"status": "error", "message": "This app hasn't been granted all required scopes.", "category": "MISSING_SCOPES"}),
            ),
            Fault::Json { status, body } => ResponseTemplate::new(*status).set_body_json(body),
            Fault::Raw {
                status,
                content_type,
                body,
            } => ResponseTemplate::new(*status).set_body_raw(body.clone(), content_type),
        }
    }
}

#[derive(Debug)]
struct Injected {
    id: u64,
    fault: Fault,
    /// Only requests whose path matches (all requests without one).
    path: Option<regex::Regex>,
    /// Answers left; `None` while the guard lives.
    remaining: Option<u64>,
}

#[derive(Debug, Default)]
struct Gate {
    limit: Option<(usize, Duration)>,
    concurrency: Option<(usize, ResponseTemplate)>,
    hold: Option<Duration>,
    arrivals: VecDeque<Instant>,
    in_flight: Vec<Instant>,
    faults: Vec<Injected>,
    next_fault: u64,
}

#[derive(Debug, Default)]
struct Stats {
    gate: Mutex<Gate>,
    requests: AtomicU64,
    violations: AtomicU64,
    max_in_flight: AtomicU64,
}

impl Stats {
    /// Counts a request; answers 429 when it breaks the rate limit.
    fn arrive(&self, limited: bool, path: &str) -> (Option<ResponseTemplate>, Option<Duration>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let hold = gate.hold;
        gate.in_flight.retain(|end| *end > now);
        gate.in_flight.push(now + hold.unwrap_or_default());
        let n = gate.in_flight.len() as u64;
        self.max_in_flight.fetch_max(n, Ordering::Relaxed);
        if let Some((max, refusal)) = &gate.concurrency
            && n > *max as u64
        {
            self.violations.fetch_add(1, Ordering::Relaxed);
            return (Some(refusal.clone()), hold);
        }
        if let Some((limit, window)) = gate.limit.filter(|_| limited) {
            gate.arrivals.retain(|t| now.duration_since(*t) < window);
            gate.arrivals.push_back(now);
            if gate.arrivals.len() > limit {
                self.violations.fetch_add(1, Ordering::Relaxed);
                let retry = window.as_secs().max(1).to_string();
                return (
                    Some(
                        Fault::TooManyRequests {
                            retry_after: Some(retry),
                        }
                        .respond(),
                    ),
                    hold,
                );
            }
        }
        // Injected faults, oldest first.
        let injected = gate
            .faults
            .iter_mut()
            .find(|f| f.remaining != Some(0) && f.path.as_ref().is_none_or(|p| p.is_match(path)));
        if let Some(f) = injected {
            if let Some(n) = f.remaining.as_mut() {
                *n -= 1;
            }
            let t = f.fault.respond();
            let t = if matches!(f.fault, Fault::Delay(_)) {
                t
            } else {
                held(t, hold)
            };
            return (Some(t), hold);
        }
        (None, hold)
    }
}

/// Keeps an injected fault active; dropping it ends the fault (see [`MockApi::inject`]).
#[must_use = "the fault ends when the guard is dropped"]
pub struct FaultGuard {
    stats: Arc<Stats>,
    id: u64,
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let mut gate = self.stats.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.faults.retain(|f| f.id != self.id);
    }
}

fn held(t: ResponseTemplate, hold: Option<Duration>) -> ResponseTemplate {
    match hold {
        Some(d) => t.set_delay(d),
        None => t,
    }
}

/// A mock API: endpoints mounted from records, with pagination, incremental filters, faults,
/// a rate limit and request statistics.
///
/// ```
/// # async fn demo() {
/// use intake::testing::{MockApi, PageStyle};
/// use serde_json::json;
///
/// let api = MockApi::start().await;
/// let contacts: Vec<_> = (0..250).map(|i| json!({"id": i.to_string()})).collect();
/// api.endpoint("/crm/v3/objects/contacts")
///     .records(contacts)
///     .records_at("/results")
///     .page_size(100)
///     .paginate(PageStyle::cursor("/paging/next/after", "after"))
///     .mount()
///     .await;
/// # }
/// ```
pub struct MockApi {
    server: MockServer,
    stats: Arc<Stats>,
}

impl MockApi {
    /// Starts a server on a free loopback port.
    pub async fn start() -> Self {
        MockApi {
            server: MockServer::start().await,
            stats: Arc::default(),
        }
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The wiremock server, for mounting anything else.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Answers 429 (with `Retry-After`) to any request past `limit` in a sliding `window`,
    /// counting each as a violation ([`MockApi::violations`]).
    pub fn rate_limit(&self, limit: usize, window: Duration) {
        self.stats
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .limit = Some((limit.max(1), window));
    }

    /// Refuses a request that arrives while `max` others are in flight (as measured with
    /// [`MockApi::hold`]) with `refusal`, counting it as a violation: an API that limits
    /// simultaneous connections (Mailchimp allows 10).
    pub fn concurrency_limit(&self, max: usize, refusal: ResponseTemplate) {
        self.stats
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .concurrency = Some((max.max(1), refusal));
    }

    /// Holds every answer for `hold`, so concurrent requests overlap and
    /// [`MockApi::max_in_flight`] measures the client's concurrency.
    pub fn hold(&self, hold: Duration) {
        self.stats
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .hold = Some(hold);
    }

    /// Requests served by endpoints and injected faults.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }

    /// Requests that broke the rate limit.
    pub fn violations(&self) -> u64 {
        self.stats.violations.load(Ordering::Relaxed)
    }

    /// The most requests that were in flight at once (meaningful with [`MockApi::hold`]).
    pub fn max_in_flight(&self) -> u64 {
        self.stats.max_in_flight.load(Ordering::Relaxed)
    }

    /// Whether a rate limit is set.
    pub fn has_rate_limit(&self) -> bool {
        self.stats
            .gate
            .lock()
            .map(|g| g.limit.is_some())
            .unwrap_or(false)
    }

    /// An endpoint at `path`, to configure and [`Endpoint::mount`].
    pub fn endpoint(&self, path: &str) -> Endpoint<'_> {
        Endpoint {
            api: self,
            path: path.to_string(),
            method: "GET".into(),
            data: Dataset::default(),
            records_at: "/results".into(),
            page_size: 100,
            style: PageStyle::None,
            filter: None,
            auth: None,
            extra: Map::new(),
        }
    }

    /// Answers the next `times` requests to this API's endpoints with `fault` (faults queue:
    /// the oldest first). The fault ends early if the guard is dropped.
    pub fn inject(&self, fault: Fault, times: u64) -> FaultGuard {
        self.add_fault(fault, Some(times), None)
    }

    /// Answers the next `times` requests whose path matches `path_regex` with `fault`; other
    /// requests are served as usual. For a fault on one endpoint of several (a page, not the
    /// robots.txt before it; a token endpoint, not the data).
    ///
    /// # Panics
    /// If `path_regex` is not a regular expression (a mistake in the test itself).
    pub fn inject_at(&self, path_regex: &str, fault: Fault, times: u64) -> FaultGuard {
        let path = regex::Regex::new(path_regex)
            .unwrap_or_else(|e| panic!("inject_at: {path_regex:?} is not a regex: {e}"));
        self.add_fault(fault, Some(times), Some(path))
    }

    /// Answers every request to this API's endpoints with `fault` while the guard lives.
    pub fn inject_always(&self, fault: Fault) -> FaultGuard {
        self.add_fault(fault, None, None)
    }

    fn add_fault(
        &self,
        fault: Fault,
        remaining: Option<u64>,
        path: Option<regex::Regex>,
    ) -> FaultGuard {
        let mut gate = self.stats.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.next_fault += 1;
        let id = gate.next_fault;
        gate.faults.push(Injected {
            id,
            fault,
            path,
            remaining,
        });
        FaultGuard {
            stats: self.stats.clone(),
            id,
        }
    }

    /// Mounts a hand-written handler for `method` requests whose path matches `path_regex`,
    /// behind this API's rate limit, hold and injected faults, counted in its statistics:
    /// for APIs whose behaviour [`MockApi::endpoint`] cannot describe (searches with a result
    /// cap, per-request field selection, several resources merged into one answer).
    pub async fn handle(
        &self,
        method: &str,
        path_regex: &str,
        handler: impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static,
    ) {
        self.mount_handler(method, path_regex, true, handler).await;
    }

    /// Like [`MockApi::handle`], outside [`MockApi::rate_limit`]: for endpoints the real API
    /// limits separately (the handler enforces their own limit).
    pub async fn handle_exempt(
        &self,
        method: &str,
        path_regex: &str,
        handler: impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static,
    ) {
        self.mount_handler(method, path_regex, false, handler).await;
    }

    async fn mount_handler(
        &self,
        method: &str,
        path_regex: &str,
        limited: bool,
        handler: impl Fn(&Request) -> ResponseTemplate + Send + Sync + 'static,
    ) {
        let stats = self.stats.clone();
        Mock::given(wiremock::matchers::path_regex(path_regex))
            .and(wiremock::matchers::method(method))
            .respond_with(move |req: &Request| {
                let (limited, hold) = stats.arrive(limited, req.url.path());
                if let Some(t) = limited {
                    return t;
                }
                held(handler(req), hold)
            })
            .mount(&self.server)
            .await;
    }

    /// Mounts every request -> response fixture file in `dir` (see [`crate::testing::fixtures`]).
    pub async fn fixtures(&self, dir: impl AsRef<std::path::Path>) -> crate::Result<usize> {
        super::fixtures::mount_dir(&self.server, dir.as_ref()).await
    }
}

/// One endpoint being configured; see [`MockApi::endpoint`].
#[must_use = "an endpoint does nothing until mounted"]
pub struct Endpoint<'a> {
    api: &'a MockApi,
    path: String,
    method: String,
    data: Dataset,
    records_at: String,
    page_size: usize,
    style: PageStyle,
    filter: Option<Filter>,
    auth: Option<(String, String)>,
    extra: Map<String, Value>,
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
        Mock::given(path(route.as_str()))
            .and(method(verb.as_str()))
            .respond_with(move |req: &Request| {
                let (limited, hold) = stats.arrive(true, req.url.path());
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
                held(page.respond(), hold)
            })
            .mount(&self.api.server)
            .await;
    }
}

struct Page<'a> {
    req: &'a Request,
    data: &'a Dataset,
    records_at: &'a str,
    page_size: usize,
    style: &'a PageStyle,
    filter: Option<&'a Filter>,
    extra: &'a Map<String, Value>,
    base: &'a str,
    route: &'a str,
}

impl Page<'_> {
    fn respond(&self) -> ResponseTemplate {
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
        match link {
            Some(l) => t.insert_header("link", l.as_str()),
            None => t,
        }
    }

    /// The records after the incremental filter, in the filter field's order.
    fn selected(&self, query: &HashMap<String, String>, body: &Value) -> Vec<Value> {
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
enum Comparable {
    Millis(i64),
    Text(String),
}

impl Comparable {
    fn of(v: &Value) -> Option<Comparable> {
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

    fn at_or_after(&self, since: &Comparable) -> bool {
        matches!(
            self.partial_cmp(since),
            Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
        )
    }
}
