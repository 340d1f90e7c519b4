//! Rule unit tests in `promtool test rules`'s file format, with its semantics
//! (Prometheus's `cmd/promtool/unittest.go`):
//!
//! - `rule_files` are relative to the test file and may be globs; `evaluation_interval`
//!   (default 1m) is the step at which every rule group is evaluated, from 0 to the largest
//!   `eval_time` of the test group, in `group_eval_order` (a group not listed ranks with the
//!   first listed one; ties keep file order, where promtool's order is unspecified).
//! - Each `tests[]` entry runs on a fresh in-memory head holding its `input_series` (series
//!   description notation, [`query::series_desc`]) one sample per `interval` (default: the
//!   evaluation interval). Samples are loaded lazily, only up to the evaluation step being
//!   run, so a query never sees samples after the last step (a `promql_expr_test` between two
//!   steps sees the data up to the earlier one, as in promtool).
//! - An `alert_rule_test` at `eval_time` is checked after the last step at or before it: the
//!   *firing* alerts of every alerting rule of that name (all groups together), labels
//!   (`alertname` included) and annotations, against `exp_alerts` (whose `exp_labels` get the
//!   `alertname` added). An empty `exp_alerts` asserts that nothing fires.
//! - A `promql_expr_test` is an instant query at `eval_time` after all steps, compared as a set
//!   of (labels, value) with exact float equality (`fuzzy_compare`: one ulp).
//! - A rule evaluation error ends the test group at that step.
//!
//! The failures render as promtool's messages ([`Failure`]'s `Display`), so output can be
//! compared with promtool's byte for byte. The command line (`tickdb rules test`) is the
//! server's; this module prints nothing.

mod glob;
mod gofmt;
mod input;
mod run;

use std::fmt;
use std::path::Path;

use regex::Regex;

use crate::alert::LabelMap;
use crate::file::RuleFile;

/// How to run test files.
#[derive(Clone, Debug, Default)]
pub struct TestOptions {
    /// Only test groups whose `name` matches (promtool's `--run`, its values joined by `|`).
    pub run: Option<Regex>,
}

/// The outcome of one test file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileReport {
    /// Non-fatal notes, printed before the result (`  WARNING: no file match pattern ...`).
    pub warnings: Vec<String>,
    pub failures: Vec<Failure>,
}

impl FileReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// An alert as compared: its labels and annotations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertSet {
    pub labels: LabelMap,
    pub annotations: LabelMap,
}

/// A sample as compared: its labels (with `__name__`) and value.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSet {
    pub labels: storage::Labels,
    pub value: f64,
}

/// Why a test file failed. `Display` is promtool's message.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The test file, a rule file or an input series could not be read or parsed, or the
    /// test is malformed; the message says which and where.
    Setup(String),
    /// A rule failed at an evaluation step (`t_ms` since the Unix epoch); the test group
    /// stopped there.
    RuleEval { rule: String, t_ms: i64, err: String },
    /// The firing alerts of `alertname` at `eval_time_ms` differ from the expected ones.
    Alerts { test: Option<String>, alertname: String, eval_time_ms: i64, exp: Vec<AlertSet>, got: Vec<AlertSet> },
    /// The expression failed to evaluate (or an expected sample's labels did not parse).
    ExprError { expr: String, eval_time_ms: i64, err: String },
    /// The expression's samples differ from the expected ones.
    Samples { expr: String, eval_time_ms: i64, exp: Vec<SampleSet>, got: Vec<SampleSet> },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use gofmt::{go_duration, indent_lines, model_duration, quote};
        match self {
            Failure::Setup(msg) => f.write_str(msg),
            Failure::RuleEval { rule, t_ms, err } => {
                write!(f, "    rule: {rule}, time: {}, err: {err}", go_duration(*t_ms))
            }
            Failure::Alerts { test, alertname, eval_time_ms, exp, got } => {
                if let Some(name) = test {
                    writeln!(f, "    name: {name},")?;
                }
                let indent = " ".repeat(12);
                write!(
                    f,
                    "    alertname: {alertname}, time: {}, \n        exp:{}, \n        got:{}",
                    model_duration(*eval_time_ms),
                    indent_lines(&alerts_string(exp), &indent),
                    indent_lines(&alerts_string(got), &indent),
                )
            }
            Failure::ExprError { expr, eval_time_ms, err } => {
                write!(f, "    expr: {}, time: {}, err: {err}", quote(expr), model_duration(*eval_time_ms))
            }
            Failure::Samples { expr, eval_time_ms, exp, got } => write!(
                f,
                "    expr: {}, time: {},\n        exp: {}\n        got: {}",
                quote(expr),
                model_duration(*eval_time_ms),
                samples_string(exp),
                samples_string(got),
            ),
        }
    }
}

/// promtool's `labelsAndAnnotations.String`.
fn alerts_string(v: &[AlertSet]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let one = |a: &AlertSet| {
        let s = format!("\nLabels:{}\nAnnotations:{}", gofmt::label_set(&a.labels), gofmt::label_set(&a.annotations));
        gofmt::indent_lines(&s, "  ")
    };
    let mut s = format!("[\n0:{}", one(&v[0]));
    for (i, a) in v.iter().enumerate().skip(1) {
        s.push_str(&format!(",\n{i}:{}", one(a)));
    }
    s.push_str("\n]");
    s
}

/// promtool's `parsedSamplesString`.
fn samples_string(v: &[SampleSet]) -> String {
    if v.is_empty() {
        return "nil".into();
    }
    let parts: Vec<String> = v.iter().map(|s| format!("{} {}", s.labels, gofmt::format_float_e(s.value))).collect();
    parts.join(", ")
}

/// Runs one test file.
pub fn test_file(path: &Path, opts: &TestOptions) -> FileReport {
    let mut report = FileReport::default();
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            report.failures.push(Failure::Setup(format!("open {name}: {}", io_reason(&e))));
            return report;
        }
    };
    let file = match input::parse(&name, &text) {
        Ok(f) => f,
        Err(e) => {
            report.failures.push(Failure::Setup(e));
            return report;
        }
    };
    // Rule files: relative to the test file, globbed.
    let base = glob::dir(&name);
    let mut rule_files = Vec::new();
    for rf in file.rule_files.iter().flatten() {
        let p = if rf.0.is_empty() || rf.0.starts_with('/') { rf.0.clone() } else { glob::join(&base, &rf.0) };
        match glob::glob(&p) {
            Ok(m) if m.is_empty() => report.warnings.push(format!("  WARNING: no file match pattern {p}")),
            Ok(m) => rule_files.extend(m),
            Err(e) => {
                report.failures.push(Failure::Setup(e.to_string()));
                return report;
            }
        }
    }
    let eval_interval = file.evaluation_interval.map_or(0, |d| d.0);
    let eval_interval = if eval_interval == 0 { 60_000 } else { eval_interval };
    let mut order = std::collections::HashMap::new();
    for (i, g) in file.group_eval_order.iter().flatten().enumerate() {
        if order.insert(g.0.clone(), i).is_some() {
            report.failures.push(Failure::Setup(format!("group name repeated in evaluation order: {}", g.0)));
            return report;
        }
    }
    let rules = load_rules(&rule_files);
    let ctx = run::FileContext {
        eval_interval_ms: eval_interval,
        group_order: order,
        rules: &rules,
        fuzzy: file.fuzzy_compare.unwrap_or(false),
    };
    for tg in file.tests.iter().flatten() {
        let tname = tg.name.as_ref().map(|t| t.0.as_str()).unwrap_or("");
        if opts.run.as_ref().is_some_and(|r| !r.is_match(tname)) {
            continue;
        }
        report.failures.extend(run::test_group(&ctx, tg));
    }
    report
}

/// The rule files, parsed once (each test group builds its own groups from them); their
/// errors, as promtool, fail every test group.
type LoadedRules = Result<Vec<(String, RuleFile)>, Vec<String>>;

fn load_rules(files: &[String]) -> LoadedRules {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => match crate::file::parse(f, &text) {
                Ok(rf) => out.push((f.clone(), rf)),
                Err(e) => errs.extend(e.iter().map(|e| e.to_string())),
            },
            Err(e) => errs.push(format!("{f}: open {f}: {}", io_reason(&e))),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// Go's wording of common I/O errors (`no such file or directory`).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            // Rust appends " (os error N)".
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
#[path = "unittest/tests.rs"]
mod tests;
