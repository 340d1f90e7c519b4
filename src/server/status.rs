//! Status endpoints: `metadata`, `status/{buildinfo,runtimeinfo,tsdb,flags,config}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use storage::{Labels, Matcher, SelectHints};

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

/// GET /api/v1/status/tsdb: head statistics and cardinality top-10 lists over the head's
/// time range, computed from the index through the storage contract.
pub async fn tsdb(State(st): State<Arc<AppState>>, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let limit = match p.get("limit") {
        None => 10,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad_data("limit must be a positive number"))?,
    };
    let _permit = st.query_permit().await?;
    let data = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let hs = backend.head_stats();
        let card = if hs.num_series > 0 {
            cardinality(backend.queryable(), hs.min_time, hs.max_time)?
        } else {
            Cardinality::default()
        };
        Ok(json!({
            "headStats": {
                "numSeries": hs.num_series,
                "numLabelPairs": card.pairs.len(),
                "chunkCount": hs.chunk_count,
                "minTime": hs.min_time,
                "maxTime": hs.max_time,
            },
            "seriesCountByMetricName": top(card.by_metric, limit),
            "labelValueCountByLabelName": top(card.values_by_name, limit),
            "memoryInBytesByLabelName": top(card.bytes_by_name, limit),
            "seriesCountByLabelValuePair": top(card.pairs, limit),
        }))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(success_value(&data))
}

#[derive(Default)]
struct Cardinality {
    by_metric: HashMap<String, u64>,
    values_by_name: HashMap<String, u64>,
    bytes_by_name: HashMap<String, u64>,
    pairs: HashMap<String, u64>,
}

fn cardinality(db: &dyn storage::Queryable, mint: i64, maxt: i64) -> Result<Cardinality, ApiError> {
    let q = db.querier(mint, maxt)?;
    let hints = SelectHints { start: mint, end: maxt, func: Some("series".into()), ..Default::default() };
    let all = Matcher::regex(storage::METRIC_NAME, ".+").map_err(ApiError::internal)?;
    let mut c = Cardinality::default();
    let mut values: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for s in q.select(false, Some(&hints), &[all])? {
        let l: Labels = s?.labels;
        *c.by_metric.entry(l.metric_name().to_string()).or_default() += 1;
        for lb in l.iter() {
            *c.pairs.entry(format!("{}={}", lb.name, lb.value)).or_default() += 1;
            values.entry(lb.name.to_string()).or_default().insert(lb.value.to_string());
        }
    }
    for (name, vals) in values {
        c.bytes_by_name.insert(name.clone(), vals.iter().map(|v| v.len() as u64).sum());
        c.values_by_name.insert(name, vals.len() as u64);
    }
    Ok(c)
}

/// The `limit` largest entries as `[{"name":..., "value":...}]`, largest first, ties by name.
fn top(m: HashMap<String, u64>, limit: usize) -> Value {
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    Value::Array(v.into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect())
}
