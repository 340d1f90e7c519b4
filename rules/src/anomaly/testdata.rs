//! Synthetic series with known answers, shared by the detectors' unit tests.

use super::{Detector, Level};

pub(crate) const MIN: i64 = 60_000;
pub(crate) const HOUR: i64 = 60 * MIN;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Deterministic noise, uniform in [-1, 1] (bounded: a clean series never has a 3-sigma point).
pub(crate) struct Noise(u64);

impl Noise {
    pub(crate) fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    }
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// `n` samples every `step_ms` from t = 0: `f(i, t_ms) + noise`.
pub(crate) fn series(n: usize, step_ms: i64, seed: u64, f: impl Fn(usize, i64) -> f64) -> Vec<(i64, f64)> {
    let mut noise = Noise::new(seed);
    (0..n).map(|i| (i as i64 * step_ms, f(i, i as i64 * step_ms) + noise.next())).collect()
}

/// Player counts of a game server every 5 minutes: 100 by day, a sharp evening peak of +400
/// around 20:00, ±1 noise.
pub(crate) fn players(t_ms: i64) -> f64 {
    let h = (t_ms % DAY) as f64 / HOUR as f64;
    100.0 + 400.0 * (-((h - 20.0) / 1.5).powi(2)).exp()
}

/// Indices of the samples scored at `level` or above.
pub(crate) fn alarms(d: &mut dyn Detector, s: &[(i64, f64)], level: Level) -> Vec<usize> {
    s.iter()
        .enumerate()
        .filter_map(|(i, &(t, v))| d.update(t, v).and_then(|sc| sc.level).filter(|l| *l >= level).map(|_| i))
        .collect()
}

/// A Prometheus-style per-second rate between consecutive counter samples, resets compensated.
pub(crate) fn rate(counter: &[(i64, f64)]) -> Vec<(i64, f64)> {
    counter
        .windows(2)
        .map(|w| {
            let (t0, c0) = w[0];
            let (t1, c1) = w[1];
            let inc = if c1 < c0 { c1 } else { c1 - c0 };
            (t1, inc / ((t1 - t0) as f64 / 1000.0))
        })
        .collect()
}

/// Two scores equal up to the last bits (JSON round trips of floats may differ in the last one).
#[track_caller]
pub(crate) fn assert_same(a: Option<super::Score>, b: Option<super::Score>) {
    match (a, b) {
        (Some(a), Some(b)) => {
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
            assert!(
                close(a.score, b.score)
                    && close(a.z, b.z)
                    && close(a.expected, b.expected)
                    && close(a.lower, b.lower)
                    && close(a.upper, b.upper)
                    && a.level == b.level,
                "{a:?} != {b:?}"
            );
        }
        (a, b) => assert_eq!(a, b),
    }
}
