//! Keeps head truncation from pulling data out from under running queries.
//!
//! A querier that reads the head registers the start of its range and holds a guard until the
//! querier, its series sets and their sample iterators are all dropped. Persisting the head
//! first loads the new block, then waits for the readers that were registered before (and whose
//! range reaches into the persisted window) to finish before truncating: readers registered
//! later already see the new block. This is Prometheus's `WaitForPendingReadersInTimeRange`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::matcher::Matcher;
use crate::storage::{Querier, Sample, SampleIterator, SelectHints, Series, SeriesSet, Timestamp};

#[derive(Default)]
struct State {
    next: u64,
    /// Reader id → min time of its range.
    active: BTreeMap<u64, Timestamp>,
}

/// The registry of head readers.
#[derive(Default)]
pub(super) struct Readers {
    state: Mutex<State>,
    cv: Condvar,
}

/// Held (through an `Arc`) by everything a head querier hands out.
pub(super) struct ReaderGuard {
    readers: Arc<Readers>,
    id: u64,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.readers.state.lock().active.remove(&self.id);
        self.readers.cv.notify_all();
    }
}

impl Readers {
    pub fn register(self: &Arc<Self>, mint: Timestamp) -> Arc<ReaderGuard> {
        let mut st = self.state.lock();
        let id = st.next;
        st.next += 1;
        st.active.insert(id, mint);
        Arc::new(ReaderGuard { readers: self.clone(), id })
    }

    /// Readers now active whose range starts before `maxt`.
    pub fn overlapping(&self, maxt: Timestamp) -> Vec<u64> {
        self.state.lock().active.iter().filter(|(_, m)| **m < maxt).map(|(id, _)| *id).collect()
    }

    /// Waits until none of `ids` is active, at most `timeout`. False on timeout.
    pub fn wait_for(&self, ids: &[u64], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        while ids.iter().any(|id| st.active.contains_key(id)) {
            if self.cv.wait_until(&mut st, deadline).timed_out() {
                return !ids.iter().any(|id| st.active.contains_key(id));
            }
        }
        true
    }

    #[cfg(test)]
    pub fn active(&self) -> usize {
        self.state.lock().active.len()
    }
}

/// A querier that keeps its reader registered while it or anything it returned is alive.
pub(super) struct GuardedQuerier {
    pub inner: Box<dyn Querier>,
    pub guard: Arc<ReaderGuard>,
}

impl Querier for GuardedQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Result<SeriesSet> {
        let inner = self.inner.select(sorted, hints, matchers)?;
        Ok(Box::new(GuardedSeriesSet { inner, guard: self.guard.clone() }))
    }
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.inner.label_names(matchers)
    }
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        self.inner.label_values(name, matchers)
    }
}

struct GuardedSeriesSet {
    inner: SeriesSet,
    guard: Arc<ReaderGuard>,
}

impl Iterator for GuardedSeriesSet {
    type Item = Result<Series>;
    fn next(&mut self) -> Option<Result<Series>> {
        self.inner.next().map(|r| {
            r.map(|s| Series {
                labels: s.labels,
                samples: Box::new(GuardedIter { inner: s.samples, _guard: self.guard.clone() }),
            })
        })
    }
}

struct GuardedIter {
    inner: Box<dyn SampleIterator>,
    _guard: Arc<ReaderGuard>,
}

impl SampleIterator for GuardedIter {
    fn next(&mut self) -> Option<Sample> {
        self.inner.next()
    }
    fn seek(&mut self, ts: Timestamp) -> Option<Sample> {
        self.inner.seek(ts)
    }
    fn err(&self) -> Option<&Error> {
        self.inner.err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_released_readers() {
        let r = Arc::new(Readers::default());
        let a = r.register(10);
        let b = r.register(100);
        assert_eq!(r.overlapping(50), vec![0]);
        assert!(!r.wait_for(&[0], Duration::from_millis(1)));
        let t = std::thread::spawn(move || drop(a));
        assert!(r.wait_for(&[0], Duration::from_secs(60)));
        t.join().unwrap();
        assert_eq!(r.active(), 1);
        drop(b);
        assert_eq!(r.active(), 0);
    }
}
