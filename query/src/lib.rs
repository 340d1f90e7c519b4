//! PromQL evaluation over tickdb's storage contract.
//!
//! Parsing is done by the `promql-parser` crate; evaluation is our own and follows Prometheus
//! 3.x's engine (`promql/engine.go`, `functions.go`): every expression is evaluated over all
//! steps of the query at once ("range evaluation"), an instant query being a range query with a
//! single step. Results match Prometheus bit for bit where its test scripts check them.
//!
//! Entry points: [`Engine::instant`] and [`Engine::range`]. Only [`storage::Queryable`] is used
//! to read data, never engine internals.
//!
//! Module map:
//! - [`error`]: [`QueryError`] and its mapping to Prometheus's API error types.
//! - [`series_desc`]: the series description notation (`up{job="a"} 1+2x3 _ stale`) of
//!   promqltest `load` commands and `promtool test rules` input series.
//! - `annotations`: warnings and infos (`PromQL info: ...`) with their query positions.
//! - `gofmt`: Go's `%g` ([`format_go_g`]), used by annotations and by `tickdb tsdb dump`.
//! - `position`: recovers source positions of AST nodes (the parser does not record them).
//! - `parse_error`: Prometheus's wording and `line:col` for parse errors.
//! - `eval` (+ `eval/*`): the evaluator; `functions`: the math of PromQL's functions.

pub mod error;
pub mod series_desc;

mod annotations;
mod eval;
mod functions;
mod gofmt;
mod hash;
mod parse_error;
mod position;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use promql_parser::parser::{self as pp};
use storage::{Labels, Queryable, Sample};

pub use error::QueryError;
pub use gofmt::{format_go_g, format_go_g_prec};
/// A parsed PromQL expression (promql-parser's AST), for callers that evaluate one many times.
pub use promql_parser::parser::Expr;

/// Engine settings (Prometheus's defaults in parentheses).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back a vector selector looks for the latest sample (5m).
    pub lookback_delta_ms: i64,
    /// Maximum wall-clock duration of one query (2m).
    pub timeout: Duration,
    /// Maximum number of samples held in memory at once by one query (50,000,000), counted as
    /// Prometheus counts them (so the same queries fail).
    pub max_samples: usize,
    /// Maximum number of steps of a range query (11,000); see [`check_resolution`].
    pub max_points_per_series: usize,
    /// Allow the `@` modifier (always on in Prometheus 3).
    pub enable_at_modifier: bool,
    /// Allow negative offsets (always on in Prometheus 3).
    pub enable_negative_offset: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_points_per_series: 11_000,
            enable_at_modifier: true,
            enable_negative_offset: true,
        }
    }
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a range vector (matrix).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// The result of a query, in Prometheus's four value types.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// Prometheus's name of the type (`resultType` in the API).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Counters about one query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples the query touched, as Prometheus's `TotalSamples` (`totalQueryableSamples` in
    /// the API's `stats`): each step's sample of an instant selector, each step's window of a
    /// range function, each point of a range selector.
    pub samples_loaded: usize,
}

/// A successful query: the value plus annotations (already rendered with positions, as the
/// API shows them).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub stats: QueryStats,
}

/// The PromQL engine. Cheap to share; holds only options.
#[derive(Clone, Debug)]
pub struct Engine {
    opts: EngineOptions,
    subquery_step_ms: i64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineOptions::default())
    }
}

/// Default step of subqueries written without one (`x[5m:]`): Prometheus uses the global
/// evaluation interval, 1m by default.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts, subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS }
    }

    /// Sets the step of subqueries written without one (the global evaluation interval).
    pub fn with_default_subquery_step(mut self, ms: i64) -> Self {
        self.subquery_step_ms = ms.max(1);
        self
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at time `t_ms`.
    pub fn instant(&self, db: &dyn Queryable, expr: &str, t_ms: i64) -> Result<QueryResult, QueryError> {
        let ast = parse(expr)?;
        self.instant_expr(db, expr, &ast, t_ms)
    }

    /// Evaluates `expr` at `start_ms, start_ms + step_ms, ...` up to `end_ms`.
    pub fn range(
        &self,
        db: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let ast = parse(expr)?;
        self.range_expr(db, expr, &ast, start_ms, end_ms, step_ms)
    }

    /// [`Engine::instant`] on an already parsed expression; `query` is its source text (used
    /// for annotation positions).
    pub fn instant_expr(
        &self,
        db: &dyn Queryable,
        query: &str,
        ast: &Expr,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.validate(ast)?;
        eval::run(&self.opts, self.subquery_step_ms, db, query, ast, (t_ms, t_ms, 0), Instant::now(), None)
    }

    /// [`Engine::instant`] that stops with [`QueryError::Canceled`] once `cancel` is set (e.g.
    /// when the client went away).
    pub fn instant_cancellable(
        &self,
        db: &dyn Queryable,
        expr: &str,
        t_ms: i64,
        cancel: &AtomicBool,
    ) -> Result<QueryResult, QueryError> {
        let ast = parse(expr)?;
        self.validate(&ast)?;
        eval::run(&self.opts, self.subquery_step_ms, db, expr, &ast, (t_ms, t_ms, 0), Instant::now(), Some(cancel))
    }

    /// [`Engine::range`] that stops with [`QueryError::Canceled`] once `cancel` is set.
    pub fn range_cancellable(
        &self,
        db: &dyn Queryable,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        cancel: &AtomicBool,
    ) -> Result<QueryResult, QueryError> {
        let ast = parse(expr)?;
        self.check_range(&ast, start_ms, end_ms, step_ms)?;
        eval::run(
            &self.opts,
            self.subquery_step_ms,
            db,
            expr,
            &ast,
            (start_ms, end_ms, step_ms),
            Instant::now(),
            Some(cancel),
        )
    }

    /// [`Engine::range`] on an already parsed expression.
    pub fn range_expr(
        &self,
        db: &dyn Queryable,
        query: &str,
        ast: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.check_range(ast, start_ms, end_ms, step_ms)?;
        eval::run(&self.opts, self.subquery_step_ms, db, query, ast, (start_ms, end_ms, step_ms), Instant::now(), None)
    }

    fn check_range(&self, ast: &Expr, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<(), QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::BadData("end timestamp must not be before start time".into()));
        }
        let vt = ast.value_type();
        if vt != pp::value::ValueType::Scalar && vt != pp::value::ValueType::Vector {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_display(vt)
            )));
        }
        self.validate(ast)
    }

    fn validate(&self, ast: &Expr) -> Result<(), QueryError> {
        let mut err = None;
        walk(ast, &mut |e| {
            let (offset, at) = match e {
                Expr::VectorSelector(vs) => (&vs.offset, &vs.at),
                Expr::MatrixSelector(ms) => (&ms.vs.offset, &ms.vs.at),
                Expr::Subquery(sq) => (&sq.offset, &sq.at),
                _ => return,
            };
            if !self.opts.enable_at_modifier && at.is_some() {
                err = Some(QueryError::BadData("@ modifier is disabled".into()));
            }
            if !self.opts.enable_negative_offset && matches!(offset, Some(pp::Offset::Neg(_))) {
                err = Some(QueryError::BadData("negative offset is disabled".into()));
            }
        });
        err.map_or(Ok(()), Err)
    }
}

/// Checks the number of steps of a range query against the engine's limit; the error carries
/// Prometheus's wording (the server maps it to `bad_data`).
pub fn check_resolution(opts: &EngineOptions, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<(), QueryError> {
    if step_ms > 0 && end_ms >= start_ms {
        let points = (end_ms - start_ms) / step_ms;
        if points as u128 > opts.max_points_per_series as u128 {
            return Err(QueryError::BadData(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                group_thousands(opts.max_points_per_series)
            )));
        }
    }
    Ok(())
}

fn group_thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parses a PromQL expression. Errors are worded as Prometheus words them, with the
/// `line:col` of the offending token where it can be found (see `parse_error`).
///
/// Successful parses are cached process-wide (dashboards and rules repeat the same queries,
/// and parsing, which compiles every regex matcher, costs more than evaluating a small query).
pub fn parse(expr: &str) -> Result<Expr, QueryError> {
    if let Some(hit) = PARSED.lock().ok().and_then(|c| c.get(expr).cloned()) {
        return Ok(hit);
    }
    let ast = pp::parse(expr).map_err(|msg| {
        let (msg, position) = parse_error::describe(expr, &msg);
        QueryError::Parse { msg, position }
    })?;
    if expr.len() <= PARSE_CACHE_MAX_QUERY
        && let Ok(mut c) = PARSED.lock()
    {
        if c.len() >= PARSE_CACHE_LIMIT {
            c.clear();
        }
        c.insert(expr.to_string(), ast.clone());
    }
    Ok(ast)
}

static PARSED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Expr>>> =
    std::sync::LazyLock::new(|| std::sync::Mutex::new(std::collections::HashMap::new()));
/// Entries kept before the parse cache is emptied (a crude bound that keeps memory small).
const PARSE_CACHE_LIMIT: usize = 512;
/// Longer queries are not cached.
const PARSE_CACHE_MAX_QUERY: usize = 4096;

/// Formats a sample value as Prometheus's JSON does (`strconv.FormatFloat(v, 'f', -1, 64)`).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust's Display prints the shortest representation that round-trips, in plain
        // (non-exponent) notation, like Go's 'f' with precision -1.
        let s = format!("{v}");
        if s == "-0" { "-0".into() } else { s }
    }
}

pub(crate) fn type_display(t: pp::value::ValueType) -> &'static str {
    match t {
        pp::value::ValueType::Scalar => "scalar",
        pp::value::ValueType::Vector => "vector",
        pp::value::ValueType::Matrix => "range vector",
        pp::value::ValueType::String => "string",
    }
}

/// Pre-order walk over an expression tree.
pub(crate) fn walk<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    f(e);
    match e {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_float(v: f64, expected: &str) {
        assert_eq!(format_float(v), expected, "{v:?}");
    }

    #[test]
    fn float_formatting() {
        check_float(1.0, "1");
        check_float(0.1, "0.1");
        check_float(-2.5, "-2.5");
        check_float(1e21, "1000000000000000000000");
        check_float(1.5e-7, "0.00000015");
        check_float(f64::NAN, "NaN");
        check_float(f64::INFINITY, "+Inf");
        check_float(f64::NEG_INFINITY, "-Inf");
        check_float(1.0 / 3.0, "0.3333333333333333");
    }

    #[test]
    fn resolution_limit() {
        let o = EngineOptions::default();
        assert!(check_resolution(&o, 0, 11_000, 1).is_ok());
        let e = check_resolution(&o, 0, 11_001, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        );
    }
}
