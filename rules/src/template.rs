//! Prometheus's template language for alert labels and annotations: the Go `text/template`
//! subset rule files use, with Prometheus's functions, rendering byte for byte as Prometheus
//! does.
//!
//! As Prometheus does, [`Template::parse`] prepends [`PROMETHEUS_DEFS`]
//! (`{{$labels := .Labels}}...{{$value := .Value}}`) to the text and executes with
//! `missingkey=zero`, so `$labels.x`, `.Labels.x`, `$externalLabels`, `$externalURL` and
//! `$value` work, and error positions count the prepended text as Go's do
//! (`template: __alert_X:1:103: ...`).
//!
//! Layout, one Go file each: [`lexer`](self) (`parse/lex.go`), `parse` (`parse/parse.go` and
//! `node.go`), `exec` (`exec.go`), `funcs` (`funcs.go` plus Prometheus's function map), `fmt`
//! and `strconv` (Go's printing of values and `printf`), `gotime` (`time.Time` and
//! `time.Duration` formatting), `regexp` (RE2 syntax on the `regex` crate), `value` (the Go
//! values templates see).
//!
//! Templates are parsed once; rendering walks the tree without re-parsing and borrows the
//! context's labels. Parsing and rendering never panic: nesting and recursion are bounded
//! (lower than Go's bounds, which assume growable stacks).

use std::sync::Arc;

use crate::alert::LabelMap;

mod exec;
mod fmt;
mod funcs;
mod gotime;
mod lexer;
mod parse;
mod regexp;
mod strconv;
mod value;

#[cfg(test)]
mod tests;

/// What Prometheus prepends to every alert label and annotation template.
pub const PROMETHEUS_DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// What a template may read: `$labels`/`.Labels`, `$value`/`.Value`, `$externalLabels`,
/// `$externalURL`, and the optional `query` function.
pub struct TemplateContext<'a> {
    pub labels: &'a LabelMap,
    pub value: f64,
    pub external_labels: &'a LabelMap,
    pub external_url: &'a str,
    /// Backs the template function `query`; `None` makes `query` an error.
    pub query: Option<&'a dyn Fn(&str) -> Result<Vec<(LabelMap, f64)>, String>>,
}

/// A template error with the template's name and position, as Go reports it.
///
/// From [`Template::parse`] it is Go's parse error (`template: __alert_HighCPU:1: function
/// "foo" not defined`), which Prometheus's rule loader reports after `annotation "summary": `.
/// From [`Template::render`] it is what Prometheus's `Expander.Expand` returns: `error
/// executing template __alert_HighCPU: template: __alert_HighCPU:1:130: executing
/// "__alert_HighCPU" at <humanize "x">: error calling humanize: ...`, which the alerting rule
/// renders as `<error expanding template: {error}>`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    prog: Arc<exec::Program>,
}

impl Template {
    /// Parses `text`; `name` appears in errors (Prometheus uses `__alert_<rule name>`).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let full = format!("{PROMETHEUS_DEFS}{text}");
        let trees = parse::parse(name, &full).map_err(TemplateError)?;
        Ok(Template { prog: Arc::new(exec::Program { name: name.to_string(), text: full, trees: trees.trees }) })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.prog.name
    }

    /// Renders the template; `now` is the system clock (see [`Template::render_at`]).
    pub fn render(&self, ctx: &TemplateContext<'_>) -> Result<String, TemplateError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.render_at(ctx, now_ms)
    }

    /// Renders the template with the template function `now` returning `now_ms` (in
    /// Prometheus, the rule evaluation's timestamp).
    pub fn render_at(&self, ctx: &TemplateContext<'_>, now_ms: i64) -> Result<String, TemplateError> {
        let env = exec::Env {
            data: value::DataRef {
                labels: ctx.labels,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value: ctx.value,
            },
            query: ctx.query.map(|q| q as &exec::QueryFn<'_>),
            external_url: ctx.external_url,
            now_ms,
        };
        exec::execute(&self.prog, &env)
            .map_err(|e| TemplateError(format!("error executing template {}: {e}", self.prog.name)))
    }
}
