//! The query function the rule engine evaluates through. The server injects either the local
//! engine ([`LocalSource`]) or a remote Prometheus-API datasource (`rules.datasource_url`), so
//! rules can run above Mimir, Thanos or a VictoriaMetrics cluster.

use std::sync::Arc;

use query::{Engine, InstantSample, Value};
use storage::{Labels, Queryable};

/// Why a rule query failed; the message is shown as the rule's `lastError`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct QueryFailed(pub String);

/// Evaluates PromQL for rules. Synchronous: the manager calls it from a blocking thread.
pub trait QuerySource: Send + Sync {
    /// Evaluates `expr` at `t_ms` as an instant query. A scalar result becomes a one-element
    /// vector without labels (Prometheus's `EngineQueryFunc`); any other type is an error.
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed>;

    /// [`QuerySource::instant`] for an expression the caller parsed once (`ast` is `expr`
    /// parsed): rules evaluate the same expression every interval, and parsing costs more than
    /// evaluating a small query. Sources that send the text elsewhere ignore `ast`.
    fn instant_parsed(&self, expr: &str, ast: &query::Expr, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed> {
        let _ = ast;
        self.instant(expr, t_ms)
    }
}

/// The local PromQL engine over the local storage.
pub struct LocalSource {
    pub engine: Engine,
    pub db: Arc<dyn Queryable>,
}

impl QuerySource for LocalSource {
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed> {
        let r = self.engine.instant(self.db.as_ref(), expr, t_ms).map_err(|e| QueryFailed(e.to_string()))?;
        vector_of(r.value)
    }

    fn instant_parsed(&self, expr: &str, ast: &query::Expr, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed> {
        let r = self.engine.instant_expr(self.db.as_ref(), expr, ast, t_ms).map_err(|e| QueryFailed(e.to_string()))?;
        vector_of(r.value)
    }
}

/// Prometheus's conversion of a rule query's result to a vector.
pub fn vector_of(v: Value) -> Result<Vec<InstantSample>, QueryFailed> {
    match v {
        Value::Vector(v) => Ok(v),
        Value::Scalar { t, v } => Ok(vec![InstantSample { labels: Labels::empty(), t, v }]),
        other => Err(QueryFailed(format!("rule result is not a vector or scalar (got {})", other.type_name()))),
    }
}
