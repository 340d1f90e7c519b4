//! Step invariance, as Prometheus's `PreprocessExpr`: the highest sub-expressions whose value
//! does not depend on the evaluation step (an `@` modifier fixes their time, or they are
//! literals) are evaluated once, at the first step, and their result repeated over the other
//! steps. Besides saving work this decides what a query holds in memory (its
//! `max_samples` accounting) and which step-dependent warnings it gets, so it follows
//! Prometheus's rules exactly (`preprocessExprHelper`).

use std::collections::HashSet;

use promql_parser::parser::Expr;
use storage::Sample;

use super::{Ev, Result, Val};

/// Functions whose result depends on the step even when their arguments do not
/// (Prometheus's `AtModifierUnsafeFunctions`).
const AT_MODIFIER_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

impl Ev<'_> {
    /// Evaluates a step-invariant node once, at the first step, and repeats its value over
    /// the other steps, counting each repeated sample (Prometheus's `StepInvariantExpr`).
    pub(super) fn eval_step_invariant(&self, e: &Expr) -> Result<Val> {
        let once = Ev { start: self.start, end: self.start, interval: self.interval, sh: self.sh };
        let touched_before = self.total_touched();
        let mut m = match once.eval_node(e)? {
            Val::Matrix(m) => m,
            other => return Ok(other),
        };
        let steps = self.num_steps();
        let touched = self.total_touched().saturating_sub(touched_before);
        self.touched(touched.saturating_mul(steps.saturating_sub(1)));
        let mut inner = e;
        while let Expr::Paren(p) = inner {
            inner = &p.expr;
        }
        if matches!(inner, Expr::MatrixSelector(_) | Expr::Subquery(_)) {
            return Ok(Val::Matrix(m));
        }
        for s in &mut m {
            let Some(first) = s.points.first().copied() else { continue };
            // Counted in batches, like a series being built (the count only grows here).
            let mut added = 0usize;
            for ts in self.steps().skip(1) {
                self.tick()?;
                s.points.push(Sample { t: ts, v: first.v });
                added += 1;
                self.pushed(added)?;
            }
            self.finish_series(added)?;
        }
        Ok(Val::Matrix(m))
    }
}

/// The address of a node, the key of the set [`wrapped`] returns.
pub(crate) fn addr(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// The nodes of `ast` to evaluate once and repeat over the steps, by address.
pub(crate) fn wrapped(ast: &Expr) -> HashSet<usize> {
    let mut set = HashSet::new();
    let (_, wrap) = helper(ast, &mut set);
    if wrap {
        set.insert(addr(ast));
    }
    set
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        _ => e,
    }
}

/// `(is step invariant, should be wrapped)` of `e`, marking the children to wrap.
fn helper(e: &Expr, set: &mut HashSet<usize>) -> (bool, bool) {
    match e {
        Expr::VectorSelector(vs) => {
            let inv = vs.at.is_some();
            (inv, inv)
        }
        // The parameter is not considered (as in Prometheus).
        Expr::Aggregate(a) => helper(unparen(&a.expr), set),
        Expr::Binary(b) => {
            let (il, wl) = helper(&b.lhs, set);
            let (ir, wr) = helper(&b.rhs, set);
            if il && ir {
                return (true, true);
            }
            if wl {
                set.insert(addr(&b.lhs));
            }
            if wr {
                set.insert(addr(&b.rhs));
            }
            (false, false)
        }
        Expr::Call(c) => {
            let name = c.func.name;
            // Prometheus folds these into number literals before this pass.
            if matches!(name, "start" | "end" | "range" | "step") {
                return (true, false);
            }
            let mut inv = !AT_MODIFIER_UNSAFE.contains(&name);
            // `timestamp(metric @ t)` is invariant, `timestamp(abs(metric @ t))` is not.
            let mut timestamp_safe = name == "timestamp";
            let mut wraps = Vec::with_capacity(c.args.args.len());
            for a in &c.args.args {
                let a = unparen(a);
                let (ai, aw) = helper(a, set);
                inv &= ai;
                if !ai || !matches!(a, Expr::VectorSelector(_)) {
                    timestamp_safe = false;
                }
                wraps.push((a, aw));
            }
            if inv || timestamp_safe {
                return (true, true);
            }
            for (a, w) in wraps {
                if w {
                    set.insert(addr(a));
                }
            }
            (false, false)
        }
        // Range functions read matrix selectors directly: never wrapped themselves.
        Expr::MatrixSelector(m) => (m.vs.at.is_some(), false),
        Expr::Subquery(sq) => {
            // The inside of an invariant subquery is evaluated once at the subquery's start.
            let (inv, _) = helper(&sq.expr, set);
            if inv {
                set.insert(addr(&sq.expr));
            }
            (sq.at.is_some(), false)
        }
        Expr::Paren(p) => helper(&p.expr, set),
        Expr::Unary(u) => helper(&u.expr, set),
        Expr::StringLiteral(_) | Expr::NumberLiteral(_) => (true, false),
        Expr::Extension(_) => (false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The source text of the wrapped nodes, outermost first.
    fn check(q: &str, expected: &[&str]) {
        let ast = promql_parser::parser::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let set = wrapped(&ast);
        let mut got = Vec::new();
        crate::walk(&ast, &mut |e| {
            if set.contains(&addr(e)) {
                got.push(e.to_string());
            }
        });
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, expected, "{q}");
    }

    #[test]
    fn wrapping() {
        check("up", &[]);
        check("1", &[]);
        check("1 + 2", &["1 + 2"]);
        check("up * 2", &[]);
        check("up @ 10", &["up @ 10.000"]);
        check("up @ 10 + up", &["up @ 10.000"]);
        check("sum(up @ 10)", &["sum(up @ 10.000)"]);
        check("rate(up[5m] @ 10)", &["rate(up[5m] @ 10.000)"]);
        check("rate(up[5m])", &[]);
        check("vector(1)", &["vector(1)"]);
        check("time()", &[]);
        check("timestamp(up @ 10)", &["timestamp(up @ 10.000)"]);
        check("timestamp(abs(up @ 10))", &["abs(up @ 10.000)"]);
        check("hour(up @ 10)", &["up @ 10.000"]);
        check("max_over_time((up @ 10)[5m:1m])", &["(up @ 10.000)"]);
        check("up[5m:1m] @ 10", &[]);
        check("rate(up[1m:10s] @ 10) + rate(up[1m:10s])", &["rate(up[1m:10s] @ 10.000)"]);
        check("topk(scalar(up), up @ 10)", &["topk(scalar(up), up @ 10.000)"]);
    }
}
