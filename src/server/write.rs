//! `POST /api/v1/write`: Prometheus remote write 1.0 and 2.0.
//!
//! Status codes follow the spec: 204 when everything was stored; 400 for a malformed body or a
//! partial rejection (the body says how many samples were rejected, by reason, and the valid
//! rest is stored); 413 over the body limit; 415 for an unknown protobuf message; 503 when
//! overloaded or not ready (senders retry); 500 only for our own faults. A success is sent only
//! after [`storage::Appender::commit`] returned.
//!
//! Ingestion cost is dominated by label handling, so label sets are cached across requests
//! ([`SeriesCache`]): a series seen before costs one hash of its raw label bytes, and its
//! [`SeriesRef`] is passed to the appender as a hint.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use prost::Message;
use storage::{AppendError, Appender, Label, Labels, SeriesRef};

use crate::backend::SharedBackend;
use crate::remote::{self, LabelRules, Protocol, SeriesError};
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
}

impl WriteFailure {
    pub fn status(&self) -> StatusCode {
        match self {
            WriteFailure::BadRequest(_) => StatusCode::BAD_REQUEST,
            WriteFailure::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WriteFailure::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WriteFailure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WriteFailure {
    fn into_response(self) -> Response {
        let status = self.status();
        let msg = match &self {
            WriteFailure::Internal(m) => {
                tracing::error!(error = %m, "write failed");
                "internal error while storing samples (see server log)".to_string()
            }
            other => other.to_string(),
        };
        let mut r = (status, format!("{msg}\n")).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
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
        if e.to_string().contains("length limit") {
            too_large()
        } else {
            WriteFailure::BadRequest(format!("reading request body: {e}"))
        }
    })
}

/// The handler.
pub async fn remote_write(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let proto = match remote::negotiate(ct) {
        Ok(p) => p,
        Err(e) => return (StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("{e}\n")).into_response(),
    };
    if let Some(enc) = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok())
        && !enc.eq_ignore_ascii_case("snappy")
    {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Encoding {enc:?}; only snappy is supported\n"),
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
    let Some(_permit) = st.write_permit().await else {
        return WriteFailure::Unavailable("too many concurrent write requests".into()).into_response();
    };
    let st2 = st.clone();
    let result = tokio::task::spawn_blocking(move || ingest(&st2, &backend, proto, &bytes)).await;
    let summary = match result {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return WriteFailure::Internal(format!("write task failed: {e}")).into_response(),
    };
    let mut resp = if summary.rejected_total() == 0 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        tracing::debug!(rejected = summary.rejected_total(), msg = %summary.message(), "partial write");
        (StatusCode::BAD_REQUEST, summary.message()).into_response()
    };
    if proto == Protocol::V2 {
        let h = resp.headers_mut();
        h.insert("X-Prometheus-Remote-Write-Samples-Written", HeaderValue::from(summary.samples_written));
        h.insert("X-Prometheus-Remote-Write-Histograms-Written", HeaderValue::from(0u64));
        h.insert("X-Prometheus-Remote-Write-Exemplars-Written", HeaderValue::from(summary.exemplars_written));
    }
    resp
}

thread_local! {
    /// Decompression buffer, reused by each blocking thread across requests.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Decodes and stores one request (runs on a blocking thread). Nothing is stored if the body
/// turns out to be malformed or over a limit part way through.
pub fn ingest(
    st: &AppState,
    backend: &SharedBackend,
    proto: Protocol,
    body: &[u8],
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
    };
    let staged = BUF.with(|b| {
        let mut buf = b.borrow_mut();
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
                    Ok(())
                }
            });
        // Do not keep a huge buffer around after an unusually large request.
        if buf.capacity() > 16 << 20 {
            *buf = Vec::new();
        }
        r
    });
    let Writer { app, summary, .. } = w;
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
            let n = ts.samples.len() as u64;
            self.summary.samples_total += n;
            self.summary.histograms_total += ts.histograms as u64;
            match remote::normalize_labels(ts.labels.iter().copied(), &self.rules, &mut pairs) {
                Ok(()) => {
                    self.append_series(&pairs, ts.samples.iter().copied());
                    self.reject_histograms(&pairs, ts.histograms);
                    self.summary.exemplars_written += ts.exemplars as u64;
                }
                Err(e) => self.reject_series(&e, n + ts.histograms as u64),
            }
            true
        })
        .map_err(|e| WriteFailure::BadRequest(remote::DecodeError::from(e).to_string()))?;
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

    fn write_v2(&mut self, st: &AppState, req: &remote::v2::Request) {
        let mut raw: Vec<(&[u8], &[u8])> = Vec::with_capacity(16);
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
        let mut metas: Vec<(String, MetricMeta)> = Vec::new();
        for ts in &req.timeseries {
            let n = ts.samples.len() as u64;
            self.summary.samples_total += n;
            self.summary.histograms_total += ts.histograms.len() as u64;
            let res = remote::v2_label_pairs(&req.symbols, &ts.labels_refs, &mut raw)
                .and_then(|_| remote::normalize_labels(raw.iter().copied(), &self.rules, &mut pairs));
            if let Err(e) = res {
                self.reject_series(&e, n + ts.histograms.len() as u64);
                continue;
            }
            let samples = ts.samples.iter().map(|s| (s.timestamp, s.value));
            self.append_series(&pairs, samples);
            self.reject_histograms(&pairs, ts.histograms.len());
            self.summary.exemplars_written += ts.exemplars.len() as u64;
            if let Some(m) = &ts.metadata
                && (m.r#type != 0 || m.help_ref != 0 || m.unit_ref != 0)
            {
                let sym = |r: u32| {
                    remote::symbol(&req.symbols, r).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
                };
                let name = pairs.iter().find(|(n, _)| *n == storage::METRIC_NAME).map(|(_, v)| *v).unwrap_or("");
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

    fn reject_histograms(&mut self, pairs: &[(&str, &str)], n: usize) {
        self.summary.reject("native_histograms_unsupported", n as u64, || {
            format!("series {}: native histograms are not supported", display_pairs(pairs))
        });
    }

    /// Appends the samples of one series, reusing one label set and passing the series ref hint.
    fn append_series(&mut self, pairs: &[(&str, &str)], samples: impl Iterator<Item = (i64, f64)>) {
        let (labels, cached, key) = self.cache.get(pairs);
        let mut hint = cached;
        let mut first_ref = None;
        for (t, v) in samples {
            match self.app.append(hint, &labels, t, v) {
                Ok(r) => {
                    hint = Some(r);
                    first_ref.get_or_insert(r);
                    self.summary.samples_written += 1;
                }
                Err(e) => self.summary.reject(reason(&e), 1, || format!("series {labels}: {e} (timestamp {t})")),
            }
        }
        if let Some(r) = first_ref
            && cached != Some(r)
        {
            self.cache.set_ref(key, &labels, r);
        }
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

fn display_pairs(pairs: &[(&str, &str)]) -> String {
    Labels::from_pairs(pairs.iter().copied()).to_string()
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

/// Label sets (and their head series refs) of recently written series, keyed by the hash of
/// their sorted `(name, value)` pairs. Sharded to keep lock hold times short; each shard
/// interns its strings so repeated names and values (`job="node"`) are stored once. A full
/// shard is emptied (cheap, and only costs the next write of each series one allocation).
pub struct SeriesCache {
    shards: Vec<Mutex<CacheShard>>,
    max_per_shard: usize,
}

const SHARDS: usize = 32;

/// The keys are already hashes: use them as they are.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct CacheShard {
    /// Label-pair hash → (label set, last known series ref).
    series: HashMap<u64, (Labels, Option<SeriesRef>), std::hash::BuildHasherDefault<IdHasher>>,
    symbols: HashSet<Arc<str>>,
}

impl CacheShard {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.symbols.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.symbols.insert(a.clone());
        a
    }
}

impl SeriesCache {
    /// A cache of up to `max_entries` series (0 disables caching).
    pub fn new(max_entries: usize) -> Self {
        SeriesCache {
            shards: (0..SHARDS).map(|_| Mutex::new(CacheShard::default())).collect(),
            max_per_shard: max_entries / SHARDS,
        }
    }

    /// A fast non-cryptographic hash of the pairs, eight bytes at a time (entries are
    /// compared in full on lookup, so collisions only cost a miss).
    fn hash(pairs: &[(&str, &str)]) -> u64 {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h: u64 = pairs.len() as u64;
        let mut mix = |w: u64| h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        for (n, v) in pairs {
            for s in [n.as_bytes(), v.as_bytes()] {
                let mut chunks = s.chunks_exact(8);
                for c in &mut chunks {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    mix(u64::from_le_bytes(a));
                }
                let mut a = [0u8; 8];
                let rest = chunks.remainder();
                a[..rest.len()].copy_from_slice(rest);
                mix(u64::from_le_bytes(a) ^ ((s.len() as u64) << 56));
            }
        }
        h
    }

    fn shard(&self, h: u64) -> &Mutex<CacheShard> {
        &self.shards[(h as usize) % SHARDS]
    }

    /// The label set for `pairs` (sorted, validated), the last known series ref, and the key
    /// to pass to `set_ref`.
    pub fn get(&self, pairs: &[(&str, &str)]) -> (Labels, Option<SeriesRef>, u64) {
        let h = Self::hash(pairs);
        if self.max_per_shard == 0 {
            return (Labels::from_sorted(pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()), None, h);
        }
        let mut shard = self.shard(h).lock();
        if let Some((l, r)) = shard.series.get(&h)
            && l.len() == pairs.len()
            && l.iter().zip(pairs).all(|(a, (n, v))| &*a.name == *n && &*a.value == *v)
        {
            return (l.clone(), *r, h);
        }
        if shard.series.len() >= self.max_per_shard {
            shard.series.clear();
            shard.symbols.clear();
        }
        let labels = Labels::from_sorted(
            pairs.iter().map(|(n, v)| Label { name: shard.intern(n), value: shard.intern(v) }).collect(),
        );
        shard.series.insert(h, (labels.clone(), None));
        (labels, None, h)
    }

    /// Records the head series ref of the entry `h` returned by [`SeriesCache::get`].
    fn set_ref(&self, h: u64, labels: &Labels, r: SeriesRef) {
        if let Some(e) = self.shard(h).lock().series.get_mut(&h)
            && e.0 == *labels
        {
            e.1 = Some(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_returns_equal_labels_and_refs() {
        let c = SeriesCache::new(64);
        let off = SeriesCache::new(0);
        assert_eq!(off.get(&[("a", "b")]).0, storage::labels! {"a" => "b"});
        let pairs = [("__name__", "up"), ("job", "a")];
        let (l, r, key) = c.get(&pairs);
        assert_eq!(l, storage::labels! {"__name__" => "up", "job" => "a"});
        assert_eq!(r, None);
        assert_eq!(key, SeriesCache::hash(&pairs));
        c.set_ref(key, &l, SeriesRef(7));
        assert_eq!(c.get(&pairs).1, Some(SeriesRef(7)));
        assert_eq!(c.get(&[("__name__", "up")]).1, None);
        // Strings are shared between series of a shard.
        let (a, ..) = c.get(&[("__name__", "x"), ("job", "j")]);
        let (b, ..) = c.get(&[("__name__", "x"), ("job", "j")]);
        assert!(Arc::ptr_eq(&a.as_slice()[1].value, &b.as_slice()[1].value));
    }

    #[test]
    fn hash_separates_boundaries() {
        let h = SeriesCache::hash;
        assert_ne!(h(&[("ab", "c")]), h(&[("a", "bc")]));
        assert_ne!(h(&[("a", "")]), h(&[("a", "\0")]));
        assert_ne!(h(&[("a", "b")]), h(&[("a", "b"), ("", "")]));
        assert_ne!(h(&[("abcdefgh", "x")]), h(&[("abcdefghx", "")]));
    }

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
