//! WAL `log()` throughput at `fsync=always` with 1 and 4 writer threads, each record a samples
//! record of 1000 samples (~12 KB). Group commit should let 4 threads share fsyncs, so the
//! 4-thread figure (records/s) is the interesting ratio against 1 thread. The fsyncs-per-record
//! ratio is printed to stderr. Runs in a temporary directory under `target/` (a real disk; /tmp
//! may be tmpfs where fsync is free) unless `TICKDB_BENCH_DIR` says otherwise.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use storage::metrics::Registry;
use storage::wal::{FsyncPolicy, Record, RefSample, Wal, WalOptions};

fn record(seed: u64) -> Vec<u8> {
    let samples = (0..1000u64)
        .map(|i| RefSample {
            ref_: seed * 1000 + i,
            t: 1_700_000_000_000 + (seed as i64) * 15_000,
            v: (i as f64) * 1.5,
        })
        .collect();
    Record::Samples(samples).to_bytes()
}

fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var("TICKDB_BENCH_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    std::fs::create_dir_all(&base).ok();
    tempfile::tempdir_in(base).unwrap_or_else(|_| tempfile::tempdir().expect("temp dir"))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_log_always_1000_samples");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for threads in [1usize, 4] {
        let dir = bench_dir();
        let registry = Registry::new();
        let wal = Arc::new(
            Wal::open(
                dir.path(),
                WalOptions { fsync: FsyncPolicy::Always, registry: Some(registry.clone()), ..WalOptions::default() },
            )
            .expect("open wal"),
        );
        let recs: Arc<Vec<Vec<u8>>> = Arc::new((0..64).map(record).collect());
        let mut total_records = 0u64;
        g.bench_with_input(BenchmarkId::from_parameter(format!("{threads}_threads")), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(threads as u64);
                total_records += per * threads as u64;
                let t0 = Instant::now();
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let wal = wal.clone();
                        let recs = recs.clone();
                        std::thread::spawn(move || {
                            for i in 0..per {
                                let r = &recs[(i as usize + t * 7) % recs.len()];
                                wal.log(&[black_box(r)]).expect("log");
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().expect("writer thread");
                }
                // Time per record across all threads (throughput = records/s overall).
                t0.elapsed().mul_f64(iters as f64 / (per * threads as u64) as f64)
            })
        });
        let fsyncs = registry.counter("tickdb_wal_fsyncs_total", "").get();
        eprintln!(
            "{threads} thread(s): {total_records} records, {fsyncs} fsyncs ({:.2} fsyncs/record)",
            fsyncs as f64 / total_records.max(1) as f64
        );
        wal.close().expect("close");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
