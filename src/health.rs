//! Per-target health scores (0..100) and the capacity report, from the rule engine's state
//! (docs/anomaly.md#health-score):
//!
//! ```text
//! score = 100 - min(alerts, max_alert_penalty) - anomaly * max(anomaly score)
//!             - headroom * max over forecasts crossing within their horizon of
//!                          (1 - time left / horizon)
//! alerts = sum over firing alerts of the weight of their `severity` label
//!          (critical 40, high/page/error 25, warning/medium 10, anything else 10)
//! ```
//!
//! clamped to 0..100. A target is the value of one label (`health.target_label`, default
//! `instance`) of the alerts, anomaly scores and forecasts; series without it are left out.
//! The server computes the scores after every `rules.evaluation_interval`, writes them as
//! `tickdb_health_score{target="..."}` and serves them at `GET /api/v1/health_scores`.

use std::collections::BTreeMap;

use rules::group::Group;
use rules::learned::CapacityItem;
use serde::{Deserialize, Serialize};

/// The formula's weights and the target label.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// The label naming a target in alerts, anomaly scores and forecasts.
    pub target_label: String,
    /// Points lost per firing alert, by its `severity` label; `default` for other values.
    pub severity_weights: BTreeMap<String, f64>,
    pub default_weight: f64,
    /// Most points firing alerts can take together.
    pub max_alert_penalty: f64,
    /// Points lost at anomaly score 1 (scaled by the target's highest score).
    pub anomaly_weight: f64,
    /// Points lost by a forecast crossing its threshold now (scaled by how soon it crosses).
    pub headroom_weight: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        let w =
            [("critical", 40.0), ("high", 25.0), ("page", 25.0), ("error", 25.0), ("warning", 10.0), ("medium", 10.0)];
        HealthConfig {
            target_label: "instance".into(),
            severity_weights: w.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            default_weight: 10.0,
            max_alert_penalty: 60.0,
            anomaly_weight: 30.0,
            headroom_weight: 30.0,
        }
    }
}

/// One target's score and what made it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthScore {
    pub target: String,
    pub score: f64,
    /// `alertname` and `severity` of each firing alert.
    pub firing_alerts: Vec<(String, String)>,
    pub alert_penalty: f64,
    pub max_anomaly_score: f64,
    pub anomaly_penalty: f64,
    /// The forecast crossing soonest, if any crosses within its horizon.
    pub soonest_crossing: Option<CapacityItem>,
    pub headroom_penalty: f64,
}

fn entry<'a>(by: &'a mut BTreeMap<String, HealthScore>, t: &str) -> &'a mut HealthScore {
    by.entry(t.to_string()).or_insert_with(|| HealthScore {
        target: t.to_string(),
        score: 100.0,
        firing_alerts: Vec::new(),
        alert_penalty: 0.0,
        max_anomaly_score: 0.0,
        anomaly_penalty: 0.0,
        soonest_crossing: None,
        headroom_penalty: 0.0,
    })
}

/// The scores of every target found in `groups`, by target.
pub fn scores(groups: &[&Group], cfg: &HealthConfig) -> Vec<HealthScore> {
    let mut by: BTreeMap<String, HealthScore> = BTreeMap::new();
    let label = cfg.target_label.as_str();
    for g in groups {
        for r in g.rules() {
            for a in r.active_alerts().iter().filter(|a| a.state.as_str() == "firing" && a.resolved_at_ms == 0) {
                let Some(t) = a.labels.get(label) else { continue };
                let sev = a.labels.get("severity").cloned().unwrap_or_default();
                let h = entry(&mut by, t);
                h.alert_penalty += cfg.severity_weights.get(&sev).copied().unwrap_or(cfg.default_weight);
                h.firing_alerts.push((r.name().to_string(), sev));
            }
            for (l, s) in r.anomaly_scores() {
                let Some(t) = l.get(label) else { continue };
                let h = entry(&mut by, t);
                h.max_anomaly_score = h.max_anomaly_score.max(*s);
            }
            for c in r.capacity() {
                let (Some(t), Some(at)) = (c.labels.get(label), c.crossing_at_ms) else { continue };
                let h = entry(&mut by, t);
                // `forecast.ts_ms` is the last sample's time plus the horizon.
                let left = (at - (c.forecast.ts_ms - c.horizon_ms)).max(0) as f64;
                let p = cfg.headroom_weight * (1.0 - left / c.horizon_ms.max(1) as f64).clamp(0.0, 1.0);
                if h.soonest_crossing.is_none() || p > h.headroom_penalty {
                    h.headroom_penalty = p;
                    h.soonest_crossing = Some(c.clone());
                }
            }
        }
    }
    by.into_values()
        .map(|mut h| {
            h.alert_penalty = h.alert_penalty.min(cfg.max_alert_penalty);
            h.anomaly_penalty = cfg.anomaly_weight * h.max_anomaly_score;
            h.score = (100.0 - h.alert_penalty - h.anomaly_penalty - h.headroom_penalty).clamp(0.0, 100.0);
            h
        })
        .collect()
}
