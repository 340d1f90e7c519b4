//! The evaluator: range evaluation of an expression tree over all steps of a query.
//!
//! Every node evaluates to a [`Matrix`] with at most one point per step (scalars are a single
//! series without labels), exactly as Prometheus's `evaluator.eval` does; instant queries are
//! range queries with one step. Names to be dropped by functions and operators are only marked
//! (`drop_name`) and removed at the very end (Prometheus 3's delayed name removal), which is
//! when label-set collisions are detected.
//!
//! Children: `binary` (operators and vector matching), `aggregate` (sum, topk, ...), `call`
//! (function dispatch, range-vector functions), `invariant` (step-invariant sub-expressions,
//! evaluated once), `accounting` (memory accounting against `max_samples`, Prometheus's
//! `currentSamples`, and the samples-touched statistic).

mod accounting;
mod aggregate;
mod binary;
mod call;
mod info;
mod invariant;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{self as pp, AtModifier, Expr, Offset, VectorSelector};
use storage::{Labels, MatchType, Matcher, Querier, Queryable, Sample, SelectHints, is_stale_nan};

use crate::annotations::Annotations;
use crate::position::Positions;
use crate::{EngineOptions, InstantSample, QueryError, QueryResult, QueryStats, RangeSeries, Value};

pub(crate) type Result<T, E = QueryError> = std::result::Result<T, E>;

/// Inner-loop iterations between two real deadline/cancel checks, and the batch in which
/// samples are accounted against the limit while a series is built.
pub(crate) const TICK_EVERY: u32 = 1024;

/// One output series of a node: points at step timestamps (or raw sample times for range
/// vectors).
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub labels: Labels,
    pub points: Vec<Sample>,
    pub drop_name: bool,
}

impl Series {
    /// A new series holding the step value `e` at `ts`.
    pub(crate) fn starting_at(e: Elem, ts: i64) -> Series {
        Series { labels: e.labels, points: vec![Sample { t: ts, v: e.v }], drop_name: e.drop_name }
    }
}

pub(crate) type Matrix = Vec<Series>;

/// One element of an instant vector at one step.
#[derive(Clone, Debug)]
pub(crate) struct Elem {
    pub labels: Labels,
    /// The step time, or the sample time where that matters (`timestamp()`).
    pub t: i64,
    pub v: f64,
    pub drop_name: bool,
}

pub(crate) type Vector = Vec<Elem>;

/// What a node evaluates to.
pub(crate) enum Val {
    Matrix(Matrix),
    Str(String),
}

/// Samples of one selected series.
pub(crate) struct Loaded {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// State shared by all evaluators of one query.
pub(crate) struct Shared<'a> {
    querier: Box<dyn Querier>,
    pub opts: &'a EngineOptions,
    pub query_start: i64,
    pub query_end: i64,
    pub query_step: i64,
    deadline: Instant,
    mint: i64,
    maxt: i64,
    cache: RefCell<HashMap<usize, Rc<Vec<Loaded>>>>,
    pub annos: RefCell<Annotations>,
    /// Samples held in memory right now, as Prometheus's `evaluator.currentSamples` counts
    /// them (see [`Ev::add_samples`]).
    current: Cell<usize>,
    /// Samples touched by the query (Prometheus's `TotalSamples`): [`QueryStats::samples_loaded`].
    total: Cell<usize>,
    pos: Positions,
    /// Nodes evaluated once and repeated over the steps (see `invariant`).
    invariant: HashSet<usize>,
    pub query: &'a str,
    cancel: Option<&'a AtomicBool>,
    subquery_step: i64,
    /// Inner-loop iterations since the last real deadline check (see [`Ev::tick`]).
    ticks: Cell<u32>,
}

/// An evaluator over one step grid.
pub(crate) struct Ev<'a> {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub sh: &'a Shared<'a>,
}

pub(crate) fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => ms(*d),
        Some(Offset::Neg(d)) => -ms(*d),
        None => 0,
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    }
}

/// Runs one query (instant when `step == 0`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    opts: &EngineOptions,
    subquery_step: i64,
    db: &dyn Queryable,
    query: &str,
    ast: &Expr,
    (start, end, step): (i64, i64, i64),
    started: Instant,
    cancel: Option<&AtomicBool>,
) -> Result<QueryResult> {
    let (mint, maxt) = min_max_time(ast, start, end, opts.lookback_delta_ms);
    let querier = db.querier(mint, maxt)?;
    let sh = Shared {
        querier,
        opts,
        query_start: start,
        query_end: end,
        query_step: step,
        deadline: started + opts.timeout,
        mint,
        maxt,
        cache: RefCell::new(HashMap::new()),
        annos: RefCell::new(Annotations::default()),
        current: Cell::new(0),
        total: Cell::new(0),
        pos: Positions::compute(query, ast),
        invariant: invariant::wrapped(ast),
        query,
        cancel,
        subquery_step,
        ticks: Cell::new(0),
    };
    let ev = Ev { start, end, interval: if step == 0 { 1 } else { step }, sh: &sh };
    let val = ev.eval(ast)?;
    let value = match val {
        Val::Str(s) => Value::String { t: start, v: s },
        Val::Matrix(m) => {
            let mut m = cleanup_metric_labels(m)?;
            if step == 0 {
                match ast.value_type() {
                    pp::value::ValueType::Scalar => {
                        let v = m.first().and_then(|s| s.points.first()).map_or(f64::NAN, |p| p.v);
                        Value::Scalar { t: start, v }
                    }
                    pp::value::ValueType::Vector => Value::Vector(
                        m.into_iter()
                            .filter_map(|s| {
                                s.points.first().map(|p| InstantSample { labels: s.labels, t: start, v: p.v })
                            })
                            .collect(),
                    ),
                    _ => {
                        m.sort_by(|a, b| a.labels.cmp(&b.labels));
                        Value::Matrix(
                            m.into_iter().map(|s| RangeSeries { labels: s.labels, samples: s.points }).collect(),
                        )
                    }
                }
            } else {
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(m.into_iter().map(|s| RangeSeries { labels: s.labels, samples: s.points }).collect())
            }
        }
    };
    let (warnings, infos) = sh.annos.borrow().render(query);
    Ok(QueryResult { value, warnings, infos, stats: QueryStats { samples_loaded: sh.total.get() } })
}

/// Drops names marked for removal and merges series that then share a label set.
fn cleanup_metric_labels(m: Matrix) -> Result<Matrix> {
    let m: Matrix = m
        .into_iter()
        .map(|mut s| {
            if s.drop_name {
                s.labels = drop_metadata(&s.labels);
            }
            s
        })
        .collect();
    merge_same_labelset(m)
}

/// Removes `__name__` (and the other metadata labels `__type__`, `__unit__`).
pub(crate) fn drop_metadata(l: &Labels) -> Labels {
    if !l.iter().any(|x| is_metadata(&x.name)) {
        return l.clone();
    }
    Labels::from_sorted(l.iter().filter(|x| !is_metadata(&x.name)).cloned().collect())
}

fn is_metadata(n: &str) -> bool {
    n == "__name__" || n == "__type__" || n == "__unit__"
}

/// Merges series with equal labels whose points do not overlap; overlapping points are the
/// "same labelset" error.
pub(crate) fn merge_same_labelset(m: Matrix) -> Result<Matrix> {
    if m.len() <= 1 {
        return Ok(m);
    }
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(m.len());
    let mut out: Matrix = Vec::with_capacity(m.len());
    let mut merged = false;
    for s in m {
        match index.get(&s.labels) {
            Some(&i) => {
                out[i].points.extend(s.points);
                merged = true;
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    if merged {
        for s in &mut out {
            s.points.sort_by_key(|p| p.t);
            if s.points.windows(2).any(|w| w[0].t == w[1].t) {
                return Err(QueryError::exec("vector cannot contain metrics with the same labelset"));
            }
        }
    }
    Ok(out)
}

/// The time range of storage a query needs (as Prometheus's `FindMinMaxTime`).
fn min_max_time(ast: &Expr, start: i64, end: i64, lookback: i64) -> (i64, i64) {
    let mut acc = (i64::MAX, i64::MIN);
    fn at_of(at: &Option<AtModifier>, start: i64, end: i64) -> Option<i64> {
        match at {
            Some(AtModifier::Start) => Some(start),
            Some(AtModifier::End) => Some(end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
            None => None,
        }
    }
    fn go(e: &Expr, s: i64, en: i64, qs: i64, qe: i64, lb: i64, acc: &mut (i64, i64)) {
        match e {
            Expr::VectorSelector(vs) => {
                let (a, b) = at_of(&vs.at, qs, qe).map_or((s, en), |t| (t, t));
                let off = offset_ms(&vs.offset);
                acc.0 = acc.0.min(a.saturating_sub(off).saturating_sub(lb));
                acc.1 = acc.1.max(b.saturating_sub(off));
            }
            Expr::MatrixSelector(m) => {
                let (a, b) = at_of(&m.vs.at, qs, qe).map_or((s, en), |t| (t, t));
                let off = offset_ms(&m.vs.offset);
                acc.0 = acc.0.min(a.saturating_sub(off).saturating_sub(ms(m.range)));
                acc.1 = acc.1.max(b.saturating_sub(off));
            }
            Expr::Subquery(sq) => {
                let (a, b) = at_of(&sq.at, qs, qe).map_or((s, en), |t| (t, t));
                let off = offset_ms(&sq.offset);
                go(
                    &sq.expr,
                    a.saturating_sub(off).saturating_sub(ms(sq.range)),
                    b.saturating_sub(off),
                    qs,
                    qe,
                    lb,
                    acc,
                );
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    go(p, s, en, qs, qe, lb, acc);
                }
                go(&a.expr, s, en, qs, qe, lb, acc);
            }
            Expr::Unary(u) => go(&u.expr, s, en, qs, qe, lb, acc),
            Expr::Binary(b) => {
                go(&b.lhs, s, en, qs, qe, lb, acc);
                go(&b.rhs, s, en, qs, qe, lb, acc);
            }
            Expr::Paren(p) => go(&p.expr, s, en, qs, qe, lb, acc),
            Expr::Call(c) => {
                for a in &c.args.args {
                    go(a, s, en, qs, qe, lb, acc);
                }
            }
            _ => {}
        }
    }
    go(ast, start, end, start, end, lookback, &mut acc);
    if acc.0 > acc.1 {
        return (start, end);
    }
    (acc.0, acc.1)
}

impl<'a> Ev<'a> {
    pub(crate) fn steps(&self) -> impl Iterator<Item = i64> + use<> {
        let (start, end, interval) = (self.start, self.end, self.interval);
        (0..)
            .map_while(move |i: i64| i.checked_mul(interval).and_then(|d| start.checked_add(d)))
            .take_while(move |&t| t <= end)
    }

    pub(crate) fn num_steps(&self) -> usize {
        if self.end < self.start { 0 } else { ((self.end - self.start) / self.interval) as usize + 1 }
    }

    pub(crate) fn is_instant(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn check_deadline(&self) -> Result<()> {
        if self.sh.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(QueryError::Canceled);
        }
        if Instant::now() > self.sh.deadline {
            return Err(QueryError::Timeout("expression evaluation".into()));
        }
        Ok(())
    }

    /// The amortised [`Ev::check_deadline`] of inner loops (per step, per series, per
    /// subquery step): a real check every [`TICK_EVERY`] calls, so a timeout or cancel fires
    /// within microseconds of work after the deadline while costing a counter increment.
    #[inline]
    pub(crate) fn tick(&self) -> Result<()> {
        let n = self.sh.ticks.get().wrapping_add(1);
        self.sh.ticks.set(n);
        if n.is_multiple_of(TICK_EVERY) { self.check_deadline() } else { Ok(()) }
    }

    pub(crate) fn pos(&self, e: &Expr) -> Option<usize> {
        self.sh.pos.get(e)
    }

    pub(crate) fn warn(&self, msg: String, pos: Option<usize>) {
        self.sh.annos.borrow_mut().warn(msg, pos);
    }

    pub(crate) fn info(&self, msg: String, pos: Option<usize>) {
        self.sh.annos.borrow_mut().info(msg, pos);
    }

    pub(crate) fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            Some(AtModifier::Start) => Some(self.sh.query_start),
            Some(AtModifier::End) => Some(self.sh.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
            None => None,
        }
    }

    pub(crate) fn eval_matrix(&self, e: &Expr) -> Result<Matrix> {
        match self.eval(e)? {
            Val::Matrix(m) => Ok(m),
            Val::Str(_) => Err(QueryError::exec("unexpected string where a vector or scalar was expected")),
        }
    }

    pub(crate) fn eval(&self, e: &Expr) -> Result<Val> {
        self.check_deadline()?;
        if self.end < self.start {
            return Ok(Val::Matrix(Vec::new()));
        }
        if !self.is_instant() && self.sh.invariant.contains(&invariant::addr(e)) {
            return self.eval_step_invariant(e);
        }
        self.eval_node(e)
    }

    /// [`Ev::eval`] without the step-invariance check.
    pub(crate) fn eval_node(&self, e: &Expr) -> Result<Val> {
        let before = self.sh.current.get();
        let m = match e {
            Expr::StringLiteral(s) => return Ok(Val::Str(s.val.clone())),
            Expr::NumberLiteral(n) => self.constant(n.val)?,
            Expr::Paren(p) => return self.eval(&p.expr),
            Expr::Unary(u) => {
                let mut m = self.eval_matrix(&u.expr)?;
                for s in &mut m {
                    s.drop_name = true;
                    for p in &mut s.points {
                        p.v = -p.v;
                    }
                }
                m
            }
            Expr::VectorSelector(vs) => self.vector_selector(vs)?,
            Expr::MatrixSelector(ms_) => {
                if !self.is_instant() {
                    return Err(QueryError::exec("cannot do range evaluation of matrix selector"));
                }
                self.matrix_selector_instant(ms_)?
            }
            Expr::Subquery(sq) => self.run_subquery(sq)?,
            Expr::Binary(b) => binary::eval(self, b)?,
            Expr::Aggregate(a) => aggregate::eval(self, a)?,
            Expr::Call(c) => call::eval(self, c, e)?,
            Expr::Extension(_) => return Err(QueryError::exec("unsupported expression extension")),
        };
        // What a node leaves in memory once done, as Prometheus: nodes built by `rangeEval`
        // (literals, operators), aggregations and selectors hold exactly their result; unary
        // minus and subqueries keep whatever their inner expression left; function calls
        // account for themselves (a range function keeps its scalar arguments counted, as
        // Prometheus does, until an enclosing node resets).
        if !matches!(e, Expr::Unary(_) | Expr::Subquery(_) | Expr::Call(_)) {
            let n: usize = m.iter().map(|s| s.points.len()).sum();
            self.sh.current.set(before.saturating_add(n));
        }
        Ok(Val::Matrix(m))
    }

    /// A scalar constant over all steps.
    pub(crate) fn constant(&self, v: f64) -> Result<Matrix> {
        let mut points = Vec::new();
        for t in self.steps() {
            self.tick()?;
            points.push(Sample { t, v });
            self.pushed(points.len())?;
        }
        self.finish_series(points.len())?;
        Ok(vec![Series { labels: Labels::empty(), points, drop_name: false }])
    }

    /// Prometheus's `rangeEval`: gathers the inputs' vectors step by step, calls `f`, and
    /// assembles the output series. `sigs` holds, per input and series, a matching-signature
    /// ordinal (used by binary operators); `f` gets the ordinals of the gathered elements.
    pub(crate) fn range_eval<F>(&self, inputs: &[Matrix], sigs: Option<&[Vec<usize>]>, mut f: F) -> Result<Matrix>
    where
        F: FnMut(&[Vector], &[Vec<usize>], i64) -> Result<Vector>,
    {
        let mut cursors: Vec<Vec<usize>> = inputs.iter().map(|m| vec![0; m.len()]).collect();
        let mut vecs: Vec<Vector> = vec![Vec::new(); inputs.len()];
        let mut vsigs: Vec<Vec<usize>> = vec![Vec::new(); inputs.len()];
        let mut out: Matrix = Vec::new();
        let mut index: HashMap<Labels, (usize, i64)> = HashMap::new();
        let base = self.sh.current.get();
        let mut held = 0usize;
        for ts in self.steps() {
            self.tick()?;
            for (i, m) in inputs.iter().enumerate() {
                vecs[i].clear();
                vsigs[i].clear();
                for (si, s) in m.iter().enumerate() {
                    let c = &mut cursors[i][si];
                    if *c < s.points.len() && s.points[*c].t == ts {
                        vecs[i].push(Elem {
                            labels: s.labels.clone(),
                            t: ts,
                            v: s.points[*c].v,
                            drop_name: s.drop_name,
                        });
                        if let Some(sg) = sigs {
                            vsigs[i].push(sg[i][si]);
                        }
                        *c += 1;
                    }
                }
            }
            // Prometheus counts the gathered input elements and the step's output on top of
            // the inputs and the outputs of earlier steps (`rangeEval`, `gatherVector`).
            self.sh.current.set(base.saturating_add(held));
            self.add_samples(vecs.iter().map(Vec::len).sum())?;
            let res = f(&vecs, &vsigs, ts)?;
            held += res.len();
            self.add_samples(res.len())?;
            if self.is_instant() {
                return Ok(res.into_iter().map(|e| Series::starting_at(e, ts)).collect());
            }
            for e in res {
                match index.get_mut(&e.labels) {
                    Some((i, last)) => {
                        if *last == ts {
                            return Err(QueryError::exec("vector cannot contain metrics with the same labelset"));
                        }
                        *last = ts;
                        out[*i].points.push(Sample { t: ts, v: e.v });
                    }
                    None => {
                        index.insert(e.labels.clone(), (out.len(), ts));
                        out.push(Series::starting_at(e, ts));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Series matching a selector, with samples in the query's time range (stale markers kept).
    pub(crate) fn load(&self, vs: &VectorSelector) -> Result<Rc<Vec<Loaded>>> {
        let key = vs as *const VectorSelector as usize;
        if let Some(d) = self.sh.cache.borrow().get(&key) {
            return Ok(d.clone());
        }
        let mut base = Vec::new();
        if let Some(n) = &vs.name {
            base.push(Matcher::equal("__name__", n.clone()));
        }
        for m in &vs.matchers.matchers {
            base.push(convert_matcher(m)?);
        }
        let mut groups = Vec::new();
        if vs.matchers.or_matchers.is_empty() {
            groups.push(base);
        } else {
            for g in &vs.matchers.or_matchers {
                let mut v = base.clone();
                for m in g {
                    v.push(convert_matcher(m)?);
                }
                groups.push(v);
            }
        }
        let d = Rc::new(self.select_groups(&groups)?);
        self.sh.cache.borrow_mut().insert(key, d.clone());
        Ok(d)
    }

    /// Series matching `matchers`, with samples in the query's time range.
    pub(crate) fn select_raw(&self, matchers: &[Matcher]) -> Result<Vec<Loaded>> {
        self.select_groups(&[matchers.to_vec()])
    }

    /// The union of the series matching any of the matcher groups.
    fn select_groups(&self, groups: &[Vec<Matcher>]) -> Result<Vec<Loaded>> {
        let hints =
            SelectHints { start: self.sh.mint, end: self.sh.maxt, step: self.sh.query_step, range: 0, func: None };
        // One group (the common case): the querier's answer is sorted and free of duplicates
        // already. Several (`or` matchers): keep the first copy of each series, sort at the end.
        let mut all: Vec<Loaded> = Vec::new();
        let mut seen: HashSet<Labels> = HashSet::new();
        // Samples are gathered in one reused buffer and copied out at their exact size: one
        // allocation per series instead of a chain of reallocations.
        let mut buf: Vec<Sample> = Vec::new();
        let several = groups.len() > 1;
        for g in groups {
            let set = self.sh.querier.select(true, Some(&hints), g)?;
            for s in set {
                let s = s?;
                if several && !seen.insert(s.labels.clone()) {
                    continue;
                }
                let mut it = s.samples;
                let v = &mut buf;
                v.clear();
                let mut cur = it.seek(self.sh.mint);
                while let Some(p) = cur {
                    if p.t > self.sh.maxt {
                        break;
                    }
                    self.tick()?;
                    v.push(p);
                    cur = it.next();
                }
                if let Some(e) = it.err() {
                    return Err(QueryError::Storage(storage::Error::Other(e.to_string())));
                }
                all.push(Loaded { labels: s.labels, samples: v.as_slice().to_vec() });
            }
        }
        if several {
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        Ok(all)
    }

    fn vector_selector(&self, vs: &VectorSelector) -> Result<Matrix> {
        let data = self.load(vs)?;
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let lb = self.sh.opts.lookback_delta_ms;
        let mut out = Vec::new();
        let cap = self.num_steps().min(4096);
        for s in data.iter() {
            let mut pts = Vec::with_capacity(cap);
            // `r` never decreases with the steps: a forward cursor instead of a search.
            let mut i = 0;
            for ts in self.steps() {
                self.tick()?;
                let r = at.unwrap_or(ts).saturating_sub(off);
                while i < s.samples.len() && s.samples[i].t <= r {
                    i += 1;
                }
                if i == 0 {
                    continue;
                }
                let p = s.samples[i - 1];
                if p.t > r.saturating_sub(lb) && !is_stale_nan(p.v) {
                    pts.push(Sample { t: ts, v: p.v });
                    self.pushed(pts.len())?;
                }
            }
            pts.shrink_to_fit();
            self.touched(pts.len());
            if !pts.is_empty() {
                self.finish_series(pts.len())?;
                out.push(Series { labels: s.labels.clone(), points: pts, drop_name: false });
            }
        }
        Ok(out)
    }

    fn matrix_selector_instant(&self, m: &pp::MatrixSelector) -> Result<Matrix> {
        let data = self.load(&m.vs)?;
        let r = self.at_ms(&m.vs.at).unwrap_or(self.start).saturating_sub(offset_ms(&m.vs.offset));
        let range = ms(m.range);
        let mut out = Vec::new();
        for s in data.iter() {
            let pts: Vec<Sample> =
                window(&s.samples, r.saturating_sub(range), r).iter().filter(|p| !is_stale_nan(p.v)).copied().collect();
            self.touched(pts.len());
            if !pts.is_empty() {
                self.add_samples(pts.len())?;
                out.push(Series { labels: s.labels.clone(), points: pts, drop_name: false });
            }
        }
        Ok(out)
    }

    /// Evaluates a subquery's inner expression on its own step grid.
    pub(crate) fn run_subquery(&self, sq: &pp::SubqueryExpr) -> Result<Matrix> {
        let off = offset_ms(&sq.offset);
        let range = ms(sq.range);
        let (ps, pe) = match self.at_ms(&sq.at) {
            Some(a) => (a, a),
            None => (self.start, self.start + ((self.end - self.start) / self.interval) * self.interval),
        };
        let interval = match sq.step.map(ms) {
            Some(s) if s > 0 => s,
            _ => self.sh.subquery_step.max(1),
        };
        let end = pe.saturating_sub(off);
        let lo = ps.saturating_sub(off).saturating_sub(range);
        let mut start = interval * (lo / interval);
        if start <= lo {
            start = start.saturating_add(interval);
        }
        let child = Ev { start, end, interval, sh: self.sh };
        child.eval_matrix(&sq.expr)
    }
}

/// The latest sample at or before `r` within the lookback window `(r - lb, r]`, unless stale.
pub(crate) fn lookup(samples: &[Sample], r: i64, lb: i64) -> Option<Sample> {
    let i = samples.partition_point(|p| p.t <= r);
    if i == 0 {
        return None;
    }
    let p = samples[i - 1];
    if p.t > r.saturating_sub(lb) && !is_stale_nan(p.v) { Some(p) } else { None }
}

/// Samples with `lo < t <= hi`.
pub(crate) fn window(samples: &[Sample], lo: i64, hi: i64) -> &[Sample] {
    let a = samples.partition_point(|p| p.t <= lo);
    let b = samples.partition_point(|p| p.t <= hi);
    if a >= b { &[] } else { &samples[a..b] }
}

/// Compiled regex matchers by (kind, name, pattern), shared by all queries: dashboards repeat
/// the same selectors, and compiling a regex costs more than matching a block's postings.
type MatcherCache = HashMap<(MatchType, String, String), Matcher>;
static REGEX_MATCHERS: std::sync::LazyLock<std::sync::Mutex<MatcherCache>> =
    std::sync::LazyLock::new(|| std::sync::Mutex::new(HashMap::new()));
/// Entries kept before the cache is emptied (a crude bound; patterns are small).
const REGEX_CACHE_LIMIT: usize = 1024;

fn convert_matcher(m: &promql_parser::label::Matcher) -> Result<Matcher> {
    use promql_parser::label::MatchOp;
    let kind = match m.op {
        MatchOp::Equal => MatchType::Equal,
        MatchOp::NotEqual => MatchType::NotEqual,
        MatchOp::Re(_) => MatchType::Regex,
        MatchOp::NotRe(_) => MatchType::NotRegex,
    };
    let compile =
        || Matcher::new(kind, m.name.clone(), m.value.clone()).map_err(|e| QueryError::BadData(e.to_string()));
    if matches!(kind, MatchType::Equal | MatchType::NotEqual) {
        return compile();
    }
    let key = (kind, m.name.clone(), m.value.clone());
    if let Some(hit) = REGEX_MATCHERS.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let matcher = compile()?;
    if let Ok(mut c) = REGEX_MATCHERS.lock() {
        if c.len() >= REGEX_CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, matcher.clone());
    }
    Ok(matcher)
}

/// Go's `math.Max` (NaN wins).
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min` (NaN wins).
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn lookback_is_left_open() {
        let d = [s(0, 1.0), s(10, 2.0)];
        assert_eq!(lookup(&d, 10, 5).map(|p| p.v), Some(2.0));
        assert_eq!(lookup(&d, 15, 5), None);
        assert_eq!(lookup(&d, 14, 5).map(|p| p.v), Some(2.0));
        assert_eq!(lookup(&d, -1, 5), None);
        let stale = [s(0, 1.0), s(5, f64::from_bits(storage::STALE_NAN_BITS))];
        assert_eq!(lookup(&stale, 6, 100), None);
    }

    #[test]
    fn windows_are_left_open() {
        let d = [s(0, 1.0), s(10, 2.0), s(20, 3.0)];
        assert_eq!(window(&d, 0, 20).len(), 2);
        assert_eq!(window(&d, -1, 20).len(), 3);
        assert_eq!(window(&d, 20, 30).len(), 0);
    }
}
