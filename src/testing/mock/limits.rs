//! The mock's shared state: its counters, the injected faults (and the guard that ends one),
//! the rate-limit window, the concurrency gate, the hold that makes "in flight" mean something.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::ResponseTemplate;

use super::Fault;
use super::fault::Injected;
use super::log::{Answer, Served};

#[derive(Debug, Default)]
pub(super) struct Gate {
    pub(super) limit: Option<(usize, Duration)>,
    pub(super) concurrency: Option<(usize, ResponseTemplate)>,
    pub(super) hold: Option<Duration>,
    pub(super) arrivals: VecDeque<Instant>,
    pub(super) in_flight: Vec<Instant>,
    pub(super) faults: Vec<Injected>,
    pub(super) next_fault: u64,
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) gate: Mutex<Gate>,
    pub(super) requests: AtomicU64,
    pub(super) violations: AtomicU64,
    pub(super) max_in_flight: AtomicU64,
    /// Every mounted endpoint's route and records, for the acceptance suite to compare a read
    /// with.
    pub(super) datasets: Mutex<Vec<(String, super::Dataset)>>,
    /// Every request, in arrival order.
    pub(super) log: Mutex<Vec<Served>>,
}

impl Stats {
    /// Counts and logs a request; answers it when it breaks a limit or an injected fault
    /// applies. Returns that answer, the hold, and the request's position in the log.
    pub(super) fn arrive(
        &self,
        limited: bool,
        req: &wiremock::Request,
    ) -> (Option<ResponseTemplate>, Option<Duration>, usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let hold = gate.hold;
        gate.in_flight.retain(|end| *end > now);
        gate.in_flight.push(now + hold.unwrap_or_default());
        let n = gate.in_flight.len() as u64;
        self.max_in_flight.fetch_max(n, Ordering::Relaxed);
        let (answer, template) = Self::decide(&mut gate, &self.violations, limited, req, n, now);
        // Injected answers are held like real ones, except a delay, which is its own hold.
        let template = match &answer {
            Answer::Fault(_, f) if !matches!(f, Fault::Delay(_)) => template.map(|t| held(t, hold)),
            _ => template,
        };
        let seq = self.log(req, now, answer);
        (template, hold, seq)
    }

    fn decide(
        gate: &mut Gate,
        violations: &AtomicU64,
        limited: bool,
        req: &wiremock::Request,
        in_flight: u64,
        now: Instant,
    ) -> (Answer, Option<ResponseTemplate>) {
        if let Some((max, refusal)) = &gate.concurrency
            && in_flight > *max as u64
        {
            violations.fetch_add(1, Ordering::Relaxed);
            return (Answer::Refused, Some(refusal.clone()));
        }
        if let Some((limit, window)) = gate.limit.filter(|_| limited) {
            gate.arrivals.retain(|t| now.duration_since(*t) < window);
            gate.arrivals.push_back(now);
            if gate.arrivals.len() > limit {
                violations.fetch_add(1, Ordering::Relaxed);
                let retry = window.as_secs().max(1).to_string();
                let t = Fault::TooManyRequests {
                    retry_after: Some(retry),
                }
                .respond();
                return (Answer::RateLimited, Some(t));
            }
        }
        // Injected faults, oldest first.
        let path = req.url.path();
        let injected = gate
            .faults
            .iter_mut()
            .find(|f| f.remaining != Some(0) && f.path.as_ref().is_none_or(|p| p.is_match(path)));
        match injected {
            Some(f) => {
                if let Some(n) = f.remaining.as_mut() {
                    *n -= 1;
                }
                (
                    Answer::Fault(f.id, f.fault.clone()),
                    Some(f.fault.respond()),
                )
            }
            None => (Answer::Answered, None),
        }
    }

    fn log(&self, req: &wiremock::Request, at: Instant, answer: Answer) -> usize {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let seq = log.len();
        log.push(Served {
            seq,
            at,
            method: req.method.to_string(),
            path: req.url.path().to_string(),
            query: req.url.query().map(str::to_string),
            body: req.body.clone(),
            answer,
            records: Vec::new(),
        });
        seq
    }

    /// Notes the records an endpoint served in answer to request `seq`.
    pub(super) fn served_records(&self, seq: usize, records: Vec<serde_json::Value>) {
        if let Some(s) = self
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(seq)
        {
            s.records = records;
        }
    }
}

pub(super) fn held(t: ResponseTemplate, hold: Option<Duration>) -> ResponseTemplate {
    match hold {
        Some(d) => t.set_delay(d),
        None => t,
    }
}

/// Keeps an injected fault active; dropping it ends the fault (see [`MockApi::inject`]).
#[must_use = "the fault ends when the guard is dropped"]
pub struct FaultGuard {
    pub(super) stats: Arc<Stats>,
    pub(super) id: u64,
}

impl FaultGuard {
    /// The fault's id, as the log's [`super::Answer::Fault`] names it.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let mut gate = self.stats.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.faults.retain(|f| f.id != self.id);
    }
}
