//! The storage contract: what the query engine and the server see of the engine.
//!
//! `Queryable -> Querier -> SeriesSet -> Series -> SampleIterator` for reads and
//! `Appendable -> Appender` for writes. The query crate depends on these traits only, never on
//! engine internals. Queriers and iterators own what they need (`'static`), so a query can run on
//! a blocking thread while ingestion goes on.

use crate::error::{AppendError, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;

/// Milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The value Prometheus writes to mark a series stale (a signalling NaN with this exact bit
/// pattern). It must survive storage bit for bit.
pub const STALE_NAN_BITS: u64 = 0x7ff0000000000002;

/// Is `v` the staleness marker (compared by bits, as any NaN compares unequal)?
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: Timestamp,
    pub v: f64,
}

impl Sample {
    pub fn new(t: Timestamp, v: f64) -> Self {
        Sample { t, v }
    }
}

/// Opaque reference to a head series, returned by [`Appender::append`] so the next append to
/// the same series can skip the label lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// What the caller will do with the selected data; lets storage skip work (e.g. only the
/// `[start, end]` range is needed). Times are inclusive milliseconds.
#[derive(Clone, Debug, Default)]
pub struct SelectHints {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Query step in ms (0 for instant queries).
    pub step: i64,
    /// Range of the surrounding range vector selector in ms (0 if none).
    pub range: i64,
    /// Name of the surrounding function, if any (e.g. `rate`); `"series"` for metadata-only calls.
    pub func: Option<String>,
}

/// Iterates the samples of one series in strictly increasing time order.
pub trait SampleIterator: Send {
    /// The next sample, or `None` at the end (or on error: check [`SampleIterator::err`]).
    fn next(&mut self) -> Option<Sample>;
    /// Advances to the first sample with `t >= ts` (staying put if already there) and returns it.
    fn seek(&mut self, ts: Timestamp) -> Option<Sample>;
    /// The error that ended the iteration early, if any.
    fn err(&self) -> Option<&crate::Error> {
        None
    }
}

/// A series: its labels and its samples within the querier's time range.
pub struct Series {
    pub labels: Labels,
    pub samples: Box<dyn SampleIterator>,
}

impl Series {
    /// Collects all samples (convenience for tests and small reads).
    pub fn collect_samples(mut self) -> Result<Vec<Sample>> {
        let mut out = Vec::new();
        while let Some(s) = self.samples.next() {
            out.push(s);
        }
        match self.samples.err() {
            Some(e) => Err(crate::Error::Other(e.to_string())),
            None => Ok(out),
        }
    }
}

/// The series a select returns, sorted by labels when asked.
pub type SeriesSet = Box<dyn Iterator<Item = Result<Series>> + Send>;

/// Opens queriers over a time range.
pub trait Queryable: Send + Sync {
    /// A querier over samples with `mint <= t <= maxt`.
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>>;
}

/// Reads one time range. Matchers are ANDed; at least one matcher must select a non-empty value
/// (as in Prometheus, `{}` alone is rejected by the query layer, not here).
pub trait Querier: Send + Sync {
    /// Series matching all `matchers`, in label order if `sorted`.
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Result<SeriesSet>;
    /// Sorted, de-duplicated label names of the series matching `matchers` (all series if empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>>;
    /// Sorted, de-duplicated values of `name` on series matching `matchers` (all if empty).
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>>;
}

/// Hands out appenders.
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender>;
}

/// What a commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub samples: u64,
    pub series_created: u64,
}

/// A write transaction. Samples become visible to queries and durable (per the fsync policy)
/// only at [`Appender::commit`], which consumes the appender so it cannot be reused.
pub trait Appender: Send {
    /// Stages one sample. `hint` is a reference returned earlier for the same labels (may be
    /// stale; then the labels are used). A rejected sample returns its reason and leaves the rest
    /// of the transaction intact.
    fn append(
        &mut self,
        hint: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError>;
    /// Stages one sample for the series `r` names (a reference an earlier [`Appender::append`]
    /// returned), without its labels: `Ok(None)` when `r` names no series (any more, or not
    /// yet), and the caller then appends with the labels. Lets a writer that remembers refs skip
    /// building label sets. The default knows no refs.
    fn append_ref(&mut self, r: SeriesRef, t: Timestamp, v: f64) -> Result<Option<SeriesRef>, AppendError> {
        let _ = (r, t, v);
        Ok(None)
    }
    /// Makes the staged samples durable and visible. Returns once the WAL write is fsync'd
    /// (policy `always`).
    fn commit(self: Box<Self>) -> Result<CommitStats>;
    /// Like [`Appender::commit`], but returns once the WAL write is done, without waiting for
    /// its fsync: the samples are visible at once and become durable with the next fsync (a
    /// later synced commit, the `interval` policy's timer, a segment cut or shutdown). For data
    /// that can be computed again, such as rule output: Prometheus's rule manager never
    /// fsyncs its commits either. The default is a synced commit.
    fn commit_unsynced(self: Box<Self>) -> Result<CommitStats> {
        self.commit()
    }
    /// Discards the staged samples.
    fn rollback(self: Box<Self>) -> Result<()>;
}

/// A sample iterator over an in-memory vector (used by tests, merges and small reads).
pub struct VecSampleIterator {
    samples: Vec<Sample>,
    pos: usize,
}

impl VecSampleIterator {
    pub fn new(samples: Vec<Sample>) -> Self {
        VecSampleIterator { samples, pos: 0 }
    }
}

impl SampleIterator for VecSampleIterator {
    fn next(&mut self) -> Option<Sample> {
        let s = self.samples.get(self.pos).copied();
        if s.is_some() {
            self.pos += 1;
        }
        s
    }
    fn seek(&mut self, ts: Timestamp) -> Option<Sample> {
        // `pos` points past the last returned sample; a seek may return that one again.
        let cur = self.pos.saturating_sub(1);
        if let Some(s) = self.samples.get(cur)
            && self.pos > 0
            && s.t >= ts
        {
            return Some(*s);
        }
        let rest = &self.samples[self.pos..];
        let i = rest.partition_point(|s| s.t < ts);
        self.pos += i;
        self.next()
    }
}
