//! The read path of a query: select + decode of every sample, from an on-disk block.
//!
//! `cargo bench -p tickdb-storage --bench querier` writes one block of 800 counter series
//! (2 h at 15 s, 120-sample chunks, like `benches/query_latency.py`'s `http_requests_total`)
//! and measures draining every matching series' samples through a [`BlockQuerier`] for
//! an instant query's window (the last 5 min) and for a range query's (the last hour), with
//! all 800 series and with a selective matcher. Throughput is set to the series count.
//! `TICKDB_QUERIER_ITERS=n` runs each case `n` times outside criterion instead (for `perf stat`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use storage::block::{Block, BlockMeta, BlockWriter};
use storage::chunkenc::{ENCODING_XOR, SAMPLES_PER_CHUNK, XorEncoder};
use storage::querier::BlockQuerier;
use storage::reader::{ChunkData, ChunkMeta};
use storage::{Labels, Matcher, Querier, SelectHints};

const START: i64 = 1_700_000_000_000;
const STEP: i64 = 15_000;
const SAMPLES: i64 = 2 * 3600 * 1000 / STEP;
const END: i64 = START + (SAMPLES - 1) * STEP;

/// Series labels in sorted order (the block writer wants them so).
fn series() -> Vec<Labels> {
    let mut out = Vec::new();
    for code in ["200", "404", "500", "503"] {
        for inst in 0..20 {
            for job in 0..10 {
                out.push(Labels::from_pairs([
                    ("__name__", "http_requests_total"),
                    ("code", code),
                    ("instance", &format!("host-{inst:02}:9100")),
                    ("job", &format!("api-{job}")),
                ]));
            }
        }
    }
    out.sort();
    out
}

/// A counter with a per-series rate, in 120-sample XOR chunks.
fn chunks(seed: usize) -> Vec<(ChunkMeta, ChunkData)> {
    let mut v = 0.0;
    let ts: Vec<i64> = (0..SAMPLES).map(|i| START + i * STEP).collect();
    ts.chunks(SAMPLES_PER_CHUNK)
        .map(|part| {
            let mut e = XorEncoder::new();
            for &t in part {
                v += ((t / STEP) as usize * 7 + seed) as f64 % 13.0;
                e.append(t, v);
            }
            let meta = ChunkMeta { chunk_ref: 0, min_time: part[0], max_time: part[part.len() - 1] };
            (meta, ChunkData { encoding: ENCODING_XOR, bytes: e.into_bytes() })
        })
        .collect()
}

fn drain(q: &dyn Querier, mint: i64, matchers: &[Matcher]) -> usize {
    let hints = SelectHints { start: mint, end: END, step: 0, range: 0, func: None };
    let mut n = 0;
    for s in q.select(true, Some(&hints), matchers).expect("select") {
        let mut it = s.expect("series").samples;
        let mut cur = it.seek(mint);
        while let Some(p) = cur {
            n += 1;
            black_box(p);
            cur = it.next();
        }
        assert!(it.err().is_none());
    }
    n
}

/// The block (kept alive by its temp dir), its querier and the cases to run.
struct Setup {
    _dir: tempfile::TempDir,
    q: BlockQuerier,
    cases: Vec<(String, i64, Vec<Matcher>, usize)>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let labels = series();
    let mut w = BlockWriter::new(dir.path(), BlockMeta::new(ulid::Ulid::new(), START, END + 1)).expect("writer");
    for (i, l) in labels.iter().enumerate() {
        w.add_series(l.clone(), chunks(i)).expect("add series");
    }
    let meta = w.finish().expect("finish");
    let block = Block::open(&dir.path().join(meta.ulid.to_string())).expect("open block");
    let q = BlockQuerier::new(&block, START, END).expect("querier");
    let all = vec![Matcher::equal("__name__", "http_requests_total")];
    let some = vec![Matcher::equal("__name__", "http_requests_total"), Matcher::equal("job", "api-2")];
    let mut cases = Vec::new();
    for (window, mint) in [("instant_5m", END - 5 * 60_000), ("range_1h", END - 3_600_000)] {
        for (sel, m) in [("800_series", &all), ("80_series", &some)] {
            let n = labels.iter().filter(|l| m.iter().all(|m| m.matches(l.get(&m.name)))).count();
            cases.push((format!("{window}/{sel}"), mint, m.clone(), n));
        }
    }
    Setup { _dir: dir, q, cases }
}

fn bench(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("block_querier");
    for (name, mint, m, n) in &s.cases {
        g.throughput(Throughput::Elements(*n as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(|| drain(&s.q, *mint, m)));
    }
    g.finish();
}

/// `TICKDB_QUERIER_ITERS=n`: runs every case `n` times without criterion and prints the mean
/// time per series, for a steady count under `perf stat` (instructions do not depend on the
/// machine's load the way wall time does).
fn fixed_iterations(s: &Setup, iters: u32) {
    for (name, mint, m, n) in &s.cases {
        let t = std::time::Instant::now();
        let mut samples = 0;
        for _ in 0..iters {
            samples += drain(&s.q, *mint, m);
        }
        let per = t.elapsed() / (iters * *n as u32);
        println!("{name}: {per:?} per series, {} samples per series", samples / (iters as usize * n));
    }
}

fn main() {
    let s = setup();
    if let Some(iters) = std::env::var("TICKDB_QUERIER_ITERS").ok().and_then(|v| v.parse().ok()) {
        fixed_iterations(&s, iters);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &s);
    c.final_summary();
}
