//! The mock's shared state: its counters, the injected faults (and the guard that ends one),
//! the rate-limit window, the concurrency gate, the hold that makes "in flight" mean something.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wiremock::ResponseTemplate;

use super::Fault;
use super::fault::Injected;

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
}

impl Stats {
    /// Counts a request; answers 429 when it breaks the rate limit.
    pub(super) fn arrive(
        &self,
        limited: bool,
        path: &str,
    ) -> (Option<ResponseTemplate>, Option<Duration>) {
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

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let mut gate = self.stats.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.faults.retain(|f| f.id != self.id);
    }
}
