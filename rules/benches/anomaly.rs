//! Cost of one anomaly-detector evaluation per series, and memory per tracked series.
//!
//! `cargo bench -p tickdb-rules --bench anomaly` keeps 10,000 warmed-up detectors of each kind
//! (one warmed up on 8 days of 5-minute samples of a daily pattern, then cloned, so every series
//! holds a full baseline) and measures one evaluation round (one new sample for every series)
//! per iteration; criterion reports the time per round and, with the throughput, per series.
//! Before the runs it prints `memory_bytes()` per series. The Gaussian mixture is measured with
//! caller-driven retraining (`retrain_every=0`), and its fit separately (`gmm fit`); the
//! ensemble (the best NAB detector) with its mixture fitted once during the warm-up.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use rules::anomaly::{AnyDetector, Detector, DetectorSpec, GmmModel};

const SERIES: usize = 10_000;
const STEP: i64 = 300_000;

fn value(i: i64, series: usize) -> f64 {
    let h = (i * STEP % 86_400_000) as f64 / 3_600_000.0;
    100.0
        + 50.0 * (h / 24.0 * std::f64::consts::TAU).sin()
        + ((i as usize * 7919 + series * 104_729) % 97) as f64 / 97.0
}

fn warmed(spec: &str) -> (AnyDetector, i64) {
    let spec: DetectorSpec = spec.parse().expect("spec");
    let mut d = spec.build();
    let mut i = 0;
    while i < 8 * 288 || !d.readiness().is_ready() {
        d.update(i * STEP, value(i, 0));
        i += 1;
    }
    (d, i)
}

fn bench(c: &mut Criterion) {
    let specs = [
        ("zscore", "zscore"),
        ("zscore robust", "zscore:robust=true"),
        ("holt_winters", "holt_winters"),
        ("gmm", "gmm:retrain_every=0"),
        // The mixture member fits once during the warm-up and not again while timed.
        ("ensemble", "ensemble:members=zscore+zscore(robust=true)+gmm(retrain_every=100000000),likelihood=10"),
    ];
    let mut g = c.benchmark_group("anomaly_update");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(20);
    for (name, spec) in specs {
        let (one, start) = warmed(spec);
        let mut all: Vec<AnyDetector> = vec![one; SERIES];
        let bytes: usize = all.iter().map(Detector::memory_bytes).sum();
        eprintln!("{name}: {} bytes per series ({spec})", bytes / SERIES);
        let mut i = start;
        g.bench_function(name, |b| {
            b.iter(|| {
                for (s, d) in all.iter_mut().enumerate() {
                    black_box(d.update(i * STEP, value(i, s)));
                }
                i += 1;
            })
        });
    }
    g.finish();

    let (d, _) = warmed("gmm:retrain_every=0");
    let AnyDetector::Gmm(u) = d else { unreachable!() };
    let set = u.gmm().training_set();
    c.bench_function("gmm fit (1000 x 2, 2 components)", |b| b.iter(|| black_box(GmmModel::fit(&set, 2))));
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
