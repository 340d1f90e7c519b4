//! A learned multivariate model: a Gaussian mixture (linfa-clustering's EM, full covariances)
//! over a vector of several metrics of one target (CPU, memory, tick rate, players, ...).
//!
//! - Training buffer: the newest `train` vectors (default 1000) in a ring, so memory is
//!   `train * dims * 8` bytes plus the model (`components * (dims² + dims + 2)` numbers).
//! - Features are standardised with the buffer's mean and standard deviation at training time.
//! - Retraining: every `retrain_every` samples (default 250) once `min_samples` (default 200)
//!   are buffered, inside [`Gmm::update`]; with `retrain_every = 0` the caller decides: it takes
//!   [`Gmm::training_set`], runs [`GmmModel::fit`] wherever it likes (a blocking pool, on a
//!   schedule) and hands the result to [`Gmm::install`]. A failed fit keeps the previous model.
//! - Score: the negative log-likelihood `NLL(x)` relative to its minimum over the space,
//!   `m² = 2 (NLL(x) - min NLL)`, is the squared Mahalanobis distance for one component; its
//!   chi-square tail with `dims` degrees of freedom is turned into a normal-equivalent `z` by the
//!   Wilson-Hilferty transform, `z = ((m²/d)^(1/3) - (1 - 2/(9d))) / sqrt(2/(9d))`, clamped at 0.
//!   The score is then `min(z, 6) / 6` like every detector's. `expected`/`lower`/`upper` describe
//!   the first dimension: the mean of the most responsible component ± 3 of its standard
//!   deviations.
//! - The fitted model is plain numbers ([`GmmModel`], serde), persisted with the buffer.
//!
//! [`Univariate`] applies the model to a single series through the embedding
//! `[value, value - previous value]` (level and change), which is what `tickdb anomaly score`
//! and the NAB evaluation use.

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::GaussianMixtureModel;
use ndarray::Array2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::likelihood::{Likelihood, LikelihoodParams};
use super::{AnomalyError, BAND_Z, Detector, Level, Readiness, Score, score_of_z, usable};

/// Parameters of [`Gmm`] (`gmm:components=2,train=1000,retrain_every=250,min_samples=200`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GmmParams {
    pub components: usize,
    /// Capacity of the training buffer (newest vectors).
    pub train: usize,
    /// Retrain after this many new samples; 0 = only when the caller asks.
    pub retrain_every: u64,
    /// Buffered vectors needed before the first fit.
    pub min_samples: u64,
    /// Post-processing of the scores ([`Likelihood`]).
    #[serde(default)]
    pub likelihood: Option<LikelihoodParams>,
}

impl Default for GmmParams {
    fn default() -> Self {
        GmmParams { components: 2, train: 1000, retrain_every: 250, min_samples: 200, likelihood: None }
    }
}

/// One fitted component, in standardised coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Component {
    /// `log weight + ½ log det(precision) - d/2 log 2π`.
    log_norm: f64,
    mean: Vec<f64>,
    /// Precision matrix, row-major `d × d`.
    precision: Vec<f64>,
    /// Standard deviation along the first dimension (standardised units).
    std0: f64,
}

/// A fitted mixture with the standardisation it was trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GmmModel {
    dims: usize,
    center: Vec<f64>,
    scale: Vec<f64>,
    components: Vec<Component>,
    /// `max log_norm`: minus the lowest possible NLL (up to the mixture's log K).
    best_log_norm: f64,
}

/// Vectors to train on, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSet {
    pub dims: usize,
    pub rows: Vec<f64>,
}

impl GmmModel {
    /// Fits `components` Gaussians to `data` (deterministic: the seed is fixed).
    pub fn fit(data: &TrainingSet, components: usize) -> Result<GmmModel, AnomalyError> {
        let d = data.dims;
        let n = data.rows.len() / d.max(1);
        if d == 0 || n < components.max(1) * (d + 1) {
            return Err(AnomalyError::Training(format!("{n} samples are too few")));
        }
        let (mut center, mut scale) = (vec![0.0; d], vec![0.0; d]);
        for j in 0..d {
            let col = data.rows.iter().skip(j).step_by(d);
            let mean = col.clone().sum::<f64>() / n as f64;
            let var = col.map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            center[j] = mean;
            // A constant feature gets unit scale (its standardised value is then 0 ± deviation).
            scale[j] = if var.sqrt() > 1e-12 * mean.abs().max(1e-300) { var.sqrt() } else { 1.0 };
        }
        let z: Vec<f64> = data.rows.iter().enumerate().map(|(i, x)| (x - center[i % d]) / scale[i % d]).collect();
        let records = Array2::from_shape_vec((n, d), z).map_err(|e| AnomalyError::Training(e.to_string()))?;
        let fitted = GaussianMixtureModel::params_with_rng(components, Xoshiro256Plus::seed_from_u64(42))
            .n_runs(1)
            .max_n_iterations(100)
            .tolerance(1e-3)
            // In standardised units: keeps collapsed components (repeated values) invertible.
            .reg_covariance(1e-3)
            .fit(&DatasetBase::from(records))
            .map_err(|e| AnomalyError::Training(e.to_string()))?;
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        let mut comps = Vec::with_capacity(components);
        for k in 0..fitted.weights().len() {
            let precision: Vec<f64> = fitted.precisions().slice(ndarray::s![k, .., ..]).iter().copied().collect();
            let Some(log_det) = log_det_spd(&precision, d) else {
                return Err(AnomalyError::Training("a component's precision is not positive definite".into()));
            };
            comps.push(Component {
                log_norm: fitted.weights()[k].max(1e-300).ln() + 0.5 * log_det - 0.5 * d as f64 * log_2pi,
                mean: fitted.means().row(k).to_vec(),
                precision,
                std0: fitted.covariances()[[k, 0, 0]].max(0.0).sqrt(),
            });
        }
        let best_log_norm = comps.iter().map(|c| c.log_norm).fold(f64::NEG_INFINITY, f64::max);
        Ok(GmmModel { dims: d, center, scale, components: comps, best_log_norm })
    }

    /// Scores one vector (of `dims` finite values).
    pub fn score(&self, x: &[f64]) -> Score {
        let d = self.dims;
        let z: Vec<f64> = x.iter().zip(self.center.iter().zip(&self.scale)).map(|(v, (c, s))| (v - c) / s).collect();
        // Log-likelihood per component; the log-sum-exp and the most responsible one.
        let mut best = (f64::NEG_INFINITY, 0);
        let lps: Vec<f64> = self
            .components
            .iter()
            .enumerate()
            .map(|(k, c)| {
                // (z - mean)' P (z - mean), P row-major.
                let dev: Vec<f64> = z.iter().zip(&c.mean).map(|(a, b)| a - b).collect();
                let m2: f64 = c
                    .precision
                    .chunks(d)
                    .zip(&dev)
                    .map(|(row, di)| di * row.iter().zip(&dev).map(|(p, dj)| p * dj).sum::<f64>())
                    .sum();
                let lp = c.log_norm - 0.5 * m2.max(0.0);
                if lp > best.0 {
                    best = (lp, k);
                }
                lp
            })
            .collect();
        let log_lik = best.0 + lps.iter().map(|lp| (lp - best.0).exp()).sum::<f64>().ln();
        let m2 = (2.0 * (self.best_log_norm - log_lik)).max(0.0);
        let zeq = wilson_hilferty(m2, d as f64);
        let c = &self.components[best.1];
        let expected = self.center[0] + self.scale[0] * c.mean[0];
        let half = BAND_Z * self.scale[0] * c.std0;
        Score {
            score: score_of_z(zeq),
            z: zeq,
            expected,
            lower: expected - half,
            upper: expected + half,
            level: Level::from_z(zeq),
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + 16 * self.dims
            + self
                .components
                .iter()
                .map(|c| std::mem::size_of::<Component>() + 8 * (c.mean.len() + c.precision.len()))
                .sum::<usize>()
    }
}

/// The normal-equivalent deviation of a chi-square value `x` with `k` degrees of freedom.
fn wilson_hilferty(x: f64, k: f64) -> f64 {
    let v = 2.0 / (9.0 * k);
    (((x / k).cbrt() - (1.0 - v)) / v.sqrt()).max(0.0)
}

/// `log det` of a symmetric positive definite `d × d` matrix by Cholesky; `None` if it is not.
fn log_det_spd(a: &[f64], d: usize) -> Option<f64> {
    let mut l = vec![0.0; d * d];
    let mut log_det = 0.0;
    for i in 0..d {
        for j in 0..=i {
            let s = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
                log_det += 2.0 * s.sqrt().ln();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(log_det)
}

/// The multivariate detector: training buffer, model, retraining schedule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Gmm {
    params: GmmParams,
    dims: usize,
    last_ts: Option<i64>,
    /// Ring of the newest `train` vectors, row-major; `next` is the slot written next.
    buffer: Vec<f64>,
    next: usize,
    since_fit: u64,
    model: Option<GmmModel>,
    /// The last training error, for rule health.
    last_error: Option<String>,
    #[serde(default)]
    likelihood: Option<Likelihood>,
}

impl Gmm {
    pub fn new(params: GmmParams, dims: usize) -> Self {
        let cap = params.train.max(1) * dims;
        let likelihood = params.likelihood.clone().map(Likelihood::new);
        Gmm {
            likelihood,
            params,
            dims,
            last_ts: None,
            buffer: Vec::with_capacity(cap),
            next: 0,
            since_fit: 0,
            model: None,
            last_error: None,
        }
    }

    pub fn params(&self) -> &GmmParams {
        &self.params
    }

    pub fn model(&self) -> Option<&GmmModel> {
        self.model.as_ref()
    }

    /// Why the last training failed, if it did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    fn buffered(&self) -> usize {
        self.buffer.len() / self.dims.max(1)
    }

    /// Scores `x` at `ts_ms` with the current model, then buffers it (and retrains when due).
    /// `Ok(None)` while there is no model yet and for ignored samples (a non-finite value,
    /// out of order).
    pub fn update(&mut self, ts_ms: i64, x: &[f64]) -> Result<Option<Score>, AnomalyError> {
        if x.len() != self.dims {
            return Err(AnomalyError::Dimension { expected: self.dims, got: x.len() });
        }
        if !x.iter().all(|v| usable(self.last_ts, ts_ms, *v)) {
            return Ok(None);
        }
        let score = self.model.as_ref().map(|m| m.score(x));
        let cap = self.params.train.max(1) * self.dims;
        if self.buffer.len() < cap {
            self.buffer.extend_from_slice(x);
        } else {
            self.buffer[self.next..self.next + self.dims].copy_from_slice(x);
        }
        self.next = (self.next + self.dims) % cap;
        self.since_fit += 1;
        self.last_ts = Some(ts_ms);
        if self.needs_retrain() && self.params.retrain_every > 0 {
            // A failure is kept for health and the previous model stays in use.
            let _ = self.retrain();
        }
        Ok(Likelihood::apply(&mut self.likelihood, score))
    }

    /// Whether a new fit is due (enough data, and `retrain_every` samples since the last, or no
    /// model yet).
    pub fn needs_retrain(&self) -> bool {
        let every = if self.params.retrain_every == 0 { 1 } else { self.params.retrain_every };
        self.buffered() as u64 >= self.params.min_samples.max(1) && (self.model.is_none() || self.since_fit >= every)
    }

    /// A copy of the training buffer, to fit elsewhere.
    pub fn training_set(&self) -> TrainingSet {
        TrainingSet { dims: self.dims, rows: self.buffer.clone() }
    }

    /// Installs a model fitted from [`Gmm::training_set`].
    pub fn install(&mut self, model: GmmModel) {
        self.model = Some(model);
        self.since_fit = 0;
        self.last_error = None;
    }

    /// Fits on the buffer now (synchronously).
    pub fn retrain(&mut self) -> Result<(), AnomalyError> {
        self.since_fit = 0;
        // Fewer components when one collapses (e.g. a series with few distinct values).
        let set = self.training_set();
        let mut fitted = Err(AnomalyError::Training("no components".into()));
        for k in (1..=self.params.components.max(1)).rev() {
            fitted = GmmModel::fit(&set, k);
            if fitted.is_ok() {
                break;
            }
        }
        match fitted {
            Ok(m) => {
                self.install(m);
                Ok(())
            }
            Err(e) => {
                self.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    pub fn readiness(&self) -> Readiness {
        let needed = if self.model.is_some() { 0 } else { self.params.min_samples.max(1) };
        Likelihood::readiness(&self.likelihood, Readiness { samples: self.buffered() as u64, needed })
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.buffer.capacity() * 8
            + self.model.as_ref().map_or(0, GmmModel::memory_bytes)
            + Likelihood::memory(&self.likelihood)
    }
}

/// [`Gmm`] on one series, through the embedding `[value, value - previous value]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Univariate {
    gmm: Gmm,
    prev: Option<f64>,
}

impl Univariate {
    pub fn new(params: GmmParams) -> Self {
        Univariate { gmm: Gmm::new(params, 2), prev: None }
    }

    pub fn gmm(&self) -> &Gmm {
        &self.gmm
    }
}

impl Detector for Univariate {
    fn update(&mut self, ts_ms: i64, value: f64) -> Option<Score> {
        if !usable(self.gmm.last_ts, ts_ms, value) {
            return None;
        }
        let prev = self.prev.replace(value)?;
        // Dimensions always match (2), so the only outcome is the score.
        self.gmm.update(ts_ms, &[value, value - prev]).ok().flatten()
    }

    fn readiness(&self) -> Readiness {
        self.gmm.readiness()
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() - std::mem::size_of::<Gmm>() + self.gmm.memory_bytes()
    }
}

#[cfg(test)]
mod tests;
