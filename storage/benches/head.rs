//! Head append throughput, and a one-off RSS-per-series report.
//!
//! `cargo bench -p tickdb-storage --bench head` measures one "scrape" (one sample for every
//! series) per iteration, committed in batches of 1000 samples, from 1 and 2 threads, for 100k
//! series (1M with `TICKDB_BENCH_1M=1`), in memory and with the WAL at fsync=always.
//!
//! `TICKDB_HEAD_RSS=1 cargo bench -p tickdb-storage --bench head` instead appends 240 samples
//! (15 s apart, i.e. 1 h) to each of 1M series (`TICKDB_HEAD_RSS_SERIES` to change) into a head
//! with a data dir and prints the resident memory per series, read from `/proc/self/statm`,
//! then reopens the head and prints how long reading it back took.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use storage::head::{Head, HeadOptions};
use storage::reader::BlockReader;
use storage::wal::FsyncPolicy;
use storage::{Appender, Labels, SeriesRef};

const BATCH: usize = 1000;

fn make_series(n: usize) -> Vec<Labels> {
    // Shaped like node_exporter targets: 1000 metric names per instance.
    (0..n)
        .map(|i| {
            let name = format!("metric_{}", i % 1000);
            let instance = format!("host-{}:9100", i / 1000);
            Labels::from_pairs([("__name__", name.as_str()), ("instance", instance.as_str()), ("job", "node")])
        })
        .collect()
}

/// Appends one sample at `t` to each series of `series` in batches of [`BATCH`], reusing the
/// refs of the previous scrape.
fn scrape(head: &Arc<Head>, series: &[Labels], refs: &mut [Option<SeriesRef>], t: i64) {
    for (ls, rs) in series.chunks(BATCH).zip(refs.chunks_mut(BATCH)) {
        let mut app = head.appender();
        for (i, (l, r)) in ls.iter().zip(rs.iter_mut()).enumerate() {
            let v = (t / 15_000) as f64 * 10.0 + (i % 7) as f64;
            match app.append(*r, l, t, v) {
                Ok(new) => *r = Some(new),
                Err(e) => panic!("append failed: {e}"),
            }
        }
        app.commit().expect("commit");
    }
}

fn parallel_scrape(head: &Arc<Head>, parts: &mut [(Vec<Labels>, Vec<Option<SeriesRef>>)], t: i64) {
    if parts.len() == 1 {
        let (s, r) = &mut parts[0];
        scrape(head, s, r, t);
        return;
    }
    std::thread::scope(|sc| {
        for (s, r) in parts.iter_mut() {
            sc.spawn(move || scrape(head, s, r, t));
        }
    });
}

fn bench_append(c: &mut Criterion) {
    let mut sizes = vec![100_000usize];
    if std::env::var_os("TICKDB_BENCH_1M").is_some() {
        sizes.push(1_000_000);
    }
    let mut g = c.benchmark_group("head_append");
    g.sample_size(10);
    for &n in &sizes {
        let all = make_series(n);
        g.throughput(Throughput::Elements(n as u64));
        for wal in [false, true] {
            for threads in [1usize, 2] {
                let dir = tempfile::tempdir().expect("tempdir");
                let opts = HeadOptions {
                    dir: wal.then(|| dir.path().to_path_buf()),
                    fsync: FsyncPolicy::Always,
                    ..Default::default()
                };
                let head = Head::open(opts).expect("open head");
                let per = n.div_ceil(threads);
                let mut parts: Vec<(Vec<Labels>, Vec<Option<SeriesRef>>)> =
                    all.chunks(per).map(|c| (c.to_vec(), vec![None; c.len()])).collect();
                let t = AtomicI64::new(0);
                // Create the series first: the benchmark measures steady-state appends.
                parallel_scrape(&head, &mut parts, 0);
                let id = format!("{}_{}t", if wal { "wal_fsync_always" } else { "memory" }, threads);
                g.bench_with_input(BenchmarkId::new(id, n), &n, |b, _| {
                    b.iter(|| {
                        let ts = t.fetch_add(15_000, Ordering::Relaxed) + 15_000;
                        parallel_scrape(&head, &mut parts, ts);
                    })
                });
            }
        }
    }
    g.finish();
}

fn statm() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let f: Vec<u64> = s.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // resident, shared (file-backed) pages
    (f.get(1).copied().unwrap_or(0) * 4096, f.get(2).copied().unwrap_or(0) * 4096)
}

fn rss_report() {
    let n: usize = std::env::var("TICKDB_HEAD_RSS_SERIES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let samples = 240;
    let dir = tempfile::tempdir().expect("tempdir");
    let all = make_series(n);
    let mut refs = vec![None; n];
    let (rss0, shared0) = statm();
    let head = Head::open(HeadOptions {
        dir: Some(dir.path().to_path_buf()),
        fsync: FsyncPolicy::Never,
        ..Default::default()
    })
    .expect("open head");
    let start = Instant::now();
    for k in 0..samples {
        scrape(&head, &all, &mut refs, k * 15_000);
    }
    let secs = start.elapsed().as_secs_f64();
    let (rss1, shared1) = statm();
    let anon = rss1.saturating_sub(shared1).saturating_sub(rss0.saturating_sub(shared0));
    println!(
        "head RSS: {n} series x {samples} samples in {secs:.1}s ({:.2}M samples/s); RSS {} MiB -> {} MiB (file-backed {} MiB); \
         {:.0} bytes RSS/series ({:.0} excluding file-backed pages); series={} chunks={}",
        (n as f64 * samples as f64) / secs / 1e6,
        rss0 >> 20,
        rss1 >> 20,
        shared1 >> 20,
        (rss1 - rss0) as f64 / n as f64,
        anon as f64 / n as f64,
        head.num_series(),
        head.num_chunks(),
    );
    // How big the open chunks are (the largest per-series cost; depends on the values).
    let r = head.range_reader(i64::MIN, i64::MAX);
    let (ix, cr) = (r.index().expect("index"), r.chunks().expect("chunks"));
    let mut metas = Vec::new();
    let (mut bytes, mut count) = (0usize, 0usize);
    for id in ix.all_postings().expect("postings").iter().step_by(997) {
        ix.series(id, &mut metas).expect("series");
        if let Some(m) = metas.last() {
            bytes += cr.chunk(m).expect("chunk").bytes.len();
            count += 1;
        }
    }
    println!("open chunk: {:.0} bytes on average over {count} series", bytes as f64 / count.max(1) as f64);
    // Restart: read the head chunk files back and replay the WAL.
    drop((ix, cr, r));
    drop(head);
    let start = Instant::now();
    let head = Head::open(HeadOptions {
        dir: Some(dir.path().to_path_buf()),
        fsync: FsyncPolicy::Never,
        ..Default::default()
    })
    .expect("reopen head");
    println!(
        "restart: head chunk files + WAL replayed in {:.1}s: series={} chunks={}",
        start.elapsed().as_secs_f64(),
        head.num_series(),
        head.num_chunks()
    );
}

fn main() {
    if std::env::var_os("TICKDB_HEAD_RSS").is_some() {
        rss_report();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_append(&mut c);
    c.final_summary();
}
