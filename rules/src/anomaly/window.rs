//! The time-bucket ring the windowed detectors share: the window `[ts - width * len, ts]` is cut
//! into `len` buckets of `width` ms aligned to multiples of `width`, each holding a summary `B`.
//! Memory is at most `len + 1` summaries whatever the sample rate; a gap in the data simply
//! leaves buckets out, and a gap longer than the window empties it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Window<B> {
    width_ms: i64,
    len: usize,
    /// `(bucket index = ts / width, summary)`, oldest first, indices increasing.
    buckets: VecDeque<(i64, B)>,
}

impl<B: Default> Window<B> {
    /// A window of `window_ms` cut into `len` buckets (`window_ms / len` ms each, at least 1).
    pub(crate) fn new(window_ms: i64, len: usize) -> Self {
        let len = len.max(1);
        Window { width_ms: (window_ms / len as i64).max(1), len, buckets: VecDeque::with_capacity(len + 1) }
    }

    /// Makes the bucket of `ts_ms` the newest one, evicting those that fell out of the window.
    /// Returns whether the set of older ("closed") buckets changed. `ts_ms` must not be older
    /// than the newest bucket.
    pub(crate) fn advance(&mut self, ts_ms: i64) -> bool {
        let idx = ts_ms.div_euclid(self.width_ms);
        let mut changed = false;
        if self.buckets.back().is_none_or(|(i, _)| *i < idx) {
            self.buckets.push_back((idx, B::default()));
            changed = true;
        }
        while self.buckets.front().is_some_and(|(i, _)| *i <= idx - self.len as i64) {
            self.buckets.pop_front();
            changed = true;
        }
        changed
    }

    /// The newest bucket (after [`Window::advance`]).
    pub(crate) fn current_mut(&mut self) -> Option<&mut B> {
        self.buckets.back_mut().map(|(_, b)| b)
    }

    /// All buckets, oldest first, the newest (still filling) last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &B> {
        self.buckets.iter().map(|(_, b)| b)
    }

    /// The buckets before the newest one.
    pub(crate) fn closed(&self) -> impl Iterator<Item = &B> {
        self.iter().take(self.buckets.len().saturating_sub(1))
    }

    /// Bytes of the ring itself; heap owned by the summaries is the caller's to add.
    pub(crate) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.buckets.capacity() * std::mem::size_of::<(i64, B)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_age_out_by_time() {
        let mut w: Window<u32> = Window::new(100, 4); // 25 ms buckets
        assert!(w.advance(0));
        *w.current_mut().unwrap() += 1;
        assert!(!w.advance(24));
        *w.current_mut().unwrap() += 1;
        assert!(w.advance(25));
        *w.current_mut().unwrap() += 1;
        assert_eq!(w.iter().copied().collect::<Vec<_>>(), [2, 1]);
        assert_eq!(w.closed().copied().collect::<Vec<_>>(), [2]);
        // At 100 the window is (0, 100]: bucket [0, 25) is index 0 = 4 - 4, out.
        w.advance(100);
        assert_eq!(w.iter().copied().collect::<Vec<_>>(), [1, 0]);
        // A gap longer than the window empties it.
        w.advance(1000);
        assert_eq!(w.iter().copied().collect::<Vec<_>>(), [0]);
    }
}
