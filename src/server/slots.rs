//! Concurrency limits with a bounded wait: the query slots (`query.max_concurrency`, a queue of
//! `query.max_queue` waiting for at most the query timeout) and the write slots
//! (`write.max_concurrency`, waiting at most `write.max_queue_wait`).
//!
//! The number of requests waiting is a [`watch`] value, so `/metrics` can report it and tests
//! can wait for a request to be queued instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Why no slot was handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// `max_queue` requests are already waiting.
    QueueFull,
    /// No slot became free within the wait limit.
    TimedOut,
    /// The semaphore was closed (shutdown).
    Closed,
}

/// A pool of slots with a bounded queue in front of it.
pub struct Slots {
    sem: Arc<Semaphore>,
    waiting: watch::Sender<usize>,
    max_queue: usize,
    max_wait: Duration,
}

impl Slots {
    /// `capacity` concurrent holders, at most `max_queue` waiters, each waiting up to `max_wait`.
    pub fn new(capacity: usize, max_queue: usize, max_wait: Duration) -> Self {
        Slots { sem: Arc::new(Semaphore::new(capacity)), waiting: watch::Sender::new(0), max_queue, max_wait }
    }

    /// Takes a slot, waiting in the queue if all are busy.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, SlotError> {
        if let Ok(p) = self.sem.clone().try_acquire_owned() {
            return Ok(p);
        }
        let mut full = false;
        self.waiting.send_modify(|n| {
            if *n >= self.max_queue {
                full = true;
            } else {
                *n += 1;
            }
        });
        if full {
            return Err(SlotError::QueueFull);
        }
        struct Leave<'a>(&'a watch::Sender<usize>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.send_modify(|n| *n = n.saturating_sub(1));
            }
        }
        let _leave = Leave(&self.waiting);
        match tokio::time::timeout(self.max_wait, self.sem.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(SlotError::Closed),
            Err(_) => Err(SlotError::TimedOut),
        }
    }

    /// Requests currently waiting for a slot.
    pub fn waiting(&self) -> usize {
        *self.waiting.borrow()
    }

    /// A receiver of the number of waiting requests (tests wait on it).
    pub fn watch_waiting(&self) -> watch::Receiver<usize> {
        self.waiting.subscribe()
    }

    /// Takes `n` slots without queueing, e.g. to simulate a busy server in tests. `None` when
    /// fewer are free.
    pub fn try_hold(&self, n: u32) -> Option<OwnedSemaphorePermit> {
        self.sem.clone().try_acquire_many_owned(n).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_limit_and_timeout() {
        let s = Arc::new(Slots::new(1, 1, Duration::from_secs(3600)));
        let held = s.acquire().await.unwrap();
        let mut w = s.watch_waiting();
        let s2 = s.clone();
        let queued = tokio::spawn(async move { s2.acquire().await.map(|_| ()) });
        w.wait_for(|n| *n == 1).await.unwrap();
        assert_eq!(s.acquire().await.unwrap_err(), SlotError::QueueFull);
        drop(held);
        assert_eq!(queued.await.unwrap(), Ok(()));
        assert_eq!(s.waiting(), 0);

        let s = Slots::new(1, 5, Duration::ZERO);
        let _held = s.try_hold(1).unwrap();
        assert!(s.try_hold(1).is_none());
        assert_eq!(s.acquire().await.unwrap_err(), SlotError::TimedOut);
        assert_eq!(s.waiting(), 0);
    }
}
