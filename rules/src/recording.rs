//! Recording rules (Prometheus's `rules/recording.go`): evaluate the expression, name each
//! result series `record`, apply the rule's labels (an empty value removes the label), and
//! fail on duplicate label sets or more series than the group's `limit`.

use crate::alert::{LabelMap, label_map};
use crate::source::QuerySource;

/// Prometheus's error for two samples that end up with one label set.
pub const ERR_DUPLICATE_SERIES: &str = "vector contains metrics with the same labelset after applying rule labels";

/// A recording rule.
#[derive(Clone, Debug)]
pub struct RecordingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) labels: LabelMap,
    /// `expr` parsed, set by the group that runs the rule.
    pub(crate) ast: Option<std::sync::Arc<query::Expr>>,
}

impl RecordingRule {
    /// A rule; `labels` are the group's labels overlaid with the rule's.
    pub fn new(name: &str, expr: &str, labels: LabelMap) -> Self {
        RecordingRule { name: name.into(), expr: expr.into(), labels, ast: None }
    }

    /// Evaluates at `ts_ms - query_offset_ms`; `limit` 0 means none. Returns the series to
    /// write (with `__name__`) and their values.
    pub fn eval(
        &self,
        ts_ms: i64,
        query_offset_ms: i64,
        src: &dyn QuerySource,
        limit: usize,
    ) -> Result<Vec<(LabelMap, f64)>, String> {
        let qts = ts_ms - query_offset_ms;
        let res = match &self.ast {
            Some(ast) => src.instant_parsed(&self.expr, ast, qts),
            None => src.instant(&self.expr, qts),
        }
        .map_err(|e| e.0)?;
        let mut out = Vec::with_capacity(res.len());
        let mut seen = std::collections::BTreeSet::new();
        for s in res {
            let mut l = label_map(&s.labels);
            l.insert(storage::METRIC_NAME.into(), self.name.clone());
            for (k, v) in &self.labels {
                if v.is_empty() {
                    l.remove(k);
                } else {
                    l.insert(k.clone(), v.clone());
                }
            }
            if !seen.insert(l.clone()) {
                return Err(ERR_DUPLICATE_SERIES.into());
            }
            out.push((l, s.v));
        }
        if limit > 0 && out.len() > limit {
            return Err(format!("exceeded limit of {limit} with {} series", out.len()));
        }
        Ok(out)
    }
}
