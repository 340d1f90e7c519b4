//! What the learned rules say about the targets (docs/anomaly.md):
//!
//! - `GET /api/v1/capacity?by=LABEL`: per target (the value of label `by`, default
//!   `health.target_label`), every forecast of every `forecast:` rule: the last value, the
//!   forecast at the horizon with its ~95% band, and when the threshold will be crossed
//!   (point forecast, and the band's earliest and latest), soonest first.
//! - `GET /api/v1/health_scores`: the per-target health score and what made it
//!   ([`crate::health`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use rules::learned::CapacityItem;
use serde_json::{Value as Json, json};

use crate::server::AppState;
use crate::server::errors::ApiError;
use crate::server::json::success_value;
use crate::server::rules_api::go_time;

fn time_or_null(ms: Option<i64>) -> Json {
    ms.map_or(Json::Null, |t| json!(go_time(t)))
}

/// One forecast as the API shows it.
pub fn capacity_json(c: &CapacityItem) -> Json {
    json!({
        "rule": c.rule,
        "labels": c.labels,
        "value": c.value,
        "threshold": c.threshold,
        "direction": c.direction.as_str(),
        "horizon": rules::notify::duration::Duration(c.horizon_ms).to_string(),
        "forecast": {
            "at": go_time(c.forecast.ts_ms),
            "value": c.forecast.value,
            "lower": c.forecast.lower,
            "upper": c.forecast.upper,
        },
        "crossingAt": time_or_null(c.crossing_at_ms),
        "crossingEarliest": time_or_null(c.crossing_earliest_ms),
        "crossingLatest": time_or_null(c.crossing_latest_ms),
    })
}

/// Every forecast of every forecast rule (blocking: locks every group).
fn forecasts(st: &AppState) -> Vec<CapacityItem> {
    let Some(svc) = st.rules.get() else { return Vec::new() };
    let groups = svc.manager.groups();
    let mut out = Vec::new();
    for g in &groups {
        let g = g.lock();
        for r in g.rules() {
            out.extend(r.capacity().iter().cloned());
        }
    }
    out
}

pub async fn capacity(
    State(st): State<Arc<AppState>>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let by = p.get("by").filter(|b| !b.is_empty()).cloned().unwrap_or_else(|| st.cfg.health.target_label.clone());
    if !rules::file::is_label_name(&by) {
        return Err(ApiError::bad_data(format!("invalid label name in \"by\": {by:?}")));
    }
    let st2 = st.clone();
    let all = tokio::task::spawn_blocking(move || forecasts(&st2)).await.map_err(ApiError::internal)?;
    let mut targets: BTreeMap<String, Vec<CapacityItem>> = BTreeMap::new();
    for c in all {
        targets.entry(c.labels.get(&by).cloned().unwrap_or_default()).or_default().push(c);
    }
    let mut out: Vec<(Option<i64>, Json)> = targets
        .into_iter()
        .map(|(t, mut items)| {
            items.sort_by_key(|c| (c.crossing_at_ms.is_none(), c.crossing_at_ms));
            let first = items.iter().filter_map(|c| c.crossing_at_ms).min();
            let resources: Vec<Json> = items.iter().map(capacity_json).collect();
            (first, json!({"target": t, "firstCrossingAt": time_or_null(first), "resources": resources}))
        })
        .collect();
    out.sort_by_key(|(first, _)| (first.is_none(), *first));
    let targets: Vec<Json> = out.into_iter().map(|(_, j)| j).collect();
    Ok(success_value(&json!({"by": by, "targets": targets})))
}

pub async fn health_scores(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let st2 = st.clone();
    let scores = tokio::task::spawn_blocking(move || current_scores(&st2)).await.map_err(ApiError::internal)?;
    let v: Vec<Json> = scores
        .iter()
        .map(|h| {
            json!({
                "target": h.target,
                "score": h.score,
                "firingAlerts": h.firing_alerts.iter().map(|(a, s)| json!({"alertname": a, "severity": s})).collect::<Vec<_>>(),
                "alertPenalty": h.alert_penalty,
                "maxAnomalyScore": h.max_anomaly_score,
                "anomalyPenalty": h.anomaly_penalty,
                "headroomPenalty": h.headroom_penalty,
                "soonestCrossing": h.soonest_crossing.as_ref().map(capacity_json),
            })
        })
        .collect();
    Ok(success_value(&json!({"targetLabel": st.cfg.health.target_label, "scores": v})))
}

/// The scores of the rule engine's present state (blocking: locks every group).
pub fn current_scores(st: &AppState) -> Vec<crate::health::HealthScore> {
    let Some(svc) = st.rules.get() else { return Vec::new() };
    let groups = svc.manager.groups();
    let locked: Vec<_> = groups.iter().map(|g| g.lock()).collect();
    let refs: Vec<&rules::group::Group> = locked.iter().map(|g| &**g).collect();
    crate::health::scores(&refs, &st.cfg.health)
}
