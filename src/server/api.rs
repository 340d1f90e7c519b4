//! The query endpoints of the Prometheus HTTP API: `query`, `query_range`, `series`, `labels`,
//! `label/<name>/values`, `query_exemplars`, `format_query` (rules and alerts: `rules_api`).
//!
//! PromQL evaluation and index reads run on blocking threads, bounded by the query slots.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use storage::{Labels, Matcher, SelectHints, Timestamp};

use crate::engine::Range;
use crate::server::AppState;
use crate::server::errors::ApiError;
use crate::server::json::{push_labels, push_query_data, push_str, success, success_value};
use crate::server::params::{MAX_TIME, MIN_TIME, Params, invalid_param, parse_selector};
use crate::server::scope::Scope;
use storage::Queryable as _;

/// Runs `f` on a blocking thread within a query slot.
async fn run_blocking<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = st.query_permit().await?;
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// Runs a PromQL evaluation on a blocking thread within a query slot. The time spent waiting
/// for the slot counts against the query timeout (as in Prometheus, whose timeout covers the
/// queue): `f` gets what is left, or the request's own shorter `timeout`.
async fn run_query<T: Send + 'static>(
    st: &AppState,
    timeout: Option<std::time::Duration>,
    f: impl FnOnce(Option<std::time::Duration>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let started = std::time::Instant::now();
    let _permit = st.query_permit().await?;
    let left = st.cfg.query.timeout.0.saturating_sub(started.elapsed());
    let timeout = Some(timeout.map_or(left, |t| t.min(left)));
    tokio::task::spawn_blocking(move || f(timeout)).await.map_err(ApiError::internal)?
}

/// GET/POST /api/v1/query
pub async fn query(State(st): State<Arc<AppState>>, scope: Scope, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let t = p.time_or("time", st.now())?;
    let expr = p.get("query").unwrap_or("").to_string();
    let timeout = request_timeout(&p)?;
    let engine = st.engine.clone();
    let out = run_query(&st, timeout, move |timeout| {
        engine.instant(&scope.wrap(backend.queryable()), &expr, t, timeout).map_err(ApiError::from)
    })
    .await?;
    let mut data = String::new();
    push_query_data(&mut data, &out.value);
    Ok(success(&data, &out.warnings, &out.infos))
}

/// GET/POST /api/v1/query_range
pub async fn query_range(State(st): State<Arc<AppState>>, scope: Scope, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let start = required_time(&p, "start")?;
    let end = required_time(&p, "end")?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start time"));
    }
    let step = match p.get("step") {
        None => return Err(invalid_param("step", "cannot parse \"\" to a valid duration")),
        Some(_) => p.duration("step")?.unwrap_or(0),
    };
    if step <= 0 {
        return Err(ApiError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > st.cfg.query.max_points_per_series {
        return Err(ApiError::bad_data(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(st.cfg.query.max_points_per_series)
        )));
    }
    let timeout = request_timeout(&p)?;
    let expr = p.get("query").unwrap_or("").to_string();
    let engine = st.engine.clone();
    let out = run_query(&st, timeout, move |timeout| {
        engine
            .range(&scope.wrap(backend.queryable()), &expr, Range { start, end, step }, timeout)
            .map_err(ApiError::from)
    })
    .await?;
    let mut data = String::new();
    push_query_data(&mut data, &out.value);
    Ok(success(&data, &out.warnings, &out.infos))
}

/// The `timeout` parameter (a non-positive value means no extra limit).
fn request_timeout(p: &Params) -> Result<Option<std::time::Duration>, ApiError> {
    Ok(p.duration("timeout")?.filter(|ms| *ms > 0).map(|ms| std::time::Duration::from_millis(ms as u64)))
}

fn required_time(p: &Params, name: &str) -> Result<Timestamp, ApiError> {
    match p.get(name) {
        None => Err(invalid_param(name, "cannot parse \"\" to a valid timestamp")),
        Some(_) => p.time_or(name, 0),
    }
}

/// `11000` → `11,000` (Prometheus's message spells the limit this way).
fn thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The `match[]` parameters as matcher sets (each selector may hold several `or` sets).
pub fn match_sets(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut sets = Vec::new();
    for m in p.all("match[]") {
        sets.extend(parse_selector(m)?);
    }
    Ok(sets)
}

/// GET/POST /api/v1/series
pub async fn series(State(st): State<Arc<AppState>>, scope: Scope, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let sets = match_sets(&p)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (start, end, limit) = (p.time_or("start", MIN_TIME)?, p.time_or("end", MAX_TIME)?, p.limit()?);
    let (series, truncated) = run_blocking(&st, move || {
        let q = scope.wrap(backend.queryable()).querier(start, end)?;
        let hints = SelectHints { start, end, func: Some("series".into()), ..Default::default() };
        let mut all: BTreeSet<Labels> = BTreeSet::new();
        for set in &sets {
            for s in q.select(false, Some(&hints), set)? {
                all.insert(s?.labels);
            }
        }
        Ok(truncate(all.into_iter().collect::<Vec<_>>(), limit))
    })
    .await?;
    let mut data = String::from("[");
    for (i, l) in series.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        push_labels(&mut data, l);
    }
    data.push(']');
    Ok(success(&data, &truncation_warning(truncated), &[]))
}

fn truncate<T>(mut v: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    if limit > 0 && v.len() > limit {
        v.truncate(limit);
        return (v, true);
    }
    (v, false)
}

fn truncation_warning(truncated: bool) -> Vec<String> {
    if truncated { vec!["results truncated due to limit".to_string()] } else { Vec::new() }
}

/// GET/POST /api/v1/labels
pub async fn labels(State(st): State<Arc<AppState>>, scope: Scope, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let sets = match_sets(&p)?;
    let (start, end, limit) = (p.time_or("start", MIN_TIME)?, p.time_or("end", MAX_TIME)?, p.limit()?);
    let (names, truncated) = run_blocking(&st, move || {
        let q = scope.wrap(backend.queryable()).querier(start, end)?;
        let names: BTreeSet<String> = if sets.is_empty() {
            q.label_names(&[])?.into_iter().collect()
        } else {
            let mut all = BTreeSet::new();
            for set in &sets {
                all.extend(q.label_names(set)?);
            }
            all
        };
        Ok(truncate(names.into_iter().collect::<Vec<_>>(), limit))
    })
    .await?;
    Ok(string_list(&names, truncated))
}

/// GET /api/v1/label/{name}/values
/// The name may be a UTF-8 name, percent-encoded, or in Prometheus's `U__` escaping.
pub async fn label_values(
    State(st): State<Arc<AppState>>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    scope: Scope,
    p: Params,
) -> Result<Response, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::bad_data(format!("invalid label name in path: {e}")))?;
    let name = crate::remote::unescape_name(&name);
    let backend = st.backend()?;
    if !crate::remote::valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {}", storage::labels::go_quote(&name))));
    }
    let sets = match_sets(&p)?;
    let (start, end, limit) = (p.time_or("start", MIN_TIME)?, p.time_or("end", MAX_TIME)?, p.limit()?);
    let (values, truncated) = run_blocking(&st, move || {
        let q = scope.wrap(backend.queryable()).querier(start, end)?;
        let values: BTreeSet<String> = if sets.is_empty() {
            q.label_values(&name, &[])?.into_iter().collect()
        } else {
            let mut all = BTreeSet::new();
            for set in &sets {
                all.extend(q.label_values(&name, set)?);
            }
            all
        };
        Ok(truncate(values.into_iter().collect::<Vec<_>>(), limit))
    })
    .await?;
    Ok(string_list(&values, truncated))
}

fn string_list(items: &[String], truncated: bool) -> Response {
    let mut data = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        push_str(&mut data, s);
    }
    data.push(']');
    success(&data, &truncation_warning(truncated), &[])
}

/// GET/POST /api/v1/query_exemplars: exemplars are accepted but not stored, so the answer is
/// always empty (after validating the parameters as Prometheus does).
pub async fn query_exemplars(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    st.backend()?;
    let start = p.time_or("start", MIN_TIME)?;
    let end = p.time_or("end", MAX_TIME)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start time"));
    }
    let q = p.get("query").unwrap_or("");
    query::parse(q).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(success("[]", &[], &[]))
}

/// GET/POST /api/v1/format_query
pub async fn format_query(p: Params) -> Result<Response, ApiError> {
    let q = p.get("query").unwrap_or("");
    let expr = query::parse(q).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(success_value(&serde_json::Value::String(expr.prettify())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(11000), "11,000");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
