//! Opening a head from its data dir, and the head's WAL writes.
//!
//! Start-up ([`open`]):
//! 1. scan `chunks_head/` (repairing corruption, see `chunk_mapper.rs`) and group the chunks by
//!    series ref;
//! 2. replay the WAL (latest checkpoint, then the segments after it): a series record recreates
//!    the series with its old id and attaches its mapped chunks; a sample newer than everything
//!    replayed so far for its series is skipped if a mapped chunk already holds it (`t <=` the
//!    last mapped chunk's max time) and appended otherwise; a sample older than that was
//!    out-of-order when it was written and goes back into the out-of-order buffer; tombstone
//!    records are re-applied. Samples older than [`HeadOptions::min_valid_time`] (in blocks
//!    already) are skipped. Samples whose series record comes later in the log (two concurrent
//!    commits) wait for it;
//! 3. open the WAL for writing after what was replayed (a torn tail is cut off there).
//!
//! Commits log the series records of new series and all samples in one [`Wal::log`] call.
//! [`checkpoint`] (on truncation) cuts a segment and rewrites all closed segments into a
//! checkpoint keeping the series records of live series, samples at or after the truncation
//! time and the tombstones of live series.

use std::sync::Arc;

use crate::error::Result;
use crate::head::chunk_mapper::{ChunkDiskMapper, MappedChunk, OOO_MASK};
use crate::head::postings::FxMap;
use crate::head::series::Verdict;
use crate::head::{CHUNKS_HEAD_DIR, Head, HeadOptions, WAL_DIR, add_interval};
use crate::labels::Labels;
use crate::reader::Interval;
use crate::storage::Timestamp;
use crate::wal::record::{encode_samples, encode_series, encode_tombstones};
use crate::wal::{Record, RefSample, RefSeries, Stone, Wal, WalOptions};

/// Per-series state while replaying.
#[derive(Clone, Copy)]
struct ReplaySeries {
    id: u32,
    /// Newest timestamp seen in the log for this series.
    max_seen: Timestamp,
    /// Max time of the last mapped chunk (samples up to it are in the chunk files).
    mapped_max: Timestamp,
}

struct Replayer<'a> {
    head: &'a Head,
    mapped: FxMap<u64, Vec<MappedChunk>>,
    series: FxMap<u64, ReplaySeries>,
    /// Samples whose series record was not seen yet.
    waiting: FxMap<u64, Vec<(Timestamp, f64)>>,
    samples: u64,
    skipped: u64,
}

impl Replayer<'_> {
    fn series_record(&mut self, s: &RefSeries) {
        let Ok(want) = u32::try_from(s.ref_) else {
            tracing::warn!(series_ref = s.ref_, "WAL series ref does not fit a head id; skipped");
            return;
        };
        // Never hand out an id the log already used, even for a ref that maps onto another.
        self.head.next_id.fetch_max(want.saturating_add(1), std::sync::atomic::Ordering::Relaxed);
        let labels = s.labels.clone();
        let (id, _) = match self.head.get_or_create(&labels, labels.hash64(), Some(want)) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(series = %labels, error = %e, "cannot recreate series from the WAL");
                return;
            }
        };
        let mut mapped_max = i64::MIN;
        if id == want
            && let Some(chunks) = self.mapped.remove(&s.ref_)
        {
            let min_valid = self.head.min_valid_time();
            let mut n = 0;
            let mut kept_min = None;
            self.head.series.with(id, |ms| {
                for c in chunks.iter().filter(|c| c.encoding & OOO_MASK == 0 && c.maxt >= min_valid) {
                    let before = ms.closed.len();
                    ms.push_mapped(c.chunk_ref, c.mint, c.maxt);
                    n += ms.closed.len() - before;
                    kept_min.get_or_insert(c.mint);
                }
                if let Some(last) = ms.closed.last() {
                    mapped_max = last.maxt;
                }
            });
            self.head.chunk_created(n as i64);
            // Only chunks kept count: older ones (persisted in blocks, still in a chunk file
            // that holds newer chunks too) must not pull the head's min time back.
            if let Some(mint) = kept_min {
                self.head.note_time(mint);
            }
            if mapped_max > i64::MIN {
                self.head.note_time(mapped_max);
            }
        }
        let prev = self.series.insert(s.ref_, ReplaySeries { id, max_seen: i64::MIN, mapped_max });
        if let Some(p) = prev
            && p.id == id
        {
            // A repeated record of the same series: keep what was replayed.
            self.series.insert(s.ref_, ReplaySeries { mapped_max: p.mapped_max.max(mapped_max), ..p });
        }
        if let Some(w) = self.waiting.remove(&s.ref_) {
            for (t, v) in w {
                self.sample(s.ref_, t, v);
            }
        }
    }

    fn sample(&mut self, r: u64, t: Timestamp, v: f64) {
        let Some(rs) = self.series.get_mut(&r) else {
            self.waiting.entry(r).or_default().push((t, v));
            return;
        };
        if t < self.head.min_valid_time() {
            self.skipped += 1;
            return;
        }
        let id = rs.id;
        if t > rs.max_seen {
            rs.max_seen = t;
            if t <= rs.mapped_max {
                // Already in a mapped chunk.
                return;
            }
            match self.head.apply_sample(id, t, v) {
                Ok(_) => self.samples += 1,
                Err(_) => self.skipped += 1,
            }
        } else {
            // It was out of order when written: back into the out-of-order buffer, whatever the
            // window is now.
            let stored = self.head.series.with(id, |s| match s.check(t, v, i64::MAX, None) {
                Ok(Verdict::OutOfOrder) => s.insert_ooo(t, v),
                _ => false,
            });
            if stored == Some(true) {
                self.head.note_time(t);
                self.samples += 1;
            }
        }
    }

    fn tombstones(&mut self, stones: &[Stone]) {
        let mut ts = self.head.tombstones.write();
        for st in stones {
            let Some(rs) = self.series.get(&st.ref_) else { continue };
            for iv in &st.intervals {
                add_interval(ts.entry(rs.id).or_default(), *iv);
            }
        }
    }
}

/// Opens a head as described in the module docs.
pub(crate) fn open(opts: HeadOptions) -> Result<Arc<Head>> {
    let Some(dir) = opts.dir.clone() else {
        let head = Head::new_empty(opts, None, None);
        head.set_min_valid_time(head.opts.min_valid_time);
        return Ok(Arc::new(head));
    };
    let (mapper, chunks) = ChunkDiskMapper::open(&dir.join(CHUNKS_HEAD_DIR))?;
    let mut mapped: FxMap<u64, Vec<MappedChunk>> = FxMap::default();
    for c in chunks {
        mapped.entry(c.series_ref).or_default().push(c);
    }
    let wal_dir = dir.join(WAL_DIR);
    let wal_opts = WalOptions {
        segment_size: opts.wal_segment_size,
        fsync: opts.fsync,
        compression: opts.wal_compression,
        registry: Some(opts.registry.clone()),
    };
    let mut head = Head::new_empty(opts, None, Some(mapper));
    head.set_min_valid_time(head.opts.min_valid_time);
    let started = std::time::Instant::now();
    let mut rp =
        Replayer { head: &head, mapped, series: FxMap::default(), waiting: FxMap::default(), samples: 0, skipped: 0 };
    let stats = if wal_dir.exists() {
        Some(crate::wal::replay(&wal_dir, &mut |rec: Record| {
            match rec {
                Record::Series(v) => v.iter().for_each(|s| rp.series_record(s)),
                Record::Samples(v) => v.iter().for_each(|s| rp.sample(s.ref_, s.t, s.v)),
                Record::Tombstones(v) => rp.tombstones(&v),
            }
            Ok(())
        })?)
    } else {
        None
    };
    let waiting: usize = rp.waiting.values().map(Vec::len).sum();
    if waiting > 0 {
        tracing::warn!(samples = waiting, "WAL samples of unknown series dropped");
    }
    let (replayed, skipped, unused_chunks) = (rp.samples, rp.skipped, rp.mapped.values().map(Vec::len).sum::<usize>());
    drop(rp);
    // Series left without data (all of it older than the min valid time) are dropped.
    let empty: Vec<u32> =
        head.series.ids().into_iter().filter(|&id| head.series.with(id, |s| s.is_empty()) == Some(true)).collect();
    for id in &empty {
        head.remove_series(*id);
    }
    tracing::info!(
        series = head.num_series(),
        samples = replayed,
        skipped,
        unused_chunks,
        removed_empty = empty.len(),
        other_records_skipped = stats.as_ref().map_or(0, |s| s.skipped_records),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "head replayed"
    );
    let wal = match &stats {
        Some(st) => Wal::open_after_replay(&wal_dir, wal_opts, st)?,
        None => Wal::open(&wal_dir, wal_opts)?,
    };
    head.wal = Some(wal);
    Ok(Arc::new(head))
}

/// Logs a commit: the series records of new series, then the samples, in one call.
/// Logs one commit's new series and samples; `sync`: wait for durability per the fsync policy.
pub(crate) fn log_commit(
    wal: &Wal,
    series: &[(u32, Labels)],
    samples: &[(u32, Timestamp, f64)],
    sync: bool,
) -> Result<()> {
    let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(2);
    if !series.is_empty() {
        let recs: Vec<RefSeries> =
            series.iter().map(|(id, l)| RefSeries { ref_: *id as u64, labels: l.clone() }).collect();
        let mut b = Vec::new();
        encode_series(&recs, &mut b);
        bufs.push(b);
    }
    if !samples.is_empty() {
        let recs: Vec<RefSample> = samples.iter().map(|&(id, t, v)| RefSample { ref_: id as u64, t, v }).collect();
        let mut b = Vec::with_capacity(17 + recs.len() * 12);
        encode_samples(&recs, &mut b);
        bufs.push(b);
    }
    let refs: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
    if sync { wal.log(&refs) } else { wal.log_unsynced(&refs) }
}

/// Logs a deletion.
pub(crate) fn log_tombstones(wal: &Wal, ids: &[u32], iv: Interval) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let stones: Vec<Stone> = ids.iter().map(|&id| Stone { ref_: id as u64, intervals: vec![iv] }).collect();
    let mut b = Vec::new();
    encode_tombstones(&stones, &mut b);
    wal.log(&[&b])
}

/// Checkpoints every closed segment after cutting the active one (see the module docs).
pub(crate) fn checkpoint(head: &Head, wal: &Wal, mint: Timestamp) -> Result<()> {
    let active = wal.cut_segment()?;
    let Some(last) = active.checked_sub(1) else { return Ok(()) };
    let live = |r: u64| u32::try_from(r).is_ok_and(|id| head.series.with(id, |_| ()).is_some());
    let stats = wal.checkpoint(last, &mut |rec: &Record| match rec {
        Record::Series(v) => {
            let kept: Vec<RefSeries> = v.iter().filter(|s| live(s.ref_)).cloned().collect();
            (!kept.is_empty()).then_some(Record::Series(kept))
        }
        Record::Samples(v) => {
            let kept: Vec<RefSample> = v.iter().filter(|s| s.t >= mint && live(s.ref_)).copied().collect();
            (!kept.is_empty()).then_some(Record::Samples(kept))
        }
        Record::Tombstones(v) => {
            let kept: Vec<Stone> = v
                .iter()
                .filter(|s| live(s.ref_))
                .filter_map(|s| {
                    let ivs: Vec<Interval> = s.intervals.iter().filter(|iv| iv.maxt >= mint).copied().collect();
                    (!ivs.is_empty()).then_some(Stone { ref_: s.ref_, intervals: ivs })
                })
                .collect();
            (!kept.is_empty()).then_some(Record::Tombstones(kept))
        }
    })?;
    tracing::debug!(?stats, mint, "WAL checkpoint written");
    Ok(())
}
