//! Compaction tests over in-memory sources, read back through a real block.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::block::{Block, BlockMeta};
use crate::labels;
use crate::querier::tests::MemBlock;
use crate::querier::BlockQuerier;
use crate::reader::{BlockReader, Interval};
use crate::storage::Querier;
use crate::Matcher;

fn read_back(out: &CompactOutput) -> Vec<(String, Vec<(i64, f64)>)> {
    let b = Block::open(&out.dir).unwrap();
    let q = BlockQuerier::new(&b, i64::MIN, i64::MAX).unwrap();
    q.select(true, None, &[Matcher::regex("__name__", ".+").unwrap()])
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels.to_string(), s.collect_samples().unwrap().iter().map(|s| (s.t, s.v)).collect())
        })
        .collect()
}

fn compactor() -> Compactor {
    Compactor::new(vec![10, 30])
}

fn run(sources: Vec<MemBlock>, parents: &[BlockMeta], mint: i64, maxt: i64) -> (tempfile::TempDir, Option<CompactOutput>) {
    let d = tempfile::tempdir().unwrap();
    let srcs: Vec<Arc<dyn BlockReader>> = sources.into_iter().map(|b| Arc::new(b) as Arc<dyn BlockReader>).collect();
    let out = compactor().compact(d.path(), &srcs, parents, mint, maxt, None).unwrap();
    (d, out)
}

fn name(n: &str) -> String {
    format!("{{__name__=\"{n}\"}}")
}

#[test]
fn single_source_copies_chunks() {
    let b = MemBlock::new(vec![
        (labels! {"__name__" => "a"}, vec![vec![(1, 1.0), (2, 2.0)], vec![(5, 5.0)]]),
        (labels! {"__name__" => "b"}, vec![vec![(3, 3.0)]]),
    ]);
    let (_d, out) = run(vec![b], &[], 0, 10);
    let out = out.unwrap();
    assert_eq!((out.chunks_copied, out.chunks_reencoded), (3, 0));
    assert_eq!(out.meta.compaction.level, 1);
    assert_eq!(out.meta.compaction.sources, vec![out.meta.ulid]);
    assert_eq!((out.meta.stats.num_series, out.meta.stats.num_samples, out.meta.stats.num_chunks), (2, 4, 3));
    assert_eq!(read_back(&out), [(name("a"), vec![(1, 1.0), (2, 2.0), (5, 5.0)]), (name("b"), vec![(3, 3.0)])]);
}

#[test]
fn overlapping_sources_merge_and_dedup() {
    let b1 = MemBlock::new(vec![
        (labels! {"__name__" => "a"}, vec![vec![(1, 1.0), (3, 3.0)]]),
        (labels! {"__name__" => "c"}, vec![vec![(1, 1.0)]]),
    ]);
    let b2 = MemBlock::new(vec![
        (labels! {"__name__" => "a"}, vec![vec![(2, 2.0), (3, 3.0), (4, 4.0)]]),
        (labels! {"__name__" => "b"}, vec![vec![(7, 7.0)]]),
    ]);
    let p1 = BlockMeta::new(ulid::Ulid::new(), 0, 5);
    let mut p2 = BlockMeta::new(ulid::Ulid::new(), 2, 8);
    p2.compaction.level = 2;
    let (_d, out) = run(vec![b1, b2], &[p1.clone(), p2.clone()], 0, 8);
    let out = out.unwrap();
    assert_eq!(
        read_back(&out),
        [(name("a"), vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]), (name("b"), vec![(7, 7.0)]), (name("c"), vec![(1, 1.0)])]
    );
    // `a` overlaps: re-encoded; b and c copied.
    assert_eq!((out.chunks_copied, out.chunks_reencoded), (2, 1));
    assert_eq!(out.meta.compaction.level, 3);
    let mut sources = vec![p1.ulid, p2.ulid];
    sources.sort();
    assert_eq!(out.meta.compaction.sources, sources);
    assert_eq!(out.meta.compaction.parents.len(), 2);
}

#[test]
fn adjacent_sources_copy_chunks() {
    let b1 = MemBlock::new(vec![(labels! {"__name__" => "a"}, vec![vec![(1, 1.0), (2, 2.0)]])]);
    let b2 = MemBlock::new(vec![(labels! {"__name__" => "a"}, vec![vec![(3, 3.0)], vec![(4, 4.0)]])]);
    let (_d, out) = run(vec![b2, b1], &[], 0, 10);
    let out = out.unwrap();
    assert_eq!((out.chunks_copied, out.chunks_reencoded), (3, 0));
    assert_eq!(read_back(&out), [(name("a"), vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)])]);
}

#[test]
fn range_and_tombstones_are_applied() {
    let mut b = MemBlock::new(vec![
        (labels! {"__name__" => "a"}, vec![vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]]),
        (labels! {"__name__" => "b"}, vec![vec![(2, 2.0)]]),
        (labels! {"__name__" => "c"}, vec![vec![(2, 2.0), (9, 9.0)]]),
    ]);
    b.tombstones.insert(0, vec![Interval { mint: 3, maxt: 3 }]);
    b.tombstones.insert(1, vec![Interval { mint: 0, maxt: 100 }]);
    // Range [2, 9): excludes t=1 and t=9.
    let (_d, out) = run(vec![b], &[], 2, 9);
    let out = out.unwrap();
    assert_eq!(read_back(&out), [(name("a"), vec![(2, 2.0), (4, 4.0)]), (name("c"), vec![(2, 2.0)])]);
    assert_eq!(out.meta.stats.num_series, 2);
}

#[test]
fn long_series_are_cut_into_120_sample_chunks() {
    let samples: Vec<(i64, f64)> = (0..300).map(|i| (i, i as f64)).collect();
    // Two overlapping copies force a re-encode.
    let b1 = MemBlock::new(vec![(labels! {"__name__" => "a"}, vec![samples.clone()])]);
    let b2 = MemBlock::new(vec![(labels! {"__name__" => "a"}, vec![samples[100..].to_vec()])]);
    let (_d, out) = run(vec![b1, b2], &[], 0, 1000);
    let out = out.unwrap();
    assert_eq!(out.chunks_reencoded, 3);
    assert_eq!(out.meta.stats.num_samples, 300);
    assert_eq!(read_back(&out)[0].1, samples);
}

#[test]
fn empty_result_writes_no_block() {
    let b = MemBlock::new(vec![(labels! {"__name__" => "a"}, vec![vec![(1, 1.0)]])]);
    let (d, out) = run(vec![b], &[], 5, 10);
    assert!(out.is_none());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn progress_reaches_total() {
    let b = MemBlock::new((0..5).map(|i| (labels! {"__name__" => format!("m{i}")}, vec![vec![(1, 1.0)]])).collect());
    let d = tempfile::tempdir().unwrap();
    let last = AtomicU64::new(0);
    let cb = |p: Progress| {
        assert!(p.series_done <= p.series_total);
        last.store(p.series_done * 100 + p.series_total, Ordering::Relaxed);
    };
    let srcs: Vec<Arc<dyn BlockReader>> = vec![Arc::new(b)];
    compactor().compact(d.path(), &srcs, &[], 0, 10, Some(&cb)).unwrap().unwrap();
    assert_eq!(last.load(Ordering::Relaxed), 505);
}

#[test]
fn bad_range_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    assert!(compactor().compact(d.path(), &[], &[], 5, 5, None).is_err());
}

#[test]
fn head_range_persist_copies_full_chunks() {
    use crate::head::{Head, HeadOptions};
    let head = Head::open(HeadOptions::default()).unwrap();
    let mut app = head.appender();
    for m in 0..300i64 {
        crate::storage::Appender::append(&mut app, None, &labels! {"__name__" => "m"}, m * 60_000, m as f64).unwrap();
    }
    Box::new(app).commit().unwrap();
    const H: i64 = 3600 * 1000;
    let d = tempfile::tempdir().unwrap();
    let src: Vec<Arc<dyn BlockReader>> = vec![Arc::new(head.range_reader(0, 2 * H - 1))];
    let out = compactor().compact(d.path(), &src, &[], 0, 2 * H, None).unwrap().unwrap();
    assert_eq!(out.meta.stats.num_samples, 120);
    assert_eq!((out.chunks_copied, out.chunks_reencoded), (1, 0));
}
