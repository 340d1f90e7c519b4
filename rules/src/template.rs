//! Prometheus's template language for alert labels and annotations: the Go `text/template`
//! subset rule files use, with Prometheus's functions, rendering byte for byte as Prometheus
//! does.
//!
//! As Prometheus does, [`Template::parse`] prepends [`PROMETHEUS_DEFS`]
//! (`{{$labels := .Labels}}...{{$value := .Value}}`) to the text and executes with
//! `missingkey=zero`, so `$labels.x`, `.Labels.x`, `$externalLabels`, `$externalURL` and
//! `$value` work, and error positions count the prepended text as Go's do
//! (`{{ x }}` starts at `template: __alert_X:1:115`).
//!
//! Layout, following Go's sources: `lexer` (`parse/lex.go`), `parse` and `parse/node`
//! (`parse/parse.go`, `parse/node.go`), `exec` (`exec.go`), `funcs` with `funcs/builtins`
//! (`funcs.go`) and `funcs/prom` (Prometheus's function map and `prometheus/common`'s
//! helpers), `fmt` and `fmt/printf` (Go's printing of values), `strconv` (quoting, number
//! parsing and float formatting), `gotime` (`time.Time` and `time.Duration` formatting),
//! `regexp` (RE2 syntax on the `regex` crate), `value` (the Go values templates see).
//!
//! Known differences from Prometheus, all outside what rule files do in practice: nesting
//! deeper than 100 parentheses or control structures and template recursion deeper than 100
//! calls fail (Go allows 10000 and 100000, with the same messages); strings are UTF-8, so
//! `\xff`-style escapes that make invalid UTF-8 become U+FFFD; pointers print with our
//! addresses, not Go's; `time.Time` printed with a non-string verb shows the time rather than
//! Go's private fields; `Local` is UTC; `Month` and `Weekday` methods are absent; regular
//! expression error messages are Go's for the common mistakes only; `title` approximates
//! Unicode word breaking for non-ASCII scripts.
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
    #[allow(clippy::type_complexity)]
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
