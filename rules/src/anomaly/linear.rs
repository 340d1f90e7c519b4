//! Linear-trend forecast: ordinary least squares of value on time over a window (default 6h),
//! with the classical prediction interval, for "disk full within 24h" style forecasting rules.
//!
//! The window is a ring of time buckets (default 36) each holding `n, Σt, Σv, Σt², Σtv, Σv²`
//! (t in hours since the first sample, so the sums stay well conditioned for years); the closed
//! buckets are summed when a bucket opens or ages out, so a sample costs O(1) and memory is
//! `buckets + 1` summaries of 48 bytes whatever the sample rate.
//!
//! Forecast at `t0`: `a + b t0 ± 1.96 s sqrt(1 + 1/n + (t0 - mean t)² / Sxx)` with
//! `s² = SSE / (n - 2)`; needs `min_samples` (default 10, at least 3) and two distinct times.

use serde::{Deserialize, Serialize};

use super::window::Window;
use super::{FORECAST_Z, Forecast, Forecaster, usable};

/// Parameters of [`LinearTrend`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    pub window_ms: i64,
    pub buckets: usize,
    pub min_samples: u64,
}

impl Default for LinearParams {
    fn default() -> Self {
        LinearParams { window_ms: 6 * 3_600_000, buckets: 36, min_samples: 10 }
    }
}

/// Sums of one bucket (t in hours since `origin`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Sums {
    n: f64,
    t: f64,
    v: f64,
    tt: f64,
    tv: f64,
    vv: f64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.n += o.n;
        self.t += o.t;
        self.v += o.v;
        self.tt += o.tt;
        self.tv += o.tv;
        self.vv += o.vv;
    }
}

const MS_PER_HOUR: f64 = 3_600_000.0;

/// The least-squares trend over a sliding window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearTrend {
    params: LinearParams,
    origin: Option<i64>,
    last_ts: Option<i64>,
    window: Window<Sums>,
    closed: Sums,
}

/// A fitted line: `value = intercept + slope * hours since origin`, with its residual scale.
struct Fit {
    intercept: f64,
    slope: f64,
    n: f64,
    mean_t: f64,
    sxx: f64,
    s: f64,
}

impl LinearTrend {
    pub fn new(params: LinearParams) -> Self {
        let window = Window::new(params.window_ms, params.buckets);
        LinearTrend { params, origin: None, last_ts: None, window, closed: Sums::default() }
    }

    fn fit(&self) -> Option<Fit> {
        let mut s = self.closed;
        if let Some(cur) = self.window.iter().last() {
            s.add(cur);
        }
        if s.n < self.params.min_samples.max(3) as f64 {
            return None;
        }
        let mean_t = s.t / s.n;
        let sxx = s.tt - s.t * s.t / s.n;
        if sxx <= 1e-12 * s.tt.max(1.0) {
            return None;
        }
        let sxy = s.tv - s.t * s.v / s.n;
        let syy = s.vv - s.v * s.v / s.n;
        let slope = sxy / sxx;
        let intercept = s.v / s.n - slope * mean_t;
        let sse = (syy - slope * sxy).max(0.0);
        Some(Fit { intercept, slope, n: s.n, mean_t, sxx, s: (sse / (s.n - 2.0)).sqrt() })
    }

    fn hours(&self, ts_ms: i64) -> f64 {
        (ts_ms - self.origin.unwrap_or(ts_ms)) as f64 / MS_PER_HOUR
    }

    /// The slope in value units per second, if the window has enough data.
    pub fn slope_per_second(&self) -> Option<f64> {
        self.fit().map(|f| f.slope / 3600.0)
    }

    /// How long after the newest sample the trend line reaches `threshold` (ms), if it is
    /// heading there (`None` if it moves away, is flat, or there is not enough data). `Some(0)`
    /// when the line is already past it.
    pub fn time_to_reach(&self, threshold: f64) -> Option<i64> {
        let fit = self.fit()?;
        let now = self.hours(self.last_ts?);
        let at_now = fit.intercept + fit.slope * now;
        let gap = threshold - at_now;
        if gap == 0.0 || (gap > 0.0) != (fit.slope > 0.0) {
            return (gap == 0.0).then_some(0);
        }
        if fit.slope == 0.0 {
            return None;
        }
        Some((gap / fit.slope * MS_PER_HOUR).round().min(i64::MAX as f64) as i64)
    }
}

impl Forecaster for LinearTrend {
    fn observe(&mut self, ts_ms: i64, value: f64) {
        if !usable(self.last_ts, ts_ms, value) {
            return;
        }
        self.origin.get_or_insert(ts_ms);
        let t = self.hours(ts_ms);
        if self.window.advance(ts_ms) {
            self.closed = Sums::default();
            for b in self.window.closed() {
                self.closed.add(b);
            }
        }
        if let Some(b) = self.window.current_mut() {
            b.add(&Sums { n: 1.0, t, v: value, tt: t * t, tv: t * value, vv: value * value });
        }
        self.last_ts = Some(ts_ms);
    }

    fn forecast(&self, horizon_ms: i64) -> Option<Forecast> {
        let fit = self.fit()?;
        let ts_ms = self.last_ts?.saturating_add(horizon_ms.max(0));
        let t0 = self.hours(ts_ms);
        let value = fit.intercept + fit.slope * t0;
        let se = fit.s * (1.0 + 1.0 / fit.n + (t0 - fit.mean_t).powi(2) / fit.sxx).sqrt();
        Some(Forecast { ts_ms, value, lower: value - FORECAST_Z * se, upper: value + FORECAST_Z * se })
    }
}

impl LinearTrend {
    /// Heap and inline bytes of the state.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.window.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn recovers_a_line_and_its_crossing() {
        let mut l = LinearTrend::new(LinearParams::default());
        assert!(l.forecast(MIN).is_none());
        // 50% + 1% per hour, sampled every minute for 3h, with ±0.1 alternating noise.
        for i in 0..180 {
            let noise = if i % 2 == 0 { 0.1 } else { -0.1 };
            l.observe(i * MIN, 50.0 + i as f64 / 60.0 + noise);
        }
        let f = l.forecast(10 * 60 * MIN).unwrap();
        assert!((f.value - (50.0 + 179.0 / 60.0 + 10.0)).abs() < 0.05, "{f:?}");
        assert!(f.lower < f.value && f.upper > f.value && f.upper - f.lower < 1.0, "{f:?}");
        // 90% is reached 40h - 179 min after the last sample.
        let eta = l.time_to_reach(90.0).unwrap();
        assert!((eta - (40 * 60 - 179) * MIN).abs() < 10 * MIN, "{eta}");
        assert_eq!(l.time_to_reach(10.0), None, "moving away");
        assert!((l.slope_per_second().unwrap() * 3600.0 - 1.0).abs() < 0.01);
    }

    #[test]
    fn window_forgets_the_old_trend_and_ignores_nan() {
        let mut l = LinearTrend::new(LinearParams::default());
        for i in 0..600 {
            // Rising for 4h, then flat at 100 for 6h; a NaN every 7th sample.
            let v = if i % 7 == 0 {
                f64::NAN
            } else if i < 240 {
                i as f64 / 2.4
            } else {
                100.0
            };
            l.observe(i * MIN, v);
        }
        assert!(l.slope_per_second().unwrap().abs() < 1e-9);
        let f = l.forecast(60 * MIN).unwrap();
        assert!((f.value - 100.0).abs() < 1e-6, "{f:?}");
        assert_eq!(l.time_to_reach(200.0), None);
        assert!(l.memory_bytes() < 4096, "{}", l.memory_bytes());
    }
}
