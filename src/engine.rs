//! The server's view of the PromQL engine: what the HTTP API needs from a query, in the API's
//! terms. [`QueryEngine`] is implemented over the `query` crate; handlers call it from a
//! blocking thread.

use std::borrow::Cow;
use std::time::Duration;

use storage::{Labels, Queryable, Sample, Timestamp};

/// The result of a query, in the shapes of the Prometheus API.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    Scalar(Timestamp, f64),
    String(Timestamp, String),
    Vector(Vec<(Labels, Timestamp, f64)>),
    Matrix(Vec<(Labels, Vec<Sample>)>),
}

/// A successful evaluation with its annotations.
#[derive(Clone, Debug)]
pub struct QueryOutput {
    pub value: QueryValue,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// Why a query failed, by the API's error types.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QueryFailure {
    /// Bad PromQL or bad parameters (400).
    #[error("{0}")]
    BadData(String),
    /// The query is valid but failed during evaluation (422).
    #[error("{0}")]
    Execution(String),
    /// The query ran out of time (503).
    #[error("{0}")]
    Timeout(String),
    /// The query was canceled (499 / 503).
    #[error("{0}")]
    Canceled(String),
    /// Storage or engine fault (500).
    #[error("{0}")]
    Internal(String),
}

/// A range query's parameters (milliseconds).
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub start: Timestamp,
    pub end: Timestamp,
    pub step: i64,
}

/// Evaluates PromQL against a [`Queryable`]. Synchronous: call it off the async runtime.
/// `timeout` is the request's own limit (the `timeout` parameter); the engine's configured
/// limit applies when it is `None` or larger.
pub trait QueryEngine: Send + Sync {
    fn instant(
        &self,
        db: &dyn Queryable,
        expr: &str,
        t: Timestamp,
        timeout: Option<Duration>,
    ) -> Result<QueryOutput, QueryFailure>;
    fn range(
        &self,
        db: &dyn Queryable,
        expr: &str,
        range: Range,
        timeout: Option<Duration>,
    ) -> Result<QueryOutput, QueryFailure>;
}

impl From<query::QueryError> for QueryFailure {
    fn from(e: query::QueryError) -> Self {
        let msg = e.to_string();
        match e.error_type() {
            // Prometheus rejects these while preparing the query and names the parameter.
            "bad_data" => QueryFailure::BadData(format!("invalid parameter \"query\": {msg}")),
            "timeout" => QueryFailure::Timeout(msg),
            "canceled" => QueryFailure::Canceled(msg),
            "execution" => QueryFailure::Execution(msg),
            _ => QueryFailure::Internal(msg),
        }
    }
}

fn convert(r: query::QueryResult) -> QueryOutput {
    let value = match r.value {
        query::Value::Scalar { t, v } => QueryValue::Scalar(t, v),
        query::Value::String { t, v } => QueryValue::String(t, v),
        query::Value::Vector(v) => QueryValue::Vector(v.into_iter().map(|s| (s.labels, s.t, s.v)).collect()),
        query::Value::Matrix(m) => QueryValue::Matrix(m.into_iter().map(|s| (s.labels, s.samples)).collect()),
    };
    QueryOutput { value, warnings: r.warnings, infos: r.infos }
}

/// The real engine: the `query` crate.
impl QueryEngine for query::Engine {
    fn instant(
        &self,
        db: &dyn Queryable,
        expr: &str,
        t: Timestamp,
        timeout: Option<Duration>,
    ) -> Result<QueryOutput, QueryFailure> {
        let e = with_timeout(self, timeout);
        query::Engine::instant(&e, db, expr, t).map(convert).map_err(QueryFailure::from)
    }
    fn range(
        &self,
        db: &dyn Queryable,
        expr: &str,
        r: Range,
        timeout: Option<Duration>,
    ) -> Result<QueryOutput, QueryFailure> {
        let e = with_timeout(self, timeout);
        query::Engine::range(&e, db, expr, r.start, r.end, r.step).map(convert).map_err(QueryFailure::from)
    }
}

/// The engine itself, or a copy with a shorter timeout (an engine holds only options).
fn with_timeout(e: &query::Engine, timeout: Option<Duration>) -> Cow<'_, query::Engine> {
    match timeout {
        Some(t) if t < e.options().timeout => {
            let mut o = e.options().clone();
            o.timeout = t;
            Cow::Owned(query::Engine::new(o))
        }
        _ => Cow::Borrowed(e),
    }
}

/// Engine options from the server configuration.
pub fn engine_options(cfg: &crate::config::Config) -> query::EngineOptions {
    query::EngineOptions {
        lookback_delta_ms: cfg.query.lookback_delta.as_millis(),
        timeout: cfg.query.timeout.0,
        max_samples: cfg.query.max_samples,
        max_points_per_series: usize::try_from(cfg.query.max_points_per_series).unwrap_or(usize::MAX),
        ..Default::default()
    }
}
