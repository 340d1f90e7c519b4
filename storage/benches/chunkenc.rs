//! XOR chunk encode/decode speed on realistic data: a counter scraped every 15 s with
//! millisecond jitter, and a noisy gauge. Reported per sample (criterion's throughput is set to
//! the sample count, so "elements/s" inverts to ns/sample).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use storage::chunkenc::{SAMPLES_PER_CHUNK, XorDecoder, XorEncoder, decode_all};

/// A deterministic xorshift generator (no dependency, same data every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn counter_samples(n: usize) -> Vec<(i64, f64)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut t = 1_700_000_000_000i64;
    let mut v = 0.0;
    (0..n)
        .map(|_| {
            t += 15_000 + (rng.next() % 5) as i64 - 2;
            v += (rng.next() % 100) as f64;
            (t, v)
        })
        .collect()
}

fn gauge_samples(n: usize) -> Vec<(i64, f64)> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut t = 1_700_000_000_000i64;
    (0..n)
        .map(|_| {
            t += 15_000;
            let noise = (rng.next() % 10_000) as f64 / 10_000.0;
            (t, 0.5 + noise * 0.1)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = SAMPLES_PER_CHUNK;
    for (name, samples) in [("counter", counter_samples(n)), ("gauge", gauge_samples(n))] {
        let mut g = c.benchmark_group("xor");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("encode", name), &samples, |b, s| {
            b.iter(|| {
                let mut e = XorEncoder::new();
                for &(t, v) in s {
                    e.append(t, v);
                }
                black_box(e.bytes().len())
            })
        });
        let mut e = XorEncoder::new();
        for &(t, v) in &samples {
            e.append(t, v);
        }
        let bytes = e.into_bytes();
        eprintln!("{name}: {} samples in {} bytes ({:.2} bytes/sample)", n, bytes.len(), bytes.len() as f64 / n as f64);
        g.bench_with_input(BenchmarkId::new("decode", name), &bytes, |b, bytes| {
            b.iter(|| {
                let mut sum = 0.0;
                if let Ok(d) = XorDecoder::new(bytes) {
                    for (_, v) in d {
                        sum += v;
                    }
                }
                black_box(sum)
            })
        });
        g.bench_with_input(BenchmarkId::new("decode_all", name), &bytes, |b, bytes| {
            b.iter(|| black_box(decode_all(bytes).map(|v| v.len()).unwrap_or(0)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
