//! The sync's memory budget, in bytes of record JSON.
//!
//! Channels bound the number of batches in flight; a batch can be one record or a 64 MiB
//! page, so batches alone do not bound memory. [`ByteBudget`] does: a source's
//! [`crate::EventSender`] takes a share of the budget for each batch it sends (its bytes, at
//! most the whole budget, so an oversized page still passes alone), the share travels with the
//! batch ([`BufferPermit`]) through the engine into the destination, and returns when the
//! destination drops the batch. A source ahead of the budget waits.
//!
//! A destination that keeps batches after reading them (to write them later) holds their
//! share; the engine then says so ([`ByteBudget::set_drained`]: its channels are empty), and a
//! waiting source goes on without a share rather than waiting for memory the channels do not
//! hold. The budget bounds what the pipeline buffers, never a destination's own buffering.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A share of a [`ByteBudget`] held by a batch; returned when the last clone is dropped.
/// Batches built outside a sync hold none ([`BufferPermit::default`]).
#[derive(Debug, Clone, Default)]
pub struct BufferPermit(Option<Arc<OwnedSemaphorePermit>>);

impl BufferPermit {
    /// Whether this holds a share.
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

/// Bytes of record JSON a sync may buffer between its source and its destination.
#[derive(Debug)]
pub struct ByteBudget {
    bytes: Arc<Semaphore>,
    max: u32,
    drained: AtomicBool,
    wake: Notify,
    waiting: AtomicUsize,
}

impl ByteBudget {
    /// A budget of `bytes` (at least 1 KiB, at most 4 GiB).
    pub fn new(bytes: u64) -> Arc<ByteBudget> {
        let max = bytes.clamp(1 << 10, u64::from(u32::MAX)) as u32;
        Arc::new(ByteBudget {
            bytes: Arc::new(Semaphore::new(max as usize)),
            max,
            drained: AtomicBool::new(false),
            wake: Notify::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Takes the share of a batch of `bytes`: waits until the budget has room, or until the
    /// engine reports its channels drained (then the batch goes without a share).
    pub async fn take(&self, bytes: u64) -> BufferPermit {
        let n = bytes.clamp(1, u64::from(self.max)) as u32;
        if let Ok(p) = self.bytes.clone().try_acquire_many_owned(n) {
            return BufferPermit(Some(Arc::new(p)));
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _done = Waiting(&self.waiting);
        loop {
            if let Ok(p) = self.bytes.clone().try_acquire_many_owned(n) {
                return BufferPermit(Some(Arc::new(p)));
            }
            if self.drained.load(Ordering::Acquire) {
                return BufferPermit(None);
            }
            let woken = self.wake.notified();
            tokio::select! {
                p = self.bytes.clone().acquire_many_owned(n) => {
                    return BufferPermit(p.ok().map(Arc::new));
                }
                _ = woken => {}
            }
        }
    }

    /// Says whether every channel between source and destination is empty: while it is, a
    /// source waiting for the budget waits for memory the destination itself holds.
    pub fn set_drained(&self, drained: bool) {
        let was = self.drained.swap(drained, Ordering::AcqRel);
        if drained && !was {
            self.wake.notify_waiters();
        }
    }

    /// Whether a source is waiting for room.
    pub fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// Bytes free now.
    pub fn available(&self) -> u64 {
        self.bytes.available_permits() as u64
    }
}

/// Counts a waiting `take` until it returns (or is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_source_waits_for_room_and_a_drained_pipeline_lets_it_go() {
        let budget = ByteBudget::new(4096);
        let a = budget.take(3000).await;
        assert!(a.is_held());
        assert_eq!(budget.available(), 1096);
        // An oversized batch takes the whole budget once the first is dropped.
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.take(1 << 30).await })
        };
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        drop(a);
        let big = waiting.await.unwrap();
        assert!(big.is_held());
        assert_eq!(budget.available(), 0);
        // The destination keeps `big`; the engine's channels are empty: the source goes on.
        let next = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.take(10).await })
        };
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!next.is_finished());
        budget.set_drained(true);
        assert!(!next.await.unwrap().is_held());
    }
}
