//! One test group: its input series in a fresh in-memory head, its rule groups evaluated step
//! by step, the alert checks at their steps and the expression checks at the end.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use query::series_desc;
use query::{Engine, EngineOptions, Value};
use storage::head::{Head, HeadOptions};
use storage::querier::BlockQuerier;
use storage::{Appendable, Labels, Querier, Queryable, Sample};

use super::gofmt::model_duration;
use super::input::TestGroup;
use super::{AlertSet, Failure, LoadedRules, SampleSet};
use crate::alerting::AlertState;
use crate::group::{Group, GroupOptions};
use crate::source::LocalSource;

/// What the test groups of one file share.
pub(crate) struct FileContext<'a> {
    pub eval_interval_ms: i64,
    /// Position of each group named in `group_eval_order`.
    pub group_order: HashMap<String, usize>,
    pub rules: &'a LoadedRules,
    pub fuzzy: bool,
}

/// promtool's query engine for tests: at most 10,000 samples per query, a 100 s timeout, and
/// the evaluation interval as the default subquery step.
fn engine(eval_interval_ms: i64) -> Engine {
    let opts =
        EngineOptions { max_samples: 10_000, timeout: std::time::Duration::from_secs(100), ..Default::default() };
    Engine::new(opts).with_default_subquery_step(eval_interval_ms)
}

/// The head read through the block querier, as the database reads its head.
struct HeadQueryable(Arc<Head>);

impl Queryable for HeadQueryable {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
        let reader = self.0.range_reader(mint, maxt);
        Ok(Box::new(BlockQuerier::new(&reader, mint, maxt)?))
    }
}

/// Input samples not yet appended (promtool's lazy loader).
struct LazyInput {
    series: Vec<(Labels, Vec<Sample>)>,
    /// Per series, the index of the first sample not yet appended.
    next: Vec<usize>,
}

impl LazyInput {
    /// Appends every sample at or before `ts`.
    fn append_till(&mut self, head: &Arc<Head>, ts: i64) -> Result<(), String> {
        let mut app = Appendable::appender(head);
        for (i, (labels, samples)) in self.series.iter().enumerate() {
            while let Some(s) = samples.get(self.next[i]).filter(|s| s.t <= ts) {
                if let Err(e) = app.append(None, labels, s.t, s.v) {
                    let _ = app.rollback();
                    return Err(e.to_string());
                }
                self.next[i] += 1;
            }
        }
        app.commit().map(|_| ()).map_err(|e| e.to_string())
    }
}

fn setup(msg: String) -> Vec<Failure> {
    vec![Failure::Setup(msg)]
}

/// Runs one test group; no failures means it passed.
pub(crate) fn test_group(ctx: &FileContext<'_>, tg: &TestGroup) -> Vec<Failure> {
    let interval = tg.interval.map_or(0, |d| d.0);
    let interval = if interval == 0 { ctx.eval_interval_ms } else { interval };
    let eval_interval = ctx.eval_interval_ms;
    let test_name = tg.name.as_ref().map(|t| t.0.clone()).filter(|n| !n.is_empty());
    let start = match tg.start_timestamp.as_ref().map(|t| t.0.as_str()).filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match parse_time(t) {
            Some(ms) => ms,
            None => return setup(format!("cannot parse {t:?} to a valid timestamp")),
        },
    };

    let mut input = match load_input(tg, start, interval) {
        Ok(i) => i,
        Err(e) => return setup(e),
    };
    let head = match Head::open(HeadOptions::default()) {
        Ok(h) => h,
        Err(e) => return setup(format!("opening the test storage: {e}")),
    };
    let src = LocalSource { engine: engine(eval_interval), db: Arc::new(HeadQueryable(head.clone())) };

    let mut groups = match build_groups(ctx, tg, interval) {
        Ok(g) => g,
        Err(e) => return e,
    };

    // The alert tests by eval time; every alert test names its alert.
    let mut alert_tests: Vec<(i64, String, Vec<AlertSet>)> = Vec::new();
    for at in tg.alert_rule_test.iter().flatten() {
        let t = at.eval_time.map_or(0, |d| d.0);
        let name = at.alertname.as_ref().map(|a| a.0.clone()).unwrap_or_default();
        if name.is_empty() {
            let in_group = test_name.as_ref().map(|n| format!(" (in TestGroup {n})")).unwrap_or_default();
            return setup(format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                model_duration(t)
            ));
        }
        let mut exp: Vec<AlertSet> = at
            .exp_alerts
            .iter()
            .flatten()
            .map(|a| {
                let mut labels = a.exp_labels.clone().unwrap_or_default().0;
                labels.insert("alertname".into(), name.clone());
                AlertSet { labels, annotations: a.exp_annotations.clone().unwrap_or_default().0 }
            })
            .collect();
        exp.sort();
        alert_tests.push((t, name, exp));
    }
    let eval_times: Vec<i64> = alert_tests.iter().map(|a| a.0).collect::<BTreeSet<_>>().into_iter().collect();
    let max_eval = alert_tests
        .iter()
        .map(|a| a.0)
        .chain(tg.promql_expr_test.iter().flatten().map(|p| p.eval_time.map_or(0, |d| d.0)))
        .max()
        .unwrap_or(0);

    let mut failures = Vec::new();
    let mut curr = 0;
    let mut ts = start;
    while ts <= start + max_eval {
        match input.append_till(&head, ts) {
            Err(e) => failures.push(Failure::Setup(e)),
            Ok(()) => {
                let mut eval_errs = Vec::new();
                for g in &mut groups {
                    g.eval(ts, &src, &head);
                    for r in g.rules() {
                        if let Some(e) = r.last_error() {
                            eval_errs.push(Failure::RuleEval {
                                rule: r.name().to_string(),
                                t_ms: ts,
                                err: e.to_string(),
                            });
                        }
                    }
                }
                if !eval_errs.is_empty() {
                    failures.extend(eval_errs);
                    return failures;
                }
            }
        }
        let rel = ts - start;
        while curr < eval_times.len() && rel <= eval_times[curr] && eval_times[curr] < rel + eval_interval {
            let t = eval_times[curr];
            for (_, alertname, exp) in alert_tests.iter().filter(|a| a.0 == t) {
                let got = firing_alerts(&groups, alertname);
                if *exp != got {
                    failures.push(Failure::Alerts {
                        test: test_name.clone(),
                        alertname: alertname.clone(),
                        eval_time_ms: t,
                        exp: exp.clone(),
                        got,
                    });
                }
            }
            curr += 1;
        }
        ts += eval_interval;
    }

    for pt in tg.promql_expr_test.iter().flatten() {
        let expr = pt.expr.as_ref().map(|e| e.0.clone()).unwrap_or_default();
        let t = pt.eval_time.map_or(0, |d| d.0);
        let fail = |err: String| Failure::ExprError { expr: expr.clone(), eval_time_ms: t, err };
        let mut got = match instant(&src, &expr, start + t) {
            Ok(v) => v,
            Err(e) => {
                failures.push(fail(e));
                continue;
            }
        };
        let mut exp = Vec::new();
        let mut bad = None;
        for s in pt.exp_samples.iter().flatten() {
            let text = s.labels.as_ref().map(|l| l.0.as_str()).unwrap_or("");
            let quoted = super::gofmt::quote(text);
            if s.histogram.as_ref().is_some_and(|h| !h.0.is_empty()) {
                bad = Some(format!("labels {quoted}: native histograms are not supported"));
                break;
            }
            match series_desc::parse_metric(text) {
                Ok(labels) => exp.push(SampleSet { labels, value: s.value.unwrap_or(0.0) }),
                Err(e) => {
                    // Prometheus's parser words (and positions) the error; ours says what it can.
                    let why = query::parse(text).err().map_or_else(
                        || e.to_string(),
                        |pe| pe.to_string().replace(" in label matching", " in label set"),
                    );
                    bad = Some(format!("labels {quoted}: {why}"));
                    break;
                }
            }
        }
        if let Some(e) = bad {
            failures.push(fail(e));
            continue;
        }
        exp.sort_by(|a, b| a.labels.cmp(&b.labels));
        got.sort_by(|a, b| a.labels.cmp(&b.labels));
        let same = exp.len() == got.len()
            && exp.iter().zip(&got).all(|(e, g)| e.labels == g.labels && floats_equal(e.value, g.value, ctx.fuzzy));
        if !same {
            failures.push(Failure::Samples { expr, eval_time_ms: t, exp, got });
        }
    }
    failures
}

/// The input series as samples; a later definition of the same series replaces an earlier
/// one (promtool keys them by their labels' hash).
fn load_input(tg: &TestGroup, start: i64, interval: i64) -> Result<LazyInput, String> {
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in tg.input_series.iter().flatten() {
        let text = s.series.as_ref().map(|t| t.0.as_str()).unwrap_or("");
        let values = s.values.as_ref().map(|t| t.0.as_str()).unwrap_or("");
        let desc = series_desc::parse(&format!("{text} {values}"))
            .map_err(|e| format!("input series {}: {e}", super::gofmt::quote(text)))?;
        if desc.has_histogram() {
            return Err(format!("input series {}: native histograms are not supported", super::gofmt::quote(text)));
        }
        let samples = desc.samples(start, interval);
        match index.get(&desc.labels) {
            Some(&i) => series[i].1 = samples,
            None => {
                index.insert(desc.labels.clone(), series.len());
                series.push((desc.labels, samples));
            }
        }
    }
    let next = vec![0; series.len()];
    Ok(LazyInput { series, next })
}

/// The rule groups of all rule files, in `group_eval_order` (a stable sort: unlisted groups
/// count as position 0 and keep their file order).
fn build_groups(ctx: &FileContext<'_>, tg: &TestGroup, interval: i64) -> Result<Vec<Group>, Vec<Failure>> {
    let files = match ctx.rules {
        Ok(f) => f,
        Err(errs) => return Err(errs.iter().cloned().map(Failure::Setup).collect()),
    };
    let opts = GroupOptions {
        external_labels: tg.external_labels.clone().unwrap_or_default().0,
        external_url: tg.external_url.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
        default_interval_ms: interval,
        ..GroupOptions::default()
    };
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    for (path, rf) in files {
        for def in &rf.groups {
            match Group::new(path, def, &opts) {
                Ok(g) => groups.push(g),
                Err(e) => errs.push(Failure::Setup(e.to_string())),
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    groups.sort_by_key(|g| ctx.group_order.get(g.name()).copied().unwrap_or(0));
    Ok(groups)
}

/// The firing alerts of every alerting rule named `alertname`, sorted.
fn firing_alerts(groups: &[Group], alertname: &str) -> Vec<AlertSet> {
    let mut out: Vec<AlertSet> = groups
        .iter()
        .flat_map(|g| g.rules())
        .filter_map(|r| r.alerting())
        .filter(|a| a.name == alertname)
        .flat_map(|a| a.alerts())
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| AlertSet { labels: a.labels.clone(), annotations: a.annotations.clone() })
        .collect();
    out.sort();
    out
}

/// promtool's `query`: an instant query whose vector (or scalar, as a sample without labels)
/// is the result.
fn instant(src: &LocalSource, expr: &str, t: i64) -> Result<Vec<SampleSet>, String> {
    let r = src.engine.instant(src.db.as_ref(), expr, t).map_err(|e| e.to_string())?;
    match r.value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| SampleSet { labels: s.labels, value: s.v }).collect()),
        Value::Scalar { v, .. } => Ok(vec![SampleSet { labels: Labels::empty(), value: v }]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

/// Exact equality (so NaN never equals NaN, as Go's `==`); fuzzy: also the neighbouring float
/// on either side.
fn floats_equal(x: f64, y: f64, fuzzy: bool) -> bool {
    if x == y {
        return true;
    }
    fuzzy && (next_after(x, f64::NEG_INFINITY) == y || next_after(x, f64::INFINITY) == y)
}

/// Go's `math.Nextafter`.
fn next_after(x: f64, toward: f64) -> f64 {
    if x.is_nan() || toward.is_nan() {
        return f64::NAN;
    }
    if x == toward {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1).copysign(toward);
    }
    let bits = x.to_bits();
    let up = (toward > x) == (x > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

/// promtool's `parseTime`: Unix seconds (fractions allowed) or RFC 3339.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}
