//! Aggregation operators (`sum`, `avg`, ..., `topk`, `limit_ratio`, `count_values`) with
//! `by`/`without` grouping, following Prometheus's `rangeEvalAgg` step by step (including its
//! Kahan-compensated sums and heap-based `topk`).

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use storage::{Labels, Sample};

use super::{Elem, Ev, Matrix, Result, Series, Val, go_max, go_min};
use crate::QueryError;
use crate::functions::{kahan_inc, quantile};
use crate::gofmt::go_g;
use crate::hash::labels_hash;

struct Grouping {
    without: bool,
    names: Vec<String>,
}

impl Grouping {
    fn key(&self, l: &Labels) -> String {
        let mut s = String::new();
        for x in l.iter() {
            let listed = self.names.iter().any(|n| **n == *x.name);
            let take = if self.without { !listed && &*x.name != "__name__" } else { listed };
            if take {
                s.push_str(&x.name);
                s.push('\u{ff}');
                s.push_str(&x.value);
                s.push('\u{ff}');
            }
        }
        s
    }

    fn labels(&self, l: &Labels) -> Labels {
        if !self.without && self.names.is_empty() {
            return Labels::empty();
        }
        Labels::from_sorted(
            l.iter()
                .filter(|x| {
                    let listed = self.names.iter().any(|n| **n == *x.name);
                    if self.without { !listed && &*x.name != "__name__" } else { listed }
                })
                .cloned()
                .collect(),
        )
    }
}

#[derive(Clone, Default)]
struct Group {
    seen: bool,
    value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    incremental_mean: bool,
    drop_name: bool,
    heap: Vec<Elem>,
    complete: bool,
}

/// Parameter values per step, with Prometheus's min/max/NaN summary.
struct FParams {
    values: Vec<f64>,
    constant: Option<f64>,
    min: f64,
    max: f64,
    any_nan: bool,
}

impl FParams {
    fn at(&self, i: usize) -> f64 {
        self.constant.unwrap_or_else(|| self.values.get(i).copied().unwrap_or(0.0))
    }
}

fn fparams(ev: &Ev, p: Option<&Expr>) -> Result<FParams> {
    let empty = FParams { values: Vec::new(), constant: None, min: 0.0, max: 0.0, any_nan: false };
    let Some(p) = p else { return Ok(empty) };
    let m = ev.eval_matrix(p)?;
    let Some(s) = m.first() else { return Ok(empty) };
    if matches!(strip_paren(p), Expr::NumberLiteral(_)) {
        let v = s.points.first().map_or(0.0, |x| x.v);
        return Ok(FParams { values: Vec::new(), constant: Some(v), min: v, max: v, any_nan: v.is_nan() });
    }
    let mut fp = FParams { values: Vec::new(), constant: None, min: f64::MAX, max: -f64::MAX, any_nan: false };
    for x in &s.points {
        fp.max = go_max(fp.max, x.v);
        fp.min = go_min(fp.min, x.v);
        fp.any_nan |= x.v.is_nan();
        fp.values.push(x.v);
    }
    Ok(fp)
}

fn strip_paren(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_paren(&p.expr),
        _ => e,
    }
}

pub(super) fn eval(ev: &Ev, a: &AggregateExpr) -> Result<Matrix> {
    let op = a.op.to_string();
    let (without, mut names) = match &a.modifier {
        Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        None => (false, Vec::new()),
    };
    names.sort();
    if op == "count_values" {
        let label = match a.param.as_deref().map(|p| ev.eval(p)).transpose()? {
            Some(Val::Str(s)) => s,
            _ => return Err(QueryError::exec("count_values requires a string parameter")),
        };
        if label.is_empty() {
            return Err(QueryError::exec(format!("invalid label name {}", crate::annotations::go_quote(&label))));
        }
        if !without {
            names.push(label.clone());
            names.sort();
        }
        let g = Grouping { without, names };
        let input = ev.eval_matrix(&a.expr)?;
        return ev.range_eval(&[input], None, |v, _, _| Ok(count_values(&g, &label, &v[0])));
    }
    let param = a.param.as_deref();
    let fp = fparams(ev, param)?;
    let input = ev.eval_matrix(&a.expr)?;
    let g = Grouping { without, names };
    let k_op = matches!(op.as_str(), "topk" | "bottomk" | "limitk" | "limit_ratio");

    // Map input series to groups.
    let mut group_of: Vec<usize> = Vec::with_capacity(input.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut result: Matrix = Vec::new();
    for s in &input {
        let key = g.key(&s.labels);
        let n = index.len();
        let gi = *index.entry(key).or_insert_with(|| {
            if !k_op {
                result.push(Series { labels: g.labels(&s.labels), points: Vec::new(), drop_name: false });
            }
            n
        });
        group_of.push(gi);
    }
    let mut groups = vec![Group::default(); index.len()];
    let ppos = param.and_then(|p| ev.pos(p));

    match op.as_str() {
        "topk" | "bottomk" | "limitk" => {
            if fp.max < 1.0 {
                return Ok(Vec::new());
            }
            if fp.any_nan {
                return Err(QueryError::exec("Parameter value is NaN"));
            }
            if fp.min <= i64::MIN as f64 {
                return Err(QueryError::exec(format!("Scalar value {} underflows int64", go_v(fp.min))));
            }
            if fp.max >= i64::MAX as f64 {
                return Err(QueryError::exec(format!("Scalar value {} overflows int64", go_v(fp.max))));
            }
        }
        "limit_ratio" => {
            if fp.max == 0.0 && fp.min == 0.0 {
                return Ok(Vec::new());
            }
            if fp.any_nan {
                return Err(QueryError::exec("Ratio value is NaN"));
            }
            if fp.max > 1.0 {
                ev.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        go_g(fp.max, None),
                        go_g(1.0, None)
                    ),
                    ppos,
                );
            }
            if fp.min < -1.0 {
                ev.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        go_g(fp.min, None),
                        go_g(-1.0, None)
                    ),
                    ppos,
                );
            }
        }
        "quantile" => {
            if fp.any_nan {
                ev.warn("quantile value should be between 0 and 1, got NaN".into(), ppos);
            }
            if fp.max > 1.0 {
                ev.warn(format!("quantile value should be between 0 and 1, got {}", go_g(fp.max, None)), ppos);
            }
            if fp.min < 0.0 {
                ev.warn(format!("quantile value should be between 0 and 1, got {}", go_g(fp.min, None)), ppos);
            }
        }
        _ => {}
    }

    let mut cursors = vec![0usize; input.len()];
    let mut kseries: Vec<Series> = Vec::new();
    let mut kindex: HashMap<Labels, usize> = HashMap::new();
    for (step, ts) in ev.steps().enumerate() {
        ev.tick()?;
        let param = fp.at(step);
        // Gather this step's values.
        let mut vals: Vec<(usize, f64)> = Vec::new();
        for (si, s) in input.iter().enumerate() {
            let c = &mut cursors[si];
            if *c < s.points.len() && s.points[*c].t == ts {
                vals.push((si, s.points[*c].v));
                *c += 1;
            }
        }
        if k_op {
            let out = aggregate_k(&op, param, &input, &vals, &group_of, &mut groups);
            if ev.is_instant() {
                return Ok(out.into_iter().map(|e| Series::starting_at(e, ts)).collect());
            }
            for e in out {
                match kindex.get(&e.labels) {
                    Some(&i) => kseries[i].points.push(Sample { t: ts, v: e.v }),
                    None => {
                        kindex.insert(e.labels.clone(), kseries.len());
                        kseries.push(Series::starting_at(e, ts));
                    }
                }
            }
        } else {
            aggregate(&op, param, &input, &vals, &group_of, &mut groups, &mut result, ts);
        }
    }
    if k_op {
        return Ok(kseries);
    }
    result.retain(|s| !s.points.is_empty());
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn aggregate(
    op: &str,
    q: f64,
    input: &Matrix,
    vals: &[(usize, f64)],
    group_of: &[usize],
    groups: &mut [Group],
    out: &mut Matrix,
    ts: i64,
) {
    for g in groups.iter_mut() {
        g.seen = false;
    }
    for &(si, f) in vals {
        let g = &mut groups[group_of[si]];
        let dn = input[si].drop_name;
        if !g.seen {
            *g = Group { seen: true, value: f, mean: f, count: 1.0, drop_name: dn, ..Group::default() };
            match op {
                "stddev" | "stdvar" => {
                    g.value = if f.is_nan() || f.is_infinite() { f64::NAN } else { 0.0 };
                }
                "quantile" => g.heap = vec![Elem { labels: Labels::empty(), t: 0, v: f, drop_name: false }],
                "group" => g.value = 1.0,
                _ => {}
            }
            continue;
        }
        if dn {
            g.drop_name = true;
        }
        match op {
            "sum" => {
                let (v, c) = kahan_inc(f, g.value, g.kahan_c);
                g.value = v;
                g.kahan_c = c;
            }
            "avg" => {
                g.count += 1.0;
                if !g.incremental_mean {
                    let (v, c) = kahan_inc(f, g.value, g.kahan_c);
                    if !v.is_infinite() {
                        g.value = v;
                        g.kahan_c = c;
                        continue;
                    }
                    g.incremental_mean = true;
                    g.mean = g.value / (g.count - 1.0);
                    g.kahan_c /= g.count - 1.0;
                }
                let q = (g.count - 1.0) / g.count;
                let (m, c) = kahan_inc(f / g.count, q * g.mean, q * g.kahan_c);
                g.mean = m;
                g.kahan_c = c;
            }
            "max" if (g.value < f || g.value.is_nan()) => {
                g.value = f;
            }
            "min" if (g.value > f || g.value.is_nan()) => {
                g.value = f;
            }
            "count" => g.count += 1.0,
            "stddev" | "stdvar" => {
                g.count += 1.0;
                let delta = f - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (f - g.mean);
            }
            "quantile" => g.heap.push(Elem { labels: Labels::empty(), t: 0, v: f, drop_name: false }),
            _ => {}
        }
    }
    for (ri, g) in groups.iter_mut().enumerate() {
        if !g.seen {
            continue;
        }
        let v = match op {
            "avg" => {
                if g.incremental_mean {
                    g.mean + g.kahan_c
                } else {
                    g.value / g.count + g.kahan_c / g.count
                }
            }
            "count" => g.count,
            "stdvar" => g.value / g.count,
            "stddev" => (g.value / g.count).sqrt(),
            "quantile" => {
                let mut vs: Vec<f64> = g.heap.iter().map(|e| e.v).collect();
                quantile(q, &mut vs)
            }
            "sum" => g.value + g.kahan_c,
            _ => g.value,
        };
        out[ri].points.push(Sample { t: ts, v });
        out[ri].drop_name = g.drop_name;
    }
}

/// Go's `container/heap` over elements with a `less` order.
fn heap_up(h: &mut [Elem], mut j: usize, less: &dyn Fn(&Elem, &Elem) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [Elem], i0: usize, less: &dyn Fn(&Elem, &Elem) -> bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

fn heap_push(h: &mut Vec<Elem>, e: Elem, less: &dyn Fn(&Elem, &Elem) -> bool) {
    h.push(e);
    let n = h.len() - 1;
    heap_up(h, n, less);
}

fn heap_fix(h: &mut [Elem], i: usize, less: &dyn Fn(&Elem, &Elem) -> bool) {
    if !heap_down(h, i, less) {
        heap_up(h, i, less);
    }
}

/// Go's `sort.Sort` for small inputs: insertion sort.
fn insertion_sort(h: &mut [Elem], less: &dyn Fn(&Elem, &Elem) -> bool) {
    for i in 1..h.len() {
        let mut j = i;
        while j > 0 && less(&h[j], &h[j - 1]) {
            h.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn by_value(a: &Elem, b: &Elem) -> bool {
    if a.v.is_nan() {
        return true;
    }
    a.v < b.v
}

fn by_reverse_value(a: &Elem, b: &Elem) -> bool {
    if a.v.is_nan() {
        return true;
    }
    a.v > b.v
}

fn aggregate_k(
    op: &str,
    param: f64,
    input: &Matrix,
    vals: &[(usize, f64)],
    group_of: &[usize],
    groups: &mut [Group],
) -> Vec<Elem> {
    for g in groups.iter_mut() {
        g.seen = false;
        g.complete = false;
        g.heap.clear();
    }
    let mut remaining = groups.len();
    for &(si, f) in vals {
        let s = Elem { labels: input[si].labels.clone(), t: 0, v: f, drop_name: input[si].drop_name };
        let mut k: i64 = 0;
        let mut r = 0.0;
        match op {
            "limit_ratio" => {
                if param == 0.0 {
                    return Vec::new();
                }
                r = param.clamp(-1.0, 1.0);
            }
            _ => {
                k = (param as i64).min(input.len() as i64);
                if k < 1 {
                    return Vec::new();
                }
            }
        }
        let g = &mut groups[group_of[si]];
        if !g.seen {
            g.seen = true;
            g.heap = Vec::new();
            match op {
                "limit_ratio" => {
                    if add_ratio_sample(r, &s.labels) {
                        heap_push(&mut g.heap, s, &by_value);
                    }
                }
                "bottomk" => heap_push(&mut g.heap, s, &by_reverse_value),
                _ => heap_push(&mut g.heap, s, &by_value),
            }
            continue;
        }
        match op {
            "topk" => {
                if (g.heap.len() as i64) < k {
                    heap_push(&mut g.heap, s, &by_value);
                } else if g.heap[0].v < s.v || (g.heap[0].v.is_nan() && !s.v.is_nan()) {
                    g.heap[0] = s;
                    if k > 1 {
                        heap_fix(&mut g.heap, 0, &by_value);
                    }
                }
            }
            "bottomk" => {
                if (g.heap.len() as i64) < k {
                    heap_push(&mut g.heap, s, &by_reverse_value);
                } else if g.heap[0].v > s.v || (g.heap[0].v.is_nan() && !s.v.is_nan()) {
                    g.heap[0] = s;
                    if k > 1 {
                        heap_fix(&mut g.heap, 0, &by_reverse_value);
                    }
                }
            }
            "limitk" => {
                if (g.heap.len() as i64) < k {
                    heap_push(&mut g.heap, s, &by_value);
                }
                if !g.complete && g.heap.len() as i64 == k {
                    g.complete = true;
                    remaining -= 1;
                    if remaining == 0 {
                        break;
                    }
                }
            }
            _ => {
                if add_ratio_sample(r, &s.labels) {
                    heap_push(&mut g.heap, s, &by_value);
                }
            }
        }
    }
    let mut out = Vec::new();
    for g in groups.iter_mut() {
        if !g.seen {
            continue;
        }
        match op {
            "topk" if g.heap.len() > 1 => {
                insertion_sort(&mut g.heap, &|a, b| by_value(b, a));
            }
            "bottomk" if g.heap.len() > 1 => {
                insertion_sort(&mut g.heap, &|a, b| by_reverse_value(b, a));
            }
            _ => {}
        }
        out.extend(g.heap.iter().cloned());
    }
    out
}

fn add_ratio_sample(ratio: f64, labels: &Labels) -> bool {
    let offset = labels_hash(labels) as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}

fn count_values(g: &Grouping, label: &str, vec: &[Elem]) -> Vec<Elem> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, (Labels, usize)> = HashMap::new();
    for e in vec {
        let mut b = e.labels.builder();
        b.set(label, &crate::format_float(e.v));
        let metric = b.build();
        let key = g.key(&metric);
        match groups.get_mut(&key) {
            Some(x) => x.1 += 1,
            None => {
                order.push(key.clone());
                groups.insert(key, (g.labels(&metric), 1));
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| groups.remove(&k))
        .map(|(labels, n)| Elem { labels, t: 0, v: n as f64, drop_name: false })
        .collect()
}

/// Go's `%v` for a float64 (the same as `%g`).
fn go_v(v: f64) -> String {
    go_g(v, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::labels;

    fn e(v: f64, i: &str) -> Elem {
        Elem { labels: labels! {"i" => i}, t: 0, v, drop_name: false }
    }

    #[test]
    fn grouping_keys_and_labels() {
        let l = labels! {"__name__" => "m", "a" => "1", "b" => "2"};
        let by = Grouping { without: false, names: vec!["a".into()] };
        assert_eq!(by.labels(&l), labels! {"a" => "1"});
        let without = Grouping { without: true, names: vec!["a".into()] };
        assert_eq!(without.labels(&l), labels! {"b" => "2"});
        let all = Grouping { without: false, names: vec![] };
        assert_eq!(all.labels(&l), Labels::empty());
        assert_eq!(all.key(&l), all.key(&labels! {"x" => "y"}));
    }

    #[test]
    fn topk_keeps_largest_nan_last() {
        let input: Matrix = ["a", "b", "c", "d"]
            .iter()
            .map(|i| Series { labels: labels! {"i" => *i}, points: vec![], drop_name: false })
            .collect();
        let vals = [(0, 1.0), (1, f64::NAN), (2, 3.0), (3, 2.0)];
        let mut groups = vec![Group::default()];
        let out = aggregate_k("topk", 2.0, &input, &vals, &[0, 0, 0, 0], &mut groups);
        let got: Vec<f64> = out.iter().map(|x| x.v).collect();
        assert_eq!(got, vec![3.0, 2.0]);
        let out = aggregate_k("bottomk", 1.0, &input, &vals, &[0, 0, 0, 0], &mut groups);
        assert_eq!(out[0].v, 1.0);
    }

    #[test]
    fn heap_orders() {
        let mut h = Vec::new();
        for v in [5.0, 1.0, 3.0] {
            heap_push(&mut h, e(v, "x"), &by_value);
        }
        assert_eq!(h[0].v, 1.0);
        let mut h2 = Vec::new();
        for v in [5.0, 1.0, 3.0] {
            heap_push(&mut h2, e(v, "x"), &by_reverse_value);
        }
        assert_eq!(h2[0].v, 5.0);
    }

    #[test]
    fn go_v_formatting() {
        assert_eq!(go_v(9.223372036854776e18), "9.223372036854776e+18");
        assert_eq!(go_v(1e21), "1e+21");
        assert_eq!(go_v(-1.5), "-1.5");
    }
}
