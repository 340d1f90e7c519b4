//! Queriers: one [`BlockQuerier`] over any [`BlockReader`] (a head range or an on-disk block),
//! and a [`MergeQuerier`] that merges several of them into one answer.
//!
//! A select goes `postings_for_matchers → (sorted ids) → series + chunk metas → per-series
//! sample iterator`. The iterator ([`ChunkSeriesIterator`]) decodes chunks only when it reaches
//! them, merges chunks whose time ranges overlap (out-of-order data, the head's open chunk),
//! keeps one sample per timestamp, trims to the querier's `[mint, maxt]` and drops samples inside
//! tombstone intervals. A series with no sample left after that is not returned, so the same data
//! gives the same series set whether it sits in the head, in one block or in several.
//!
//! `label_names` / `label_values` answer from the index, as Prometheus does: without matchers
//! they list every name/value of the reader; with matchers those of the matching series, whether
//! or not these have samples inside the querier's range.
//!
//! Invariant: every [`SampleIterator`] built here yields strictly increasing timestamps.

mod merge;

use std::sync::Arc;

use roaring::RoaringBitmap;

pub use merge::{MergeQuerier, MergedSampleIterator};

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::{Matcher, matches_all};
use crate::reader::{BlockReader, ChunkMeta, ChunkReader, IndexReader, Interval, TombstoneReader};
use crate::storage::{Querier, Sample, SampleIterator, SelectHints, Series, SeriesSet, Timestamp};

/// Decodes one chunk into its samples (encoding 1 = XOR; anything else is an error).
pub fn decode_chunk(meta: &ChunkMeta, data: &crate::reader::ChunkData) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    decode_chunk_into(meta, data.encoding, &data.bytes, Timestamp::MIN, Timestamp::MAX, &mut out)?;
    Ok(out)
}

/// Appends the samples of one chunk with `mint <= t <= maxt` to `out`, decoding straight from
/// the reader's bytes (encoding 1 = XOR; anything else is an error).
pub fn decode_chunk_into(
    meta: &ChunkMeta,
    encoding: u8,
    bytes: &[u8],
    mint: Timestamp,
    maxt: Timestamp,
    out: &mut Vec<Sample>,
) -> Result<()> {
    if encoding != crate::chunkenc::ENCODING_XOR {
        return Err(Error::Other(format!(
            "chunk {:#x}: unsupported chunk encoding {encoding} (only XOR = 1 is supported)",
            meta.chunk_ref
        )));
    }
    crate::chunkenc::decode_range_into(bytes, mint, maxt, out).map_err(|e| {
        Error::Other(format!("decoding chunk {:#x} [{}, {}]: {e}", meta.chunk_ref, meta.min_time, meta.max_time))
    })
}

/// True when some tombstone interval covers the whole closed range `[mint, maxt]`.
pub(crate) fn fully_deleted(intervals: &[Interval], mint: Timestamp, maxt: Timestamp) -> bool {
    intervals.iter().any(|iv| iv.mint <= mint && maxt <= iv.maxt)
}

/// Is `t` inside one of the sorted intervals?
pub(crate) fn is_deleted(intervals: &[Interval], t: Timestamp) -> bool {
    // Intervals are sorted and non-overlapping; few per series, a linear scan is fine but a
    // binary search costs nothing.
    let i = intervals.partition_point(|iv| iv.maxt < t);
    intervals.get(i).is_some_and(|iv| iv.contains(t))
}

/// Reads the series `id` of a reader: its labels and the chunk metas overlapping `[mint, maxt]`
/// that are not entirely deleted. Returns `None` when nothing is left.
pub(crate) fn series_chunks(
    index: &dyn IndexReader,
    tombstones: &dyn TombstoneReader,
    id: u32,
    mint: Timestamp,
    maxt: Timestamp,
    metas: &mut Vec<ChunkMeta>,
) -> Result<(Labels, Vec<Interval>)> {
    let labels = index.series(id, metas)?;
    let intervals = tombstones.intervals(id);
    metas.retain(|m| m.max_time >= mint && m.min_time <= maxt && !fully_deleted(&intervals, m.min_time, m.max_time));
    Ok((labels, intervals))
}

/// A querier over one [`BlockReader`] for samples with `mint <= t <= maxt`.
pub struct BlockQuerier {
    index: Arc<dyn IndexReader>,
    chunks: Arc<dyn ChunkReader>,
    tombstones: Arc<dyn TombstoneReader>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl BlockQuerier {
    pub fn new(reader: &dyn BlockReader, mint: Timestamp, maxt: Timestamp) -> Result<Self> {
        Ok(BlockQuerier {
            index: reader.index()?,
            chunks: reader.chunks()?,
            tombstones: reader.tombstones()?,
            mint,
            maxt,
        })
    }

    fn matching_ids(&self, matchers: &[Matcher]) -> Result<RoaringBitmap> {
        if matchers.is_empty() {
            return self.index.all_postings();
        }
        crate::index::postings_for_matchers(&*self.index, matchers)
    }
}

impl Querier for BlockQuerier {
    fn select(&self, sorted: bool, hints: Option<&SelectHints>, matchers: &[Matcher]) -> Result<SeriesSet> {
        let (mut mint, mut maxt) = (self.mint, self.maxt);
        if let Some(h) = hints
            && !(h.start == 0 && h.end == 0)
        {
            // Hints can only narrow the querier's range (all-zero hints are "unset").
            mint = mint.max(h.start);
            maxt = maxt.min(h.end);
        }
        let ids = self.matching_ids(matchers)?;
        let ids: Vec<u32> = if sorted { self.index.sorted_ids(&ids)? } else { ids.iter().collect() };
        Ok(Box::new(BlockSeriesSet {
            ids: ids.into_iter(),
            matchers: matchers.to_vec(),
            index: self.index.clone(),
            chunks: self.chunks.clone(),
            tombstones: self.tombstones.clone(),
            mint,
            maxt,
            metas: Vec::new(),
        }))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            return self.index.label_names();
        }
        let ids = self.matching_ids(matchers)?;
        let mut names = std::collections::BTreeSet::new();
        let mut metas = Vec::new();
        for id in ids.iter() {
            let labels = self.index.series(id, &mut metas)?;
            for l in labels.iter() {
                if !names.contains(&*l.name) {
                    names.insert(l.name.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        if matchers.is_empty() {
            return self.index.label_values(name);
        }
        let ids = self.matching_ids(matchers)?;
        let mut values = std::collections::BTreeSet::new();
        let mut metas = Vec::new();
        for id in ids.iter() {
            let labels = self.index.series(id, &mut metas)?;
            let v = labels.get(name);
            if !v.is_empty() && !values.contains(v) {
                values.insert(v.to_string());
            }
        }
        Ok(values.into_iter().collect())
    }
}

/// The lazily built series of one [`BlockQuerier::select`].
struct BlockSeriesSet {
    ids: std::vec::IntoIter<u32>,
    matchers: Vec<Matcher>,
    index: Arc<dyn IndexReader>,
    chunks: Arc<dyn ChunkReader>,
    tombstones: Arc<dyn TombstoneReader>,
    mint: Timestamp,
    maxt: Timestamp,
    metas: Vec<ChunkMeta>,
}

impl Iterator for BlockSeriesSet {
    type Item = Result<Series>;

    fn next(&mut self) -> Option<Result<Series>> {
        for id in self.ids.by_ref() {
            let (labels, intervals) =
                match series_chunks(&*self.index, &*self.tombstones, id, self.mint, self.maxt, &mut self.metas) {
                    Ok(x) => x,
                    Err(e) => return Some(Err(e)),
                };
            // Postings already applied the matchers; checking again is cheap and guards
            // against an index that over-approximates.
            if self.metas.is_empty() || !matches_all(&self.matchers, &labels) {
                continue;
            }
            let mut it = ChunkSeriesIterator::new(
                self.chunks.clone(),
                std::mem::take(&mut self.metas),
                intervals,
                self.mint,
                self.maxt,
            );
            // Peek: a series whose samples all fall outside the range or inside tombstones is
            // not part of the answer.
            if !it.prime() {
                if let Some(e) = it.err.take() {
                    return Some(Err(e));
                }
                continue;
            }
            return Some(Ok(Series { labels, samples: Box::new(it) }));
        }
        None
    }
}

/// The samples of one series from its chunks: lazily decoded, overlapping chunks merged,
/// trimmed to `[mint, maxt]`, tombstoned samples dropped.
pub struct ChunkSeriesIterator {
    reader: Arc<dyn ChunkReader>,
    metas: Vec<ChunkMeta>,
    /// Index of the first chunk not yet decoded.
    next_chunk: usize,
    intervals: Vec<Interval>,
    mint: Timestamp,
    maxt: Timestamp,
    /// Samples of the current group of overlapping chunks (filtered).
    buf: Vec<Sample>,
    /// Index in `buf` of the next sample to return.
    pos: usize,
    /// The last sample returned (what `seek` may return again).
    last: Option<Sample>,
    err: Option<Error>,
}

impl ChunkSeriesIterator {
    /// `metas` must be sorted by min time (as [`IndexReader::series`] returns them).
    pub fn new(
        reader: Arc<dyn ChunkReader>,
        mut metas: Vec<ChunkMeta>,
        intervals: Vec<Interval>,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Self {
        metas.sort_by_key(|m| (m.min_time, m.max_time));
        ChunkSeriesIterator {
            reader,
            metas,
            next_chunk: 0,
            intervals,
            mint,
            maxt,
            buf: Vec::new(),
            pos: 0,
            last: None,
            err: None,
        }
    }

    /// Makes sure a sample is buffered; false when the series is exhausted (or failed).
    fn prime(&mut self) -> bool {
        while self.pos >= self.buf.len() {
            if !self.load_group(Timestamp::MIN) {
                return false;
            }
        }
        true
    }

    /// The end of the group of mutually overlapping chunks starting at `next_chunk`, and the
    /// group's max time.
    fn group_end(&self) -> (usize, Timestamp) {
        let mut end = self.next_chunk;
        let mut gmax = Timestamp::MIN;
        while end < self.metas.len() && (end == self.next_chunk || self.metas[end].min_time <= gmax) {
            gmax = gmax.max(self.metas[end].max_time);
            end += 1;
        }
        (end, gmax)
    }

    /// Decodes the next group of overlapping chunks whose max time is `>= min_t` (skipping
    /// earlier groups without decoding them). Returns false at the end or on error.
    fn load_group(&mut self, min_t: Timestamp) -> bool {
        if self.err.is_some() {
            return false;
        }
        loop {
            if self.next_chunk >= self.metas.len() {
                self.buf.clear();
                self.pos = 0;
                return false;
            }
            let (end, gmax) = self.group_end();
            if gmax < min_t || gmax < self.mint {
                self.next_chunk = end;
                continue;
            }
            let group = self.next_chunk..end;
            self.next_chunk = end;
            self.buf.clear();
            self.pos = 0;
            // Trimmed to the range while decoding, straight from the reader's bytes into the
            // reused buffer (no copy of the chunk, no per-chunk allocation).
            let (mint, maxt) = (self.mint.max(min_t), self.maxt);
            for i in group.clone() {
                let meta = self.metas[i];
                if meta.max_time < mint || meta.min_time > maxt {
                    // Entirely outside the range: not even read.
                    continue;
                }
                let buf = &mut self.buf;
                let res = self
                    .reader
                    .with_chunk(&meta, &mut |enc, bytes| decode_chunk_into(&meta, enc, bytes, mint, maxt, buf));
                if let Err(e) = res {
                    self.err = Some(e);
                    self.buf.clear();
                    return false;
                }
            }
            if group.len() > 1 {
                // Stable sort keeps the earlier chunk's sample first; dedup keeps that one.
                self.buf.sort_by_key(|s| s.t);
                self.buf.dedup_by_key(|s| s.t);
            }
            if !self.intervals.is_empty() {
                let intervals = &self.intervals;
                self.buf.retain(|s| !is_deleted(intervals, s.t));
            }
            // A chunk's own samples must be increasing; a corrupt chunk must not break the
            // iterator's contract.
            if self.buf.windows(2).any(|w| w[0].t >= w[1].t) {
                self.buf.sort_by_key(|s| s.t);
                self.buf.dedup_by_key(|s| s.t);
            }
            if let Some(l) = self.last {
                // Groups do not overlap, but stay strictly increasing whatever the metas say.
                self.buf.retain(|s| s.t > l.t);
            }
            if !self.buf.is_empty() {
                return true;
            }
        }
    }
}

impl SampleIterator for ChunkSeriesIterator {
    fn next(&mut self) -> Option<Sample> {
        if !self.prime() {
            return None;
        }
        let s = self.buf[self.pos];
        self.pos += 1;
        self.last = Some(s);
        Some(s)
    }

    fn seek(&mut self, ts: Timestamp) -> Option<Sample> {
        if let Some(l) = self.last
            && l.t >= ts
        {
            return Some(l);
        }
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let i = rest.partition_point(|s| s.t < ts);
        self.pos += i;
        if self.pos >= self.buf.len() && !self.load_group(ts) {
            return None;
        }
        self.next()
    }

    fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }
}

#[cfg(test)]
pub(crate) mod tests;
