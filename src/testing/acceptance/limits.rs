//! The limit checks: injected failures retried, the rate limit and the concurrency cap kept.

use std::time::Duration;

use super::incremental::full_refresh;
use super::{Acceptance, Outcome, Read};
use crate::catalog::{Catalog, ConfiguredCatalog};
use crate::source::{DeclaredLimits, ReadOptions};
use crate::state::State;
use crate::testing::mock::{Answer, Fault, Served};

/// The `Retry-After` the retry check's 429 carries.
const RETRY_AFTER_SECS: u64 = 1;

impl Acceptance<'_> {
    /// Every stream with records is read once with a 429 (`Retry-After: 1`) and a 503
    /// injected into its first requests. The mock's log must show both served and the same
    /// request sent again, the 429's retry no sooner than a second later, and the read must
    /// return what a read without faults returns.
    pub(super) async fn check_retries(
        &self,
        catalog: &Catalog,
        full: Option<&Read>,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.api() else {
            return Err(self.no_mock());
        };
        let Some(full) = full else {
            return Err(Outcome::Unchecked(
                "needs the streams with records from the full refresh, which failed".into(),
            ));
        };
        let streams: Vec<_> = full_refresh(catalog)
            .streams
            .into_iter()
            .filter(|c| !full.of(&c.stream.name).is_empty())
            .collect();
        if streams.is_empty() {
            return Err(Outcome::NotApplicable(
                "no stream has records to retry".into(),
            ));
        }
        let mut problems = Vec::new();
        let mut requests = 0;
        for c in &streams {
            let name = c.stream.name.clone();
            let one = ConfiguredCatalog {
                streams: vec![c.clone()],
                extra: Default::default(),
            };
            let clean = self
                .read(&one, &State::new(), ReadOptions::default())
                .await
                .map_err(|e| {
                    Outcome::Failed(format!("{name}: a read without faults failed: {e}"))
                })?;
            let mark = mock.log_len();
            let rate_limited = mock.inject(
                Fault::TooManyRequests {
                    retry_after: Some(RETRY_AFTER_SECS.to_string()),
                },
                1,
            );
            let unavailable = mock.inject(Fault::Status(503), 1);
            let read = self.read(&one, &State::new(), ReadOptions::default()).await;
            let log = mock.log_since(mark);
            requests += log.len();
            let read = match read {
                Ok(read) => read,
                Err(e) => {
                    problems.push(format!(
                        "{name}: a read with a 429 and a 503 injected failed: {e}"
                    ));
                    continue;
                }
            };
            let (got, want) = (read.of(&name).len(), clean.of(&name).len());
            if got != want {
                problems.push(format!(
                    "{name}: read {got} records with a 429 and a 503 injected, {want} without"
                ));
            }
            let wait = Duration::from_secs(RETRY_AFTER_SECS);
            problems.extend(retried(&name, &log, rate_limited.id(), "429", Some(wait)));
            problems.extend(retried(&name, &log, unavailable.id(), "503", None));
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        Ok((
            (),
            format!(
                "{} stream(s) each retried a 429 (no sooner than Retry-After: {RETRY_AFTER_SECS}) and a 503 to the same records; {requests} requests",
                streams.len()
            ),
        ))
    }

    /// Holds the mock to what the source's streams declare, unless the test said otherwise:
    /// a rate limit derived from their quotas when the test set none on the mock, and their
    /// concurrency cap when the test declared none.
    pub(super) async fn adopt_declared_limits(&mut self) {
        if self.api().is_none() {
            return;
        }
        let Ok(streams) = self.streams().await else {
            return; // discover reports it
        };
        let declared: Vec<DeclaredLimits> = streams.values().map(|s| s.declared_limits()).collect();
        self.declared.in_flight = declared.iter().filter_map(|d| d.in_flight).max();
        let Some(mock) = self.api() else { return };
        if let Some((limit, window)) = self.rate_limit {
            mock.rate_limit(limit, window);
            self.declared.mock_limit = Some(format!("{limit} per {window:?}, set by the test"));
            return;
        }
        if mock.has_rate_limit() {
            return;
        }
        let mut quotas: Vec<(u32, Duration)> = declared.iter().filter_map(|d| d.requests).collect();
        quotas.sort();
        quotas.dedup();
        let Some(window) = quotas.iter().map(|q| q.1).max() else {
            return;
        };
        // Streams on different quotas (endpoint classes) may each use theirs in full: the
        // mock's one window allows their sum. One more for the jitter between a request's
        // sending and its arrival.
        let allowed: u64 = quotas
            .iter()
            .map(|(count, period)| {
                (f64::from(*count) * window.as_secs_f64() / period.as_secs_f64()).ceil() as u64
            })
            .sum::<u64>()
            + 1;
        mock.rate_limit(allowed as usize, window);
        self.declared.mock_limit = Some(format!(
            "{allowed} per {window:?}, derived from the declared quota {}",
            quotas
                .iter()
                .map(|(c, p)| format!("{c} per {p:?}"))
                .collect::<Vec<_>>()
                .join(" + ")
        ));
    }

    pub(super) async fn check_rate_limit(&self) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.api() else {
            return Err(self.no_mock());
        };
        if !mock.has_rate_limit() {
            return Err(Outcome::Unchecked(
                "the source declares no quota (HttpApi::quota) and the mock has no rate limit (MockApi::rate_limit): declare the API's quota, or skip the check with a reason".into(),
            ));
        }
        let limit = self
            .declared
            .mock_limit
            .as_deref()
            .unwrap_or("set by the test");
        match mock.violations() {
            0 => Ok((
                (),
                format!(
                    "{} requests, none over the mock's limit ({limit})",
                    mock.requests()
                ),
            )),
            n => Err(Outcome::Failed(format!(
                "{n} of {} requests broke the mock's rate limit ({limit})",
                mock.requests()
            ))),
        }
    }

    /// The most requests in flight at once must stay within the cap the test or the source
    /// declares. "In flight" needs answers that take time: when the test set no
    /// [`MockApi::hold`](crate::testing::MockApi::hold), the check holds every answer for
    /// a moment itself during one more full refresh and measures that.
    pub(super) async fn check_concurrency(
        &self,
        catalog: &Catalog,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(cap) = self
            .max_concurrency
            .or(self.declared.in_flight.map(|n| n as u64))
        else {
            return Err(Outcome::Unchecked(
                "the source declares no concurrency cap (RateLimit::max_concurrency) and the test none (Acceptance::max_concurrency): declare it, or skip the check with a reason".into(),
            ));
        };
        let Some(mock) = self.api() else {
            return Err(self.no_mock());
        };
        let how = if mock.held_for().is_some() {
            "over the whole suite"
        } else {
            mock.set_hold(Some(CONCURRENCY_HOLD));
            mock.reset_max_in_flight();
            let read = self
                .read(
                    &full_refresh(catalog),
                    &State::new(),
                    ReadOptions::default(),
                )
                .await;
            mock.set_hold(None);
            read.map_err(|e| {
                Outcome::Failed(format!(
                    "a full refresh with answers held {CONCURRENCY_HOLD:?} failed: {e}"
                ))
            })?;
            "in a full refresh with every answer held 25ms"
        };
        match mock.max_in_flight() {
            0 => Err(Outcome::Unchecked(
                "the connector sent no request to the mock".into(),
            )),
            n if n <= cap => Ok((
                (),
                format!("at most {n} request(s) in flight {how}, cap {cap}"),
            )),
            n => Err(Outcome::Failed(format!(
                "{n} requests were in flight at once {how}; the cap is {cap}"
            ))),
        }
    }
}

/// How long the concurrency check holds each answer when the test set no hold.
const CONCURRENCY_HOLD: Duration = Duration::from_millis(25);

/// What the source's streams declared, as the suite adopted it.
#[derive(Debug, Default)]
pub(super) struct Declared {
    /// The largest concurrency cap a stream declares.
    pub(super) in_flight: Option<usize>,
    /// The rate limit the suite set on the mock from the declared quotas, described.
    pub(super) mock_limit: Option<String>,
}

/// What the log says is wrong with the retry of the injected fault `id`: not served, not
/// retried (the same request never sent again), or retried sooner than `wait`.
fn retried(
    stream: &str,
    log: &[Served],
    id: u64,
    what: &str,
    wait: Option<Duration>,
) -> Option<String> {
    let Some(fault) = log
        .iter()
        .position(|s| matches!(&s.answer, Answer::Fault(f, _) if *f == id))
    else {
        return Some(format!(
            "{stream}: the injected {what} was never served (the read made no request?)"
        ));
    };
    let served = &log[fault];
    let Some(retry) = log[fault + 1..].iter().find(|s| s.same_request(served)) else {
        return Some(format!(
            "{stream}: {} was answered {what} and never sent again",
            served.line()
        ));
    };
    let waited = retry.at.duration_since(served.at);
    match wait {
        Some(wait) if waited < wait => Some(format!(
            "{stream}: {} was retried {waited:?} after a {what} with Retry-After: {}; it must wait at least that long",
            served.line(),
            wait.as_secs()
        )),
        _ => None,
    }
}
