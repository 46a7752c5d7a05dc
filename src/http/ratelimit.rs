//! Rate limiting: a proactive GCRA quota (governor) per connector instance, optionally keyed by
//! endpoint class; a concurrency cap; and reactive pauses from `Retry-After` and rate-limit
//! headers that hold back every stream of the connector.
//!
//! Every stream built from one [`crate::http::HttpApi`] shares its limiter, so two streams
//! (or a parent and its children) never exceed the quota together. Time runs on tokio's clock,
//! so tests on paused time see exact pacing.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use reqwest::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::source::StreamContext;

/// Proactive waits at least this long are reported as a `RATE_LIMITED` stream status.
const REPORT_WAIT: Duration = Duration::from_secs(1);

/// A request quota: `count` requests per `period`, with bursts of up to `burst` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    count: u32,
    period: Duration,
    burst: u32,
}

impl Quota {
    /// `count` requests per `period`. The burst defaults to 1: requests are spaced evenly
    /// (`period / count` apart), which keeps inside both fixed and sliding server windows.
    /// A zero count or period is raised to 1 request / 1 ns.
    pub fn new(count: u32, period: Duration) -> Self {
        Quota {
            count: count.max(1),
            period: period.max(Duration::from_nanos(1)),
            burst: 1,
        }
    }

    /// The most requests the quota lets through in any window of its period: its count plus
    /// the burst beyond the first request, and the period.
    pub fn window(&self) -> (u32, Duration) {
        (self.count + self.burst.saturating_sub(1), self.period)
    }

    /// `count` requests per second.
    pub fn per_second(count: u32) -> Self {
        Quota::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    pub fn per_minute(count: u32) -> Self {
        Quota::new(count, Duration::from_secs(60))
    }

    /// Allows up to `burst` requests at once after an idle period (then paced again). Default 1.
    /// A burst above 1 can exceed a server's sliding window by up to `burst - 1` requests.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.clamp(1, self.count.max(1));
        self
    }

    /// Requests per second this quota sustains.
    pub fn rate(&self) -> f64 {
        self.count as f64 / self.period.as_secs_f64()
    }

    fn to_governor(self) -> governor::Quota {
        let interval = (self.period / self.count).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        governor::Quota::with_period(interval)
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// Which response headers advertise the server's limit. Default: the `X-RateLimit-*` and
/// IETF `RateLimit-*` names.
#[derive(Debug, Clone)]
pub struct RateLimitHeaders {
    /// Requests left in the current window (`X-RateLimit-Remaining`).
    pub remaining: Vec<String>,
    /// When the window resets: seconds from now, or epoch seconds when the value is larger
    /// than 10^9 (`X-RateLimit-Reset`).
    pub reset: Vec<String>,
    /// The window's request limit (`X-RateLimit-Limit`).
    pub limit: Vec<String>,
    /// The window's length in milliseconds, when the server sends it
    /// (`X-HubSpot-RateLimit-Interval-Milliseconds`). Without it, the window is the quota's
    /// own period.
    pub window_ms: Vec<String>,
}

impl Default for RateLimitHeaders {
    fn default() -> Self {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        RateLimitHeaders {
            remaining: names(&["x-ratelimit-remaining", "ratelimit-remaining"]),
            reset: names(&["x-ratelimit-reset", "ratelimit-reset"]),
            limit: names(&["x-ratelimit-limit", "ratelimit-limit"]),
            window_ms: Vec::new(),
        }
    }
}

impl RateLimitHeaders {
    /// No header is read.
    pub fn none() -> Self {
        RateLimitHeaders {
            remaining: Vec::new(),
            reset: Vec::new(),
            limit: Vec::new(),
            window_ms: Vec::new(),
        }
    }
}

/// A connector's rate-limit settings. Default: no quota, no concurrency cap, the default
/// headers read.
///
/// # Example
/// ```
/// use intake::http::{Quota, RateLimit};
/// // HubSpot: 100 requests per 10 s, search endpoints 4 per second on their own.
/// let limits = RateLimit::new(Quota::new(100, std::time::Duration::from_secs(10)))
///     .class("search", Quota::per_second(4))
///     .max_concurrency(4);
/// # let _ = limits;
/// ```
#[derive(Debug, Clone, Default)]
pub struct RateLimit {
    quota: Option<Quota>,
    classes: Vec<(String, Quota)>,
    concurrency: Option<usize>,
    headers: RateLimitHeaders,
}

impl RateLimit {
    /// A connector-wide quota.
    pub fn new(quota: Quota) -> Self {
        RateLimit {
            quota: Some(quota),
            ..Default::default()
        }
    }

    /// No quota (reactive pauses still apply).
    pub fn unlimited() -> Self {
        RateLimit::default()
    }

    /// A separate quota for the endpoints of one class (a stream declares its class with
    /// [`crate::http::HttpStream::rate_class`]). Requests of the class take tokens from this
    /// quota instead of the connector-wide one.
    pub fn class(mut self, name: impl Into<String>, quota: Quota) -> Self {
        self.classes.push((name.into(), quota));
        self
    }

    /// At most `n` requests in flight at once across the connector. Default: no cap.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Which headers advertise the server's limits. Default [`RateLimitHeaders::default`].
    pub fn headers(mut self, headers: RateLimitHeaders) -> Self {
        self.headers = headers;
        self
    }
}

/// governor's clock on tokio time, so paused-time tests see exact pacing.
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;
    fn add(self, rhs: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(rhs))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }
    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(
            self.0
                .checked_sub(Duration::from(duration))
                .unwrap_or(self.0),
        )
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;
    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

type Gcra =
    governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

struct Bucket {
    quota: Quota,
    gcra: Gcra,
}

impl Bucket {
    fn new(quota: Quota) -> Arc<Bucket> {
        Arc::new(Bucket {
            quota,
            gcra: Gcra::direct_with_clock(quota.to_governor(), TokioClock),
        })
    }
}

/// The shared limiter of one connector instance.
pub(crate) struct Limiter {
    default: RwLock<Option<Arc<Bucket>>>,
    classes: HashMap<String, RwLock<Arc<Bucket>>>,
    concurrency: Option<Arc<Semaphore>>,
    /// The concurrency cap the semaphore was made with.
    max_in_flight: Option<usize>,
    paused_until: Mutex<Option<Instant>>,
    headers: RateLimitHeaders,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("quota", &self.quota(None))
            .field("classes", &self.classes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Holds a concurrency slot while a request is in flight.
pub(crate) struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Limiter {
    pub(crate) fn new(config: &RateLimit) -> Self {
        Limiter {
            default: RwLock::new(config.quota.map(Bucket::new)),
            classes: config
                .classes
                .iter()
                .map(|(name, q)| (name.clone(), RwLock::new(Bucket::new(*q))))
                .collect(),
            concurrency: config.concurrency.map(|n| Arc::new(Semaphore::new(n))),
            max_in_flight: config.concurrency,
            paused_until: Mutex::new(None),
            headers: config.headers.clone(),
        }
    }

    fn slot(&self, class: Option<&str>) -> Option<&RwLock<Arc<Bucket>>> {
        class.and_then(|c| self.classes.get(c))
    }

    fn bucket(&self, class: Option<&str>) -> Option<Arc<Bucket>> {
        match self.slot(class) {
            Some(slot) => slot.read().ok().map(|b| b.clone()),
            None => self.default.read().ok().and_then(|b| b.clone()),
        }
    }

    /// The cap on requests in flight, if any.
    pub(crate) fn max_in_flight(&self) -> Option<usize> {
        self.max_in_flight
    }

    /// The quota in force for a class (or the connector-wide one).
    pub(crate) fn quota(&self, class: Option<&str>) -> Option<Quota> {
        self.bucket(class).map(|b| b.quota)
    }

    fn paused_until(&self) -> Option<Instant> {
        let until = *self.paused_until.lock().ok()?;
        until.filter(|u| *u > Instant::now())
    }

    /// Holds back every request of the connector until `until`.
    pub(crate) fn pause_until(&self, until: Instant) {
        if let Ok(mut p) = self.paused_until.lock() {
            *p = Some(p.map_or(until, |cur| cur.max(until)));
        }
    }

    /// Waits until a request of `class` may go: past any pause, within the quota and with a
    /// concurrency slot. Waiting time is added to the stream's metrics; long waits are
    /// reported as `RATE_LIMITED`.
    pub(crate) async fn admit(
        &self,
        class: Option<&str>,
        ctx: &StreamContext,
    ) -> Result<Admission> {
        let started = Instant::now();
        let mut reported = false;
        loop {
            if let Some(until) = self.paused_until() {
                reported = true;
                ctx.rate_limited(Some(epoch_ms_at(until))).await?;
                ctx.sleep_until(until).await?;
                continue;
            }
            let Some(bucket) = self.bucket(class) else {
                break;
            };
            match bucket.gcra.check() {
                Ok(()) => break,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(TokioClock.now());
                    if wait >= REPORT_WAIT {
                        reported = true;
                        ctx.rate_limited(Some(epoch_ms_at(Instant::now() + wait)))
                            .await?;
                    }
                    ctx.sleep(wait).await?;
                }
            }
        }
        ctx.add_rate_limit_wait(started.elapsed());
        if reported {
            ctx.rate_limit_cleared().await?;
        }
        let permit = match &self.concurrency {
            Some(sem) => Some(tokio::select! {
                biased;
                _ = ctx.cancellation().cancelled() => return Err(Error::Cancelled),
                permit = sem.clone().acquire_owned() => permit.map_err(|_| Error::Cancelled)?,
            }),
            None => None,
        };
        Ok(Admission { _permit: permit })
    }

    /// Reads the rate-limit headers of a response: none remaining pauses the connector until
    /// the reset; a limit lower than the quota tightens the quota.
    pub(crate) fn observe(&self, class: Option<&str>, headers: &HeaderMap) {
        let number = |names: &[String]| -> Option<f64> {
            names.iter().find_map(|n| {
                headers
                    .get(n.as_str())
                    .and_then(|v| v.to_str().ok())
                    // IETF drafts allow `limit;w=window` and lists: take the first number.
                    .and_then(|v| v.split([',', ';']).next())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    // "NaN" and "inf" parse as floats: not numbers a limit can be.
                    .filter(|f| f.is_finite())
            })
        };
        // A window from a header: finite, positive, at most an hour (a hostile or broken
        // header must not panic the clock or stall the limiter for days).
        let window = number(&self.headers.window_ms)
            .filter(|ms| ms.is_finite() && *ms > 0.0)
            .map(|ms| Duration::from_secs_f64((ms / 1e3).min(3600.0)));
        if let Some(limit) = number(&self.headers.limit)
            && limit >= 1.0
        {
            self.tighten(class, limit as u32, window);
        }
        if let Some(remaining) = number(&self.headers.remaining)
            && remaining <= 0.0
        {
            let wait = match number(&self.headers.reset) {
                Some(reset) if reset > 1e9 => {
                    let now = chrono::Utc::now().timestamp_millis() as f64 / 1e3;
                    Duration::from_secs_f64((reset - now).clamp(0.0, 3600.0))
                }
                Some(reset) => Duration::from_secs_f64(reset.clamp(0.0, 3600.0)),
                None => window.unwrap_or(Duration::from_secs(1)),
            };
            if !wait.is_zero() {
                self.pause_until(Instant::now() + wait);
            }
        }
    }

    /// Replaces the quota with `limit` per `window` when that is stricter.
    fn tighten(&self, class: Option<&str>, limit: u32, window: Option<Duration>) {
        let current = self.quota(class);
        let period = window
            .or(current.map(|q| q.period))
            .unwrap_or(Duration::from_secs(1));
        let advertised = Quota::new(limit, period);
        if let Some(q) = current
            && advertised.rate() >= q.rate() - 1e-9
        {
            return;
        }
        let advertised = advertised.burst(current.map_or(1, |q| q.burst));
        tracing::info!(
            "the server advertises {limit} requests per {:.1}s; tightening the quota",
            period.as_secs_f64()
        );
        match self.slot(class) {
            Some(slot) => {
                if let Ok(mut b) = slot.write() {
                    *b = Bucket::new(advertised);
                }
            }
            None => {
                if let Ok(mut b) = self.default.write() {
                    *b = Some(Bucket::new(advertised));
                }
            }
        }
    }
}

/// Epoch milliseconds of a tokio instant.
fn epoch_ms_at(at: Instant) -> i64 {
    let from_now = at.saturating_duration_since(Instant::now());
    chrono::Utc::now().timestamp_millis() + from_now.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[tokio::test(start_paused = true)]
    async fn quota_paces_requests_evenly() {
        let limiter = Limiter::new(&RateLimit::new(Quota::per_second(10)));
        let ctx = StreamContext::detached("s");
        let start = Instant::now();
        for _ in 0..21 {
            limiter.admit(None, &ctx).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(ctx.metrics().rate_limit_wait, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn classes_have_their_own_quota() {
        let limiter = Limiter::new(
            &RateLimit::new(Quota::per_second(100)).class("search", Quota::per_second(2)),
        );
        let ctx = StreamContext::detached("s");
        let start = Instant::now();
        for _ in 0..5 {
            limiter.admit(Some("search"), &ctx).await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        let start = Instant::now();
        for _ in 0..5 {
            limiter.admit(None, &ctx).await.unwrap();
        }
        assert!(start.elapsed() <= Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn the_concurrency_cap_holds_requests_until_a_slot_frees() {
        let limiter = Arc::new(Limiter::new(&RateLimit::unlimited().max_concurrency(2)));
        let ctx = StreamContext::detached("s");
        let a = limiter.admit(None, &ctx).await.unwrap();
        let _b = limiter.admit(None, &ctx).await.unwrap();
        let (l, c) = (limiter.clone(), ctx.clone());
        let third = tokio::spawn(async move {
            let _slot = l.admit(None, &c).await.unwrap();
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !third.is_finished(),
            "a third request went while two were in flight"
        );
        let released = Instant::now();
        drop(a);
        assert_eq!(third.await.unwrap(), released);
    }

    #[tokio::test(start_paused = true)]
    async fn headers_pause_and_tighten() {
        let limiter = Limiter::new(&RateLimit::new(Quota::per_second(50)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("3"));
        limiter.observe(None, &h);
        assert_eq!(limiter.quota(None), Some(Quota::per_second(5)));
        let ctx = StreamContext::detached("s");
        let start = Instant::now();
        limiter.admit(None, &ctx).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        // A higher advertised limit never loosens the configured quota.
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("500"));
        limiter.observe(None, &h);
        assert_eq!(limiter.quota(None), Some(Quota::per_second(5)));
    }

    mod hostile {
        use super::*;
        use proptest::prelude::*;

        fn header_value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<f64>().prop_map(|f| f.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                Just("inf".to_string()),
                Just("NaN".to_string()),
                Just("-0".to_string()),
                Just("1e308".to_string()),
                "[0-9;,= wa-z.-]{0,16}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Any rate-limit headers a server (or a proxy) sends: no panic, and the pacing
            /// that follows stays finite.
            #[test]
            fn any_rate_limit_headers_are_observed_without_a_panic(
                limit in header_value(),
                remaining in header_value(),
                reset in header_value(),
                window in header_value(),
            ) {
                let headers = RateLimitHeaders {
                    window_ms: vec!["x-window-ms".into()],
                    ..RateLimitHeaders::default()
                };
                let limiter = Limiter::new(&RateLimit::new(Quota::per_second(10)).headers(headers));
                let mut h = HeaderMap::new();
                for (name, v) in [
                    ("x-ratelimit-limit", &limit),
                    ("x-ratelimit-remaining", &remaining),
                    ("x-ratelimit-reset", &reset),
                    ("x-window-ms", &window),
                ] {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        h.insert(name, v);
                    }
                }
                limiter.observe(None, &h);
                limiter.observe(Some("search"), &h);
            }
        }
    }
}
