//! [`MockApi`]: a local API over wiremock that pages, filters, fails and rate-limits the way
//! real APIs do, and counts what a connector did to it.

mod dataset;
mod endpoint;
mod fault;
mod limits;
mod log;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Map, Value};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use fault::Injected;
use limits::{Stats, held};

pub use dataset::Dataset;
pub use endpoint::{Endpoint, Filter, PageStyle};
pub use fault::Fault;
pub use limits::FaultGuard;
pub use log::{Answer, Served};

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

    /// Each endpoint mounted with records: its route and the records it holds now.
    pub fn datasets(&self) -> Vec<(String, Vec<Value>)> {
        self.stats
            .datasets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(route, data)| (route.clone(), data.snapshot()))
            .collect()
    }

    /// Every request answered so far, in arrival order.
    pub fn log(&self) -> Vec<Served> {
        self.stats
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many requests the log holds: a mark to take [`MockApi::log_since`] from.
    pub fn log_len(&self) -> usize {
        self.stats
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The requests answered since the log held `mark` of them.
    pub fn log_since(&self, mark: usize) -> Vec<Served> {
        let log = self.stats.log.lock().unwrap_or_else(|e| e.into_inner());
        log.get(mark..).map(<[Served]>::to_vec).unwrap_or_default()
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

    /// The hold set with [`MockApi::hold`], if any.
    pub(crate) fn held_for(&self) -> Option<Duration> {
        self.stats.gate.lock().ok().and_then(|g| g.hold)
    }

    /// Sets or clears the hold.
    pub(crate) fn set_hold(&self, hold: Option<Duration>) {
        self.stats
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .hold = hold;
    }

    /// Starts counting requests in flight afresh.
    pub(crate) fn reset_max_in_flight(&self) {
        self.stats.max_in_flight.store(0, Ordering::Relaxed);
    }

    /// Empties the rate limit's window: the next call into the connector builds its client,
    /// and its limiter, anew, so each call is held to the limit on its own.
    pub(crate) fn restart_window(&self) {
        self.stats
            .gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .arrivals
            .clear();
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
                let (limited, hold, _) = stats.arrive(limited, req);
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
