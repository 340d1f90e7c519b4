//! Backfill: writing samples straight into blocks (used by `tickdb tsdb import`).
//!
//! Matches `promtool tsdb create-blocks-from`: one block per `block_range`-aligned window that
//! holds samples (2h windows aligned to multiples of 2h by default), each block's time range
//! `[first sample, last sample + 1)` of that window, level 1. Samples of a series are sorted;
//! exact duplicates are dropped, while two different values at one timestamp are an error (as
//! promtool's appender reports them). The blocks may overlap blocks already in the data dir; the
//! database merges them at query time and compacts them vertically.

use std::collections::BTreeMap;
use std::path::Path;

use ulid::Ulid;

use super::range_start;
use crate::block::{BlockMeta, BlockWriter};
use crate::compact::write::ChunkCutter;
use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::storage::{Sample, Timestamp};

/// Writes `series` as blocks under `dir`, one per `block_range` window with samples. Returns
/// the metas of the blocks written, by time.
pub fn backfill(
    dir: &Path,
    series: impl IntoIterator<Item = (Labels, Vec<Sample>)>,
    block_range: i64,
) -> Result<Vec<BlockMeta>> {
    if block_range <= 0 {
        return Err(Error::InvalidArgument(format!("block range must be positive, got {block_range}ms")));
    }
    // Window start → labels → samples (sorted, unique timestamps).
    let mut windows: BTreeMap<Timestamp, BTreeMap<Labels, Vec<Sample>>> = BTreeMap::new();
    let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for (labels, samples) in series {
        merged.entry(labels).or_default().extend(samples);
    }
    for (labels, mut samples) in merged {
        samples.sort_by_key(|s| s.t);
        let mut uniq: Vec<Sample> = Vec::with_capacity(samples.len());
        for s in samples {
            if let Some(last) = uniq.last()
                && last.t == s.t
            {
                if last.v.to_bits() != s.v.to_bits() {
                    return Err(Error::InvalidArgument(format!(
                        "series {labels}: two different values at timestamp {} ({} and {})",
                        s.t, last.v, s.v
                    )));
                }
                continue;
            }
            uniq.push(s);
        }
        let mut i = 0;
        while i < uniq.len() {
            let start = range_start(uniq[i].t, block_range);
            let end = start.saturating_add(block_range);
            let n = uniq[i..].partition_point(|s| s.t < end);
            windows.entry(start).or_default().insert(labels.clone(), uniq[i..i + n].to_vec());
            i += n;
        }
    }
    let mut metas = Vec::new();
    for (_, series) in windows {
        let mint = series.values().filter_map(|s| s.first()).map(|s| s.t).min();
        let maxt = series.values().filter_map(|s| s.last()).map(|s| s.t).max();
        let (Some(mint), Some(maxt)) = (mint, maxt) else { continue };
        let meta = BlockMeta::new(Ulid::new(), mint, maxt.saturating_add(1));
        let mut w = BlockWriter::new(dir, meta)?;
        for (labels, samples) in series {
            let mut cutter = ChunkCutter::default();
            for s in &samples {
                cutter.push(s.t, s.v);
            }
            w.add_series(labels, cutter.finish())?;
        }
        metas.push(w.finish()?);
    }
    Ok(metas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matcher;
    use crate::labels;
    use crate::querier::BlockQuerier;
    use crate::storage::Querier;

    const H: i64 = 3600 * 1000;

    #[test]
    fn aligned_blocks_like_promtool() {
        let d = tempfile::tempdir().unwrap();
        let s = |t: i64| Sample::new(t, t as f64);
        let series = vec![
            (labels! {"__name__" => "a"}, vec![s(H), s(2 * H - 1), s(2 * H), s(5 * H + 3)]),
            (labels! {"__name__" => "b"}, vec![s(3 * H), s(H + 5), s(H + 5)]),
        ];
        let metas = backfill(d.path(), series, 2 * H).unwrap();
        let ranges: Vec<(i64, i64)> = metas.iter().map(|m| (m.min_time, m.max_time)).collect();
        assert_eq!(ranges, [(H, 2 * H), (2 * H, 3 * H + 1), (5 * H + 3, 5 * H + 4)]);
        assert!(metas.iter().all(|m| m.compaction.level == 1));
        assert_eq!(metas[0].stats.num_samples, 3);
        // Read one back.
        let b = crate::block::Block::open(&d.path().join(metas[1].ulid.to_string())).unwrap();
        let q = BlockQuerier::new(&b, i64::MIN, i64::MAX).unwrap();
        let got: Vec<(String, usize)> = q
            .select(true, None, &[Matcher::regex("__name__", ".+").unwrap()])
            .unwrap()
            .map(|s| {
                let s = s.unwrap();
                (s.labels.to_string(), s.collect_samples().unwrap().len())
            })
            .collect();
        assert_eq!(got, [(r#"{__name__="a"}"#.to_string(), 1), (r#"{__name__="b"}"#.to_string(), 1)]);
    }

    #[test]
    fn conflicting_duplicates_are_an_error() {
        let d = tempfile::tempdir().unwrap();
        let series = vec![(labels! {"__name__" => "a"}, vec![Sample::new(1, 1.0), Sample::new(1, 2.0)])];
        let e = backfill(d.path(), series, 2 * H).unwrap_err().to_string();
        assert!(e.contains("two different values"), "{e}");
    }
}

/// Compares with the real `promtool tsdb create-blocks-from openmetrics` when it is installed
/// (the test script installs it; elsewhere the test says so and passes).
#[cfg(test)]
mod promtool {
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::labels;

    fn promtool(args: &[&str], dir: &Path) -> Option<String> {
        let o = Command::new("promtool").args(args).arg(dir).output().ok()?;
        assert!(o.status.success(), "promtool {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        Some(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    #[test]
    fn same_blocks_and_dump_as_promtool() {
        if Command::new("promtool").arg("--version").output().is_err() {
            eprintln!("promtool not installed; skipping the comparison");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        // Unaligned start, 3 series at 15s over 7h, offsets in ms.
        let base: i64 = 1_700_000_123_000;
        let mut om = String::from("# TYPE m gauge\n");
        let mut ours = Vec::new();
        for s in 0..3i64 {
            let mut v = Vec::new();
            for i in 0..(7 * 240) {
                let t = base + i * 15_000 + s * 1001;
                let val = i as f64 * 0.5 + s as f64;
                om.push_str(&format!("m{{s=\"{s}\"}} {val} {}.{:03}\n", t / 1000, t % 1000));
                v.push(Sample::new(t, val));
            }
            ours.push((labels! {"__name__" => "m", "s" => &s.to_string()}, v));
        }
        om.push_str("# EOF\n");
        let input = d.path().join("in.om");
        std::fs::write(&input, om).unwrap();
        let (a, b) = (d.path().join("promtool"), d.path().join("ours"));
        for p in [&a, &b] {
            // `promtool tsdb dump` opens the dir as a database and wants a WAL dir.
            std::fs::create_dir_all(p.join("wal")).unwrap();
        }
        let o = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&a)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let metas = backfill(&b, ours, 2 * 3600 * 1000).unwrap();
        // Same block time ranges and sample counts (chunking differs: promtool's head spreads
        // samples evenly over chunks, we cut at 120).
        let ranges = |p: &Path| -> Vec<String> {
            let out = promtool(&["tsdb", "list"], p).unwrap_or_default();
            let mut v: Vec<String> = out
                .lines()
                .skip(1)
                .map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    format!("{} {} {}", f[1], f[2], f[4])
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(ranges(&a), ranges(&b));
        assert_eq!(metas.len(), ranges(&b).len());
        let dump = |p: &Path| -> Vec<String> {
            let mut v: Vec<String> =
                promtool(&["tsdb", "dump"], p).unwrap_or_default().lines().map(str::to_owned).collect();
            v.sort();
            v
        };
        let (da, db) = (dump(&a), dump(&b));
        assert_eq!(da.len(), 3 * 7 * 240);
        assert!(da == db, "promtool tsdb dump differs");
    }
}
