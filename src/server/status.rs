//! Status endpoints: `metadata`, `status/{buildinfo,runtimeinfo,tsdb,flags,config}`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use crate::server::errors::ApiError;
use crate::server::json::success_value;
use crate::server::params::Params;
use crate::server::{AppState, MetricMeta};

/// GET /api/v1/metadata (`metric`, `limit`, `limit_per_metric`)
pub async fn metadata(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let limit: i64 = parse_int(&p, "limit")?.unwrap_or(-1);
    let per_metric: i64 = parse_int(&p, "limit_per_metric")?.unwrap_or(-1);
    let metric = p.get("metric");
    let md = st.metadata.lock();
    let mut out = serde_json::Map::new();
    for (name, entries) in md.iter() {
        if metric.is_some_and(|m| m != name) {
            continue;
        }
        if limit >= 0 && out.len() as i64 >= limit {
            break;
        }
        let list: Vec<Value> = entries
            .iter()
            .take(if per_metric > 0 { per_metric as usize } else { usize::MAX })
            .map(|m: &MetricMeta| json!({"type": m.kind, "help": m.help, "unit": m.unit}))
            .collect();
        out.insert(name.clone(), Value::Array(list));
    }
    Ok(success_value(&Value::Object(out)))
}

fn parse_int(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    p.get(name)
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::bad_data(format!("{name} must be a number"))))
        .transpose()
}

/// GET /api/v1/status/buildinfo
pub async fn buildinfo() -> Response {
    success_value(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("TICKDB_GIT_REVISION").unwrap_or(""),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

/// GET /api/v1/status/runtimeinfo
pub async fn runtimeinfo(State(st): State<Arc<AppState>>) -> Response {
    let start: chrono::DateTime<chrono::Utc> = st.start_time.into();
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    success_value(&json!({
        "startTime": start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "CWD": cwd,
        "reloadConfigSuccess": true,
        "lastConfigTime": start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": threads,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": st.cfg.storage.retention.to_string(),
    }))
}

/// GET /api/v1/status/flags
pub async fn flags(State(st): State<Arc<AppState>>) -> Response {
    let m: serde_json::Map<String, Value> =
        st.flags.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    success_value(&Value::Object(m))
}

/// GET /api/v1/status/config
pub async fn config(State(st): State<Arc<AppState>>) -> Response {
    success_value(&json!({ "yaml": st.cfg.to_yaml() }))
}

/// GET /api/v1/status/tsdb: the head's statistics and cardinality top lists, from the head's
/// own postings ([`storage::head::Head::stats`]), in Prometheus's shape. `limit` (default 10)
/// caps each list.
pub async fn tsdb(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let limit = match p.get("limit") {
        None => 10,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad_data("limit must be a positive number"))?,
    };
    let _permit = st.query_permit().await?;
    let hs = tokio::task::spawn_blocking(move || backend.head_stats(limit)).await.map_err(ApiError::internal)?;
    let list = |v: &[storage::head::StatEntry]| -> Value {
        Value::Array(v.iter().map(|e| json!({"name": e.name, "value": e.value})).collect())
    };
    Ok(success_value(&json!({
        "headStats": {
            "numSeries": hs.num_series,
            "numLabelPairs": hs.num_label_pairs,
            "chunkCount": hs.chunk_count,
            "minTime": hs.min_time,
            "maxTime": hs.max_time,
        },
        "seriesCountByMetricName": list(&hs.series_count_by_metric_name),
        "labelValueCountByLabelName": list(&hs.label_value_count_by_label_name),
        "memoryInBytesByLabelName": list(&hs.memory_in_bytes_by_label_name),
        "seriesCountByLabelValuePair": list(&hs.series_count_by_label_value_pair),
    })))
}
