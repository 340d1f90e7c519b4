//! Compaction tests over in-memory sources, read back through a real block.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::Matcher;
use crate::block::{Block, BlockMeta};
use crate::labels;
use crate::querier::BlockQuerier;
use crate::querier::tests::MemBlock;
use crate::reader::{BlockReader, Interval};
use crate::storage::Querier;

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

fn run(
    sources: Vec<MemBlock>,
    parents: &[BlockMeta],
    mint: i64,
    maxt: i64,
) -> (tempfile::TempDir, Option<CompactOutput>) {
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
        [
            (name("a"), vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]),
            (name("b"), vec![(7, 7.0)]),
            (name("c"), vec![(1, 1.0)])
        ]
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

mod prop {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// Series number → chunks (timestamps); tombstones as (series, start, length).
    type Source = (Vec<(u8, Vec<Vec<i64>>)>, Vec<(u8, i64, i64)>);

    /// Per source: a few series (0..3) each with chunks of sorted unique timestamps; values
    /// depend on (series, t) only so overlapping sources agree.
    fn source() -> impl Strategy<Value = Source> {
        let series = proptest::collection::vec(
            (0u8..3, proptest::collection::vec(proptest::collection::btree_set(0i64..400, 1..150), 1..3)),
            0..3,
        )
        .prop_map(|v| {
            // One entry per series; chunks of a series must not overlap within one source.
            let mut by: BTreeMap<u8, Vec<Vec<i64>>> = BTreeMap::new();
            for (s, chunks) in v {
                let mut all: Vec<i64> = chunks.into_iter().flatten().collect();
                all.sort();
                all.dedup();
                let cut = all.len() / 2;
                let mut cs = vec![all[..cut].to_vec(), all[cut..].to_vec()];
                cs.retain(|c| !c.is_empty());
                by.insert(s, cs);
            }
            by.into_iter().collect::<Vec<_>>()
        });
        let tomb = proptest::collection::vec((0u8..3, 0i64..400, 0i64..50), 0..2);
        (series, tomb)
    }

    fn value(s: u8, t: i64) -> f64 {
        f64::from(s) * 1000.0 + t as f64 * 0.25
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn compaction_matches_the_model(srcs in proptest::collection::vec(source(), 1..4), mint in 0i64..100, len in 1i64..400) {
            let maxt = mint + len; // exclusive
            let mut model: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
            let mut blocks = Vec::new();
            for (series, tomb) in &srcs {
                let mut spec = Vec::new();
                let mut b_tomb = BTreeMap::new();
                for (s, chunks) in series {
                    let l = labels! {"__name__" => format!("s{s}")};
                    spec.push((l, chunks.iter().map(|c| c.iter().map(|t| (*t, value(*s, *t))).collect()).collect()));
                }
                let mut b = MemBlock::new(spec);
                // MemBlock sorts series by labels: ids follow that order.
                for (id, (l, _)) in b.series.iter().enumerate() {
                    let s: u8 = l.metric_name()[1..].parse().unwrap();
                    let ivs: Vec<Interval> = tomb.iter().filter(|(ts, _, _)| *ts == s).map(|(_, a, n)| Interval { mint: *a, maxt: a + n }).collect();
                    let mut merged = Vec::new();
                    for iv in ivs {
                        crate::tombstones::add_interval(&mut merged, iv);
                    }
                    if !merged.is_empty() {
                        b_tomb.insert(id as u32, merged);
                    }
                }
                for (id, (l, _)) in b.series.iter().enumerate() {
                    let s: u8 = l.metric_name()[1..].parse().unwrap();
                    let ivs = b_tomb.get(&(id as u32)).cloned().unwrap_or_default();
                    for c in series.iter().filter(|(x, _)| *x == s).flat_map(|(_, cs)| cs.iter()) {
                        for t in c {
                            if *t >= mint && *t < maxt && !ivs.iter().any(|iv| iv.contains(*t)) {
                                model.entry(l.to_string()).or_default().insert(*t, value(s, *t));
                            }
                        }
                    }
                }
                b.tombstones = b_tomb;
                blocks.push(b);
            }
            let (_d, out) = run(blocks, &[], mint, maxt);
            let got: Vec<(String, Vec<(i64, f64)>)> = out.as_ref().map(read_back).unwrap_or_default();
            let want: Vec<(String, Vec<(i64, f64)>)> =
                model.into_iter().map(|(l, s)| (l, s.into_iter().collect())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
