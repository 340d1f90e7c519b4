//! Seasonal baseline: additive Holt-Winters, online, on irregular timestamps; and its forecast.
//!
//! The season (`period`, default 1d) is cut into `slots` (default 288 = 5 minutes); a sample
//! belongs to the slot of its time of period, so missing samples and irregular intervals need
//! no resampling. State: level `l`, trend `b` (per slot width), one seasonal offset per slot.
//!
//! - Warm-up: during the first full period the samples are only summed per slot; at its end
//!   `l` is the mean of the slot means, `b = 0` and each slot's offset is its mean minus `l`
//!   (slots that saw no sample take the previous slot's offset). Then the one-step residual
//!   scale needs `min_samples` (default 12) residuals before the detector scores.
//! - Each sample: forecast `f = l + b * dt + s[slot]` (`dt` in slot widths since the previous
//!   sample), residual `e = x - f`, `z = e / sigma`. Then, with `x'` = `x` clipped to
//!   `f ± 4 sigma` (so an anomaly does not drag the baseline with it):
//!   `l' = alpha (x' - s) + (1 - alpha)(l + b dt)`, `b' = beta (l' - l) / dt + (1 - beta) b`,
//!   `s' = gamma (x' - l') + (1 - gamma) s` unless `x` was clipped (an outlier moves the level,
//!   never the season), and `sigma^2` is an exponentially weighted mean of clipped squared
//!   residuals (weight `max(1/n, 0.01)`; a lasting change inflates it until it is learned).
//!   The offset `s` at a time is interpolated linearly between the two nearest slot starts,
//!   and an update is shared between those two slots by the same weights.
//! - Memory: `slots` offsets (8 bytes each; during warm-up 8 more per slot for the counts).
//!
//! [`HoltWinters::forecast`] predicts `l + b h + s[slot(t + h)]` with the interval
//! `± 1.96 sigma sqrt(1 + sum_{j=1}^{k-1} (alpha (1 + j beta))^2)` over the `k` samples expected
//! in the horizon (the usual additive approximation, seasonal term left out).

use serde::{Deserialize, Serialize};

use super::likelihood::{Likelihood, LikelihoodParams};
use super::zscore::scale_floor;
use super::{Detector, FORECAST_Z, Forecast, Forecaster, Readiness, Score, usable};

/// Parameters of [`HoltWinters`]
/// (`holt_winters:period=1d,slots=288,alpha=0.1,beta=0.001,gamma=0.3,min_samples=12`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoltWintersParams {
    /// Season length.
    pub period_ms: i64,
    /// Seasonal slots per period.
    pub slots: usize,
    /// Smoothing of the level, trend and seasonal offsets, per sample, in (0, 1].
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    /// Residuals seen after the first period before scoring.
    pub min_samples: u64,
    /// Post-processing of the scores ([`Likelihood`]; forecasts do not use it).
    #[serde(default)]
    pub likelihood: Option<LikelihoodParams>,
}

impl Default for HoltWintersParams {
    fn default() -> Self {
        HoltWintersParams {
            period_ms: 86_400_000,
            slots: 288,
            alpha: 0.1,
            beta: 0.001,
            gamma: 0.3,
            min_samples: 12,
            likelihood: None,
        }
    }
}

/// Clip residuals used for learning at this many sigmas.
const CLIP_Z: f64 = 4.0;
/// Floor of the weight of a new squared residual in `sigma^2`.
const SIGMA_DECAY: f64 = 0.01;

/// The online additive Holt-Winters model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoltWinters {
    params: HoltWintersParams,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    /// Samples learned.
    n: u64,
    /// Samples at the end of the warm-up period (0 = still warming up).
    n_init: u64,
    level: f64,
    trend: f64,
    /// Offsets per slot; during warm-up, sums per slot.
    season: Vec<f64>,
    /// Samples per slot during warm-up; empty afterwards.
    counts: Vec<u32>,
    /// Variance of one-step residuals and how many were seen.
    var: f64,
    residuals: u64,
    /// Mean interval between samples (ms), for forecasts.
    mean_dt_ms: f64,
    #[serde(default)]
    likelihood: Option<Likelihood>,
}

impl HoltWinters {
    pub fn new(params: HoltWintersParams) -> Self {
        let slots = params.slots.max(1);
        let likelihood = params.likelihood.clone().map(Likelihood::new);
        HoltWinters {
            likelihood,
            params,
            first_ts: None,
            last_ts: None,
            n: 0,
            n_init: 0,
            level: 0.0,
            trend: 0.0,
            season: vec![0.0; slots],
            counts: vec![0; slots],
            var: 0.0,
            residuals: 0,
            mean_dt_ms: 0.0,
        }
    }

    pub fn params(&self) -> &HoltWintersParams {
        &self.params
    }

    fn slot_ms(&self) -> f64 {
        (self.params.period_ms as f64 / self.season.len() as f64).max(1.0)
    }

    fn slot(&self, ts_ms: i64) -> usize {
        let phase = ts_ms.rem_euclid(self.params.period_ms.max(1));
        ((phase as f64 / self.slot_ms()) as usize).min(self.season.len() - 1)
    }

    /// The two slots around the phase of `ts_ms` and the weight of the second: offsets are
    /// interpolated linearly between slot starts, so samples off the slot grid (after a gap,
    /// at another scrape offset) see the right offset on a steep part of the season.
    fn around(&self, ts_ms: i64) -> (usize, usize, f64) {
        let m = self.season.len();
        let phase = ts_ms.rem_euclid(self.params.period_ms.max(1)) as f64 / self.slot_ms();
        let k = phase.floor();
        let k0 = (k as i64).rem_euclid(m as i64) as usize;
        (k0, (k0 + 1) % m, phase - k)
    }

    fn offset(&self, ts_ms: i64) -> f64 {
        let (a, b, w) = self.around(ts_ms);
        (1.0 - w) * self.season[a] + w * self.season[b]
    }

    fn warming(&self) -> bool {
        self.n_init == 0
    }

    /// Ends the warm-up: level, trend and offsets from the per-slot means.
    fn initialise(&mut self) {
        let means: Vec<Option<f64>> =
            self.season.iter().zip(&self.counts).map(|(s, &c)| (c > 0).then(|| s / c as f64)).collect();
        let seen: Vec<f64> = means.iter().flatten().copied().collect();
        self.level = seen.iter().sum::<f64>() / seen.len().max(1) as f64;
        self.trend = 0.0;
        // Unseen slots are interpolated linearly between the nearest seen ones (cyclically).
        let seen_idx: Vec<usize> = (0..means.len()).filter(|&i| means[i].is_some()).collect();
        let m = means.len();
        for i in 0..m {
            self.season[i] = match means[i] {
                Some(v) => v - self.level,
                None => {
                    let after = seen_idx.iter().copied().find(|&j| j > i).unwrap_or(seen_idx[0] + m);
                    let before = seen_idx
                        .iter()
                        .copied()
                        .rev()
                        .find(|&j| j < i)
                        .map_or(seen_idx[seen_idx.len() - 1] as i64 - m as i64, |j| j as i64);
                    let (vb, va) = (means[before.rem_euclid(m as i64) as usize], means[after % m]);
                    let (vb, va) = (vb.unwrap_or(self.level), va.unwrap_or(self.level));
                    let w = (i as i64 - before) as f64 / (after as i64 - before) as f64;
                    vb + w * (va - vb) - self.level
                }
            };
        }
        self.counts = Vec::new();
        self.n_init = self.n.max(1);
    }

    fn sigma(&self) -> f64 {
        self.var.sqrt().max(scale_floor(self.level))
    }

    /// The one-step forecast for `ts_ms` (after the warm-up).
    fn predict(&self, ts_ms: i64) -> f64 {
        let dt = self.last_ts.map_or(0.0, |t| (ts_ms - t) as f64 / self.slot_ms());
        self.level + self.trend * dt + self.offset(ts_ms)
    }

    /// Learns a finite, in-order sample; returns the score it had.
    fn learn(&mut self, ts_ms: i64, x: f64) -> Option<Score> {
        let first = *self.first_ts.get_or_insert(ts_ms);
        if let Some(t) = self.last_ts {
            let dt = (ts_ms - t) as f64;
            self.mean_dt_ms = if self.n <= 1 { dt } else { 0.95 * self.mean_dt_ms + 0.05 * dt };
        }
        if self.warming() && ts_ms - first >= self.params.period_ms {
            self.initialise();
        }
        self.n += 1;
        if self.warming() {
            let s = self.slot(ts_ms);
            self.season[s] += x;
            self.counts[s] += 1;
            self.last_ts = Some(ts_ms);
            return None;
        }
        let f = self.predict(ts_ms);
        let sigma = self.sigma();
        let score = (self.residuals >= self.params.min_samples.max(1)).then(|| Score::from_deviation(x, f, sigma));
        let xc = if self.residuals > 0 { x.clamp(f - CLIP_Z * sigma, f + CLIP_Z * sigma) } else { x };
        let outlier = xc != x;
        let e = xc - f;
        self.residuals += 1;
        let w = (1.0 / self.residuals as f64).max(SIGMA_DECAY);
        self.var = (1.0 - w) * self.var + w * e * e;

        let HoltWintersParams { alpha, beta, gamma, .. } = self.params;
        let dt = self.last_ts.map_or(0.0, |t| (ts_ms - t) as f64 / self.slot_ms());
        let s = self.offset(ts_ms);
        let prev_level = self.level;
        self.level = alpha * (xc - s) + (1.0 - alpha) * (self.level + self.trend * dt);
        if dt > 0.0 {
            self.trend = beta * (self.level - prev_level) / dt + (1.0 - beta) * self.trend;
        }
        // An outlier moves the level (clipped) but not the season: an outage at the evening
        // peak must not teach the next evenings a lower peak.
        if !outlier {
            let (a, b, w) = self.around(ts_ms);
            let err = gamma * (xc - self.level - s);
            self.season[a] += (1.0 - w) * err;
            self.season[b] += w * err;
        }
        self.last_ts = Some(ts_ms);
        score
    }
}

impl Detector for HoltWinters {
    fn update(&mut self, ts_ms: i64, value: f64) -> Option<Score> {
        if !usable(self.last_ts, ts_ms, value) {
            return None;
        }
        let score = self.learn(ts_ms, value);
        Likelihood::apply(&mut self.likelihood, score)
    }

    fn readiness(&self) -> Readiness {
        Likelihood::readiness(&self.likelihood, self.model_readiness())
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.season.capacity() * 8
            + self.counts.capacity() * 4
            + Likelihood::memory(&self.likelihood)
    }
}

impl HoltWinters {
    fn model_readiness(&self) -> Readiness {
        let min = self.params.min_samples.max(1);
        if !self.warming() {
            return Readiness { samples: self.n, needed: self.n_init + min };
        }
        // Estimate the samples of one period from the rate seen so far.
        let elapsed = match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) if b > a => (b - a) as f64,
            _ => return Readiness { samples: self.n, needed: self.n + min },
        };
        let per_period = ((self.n - 1) as f64 * self.params.period_ms as f64 / elapsed).ceil() as u64;
        Readiness { samples: self.n, needed: per_period.max(self.n + 1) + min }
    }
}

impl Forecaster for HoltWinters {
    fn observe(&mut self, ts_ms: i64, value: f64) {
        Detector::update(self, ts_ms, value);
    }

    fn forecast(&self, horizon_ms: i64) -> Option<Forecast> {
        let last = self.last_ts?;
        if self.warming() || self.residuals < self.params.min_samples.max(1) {
            return None;
        }
        let ts_ms = last.saturating_add(horizon_ms.max(0));
        let value = self.predict(ts_ms);
        // Samples expected in the horizon, and the variance they accumulate.
        let k = if self.mean_dt_ms > 0.0 { (horizon_ms as f64 / self.mean_dt_ms).ceil().max(1.0) } else { 1.0 };
        let HoltWintersParams { alpha: a, beta: b, .. } = self.params;
        // sum_{j=1}^{k-1} (a + a b j)^2 in closed form.
        let m = k - 1.0;
        let (s1, s2) = (m * (m + 1.0) / 2.0, m * (m + 1.0) * (2.0 * m + 1.0) / 6.0);
        let growth = a * a * (m + 2.0 * b * s1 + b * b * s2);
        let half = FORECAST_Z * self.sigma() * (1.0 + growth).sqrt();
        Some(Forecast { ts_ms, value, lower: value - half, upper: value + half })
    }
}

#[cfg(test)]
mod tests;
