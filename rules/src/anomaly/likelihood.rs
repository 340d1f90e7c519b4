//! Score post-processing for any detector: how surprising the *recent* deviations are, given the
//! deviations this series usually has (after Numenta's "anomaly likelihood").
//!
//! Keeps the mean and variance of the detector's `|z|` (clipped at 20) over a long horizon
//! (exponentially weighted, weight `max(1/n, 1/history)`), and the mean of the last `short`
//! values of `|z|` in a ring. The output deviation is
//! `z' = (mean of the last short |z| - long mean) / long standard deviation`, scored like any
//! `z` (`min(|z'|, 6) / 6`, same levels). A series whose detector often reports large `z`
//! (spiky CPU, heavy tails) then needs a sustained or unusually large departure to alarm, and a
//! lasting change outscores a lone spike. `expected`/`lower`/`upper` stay the detector's.
//! Warm-up: `WARMUP` scored samples. Memory: `short` values plus three numbers.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Level, Readiness, Score, score_of_z};

/// Parameters (`likelihood=10,likelihood_history=4000` on any detector spec); every detector's
/// parameters hold an `Option` of them and the detector applies it to its own scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodParams {
    /// Samples averaged for the recent deviation.
    pub short: usize,
    /// Horizon (samples) of the usual deviation's mean and variance.
    pub history: u64,
}

/// Scored samples before the post-processed score is reported.
pub const WARMUP: u64 = 100;
/// `|z|` is clipped here before it is learned (a single huge deviation must not dominate).
const Z_CLIP: f64 = 20.0;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Likelihood {
    params: LikelihoodParams,
    n: u64,
    mean: f64,
    var: f64,
    recent: VecDeque<f64>,
}

impl Likelihood {
    pub fn new(params: LikelihoodParams) -> Self {
        let cap = params.short.max(1);
        Likelihood { params, n: 0, mean: 0.0, var: 0.0, recent: VecDeque::with_capacity(cap + 1) }
    }

    /// Folds in the detector's score and returns the post-processed one (`None` while warming up).
    pub fn update(&mut self, s: Score) -> Option<Score> {
        let z = s.z.abs().min(Z_CLIP);
        self.recent.push_back(z);
        if self.recent.len() > self.params.short.max(1) {
            self.recent.pop_front();
        }
        let avg = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        let out = (self.n >= WARMUP).then(|| {
            let zl = (avg - self.mean) / self.var.sqrt().max(1e-3);
            Score { score: score_of_z(zl), z: zl, level: Level::from_z(zl), ..s }
        });
        self.n += 1;
        let w = (1.0 / self.n as f64).max(1.0 / self.params.history.max(1) as f64);
        let d = z - self.mean;
        self.mean += w * d;
        self.var = (1.0 - w) * (self.var + w * d * d);
        out
    }

    pub fn scored(&self) -> u64 {
        self.n
    }

    /// A detector's score through the optional post-processing.
    pub(crate) fn apply(this: &mut Option<Likelihood>, s: Option<Score>) -> Option<Score> {
        match (this, s) {
            (Some(l), Some(s)) => l.update(s),
            (_, s) => s,
        }
    }

    /// A detector's readiness, then the post-processing's warm-up.
    pub(crate) fn readiness(this: &Option<Likelihood>, r: Readiness) -> Readiness {
        match this {
            Some(l) if r.is_ready() => Readiness { samples: l.scored(), needed: WARMUP },
            _ => r,
        }
    }

    pub(crate) fn memory(this: &Option<Likelihood>) -> usize {
        this.as_ref().map_or(0, Likelihood::memory_bytes)
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.recent.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(z: f64) -> Score {
        Score::from_deviation(z, 0.0, 1.0)
    }

    #[test]
    fn a_spiky_series_needs_more_than_its_usual_spikes() {
        let mut l = Likelihood::new(LikelihoodParams { short: 5, history: 1000 });
        let mut fired = Vec::new();
        for i in 0..2000 {
            // |z| = 4.5 every 20th sample (usual for this series), 0.5 otherwise; from 1500 on a
            // lasting shift to |z| = 4.5 on every sample.
            let z = if i >= 1500 || i % 20 == 0 { 4.5 } else { 0.5 };
            let s = l.update(score(z));
            assert_eq!(s.is_none(), i < WARMUP as usize);
            if s.is_some_and(|s| s.level.is_some()) {
                fired.push(i);
            }
        }
        assert!(!fired.is_empty() && fired[0] >= 1500 && fired[0] <= 1503, "{fired:?}");
        // The raw detector would have said "high" 75 times before.
        assert_eq!(score(4.5).level, Some(Level::High));
    }
}
