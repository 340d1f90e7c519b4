//! Recovers source positions of AST nodes.
//!
//! `promql-parser` records no positions, but annotations must say where in the query they
//! apply (`... (1:6)`). Node start offsets are non-decreasing in a pre-order walk, so a greedy
//! scan of the query text for each node's leading token (metric name, function name, `(`,
//! operator keyword, ...) finds them; nodes are keyed by address.

use std::collections::HashMap;

use promql_parser::parser::Expr;

/// Byte offsets of node starts, keyed by node address.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    map: HashMap<usize, usize>,
}

fn key(e: &Expr) -> usize {
    e as *const Expr as usize
}

impl Positions {
    pub(crate) fn compute(query: &str, expr: &Expr) -> Self {
        let mut p = Positions::default();
        let mut cursor = 0;
        p.visit(query.as_bytes(), expr, &mut cursor);
        p
    }

    /// Start offset of `e` (which must be a node of the computed tree).
    pub(crate) fn get(&self, e: &Expr) -> Option<usize> {
        self.map.get(&key(e)).copied()
    }

    fn visit(&mut self, q: &[u8], e: &Expr, cur: &mut usize) -> usize {
        let start = match e {
            Expr::VectorSelector(vs) => selector(q, vs.name.as_deref(), cur),
            Expr::MatrixSelector(ms) => selector(q, ms.vs.name.as_deref(), cur),
            Expr::Call(c) => {
                let s = find_word(q, c.func.name, *cur, false).unwrap_or(*cur);
                *cur = s + c.func.name.len();
                for a in &c.args.args {
                    self.visit(q, a, cur);
                }
                s
            }
            Expr::Aggregate(a) => {
                let op = a.op.to_string();
                let s = find_word(q, &op, *cur, true).unwrap_or(*cur);
                *cur = s + op.len();
                if let Some(p) = &a.param {
                    self.visit(q, p, cur);
                }
                self.visit(q, &a.expr, cur);
                s
            }
            Expr::Binary(b) => {
                let s = self.visit(q, &b.lhs, cur);
                self.visit(q, &b.rhs, cur);
                s
            }
            Expr::Unary(u) => {
                let s = find_byte(q, b'-', *cur).unwrap_or(*cur);
                *cur = s + 1;
                self.visit(q, &u.expr, cur);
                s
            }
            Expr::Paren(p) => {
                let s = find_byte(q, b'(', *cur).unwrap_or(*cur);
                *cur = s + 1;
                self.visit(q, &p.expr, cur);
                s
            }
            Expr::Subquery(sq) => self.visit(q, &sq.expr, cur),
            Expr::StringLiteral(_) => {
                let s = (*cur..q.len()).find(|&i| matches!(q[i], b'"' | b'\'' | b'`')).unwrap_or(*cur);
                if s < q.len() {
                    let quote = q[s];
                    let mut i = s + 1;
                    while i < q.len() && q[i] != quote {
                        if q[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    *cur = (i + 1).min(q.len());
                }
                s
            }
            Expr::NumberLiteral(_) | Expr::Extension(_) => {
                let mut i = *cur;
                while i < q.len() && (q[i].is_ascii_whitespace() || q[i] == b'(' || q[i] == b',') {
                    i += 1;
                }
                i
            }
        };
        self.map.insert(key(e), start);
        start
    }
}

fn selector(q: &[u8], name: Option<&str>, cur: &mut usize) -> usize {
    let found = match name {
        Some(n) => find_word(q, n, *cur, false).map(|s| (s, n.len())),
        None => find_byte(q, b'{', *cur).map(|s| (s, 1)),
    };
    match found {
        Some((s, len)) => {
            *cur = s + len;
            s
        }
        None => skip_space(q, *cur),
    }
}

fn skip_space(q: &[u8], mut i: usize) -> usize {
    while i < q.len() && q[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn find_byte(q: &[u8], b: u8, from: usize) -> Option<usize> {
    (from..q.len()).find(|&i| q[i] == b)
}

fn find_word(q: &[u8], w: &str, from: usize, ignore_case: bool) -> Option<usize> {
    let w = w.as_bytes();
    if w.is_empty() || q.len() < w.len() {
        return None;
    }
    (from..=q.len() - w.len()).find(|&i| {
        let hit = if ignore_case { q[i..i + w.len()].eq_ignore_ascii_case(w) } else { &q[i..i + w.len()] == w };
        hit && (i == 0 || !is_ident(q[i - 1])) && (i + w.len() == q.len() || !is_ident(q[i + w.len()]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: &[usize]) {
        let e = promql_parser::parser::parse(query).unwrap();
        let p = Positions::compute(query, &e);
        let mut got = Vec::new();
        crate::walk(&e, &mut |n| got.push(p.get(n).unwrap()));
        assert_eq!(got, expected, "{query}");
    }

    #[test]
    fn node_starts() {
        check("rate(some_metric[5m])", &[0, 5]);
        check("foo_metric + metric", &[0, 0, 13]);
        check("sum by (x) (foo)", &[0, 12]);
        check("histogram_quantile(0.5, rate(x[5m]))", &[0, 19, 24, 29]);
        check("-foo", &[0, 1]);
    }
}
