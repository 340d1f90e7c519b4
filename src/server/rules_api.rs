//! `GET /api/v1/rules`, `GET /api/v1/alerts` and `POST /-/reload`, in Prometheus's JSON shapes
//! (Grafana's alert list and rule views read them).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use crate::server::AppState;
use crate::server::errors::{ApiError, ErrorType};
use crate::server::json::success_value;

/// One alert of a rule, as the API shows it.
pub struct AlertView {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: &'static str,
    pub active_at_ms: i64,
    pub keep_firing_since_ms: Option<i64>,
    pub value: f64,
}

/// One rule, as the API shows it.
pub struct RuleView {
    pub alerting: bool,
    pub name: String,
    pub query: String,
    pub duration_s: f64,
    pub keep_firing_for_s: f64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub alerts: Vec<AlertView>,
    pub health: String,
    pub last_error: Option<String>,
    pub eval_duration_s: f64,
    pub last_eval_ms: i64,
    /// Anomaly and forecast rules: what they learned (tickdb's addition to the API).
    pub learning: Option<rules::learned::LearnStatus>,
}

/// One group, as the API shows it.
pub struct GroupView {
    pub name: String,
    pub file: String,
    pub interval_s: f64,
    pub limit: usize,
    pub rules: Vec<RuleView>,
    pub eval_duration_s: f64,
    pub last_eval_ms: i64,
}

/// Every group's view, built on a blocking thread: a group's lock is held through its
/// evaluation, which may wait on the runtime (a remote datasource), so an async task must not
/// wait for it.
async fn groups(st: &Arc<AppState>) -> Vec<GroupView> {
    let Some(svc) = st.rules.get().cloned() else { return Vec::new() };
    tokio::task::spawn_blocking(move || {
        svc.manager.groups().iter().map(|g| crate::rules_service::group_view(&g.lock())).collect()
    })
    .await
    .unwrap_or_default()
}

/// Go's `time.Time` JSON: RFC 3339 in UTC with trailing zeros of the fraction dropped; the zero
/// time for "never".
pub fn go_time(ms: i64) -> String {
    if ms <= 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else { return "0001-01-01T00:00:00Z".into() };
    let s = t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}Z")
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, the API's alert value.
pub fn go_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn alert_json(a: &AlertView) -> Json {
    let mut o = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state,
        "activeAt": go_time(a.active_at_ms),
        "value": go_e(a.value),
    });
    if let Some(k) = a.keep_firing_since_ms {
        o["keepFiringSince"] = json!(go_time(k));
    }
    o
}

fn rule_state(r: &RuleView) -> &'static str {
    if r.alerts.iter().any(|a| a.state == "firing") {
        "firing"
    } else if r.alerts.iter().any(|a| a.state == "pending") {
        "pending"
    } else {
        "inactive"
    }
}

fn rule_json(r: &RuleView, exclude_alerts: bool) -> Json {
    let mut o = json!({
        "name": r.name,
        "query": r.query,
        "labels": r.labels,
        "health": r.health,
        "evaluationTime": r.eval_duration_s,
        "lastEvaluation": go_time(r.last_eval_ms),
    });
    if let Some(e) = &r.last_error {
        o["lastError"] = json!(e);
    }
    if r.alerting {
        o["type"] = json!("alerting");
        o["state"] = json!(rule_state(r));
        o["duration"] = json!(r.duration_s);
        o["keepFiringFor"] = json!(r.keep_firing_for_s);
        o["annotations"] = json!(r.annotations);
        if !exclude_alerts {
            o["alerts"] = Json::Array(r.alerts.iter().map(alert_json).collect());
        }
        if let Some(l) = &r.learning {
            // Series tracked, cold start (`readiness`: "warming up: n of m samples"), memory.
            o["learning"] = json!(l);
        }
    } else {
        o["type"] = json!("recording");
    }
    o
}

/// The query parameters of `/api/v1/rules`.
#[derive(Default)]
struct RuleFilter {
    kind: Option<String>,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
}

fn parse_filter(q: Option<&str>) -> Result<RuleFilter, ApiError> {
    let mut f = RuleFilter::default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.unwrap_or(""))
        .map_err(|e| ApiError::bad_data(format!("invalid query string: {e}")))?;
    for (k, v) in pairs {
        match k.as_str() {
            "type" => match v.as_str() {
                "alert" | "record" => f.kind = Some(v),
                "" => {}
                _ => return Err(ApiError::bad_data(format!("invalid parameter \"type\": unknown rule type {v:?}"))),
            },
            "rule_name[]" => f.names.push(v),
            "rule_group[]" => f.groups.push(v),
            "file[]" => f.files.push(v),
            "exclude_alerts" => {
                f.exclude_alerts =
                    v.parse().map_err(|_| ApiError::bad_data(format!("invalid parameter \"exclude_alerts\": {v:?}")))?
            }
            _ => {}
        }
    }
    Ok(f)
}

/// GET /api/v1/rules
pub async fn rules(State(st): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let f = parse_filter(q.as_deref())?;
    let keep = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
    let out: Vec<Json> = groups(&st)
        .await
        .into_iter()
        .filter(|g| keep(&f.groups, &g.name) && keep(&f.files, &g.file))
        .filter_map(|g| {
            let rules: Vec<Json> = g
                .rules
                .iter()
                .filter(|r| match f.kind.as_deref() {
                    Some("alert") => r.alerting,
                    Some("record") => !r.alerting,
                    _ => true,
                })
                .filter(|r| keep(&f.names, &r.name))
                .map(|r| rule_json(r, f.exclude_alerts))
                .collect();
            // Prometheus leaves out groups that a filter emptied.
            let filtered = f.kind.is_some() || !f.names.is_empty();
            (!(filtered && rules.is_empty())).then(|| {
                json!({
                    "name": g.name,
                    "file": g.file,
                    "rules": rules,
                    "interval": g.interval_s,
                    "limit": g.limit,
                    "evaluationTime": g.eval_duration_s,
                    "lastEvaluation": go_time(g.last_eval_ms),
                })
            })
        })
        .collect();
    Ok(success_value(&json!({ "groups": out })))
}

/// GET /api/v1/alerts: the pending and firing alerts of every alerting rule.
pub async fn alerts(State(st): State<Arc<AppState>>) -> Response {
    let alerts: Vec<Json> = groups(&st)
        .await
        .iter()
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| r.alerts.iter())
        .filter(|a| a.state != "inactive")
        .map(alert_json)
        .collect();
    success_value(&json!({ "alerts": alerts }))
}

/// POST /-/reload: re-reads the rule files; on error the previous rules keep running and the
/// answer is 500 with the error (as Prometheus's `/-/reload`).
pub async fn reload(State(st): State<Arc<AppState>>, actor: crate::server::admin::Actor) -> Result<Response, ApiError> {
    let Some(svc) = st.rules.get() else {
        return Err(ApiError::unavailable("the rule engine is starting up"));
    };
    let groups =
        crate::server::admin::audited(&st, &actor, "config.reload", "rules, notifications".into(), None, None, async {
            let groups = match svc.reload().await {
                Ok(groups) => groups,
                Err(e) => return Err(ApiError::new(ErrorType::Internal, format!("failed to reload rules: {e}"))),
            };
            if let Some(a) = st.alerting.get() {
                a.reload()
                    .await
                    .map_err(|e| ApiError::new(ErrorType::Internal, format!("failed to reload notifications: {e}")))?;
            }
            Ok(groups)
        })
        .await?;
    Ok(format!("rules reloaded: {groups} groups\n").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_e(1.0), "1e+00");
        assert_eq!(go_e(0.5), "5e-01");
        assert_eq!(go_e(123.456), "1.23456e+02");
        assert_eq!(go_e(-1e-300), "-1e-300");
        assert_eq!(go_e(f64::NAN), "NaN");
        assert_eq!(go_time(0), "0001-01-01T00:00:00Z");
        assert_eq!(go_time(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(go_time(1_700_000_000_120), "2023-11-14T22:13:20.12Z");
    }

    #[test]
    fn filters() {
        let f = parse_filter(Some("type=alert&rule_name[]=a&rule_name[]=b&exclude_alerts=true")).unwrap();
        assert_eq!(f.kind.as_deref(), Some("alert"));
        assert_eq!(f.names, ["a", "b"]);
        assert!(f.exclude_alerts);
        assert!(parse_filter(Some("type=x")).is_err());
        assert!(parse_filter(Some("exclude_alerts=maybe")).is_err());
    }
}
