//! Several detectors on one series, scored by the most surprised of them.
//!
//! `ensemble:members=zscore(robust=true)+gmm,likelihood=10`: every member sees every sample;
//! the ensemble's deviation is the member deviation of largest `|z|` (every detector measures
//! `z` in units of its own noise scale, so the members' deviations are comparable, and with
//! `likelihood` they are all the same kind of quantity: how unusual the recent deviations are
//! for this series). The score and level follow from that `z` as for any detector;
//! `expected`/`lower`/`upper` are those of the first member that scored the sample, so the band
//! does not jump between members from one sample to the next.
//!
//! - `likelihood=N` (and `likelihood_history`) on the ensemble is applied to each member that
//!   does not set its own, before the maximum is taken.
//! - Cold start: the ensemble scores a sample as soon as one member does (a fast member, e.g. the
//!   z-score, covers the mixture's longer warm-up).
//! - Memory and cost: the sum of the members'.

use serde::{Deserialize, Serialize};

use super::likelihood::LikelihoodParams;
use super::{AnyDetector, Detector, DetectorSpec, Level, Readiness, Score, score_of_z};

/// Most members an ensemble takes.
pub const MAX_MEMBERS: usize = 4;

/// Parameters of [`Ensemble`] (`ensemble:members=zscore(robust=true)+gmm,likelihood=10`).
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleParams {
    /// 1 to [`MAX_MEMBERS`] specs of other kinds (no nested ensembles).
    pub members: Vec<DetectorSpec>,
    /// Applied to each member that does not set its own.
    pub likelihood: Option<LikelihoodParams>,
}

impl EnsembleParams {
    /// The members as they are built: with the ensemble's `likelihood` where they have none.
    pub fn effective_members(&self) -> Vec<DetectorSpec> {
        self.members
            .iter()
            .map(|m| match (&self.likelihood, m.likelihood()) {
                (Some(l), None) => m.clone().with_likelihood(Some(l.clone())),
                _ => m.clone(),
            })
            .collect()
    }
}

/// The members' detectors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ensemble {
    members: Vec<AnyDetector>,
}

impl Ensemble {
    /// An ensemble of freshly built members (see [`super::DetectorSpec::build`]).
    pub fn new(members: Vec<AnyDetector>) -> Self {
        Ensemble { members }
    }

    pub fn members(&self) -> &[AnyDetector] {
        &self.members
    }
}

impl Detector for Ensemble {
    fn update(&mut self, ts_ms: i64, value: f64) -> Option<Score> {
        let mut out: Option<Score> = None;
        for m in &mut self.members {
            let Some(s) = m.update(ts_ms, value) else { continue };
            match &mut out {
                None => out = Some(s),
                Some(o) if s.z.abs() > o.z.abs() => {
                    o.z = s.z;
                    o.score = score_of_z(s.z);
                    o.level = Level::from_z(s.z);
                }
                Some(_) => {}
            }
        }
        out
    }

    /// Ready when one member is (the first ready one's figures), else the first member's.
    fn readiness(&self) -> Readiness {
        let all = self.members.iter().map(Detector::readiness);
        all.clone()
            .find(Readiness::is_ready)
            .or_else(|| all.clone().next())
            .unwrap_or(Readiness { samples: 0, needed: 0 })
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.members.iter().map(Detector::memory_bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
