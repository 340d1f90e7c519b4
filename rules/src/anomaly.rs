//! Anomaly detection: per-series detectors that learn a series' normal behaviour incrementally,
//! in bounded memory, and score each new sample (docs/anomaly.md).
//!
//! The contract every detector keeps ([`Detector`]):
//! - [`Detector::update`] takes one sample `(ts_ms, value)` in time order and returns a [`Score`]
//!   for it, computed against the state *before* the sample, then folds the sample into the
//!   state. The work per call is bounded (no pass over the whole window).
//! - Cold start: `update` returns `None` until [`Detector::readiness`] says the baseline holds
//!   enough data; rule health shows [`Readiness`]'s `"warming up: n of m samples"`.
//! - NaN and ±Inf samples (stale markers included) are ignored: no score, no state change.
//!   Samples older than the newest one seen are ignored too.
//! - Memory is bounded by the parameters alone ([`Detector::memory_bytes`]); the state is
//!   `serde` (de)serialisable so it can be persisted in the data dir and reloaded at start.
//!
//! Scores: every detector measures a deviation `z` in units of its own noise scale (standard
//! deviations for the z-score and Holt-Winters, the robust equivalent for median/MAD, the
//! normal-equivalent of the Mahalanobis distance for the Gaussian mixture). The score is
//! `min(|z|, 6) / 6`, so the levels are the same for every detector: `|z| > 3` (score > 0.5)
//! medium, `|z| > 4` (score > 2/3) high, `|z| > 5` (score > 5/6) critical. The band
//! `[lower, upper]` is the range in which the sample would have had `|z| <= 3`.
//!
//! Counters must be passed as rates (`rate(x[5m])`), never raw: a raw counter's value grows
//! without bound (every detector then sees a drift and its baseline never settles) and a counter
//! reset is a drop to zero that every detector reports as critical although nothing happened.
//! `rate()` removes both (it compensates resets), leaving the quantity whose normal behaviour is
//! worth learning.
//!
//! Module map: [`spec`] (the `kind:param=value,...` / YAML configuration, validation, `build`),
//! [`zscore`] (rolling z-score and median/MAD over a time-bucketed window), [`holt_winters`]
//! (seasonal baseline and its forecast), [`linear`] (least-squares trend forecast), [`gmm`]
//! (multivariate Gaussian mixture, linfa), [`likelihood`] (post-processing any detector's
//! scores by how unusual the recent deviations are for this series), [`ensemble`] (several
//! detectors on one series, scored by the most surprised), [`alarm`] (thresholding a
//! score stream into alarms), [`csv`] (the `timestamp,value` files of the CLI and NAB),
//! `window` (the time-bucket ring they share).

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod alarm;
pub mod csv;
pub mod ensemble;
pub mod gmm;
pub mod holt_winters;
pub mod likelihood;
pub mod linear;
pub mod spec;
#[cfg(test)]
mod testdata;
mod window;
pub mod zscore;

pub use alarm::Alarm;
pub use ensemble::Ensemble;
pub use gmm::{Gmm, GmmModel};
pub use holt_winters::HoltWinters;
pub use likelihood::Likelihood;
pub use linear::LinearTrend;
pub use spec::{DetectorSpec, SpecError};
pub use zscore::ZScore;

/// `|z|` at which the score reaches 1.
pub const Z_MAX: f64 = 6.0;
/// `|z|` bounding the band `[lower, upper]` of a [`Score`] (the medium level).
pub const BAND_Z: f64 = 3.0;

/// How unusual a sample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Medium,
    High,
    Critical,
}

impl Level {
    /// The level of a deviation: `|z| > 3` medium, `> 4` high, `> 5` critical.
    pub fn from_z(z: f64) -> Option<Level> {
        let z = z.abs();
        if z > 5.0 {
            Some(Level::Critical)
        } else if z > 4.0 {
            Some(Level::High)
        } else if z > 3.0 {
            Some(Level::Medium)
        } else {
            None
        }
    }

    /// The level of a score (the same thresholds: 0.5, 2/3, 5/6).
    pub fn from_score(score: f64) -> Option<Level> {
        Level::from_z(score * Z_MAX)
    }

    /// The lowest score at which this level applies (exclusive).
    pub fn min_score(self) -> f64 {
        match self {
            Level::Medium => 3.0 / Z_MAX,
            Level::High => 4.0 / Z_MAX,
            Level::Critical => 5.0 / Z_MAX,
        }
    }

    /// `medium`, `high`, `critical`: the `severity` label of an anomaly alert.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The score of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// `min(|z|, 6) / 6`, in `0..=1`.
    pub score: f64,
    /// Signed deviation from `expected` in units of the detector's noise scale (for the
    /// Gaussian mixture: the non-negative normal-equivalent distance).
    pub z: f64,
    /// What the detector expected the value to be.
    pub expected: f64,
    /// The band in which `|z| <= 3`.
    pub lower: f64,
    pub upper: f64,
    /// `None` below `|z| = 3`.
    pub level: Option<Level>,
}

impl Score {
    /// The score of a value `value` against `expected` with noise scale `scale` (> 0).
    pub fn from_deviation(value: f64, expected: f64, scale: f64) -> Score {
        let z = (value - expected) / scale;
        Score {
            score: score_of_z(z),
            z,
            expected,
            lower: expected - BAND_Z * scale,
            upper: expected + BAND_Z * scale,
            level: Level::from_z(z),
        }
    }
}

/// The documented mapping from a deviation to a score: `min(|z|, 6) / 6`; NaN maps to 0.
pub fn score_of_z(z: f64) -> f64 {
    if z.is_nan() { 0.0 } else { z.abs().min(Z_MAX) / Z_MAX }
}

/// How far a detector is from having a baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// Samples in the baseline now.
    pub samples: u64,
    /// Samples it needs before it scores (for time-based warm-up, an estimate from the sample
    /// rate seen so far).
    pub needed: u64,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.samples >= self.needed
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ready() {
            write!(f, "ready ({} samples)", self.samples)
        } else {
            write!(f, "warming up: {} of {} samples", self.samples, self.needed)
        }
    }
}

/// A per-series detector (see the module documentation for the contract).
pub trait Detector: fmt::Debug + Send + Sync {
    /// Scores `value` at `ts_ms` against the state so far, then learns it. `None` while warming
    /// up and for ignored samples (NaN, ±Inf, out of order).
    fn update(&mut self, ts_ms: i64, value: f64) -> Option<Score>;
    /// Whether the baseline is complete.
    fn readiness(&self) -> Readiness;
    /// Heap and inline bytes of the state (bounded by the parameters).
    fn memory_bytes(&self) -> usize;
}

/// A univariate detector built from a [`DetectorSpec`]: one enum so the state serialises with its
/// kind and can be persisted and reloaded.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnyDetector {
    Zscore(ZScore),
    HoltWinters(HoltWinters),
    /// The Gaussian mixture over the embedding `[value, value - previous value]`.
    Gmm(gmm::Univariate),
    /// Several of the above, scored by the largest deviation.
    Ensemble(Ensemble),
}

impl AnyDetector {
    fn inner(&self) -> &dyn Detector {
        match self {
            AnyDetector::Zscore(d) => d,
            AnyDetector::HoltWinters(d) => d,
            AnyDetector::Gmm(d) => d,
            AnyDetector::Ensemble(d) => d,
        }
    }
}

impl Detector for AnyDetector {
    fn update(&mut self, ts_ms: i64, value: f64) -> Option<Score> {
        match self {
            AnyDetector::Zscore(d) => d.update(ts_ms, value),
            AnyDetector::HoltWinters(d) => d.update(ts_ms, value),
            AnyDetector::Gmm(d) => d.update(ts_ms, value),
            AnyDetector::Ensemble(d) => d.update(ts_ms, value),
        }
    }
    fn readiness(&self) -> Readiness {
        self.inner().readiness()
    }
    fn memory_bytes(&self) -> usize {
        self.inner().memory_bytes()
    }
}

/// Confidence of a [`Forecast`]'s interval: 1.96 standard errors, about 95%.
pub const FORECAST_Z: f64 = 1.96;

/// A predicted value with its ~95% prediction interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The time the prediction is for.
    pub ts_ms: i64,
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// A model that predicts a series ahead: [`HoltWinters`] (level, trend and season) and
/// [`LinearTrend`] (least squares over a window). Forecasting rules feed it samples and ask for
/// the value `horizon_ms` after the newest one.
pub trait Forecaster {
    /// Learns one sample (NaN, ±Inf and out-of-order samples are ignored).
    fn observe(&mut self, ts_ms: i64, value: f64);
    /// The forecast `horizon_ms` after the newest sample; `None` until the model has enough data.
    fn forecast(&self, horizon_ms: i64) -> Option<Forecast>;
}

/// Errors of the anomaly module outside configuration.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AnomalyError {
    /// A multivariate sample with the wrong number of values.
    #[error("expected a vector of {expected} values, got {got}")]
    Dimension { expected: usize, got: usize },
    /// Fitting the Gaussian mixture failed (e.g. too few distinct points).
    #[error("training the gaussian mixture: {0}")]
    Training(String),
}

/// Whether a sample can be learned: finite and not older than `last_ts`.
pub(crate) fn usable(last_ts: Option<i64>, ts_ms: i64, value: f64) -> bool {
    value.is_finite() && last_ts.is_none_or(|t| ts_ms >= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_and_levels_agree() {
        for (z, level) in [
            (0.0, None),
            (-3.0, None),
            (3.01, Some(Level::Medium)),
            (-4.5, Some(Level::High)),
            (5.01, Some(Level::Critical)),
            (100.0, Some(Level::Critical)),
        ] {
            assert_eq!(Level::from_z(z), level, "z {z}");
            assert_eq!(Level::from_score(score_of_z(z)), level, "z {z} via score");
        }
        assert_eq!(score_of_z(3.0), 0.5);
        assert_eq!(score_of_z(f64::INFINITY), 1.0);
        assert_eq!(score_of_z(f64::NAN), 0.0);
        assert!(Level::from_score(Level::High.min_score()) == Some(Level::Medium));
    }

    #[test]
    fn band_is_the_medium_range() {
        let s = Score::from_deviation(13.0, 10.0, 1.0);
        assert_eq!((s.lower, s.upper, s.level), (7.0, 13.0, None));
        assert_eq!(s.score, 0.5);
    }

    #[test]
    fn readiness_text() {
        assert_eq!(Readiness { samples: 3, needed: 100 }.to_string(), "warming up: 3 of 100 samples");
        assert_eq!(Readiness { samples: 100, needed: 100 }.to_string(), "ready (100 samples)");
    }
}
