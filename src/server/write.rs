//! `POST /api/v1/write`: Prometheus remote write 1.0 and 2.0.
//!
//! Status codes follow the spec: 204 when everything was stored; 400 for a malformed body or a
//! partial rejection (the body says how many samples were rejected, by reason, and the valid
//! rest is stored); 413 over the body limit; 415 for an unknown protobuf message or encoding;
//! 503 with `Retry-After` when every write slot stayed busy for `write.max_queue_wait`, when
//! not ready or when shutting down; 500 only for our own faults. Overload is 503 rather than
//! 429 because every remote-write sender must retry a 5xx, while retrying a 429 is optional
//! (Prometheus 2 drops the batch unless `retry_on_http_429` is set). Error bodies are the API's
//! JSON envelope. A success is sent only after [`storage::Appender::commit`] returned, that is
//! once the samples are in the WAL and fsync'd as `storage.wal_fsync` says.
//!
//! Label rules are Prometheus 3's (UTF-8 validation): every series needs a non-empty
//! `__name__`; label names are any non-empty UTF-8; values any UTF-8; duplicate names are
//! rejected; labels with empty values are dropped.
//!
//! Ingestion cost is dominated by label handling, so series refs are cached across requests
//! ([`SeriesCache`]): a series seen before costs one hash of its raw label bytes, and its
//! samples go to the head by [`SeriesRef`] ([`storage::Appender::append_ref`]) without a label
//! set being built.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use storage::{AppendError, Appender, Label, Labels};

use crate::backend::SharedBackend;
use crate::remote::{self, LabelRules, Protocol, SeriesError};
use crate::server::errors::{ApiError, ErrorType};
use crate::server::{AppState, MetricMeta};

/// What a write did, for the response and the logs.
#[derive(Debug, Default)]
pub struct WriteSummary {
    pub samples_written: u64,
    pub samples_total: u64,
    pub histograms_total: u64,
    pub exemplars_written: u64,
    /// Rejected samples by reason (`out_of_order`, `too_old`, `duplicate`, `invalid_labels`, ...).
    pub rejected: BTreeMap<&'static str, u64>,
    pub first_error: Option<String>,
}

impl WriteSummary {
    fn reject(&mut self, reason: &'static str, n: u64, err: impl FnOnce() -> String) {
        if n == 0 {
            return;
        }
        *self.rejected.entry(reason).or_default() += n;
        if self.first_error.is_none() {
            self.first_error = Some(err());
        }
    }
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
    /// The 400 body of a partial write.
    pub fn message(&self) -> String {
        let mut s =
            format!("rejected {} of {} samples:", self.rejected_total(), self.samples_total + self.histograms_total);
        for (r, n) in &self.rejected {
            let _ = write!(s, " {r}={n}");
        }
        if let Some(e) = &self.first_error {
            let _ = write!(s, "; first error: {e}");
        }
        s.push('\n');
        s
    }
}

/// Why a write failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum WriteFailure {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// An error already in the API's terms (overload, unsupported media type).
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl From<ApiError> for WriteFailure {
    fn from(e: ApiError) -> Self {
        WriteFailure::Api(e)
    }
}

impl From<WriteFailure> for ApiError {
    fn from(f: WriteFailure) -> Self {
        match f {
            WriteFailure::BadRequest(m) => ApiError::bad_data(m),
            WriteFailure::TooLarge(m) => ApiError::new(ErrorType::TooLarge, m),
            WriteFailure::Unavailable(m) => ApiError::unavailable(m),
            WriteFailure::Internal(m) => ApiError::internal(format!("write failed: {m}")),
            WriteFailure::Api(e) => e,
        }
    }
}

impl IntoResponse for WriteFailure {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// The response to a write that stored part of its samples: 400 with the summary.
pub fn partial_write_response(summary: &WriteSummary) -> Response {
    ApiError::bad_data(summary.message().trim_end()).into_response()
}

/// Reads a request body up to `limit` bytes (413 beyond).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<axum::body::Bytes, WriteFailure> {
    let too_large = || WriteFailure::TooLarge(format!("request body larger than the limit of {limit} bytes"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) { too_large() } else { WriteFailure::BadRequest(format!("reading request body: {e}")) }
    })
}

/// Whether a body-reading error is [`axum::body::to_bytes`]'s limit (http-body-util's
/// `LengthLimitError`, which axum does not re-export).
pub fn is_length_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains("length limit exceeded") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The handler.
pub async fn remote_write(
    State(st): State<Arc<AppState>>,
    principal: Option<axum::Extension<Arc<crate::auth::Principal>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let scope = principal.map(|p| p.scope.clone()).unwrap_or_default();
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let proto = match remote::negotiate(ct) {
        Ok(p) => p,
        Err(e) => return ApiError::new(ErrorType::UnsupportedMediaType, e.to_string()).into_response(),
    };
    if let Some(enc) = headers.get(header::CONTENT_ENCODING).map(|v| String::from_utf8_lossy(v.as_bytes()))
        && !enc.eq_ignore_ascii_case("snappy")
    {
        return ApiError::new(
            ErrorType::UnsupportedMediaType,
            format!("unsupported Content-Encoding {enc:?}; only snappy is supported"),
        )
        .into_response();
    }
    let backend = match st.backend() {
        Ok(b) => b,
        Err(e) => return WriteFailure::Unavailable(e.message).into_response(),
    };
    let bytes = match read_body(&headers, body, st.cfg.write.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let _permit = match st.write_permit().await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let st2 = st.clone();
    let result = tokio::task::spawn_blocking(move || ingest(&st2, &backend, proto, &bytes, &scope)).await;
    let summary = match result {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return WriteFailure::Internal(format!("write task failed: {e}")).into_response(),
    };
    let mut resp = if summary.rejected_total() == 0 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        partial_write_response(&summary)
    };
    if proto == Protocol::V2 {
        let h = resp.headers_mut();
        h.insert("X-Prometheus-Remote-Write-Samples-Written", HeaderValue::from(summary.samples_written));
        h.insert("X-Prometheus-Remote-Write-Histograms-Written", HeaderValue::from(0u64));
        h.insert("X-Prometheus-Remote-Write-Exemplars-Written", HeaderValue::from(summary.exemplars_written));
    }
    resp
}

mod series_cache;
pub use series_cache::{CacheKey, SeriesCache};

/// Decompression buffers reused across requests. A few are kept, whatever thread served the
/// request (one per thread kept a buffer for every blocking thread that ever served a write).
static BUFFERS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const KEPT_BUFFERS: usize = 4;

/// Decodes and stores one request (runs on a blocking thread). Nothing is stored if the body
/// turns out to be malformed or over a limit part way through.
/// A scoped token's write: every series must carry every scope label with its value, or the
/// whole request is refused (403) and nothing is written.
fn check_scope<'a>(
    mut labels: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    scope: &[(String, String)],
) -> Result<(), WriteFailure> {
    for (name, want) in scope {
        let got = labels.clone().find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v);
        if got != Some(want.as_bytes()) {
            let got = got.map_or_else(|| "missing".to_string(), |v| format!("{:?}", String::from_utf8_lossy(v)));
            let series = labels
                .by_ref()
                .map(|(n, v)| format!("{}={:?}", String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
                .collect::<Vec<_>>()
                .join(",");
            return Err(WriteFailure::Api(ApiError::new(
                ErrorType::Forbidden,
                format!("series {{{series}}} is outside the token's scope: label {name} must be {want:?}, is {got}"),
            )));
        }
    }
    Ok(())
}

pub fn ingest(
    st: &AppState,
    backend: &SharedBackend,
    proto: Protocol,
    body: &[u8],
    scope: &[(String, String)],
) -> Result<WriteSummary, WriteFailure> {
    let cfg = &st.cfg.write;
    let rules = LabelRules {
        max_name_len: cfg.max_label_name_length,
        max_value_len: cfg.max_label_value_length,
        max_labels: cfg.max_labels_per_series,
    };
    let mut w = Writer {
        app: backend.appendable().appender(),
        cache: &st.series_cache,
        summary: WriteSummary::default(),
        rules,
        strings: HashSet::new(),
        scope,
        out_of_scope: None,
    };
    let staged = {
        let mut buf = BUFFERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop().unwrap_or_default();
        let r = remote::decompress_into(body, &mut buf, cfg.max_decompressed_bytes)
            .map_err(|e| match e {
                remote::DecodeError::TooLarge { .. } => WriteFailure::TooLarge(e.to_string()),
                e => WriteFailure::BadRequest(e.to_string()),
            })
            .and_then(|()| match proto {
                Protocol::V1 => w.write_v1(st, &buf),
                Protocol::V2 => {
                    let req = remote::v2::Request::decode(buf.as_slice())
                        .map_err(|e| WriteFailure::BadRequest(remote::DecodeError::from(e).to_string()))?;
                    check_series_count(req.timeseries.len(), cfg.max_series_per_request)?;
                    w.write_v2(st, &req);
                    w.out_of_scope.take().map_or(Ok(()), Err)
                }
            });
        // Do not keep a huge buffer around after an unusually large request.
        if buf.capacity() <= 16 << 20 {
            let mut pool = BUFFERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if pool.len() < KEPT_BUFFERS {
                pool.push(buf);
            }
        }
        r
    };
    let Writer { app, summary, .. } = w;
    // Storage closing under the request (shutdown) is not the sender's fault: 503, so it
    // retries, rather than a 400 that would make it drop the samples.
    let staged = staged.and_then(|()| match summary.rejected.get("closed") {
        Some(_) => Err(WriteFailure::Unavailable("storage is closed".into())),
        None => Ok(()),
    });
    if let Err(e) = staged {
        if let Err(re) = app.rollback() {
            tracing::warn!(error = %re, "rollback of a rejected write failed");
        }
        return Err(e);
    }
    match app.commit() {
        Ok(_) => {}
        Err(storage::Error::Closed) => return Err(WriteFailure::Unavailable("storage is closed".into())),
        Err(e) => return Err(WriteFailure::Internal(format!("commit: {e}"))),
    }
    record_metrics(st, &summary);
    Ok(summary)
}

fn check_series_count(n: usize, max: usize) -> Result<(), WriteFailure> {
    if n > max {
        return Err(WriteFailure::BadRequest(format!("request has {n} series, more than the limit of {max}")));
    }
    Ok(())
}

struct Writer<'a> {
    app: Box<dyn Appender>,
    cache: &'a SeriesCache,
    summary: WriteSummary,
    rules: LabelRules,
    /// Label strings of the label sets this request built, shared between its series: a
    /// request creating thousands of series repeats the same names and values (`job`,
    /// `instance`) in each, and the staged label sets live until the commit.
    strings: HashSet<Arc<str>>,
    /// A scoped token's labels: a series without them refuses the whole request, which is
    /// then rolled back like any failed request.
    scope: &'a [(String, String)],
    out_of_scope: Option<WriteFailure>,
}

impl Writer<'_> {
    /// Remote write 1.0 through the zero-copy decoder.
    fn write_v1(&mut self, st: &AppState, buf: &[u8]) -> Result<(), WriteFailure> {
        let max = st.cfg.write.max_series_per_request;
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
        let mut count = 0usize;
        let metadata = remote::wire::decode_v1(buf, |ts| {
            count += 1;
            if count > max {
                return false;
            }
            if !self.in_scope(&ts.labels) {
                return false;
            }
            let n = ts.samples.len() as u64;
            self.summary.samples_total += n;
            self.summary.histograms_total += ts.histograms as u64;
            match self.append_series(&ts.labels, &mut pairs, ts.samples.iter().copied()) {
                Ok(()) => {
                    self.reject_histograms(&ts.labels, ts.histograms);
                    self.summary.exemplars_written += ts.exemplars as u64;
                }
                Err(e) => self.reject_series(&e, n + ts.histograms as u64),
            }
            true
        })
        .map_err(|e| WriteFailure::BadRequest(remote::DecodeError::from(e).to_string()))?;
        if let Some(e) = self.out_of_scope.take() {
            return Err(e);
        }
        if count > max {
            return Err(WriteFailure::BadRequest(format!("request has more than {max} series, the limit")));
        }
        if !metadata.is_empty() {
            let mut md = st.metadata.lock();
            for m in metadata {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let meta =
                    MetricMeta { kind: remote::v1_metric_type(m.kind).into(), help: text(m.help), unit: text(m.unit) };
                add_metadata(&mut md, &String::from_utf8_lossy(m.family), meta);
            }
        }
        Ok(())
    }

    /// Whether a series' labels are within the token's scope; if not, the refusal is kept in
    /// `out_of_scope` and the caller stops the request.
    fn in_scope(&mut self, labels: &[(&[u8], &[u8])]) -> bool {
        if self.scope.is_empty() {
            return true;
        }
        match check_scope(labels.iter().copied(), self.scope) {
            Ok(()) => true,
            Err(e) => {
                self.out_of_scope = Some(e);
                false
            }
        }
    }

    fn write_v2(&mut self, st: &AppState, req: &remote::v2::Request) {
        let mut raw: Vec<(&[u8], &[u8])> = Vec::with_capacity(16);
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
        let mut metas: Vec<(String, MetricMeta)> = Vec::new();
        for ts in &req.timeseries {
            let n = ts.samples.len() as u64;
            self.summary.samples_total += n;
            self.summary.histograms_total += ts.histograms.len() as u64;
            let samples = ts.samples.iter().map(|s| (s.timestamp, s.value));
            let labeled = remote::v2_label_pairs(&req.symbols, &ts.labels_refs, &mut raw);
            if labeled.is_ok() && !self.in_scope(&raw) {
                break;
            }
            let res = labeled.and_then(|_| self.append_series(&raw, &mut pairs, samples));
            if let Err(e) = res {
                self.reject_series(&e, n + ts.histograms.len() as u64);
                continue;
            }
            self.reject_histograms(&raw, ts.histograms.len());
            self.summary.exemplars_written += ts.exemplars.len() as u64;
            if let Some(m) = &ts.metadata
                && (m.r#type != 0 || m.help_ref != 0 || m.unit_ref != 0)
            {
                let sym = |r: u32| {
                    remote::symbol(&req.symbols, r).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
                };
                let name = raw
                    .iter()
                    .find(|(n, _)| *n == storage::METRIC_NAME.as_bytes())
                    .and_then(|(_, v)| std::str::from_utf8(v).ok())
                    .unwrap_or("");
                if !name.is_empty() {
                    metas.push((
                        name.to_string(),
                        MetricMeta {
                            kind: remote::v2_metric_type(m.r#type).into(),
                            help: sym(m.help_ref),
                            unit: sym(m.unit_ref),
                        },
                    ));
                }
            }
        }
        if !metas.is_empty() {
            let mut md = st.metadata.lock();
            for (name, meta) in metas {
                add_metadata(&mut md, &name, meta);
            }
        }
    }

    fn reject_series(&mut self, e: &SeriesError, n: u64) {
        self.summary.reject(e.reason(), n, || e.to_string());
    }

    fn reject_histograms(&mut self, raw: &[(&[u8], &[u8])], n: usize) {
        self.summary.reject("native_histograms_unsupported", n as u64, || {
            format!("series {}: native histograms are not supported", display_raw(raw))
        });
    }

    /// Appends the samples of one series whose labels as sent are `raw` (`pairs` is scratch
    /// space). A series written before costs one hash of its raw label bytes and a cache probe,
    /// and its samples go to the head by series ref: its labels are neither validated again (the
    /// same bytes were, when they were cached) nor built into a label set. Only a series not in
    /// the cache (new, or its ref stale) has its labels normalized ([`remote::normalize_labels`])
    /// and built; invalid labels reject the series before any of its samples is appended.
    fn append_series<'a>(
        &mut self,
        raw: &[(&'a [u8], &'a [u8])],
        pairs: &mut Vec<(&'a str, &'a str)>,
        samples: impl Iterator<Item = (i64, f64)>,
    ) -> Result<(), SeriesError> {
        let key = SeriesCache::key(raw);
        let cached = self.cache.get(key);
        let mut hint = cached;
        let mut labels: Option<Labels> = None;
        if cached.is_none() {
            labels = Some(self.build_labels(raw, pairs)?);
        }
        let mut first_ref = None;
        for (t, v) in samples {
            let by_ref = match (hint, &labels) {
                (Some(r), None) => self.app.append_ref(r, t, v),
                _ => Ok(None),
            };
            let res = match by_ref {
                Ok(Some(r)) => Ok(r),
                Ok(None) => {
                    if labels.is_none() {
                        // A stale ref. The same bytes passed the checks when they were cached,
                        // so this cannot fail unless the rules changed; if it does, the rest of
                        // the series is rejected.
                        match self.build_labels(raw, pairs) {
                            Ok(l) => labels = Some(l),
                            Err(e) => {
                                self.reject_series(&e, 1);
                                continue;
                            }
                        }
                    }
                    match &labels {
                        Some(l) => self.app.append(hint, l, t, v),
                        None => continue,
                    }
                }
                Err(e) => Err(e),
            };
            match res {
                Ok(r) => {
                    hint = Some(r);
                    first_ref.get_or_insert(r);
                    self.summary.samples_written += 1;
                }
                Err(e) => {
                    self.summary.reject(reason(&e), 1, || format!("series {}: {e} (timestamp {t})", display_raw(raw)))
                }
            }
        }
        if let Some(r) = first_ref
            && cached != Some(r)
        {
            self.cache.set(key, r);
        }
        Ok(())
    }

    /// Validates and sorts `raw` into `pairs` and builds the label set.
    fn build_labels<'a>(
        &mut self,
        raw: &[(&'a [u8], &'a [u8])],
        pairs: &mut Vec<(&'a str, &'a str)>,
    ) -> Result<Labels, SeriesError> {
        remote::normalize_labels(raw.iter().copied(), &self.rules, pairs)?;
        let strings = &mut self.strings;
        let mut intern = |s: &str| -> Arc<str> {
            if let Some(a) = strings.get(s) {
                return a.clone();
            }
            let a: Arc<str> = Arc::from(s);
            strings.insert(a.clone());
            a
        };
        Ok(Labels::from_sorted(pairs.iter().map(|(n, v)| Label { name: intern(n), value: intern(v) }).collect()))
    }
}

/// Counts a committed write in the server's metrics.
pub fn record_metrics(st: &AppState, s: &WriteSummary) {
    let r = &st.registry;
    r.counter("tickdb_write_samples_written_total", "Samples stored through remote write and import.")
        .add(s.samples_written);
    if s.exemplars_written > 0 {
        st.exemplars_received.add(s.exemplars_written);
    }
    for (reason, n) in &s.rejected {
        r.counter_with(
            "tickdb_write_samples_rejected_total",
            "Samples rejected by remote write and import, by reason.",
            &[("reason", reason)],
        )
        .add(*n);
    }
}

fn reason(e: &AppendError) -> &'static str {
    e.reason()
}

/// A series' labels as sent, for messages: as a label set when they make one, else the bytes
/// shown lossily in sent order.
fn display_raw(raw: &[(&[u8], &[u8])]) -> String {
    let mut pairs = Vec::new();
    let any = LabelRules { max_name_len: usize::MAX, max_value_len: usize::MAX, max_labels: usize::MAX };
    if remote::normalize_labels(raw.iter().copied(), &any, &mut pairs).is_ok() {
        return Labels::from_pairs(pairs.iter().copied()).to_string();
    }
    let mut s = String::from("{");
    for (i, (n, v)) in raw.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}={:?}", String::from_utf8_lossy(n), String::from_utf8_lossy(v));
    }
    s.push('}');
    s
}

/// Adds a metadata entry to a family unless already present.
pub fn add_metadata(md: &mut BTreeMap<String, Vec<MetricMeta>>, family: &str, meta: MetricMeta) {
    if family.is_empty() {
        return;
    }
    let entries = md.entry(family.to_string()).or_default();
    if !entries.contains(&meta) {
        entries.push(meta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_message() {
        let mut s = WriteSummary { samples_total: 10, ..Default::default() };
        s.reject("out_of_order", 2, || "series {a=\"1\"}: out of order sample".into());
        s.reject("duplicate", 1, || "ignored".into());
        assert_eq!(
            s.message(),
            "rejected 3 of 10 samples: duplicate=1 out_of_order=2; first error: series {a=\"1\"}: out of order sample\n"
        );
    }
}
