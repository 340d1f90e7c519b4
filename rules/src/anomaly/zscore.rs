//! Rolling z-score over a baseline window (default 7 days), and its robust median/MAD variant.
//!
//! The window is a ring of time buckets (default 168 = one per hour of 7 days):
//! - mean/std: each bucket keeps count, mean and sum of squared deviations (Welford); the
//!   closed buckets are merged once when a bucket opens or ages out (O(buckets) per bucket
//!   period), and each sample costs O(1). Memory: `buckets + 1` summaries of 32 bytes.
//! - robust: each bucket keeps a uniform reservoir sample of at most `sample` values (default 8);
//!   the median and MAD of the pooled reservoirs are recomputed when a bucket opens or ages out
//!   and every 16 samples (O(buckets * sample) then, O(1) otherwise). Memory: `buckets + 1`
//!   reservoirs of `sample` values. The scale is `1.4826 * MAD`, or `1.2533 * mean absolute
//!   deviation` when more than half the values are equal (MAD = 0), so a mostly flat series with
//!   rare moves does not make every move critical.
//!
//! The noise scale has a floor of `1e-9 * max(|mean|, 1)`: a constant series scores 0 for its
//! own value (no division by zero) and any departure as critical, until the window has learned
//! the new value.

use serde::{Deserialize, Serialize};

use super::likelihood::{Likelihood, LikelihoodParams};
use super::window::Window;
use super::{Detector, Readiness, Score, usable};

/// Parameters of [`ZScore`] (`zscore:window=7d,buckets=168,robust=false,sample=8,min_samples=100`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZScoreParams {
    /// Baseline length.
    pub window_ms: i64,
    /// Time buckets the window is cut into.
    pub buckets: usize,
    /// Median/MAD instead of mean/standard deviation.
    pub robust: bool,
    /// Values kept per bucket by the robust variant.
    pub sample: usize,
    /// Samples the window must hold before scoring.
    pub min_samples: u64,
    /// Post-processing of the scores ([`Likelihood`]).
    #[serde(default)]
    pub likelihood: Option<LikelihoodParams>,
}

impl Default for ZScoreParams {
    fn default() -> Self {
        ZScoreParams {
            window_ms: 7 * 86_400_000,
            buckets: 168,
            robust: false,
            sample: 8,
            min_samples: 100,
            likelihood: None,
        }
    }
}

/// Count, mean and sum of squared deviations of a set of values; merged exactly (Chan et al.).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Moments {
    pub(crate) n: f64,
    pub(crate) mean: f64,
    pub(crate) m2: f64,
}

impl Moments {
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    pub(crate) fn merge(&mut self, o: &Moments) {
        if o.n == 0.0 {
            return;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        self.mean += d * o.n / n;
        self.m2 += o.m2 + d * d * self.n * o.n / n;
        self.n = n;
    }

    pub(crate) fn std(&self) -> f64 {
        if self.n < 2.0 { 0.0 } else { (self.m2 / (self.n - 1.0)).max(0.0).sqrt() }
    }
}

/// A bucket's reservoir: a uniform sample of at most `sample` of the values that fell in it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Reservoir {
    seen: u64,
    values: Vec<f64>,
}

/// The floor of a noise scale around `center`.
pub(crate) fn scale_floor(center: f64) -> f64 {
    1e-9 * center.abs().max(1.0)
}

/// The rolling z-score detector (mean/std or median/MAD).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ZScore {
    params: ZScoreParams,
    last_ts: Option<i64>,
    state: State,
    #[serde(default)]
    likelihood: Option<Likelihood>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Mean {
        window: Window<Moments>,
        /// The closed buckets merged.
        closed: Moments,
    },
    Robust {
        window: Window<Reservoir>,
        /// Values in the window (not only the sampled ones).
        count: u64,
        /// `(median, scale)` of the pooled reservoirs, and samples since computed.
        baseline: Option<(f64, f64)>,
        stale: u32,
        /// splitmix64 state for the reservoirs.
        rng: u64,
    },
}

/// Samples between two recomputations of the robust baseline inside one bucket.
const ROBUST_REFRESH: u32 = 16;

impl ZScore {
    pub fn new(params: ZScoreParams) -> Self {
        let state = if params.robust {
            State::Robust {
                window: Window::new(params.window_ms, params.buckets),
                count: 0,
                baseline: None,
                stale: 0,
                rng: 0x9e37_79b9_7f4a_7c15,
            }
        } else {
            State::Mean { window: Window::new(params.window_ms, params.buckets), closed: Moments::default() }
        };
        let likelihood = params.likelihood.clone().map(Likelihood::new);
        ZScore { params, last_ts: None, state, likelihood }
    }

    pub fn params(&self) -> &ZScoreParams {
        &self.params
    }

    /// `(expected, scale)` of the baseline now, if it has enough samples.
    fn baseline(&self) -> Option<(f64, f64)> {
        if self.samples() < self.params.min_samples.max(2) {
            return None;
        }
        match &self.state {
            State::Mean { window, closed } => {
                let mut m = *closed;
                if let Some(cur) = window.iter().last() {
                    m.merge(cur);
                }
                Some((m.mean, m.std().max(scale_floor(m.mean))))
            }
            State::Robust { baseline, .. } => *baseline,
        }
    }

    /// Moves the window to `ts_ms` (evicting old buckets, refreshing the closed summary).
    fn advance(&mut self, ts_ms: i64) {
        match &mut self.state {
            State::Mean { window, closed } => {
                if window.advance(ts_ms) {
                    *closed = Moments::default();
                    for b in window.closed() {
                        closed.merge(b);
                    }
                }
            }
            State::Robust { window, count, baseline, stale, .. } => {
                if window.advance(ts_ms) {
                    *count = window.iter().map(|b| b.seen).sum();
                    *baseline = robust_baseline(window.iter().flat_map(|b| b.values.iter().copied()));
                    *stale = 0;
                }
            }
        }
    }

    /// Adds a sample to the newest bucket (after [`ZScore::advance`]).
    fn add(&mut self, value: f64) {
        match &mut self.state {
            State::Mean { window, .. } => {
                if let Some(b) = window.current_mut() {
                    b.push(value);
                }
            }
            State::Robust { window, count, baseline, stale, rng } => {
                let k = self.params.sample.max(1);
                if let Some(b) = window.current_mut() {
                    b.seen += 1;
                    if b.values.len() < k {
                        b.values.push(value);
                    } else {
                        let j = (splitmix64(rng) % b.seen) as usize;
                        if j < k {
                            b.values[j] = value;
                        }
                    }
                }
                *count += 1;
                *stale += 1;
                if *stale >= ROBUST_REFRESH || baseline.is_none() {
                    *baseline = robust_baseline(window.iter().flat_map(|b| b.values.iter().copied()));
                    *stale = 0;
                }
            }
        }
    }
}

impl ZScore {
    /// Samples in the window.
    fn samples(&self) -> u64 {
        match &self.state {
            State::Mean { window, closed } => (closed.n + window.iter().last().map_or(0.0, |m| m.n)) as u64,
            State::Robust { count, .. } => *count,
        }
    }
}

/// Median and robust scale of `values` (see the module documentation).
fn robust_baseline(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return None;
    }
    let median = median_in_place(&mut v);
    for x in v.iter_mut() {
        *x = (*x - median).abs();
    }
    let mad = median_in_place(&mut v);
    let scale = if mad > 0.0 { 1.4826 * mad } else { 1.2533 * v.iter().sum::<f64>() / v.len() as f64 };
    Some((median, scale.max(scale_floor(median))))
}

/// The median (upper median for an even count); reorders `v`, which must not be empty.
fn median_in_place(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Detector for ZScore {
    fn update(&mut self, ts_ms: i64, value: f64) -> Option<Score> {
        if !usable(self.last_ts, ts_ms, value) {
            return None;
        }
        self.advance(ts_ms);
        let score = self.baseline().map(|(expected, scale)| Score::from_deviation(value, expected, scale));
        self.add(value);
        self.last_ts = Some(ts_ms);
        Likelihood::apply(&mut self.likelihood, score)
    }

    fn readiness(&self) -> Readiness {
        let samples = self.samples();
        Likelihood::readiness(&self.likelihood, Readiness { samples, needed: self.params.min_samples.max(2) })
    }

    fn memory_bytes(&self) -> usize {
        let ring = match &self.state {
            State::Mean { window, .. } => window.memory_bytes(),
            State::Robust { window, .. } => {
                window.memory_bytes() + window.iter().map(|r| r.values.capacity() * 8).sum::<usize>()
            }
        };
        std::mem::size_of::<Self>() + ring + Likelihood::memory(&self.likelihood)
    }
}

#[cfg(test)]
mod tests;
