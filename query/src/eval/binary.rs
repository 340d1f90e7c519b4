//! Binary operators: scalar/scalar, vector/scalar and vector/vector with one-to-one,
//! many-to-one / one-to-many (`group_left`/`group_right`) and set (`and`/`or`/`unless`)
//! matching, `on`/`ignoring`, `bool`.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use storage::{Labels, LabelsBuilder};

use super::{Elem, Ev, Matrix, Result, Vector};
use crate::QueryError;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

struct Matching {
    fill_lhs: Option<f64>,
    fill_rhs: Option<f64>,
    card: Card,
    on: bool,
    names: Vec<String>,
    include: Vec<String>,
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

fn changes_schema(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "^" | "%" | "atan2")
}

/// Result of `lhs op rhs` on floats: (value, keep).
fn elem_binop(op: &str, l: f64, r: f64) -> (f64, bool) {
    match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "^" => (l.powf(r), true),
        "%" => (go_mod(l, r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// Go's `math.Mod` (sign of the dividend, NaN for zero divisor or infinite dividend).
fn go_mod(x: f64, y: f64) -> f64 {
    if y == 0.0 || x.is_infinite() || x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    x % y
}

fn scalar_binop(op: &str, l: f64, r: f64) -> f64 {
    let (v, keep) = elem_binop(op, l, r);
    if is_comparison(op) { if keep { 1.0 } else { 0.0 } } else { v }
}

pub(super) fn eval(ev: &Ev, b: &BinaryExpr) -> Result<Matrix> {
    let op = b.op.to_string();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lt = b.lhs.value_type();
    let rt = b.rhs.value_type();
    let lhs = ev.eval_matrix(&b.lhs)?;
    let rhs = ev.eval_matrix(&b.rhs)?;
    match (lt, rt) {
        (ValueType::Scalar, ValueType::Scalar) => ev.range_eval(&[lhs, rhs], None, |v, _, _| {
            let l = v[0].first().map_or(f64::NAN, |e| e.v);
            let r = v[1].first().map_or(f64::NAN, |e| e.v);
            Ok(vec![Elem { labels: Labels::empty(), t: 0, v: scalar_binop(&op, l, r), drop_name: false }])
        }),
        (ValueType::Vector, ValueType::Vector) => {
            let m = matching(b, &op);
            let sigs = signatures(&[&lhs, &rhs], &m);
            let set_op = matches!(op.as_str(), "and" | "or" | "unless");
            ev.range_eval(&[lhs, rhs], Some(&sigs), |v, s, _| {
                if set_op {
                    Ok(set_binop(&op, &v[0], &v[1], &s[0], &s[1]))
                } else {
                    vector_binop(&op, &v[0], &v[1], &s[0], &s[1], &m, return_bool)
                }
            })
        }
        (ValueType::Vector, ValueType::Scalar) => ev.range_eval(&[lhs, rhs], None, |v, _, _| {
            let r = v[1].first().map_or(f64::NAN, |e| e.v);
            Ok(vector_scalar(&op, &v[0], r, false, return_bool))
        }),
        (ValueType::Scalar, ValueType::Vector) => ev.range_eval(&[lhs, rhs], None, |v, _, _| {
            let l = v[0].first().map_or(f64::NAN, |e| e.v);
            Ok(vector_scalar(&op, &v[1], l, true, return_bool))
        }),
        _ => Err(QueryError::exec(format!("invalid operand types for binary operator {op}"))),
    }
}

fn matching(b: &BinaryExpr, op: &str) -> Matching {
    let set_op = matches!(op, "and" | "or" | "unless");
    let (mut card, on, names, include) = match &b.modifier {
        None => (Card::OneToOne, false, Vec::new(), Vec::new()),
        Some(m) => {
            let (card, include) = match &m.card {
                VectorMatchCardinality::OneToOne => (Card::OneToOne, Vec::new()),
                VectorMatchCardinality::ManyToOne(l) => (Card::ManyToOne, l.labels.clone()),
                VectorMatchCardinality::OneToMany(l) => (Card::OneToMany, l.labels.clone()),
                VectorMatchCardinality::ManyToMany => (Card::ManyToMany, Vec::new()),
            };
            let (on, names) = match &m.matching {
                Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
                Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
                None => (false, Vec::new()),
            };
            (card, on, names, include)
        }
    };
    if set_op {
        card = Card::ManyToMany;
    }
    let (fill_lhs, fill_rhs) = b.modifier.as_ref().map_or((None, None), |m| (m.fill_values.lhs, m.fill_values.rhs));
    Matching { fill_lhs, fill_rhs, card, on, names, include }
}

fn signature(l: &Labels, m: &Matching) -> String {
    let mut s = String::new();
    for x in l.iter() {
        let listed = m.names.iter().any(|n| **n == *x.name);
        let take = if m.on { listed } else { !listed && &*x.name != "__name__" };
        if take {
            s.push_str(&x.name);
            s.push('\u{ff}');
            s.push_str(&x.value);
            s.push('\u{ff}');
        }
    }
    s
}

/// Signature ordinals per input and series, shared across both inputs.
fn signatures(inputs: &[&Matrix], m: &Matching) -> Vec<Vec<usize>> {
    let mut ords: HashMap<String, usize> = HashMap::new();
    inputs
        .iter()
        .map(|mat| {
            mat.iter()
                .map(|s| {
                    let sig = signature(&s.labels, m);
                    let n = ords.len();
                    *ords.entry(sig).or_insert(n)
                })
                .collect()
        })
        .collect()
}

fn set_binop(op: &str, lhs: &Vector, rhs: &Vector, ls: &[usize], rs: &[usize]) -> Vector {
    match op {
        "and" => {
            if lhs.is_empty() || rhs.is_empty() {
                return Vec::new();
            }
            let present: HashSet<usize> = rs.iter().copied().collect();
            lhs.iter().zip(ls).filter(|(_, s)| present.contains(s)).map(|(e, _)| e.clone()).collect()
        }
        "or" => {
            if lhs.is_empty() {
                return rhs.clone();
            }
            if rhs.is_empty() {
                return lhs.clone();
            }
            let present: HashSet<usize> = ls.iter().copied().collect();
            let mut out = lhs.clone();
            out.extend(rhs.iter().zip(rs).filter(|(_, s)| !present.contains(s)).map(|(e, _)| e.clone()));
            out
        }
        _ => {
            if lhs.is_empty() || rhs.is_empty() {
                return lhs.clone();
            }
            let present: HashSet<usize> = rs.iter().copied().collect();
            lhs.iter().zip(ls).filter(|(_, s)| !present.contains(s)).map(|(e, _)| e.clone()).collect()
        }
    }
}

/// Labels kept by `on(...)`/`ignoring(...)` (Prometheus's `MatchLabels`).
fn match_labels(l: &Labels, m: &Matching) -> Labels {
    Labels::from_sorted(
        l.iter()
            .filter(|x| {
                let listed = m.names.iter().any(|n| **n == *x.name);
                listed == m.on && (m.on || &*x.name != "__name__")
            })
            .cloned()
            .collect(),
    )
}

fn result_metric(lhs: &Labels, rhs: &Labels, op: &str, m: &Matching) -> Labels {
    let mut b: LabelsBuilder = lhs.builder();
    if changes_schema(op) {
        b.del("__name__");
        b.del("__type__");
        b.del("__unit__");
    }
    if m.card == Card::OneToOne {
        if m.on {
            let keep: Vec<&str> = m.names.iter().map(|s| s.as_str()).collect();
            b.keep(&keep);
        } else {
            for n in &m.names {
                b.del(n);
            }
        }
    }
    for n in &m.include {
        let v = rhs.get(n);
        if v.is_empty() {
            b.del(n);
        } else {
            b.set(n, v);
        }
    }
    b.build()
}

fn vector_binop(
    op: &str,
    lhs: &Vector,
    rhs: &Vector,
    lsig: &[usize],
    rsig: &[usize],
    m: &Matching,
    return_bool: bool,
) -> Result<Vector> {
    if (lhs.is_empty() && rhs.is_empty())
        || ((lhs.is_empty() || rhs.is_empty()) && m.fill_lhs.is_none() && m.fill_rhs.is_none())
    {
        return Ok(Vec::new());
    }
    let (lhs, rhs, lsig, rsig) =
        if m.card == Card::OneToMany { (rhs, lhs, rsig, lsig) } else { (lhs, rhs, lsig, rsig) };
    let mut right: HashMap<usize, &Elem> = HashMap::with_capacity(rhs.len());
    for (e, s) in rhs.iter().zip(rsig) {
        if let Some(dup) = right.get(s) {
            let side = if m.card == Card::OneToMany { "left" } else { "right" };
            let (mut a, mut b) = (e.labels.to_string(), dup.labels.to_string());
            if a > b {
                std::mem::swap(&mut a, &mut b);
            }
            return Err(QueryError::exec(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side",
                match_labels(&e.labels, m)
            )));
        }
        right.insert(*s, e);
    }
    let matched_one: HashSet<usize> = HashSet::new();
    let matched_many: HashMap<usize, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    type Seen = (HashSet<usize>, HashMap<usize, HashSet<Labels>>);
    let mut seen: Seen = (matched_one, matched_many);
    let do_op = |ls: &Elem, rs: &Elem, sig: usize, out: &mut Vector, seen: &mut Seen| -> Result<()> {
        let (matched_one, matched_many) = seen;
        let (fl, fr) = if m.card == Card::OneToMany { (rs.v, ls.v) } else { (ls.v, rs.v) };
        let (mut v, keep) = elem_binop(op, fl, fr);
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        }
        let metric = result_metric(&ls.labels, &rs.labels, op, m);
        if m.card == Card::OneToOne {
            if !matched_one.insert(sig) {
                return Err(QueryError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if !matched_many.entry(sig).or_default().insert(metric.clone()) {
            return Err(QueryError::exec("multiple matches for labels: grouping labels must ensure unique matches"));
        }
        if keep || return_bool {
            out.push(Elem { labels: metric, t: ls.t, v, drop_name: return_bool });
        }
        Ok(())
    };
    for (ls, sig) in lhs.iter().zip(lsig) {
        let filled;
        let rs = match right.get(sig) {
            Some(rs) => *rs,
            None => {
                let Some(fill) = m.fill_rhs else { continue };
                filled = Elem { labels: match_labels(&ls.labels, m), t: ls.t, v: fill, drop_name: false };
                &filled
            }
        };
        do_op(ls, rs, *sig, &mut out, &mut seen)?;
    }
    if let Some(fill) = m.fill_lhs {
        for (rs, sig) in rhs.iter().zip(rsig) {
            let done = if m.card == Card::OneToOne {
                seen.0.contains(sig)
            } else {
                seen.1.get(sig).is_some_and(|s| !s.is_empty())
            };
            if done {
                continue;
            }
            let ls = Elem { labels: match_labels(&rs.labels, m), t: rs.t, v: fill, drop_name: false };
            do_op(&ls, rs, *sig, &mut out, &mut seen)?;
        }
    }
    Ok(out)
}

fn vector_scalar(op: &str, vec: &Vector, scalar: f64, swap: bool, return_bool: bool) -> Vector {
    let mut out = Vec::with_capacity(vec.len());
    for e in vec {
        let (l, r) = if swap { (scalar, e.v) } else { (e.v, scalar) };
        let (mut v, mut keep) = elem_binop(op, l, r);
        if is_comparison(op) && swap {
            v = r;
        }
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            let mut e = e.clone();
            e.v = v;
            if changes_schema(op) || return_bool {
                e.drop_name = true;
            }
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::labels;

    fn m(card: Card, on: bool, names: &[&str], include: &[&str]) -> Matching {
        Matching {
            fill_lhs: None,
            fill_rhs: None,
            card,
            on,
            names: names.iter().map(|s| s.to_string()).collect(),
            include: include.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn signatures_ignore_name_unless_on() {
        let a = labels! {"__name__" => "a", "job" => "x", "i" => "1"};
        let b = labels! {"__name__" => "b", "job" => "x", "i" => "2"};
        let check = |mt: &Matching, same: bool| assert_eq!(signature(&a, mt) == signature(&b, mt), same);
        check(&m(Card::OneToOne, false, &[], &[]), false);
        check(&m(Card::OneToOne, false, &["i"], &[]), true);
        check(&m(Card::OneToOne, true, &["job"], &[]), true);
        check(&m(Card::OneToOne, true, &["__name__"], &[]), false);
    }

    #[test]
    fn result_labels() {
        let l = labels! {"__name__" => "a", "job" => "x", "i" => "1"};
        let r = labels! {"__name__" => "b", "job" => "x", "extra" => "e"};
        let check = |op: &str, mt: &Matching, want: Labels| assert_eq!(result_metric(&l, &r, op, mt), want);
        check("+", &m(Card::OneToOne, false, &[], &[]), labels! {"job" => "x", "i" => "1"});
        check("==", &m(Card::OneToOne, false, &[], &[]), l.clone());
        check("+", &m(Card::OneToOne, true, &["job"], &[]), labels! {"job" => "x"});
        check("*", &m(Card::ManyToOne, true, &["job"], &["extra"]), labels! {"job" => "x", "i" => "1", "extra" => "e"});
    }

    #[test]
    fn scalar_ops() {
        let cases = [
            ("+", 1.0, 2.0, 3.0),
            ("%", -7.0, 3.0, -1.0),
            ("^", 2.0, 10.0, 1024.0),
            (">", 2.0, 1.0, 1.0),
            ("==", 1.0, 2.0, 0.0),
        ];
        for (op, l, r, want) in cases {
            assert_eq!(scalar_binop(op, l, r), want, "{l} {op} {r}");
        }
        assert!(scalar_binop("%", 1.0, 0.0).is_nan());
    }
}
