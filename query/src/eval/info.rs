//! `info(v, [data-label-selector])` (experimental in Prometheus 3): enriches series with the
//! data labels of matching info series (`target_info` by default), joined on the identifying
//! labels `instance` and `job`. Follows Prometheus's `promql/info.go`.

use std::collections::{BTreeMap, HashMap, HashSet};

use promql_parser::parser::{Call, Expr, VectorSelector};
use storage::{Labels, MatchType, Matcher, Sample};

use super::{Elem, Ev, Matrix, Result, Series, offset_ms};
use crate::QueryError;

const TARGET_INFO: &str = "target_info";
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// The @ timestamp and total offset of the first selector of `e`, as Prometheus picks them.
fn first_selector(ev: &Ev, e: &Expr, sub: &mut Vec<(Option<i64>, i64)>) -> Option<(Option<i64>, i64)> {
    let found = |vs: &VectorSelector, sub: &Vec<(Option<i64>, i64)>| {
        let mut at = ev.at_ms(&vs.at);
        let mut off = offset_ms(&vs.offset);
        for (sat, soff) in sub.iter().rev() {
            if at.is_some() {
                break;
            }
            off += soff;
            at = *sat;
        }
        (at, off)
    };
    match e {
        Expr::VectorSelector(vs) => Some(found(vs, sub)),
        Expr::MatrixSelector(m) => Some(found(&m.vs, sub)),
        Expr::Subquery(sq) => {
            sub.push((ev.at_ms(&sq.at), offset_ms(&sq.offset)));
            let r = first_selector(ev, &sq.expr, sub);
            sub.pop();
            r
        }
        Expr::Paren(p) => first_selector(ev, &p.expr, sub),
        Expr::Unary(u) => first_selector(ev, &u.expr, sub),
        Expr::Binary(b) => first_selector(ev, &b.lhs, sub).or_else(|| first_selector(ev, &b.rhs, sub)),
        Expr::Aggregate(a) => {
            a.param.as_deref().and_then(|p| first_selector(ev, p, sub)).or_else(|| first_selector(ev, &a.expr, sub))
        }
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_selector(ev, a, sub)),
        _ => None,
    }
}

fn effective_name_matchers(ms: Vec<Matcher>) -> Result<Vec<Matcher>> {
    if ms.iter().any(|m| matches!(m.kind, MatchType::Equal | MatchType::Regex)) {
        return Ok(ms);
    }
    if !ms.is_empty() {
        let mut v = vec![re("__name__", ".+_info")?];
        v.extend(ms);
        return Ok(v);
    }
    Ok(vec![Matcher::equal("__name__", TARGET_INFO)])
}

fn re(name: &str, value: &str) -> Result<Matcher> {
    Matcher::regex(name, value).map_err(|e| QueryError::exec(e.to_string()))
}

/// Labels of `l` restricted to the identifying labels, prefixed with the info metric name.
fn signature(name: &str, l: &Labels) -> String {
    let mut s = format!("{name}\u{ff}");
    for n in IDENTIFYING {
        let v = l.get(n);
        if !v.is_empty() {
            s.push_str(n);
            s.push('\u{ff}');
            s.push_str(v);
            s.push('\u{ff}');
        }
    }
    s
}

pub(super) fn eval(ev: &Ev, c: &Call) -> Result<Matrix> {
    let args = &c.args.args;
    let (at, offset) = first_selector(ev, &args[0], &mut Vec::new()).unwrap_or((None, 0));
    let mat = ev.eval_matrix(&args[0])?;

    let mut data: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
    let mut name_ms: Vec<Matcher> = Vec::new();
    if let Some(sel) = args.get(1) {
        let Expr::VectorSelector(vs) = sel.as_ref() else {
            return Err(QueryError::exec("info(): the second argument must be a label selector"));
        };
        let mut all = Vec::new();
        if let Some(n) = &vs.name {
            all.push(Matcher::equal("__name__", n.clone()));
        }
        for m in &vs.matchers.matchers {
            all.push(super::convert_matcher(m)?);
        }
        for m in all {
            if m.name == "__name__" {
                name_ms.push(m.clone());
            }
            data.entry(m.name.clone()).or_default().push(m);
        }
    } else {
        name_ms.push(Matcher::equal("__name__", TARGET_INFO));
    }
    let effective = effective_name_matchers(name_ms)?;
    let ignore: HashSet<Labels> = mat
        .iter()
        .filter(|s| {
            let n = s.labels.metric_name();
            effective.iter().all(|m| m.matches(n))
        })
        .map(|s| s.labels.clone())
        .collect();

    // Fetch the info series matching the identifying labels of the (non-ignored) input.
    let mut id_values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in mat.iter().filter(|s| !ignore.contains(&s.labels)) {
        for n in IDENTIFYING {
            let v = s.labels.get(n);
            if !v.is_empty() {
                let e = id_values.entry(n).or_default();
                if !e.iter().any(|x| x == v) {
                    e.push(v.to_string());
                }
            }
        }
    }
    let mut info_name_ms = Vec::new();
    let mut info_ms = Vec::new();
    for ms in data.values() {
        for m in ms {
            if m.name == "__name__" {
                info_name_ms.push(m.clone());
            } else {
                info_ms.push(m.clone());
            }
        }
    }
    data.remove("__name__");
    let mut info_mat: Matrix = Vec::new();
    if !id_values.is_empty() {
        let mut ms: Vec<Matcher> = Vec::new();
        for (n, vals) in &id_values {
            let alt: Vec<String> = vals.iter().map(|v| regex::escape(v)).collect();
            ms.push(re(n, &alt.join("|"))?);
        }
        ms.extend(info_ms);
        ms.extend(effective_name_matchers(info_name_ms)?);
        let lb = ev.sh.opts.lookback_delta_ms;
        for s in ev.select_raw(&ms)? {
            let mut pts = Vec::new();
            for ts in ev.steps() {
                ev.tick()?;
                let r = at.unwrap_or(ts).saturating_sub(offset);
                if let Some(p) = super::lookup(&s.samples, r, lb) {
                    // The value is the sample's own time (info samples are 1 by convention).
                    pts.push(Sample { t: ts, v: p.t as f64 });
                }
            }
            if !pts.is_empty() {
                info_mat.push(Series { labels: s.labels, points: pts, drop_name: false });
            }
        }
    }
    let info_names: Vec<String> = {
        let mut v: Vec<String> = info_mat.iter().map(|s| s.labels.metric_name().to_string()).collect();
        v.sort();
        v.dedup();
        v
    };
    ev.range_eval(&[mat, info_mat], None, |v, _, _| combine(&v[0], &v[1], &ignore, &info_names, &data))
}

fn combine(
    base: &[Elem],
    info: &[Elem],
    ignore: &HashSet<Labels>,
    info_names: &[String],
    data: &BTreeMap<String, Vec<Matcher>>,
) -> Result<Vec<Elem>> {
    if base.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_sig: HashMap<String, &Elem> = HashMap::new();
    for s in info {
        let sig = signature(s.labels.metric_name(), &s.labels);
        let t = s.v as i64;
        match by_sig.get(&sig) {
            Some(ex) => {
                let et = ex.v as i64;
                if et < t {
                    by_sig.insert(sig, s);
                } else if et == t {
                    return Err(QueryError::exec(format!(
                        "found duplicate series for info metric: existing {} @ {et}, new {} @ {t}",
                        ex.labels, s.labels
                    )));
                }
            }
            None => {
                by_sig.insert(sig, s);
            }
        }
    }
    let mut out = Vec::new();
    for b in base {
        if ignore.contains(&b.labels) {
            out.push(b.clone());
            continue;
        }
        let mut add = storage::LabelsBuilder::new();
        let mut seen = 0;
        for name in info_names {
            let Some(is) = by_sig.get(&signature(name, &b.labels)) else { continue };
            for l in is.labels.iter() {
                if &*l.name == "__name__" {
                    continue;
                }
                if !data.is_empty() && !data.contains_key(&*l.name) {
                    continue;
                }
                let cur = add.get(&l.name);
                if !cur.is_empty() && cur != &*l.value {
                    return Err(QueryError::exec(format!("conflicting label: {}", l.name)));
                }
                if b.labels.has(&l.name) {
                    continue;
                }
                add.set(&l.name, &l.value);
            }
            seen += 1;
        }
        if seen == 0 && !data.values().flatten().all(|m| m.matches("")) {
            continue;
        }
        let mut lb = b.labels.builder();
        for l in add.build().iter() {
            lb.set(&l.name, &l.value);
        }
        out.push(Elem { labels: lb.build(), t: b.t, v: b.v, drop_name: b.drop_name });
    }
    Ok(out)
}
