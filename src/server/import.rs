//! `POST /api/v1/import/prometheus` (text exposition format, optional timestamps, `extra_label`
//! parameters) and `GET /api/v1/export` (JSON lines per series, like VictoriaMetrics).

use std::sync::Arc;
use storage::Queryable as _;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use storage::labels::go_quote;
use storage::{Labels, SelectHints};

use crate::openmetrics::{self, Entry, TimestampUnit};
use crate::server::errors::ApiError;
use crate::server::json::{push_labels, push_str};
use crate::server::params::{MAX_TIME, MIN_TIME, Params, parse_selector};
use crate::server::write::{WriteFailure, WriteSummary, add_metadata, read_body};
use crate::server::{AppState, MetricMeta};

/// The import handler. Lines without a timestamp get the `timestamp` parameter (ms) or now.
pub async fn import_prometheus(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let p = match Params::from_query(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return WriteFailure::BadRequest(e.message).into_response(),
    };
    match import_inner(st, p, headers, body).await {
        Ok(s) if s.rejected_total() == 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(s) => crate::server::write::partial_write_response(&s),
        Err(e) => e.into_response(),
    }
}

async fn import_inner(
    st: Arc<AppState>,
    p: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<WriteSummary, WriteFailure> {
    let backend = st.backend().map_err(|e| WriteFailure::Unavailable(e.message))?;
    let mut extra = Vec::new();
    for e in p.all("extra_label") {
        let (n, v) = e
            .split_once('=')
            .ok_or_else(|| WriteFailure::BadRequest(format!("extra_label {} is not name=value", go_quote(e))))?;
        if !crate::remote::valid_label_name(n) {
            return Err(WriteFailure::BadRequest(format!("extra_label has an invalid label name {}", go_quote(n))));
        }
        extra.push((n.to_string(), v.to_string()));
    }
    let default_ts = match p.get("timestamp") {
        Some(t) => t
            .parse::<i64>()
            .map_err(|_| WriteFailure::BadRequest(format!("invalid timestamp parameter {}", go_quote(t))))?,
        None => st.now(),
    };
    let bytes = read_body(&headers, body, st.cfg.write.max_decompressed_bytes).await?;
    let text =
        std::str::from_utf8(&bytes).map_err(|e| WriteFailure::BadRequest(format!("body is not valid UTF-8: {e}")))?;
    let entries =
        openmetrics::parse(text, TimestampUnit::Millis).map_err(|e| WriteFailure::BadRequest(e.to_string()))?;
    let _permit = st.write_permit().await?;
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || {
        let limits = storage::LabelLimits {
            max_name_len: st2.cfg.write.max_label_name_length,
            max_value_len: st2.cfg.write.max_label_value_length,
            max_labels: st2.cfg.write.max_labels_per_series,
        };
        let mut app = backend.appendable().appender();
        let mut s = WriteSummary::default();
        let mut types: Vec<(String, String)> = Vec::new();
        let mut helps: Vec<(String, String)> = Vec::new();
        for e in entries {
            match e {
                Entry::Sample { labels, value, timestamp } => {
                    s.samples_total += 1;
                    let mut b = Labels::from_pairs(labels.iter().map(|(a, b)| (a.as_str(), b.as_str()))).builder();
                    for (n, v) in &extra {
                        b.set(n, v);
                    }
                    let l = b.build();
                    if let Err(e) = l.validate(&limits) {
                        s.rejected_add("invalid_labels", format!("series {l}: {e}"));
                        continue;
                    }
                    match app.append(None, &l, timestamp.unwrap_or(default_ts), value) {
                        Ok(_) => s.samples_written += 1,
                        Err(e) => s.rejected_add(e.reason(), format!("series {l}: {e}")),
                    }
                }
                Entry::Type { family, kind } => types.push((family, kind)),
                Entry::Help { family, text } => helps.push((family, text)),
                Entry::Unit { .. } | Entry::Eof => {}
            }
        }
        if s.rejected.contains_key("closed") {
            let _ = app.rollback();
            return Err(WriteFailure::Unavailable("storage is closed".into()));
        }
        app.commit().map_err(|e| match e {
            storage::Error::Closed => WriteFailure::Unavailable("storage is closed".into()),
            e => WriteFailure::Internal(format!("commit: {e}")),
        })?;
        crate::server::write::record_metrics(&st2, &s);
        let mut md = st2.metadata.lock();
        for (family, kind) in types {
            let help = helps.iter().find(|(f, _)| *f == family).map(|(_, h)| h.clone()).unwrap_or_default();
            add_metadata(&mut md, &family, MetricMeta { kind, help, unit: String::new() });
        }
        Ok(s)
    })
    .await
    .map_err(|e| WriteFailure::Internal(format!("import task failed: {e}")))?
}

impl WriteSummary {
    fn rejected_add(&mut self, reason: &'static str, err: String) {
        *self.rejected.entry(reason).or_default() += 1;
        self.first_error.get_or_insert(err);
    }
}

/// GET/POST /api/v1/export?match[]=...&start=...&end=...
pub async fn export(
    State(st): State<Arc<AppState>>,
    scope: crate::server::scope::Scope,
    p: Params,
) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let mut sets = Vec::new();
    for m in p.all("match[]") {
        sets.extend(parse_selector(m)?);
    }
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (start, end) = (p.time_or("start", MIN_TIME)?, p.time_or("end", MAX_TIME)?);
    let _permit = st.query_permit().await?;
    let body = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        let q = scope.wrap(backend.queryable()).querier(start, end)?;
        let hints = SelectHints { start, end, ..Default::default() };
        let mut seen = std::collections::BTreeSet::new();
        let mut out = String::new();
        for set in &sets {
            for s in q.select(true, Some(&hints), set)? {
                let s = s?;
                if !seen.insert(s.labels.clone()) {
                    continue;
                }
                let labels = s.labels.clone();
                let samples = s.collect_samples()?;
                if samples.is_empty() {
                    continue;
                }
                out.push_str("{\"metric\":");
                push_labels(&mut out, &labels);
                out.push_str(",\"values\":[");
                for (i, x) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if x.v.is_finite() {
                        out.push_str(&x.v.to_string());
                    } else {
                        push_str(&mut out, &crate::server::json::format_value(x.v));
                    }
                }
                out.push_str("],\"timestamps\":[");
                for (i, x) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&x.t.to_string());
                }
                out.push_str("]}\n");
            }
        }
        Ok(out)
    })
    .await
    .map_err(ApiError::internal)??;
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/stream+json"));
    Ok(r)
}
