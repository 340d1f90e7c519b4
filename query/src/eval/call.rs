//! Function calls: dispatch, range-vector functions (evaluated series by series over sliding
//! windows), instant-vector functions (evaluated step by step), and the label functions.

use chrono::{Datelike, Timelike};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr};
use storage::{Labels, Sample, is_stale_nan};

use super::{Elem, Ev, Matrix, Result, Series, Vector, go_max, go_min, ms, offset_ms};
use crate::QueryError;
use crate::annotations::go_quote;
use crate::functions as f;
use crate::gofmt::go_g;

fn string_arg(e: &Expr) -> Option<String> {
    match e {
        Expr::StringLiteral(s) => Some(s.val.clone()),
        Expr::Paren(p) => string_arg(&p.expr),
        _ => None,
    }
}

fn arg_str(c: &Call, i: usize) -> Result<String> {
    c.args
        .args
        .get(i)
        .and_then(|a| string_arg(a))
        .ok_or_else(|| QueryError::exec(format!("expected string argument {i}")))
}

/// Function arguments without superfluous parentheses (Prometheus strips them before
/// evaluation, so `rate((x[5m]))` works).
fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        _ => e,
    }
}

pub(super) fn eval(ev: &Ev, c: &Call, e: &Expr) -> Result<Matrix> {
    let before = ev.current_samples();
    let m = dispatch(ev, c, e)?;
    // Functions evaluated step by step (Prometheus's `rangeEval`) leave exactly their result
    // in memory. Range functions account for themselves (see `range_function`), and the
    // label functions keep what their argument left, as in Prometheus.
    let self_accounted = matches!(c.func.name, "label_replace" | "label_join")
        || c.args.args.iter().any(|a| matches!(unwrap_parens(a), Expr::MatrixSelector(_) | Expr::Subquery(_)));
    if !self_accounted {
        ev.set_current_samples(before.saturating_add(m.iter().map(|s| s.points.len()).sum()));
    }
    Ok(m)
}

fn dispatch(ev: &Ev, c: &Call, _e: &Expr) -> Result<Matrix> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unwrap_parens(a)).collect();
    let args = &args;
    match name {
        "start" => return ev.constant(ev.sh.query_start as f64 / 1000.0),
        "end" => return ev.constant(ev.sh.query_end as f64 / 1000.0),
        "range" => return ev.constant((ev.sh.query_end - ev.sh.query_start) as f64 / 1000.0),
        "step" => {
            let v = if ev.sh.query_start != ev.sh.query_end { ev.sh.query_step as f64 / 1000.0 } else { 0.0 };
            return ev.constant(v);
        }
        "label_replace" => return label_replace(ev, c),
        "label_join" => return label_join(ev, c),
        "info" => return super::info::eval(ev, c),
        _ => {}
    }
    if name == "timestamp"
        && let Some(Expr::VectorSelector(vs)) = args.first().copied()
    {
        return timestamp_of_selector(ev, vs);
    }
    if matches!(name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc") && !ev.is_instant() {
        ev.warn("sort is ineffective for range queries since results are always ordered by labels".into(), ev.pos(_e));
    }
    let matrix_arg = args.iter().position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_)));
    match matrix_arg {
        Some(i) => range_function(ev, c, i),
        None => {
            let mut inputs = Vec::with_capacity(args.len());
            for a in args {
                if a.value_type() == ValueType::String {
                    inputs.push(Vec::new());
                } else {
                    inputs.push(ev.eval_matrix(a)?);
                }
            }
            ev.range_eval(&inputs, None, |v, _, ts| vector_function(ev, c, v, ts))
        }
    }
}

/// `timestamp(selector)`: the timestamps of the samples themselves.
///
/// Accounting as Prometheus's `rangeEvalTimestampFunctionOverVectorSelector`: at each step the
/// samples found and the step's output are held on top of the outputs of earlier steps.
fn timestamp_of_selector(ev: &Ev, vs: &promql_parser::parser::VectorSelector) -> Result<Matrix> {
    let data = ev.load(vs)?;
    let at = ev.at_ms(&vs.at);
    let off = offset_ms(&vs.offset);
    let lb = ev.sh.opts.lookback_delta_ms;
    let base = ev.current_samples();
    let max = ev.sh.opts.max_samples;
    let too_many = || QueryError::TooManySamples("query execution".into());
    // The peak is `base + (found at earlier steps) + 2 * (found at the step)` at some step, at
    // least `base + built`: past that the limit is certainly exceeded.
    let mut built = 0usize;
    let mut out = Vec::new();
    for s in data.iter() {
        let mut pts = Vec::new();
        for ts in ev.steps() {
            ev.tick()?;
            // With @, Prometheus evaluates at the @ time itself (the offset is replaced).
            let r = match at {
                Some(a) => a,
                None => ts.saturating_sub(off),
            };
            if let Some(p) = super::lookup(&s.samples, r, lb) {
                pts.push(Sample { t: ts, v: p.t as f64 / 1000.0 });
                built += 1;
                if base.saturating_add(built) > max {
                    return Err(too_many());
                }
            }
        }
        if !pts.is_empty() {
            out.push(Series { labels: s.labels.clone(), points: pts, drop_name: true });
        }
    }
    ev.touched(built);
    // At most `out.len()` samples are found per step: only near the limit is the exact peak
    // needed, from the samples' steps in time order.
    if base.saturating_add(built).saturating_add(out.len()) > max {
        let mut steps: Vec<i64> = out.iter().flat_map(|s| s.points.iter().map(|p| p.t)).collect();
        steps.sort_unstable();
        let mut held = base;
        for run in steps.chunk_by(|a, b| a == b) {
            if held.saturating_add(2 * run.len()) > max {
                return Err(too_many());
            }
            held += run.len();
        }
    }
    ev.set_current_samples(base.saturating_add(built));
    Ok(out)
}

/// The samples of one input series of a range function: borrowed from the loaded selector
/// data when it has no stale markers to drop (the common case, no copy), owned otherwise.
enum SrcSamples {
    Loaded(usize),
    Owned(Vec<Sample>),
}

struct RangeSrc {
    /// Points of the subquery's result, held in memory until the function is done.
    subquery_points: usize,
    /// The selector's data, when the source is a matrix selector.
    data: Option<std::rc::Rc<Vec<super::Loaded>>>,
    series: Vec<(Labels, SrcSamples, bool)>,
    range: i64,
    offset: i64,
    at: Option<i64>,
    /// Matchers for `absent_over_time`'s labels (selectors only).
    absent_labels: Labels,
}

fn range_source(ev: &Ev, arg: &Expr) -> Result<RangeSrc> {
    match arg {
        Expr::MatrixSelector(m) => {
            let data = ev.load(&m.vs)?;
            let series = data
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let samples = if s.samples.iter().any(|p| is_stale_nan(p.v)) {
                        SrcSamples::Owned(s.samples.iter().filter(|p| !is_stale_nan(p.v)).copied().collect())
                    } else {
                        SrcSamples::Loaded(i)
                    };
                    (s.labels.clone(), samples, false)
                })
                .collect();
            Ok(RangeSrc {
                subquery_points: 0,
                data: Some(data),
                series,
                range: ms(m.range),
                offset: offset_ms(&m.vs.offset),
                at: ev.at_ms(&m.vs.at),
                absent_labels: absent_labels(&m.vs),
            })
        }
        Expr::Subquery(sq) => {
            // The samples the subquery touched are not counted: the function's windows over its
            // result count them (Prometheus's `evalSubquery`).
            let touched = ev.total_touched();
            let mat = ev.run_subquery(sq)?;
            ev.set_total_touched(touched);
            Ok(RangeSrc {
                subquery_points: mat.iter().map(|s| s.points.len()).sum(),
                data: None,
                series: mat.into_iter().map(|s| (s.labels, SrcSamples::Owned(s.points), s.drop_name)).collect(),
                range: ms(sq.range),
                offset: offset_ms(&sq.offset),
                at: ev.at_ms(&sq.at),
                absent_labels: Labels::empty(),
            })
        }
        _ => Err(QueryError::exec("expected a range vector argument")),
    }
}

/// Labels `absent()` reports: the selector's equality matchers (except the name), unless a
/// label is matched more than once.
fn absent_labels(vs: &promql_parser::parser::VectorSelector) -> Labels {
    use promql_parser::label::MatchOp;
    let mut b = storage::LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

fn range_function(ev: &Ev, c: &Call, mi: usize) -> Result<Matrix> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unwrap_parens(a)).collect();
    // Scalar arguments, evaluated over all steps.
    let mut scalars: Vec<Option<Matrix>> = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        if i == mi || a.value_type() == ValueType::String {
            scalars.push(None);
        } else {
            scalars.push(Some(ev.eval_matrix(a)?));
        }
    }
    let src = range_source(ev, args[mi])?;
    // Memory accounting as Prometheus's: the scalar arguments and a subquery's result stay
    // counted; while a series is evaluated, the points of the current step's window are held
    // on top of the outputs of the series done so far; a series' output is counted when it
    // is complete. `held` is the count without the window.
    let max = ev.sh.opts.max_samples;
    let too_many = || QueryError::TooManySamples("query execution".into());
    let mut held = ev.current_samples();
    let arg_pos = ev.pos(args[0]);
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let mut out: Matrix = Vec::new();
    let counter_fn = matches!(name, "rate" | "increase");
    let cap = ev.num_steps().min(4096);
    let mut resets: Vec<usize> = Vec::new();
    for (labels, samples, in_drop) in &src.series {
        ev.check_deadline()?;
        let samples: &[Sample] = match samples {
            SrcSamples::Owned(v) => v,
            SrcSamples::Loaded(i) => src.data.as_ref().and_then(|d| d.get(*i)).map_or(&[], |l| &l.samples),
        };
        let mut pts = Vec::with_capacity(cap);
        if counter_fn {
            // Counter resets of the whole series, found once (see `extrapolated_rate_with`).
            resets.clear();
            resets.extend(samples.windows(2).enumerate().filter(|(_, w)| w[1].v < w[0].v).map(|(i, _)| i));
        }
        // The window `(r - range, r]` only moves forward with the steps: two cursors.
        let (mut a, mut b) = (0usize, 0usize);
        // Points of the window last fetched (with `@`, Prometheus fetches it once).
        let mut window = 0usize;
        for (step, ts) in ev.steps().enumerate() {
            ev.tick()?;
            let r = src.at.unwrap_or(ts).saturating_sub(src.offset);
            let lo = r.saturating_sub(src.range);
            while a < samples.len() && samples[a].t <= lo {
                a += 1;
            }
            b = b.max(a);
            while b < samples.len() && samples[b].t <= r {
                b += 1;
            }
            if src.at.is_none() || step == 0 {
                window = b.saturating_sub(a);
                if window > 0 && held.saturating_add(window) > max {
                    return Err(too_many());
                }
            }
            if a >= b {
                continue;
            }
            let w = &samples[a..b];
            ev.touched(w.len());
            if counter_fn {
                let ra = resets.partition_point(|&i| i < a);
                let rb = resets.partition_point(|&i| i + 1 < b);
                let mut corr = resets[ra..rb.max(ra)].iter().map(|&i| samples[i].v);
                let v = f::extrapolated_rate_with(
                    w,
                    Some(&mut corr),
                    lo,
                    r,
                    src.range as f64 / 1000.0,
                    true,
                    name == "rate",
                );
                if let Some(v) = v {
                    pts.push(Sample { t: ts, v });
                    check_growing(held, pts.len(), max)?;
                }
                continue;
            }
            let sc = |j: usize| -> f64 {
                scalars
                    .get(j)
                    .and_then(|m| m.as_ref())
                    .and_then(|m| m.first())
                    .and_then(|s| s.points.get(step))
                    .map_or(f64::NAN, |p| p.v)
            };
            if let Some(v) = range_fn(ev, name, w, &sc, ts, r.saturating_sub(src.range), r, src.range, arg_pos)? {
                pts.push(Sample { t: ts, v });
                check_growing(held, pts.len(), max)?;
            }
        }
        if !pts.is_empty() {
            if matches!(name, "rate" | "increase") {
                let m = labels.metric_name();
                if !m.is_empty() && !["_total", "_sum", "_count", "_bucket"].iter().any(|s| m.ends_with(s)) {
                    ev.info(
                        format!(
                            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                            go_quote(m)
                        ),
                        arg_pos,
                    );
                }
            }
            if held.saturating_add(window).saturating_add(pts.len()) > max {
                return Err(too_many());
            }
            held += pts.len();
            out.push(Series { labels: labels.clone(), points: pts, drop_name: !keep_name || *in_drop });
        }
    }
    // The last window and the subquery's result are released.
    ev.set_current_samples(held.saturating_sub(src.subquery_points));
    if name == "absent_over_time" {
        let steps = ev.num_steps();
        if out.iter().any(|s| s.points.len() == steps) {
            return Ok(Vec::new());
        }
        let found: std::collections::HashSet<i64> = out.iter().flat_map(|s| s.points.iter().map(|p| p.t)).collect();
        let pts: Vec<Sample> = ev.steps().filter(|t| !found.contains(t)).map(|t| Sample { t, v: 1.0 }).collect();
        if pts.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![Series { labels: src.absent_labels, points: pts, drop_name: true }]);
    }
    Ok(out)
}

/// Fails early, every [`super::TICK_EVERY`] points, when a range function's series being
/// built already cannot fit: the check at the end of the series would fail anyway, and a
/// subquery's steps can make one series huge.
#[inline]
fn check_growing(held: usize, len: usize, max: usize) -> Result<()> {
    if len.is_multiple_of(super::TICK_EVERY as usize) && held.saturating_add(len) > max {
        return Err(QueryError::TooManySamples("query execution".into()));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn range_fn(
    ev: &Ev,
    name: &str,
    w: &[Sample],
    sc: &dyn Fn(usize) -> f64,
    ts: i64,
    range_start: i64,
    range_end: i64,
    range: i64,
    arg_pos: Option<usize>,
) -> Result<Option<f64>> {
    let range_secs = range as f64 / 1000.0;
    Ok(match name {
        "rate" => f::extrapolated_rate(w, range_start, range_end, range_secs, true, true),
        "increase" => f::extrapolated_rate(w, range_start, range_end, range_secs, true, false),
        "delta" => f::extrapolated_rate(w, range_start, range_end, range_secs, false, false),
        "irate" => f::instant_value(w, true),
        "idelta" => f::instant_value(w, false),
        "resets" => Some(f::resets(w)),
        "changes" => Some(f::changes(w)),
        "deriv" => (w.len() >= 2).then(|| f::linear_regression(w, w[0].t).0),
        "predict_linear" => {
            let d = sc(1);
            (w.len() >= 2).then(|| {
                let (slope, intercept) = f::linear_regression(w, ts);
                slope * d + intercept
            })
        }
        "quantile_over_time" => {
            let q = sc(0);
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                ev.warn(format!("quantile value should be between 0 and 1, got {}", go_g(q, None)), arg_pos);
            }
            let mut v: Vec<f64> = w.iter().map(|p| p.v).collect();
            Some(f::quantile(q, &mut v))
        }
        "double_exponential_smoothing" | "holt_winters" => {
            let (sf, tf) = (sc(1), sc(2));
            if sf.is_nan() || sf <= 0.0 || sf >= 1.0 {
                return Err(QueryError::exec(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}")));
            }
            if tf.is_nan() || tf <= 0.0 || tf >= 1.0 {
                return Err(QueryError::exec(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}")));
            }
            f::double_exponential_smoothing(w, sf, tf)
        }
        "avg_over_time" => Some(f::avg_over_time(w)),
        "sum_over_time" => Some(f::sum_over_time(w)),
        "count_over_time" => Some(w.len() as f64),
        "max_over_time" => Some(f::compare_over_time(w, |c, m| c > m || m.is_nan()).0),
        "min_over_time" => Some(f::compare_over_time(w, |c, m| c < m || m.is_nan()).0),
        "ts_of_max_over_time" => Some(f::compare_over_time(w, |c, m| c >= m || m.is_nan()).1 as f64 / 1000.0),
        "ts_of_min_over_time" => Some(f::compare_over_time(w, |c, m| c <= m || m.is_nan()).1 as f64 / 1000.0),
        "stddev_over_time" => Some(f::variance_over_time(w).sqrt()),
        "stdvar_over_time" => Some(f::variance_over_time(w)),
        "mad_over_time" => Some(f::mad_over_time(w)),
        "last_over_time" => w.last().map(|p| p.v),
        "first_over_time" => w.first().map(|p| p.v),
        "ts_of_last_over_time" => w.last().map(|p| p.t as f64 / 1000.0),
        "ts_of_first_over_time" => w.first().map(|p| p.t as f64 / 1000.0),
        "present_over_time" | "absent_over_time" => Some(1.0),
        _ => return Err(QueryError::exec(format!("function {name} is not supported on range vectors"))),
    })
}

fn map_elems(v: &Vector, f: impl Fn(f64) -> f64) -> Vector {
    v.iter().map(|e| Elem { labels: e.labels.clone(), t: e.t, v: f(e.v), drop_name: true }).collect()
}

fn scalar_elem(v: f64) -> Vector {
    vec![Elem { labels: Labels::empty(), t: 0, v, drop_name: false }]
}

fn first_value(v: &[Vector], i: usize) -> f64 {
    v.get(i).and_then(|x| x.first()).map_or(f64::NAN, |e| e.v)
}

/// Stable merge sort by a strict "less" relation (Go's sort on small inputs is stable too).
fn sort_by_less(v: &mut Vector, less: &dyn Fn(&Elem, &Elem) -> bool) {
    if v.len() < 2 {
        return;
    }
    let mid = v.len() / 2;
    let mut right = v.split_off(mid);
    sort_by_less(v, less);
    sort_by_less(&mut right, less);
    let left = std::mem::take(v);
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if less(&right[j], &left[i]) {
            v.push(right[j].clone());
            j += 1;
        } else {
            v.push(left[i].clone());
            i += 1;
        }
    }
    v.extend_from_slice(&left[i..]);
    v.extend_from_slice(&right[j..]);
}

fn date_fn(v: &[Vector], ts: i64, f: impl Fn(chrono::DateTime<chrono::Utc>) -> f64) -> Vector {
    let to_dt = |secs: i64| chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    match v.first() {
        None => scalar_elem_labels(f(to_dt(ts.div_euclid(1000)))),
        Some(vec) => vec
            .iter()
            .map(|e| {
                let secs = if e.v.is_nan() { i64::MIN } else { e.v as i64 };
                Elem { labels: e.labels.clone(), t: e.t, v: f(to_dt(secs)), drop_name: true }
            })
            .collect(),
    }
}

fn scalar_elem_labels(v: f64) -> Vector {
    scalar_elem(v)
}

fn days_in_month(d: chrono::DateTime<chrono::Utc>) -> f64 {
    let (y, m) = (d.year(), d.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    match (chrono::NaiveDate::from_ymd_opt(y, m, 1), chrono::NaiveDate::from_ymd_opt(ny, nm, 1)) {
        (Some(a), Some(b)) => (b - a).num_days() as f64,
        _ => f64::NAN,
    }
}

fn vector_function(ev: &Ev, c: &Call, v: &[Vector], ts: i64) -> Result<Vector> {
    let name = c.func.name;
    let simple: Option<fn(f64) -> f64> = match name {
        "abs" => Some(f64::abs),
        "ceil" => Some(f64::ceil),
        "floor" => Some(f64::floor),
        "exp" => Some(f64::exp),
        "sqrt" => Some(f64::sqrt),
        "ln" => Some(f64::ln),
        "log2" => Some(f64::log2),
        "log10" => Some(f64::log10),
        "sin" => Some(f64::sin),
        "cos" => Some(f64::cos),
        "tan" => Some(f64::tan),
        "asin" => Some(f64::asin),
        "acos" => Some(f64::acos),
        "atan" => Some(f64::atan),
        "sinh" => Some(f64::sinh),
        "cosh" => Some(f64::cosh),
        "tanh" => Some(f64::tanh),
        "asinh" => Some(f64::asinh),
        "acosh" => Some(f64::acosh),
        "atanh" => Some(f64::atanh),
        "deg" => Some(|x| x * 180.0 / std::f64::consts::PI),
        "rad" => Some(|x| x * std::f64::consts::PI / 180.0),
        "sgn" => Some(|x| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        }),
        _ => None,
    };
    if let Some(func) = simple {
        return Ok(map_elems(&v[0], func));
    }
    Ok(match name {
        "round" => {
            let to = if v.len() >= 2 { first_value(v, 1) } else { 1.0 };
            let inv = 1.0 / to;
            map_elems(&v[0], |x| (x * inv + 0.5).floor() / inv)
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let (lo, hi) = match name {
                "clamp" => (first_value(v, 1), first_value(v, 2)),
                "clamp_min" => (first_value(v, 1), f64::INFINITY),
                _ => (f64::NEG_INFINITY, first_value(v, 1)),
            };
            if hi < lo {
                return Ok(Vec::new());
            }
            map_elems(&v[0], |x| go_max(lo, go_min(hi, x)))
        }
        "scalar" => scalar_elem(if v[0].len() == 1 { v[0][0].v } else { f64::NAN }),
        "vector" => scalar_elem(first_value(v, 0)),
        "time" => scalar_elem(ts as f64 / 1000.0),
        "pi" => scalar_elem(std::f64::consts::PI),
        "max_of" => scalar_elem(go_max(first_value(v, 0), first_value(v, 1))),
        "min_of" => scalar_elem(go_min(first_value(v, 0), first_value(v, 1))),
        "timestamp" => map_elems(&v[0], |_| 0.0)
            .into_iter()
            .map(|mut e| {
                e.v = e.t as f64 / 1000.0;
                e
            })
            .collect(),
        "sort" | "sort_desc" => {
            let mut out = v[0].clone();
            if name == "sort" {
                // Reverse of (NaN first, descending): ascending with NaN last.
                sort_by_less(&mut out, &|a, b| {
                    if b.v.is_nan() {
                        return true;
                    }
                    b.v > a.v
                });
            } else {
                sort_by_less(&mut out, &|a, b| {
                    if b.v.is_nan() {
                        return true;
                    }
                    b.v < a.v
                });
            }
            out
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let names: Vec<String> = (1..c.args.args.len()).filter_map(|i| arg_str(c, i).ok()).collect();
            let desc = name == "sort_by_label_desc";
            let mut out = v[0].clone();
            out.sort_by(|a, b| {
                for n in &names {
                    let (x, y) = (a.labels.get(n), b.labels.get(n));
                    if x == y {
                        continue;
                    }
                    let less = f::natural_less(x, y);
                    return if less != desc { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater };
                }
                let o = a.labels.cmp(&b.labels);
                if desc { o.reverse() } else { o }
            });
            out
        }
        "absent" => {
            if !v[0].is_empty() {
                return Ok(Vec::new());
            }
            let labels = match c.args.args.first().map(|a| unwrap_parens(a)) {
                Some(Expr::VectorSelector(vs)) => absent_labels(vs),
                _ => Labels::empty(),
            };
            vec![Elem { labels, t: ts, v: 1.0, drop_name: false }]
        }
        "days_in_month" => date_fn(v, ts, days_in_month),
        "day_of_month" => date_fn(v, ts, |d| d.day() as f64),
        "day_of_week" => date_fn(v, ts, |d| d.weekday().num_days_from_sunday() as f64),
        "day_of_year" => date_fn(v, ts, |d| d.ordinal() as f64),
        "hour" => date_fn(v, ts, |d| d.hour() as f64),
        "minute" => date_fn(v, ts, |d| d.minute() as f64),
        "month" => date_fn(v, ts, |d| d.month() as f64),
        "year" => date_fn(v, ts, |d| d.year() as f64),
        "histogram_quantile" => {
            let q = first_value(v, 0);
            let qpos = ev.pos(&c.args.args[0]);
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                ev.warn(format!("quantile value should be between 0 and 1, got {}", go_g(q, None)), qpos);
            }
            let apos = ev.pos(&c.args.args[1]);
            let groups = bucket_groups(ev, &v[1], apos);
            let mut out = Vec::new();
            for (labels, buckets) in groups {
                let v = annotated_bucket_quantile(ev, q, buckets, &labels, apos, ts);
                out.push(Elem { labels, t: ts, v, drop_name: true });
            }
            out
        }
        "histogram_quantiles" => {
            let label = arg_str(c, 1)?;
            let apos = ev.pos(&c.args.args[0]);
            let mut out = Vec::new();
            let groups = bucket_groups(ev, &v[0], apos);
            for i in 2..v.len() {
                let q = first_value(v, i);
                if q.is_nan() || !(0.0..=1.0).contains(&q) {
                    ev.warn(
                        format!("quantile value should be between 0 and 1, got {}", go_g(q, None)),
                        ev.pos(&c.args.args[i]),
                    );
                }
            }
            for i in 2..v.len() {
                let q = first_value(v, i);
                for (labels, buckets) in &groups {
                    let v = annotated_bucket_quantile(ev, q, buckets.clone(), labels, apos, ts);
                    let mut b = labels.builder();
                    b.set(&label, &open_metrics_float(q));
                    out.push(Elem { labels: b.build(), t: ts, v, drop_name: true });
                }
            }
            out
        }
        "histogram_fraction" => {
            let (lo, hi) = (first_value(v, 0), first_value(v, 1));
            let apos = ev.pos(&c.args.args[2]);
            bucket_groups(ev, &v[2], apos)
                .into_iter()
                .map(|(labels, b)| Elem { labels, t: ts, v: f::bucket_fraction(lo, hi, b), drop_name: true })
                .collect()
        }
        // Native-histogram-only functions: no float input contributes.
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar"
        | "start_timestamp" => Vec::new(),
        _ => return Err(QueryError::exec(format!("function {name} is not supported"))),
    })
}

fn open_metrics_float(q: f64) -> String {
    if q == 1.0 {
        return "1.0".into();
    }
    if q == 0.0 {
        return "0.0".into();
    }
    if q == -1.0 {
        return "-1.0".into();
    }
    let s = go_g(q, None);
    if q.is_finite() && !s.contains(['e', '.']) { format!("{s}.0") } else { s }
}

/// The `q` quantile of one group of classic buckets, with the info annotation Prometheus adds
/// when the bucket counts had to be made monotonic.
fn annotated_bucket_quantile(
    ev: &Ev,
    q: f64,
    buckets: Vec<f::Bucket>,
    labels: &Labels,
    pos: Option<usize>,
    ts: i64,
) -> f64 {
    let r = f::bucket_quantile(q, buckets);
    if r.forced_monotonic {
        ev.sh.annos.borrow_mut().monotonicity(labels.metric_name(), pos, ts, r.min_bucket, r.max_bucket, r.max_diff);
    }
    r.value
}

/// Groups classic-histogram bucket series by their labels without `le`.
fn bucket_groups(ev: &Ev, v: &Vector, pos: Option<usize>) -> Vec<(Labels, Vec<f::Bucket>)> {
    let mut out: Vec<(Labels, Vec<f::Bucket>)> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for e in v {
        let le = e.labels.get("le");
        let Some(upper) = parse_go_float(le) else {
            let mut msg = format!("bucket label \"le\" is missing or has a malformed value of {}", go_quote(le));
            let m = e.labels.metric_name();
            if !m.is_empty() {
                msg.push_str(&format!(" for metric name {}", go_quote(m)));
            }
            ev.warn(msg, pos);
            continue;
        };
        let mut b = e.labels.builder();
        b.del("le");
        let key = b.build();
        match index.get(&key) {
            Some(&i) => out[i].1.push(f::Bucket { upper, count: e.v }),
            None => {
                index.insert(key.clone(), out.len());
                out.push((key, vec![f::Bucket { upper, count: e.v }]));
            }
        }
    }
    out
}

/// Go's `strconv.ParseFloat` for the forms bucket bounds use.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    let t = s.trim_start_matches(['+', '-']);
    if t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) {
        return None;
    }
    s.parse::<f64>().ok()
}

fn label_replace(ev: &Ev, c: &Call) -> Result<Matrix> {
    let dst = arg_str(c, 1)?;
    let repl = arg_str(c, 2)?;
    let src = arg_str(c, 3)?;
    let re_str = arg_str(c, 4)?;
    let re = regex::Regex::new(&format!("^(?s:{re_str})$"))
        .map_err(|_| QueryError::exec(format!("invalid regular expression in label_replace(): {re_str}")))?;
    if dst.is_empty() || !raw_literal_is_utf8(ev, &c.args.args[1]) {
        return Err(QueryError::exec(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let mut m = ev.eval_matrix(&c.args.args[0])?;
    for s in &mut m {
        let v = s.labels.get(&src).to_string();
        if let Some(caps) = re.captures(&v) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            set_label(s, &dst, &res);
        }
    }
    super::merge_same_labelset(m)
}

/// Sets (or, with an empty value, removes) label `dst` of `s`; a series whose name is set
/// explicitly keeps it through the delayed name removal.
fn set_label(s: &mut Series, dst: &str, value: &str) {
    let mut b = s.labels.builder();
    b.set(dst, value);
    s.labels = b.build();
    if dst == "__name__" {
        s.drop_name = false;
    }
}

fn label_join(ev: &Ev, c: &Call) -> Result<Matrix> {
    let dst = arg_str(c, 1)?;
    let sep = arg_str(c, 2)?;
    let mut srcs = Vec::new();
    for i in 3..c.args.args.len() {
        let s = arg_str(c, i)?;
        if s.is_empty() {
            return Err(QueryError::exec(format!("invalid source label name in label_join(): {s}")));
        }
        srcs.push(s);
    }
    if dst.is_empty() {
        return Err(QueryError::exec(format!("invalid destination label name in label_join(): {dst}")));
    }
    let mut m = ev.eval_matrix(&c.args.args[0])?;
    for s in &mut m {
        let joined = srcs.iter().map(|n| s.labels.get(n)).collect::<Vec<_>>().join(&sep);
        set_label(s, &dst, &joined);
    }
    super::merge_same_labelset(m)
}

/// Whether a string literal, decoded with Go's rules (`\xNN` is a raw byte), is valid UTF-8.
/// The parser decodes `\xff` to U+00FF, hiding that Prometheus sees an invalid byte.
fn raw_literal_is_utf8(ev: &Ev, arg: &Expr) -> bool {
    let Some(start) = ev.pos(arg) else { return true };
    let raw = ev.sh.query.as_bytes();
    let Some(&q) = raw.get(start) else { return true };
    if q != b'"' && q != b'\'' {
        return true;
    }
    let mut bytes = Vec::new();
    let mut i = start + 1;
    while i < raw.len() && raw[i] != q {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            if raw[i + 1] == b'x'
                && i + 3 < raw.len()
                && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&raw[i + 2..i + 4]), 16)
            {
                bytes.push(b);
                i += 4;
                continue;
            }
            bytes.push(b'a');
            i += 2;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    std::str::from_utf8(&bytes).is_ok()
}
