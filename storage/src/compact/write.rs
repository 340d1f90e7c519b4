//! The compaction itself: k-way merge of the sources' series by labels, chunk copy or
//! re-encode, one [`BlockWriter`].

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use ulid::Ulid;

use super::{CompactOutput, Progress, ProgressFn};
use crate::block::{BlockDesc, BlockMeta, BlockWriter};
use crate::chunkenc::{ENCODING_XOR, MAX_BYTES_PER_APPEND, MAX_BYTES_PER_XOR_CHUNK, SAMPLES_PER_CHUNK, XorEncoder};
use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::querier::{ChunkSeriesIterator, MergedSampleIterator, series_chunks};
use crate::reader::{BlockReader, ChunkData, ChunkMeta, ChunkReader, IndexReader, Interval, TombstoneReader};
use crate::storage::{SampleIterator, Timestamp};

/// One source's cursor over its series in label order.
struct Cursor {
    index: Arc<dyn IndexReader>,
    chunks: Arc<dyn ChunkReader>,
    tombstones: Arc<dyn TombstoneReader>,
    ids: std::vec::IntoIter<u32>,
    /// The current series: labels, chunk metas in range, tombstone intervals.
    cur: Option<(Labels, Vec<ChunkMeta>, Vec<Interval>)>,
}

impl Cursor {
    /// Moves to the next series that has chunks in `[mint, maxt]`. Returns the number of
    /// source series passed over (for progress).
    fn advance(&mut self, mint: Timestamp, maxt: Timestamp) -> Result<u64> {
        let mut passed = 0;
        self.cur = None;
        for id in self.ids.by_ref() {
            passed += 1;
            let mut metas = Vec::new();
            let (labels, intervals) = series_chunks(&*self.index, &*self.tombstones, id, mint, maxt, &mut metas)?;
            if !metas.is_empty() {
                self.cur = Some((labels, metas, intervals));
                break;
            }
        }
        Ok(passed)
    }
}

/// One source's part of a merged series.
struct Part {
    chunks: Arc<dyn ChunkReader>,
    metas: Vec<ChunkMeta>,
    intervals: Vec<Interval>,
}

pub(super) fn compact(
    dest_dir: &Path,
    sources: &[Arc<dyn BlockReader>],
    parents: &[BlockMeta],
    mint: Timestamp,
    maxt: Timestamp,
    progress: Option<ProgressFn<'_>>,
) -> Result<Option<CompactOutput>> {
    if maxt <= mint {
        return Err(Error::InvalidArgument(format!("compaction range [{mint}, {maxt}) is empty")));
    }
    // Samples with mint <= t <= last (block max times are exclusive).
    let last = maxt - 1;
    let mut cursors = Vec::with_capacity(sources.len());
    let mut total = 0u64;
    for s in sources {
        let index = s.index()?;
        let all = index.all_postings()?;
        total += all.len();
        let ids = index.sorted_ids(&all)?;
        cursors.push(Cursor {
            index,
            chunks: s.chunks()?,
            tombstones: s.tombstones()?,
            ids: ids.into_iter(),
            cur: None,
        });
    }
    let mut done = 0u64;
    for c in &mut cursors {
        done += c.advance(mint, last)?;
    }
    let report = |done: u64| {
        if let Some(p) = progress {
            p(Progress { series_done: done, series_total: total });
        }
    };
    report(done);

    let ulid = Ulid::new();
    let meta = new_meta(ulid, parents, mint, maxt);
    let mut writer = BlockWriter::new(dest_dir, meta)?;
    let (mut copied, mut reencoded, mut series) = (0u64, 0u64, 0u64);
    let mut last_report = done;
    loop {
        // The smallest current labels.
        let mut min: Option<&Labels> = None;
        for c in &cursors {
            if let Some((l, _, _)) = &c.cur
                && min.is_none_or(|m| l.cmp(m) == Ordering::Less)
            {
                min = Some(l);
            }
        }
        let Some(labels) = min.cloned() else { break };
        let mut parts = Vec::new();
        for c in &mut cursors {
            if c.cur.as_ref().is_some_and(|(l, _, _)| *l == labels) {
                if let Some((_, metas, intervals)) = c.cur.take() {
                    parts.push(Part { chunks: c.chunks.clone(), metas, intervals });
                }
                done += c.advance(mint, last)?;
            }
        }
        let chunks = match copy_chunks(&parts, mint, last)? {
            Some(c) => {
                copied += c.len() as u64;
                c
            }
            None => {
                let c = reencode(&parts, mint, last)?;
                reencoded += c.len() as u64;
                c
            }
        };
        if !chunks.is_empty() {
            writer.add_series(labels, chunks)?;
            series += 1;
        }
        if done - last_report >= 1000 {
            last_report = done;
            report(done);
        }
    }
    report(total);
    if series == 0 {
        // Dropping an unfinished writer removes its temporary directory.
        drop(writer);
        return Ok(None);
    }
    let meta = writer.finish()?;
    Ok(Some(CompactOutput {
        dir: dest_dir.join(meta.ulid.to_string()),
        meta,
        chunks_copied: copied,
        chunks_reencoded: reencoded,
    }))
}

/// The chunks of a series copied unchanged, when that is correct: no tombstone touches them,
/// they lie inside the range, and they do not overlap one another (also across sources, e.g.
/// the same series in adjacent blocks). `None` when the samples must be re-encoded.
fn copy_chunks(parts: &[Part], mint: Timestamp, last: Timestamp) -> Result<Option<Vec<(ChunkMeta, ChunkData)>>> {
    let mut all: Vec<(usize, ChunkMeta)> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        for m in &p.metas {
            if m.min_time < mint || m.max_time > last || m.min_time > m.max_time {
                return Ok(None);
            }
            if p.intervals.iter().any(|iv| iv.mint <= m.max_time && m.min_time <= iv.maxt) {
                return Ok(None);
            }
            all.push((i, *m));
        }
    }
    all.sort_by_key(|(_, m)| (m.min_time, m.max_time));
    if all.windows(2).any(|w| w[0].1.max_time >= w[1].1.min_time) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(all.len());
    for (i, m) in all {
        let data = parts[i].chunks.chunk(&m)?;
        if data.encoding != ENCODING_XOR || data.bytes.len() < 2 {
            return Ok(None);
        }
        out.push((m, data));
    }
    Ok(Some(out))
}

/// Merges the parts' samples and cuts fresh XOR chunks.
fn reencode(parts: &[Part], mint: Timestamp, last: Timestamp) -> Result<Vec<(ChunkMeta, ChunkData)>> {
    let iters: Vec<Box<dyn SampleIterator>> = parts
        .iter()
        .map(|p| {
            Box::new(ChunkSeriesIterator::new(p.chunks.clone(), p.metas.clone(), p.intervals.clone(), mint, last))
                as Box<dyn SampleIterator>
        })
        .collect();
    let mut it = MergedSampleIterator::new(iters);
    let mut cutter = ChunkCutter::default();
    while let Some(s) = it.next() {
        cutter.push(s.t, s.v);
    }
    if let Some(e) = it.err() {
        return Err(Error::Other(format!("compaction: reading samples: {e}")));
    }
    Ok(cutter.finish())
}

/// Cuts increasing samples into XOR chunks of at most 120 samples (and under Prometheus's
/// 1 KiB chunk size cap).
#[derive(Default)]
pub(crate) struct ChunkCutter {
    out: Vec<(ChunkMeta, ChunkData)>,
    enc: XorEncoder,
    min: Timestamp,
    max: Timestamp,
}

impl ChunkCutter {
    /// Appends a sample; `t` must be greater than the previous one.
    pub fn push(&mut self, t: Timestamp, v: f64) {
        if self.enc.num_samples() >= SAMPLES_PER_CHUNK
            || self.enc.bytes().len() > MAX_BYTES_PER_XOR_CHUNK - MAX_BYTES_PER_APPEND
        {
            let enc = std::mem::take(&mut self.enc);
            self.out.push(finish_chunk(enc, self.min, self.max));
        }
        if self.enc.num_samples() == 0 {
            self.min = t;
        }
        self.enc.append(t, v);
        self.max = t;
    }

    pub fn finish(mut self) -> Vec<(ChunkMeta, ChunkData)> {
        if self.enc.num_samples() > 0 {
            self.out.push(finish_chunk(self.enc, self.min, self.max));
        }
        self.out
    }
}

fn finish_chunk(enc: XorEncoder, min_time: Timestamp, max_time: Timestamp) -> (ChunkMeta, ChunkData) {
    (ChunkMeta { chunk_ref: 0, min_time, max_time }, ChunkData { encoding: ENCODING_XOR, bytes: enc.into_bytes() })
}

/// The meta of the new block: level, sources and parents from the parents' metas.
fn new_meta(ulid: Ulid, parents: &[BlockMeta], mint: Timestamp, maxt: Timestamp) -> BlockMeta {
    let mut meta = BlockMeta::new(ulid, mint, maxt);
    if parents.is_empty() {
        meta.compaction.level = 1;
        meta.compaction.sources = vec![ulid];
    } else {
        meta.compaction.level = parents.iter().map(|p| p.compaction.level).max().unwrap_or(0) + 1;
        let mut sources: Vec<Ulid> = parents.iter().flat_map(|p| p.compaction.sources.iter().copied()).collect();
        sources.sort();
        sources.dedup();
        meta.compaction.sources = sources;
        meta.compaction.parents =
            parents.iter().map(|p| BlockDesc { ulid: p.ulid, min_time: p.min_time, max_time: p.max_time }).collect();
    }
    meta
}
