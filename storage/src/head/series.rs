//! One in-memory series: its label symbol ids, its chunks and its out-of-order buffer.
//!
//! In-order samples go to the open chunk (an [`XorEncoder`]); full chunks are handed to the
//! head chunk files and only their reference stays here (or, for a head without a directory,
//! their bytes). Chunks are cut with Prometheus's rules (`tsdb/head_append.go`): at the end of
//! the chunk-range window the first sample falls in, earlier when the chunk is predicted to
//! exceed the target of 120 samples (evenly sized chunks), at 240 samples, or at about 1 KiB.
//!
//! Out-of-order samples (older than the newest sample but within the head's window) live in a
//! small sorted buffer; readers see them as extra chunks that may overlap the in-order ones.
//!
//! Chunk ids: chunk `i` of [`MemSeries::closed`] has id `first_chunk_id + i`, the open chunk
//! `first_chunk_id + closed.len()`; ids only grow, so a reference handed to a reader never
//! points at a different chunk later (it may point at none after truncation).

use crate::chunkenc::{ENCODING_XOR, MAX_BYTES_PER_APPEND, MAX_BYTES_PER_XOR_CHUNK, SAMPLES_PER_CHUNK, XorEncoder};
use crate::error::{AppendError, Result};
use crate::head::chunk_mapper::ChunkStore;
use crate::head::postings::SymbolPairs;
use crate::reader::{ChunkData, ChunkMeta};
use crate::storage::{Sample, Timestamp};

/// Chunk ids with this bit set name a slice of the out-of-order buffer.
pub(crate) const OOO_CHUNK_BIT: u32 = 0x8000_0000;
/// Room a series' first chunk starts with: the 2-byte count, the first timestamp (a varint of
/// 6 bytes for current times) and the value's 8 bytes, with a few samples to spare. It grows
/// a size class at a time from there; later chunks start at about the previous one's size.
const FIRST_CHUNK_BYTES: usize = 32;
/// Samples per out-of-order chunk handed to readers.
const OOO_SAMPLES_PER_CHUNK: usize = SAMPLES_PER_CHUNK;

/// A full (immutable) chunk of a series.
pub(crate) struct ClosedChunk {
    pub mint: Timestamp,
    pub maxt: Timestamp,
    /// Reference into the head's [`ChunkStore`].
    pub r: u64,
}

/// What to do with a sample that passed the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Newer than everything: append to the open chunk.
    InOrder,
    /// Older, within the out-of-order window: insert into the buffer.
    OutOfOrder,
    /// Same timestamp and same value bits as a stored sample: silently ignored.
    Duplicate,
}

/// Packs a head chunk reference for [`ChunkMeta::chunk_ref`].
pub(crate) fn pack_ref(series: u32, chunk: u32) -> u64 {
    ((series as u64) << 32) | chunk as u64
}

pub(crate) fn unpack_ref(r: u64) -> (u32, u32) {
    ((r >> 32) as u32, r as u32)
}

/// `(t / width) * width + width`: the end of the chunk-range window holding `t`.
pub(crate) fn range_for_timestamp(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width + width
}

/// Prometheus's `computeChunkEndTime`: an end time that splits the rest of the window into
/// chunks of about the same size as the current one will be when full.
pub(crate) fn compute_chunk_end_time(start: i64, cur: i64, max_t: i64, ratio_to_full: f64) -> i64 {
    let n = (max_t - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 {
        return max_t;
    }
    (start as f64 + (max_t - start) as f64 / n.floor()) as i64
}

/// Where `(t, v)` goes for a series whose newest sample is `(max_t, last_bits)` (`i64::MIN`
/// and `None` when it has none) and whose out-of-order buffer is `ooo`.
pub(crate) fn check_sample(
    max_t: Timestamp,
    last_bits: Option<u64>,
    ooo: Option<&[Sample]>,
    t: Timestamp,
    v: f64,
    window: i64,
) -> Result<Verdict, AppendError> {
    if t > max_t {
        return Ok(Verdict::InOrder);
    }
    if t == max_t {
        return if last_bits == Some(v.to_bits()) {
            Ok(Verdict::Duplicate)
        } else {
            Err(AppendError::DuplicateSampleForTimestamp)
        };
    }
    if window > 0 && t >= max_t.saturating_sub(window) {
        if let Some(buf) = ooo
            && let Ok(i) = buf.binary_search_by_key(&t, |s| s.t)
        {
            return if buf[i].v.to_bits() == v.to_bits() {
                Ok(Verdict::Duplicate)
            } else {
                Err(AppendError::DuplicateSampleForTimestamp)
            };
        }
        return Ok(Verdict::OutOfOrder);
    }
    Err(AppendError::OutOfOrder)
}

pub(crate) struct MemSeries {
    /// Label pairs as symbol ids (sorted by name string).
    pub labels: SymbolPairs,
    /// Full chunks, oldest first (a boxed slice: 8 bytes smaller than a `Vec`, and exactly sized).
    pub closed: Box<[ClosedChunk]>,
    pub open: Option<XorEncoder>,
    /// Out-of-order samples, sorted by time, unique times.
    // Boxed: 8 bytes per series instead of 24, and most series never see such samples.
    #[allow(clippy::box_collection)]
    pub ooo: Option<Box<Vec<Sample>>>,
    pub first_chunk_id: u32,
    /// Appenders holding samples for this series staged by reference only, without its labels
    /// ([`crate::Appender::append_ref`]): while non-zero the series is not garbage-collected, so
    /// their commit finds it. (Fits in padding: costs no memory.)
    pub pending: u32,
    /// When the open chunk must be cut.
    pub next_at: Timestamp,
}

impl MemSeries {
    pub fn new(labels: SymbolPairs) -> Self {
        MemSeries {
            labels,
            closed: Box::new([]),
            open: None,
            ooo: None,
            first_chunk_id: 0,
            pending: 0,
            next_at: i64::MIN,
        }
    }

    /// Decides where `(t, v)` goes given the series' data, or why it is rejected.
    /// `staged` is the newest sample the caller's own transaction holds for this series.
    pub fn check(
        &self,
        t: Timestamp,
        v: f64,
        window: i64,
        staged: Option<(Timestamp, u64)>,
    ) -> Result<Verdict, AppendError> {
        let (max_t, last_bits) = match staged {
            Some((st, sv)) if st >= self.max_time() => (st, Some(sv)),
            _ => (self.max_time(), self.open.as_ref().and_then(|o| o.last()).map(|(_, v)| v.to_bits())),
        };
        check_sample(max_t, last_bits, self.ooo.as_deref().map(Vec::as_slice), t, v, window)
    }

    /// Appends an in-order sample (`t > max_time`, checked by the caller), cutting the open chunk
    /// first when due. Returns whether a chunk was cut; the cut chunk goes to `store` (a file,
    /// kept on the heap without one, or when the write fails).
    pub fn append(&mut self, id: u32, t: Timestamp, v: f64, chunk_range: i64, store: &ChunkStore) -> bool {
        let mut cut = false;
        match &self.open {
            None => {
                self.next_at = range_for_timestamp(t, chunk_range);
            }
            Some(c) => {
                let n = c.num_samples();
                if n == SAMPLES_PER_CHUNK / 4 {
                    // (min_time decodes the first timestamp: only read it when needed.)
                    let (cmin, cmax) = (c.min_time().unwrap_or(t), c.max_time().unwrap_or(t));
                    self.next_at = compute_chunk_end_time(cmin, cmax, self.next_at, 4.0);
                }
                if c.bytes().len() > MAX_BYTES_PER_XOR_CHUNK - MAX_BYTES_PER_APPEND
                    || t >= self.next_at
                    || n >= SAMPLES_PER_CHUNK * 2
                {
                    cut = true;
                }
            }
        }
        if cut {
            let prev_len = self.open.as_ref().map_or(0, |c| c.bytes().len());
            if let Some(c) = self.open.take() {
                self.close_chunk(id, c, store);
            }
            // The next chunk will likely be about as big as the last one.
            self.open = Some(XorEncoder::with_capacity(prev_len + prev_len / 8 + 8));
            self.next_at = range_for_timestamp(t, chunk_range);
        }
        let enc = self.open.get_or_insert_with(|| XorEncoder::with_capacity(FIRST_CHUNK_BYTES));
        enc.append(t, v);
        cut
    }

    fn close_chunk(&mut self, id: u32, c: XorEncoder, store: &ChunkStore) {
        let (Some(mint), Some(maxt)) = (c.min_time(), c.max_time()) else { return };
        let r = store.write(id as u64, mint, maxt, c.into_bytes());
        self.push_closed(ClosedChunk { mint, maxt, r });
    }

    /// Attaches a chunk found in the head chunk files at startup (in file order).
    pub fn push_mapped(&mut self, r: u64, mint: Timestamp, maxt: Timestamp) {
        if self.closed.last().is_some_and(|c| c.maxt >= mint) {
            return;
        }
        self.push_closed(ClosedChunk { mint, maxt, r });
    }

    fn push_closed(&mut self, c: ClosedChunk) {
        let mut v = std::mem::take(&mut self.closed).into_vec();
        v.reserve_exact(1);
        v.push(c);
        self.closed = v.into_boxed_slice();
    }

    /// Inserts an out-of-order sample; false if its timestamp is already buffered.
    pub fn insert_ooo(&mut self, t: Timestamp, v: f64) -> bool {
        let buf = self.ooo.get_or_insert_with(Default::default);
        match buf.binary_search_by_key(&t, |s| s.t) {
            Ok(_) => false,
            Err(i) => {
                buf.insert(i, Sample { t, v });
                true
            }
        }
    }

    /// Newest in-order timestamp (`i64::MIN` when none).
    pub fn max_time(&self) -> Timestamp {
        match self.open.as_ref().and_then(|o| o.max_time()) {
            Some(t) => t,
            None => self.closed.last().map_or(i64::MIN, |c| c.maxt),
        }
    }

    pub fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }

    /// Nothing to keep: no data, and no appender about to commit some by reference.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
            && self.closed.is_empty()
            && self.open.is_none()
            && self.ooo.as_ref().is_none_or(|b| b.is_empty())
    }

    /// Oldest timestamp held (in-order or out-of-order).
    pub fn min_time(&self) -> Option<Timestamp> {
        let a = self.closed.first().map(|c| c.mint).or_else(|| self.open.as_ref().and_then(|o| o.min_time()));
        let b = self.ooo.as_ref().and_then(|o| o.first()).map(|s| s.t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Drops data entirely before `mint` (freeing heap chunks in `store`); returns the number
    /// of chunks dropped.
    pub fn truncate_before(&mut self, mint: Timestamp, store: &ChunkStore) -> usize {
        let n = self.closed.iter().take_while(|c| c.maxt < mint).count();
        if n > 0 {
            self.closed[..n].iter().for_each(|c| store.free(c.r));
            let mut v = std::mem::take(&mut self.closed).into_vec();
            v.drain(..n);
            self.closed = v.into_boxed_slice();
            self.first_chunk_id = self.first_chunk_id.wrapping_add(n as u32);
        }
        let mut dropped = n;
        if self.closed.is_empty() && self.open.as_ref().is_some_and(|o| o.max_time().is_some_and(|m| m < mint)) {
            self.open = None;
            self.first_chunk_id = self.first_chunk_id.wrapping_add(1);
            dropped += 1;
        }
        if let Some(buf) = &mut self.ooo {
            buf.retain(|s| s.t >= mint);
            if buf.is_empty() {
                self.ooo = None;
            } else {
                buf.shrink_to_fit();
            }
        }
        dropped
    }

    /// Smallest head chunk file sequence referenced.
    pub fn min_mapped_seq(&self) -> Option<u32> {
        self.closed.iter().find_map(|c| ChunkStore::file_seq(c.r))
    }

    /// The metas of chunks overlapping `[mint, maxt]`, sorted by min time.
    pub fn chunk_metas(&self, id: u32, mint: Timestamp, maxt: Timestamp, out: &mut Vec<ChunkMeta>) {
        let overlaps = |a: i64, b: i64| a <= maxt && b >= mint;
        for (i, c) in self.closed.iter().enumerate() {
            if overlaps(c.mint, c.maxt) {
                let cid = self.first_chunk_id.wrapping_add(i as u32);
                out.push(ChunkMeta { chunk_ref: pack_ref(id, cid), min_time: c.mint, max_time: c.maxt });
            }
        }
        if let Some(o) = &self.open
            && let (Some(a), Some(b)) = (o.min_time(), o.max_time())
            && overlaps(a, b)
        {
            let cid = self.first_chunk_id.wrapping_add(self.closed.len() as u32);
            out.push(ChunkMeta { chunk_ref: pack_ref(id, cid), min_time: a, max_time: b });
        }
        if let Some(buf) = &self.ooo {
            let lo = buf.partition_point(|s| s.t < mint);
            let hi = buf.partition_point(|s| s.t <= maxt);
            for (k, part) in buf[lo..hi].chunks(OOO_SAMPLES_PER_CHUNK).enumerate() {
                let (Some(a), Some(b)) = (part.first(), part.last()) else { continue };
                let cid = OOO_CHUNK_BIT | (k as u32 & !OOO_CHUNK_BIT);
                out.push(ChunkMeta { chunk_ref: pack_ref(id, cid), min_time: a.t, max_time: b.t });
            }
            out.sort_by_key(|m| (m.min_time, m.max_time));
        }
    }

    /// The bytes of chunk `cid` limited to `[meta.min_time, meta.max_time]` as far as the chunk
    /// may have grown since the meta was taken. `Ok(None)` if the chunk is gone.
    pub fn chunk(&self, cid: u32, meta: &ChunkMeta, store: &ChunkStore) -> Result<Option<ChunkData>> {
        if cid & OOO_CHUNK_BIT != 0 {
            let Some(buf) = &self.ooo else { return Ok(None) };
            let lo = buf.partition_point(|s| s.t < meta.min_time);
            let hi = buf.partition_point(|s| s.t <= meta.max_time);
            let mut enc = XorEncoder::new();
            for s in buf[lo..hi].iter().take(u16::MAX as usize) {
                enc.append(s.t, s.v);
            }
            return Ok(Some(ChunkData { encoding: ENCODING_XOR, bytes: enc.into_bytes() }));
        }
        let idx = cid.wrapping_sub(self.first_chunk_id) as usize;
        if let Some(c) = self.closed.get(idx) {
            return store.read(c.r).map(Some);
        }
        if idx != self.closed.len() {
            return Ok(None);
        }
        let Some(o) = &self.open else { return Ok(None) };
        if o.max_time().is_none_or(|m| m <= meta.max_time) {
            return Ok(Some(ChunkData { encoding: ENCODING_XOR, bytes: o.bytes().to_vec() }));
        }
        // The open chunk grew after the meta was taken: copy only what the meta covers, so the
        // reader sees a consistent snapshot.
        let mut enc = XorEncoder::with_capacity(o.bytes().len());
        for (t, v) in o.iter().take_while(|(t, _)| *t <= meta.max_time) {
            enc.append(t, v);
        }
        Ok(Some(ChunkData { encoding: ENCODING_XOR, bytes: enc.into_bytes() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunkenc::decode_all;

    const H2: i64 = 2 * 3600 * 1000;

    /// Appends samples at `times` and returns the sample counts of the chunks.
    fn check_cuts(times: impl IntoIterator<Item = i64>, expected: &[usize]) {
        let store = ChunkStore::new(None);
        let mut s = MemSeries::new(SymbolPairs::new(&[]));
        for t in times {
            assert!(s.check(t, 1.0, 0, None).is_ok());
            s.append(1, t, t as f64, H2, &store);
        }
        let mut counts: Vec<usize> =
            s.closed.iter().map(|c| decode_all(&store.read(c.r).unwrap().bytes).unwrap().len()).collect();
        counts.extend(s.open.as_ref().map(|o| o.num_samples()));
        assert_eq!(counts, expected);
    }

    #[test]
    fn cuts_at_120_samples_for_15s_scrapes() {
        // 2h of 15s samples = 480 samples: four chunks of 120.
        check_cuts((0..480).map(|i| i * 15_000), &[120, 120, 120, 120]);
        check_cuts((0..481).map(|i| i * 15_000), &[120, 120, 120, 120, 1]);
    }

    #[test]
    fn cuts_at_range_boundary() {
        // Starting 10 minutes before a 2h boundary: the window ends there.
        let start = H2 - 600_000;
        check_cuts((0..50).map(|i| start + i * 15_000), &[40, 10]);
        // Sparse samples: one per hour, each window of 2h holds two.
        check_cuts((0..5).map(|i| i * 3_600_000), &[2, 2, 1]);
    }

    #[test]
    fn rate_increase_cuts_at_twice_the_target() {
        // 30 samples 1s apart predict a long chunk; then samples arrive every 1ms and the hard
        // cap of 240 samples cuts first. The next chunk predicts from the new rate.
        let times: Vec<i64> = (0..30).map(|i| i * 1000).chain((1..400).map(|i| 29_000 + i)).collect();
        check_cuts(times, &[240, 120, 69]);
    }

    #[test]
    fn chunk_end_time() {
        assert_eq!(compute_chunk_end_time(0, 29 * 15_000, H2, 4.0), H2 / 4);
        assert_eq!(compute_chunk_end_time(0, H2, H2, 4.0), H2);
        assert_eq!(range_for_timestamp(-1, 10), 0);
        assert_eq!(range_for_timestamp(0, 10), 10);
        assert_eq!(range_for_timestamp(19, 10), 20);
    }

    fn check_verdict(s: &MemSeries, t: i64, v: f64, window: i64, expected: Result<Verdict, AppendError>) {
        assert_eq!(s.check(t, v, window, None), expected, "t={t} v={v} window={window}");
    }

    #[test]
    fn verdicts() {
        let store = ChunkStore::new(None);
        let mut s = MemSeries::new(SymbolPairs::new(&[]));
        check_verdict(&s, -5, 1.0, 0, Ok(Verdict::InOrder));
        s.append(1, 100, 1.0, H2, &store);
        check_verdict(&s, 101, 1.0, 0, Ok(Verdict::InOrder));
        check_verdict(&s, 100, 1.0, 0, Ok(Verdict::Duplicate));
        check_verdict(&s, 100, 2.0, 0, Err(AppendError::DuplicateSampleForTimestamp));
        check_verdict(&s, 99, 1.0, 0, Err(AppendError::OutOfOrder));
        check_verdict(&s, 90, 1.0, 10, Ok(Verdict::OutOfOrder));
        check_verdict(&s, 89, 1.0, 10, Err(AppendError::OutOfOrder));
        assert!(s.insert_ooo(95, 3.0));
        assert!(!s.insert_ooo(95, 4.0));
        check_verdict(&s, 95, 3.0, 10, Ok(Verdict::Duplicate));
        check_verdict(&s, 95, 4.0, 10, Err(AppendError::DuplicateSampleForTimestamp));
        // Staged samples of the caller's own transaction count as the newest.
        assert_eq!(s.check(105, 1.0, 0, Some((110, 1f64.to_bits()))), Err(AppendError::OutOfOrder));
        assert_eq!(s.check(110, 1.0, 0, Some((110, 1f64.to_bits()))), Ok(Verdict::Duplicate));
    }

    #[test]
    fn truncate_drops_old_chunks_and_ooo() {
        let store = ChunkStore::new(None);
        let mut s = MemSeries::new(SymbolPairs::new(&[]));
        for i in 0..300 {
            s.append(1, i * 15_000, 1.0, H2, &store);
        }
        s.insert_ooo(10, 1.0);
        assert_eq!(s.num_chunks(), 3);
        assert_eq!(s.truncate_before(120 * 15_000, &store), 1);
        assert_eq!(s.first_chunk_id, 1);
        assert!(s.ooo.is_none());
        assert_eq!(s.min_time(), Some(120 * 15_000));
        assert_eq!(s.truncate_before(i64::MAX, &store), 2);
        assert!(s.is_empty());
        // The heap chunks were freed.
        assert!(store.read(1 << 63).is_err());
    }
}
