//! Tests of the chunk series iterator and the merge iterators (overlap, duplicates, tombstones,
//! seek), plus the block querier over an in-memory reader.

use std::collections::BTreeMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use super::*;
use crate::chunkenc::XorEncoder;
use crate::labels;
use crate::reader::ChunkData;
use crate::storage::VecSampleIterator;

/// An in-memory chunk store: chunk ref = index into `chunks`.
#[derive(Default)]
pub(crate) struct MemChunks {
    pub chunks: Vec<ChunkData>,
}

impl ChunkReader for MemChunks {
    fn chunk(&self, meta: &ChunkMeta) -> Result<ChunkData> {
        self.chunks
            .get(meta.chunk_ref as usize)
            .cloned()
            .ok_or_else(|| Error::Other(format!("no chunk {}", meta.chunk_ref)))
    }
}

pub(crate) fn encode(samples: &[(i64, f64)]) -> ChunkData {
    let mut e = XorEncoder::new();
    for (t, v) in samples {
        e.append(*t, *v);
    }
    ChunkData { encoding: 1, bytes: e.into_bytes() }
}

/// Builds chunk metas + a chunk reader from a list of chunks (each a list of samples).
fn chunks_of(chunks: &[&[(i64, f64)]]) -> (Arc<MemChunks>, Vec<ChunkMeta>) {
    let mut mem = MemChunks::default();
    let mut metas = Vec::new();
    for c in chunks {
        metas.push(ChunkMeta {
            chunk_ref: mem.chunks.len() as u64,
            min_time: c.first().map_or(0, |s| s.0),
            max_time: c.last().map_or(0, |s| s.0),
        });
        mem.chunks.push(encode(c));
    }
    (Arc::new(mem), metas)
}

fn iv(mint: i64, maxt: i64) -> Interval {
    Interval { mint, maxt }
}

fn drain(it: &mut dyn SampleIterator) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    while let Some(s) = it.next() {
        out.push((s.t, s.v));
    }
    out
}

fn check_chunks(chunks: &[&[(i64, f64)]], tomb: &[Interval], mint: i64, maxt: i64, expected: &[(i64, f64)]) {
    let (mem, metas) = chunks_of(chunks);
    let mut it = ChunkSeriesIterator::new(mem, metas, tomb.to_vec(), mint, maxt);
    assert_eq!(drain(&mut it), expected, "chunks {chunks:?} tomb {tomb:?} [{mint}, {maxt}]");
    assert!(it.err().is_none());
}

#[test]
fn chunk_series_iterator_cases() {
    const ALL: (i64, i64) = (i64::MIN, i64::MAX);
    // Plain, non-overlapping.
    check_chunks(&[&[(1, 1.0), (2, 2.0)], &[(3, 3.0)]], &[], ALL.0, ALL.1, &[(1, 1.0), (2, 2.0), (3, 3.0)]);
    // Overlapping chunks are merged in time order.
    check_chunks(
        &[&[(1, 1.0), (5, 5.0)], &[(2, 2.0), (6, 6.0)]],
        &[],
        ALL.0,
        ALL.1,
        &[(1, 1.0), (2, 2.0), (5, 5.0), (6, 6.0)],
    );
    // Duplicate timestamps: one sample, the earlier chunk's.
    check_chunks(&[&[(1, 1.0), (2, 2.0)], &[(2, 9.0), (3, 3.0)]], &[], ALL.0, ALL.1, &[(1, 1.0), (2, 2.0), (3, 3.0)]);
    // Trim to range.
    check_chunks(&[&[(1, 1.0), (2, 2.0), (3, 3.0)], &[(4, 4.0), (5, 5.0)]], &[], 2, 4, &[(2, 2.0), (3, 3.0), (4, 4.0)]);
    // Tombstones.
    check_chunks(
        &[&[(1, 1.0), (2, 2.0), (3, 3.0)], &[(4, 4.0), (5, 5.0)]],
        &[iv(2, 4)],
        ALL.0,
        ALL.1,
        &[(1, 1.0), (5, 5.0)],
    );
    check_chunks(&[&[(1, 1.0), (2, 2.0)]], &[iv(0, 10)], ALL.0, ALL.1, &[]);
    check_chunks(&[&[(1, 1.0)], &[(2, 2.0)], &[(3, 3.0)]], &[iv(1, 1), iv(3, 3)], ALL.0, ALL.1, &[(2, 2.0)]);
    // Empty range.
    check_chunks(&[&[(1, 1.0), (9, 9.0)]], &[], 3, 5, &[]);
    // Three-way overlap with a chunk contained in another.
    check_chunks(
        &[&[(1, 1.0), (10, 10.0)], &[(3, 3.0), (4, 4.0)], &[(4, 44.0), (11, 11.0)]],
        &[],
        ALL.0,
        ALL.1,
        &[(1, 1.0), (3, 3.0), (4, 4.0), (10, 10.0), (11, 11.0)],
    );
}

#[test]
fn stale_nan_survives_bit_exact() {
    let stale = f64::from_bits(crate::STALE_NAN_BITS);
    let (mem, metas) = chunks_of(&[&[(1, 1.0), (2, stale)], &[(2, 5.0), (3, 3.0)]]);
    let mut it = ChunkSeriesIterator::new(mem, metas, vec![], 0, 10);
    let got: Vec<u64> = std::iter::from_fn(|| it.next()).map(|s| s.v.to_bits()).collect();
    assert_eq!(got, vec![1f64.to_bits(), crate::STALE_NAN_BITS, 3f64.to_bits()]);
}

#[test]
fn chunk_series_iterator_seek() {
    let (mem, metas) = chunks_of(&[&[(1, 1.0), (2, 2.0)], &[(10, 10.0), (12, 12.0)], &[(20, 20.0)]]);
    let mut it = ChunkSeriesIterator::new(mem, metas, vec![iv(12, 12)], 0, 100);
    assert_eq!(it.seek(0).map(|s| s.t), Some(1));
    // Seeking to or before the current sample stays put.
    assert_eq!(it.seek(1).map(|s| s.t), Some(1));
    assert_eq!(it.seek(5).map(|s| s.t), Some(10));
    assert_eq!(it.seek(11).map(|s| s.t), Some(20));
    assert_eq!(it.seek(3).map(|s| s.t), Some(20));
    assert_eq!(it.next(), None);
    assert_eq!(it.seek(30), None);
}

#[test]
fn seek_into_the_middle_of_the_next_chunk() {
    let (mem, metas) = chunks_of(&[&[(1, 1.0), (2, 2.0)], &[(10, 10.0), (12, 12.0), (14, 14.0)]]);
    let mut it = ChunkSeriesIterator::new(mem, metas, vec![], 0, 100);
    assert_eq!(it.next().map(|s| s.t), Some(1));
    assert_eq!(it.seek(13).map(|s| s.t), Some(14));
    assert_eq!(it.next(), None);
}

#[test]
fn seek_skips_chunks_without_decoding() {
    // Chunk 0 is garbage; seeking past it must not decode it.
    let (mem, mut metas) = chunks_of(&[&[(1, 1.0)], &[(10, 10.0)]]);
    let mut mem = Arc::try_unwrap(mem).ok().unwrap();
    mem.chunks[0].bytes = vec![0xff; 3];
    metas[0].max_time = 2;
    let mut it = ChunkSeriesIterator::new(Arc::new(mem), metas, vec![], 0, 100);
    assert_eq!(it.seek(5).map(|s| s.t), Some(10));
    assert!(it.err().is_none());
}

#[test]
fn range_trims_overlapping_groups() {
    // Chunk 1 overlaps chunk 0 but lies before the range: only chunk 0's samples in range.
    check_chunks(&[&[(1, 1.0), (6, 6.0), (10, 10.0)], &[(3, 3.0), (4, 4.0)]], &[], 5, 20, &[(6, 6.0), (10, 10.0)]);
    // Chunk 1 lies after the range, chunk 0 is trimmed at both ends.
    check_chunks(&[&[(1, 1.0), (6, 6.0), (30, 30.0)], &[(25, 25.0), (26, 26.0)]], &[], 5, 20, &[(6, 6.0)]);
    // Trimmed before the merge still keeps the earlier chunk's sample on duplicates.
    check_chunks(&[&[(1, 1.0), (6, 6.0)], &[(6, 66.0), (7, 7.0)]], &[], 6, 6, &[(6, 6.0)]);
}

#[test]
fn chunks_outside_the_range_are_not_read() {
    // Chunk 1 (overlapping chunk 0, in the same group) is garbage but before the range.
    let (mem, metas) = chunks_of(&[&[(1, 1.0), (10, 10.0)], &[(2, 2.0), (3, 3.0)]]);
    let mut mem = Arc::try_unwrap(mem).ok().unwrap();
    mem.chunks[1].bytes = vec![0xff; 3];
    let mut it = ChunkSeriesIterator::new(Arc::new(mem), metas, vec![], 5, 100);
    assert_eq!(drain(&mut it), [(10, 10.0)]);
    assert!(it.err().is_none());
}

#[test]
fn corrupt_chunk_surfaces_as_err() {
    let (mem, metas) = chunks_of(&[&[(1, 1.0), (2, 2.0)]]);
    let mut mem = Arc::try_unwrap(mem).ok().unwrap();
    mem.chunks[0].bytes.truncate(5);
    let mut it = ChunkSeriesIterator::new(Arc::new(mem), metas.clone(), vec![], 0, 100);
    assert_eq!(it.next(), None);
    assert!(it.err().is_some());
    // Unknown encoding too.
    let mem = MemChunks { chunks: vec![ChunkData { encoding: 7, bytes: vec![0, 0] }] };
    let mut it = ChunkSeriesIterator::new(Arc::new(mem), metas, vec![], 0, 100);
    assert_eq!(it.next(), None);
    assert!(it.err().unwrap().to_string().contains("encoding 7"));
}

fn vec_it(s: &[(i64, f64)]) -> Box<dyn SampleIterator> {
    Box::new(VecSampleIterator::new(s.iter().map(|(t, v)| Sample::new(*t, *v)).collect()))
}

fn check_merge(inputs: &[&[(i64, f64)]], expected: &[(i64, f64)]) {
    let mut it = MergedSampleIterator::new(inputs.iter().map(|s| vec_it(s)).collect());
    assert_eq!(drain(&mut it), expected, "inputs {inputs:?}");
}

#[test]
fn merged_sample_iterator_cases() {
    check_merge(&[], &[]);
    check_merge(&[&[], &[]], &[]);
    check_merge(&[&[(1, 1.0)]], &[(1, 1.0)]);
    check_merge(&[&[(1, 1.0), (3, 3.0)], &[(2, 2.0), (4, 4.0)]], &[(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]);
    // Duplicates: the first input wins.
    check_merge(&[&[(1, 1.0), (2, 2.0)], &[(2, 20.0), (3, 3.0)], &[(2, 200.0)]], &[(1, 1.0), (2, 2.0), (3, 3.0)]);
    check_merge(&[&[(5, 5.0)], &[(1, 1.0), (5, 50.0), (9, 9.0)]], &[(1, 1.0), (5, 5.0), (9, 9.0)]);
}

#[test]
fn merged_sample_iterator_seek() {
    let mut it = MergedSampleIterator::new(vec![
        vec_it(&[(1, 1.0), (5, 5.0), (9, 9.0)]),
        vec_it(&[(2, 2.0), (5, 50.0), (7, 7.0)]),
    ]);
    assert_eq!(it.seek(3), Some(Sample::new(5, 5.0)));
    assert_eq!(it.seek(4), Some(Sample::new(5, 5.0)));
    assert_eq!(it.next(), Some(Sample::new(7, 7.0)));
    assert_eq!(it.seek(8), Some(Sample::new(9, 9.0)));
    assert_eq!(it.seek(10), None);
    let mut it = MergedSampleIterator::new(vec![vec_it(&[(1, 1.0)]), vec_it(&[(2, 2.0)])]);
    assert_eq!(it.seek(i64::MIN), Some(Sample::new(1, 1.0)));
    assert_eq!(it.next(), Some(Sample::new(2, 2.0)));
}

/// An in-memory block reader for querier tests.
#[derive(Default)]
pub(crate) struct MemBlock {
    /// Sorted by labels; id = position.
    pub series: Vec<(Labels, Vec<ChunkMeta>)>,
    pub chunks: Arc<MemChunks>,
    pub tombstones: BTreeMap<u32, Vec<Interval>>,
}

/// A series given as its chunks, each a list of `(t, v)`.
pub(crate) type SeriesChunks = (Labels, Vec<Vec<(i64, f64)>>);

impl MemBlock {
    /// Series with their chunks.
    pub fn new(series: Vec<SeriesChunks>) -> Self {
        let mut mem = MemChunks::default();
        let mut out = Vec::new();
        for (l, chunks) in series {
            let mut metas = Vec::new();
            for c in chunks {
                metas.push(ChunkMeta {
                    chunk_ref: mem.chunks.len() as u64,
                    min_time: c[0].0,
                    max_time: c[c.len() - 1].0,
                });
                mem.chunks.push(encode(&c));
            }
            out.push((l, metas));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        MemBlock { series: out, chunks: Arc::new(mem), tombstones: BTreeMap::new() }
    }
}

pub(crate) struct MemIndex(Vec<(Labels, Vec<ChunkMeta>)>);

impl IndexReader for MemIndex {
    fn symbols(&self) -> Result<Vec<String>> {
        let mut s: Vec<String> =
            self.0.iter().flat_map(|(l, _)| l.iter().flat_map(|l| [l.name.to_string(), l.value.to_string()])).collect();
        s.sort();
        s.dedup();
        Ok(s)
    }
    fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
        Ok(self.0.iter().enumerate().filter(|(_, (l, _))| l.get(name) == value).map(|(i, _)| i as u32).collect())
    }
    fn all_postings(&self) -> Result<RoaringBitmap> {
        Ok((0..self.0.len() as u32).collect())
    }
    fn label_names(&self) -> Result<Vec<String>> {
        let mut s: Vec<String> = self.0.iter().flat_map(|(l, _)| l.iter().map(|l| l.name.to_string())).collect();
        s.sort();
        s.dedup();
        Ok(s)
    }
    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        let mut s: Vec<String> =
            self.0.iter().map(|(l, _)| l.get(name).to_string()).filter(|v| !v.is_empty()).collect();
        s.sort();
        s.dedup();
        Ok(s)
    }
    fn series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        let (l, c) = self.0.get(id as usize).ok_or_else(|| Error::Other(format!("no series {id}")))?;
        chunks.clear();
        chunks.extend_from_slice(c);
        Ok(l.clone())
    }
    fn sorted_ids(&self, ids: &RoaringBitmap) -> Result<Vec<u32>> {
        Ok(ids.iter().collect())
    }
}

pub(crate) struct MemTomb(BTreeMap<u32, Vec<Interval>>);

impl TombstoneReader for MemTomb {
    fn intervals(&self, id: u32) -> Vec<Interval> {
        self.0.get(&id).cloned().unwrap_or_default()
    }
    fn total(&self) -> u64 {
        self.0.values().map(|v| v.len() as u64).sum()
    }
}

impl BlockReader for MemBlock {
    fn min_time(&self) -> Timestamp {
        self.series.iter().flat_map(|s| s.1.iter().map(|m| m.min_time)).min().unwrap_or(0)
    }
    fn max_time(&self) -> Timestamp {
        self.series.iter().flat_map(|s| s.1.iter().map(|m| m.max_time)).max().unwrap_or(0)
    }
    fn index(&self) -> Result<Arc<dyn IndexReader>> {
        Ok(Arc::new(MemIndex(self.series.clone())))
    }
    fn chunks(&self) -> Result<Arc<dyn ChunkReader>> {
        Ok(self.chunks.clone())
    }
    fn tombstones(&self) -> Result<Arc<dyn TombstoneReader>> {
        Ok(Arc::new(MemTomb(self.tombstones.clone())))
    }
}

fn select_all(q: &dyn Querier, matchers: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    q.select(true, None, matchers)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            let l = s.labels.to_string();
            (l, s.collect_samples().unwrap().into_iter().map(|s| (s.t, s.v)).collect())
        })
        .collect()
}

#[test]
fn block_querier_drops_empty_series() {
    let mut b = MemBlock::new(vec![
        (labels! {"__name__" => "a"}, vec![vec![(1, 1.0), (2, 2.0)]]),
        (labels! {"__name__" => "b"}, vec![vec![(1, 1.0), (9, 9.0)]]),
        (labels! {"__name__" => "c"}, vec![vec![(3, 3.0)]]),
    ]);
    b.tombstones.insert(2, vec![iv(0, 5)]);
    let q = BlockQuerier::new(&b, 2, 5).unwrap();
    let m = Matcher::regex("__name__", ".+").unwrap();
    // b has a chunk spanning the range but no sample in it; c is deleted.
    assert_eq!(select_all(&q, &[m]), vec![(r#"{__name__="a"}"#.to_string(), vec![(2, 2.0)])]);
}

#[test]
fn merge_querier_merges_identical_series() {
    let b1 = MemBlock::new(vec![
        (labels! {"__name__" => "a"}, vec![vec![(1, 1.0), (2, 2.0)]]),
        (labels! {"__name__" => "c"}, vec![vec![(1, 1.0)]]),
    ]);
    let b2 = MemBlock::new(vec![
        (labels! {"__name__" => "a"}, vec![vec![(2, 2.0), (3, 3.0)]]),
        (labels! {"__name__" => "b"}, vec![vec![(5, 5.0)]]),
    ]);
    let q = MergeQuerier::new(vec![
        Box::new(BlockQuerier::new(&b1, 0, 10).unwrap()),
        Box::new(BlockQuerier::new(&b2, 0, 10).unwrap()),
    ]);
    let m = Matcher::regex("__name__", ".+").unwrap();
    assert_eq!(
        select_all(&q, &[m]),
        vec![
            (r#"{__name__="a"}"#.to_string(), vec![(1, 1.0), (2, 2.0), (3, 3.0)]),
            (r#"{__name__="b"}"#.to_string(), vec![(5, 5.0)]),
            (r#"{__name__="c"}"#.to_string(), vec![(1, 1.0)]),
        ]
    );
    assert_eq!(q.label_values("__name__", &[]).unwrap(), ["a", "b", "c"]);
    assert_eq!(q.label_names(&[Matcher::equal("__name__", "b")]).unwrap(), ["__name__"]);
}

#[test]
fn hints_narrow_the_range() {
    let b = MemBlock::new(vec![(labels! {"__name__" => "a"}, vec![vec![(1, 1.0), (5, 5.0), (9, 9.0)]])]);
    let q = BlockQuerier::new(&b, 0, 8).unwrap();
    let m = [Matcher::equal("__name__", "a")];
    let run = |h: Option<&SelectHints>| -> Vec<i64> {
        q.select(false, h, &m).unwrap().flat_map(|s| s.unwrap().collect_samples().unwrap()).map(|s| s.t).collect()
    };
    assert_eq!(run(None), [1, 5]);
    assert_eq!(run(Some(&SelectHints::default())), [1, 5]);
    assert_eq!(run(Some(&SelectHints { start: 2, end: 100, ..Default::default() })), [5]);
    assert_eq!(run(Some(&SelectHints { start: 6, end: 7, ..Default::default() })), Vec::<i64>::new());
}

mod prop {
    use proptest::prelude::*;

    use super::*;

    /// A chunk: sorted unique timestamps in 0..300; values are a function of `t` so duplicates
    /// across chunks agree whichever is kept.
    fn chunk() -> impl Strategy<Value = Vec<(i64, f64)>> {
        proptest::collection::btree_set(0i64..300, 1..30)
            .prop_map(|s| s.into_iter().map(|t| (t, t as f64 * 1.5)).collect())
    }

    fn intervals() -> impl Strategy<Value = Vec<Interval>> {
        proptest::collection::vec((0i64..300, 0i64..40), 0..4).prop_map(|v| {
            let mut out: Vec<Interval> = Vec::new();
            for (a, len) in v {
                crate::tombstones::add_interval(&mut out, Interval { mint: a, maxt: a + len });
            }
            out
        })
    }

    proptest! {
        #[test]
        fn chunks_merge_like_the_model(
            a in proptest::collection::vec(chunk(), 0..5),
            b in proptest::collection::vec(chunk(), 0..5),
            tomb in intervals(),
            mint in -10i64..200,
            len in 0i64..320,
            seeks in proptest::collection::vec(0i64..40, 0..10),
        ) {
            let maxt = mint + len;
            let mut model = std::collections::BTreeMap::new();
            for c in a.iter().chain(b.iter()) {
                for (t, v) in c {
                    if *t >= mint && *t <= maxt && !tomb.iter().any(|iv| iv.contains(*t)) {
                        model.insert(*t, *v);
                    }
                }
            }
            let build = |cs: &[Vec<(i64, f64)>]| -> Box<dyn SampleIterator> {
                let refs: Vec<&[(i64, f64)]> = cs.iter().map(|c| c.as_slice()).collect();
                let (mem, metas) = chunks_of(&refs);
                Box::new(ChunkSeriesIterator::new(mem, metas, tomb.clone(), mint, maxt))
            };
            // Full iteration.
            let mut it = MergedSampleIterator::new(vec![build(&a), build(&b)]);
            let got = drain(&mut it);
            let want: Vec<(i64, f64)> = model.iter().map(|(t, v)| (*t, *v)).collect();
            prop_assert_eq!(&got, &want);
            // Seeks with forward strides from a fresh iterator.
            let mut it = MergedSampleIterator::new(vec![build(&a), build(&b)]);
            let mut ts = mint - 5;
            let mut cur: Option<i64> = None;
            for step in seeks {
                ts += step;
                let got = it.seek(ts).map(|s| s.t);
                let want = match cur {
                    Some(c) if c >= ts => Some(c),
                    _ => model.range(ts..).next().map(|(t, _)| *t),
                };
                prop_assert_eq!(got, want, "seek({})", ts);
                cur = got;
            }
        }
    }
}
