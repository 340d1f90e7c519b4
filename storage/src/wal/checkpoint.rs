//! Replaying the WAL and checkpointing it.
//!
//! A checkpoint `checkpoint.N/` holds, in the segment format, the records of the previous
//! checkpoint and of segments `..=N` that a filter kept. It is written as `checkpoint.N.tmp/`,
//! fsync'd and renamed, so a crash leaves either the old state or the new one (open removes
//! `.tmp` leftovers and finishes deleting covered segments). Replay reads the latest checkpoint,
//! then the segments after it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Shared;
use super::record::Record;
use super::segment::{
    Corruption, SegmentWriter, Step, checkpoint_name, fsync_dir, list_checkpoints, list_segments, read_segment,
};
use crate::error::{Error, Result};

/// What [`replay`] read.
#[derive(Clone, Debug, Default)]
pub struct ReplayStats {
    /// The checkpoint replayed first, if any.
    pub checkpoint: Option<u32>,
    /// WAL segments read (after the checkpoint).
    pub segments_read: u32,
    /// The last WAL segment read.
    pub last_segment: Option<u32>,
    pub records: u64,
    pub series: u64,
    pub samples: u64,
    pub tombstones: u64,
    /// Records of other Prometheus types (exemplars, metadata, histograms, ...) skipped: a
    /// Prometheus WAL may hold them, and they are valid, just not kept by tickdb.
    pub skipped_records: u64,
    /// The corruption replay stopped at; everything before it was replayed. Pass the stats to
    /// [`super::Wal::open_after_replay`] to repair it.
    pub corruption: Option<Corruption>,
    pub duration: Duration,
}

/// What a checkpoint did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// The new checkpoint's index (the last segment it covers).
    pub index: u32,
    /// The previous checkpoint folded into it.
    pub from_checkpoint: Option<u32>,
    pub segments_read: u32,
    pub records_read: u64,
    pub records_kept: u64,
    pub bytes_written: u64,
    pub segments_deleted: u32,
    pub checkpoints_deleted: u32,
}

/// Replays the WAL in `dir`: the latest checkpoint, then the segments after it, in order,
/// calling `f` for each record. Stops at the first corruption (a bad fragment, a torn record,
/// an undecodable record, a missing segment) and reports it in [`ReplayStats::corruption`].
/// I/O errors and errors from `f` are returned as `Err`. A missing `dir` is an empty WAL.
pub fn replay(dir: &Path, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<ReplayStats> {
    let t0 = Instant::now();
    let mut stats = ReplayStats::default();
    if !dir.exists() {
        return Ok(stats);
    }
    if let Some((ci, cpath)) = list_checkpoints(dir)?.pop() {
        stats.checkpoint = Some(ci);
        let mut cp = ReplayStats::default();
        read_segments(&list_segments(&cpath)?, f, &mut cp)?;
        stats.records = cp.records;
        stats.series = cp.series;
        stats.samples = cp.samples;
        stats.tombstones = cp.tombstones;
        if cp.corruption.is_some() {
            stats.corruption = cp.corruption;
            stats.duration = t0.elapsed();
            return Ok(stats);
        }
    }
    let segs: Vec<(u32, PathBuf)> =
        list_segments(dir)?.into_iter().filter(|(i, _)| stats.checkpoint.is_none_or(|c| *i > c)).collect();
    read_segments(&segs, f, &mut stats)?;
    stats.duration = t0.elapsed();
    Ok(stats)
}

/// Record counters of one segment.
struct Counts {
    records: u64,
    series: u64,
    samples: u64,
    tombstones: u64,
}

fn count_and_call(c: &mut Counts, r: Record, f: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
    c.records += 1;
    match &r {
        Record::Series(s) => c.series += s.len() as u64,
        Record::Samples(s) => c.samples += s.len() as u64,
        Record::Tombstones(s) => c.tombstones += s.len() as u64,
    }
    f(r)
}

/// Record types Prometheus writes that tickdb does not keep (tsdb/record): exemplars (4), mmap
/// markers (5), metadata (6), histogram samples (7-10), samples V2 and histograms V2 (11-13).
const OTHER_PROMETHEUS_TYPES: std::ops::RangeInclusive<u8> = 4..=13;

/// Reads `segs` in order (they must be consecutive), decoding records and passing them to `f`.
/// Fills the segment and record counts and the corruption of `stats`.
pub(crate) fn read_segments(
    segs: &[(u32, PathBuf)],
    f: &mut dyn FnMut(Record) -> Result<()>,
    stats: &mut ReplayStats,
) -> Result<()> {
    let mut prev: Option<(u32, &PathBuf)> = None;
    for (i, p) in segs {
        if let Some((pi, pp)) = prev
            && *i != pi + 1
        {
            // The segments after a gap cannot be replayed in order: the log ends before it.
            let len = fs::metadata(pp).map_err(|e| Error::io("stat segment", pp, e))?.len();
            stats.corruption = Some(Corruption {
                segment: pi,
                path: pp.clone(),
                offset: len,
                what: format!("missing segment(s) before {i}"),
            });
            return Ok(());
        }
        prev = Some((*i, p));
        let mut counts = Counts { records: 0, series: 0, samples: 0, tombstones: 0 };
        let mut skipped = 0u64;
        let (_, c) = read_segment(*i, p, &mut |rec| match Record::decode(rec) {
            Err(_) if rec.first().is_some_and(|t| OTHER_PROMETHEUS_TYPES.contains(t)) => {
                skipped += 1;
                Ok(Step::Continue)
            }
            Ok(r) => {
                count_and_call(&mut counts, r, f)?;
                Ok(Step::Continue)
            }
            Err(e) => Ok(Step::Corrupt(format!("invalid record: {e}"))),
        })?;
        stats.records += counts.records;
        stats.series += counts.series;
        stats.samples += counts.samples;
        stats.tombstones += counts.tombstones;
        stats.skipped_records += skipped;
        stats.segments_read += 1;
        stats.last_segment = Some(*i);
        if c.is_some() {
            stats.corruption = c;
            return Ok(());
        }
    }
    Ok(())
}

pub(crate) fn checkpoint(
    shared: &Shared,
    last: u32,
    keep: &mut dyn FnMut(&Record) -> Option<Record>,
) -> Result<CheckpointStats> {
    let dir = &shared.dir;
    let active = shared.writer.lock().seg.index;
    if last >= active {
        return Err(Error::InvalidArgument(format!(
            "cannot checkpoint segment {last}: segment {active} is being written (cut first)"
        )));
    }
    let cps = list_checkpoints(dir)?;
    let prev = cps.last().cloned();
    if let Some((ci, _)) = &prev
        && *ci >= last
    {
        return Err(Error::InvalidArgument(format!("checkpoint {ci} already covers segment {last}")));
    }
    let mut stats =
        CheckpointStats { index: last, from_checkpoint: prev.as_ref().map(|(i, _)| *i), ..Default::default() };

    let tmp = dir.join(format!("{}.tmp", checkpoint_name(last)));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove dir", &tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| Error::io("create dir", &tmp, e))?;
    let written = write_checkpoint(shared, &tmp, prev.as_ref(), last, keep, &mut stats);
    if let Err(e) = written {
        if let Err(re) = fs::remove_dir_all(&tmp) {
            tracing::warn!(error = %re, path = %tmp.display(), "removing failed checkpoint");
        }
        return Err(e);
    }
    let final_dir = dir.join(checkpoint_name(last));
    fs::rename(&tmp, &final_dir).map_err(|e| Error::io("rename checkpoint", &tmp, e))?;
    fsync_dir(dir)?;

    // The checkpoint is durable: drop what it covers. Failures here only leave garbage that
    // replay skips and the next open removes.
    for (i, p) in list_segments(dir)? {
        if i <= last {
            match fs::remove_file(&p) {
                Ok(()) => stats.segments_deleted += 1,
                Err(e) => tracing::warn!(error = %e, path = %p.display(), "deleting checkpointed WAL segment"),
            }
        }
    }
    for (i, p) in &cps {
        if *i < last {
            match fs::remove_dir_all(p) {
                Ok(()) => stats.checkpoints_deleted += 1,
                Err(e) => tracing::warn!(error = %e, path = %p.display(), "deleting old WAL checkpoint"),
            }
        }
    }
    let remaining = list_segments(dir)?.into_iter().map(|(i, _)| i).find(|&i| i > last);
    let mut w = shared.writer.lock();
    w.first = remaining.unwrap_or(w.seg.index).min(w.seg.index);
    Ok(stats)
}

fn write_checkpoint(
    shared: &Shared,
    tmp: &Path,
    prev: Option<&(u32, PathBuf)>,
    last: u32,
    keep: &mut dyn FnMut(&Record) -> Option<Record>,
    stats: &mut CheckpointStats,
) -> Result<()> {
    let seg_size = shared.opts.segment_size;
    let mut sources: Vec<Vec<(u32, PathBuf)>> = Vec::new();
    if let Some((_, p)) = prev {
        sources.push(list_segments(p)?);
    }
    let after = prev.map(|(i, _)| *i);
    sources.push(
        list_segments(&shared.dir)?.into_iter().filter(|(i, _)| after.is_none_or(|a| *i > a) && *i <= last).collect(),
    );

    let mut cw = SegmentWriter::create(tmp, 0)?;
    let mut buf = Vec::new();
    for segs in &sources {
        let mut rs = ReplayStats::default();
        read_segments(
            segs,
            &mut |r| {
                stats.records_read += 1;
                let Some(k) = keep(&r) else {
                    return Ok(());
                };
                buf.clear();
                k.encode(&mut buf);
                if !cw.fits(buf.len(), seg_size) && !cw.is_empty() {
                    cw.pad().map_err(|e| Error::io("write checkpoint", &cw.path, e))?;
                    cw.file.sync_data().map_err(|e| Error::io("fsync checkpoint", &cw.path, e))?;
                    cw = SegmentWriter::create(tmp, cw.index + 1)?;
                }
                cw.write_record(&buf).map_err(|e| Error::io("write checkpoint", &cw.path, e))?;
                stats.records_kept += 1;
                stats.bytes_written += buf.len() as u64;
                Ok(())
            },
            &mut rs,
        )?;
        if let Some(c) = rs.corruption {
            return Err(c.to_error());
        }
        if segs.first().is_some_and(|(_, p)| p.parent() == Some(shared.dir.as_path())) {
            stats.segments_read += rs.segments_read;
        }
    }
    cw.flush().map_err(|e| Error::io("write checkpoint", &cw.path, e))?;
    cw.file.sync_data().map_err(|e| Error::io("fsync checkpoint", &cw.path, e))?;
    fsync_dir(tmp)
}
