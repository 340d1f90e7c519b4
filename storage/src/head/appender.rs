//! The head's write transaction.
//!
//! [`HeadAppender::append`] checks each sample against the series as it is now plus what the
//! transaction already staged, and stages it; a rejected sample returns its [`AppendError`] and
//! the rest of the batch is unaffected. Series that do not exist yet are only staged (with their
//! labels validated), so a rollback leaves no trace. [`HeadAppender::commit`] creates the new
//! series, writes their series records and all samples to the WAL in one call (the WAL does the
//! group commit and fsync), and only then applies the samples, which makes them visible.
//! Samples that a concurrent commit made invalid in the meantime are dropped and counted.
//!
//! [`Appender::append_ref`] stages a sample for an existing series by its ref alone (the
//! remote-write path remembers refs and so builds no label set for a known series). Such a
//! series is pinned (`MemSeries::pending`) until the transaction ends, so garbage collection
//! cannot remove it before the commit, which would have no labels to recreate it with.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{AppendError, Result};
use crate::head::postings::FxMap;
use crate::head::series::{Verdict, check_sample};
use crate::head::{Head, replay};
use crate::labels::Labels;
use crate::storage::{Appender, CommitStats, SeriesRef, Timestamp};

/// Set in a [`SeriesRef`] naming a series staged (not yet created) by one appender.
const PENDING_BIT: u64 = 1 << 63;

struct StagedSeries {
    /// The head series, when it existed at append time.
    id: Option<u32>,
    /// `None` for a series staged by reference ([`Appender::append_ref`]); such a series is
    /// pinned (its `pending` count raised) until commit or rollback, so it cannot be
    /// garbage-collected meanwhile and its labels are never needed.
    labels: Option<Labels>,
    /// Newest in-order sample staged: `(t, value bits)`.
    last: Option<(Timestamp, u64)>,
    /// Out-of-order samples staged: `(t, value bits)` (usually none: no allocation).
    ooo: Vec<(Timestamp, u64)>,
}

struct StagedSample {
    series: u32,
    t: Timestamp,
    v: f64,
}

/// A write transaction on a [`Head`]. Obtain one from [`Head::appender`] or through
/// [`crate::Appendable`]; finish it with [`HeadAppender::commit`] or
/// [`HeadAppender::rollback`] (dropping it is a rollback).
pub struct HeadAppender {
    head: Arc<Head>,
    seq: u32,
    series: Vec<StagedSeries>,
    by_id: FxMap<u32, u32>,
    new_by_hash: FxMap<u64, Vec<u32>>,
    samples: Vec<StagedSample>,
    num_new: usize,
}

/// The staging collections of finished appenders, emptied, for the next ones: a transaction of
/// many series (a remote-write request holds thousands) would otherwise allocate and free
/// them every time, which costs CPU and, with writers on many threads, leaves malloc's
/// per-thread arenas fragmented (resident memory that is not in use).
struct Scratch {
    series: Vec<StagedSeries>,
    by_id: FxMap<u32, u32>,
    new_by_hash: FxMap<u64, Vec<u32>>,
    samples: Vec<StagedSample>,
}

static SCRATCH: std::sync::Mutex<Vec<Scratch>> = std::sync::Mutex::new(Vec::new());
/// Scratch sets kept (about the number of transactions running at once on a small machine).
const SCRATCH_KEPT: usize = 4;
/// Scratch sets staging more series than this are not kept.
const SCRATCH_MAX_SERIES: usize = 1 << 16;

impl HeadAppender {
    pub(crate) fn new(head: Arc<Head>) -> Self {
        let seq = head.appender_seq.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
        let scratch = SCRATCH.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let (series, by_id, new_by_hash, samples) = match scratch {
            Some(s) => (s.series, s.by_id, s.new_by_hash, s.samples),
            None => Default::default(),
        };
        HeadAppender { head, seq, series, by_id, new_by_hash, samples, num_new: 0 }
    }

    /// Returns the (emptied) staging collections to [`SCRATCH`].
    fn recycle(&mut self) {
        if self.series.capacity() > SCRATCH_MAX_SERIES || self.samples.capacity() > 4 * SCRATCH_MAX_SERIES {
            return;
        }
        let mut scratch = Scratch {
            series: std::mem::take(&mut self.series),
            by_id: std::mem::take(&mut self.by_id),
            new_by_hash: std::mem::take(&mut self.new_by_hash),
            samples: std::mem::take(&mut self.samples),
        };
        scratch.series.clear();
        scratch.by_id.clear();
        scratch.new_by_hash.clear();
        scratch.samples.clear();
        let mut pool = SCRATCH.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < SCRATCH_KEPT {
            pool.push(scratch);
        }
    }

    /// Number of samples staged.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    fn stage_existing(&mut self, id: u32, labels: &Labels) -> u32 {
        if let Some(&i) = self.by_id.get(&id) {
            return i;
        }
        let i = self.series.len() as u32;
        self.series.push(StagedSeries { id: Some(id), labels: Some(labels.clone()), last: None, ooo: Vec::new() });
        self.by_id.insert(id, i);
        i
    }

    /// Finds or stages the series for a sample.
    fn resolve(&mut self, hint: Option<SeriesRef>, labels: &Labels) -> Result<u32, AppendError> {
        if let Some(SeriesRef(r)) = hint {
            if r & PENDING_BIT != 0 {
                let idx = r as u32;
                if ((r >> 32) as u32 & 0x7fff_ffff) == self.seq && (idx as usize) < self.series.len() {
                    return Ok(idx);
                }
            } else if let Ok(id) = u32::try_from(r)
                && let Some(&i) = self.by_id.get(&id)
            {
                return Ok(i);
            }
        }
        let hash = labels.hash64();
        // Series this transaction already staged as new come first, so all its samples of one
        // label set stay together even if another appender creates the series meanwhile.
        if let Some(found) = self
            .new_by_hash
            .get(&hash)
            .and_then(|c| c.iter().find(|&&i| self.series[i as usize].labels.as_ref() == Some(labels)))
        {
            return Ok(*found);
        }
        if let Some(id) = self.head.lookup(labels, hash) {
            return Ok(self.stage_existing(id, labels));
        }
        labels.validate(&self.head.opts.label_limits)?;
        if labels.is_empty() {
            return Err(AppendError::InvalidLabels(crate::labels::LabelError::EmptyName));
        }
        let max = self.head.opts.max_series;
        if max > 0 && self.head.num_series() as usize + self.num_new >= max {
            return Err(AppendError::TooManySeries);
        }
        let i = self.series.len() as u32;
        self.series.push(StagedSeries { id: None, labels: Some(labels.clone()), last: None, ooo: Vec::new() });
        self.new_by_hash.entry(hash).or_default().push(i);
        self.num_new += 1;
        Ok(i)
    }

    fn append_inner(
        &mut self,
        hint: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        if t < self.head.min_valid_time() {
            return Err(AppendError::OutOfBounds);
        }
        let window = self.head.opts.out_of_order_window;
        // Fast path: a hint naming an existing series not staged yet is checked and staged with a
        // single visit to the series.
        if let Some(SeriesRef(r)) = hint
            && r & PENDING_BIT == 0
            && let Ok(id) = u32::try_from(r)
            && !self.by_id.contains_key(&id)
            && let Some(verdict) = self.head.series.with(id, |s| s.check(t, v, window, None))
        {
            let idx = self.stage_existing(id, labels);
            return self.stage_sample(idx, verdict?, t, v);
        }
        let idx = self.resolve(hint, labels)?;
        self.append_staged(idx, t, v)
    }

    /// Checks and stages a sample of the already staged series `idx`.
    fn append_staged(&mut self, idx: u32, t: Timestamp, v: f64) -> Result<SeriesRef, AppendError> {
        let window = self.head.opts.out_of_order_window;
        let st = &self.series[idx as usize];
        let staged = st.last;
        let verdict = match st.id.and_then(|id| self.head.series.with(id, |s| s.check(t, v, window, staged))) {
            Some(v) => v?,
            // A new series (or one garbage-collected since): only the staged samples count.
            None => {
                let (max_t, bits) = staged.map_or((i64::MIN, None), |(t, b)| (t, Some(b)));
                check_sample(max_t, bits, None, t, v, window)?
            }
        };
        self.stage_sample(idx, verdict, t, v)
    }

    /// [`Appender::append_ref`]: a sample for the series `r` names, staged without labels.
    fn append_ref_inner(&mut self, r: SeriesRef, t: Timestamp, v: f64) -> Result<Option<SeriesRef>, AppendError> {
        let SeriesRef(r) = r;
        let idx = if r & PENDING_BIT != 0 {
            // A series this transaction staged as new (refs of other appenders are unknown here).
            let idx = r as u32;
            if ((r >> 32) as u32 & 0x7fff_ffff) != self.seq || idx as usize >= self.series.len() {
                return Ok(None);
            }
            idx
        } else {
            let Ok(id) = u32::try_from(r) else { return Ok(None) };
            match self.by_id.get(&id) {
                Some(&i) => i,
                None => {
                    if t < self.head.min_valid_time() {
                        return Err(AppendError::OutOfBounds);
                    }
                    // Check and pin in one visit to the series.
                    let window = self.head.opts.out_of_order_window;
                    let checked = self.head.series.with(id, |s| {
                        let verdict = s.check(t, v, window, None);
                        if verdict.is_ok() {
                            s.pending += 1;
                        }
                        verdict
                    });
                    let Some(verdict) = checked else { return Ok(None) };
                    let verdict = verdict?;
                    let i = self.series.len() as u32;
                    self.series.push(StagedSeries { id: Some(id), labels: None, last: None, ooo: Vec::new() });
                    self.by_id.insert(id, i);
                    return self.stage_sample(i, verdict, t, v).map(Some);
                }
            }
        };
        if t < self.head.min_valid_time() {
            return Err(AppendError::OutOfBounds);
        }
        self.append_staged(idx, t, v).map(Some)
    }

    /// Releases the pins of the series staged by reference (see [`StagedSeries::labels`]).
    fn unpin(&mut self) {
        for st in &mut self.series {
            if st.labels.is_none()
                && let Some(id) = st.id.take()
            {
                self.head.series.with(id, |s| s.pending = s.pending.saturating_sub(1));
            }
        }
    }

    /// Records a checked sample of staged series `idx`.
    fn stage_sample(&mut self, idx: u32, verdict: Verdict, t: Timestamp, v: f64) -> Result<SeriesRef, AppendError> {
        let st = &mut self.series[idx as usize];
        match verdict {
            Verdict::Duplicate => {}
            Verdict::InOrder => {
                st.last = Some((t, v.to_bits()));
                self.samples.push(StagedSample { series: idx, t, v });
            }
            Verdict::OutOfOrder => match st.ooo.iter().find(|s| s.0 == t) {
                Some(&(_, bits)) if bits == v.to_bits() => {}
                Some(_) => return Err(AppendError::DuplicateSampleForTimestamp),
                None => {
                    st.ooo.push((t, v.to_bits()));
                    self.samples.push(StagedSample { series: idx, t, v });
                }
            },
        }
        Ok(match st.id {
            Some(id) => SeriesRef(id as u64),
            None => SeriesRef(PENDING_BIT | ((self.seq as u64) << 32) | idx as u64),
        })
    }

    /// Creates the new series, logs everything to the WAL in one call, then applies the samples.
    pub fn commit(self) -> Result<CommitStats> {
        self.commit_with(true)
    }

    /// [`HeadAppender::commit`] without waiting for the WAL's fsync (see
    /// [`Appender::commit_unsynced`]).
    pub fn commit_unsynced(self) -> Result<CommitStats> {
        self.commit_with(false)
    }

    fn commit_with(mut self, sync: bool) -> Result<CommitStats> {
        let head = self.head.clone();
        let _gc = head.gc.read();
        let mut stats = CommitStats::default();
        let mut new_series: Vec<(u32, Labels)> = Vec::new();
        let mut failed: Vec<bool> = vec![false; self.series.len()];
        let mut used: Vec<bool> = vec![false; self.series.len()];
        self.samples.iter().for_each(|s| used[s.series as usize] = true);
        for (i, st) in self.series.iter_mut().enumerate() {
            // Series whose samples were all no-ops are not created.
            if !used[i] || st.id.is_some_and(|id| head.series.with(id, |_| ()).is_some()) {
                continue;
            }
            // A series staged by reference is pinned, so it still exists; were it gone, there
            // would be no labels to recreate it with and its samples are dropped as rejected.
            let created = match &st.labels {
                Some(labels) => head.get_or_create(labels, labels.hash64(), None),
                None => Err(AppendError::OutOfBounds),
            };
            match created {
                Ok((id, created)) => {
                    st.id = Some(id);
                    if created {
                        if let Some(labels) = &st.labels {
                            new_series.push((id, labels.clone()));
                        }
                        stats.series_created += 1;
                    }
                }
                Err(e) => {
                    failed[i] = true;
                    let n = self.samples.iter().filter(|s| s.series as usize == i).count();
                    for _ in 0..n {
                        head.metrics.rejected(&e);
                    }
                }
            }
        }
        let samples: Vec<(u32, Timestamp, f64)> = self
            .samples
            .iter()
            .filter(|s| !failed[s.series as usize])
            .filter_map(|s| self.series[s.series as usize].id.map(|id| (id, s.t, s.v)))
            .collect();
        if let Some(wal) = &head.wal
            && (!samples.is_empty() || !new_series.is_empty())
        {
            replay::log_commit(wal, &new_series, &samples, sync)?;
        }
        for (id, t, v) in samples {
            match head.apply_sample(id, t, v) {
                Ok(true) => stats.samples += 1,
                Ok(false) => {}
                Err(e) => head.metrics.rejected(&e),
            }
        }
        head.metrics.samples_appended.add(stats.samples);
        self.samples.clear();
        self.unpin();
        Ok(stats)
    }

    /// Discards everything staged.
    pub fn rollback(self) -> Result<()> {
        Ok(())
    }
}

impl Drop for HeadAppender {
    /// After a commit, a rollback, or an appender dropped without either: release the pins and
    /// recycle the staging collections.
    fn drop(&mut self) {
        self.unpin();
        self.recycle();
    }
}

impl Appender for HeadAppender {
    fn append(
        &mut self,
        hint: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.append_inner(hint, labels, t, v);
        if let Err(e) = &r {
            self.head.metrics.rejected(e);
        }
        r
    }

    fn append_ref(&mut self, r: SeriesRef, t: Timestamp, v: f64) -> Result<Option<SeriesRef>, AppendError> {
        let res = self.append_ref_inner(r, t, v);
        if let Err(e) = &res {
            self.head.metrics.rejected(e);
        }
        res
    }

    fn commit(self: Box<Self>) -> Result<CommitStats> {
        HeadAppender::commit(*self)
    }

    fn commit_unsynced(self: Box<Self>) -> Result<CommitStats> {
        HeadAppender::commit_unsynced(*self)
    }

    fn rollback(self: Box<Self>) -> Result<()> {
        HeadAppender::rollback(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::HeadOptions;
    use crate::labels;

    fn head() -> Arc<Head> {
        Head::open(HeadOptions::default()).unwrap()
    }

    /// Creates series `{__name__="m", i=<i>}` with one sample at t=10 and returns its ref.
    fn create(head: &Arc<Head>, i: &str) -> SeriesRef {
        let mut app = head.appender();
        let r = app.append(None, &labels! {"__name__" => "m", "i" => i}, 10, 1.0).unwrap();
        assert_eq!(app.commit().unwrap().samples, 1);
        let mut app = head.appender();
        let r2 = Appender::append(&mut app, Some(r), &labels! {"__name__" => "m", "i" => i}, 10, 1.0).unwrap();
        assert!(r2.0 & PENDING_BIT == 0, "{r2:?}");
        r2
    }

    fn max_time(head: &Head, r: SeriesRef) -> Option<Timestamp> {
        head.series.with(r.0 as u32, |s| s.max_time())
    }

    #[test]
    fn append_ref_stages_by_reference() {
        let head = head();
        let r = create(&head, "a");
        let mut app = head.appender();
        // Unknown refs (never created, or of another appender's staged series) are `None`.
        assert_eq!(app.append_ref(SeriesRef(9999), 20, 1.0), Ok(None));
        assert_eq!(app.append_ref(SeriesRef(PENDING_BIT | (u64::from(app.seq ^ 1) << 32)), 20, 1.0), Ok(None));
        assert_eq!(app.append_ref(r, 20, 2.0), Ok(Some(r)));
        assert_eq!(app.append_ref(r, 30, 3.0), Ok(Some(r)));
        // Checked against what is staged and what is stored.
        assert_eq!(app.append_ref(r, 25, 3.0), Err(AppendError::OutOfOrder));
        assert_eq!(app.append_ref(r, 30, 4.0), Err(AppendError::DuplicateSampleForTimestamp));
        assert_eq!(app.append_ref(r, 30, 3.0), Ok(Some(r)));
        assert_eq!(max_time(&head, r), Some(10), "nothing visible before commit");
        assert_eq!(Box::new(app).commit().unwrap().samples, 2);
        assert_eq!(max_time(&head, r), Some(30));
        // A series staged as new by this appender is reachable by its pending ref.
        let mut app = head.appender();
        let p = app.append(None, &labels! {"__name__" => "m", "i" => "new"}, 5, 1.0).unwrap();
        assert!(p.0 & PENDING_BIT != 0);
        assert_eq!(app.append_ref(p, 6, 1.0), Ok(Some(p)));
        assert_eq!(app.commit().unwrap(), CommitStats { samples: 2, series_created: 1 });
    }

    #[test]
    fn staged_refs_pin_their_series_until_commit_or_rollback() {
        let head = head();
        let a = create(&head, "a");
        let b = create(&head, "b");
        let mut app = head.appender();
        assert_eq!(app.append_ref(a, 1000, 1.0), Ok(Some(a)));
        let mut other = head.appender();
        assert_eq!(other.append_ref(b, 1000, 1.0), Ok(Some(b)));
        // Everything so far is older than 500: both series would be garbage-collected.
        head.truncate(500).unwrap();
        assert_eq!(head.num_series(), 2);
        assert_eq!(app.commit().unwrap().samples, 1);
        assert_eq!(max_time(&head, a), Some(1000));
        drop(other);
        head.truncate(501).unwrap();
        assert_eq!(head.num_series(), 1, "b, no longer pinned, is removed; a has data");
        assert_eq!(max_time(&head, b), None);
        // A stale ref: the caller falls back to labels.
        let mut app = head.appender();
        assert_eq!(app.append_ref(b, 2000, 1.0), Ok(None));
        assert_eq!(app.append_ref(a, 400, 1.0), Err(AppendError::OutOfBounds));
    }
}
