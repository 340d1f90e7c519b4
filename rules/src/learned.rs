//! Rules that learn (docs/anomaly.md):
//!
//! - `anomaly:` rules keep one detector ([`crate::anomaly`]) per series of `expr`, or, with
//!   `features`, one multivariate model per target (the `on` labels) over several named
//!   expressions. Every evaluation feeds each series its new sample (the detectors update
//!   incrementally, never over the whole window) and writes `anomaly_score`,
//!   `anomaly_expected`, `anomaly_lower` and `anomaly_upper` for it (labels: the series' own
//!   without `__name__`, the rule's labels, and `anomaly="<rule name>"`). Series at or above
//!   `min_level` become alerts labelled `severity="medium|high|critical"` with the score as
//!   value, through the same alert state as alerting rules (`for`, `keep_firing_for`,
//!   templates, `ALERTS`).
//! - `forecast:` rules keep a model ([`crate::anomaly::LinearTrend`] or
//!   [`crate::anomaly::HoltWinters`]) per series and write `forecast_value`, `forecast_lower`
//!   and `forecast_upper` for `horizon` ahead, plus `forecast_crossing_seconds` when the
//!   forecast reaches `threshold` within the horizon; those series alert (value: the seconds
//!   left). [`ForecastRule::capacity`] is what `/api/v1/capacity` shows.
//!
//! Memory is bounded: at most `max_series` series are tracked per rule (more are counted as
//! dropped and shown in the rule's health), and a series not seen for [`FORGET_AFTER_MS`] is
//! forgotten. The state serialises ([`LearnedState`]) so the server can persist it and
//! restore it at start.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::alert::{LabelMap, label_map};
use crate::alerting::{AlertEnv, AlertingRule};
use crate::anomaly::gmm::{Gmm, GmmModel};
use crate::anomaly::holt_winters::{HoltWinters, HoltWintersParams};
use crate::anomaly::linear::{LinearParams, LinearTrend};
use crate::anomaly::{AnyDetector, Detector, DetectorSpec, Forecast, Forecaster, Level, Readiness};
use crate::source::QuerySource;

/// A series not returned by the expression for this long is forgotten (its model with it).
pub const FORGET_AFTER_MS: i64 = 24 * 3_600_000;
/// Default of `max_series`.
pub const DEFAULT_MAX_SERIES: usize = 10_000;
/// Forecast horizons are searched for the threshold crossing in this many steps.
const CROSSING_STEPS: i64 = 64;

/// What an `anomaly:` rule learns and how it alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyDef {
    pub detector: DetectorSpec,
    /// Series at or above this level alert (`severity` is the sample's own level).
    pub min_level: Level,
    pub max_series: usize,
    /// Multivariate rules: `(name, expr)` of each feature, joined on the `on` labels.
    pub features: Vec<(String, String)>,
    pub on: Vec<String>,
    /// How often a multivariate model is fitted again (in the background).
    pub retrain_ms: i64,
}

/// Which way a forecast must not go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Above,
    Below,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
    fn crossed(self, value: f64, threshold: f64) -> bool {
        match self {
            Direction::Above => value >= threshold,
            Direction::Below => value <= threshold,
        }
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "above" => Ok(Direction::Above),
            "below" => Ok(Direction::Below),
            _ => Err(format!("direction must be \"above\" or \"below\", got {s:?}")),
        }
    }
}

/// What a `forecast:` rule predicts and when it alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct ForecastDef {
    pub model: ForecastModel,
    pub horizon_ms: i64,
    pub threshold: f64,
    pub direction: Direction,
    pub max_series: usize,
}

/// A forecasting model: `linear:window=6h,buckets=36,min_samples=10` or
/// `holt_winters:period=1d,...` (the detector's parameters).
#[derive(Clone, Debug, PartialEq)]
pub enum ForecastModel {
    Linear(LinearParams),
    HoltWinters(HoltWintersParams),
}

impl FromStr for ForecastModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        match kind.trim() {
            "holt_winters" => match s.parse::<DetectorSpec>().map_err(|e| e.to_string())? {
                DetectorSpec::HoltWinters(p) => Ok(ForecastModel::HoltWinters(p)),
                _ => unreachable!("a holt_winters spec parses as holt_winters"),
            },
            "linear" => {
                let mut p = LinearParams::default();
                for item in rest.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let (k, v) = item.split_once('=').ok_or_else(|| format!("bad model {s:?}: want name=value"))?;
                    let bad = |why: &str| format!("linear: {k}={v:?}: {why}");
                    match k.trim() {
                        "window" => {
                            p.window_ms = crate::notify::duration::parse(v.trim())?.ms();
                            if p.window_ms <= 0 {
                                return Err(bad("must be positive"));
                            }
                        }
                        "buckets" => {
                            p.buckets = v.trim().parse().map_err(|_| bad("not a whole number"))?;
                            if !(1..=10_000).contains(&p.buckets) {
                                return Err(bad("must be in 1..=10000"));
                            }
                        }
                        "min_samples" => {
                            p.min_samples = v.trim().parse().map_err(|_| bad("not a whole number"))?;
                            if p.min_samples < 2 {
                                return Err(bad("must be at least 2"));
                            }
                        }
                        other => {
                            return Err(format!(
                                "linear: unknown parameter {other:?} (known: window, buckets, min_samples)"
                            ));
                        }
                    }
                }
                Ok(ForecastModel::Linear(p))
            }
            other => Err(format!("unknown forecast model {other:?} (known: linear, holt_winters)")),
        }
    }
}

impl fmt::Display for ForecastModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForecastModel::Linear(p) => write!(
                f,
                "linear:window={},buckets={},min_samples={}",
                crate::notify::duration::Duration(p.window_ms),
                p.buckets,
                p.min_samples
            ),
            ForecastModel::HoltWinters(p) => write!(f, "{}", DetectorSpec::HoltWinters(p.clone())),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum AnyForecaster {
    Linear(LinearTrend),
    HoltWinters(HoltWinters),
}

impl AnyForecaster {
    fn new(m: &ForecastModel) -> Self {
        match m {
            ForecastModel::Linear(p) => AnyForecaster::Linear(LinearTrend::new(p.clone())),
            ForecastModel::HoltWinters(p) => AnyForecaster::HoltWinters(HoltWinters::new(p.clone())),
        }
    }
    fn observe(&mut self, ts_ms: i64, v: f64) {
        match self {
            AnyForecaster::Linear(m) => m.observe(ts_ms, v),
            AnyForecaster::HoltWinters(m) => m.observe(ts_ms, v),
        }
    }
    fn forecast(&self, h: i64) -> Option<Forecast> {
        match self {
            AnyForecaster::Linear(m) => m.forecast(h),
            AnyForecaster::HoltWinters(m) => m.forecast(h),
        }
    }
    fn memory_bytes(&self) -> usize {
        match self {
            AnyForecaster::Linear(m) => m.memory_bytes(),
            AnyForecaster::HoltWinters(m) => m.memory_bytes(),
        }
    }
}

/// A learned rule's state for rule health: series tracked, warming up, dropped, memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LearnStatus {
    /// `anomaly` or `forecast`.
    pub kind: &'static str,
    /// The detector or model, in its canonical spec form.
    pub model: String,
    pub tracked_series: usize,
    /// Series whose model cannot score yet (cold start).
    pub warming_up: usize,
    /// The least ready series' progress (`warming up: n of m samples`), if any is warming up.
    pub readiness: Option<String>,
    /// New series not tracked because `max_series` was reached, at the last evaluation.
    pub dropped_series: usize,
    /// Bytes of every tracked series' state.
    pub memory_bytes: usize,
    /// The last background training error of a multivariate model.
    pub model_error: Option<String>,
}

/// One forecast as `/api/v1/capacity` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CapacityItem {
    pub rule: String,
    pub labels: LabelMap,
    /// The last sample the model saw.
    pub value: f64,
    pub threshold: f64,
    pub direction: Direction,
    pub horizon_ms: i64,
    /// The forecast at the horizon.
    pub forecast: Forecast,
    /// When the forecast reaches the threshold (ms since the epoch), within the horizon.
    pub crossing_at_ms: Option<i64>,
    /// The band's earliest and latest crossing within the horizon: the upper band crosses a
    /// threshold above first (the lower one for below).
    pub crossing_earliest_ms: Option<i64>,
    pub crossing_latest_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tracked<M> {
    model: M,
    last_seen_ms: i64,
}

/// The serialised state of a learned rule (for persistence), tagged with the model spec and
/// expression it was learned with: a changed rule starts afresh.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LearnedState {
    pub fingerprint: String,
    pub series: serde_json::Value,
}

/// The output series of one scored or forecast series.
fn output(base: &LabelMap, rule_labels: &LabelMap, key: &str, name: &str) -> LabelMap {
    let mut l = base.clone();
    for (k, v) in rule_labels {
        if v.is_empty() {
            l.remove(k);
        } else {
            l.insert(k.clone(), v.clone());
        }
    }
    l.insert(key.to_string(), name.to_string());
    l
}

fn named(l: &LabelMap, metric: &str) -> LabelMap {
    let mut l = l.clone();
    l.insert(storage::METRIC_NAME.into(), metric.into());
    l
}

fn without_name(l: &storage::Labels) -> LabelMap {
    let mut m = label_map(l);
    m.remove(storage::METRIC_NAME);
    m
}

fn query(
    src: &dyn QuerySource,
    expr: &str,
    ast: Option<&Arc<query::Expr>>,
    t: i64,
) -> Result<Vec<query::InstantSample>, String> {
    match ast {
        Some(a) => src.instant_parsed(expr, a, t),
        None => src.instant(expr, t),
    }
    .map_err(|e| e.0)
}

/// Whether `key` is tracked or may be (fewer than `max` tracked); counts a refusal in `dropped`.
fn admit<M>(series: &HashMap<LabelMap, Tracked<M>>, key: &LabelMap, max: usize, dropped: &mut usize) -> bool {
    if series.contains_key(key) || series.len() < max {
        return true;
    }
    *dropped += 1;
    false
}

/// Forgets series not seen since `ts_ms - FORGET_AFTER_MS`.
fn forget<M>(series: &mut HashMap<LabelMap, Tracked<M>>, ts_ms: i64) {
    series.retain(|_, t| ts_ms - t.last_seen_ms <= FORGET_AFTER_MS);
}

/// A multivariate model being fitted on another thread.
type Fitting = Arc<Mutex<Option<Result<GmmModel, String>>>>;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct MultiState {
    gmm: Gmm,
    last_fit_ms: i64,
    #[serde(skip)]
    fitting: Option<Fitting>,
}

/// An `anomaly:` rule.
#[derive(Clone, Debug)]
pub struct AnomalyRule {
    /// Alert state, name, expression, `for`, labels and annotations.
    pub(crate) alert: AlertingRule,
    pub(crate) def: AnomalyDef,
    features_ast: Vec<Arc<query::Expr>>,
    series: HashMap<LabelMap, Tracked<AnyDetector>>,
    multi: HashMap<LabelMap, Tracked<MultiState>>,
    dropped: usize,
    model_error: Option<String>,
    /// The scores of the last evaluation (series labels without `__name__`), for health scores.
    last_scores: Vec<(LabelMap, f64)>,
}

impl AnomalyRule {
    /// `alert` carries the name, expression, `for`, labels and annotations.
    pub fn new(alert: AlertingRule, def: AnomalyDef) -> Result<Self, String> {
        let mut features_ast = Vec::new();
        for (name, expr) in &def.features {
            features_ast
                .push(Arc::new(query::parse(expr).map_err(|e| format!("feature {name:?}: could not parse: {e}"))?));
        }
        if !def.features.is_empty() {
            def.detector.build_multivariate(def.features.len()).map_err(|e| e.to_string())?;
        }
        Ok(AnomalyRule {
            alert,
            def,
            features_ast,
            series: HashMap::new(),
            multi: HashMap::new(),
            dropped: 0,
            model_error: None,
            last_scores: Vec::new(),
        })
    }

    /// The scores of the last evaluation, by series.
    pub fn last_scores(&self) -> &[(LabelMap, f64)] {
        &self.last_scores
    }

    /// What the state is valid for.
    pub fn fingerprint(&self) -> String {
        let feats: Vec<String> = self.def.features.iter().map(|(n, e)| format!("{n}={e}")).collect();
        format!("anomaly|{}|{}|{}|{}", self.def.detector, self.alert.expr, feats.join(";"), self.def.on.join(","))
    }

    /// One evaluation at `ts_ms` (queries at `ts_ms - query_offset_ms`): the score series and
    /// the alert series.
    pub fn eval(
        &mut self,
        ts_ms: i64,
        query_offset_ms: i64,
        src: &dyn QuerySource,
        env: &AlertEnv<'_>,
    ) -> Result<Vec<(LabelMap, f64)>, String> {
        let qts = ts_ms - query_offset_ms;
        let scored =
            if self.def.features.is_empty() { self.score_each(src, qts)? } else { self.score_multi(src, qts)? };
        let name = self.alert.name.clone();
        let mut out = Vec::with_capacity(scored.len() * 4);
        let mut alerting = Vec::new();
        self.last_scores = scored.iter().map(|(l, s)| (l.clone(), s.score)).collect();
        for (base, s) in scored {
            let l = output(&base, &self.alert.labels, "anomaly", &name);
            out.push((named(&l, "anomaly_score"), s.score));
            out.push((named(&l, "anomaly_expected"), s.expected));
            out.push((named(&l, "anomaly_lower"), s.lower));
            out.push((named(&l, "anomaly_upper"), s.upper));
            if let Some(level) = s.level.filter(|l| *l >= self.def.min_level) {
                let mut a = base;
                a.insert("severity".into(), level.as_str().into());
                alerting.push((a, s.score));
            }
        }
        out.extend(self.alert.eval_results(ts_ms, &alerting, src, env)?);
        Ok(out)
    }

    fn score_each(
        &mut self,
        src: &dyn QuerySource,
        qts: i64,
    ) -> Result<Vec<(LabelMap, crate::anomaly::Score)>, String> {
        let res = query(src, &self.alert.expr, self.alert.ast.as_ref(), qts)?;
        self.dropped = 0;
        let mut out = Vec::new();
        for s in res {
            let key = without_name(&s.labels);
            if !admit(&self.series, &key, self.def.max_series, &mut self.dropped) {
                continue;
            }
            // Look up before inserting: no key copy for the series already tracked.
            if !self.series.contains_key(&key) {
                self.series.insert(key.clone(), Tracked { model: self.def.detector.build(), last_seen_ms: qts });
            }
            let Some(t) = self.series.get_mut(&key) else { continue };
            t.last_seen_ms = qts;
            if let Some(score) = t.model.update(qts, s.v) {
                out.push((key, score));
            }
        }
        forget(&mut self.series, qts);
        Ok(out)
    }

    fn score_multi(
        &mut self,
        src: &dyn QuerySource,
        qts: i64,
    ) -> Result<Vec<(LabelMap, crate::anomaly::Score)>, String> {
        let n = self.def.features.len();
        let mut rows: HashMap<LabelMap, Vec<Option<f64>>> = HashMap::new();
        for (i, ((_, expr), ast)) in self.def.features.iter().zip(&self.features_ast).enumerate() {
            for s in query(src, expr, Some(ast), qts)? {
                let key: LabelMap = self
                    .def
                    .on
                    .iter()
                    .map(|k| (k.clone(), s.labels.get(k).to_string()))
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                rows.entry(key).or_insert_with(|| vec![None; n])[i] = Some(s.v);
            }
        }
        self.dropped = 0;
        self.model_error = None;
        let mut out = Vec::new();
        let mut keys: Vec<LabelMap> = rows.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let Some(x) = rows[&key].iter().copied().collect::<Option<Vec<f64>>>() else { continue };
            if !admit(&self.multi, &key, self.def.max_series, &mut self.dropped) {
                continue;
            }
            let spec = &self.def.detector;
            let t = self.multi.entry(key.clone()).or_insert_with(|| {
                let mut gmm = spec.build_multivariate(n).expect("checked at build");
                // Fitting happens in the background on the rule's schedule, never inline.
                gmm = Gmm::new(crate::anomaly::gmm::GmmParams { retrain_every: 0, ..gmm.params().clone() }, n);
                Tracked { model: MultiState { gmm, last_fit_ms: i64::MIN, fitting: None }, last_seen_ms: qts }
            });
            t.last_seen_ms = qts;
            let m = &mut t.model;
            // A model fitted in the background since the last evaluation.
            if let Some(f) = m.fitting.clone()
                && let Some(done) = f.lock().take()
            {
                match done {
                    Ok(model) => m.gmm.install(model),
                    Err(e) => self.model_error = Some(e),
                }
                m.fitting = None;
            }
            match m.gmm.update(qts, &x) {
                Ok(Some(score)) => out.push((key, score)),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            let due = m.gmm.model().is_none() || qts - m.last_fit_ms >= self.def.retrain_ms;
            if m.fitting.is_none() && due && m.gmm.needs_retrain() {
                let slot: Fitting = Arc::new(Mutex::new(None));
                let (set, k, s2) = (m.gmm.training_set(), m.gmm.params().components.max(1), slot.clone());
                m.last_fit_ms = qts;
                m.fitting = Some(slot);
                std::thread::spawn(move || {
                    let mut fitted = Err("no components".to_string());
                    // Fewer components when one collapses (few distinct values).
                    for c in (1..=k).rev() {
                        fitted = GmmModel::fit(&set, c).map_err(|e| e.to_string());
                        if fitted.is_ok() {
                            break;
                        }
                    }
                    *s2.lock() = Some(fitted);
                });
            }
        }
        forget(&mut self.multi, qts);
        Ok(out)
    }

    /// Waits for background fits to finish and installs them (tests and backtests).
    pub fn finish_training(&mut self) {
        for t in self.multi.values_mut() {
            if let Some(f) = t.model.fitting.take() {
                loop {
                    if let Some(done) = f.lock().take() {
                        if let Ok(model) = done {
                            t.model.gmm.install(model);
                        }
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    }

    pub fn status(&self) -> LearnStatus {
        let readiness: Vec<Readiness> = if self.def.features.is_empty() {
            self.series.values().map(|t| t.model.readiness()).collect()
        } else {
            self.multi.values().map(|t| t.model.gmm.readiness()).collect()
        };
        let memory = self.series.values().map(|t| t.model.memory_bytes()).sum::<usize>()
            + self.multi.values().map(|t| t.model.gmm.memory_bytes()).sum::<usize>();
        let warming: Vec<&Readiness> = readiness.iter().filter(|r| !r.is_ready()).collect();
        LearnStatus {
            kind: "anomaly",
            model: self.def.detector.to_string(),
            tracked_series: readiness.len(),
            warming_up: warming.len(),
            readiness: warming.iter().min_by_key(|r| (r.samples * 1000).checked_div(r.needed)).map(|r| r.to_string()),
            dropped_series: self.dropped,
            memory_bytes: memory,
            model_error: self.model_error.clone(),
        }
    }

    pub fn state(&self) -> LearnedState {
        let series = if self.def.features.is_empty() {
            serde_json::to_value(self.series.iter().collect::<Vec<_>>())
        } else {
            serde_json::to_value(self.multi.iter().collect::<Vec<_>>())
        };
        LearnedState { fingerprint: self.fingerprint(), series: series.unwrap_or_default() }
    }

    /// Takes over a saved state learned with the same rule; `false` (nothing changes) if it
    /// is another rule's or does not parse.
    pub fn restore(&mut self, st: &LearnedState) -> bool {
        if st.fingerprint != self.fingerprint() {
            return false;
        }
        if self.def.features.is_empty() {
            match serde_json::from_value::<Vec<(LabelMap, Tracked<AnyDetector>)>>(st.series.clone()) {
                Ok(v) => self.series = v.into_iter().collect(),
                Err(_) => return false,
            }
        } else {
            match serde_json::from_value::<Vec<(LabelMap, Tracked<MultiState>)>>(st.series.clone()) {
                Ok(v) => self.multi = v.into_iter().collect(),
                Err(_) => return false,
            }
        }
        true
    }

    /// Takes the learned state of the same rule before a reload.
    pub(crate) fn copy_learned(&mut self, old: &AnomalyRule) {
        if old.fingerprint() == self.fingerprint() {
            self.series = old.series.clone();
            self.multi = old.multi.clone();
        }
    }
}

/// A `forecast:` rule.
#[derive(Clone, Debug)]
pub struct ForecastRule {
    pub(crate) alert: AlertingRule,
    pub(crate) def: ForecastDef,
    series: HashMap<LabelMap, Tracked<AnyForecaster>>,
    last: Vec<CapacityItem>,
    dropped: usize,
}

impl ForecastRule {
    pub fn new(alert: AlertingRule, def: ForecastDef) -> Self {
        ForecastRule { alert, def, series: HashMap::new(), last: Vec::new(), dropped: 0 }
    }

    pub fn fingerprint(&self) -> String {
        format!("forecast|{}|{}", self.def.model, self.alert.expr)
    }

    /// The first time within the horizon at which `pick(forecast)` crosses the threshold.
    fn crossing(&self, m: &AnyForecaster, last_ts: i64, pick: impl Fn(&Forecast) -> f64) -> Option<i64> {
        (0..=CROSSING_STEPS).find_map(|i| {
            let h = self.def.horizon_ms * i / CROSSING_STEPS;
            let f = m.forecast(h)?;
            self.def.direction.crossed(pick(&f), self.def.threshold).then_some(last_ts + h)
        })
    }

    pub fn eval(
        &mut self,
        ts_ms: i64,
        query_offset_ms: i64,
        src: &dyn QuerySource,
        env: &AlertEnv<'_>,
    ) -> Result<Vec<(LabelMap, f64)>, String> {
        let qts = ts_ms - query_offset_ms;
        let res = query(src, &self.alert.expr, self.alert.ast.as_ref(), qts)?;
        let name = self.alert.name.clone();
        let mut out = Vec::new();
        let mut alerting = Vec::new();
        let mut items = Vec::new();
        self.dropped = 0;
        for s in res {
            let key = without_name(&s.labels);
            if !admit(&self.series, &key, self.def.max_series, &mut self.dropped) {
                continue;
            }
            let model = &self.def.model;
            let t = self
                .series
                .entry(key.clone())
                .or_insert_with(|| Tracked { model: AnyForecaster::new(model), last_seen_ms: qts });
            t.last_seen_ms = qts;
            t.model.observe(qts, s.v);
            let Some(f) = t.model.forecast(self.def.horizon_ms) else { continue };
            let m = &self.series[&key].model;
            let (at, upper_first) = (
                self.crossing(m, qts, |f| f.value),
                match self.def.direction {
                    Direction::Above => self.crossing(m, qts, |f| f.upper),
                    Direction::Below => self.crossing(m, qts, |f| f.lower),
                },
            );
            let lower_last = match self.def.direction {
                Direction::Above => self.crossing(m, qts, |f| f.lower),
                Direction::Below => self.crossing(m, qts, |f| f.upper),
            };
            let l = output(&key, &self.alert.labels, "forecast", &name);
            out.push((named(&l, "forecast_value"), f.value));
            out.push((named(&l, "forecast_lower"), f.lower));
            out.push((named(&l, "forecast_upper"), f.upper));
            if let Some(at) = at {
                let secs = (at - qts) as f64 / 1000.0;
                out.push((named(&l, "forecast_crossing_seconds"), secs));
                alerting.push((key.clone(), secs));
            }
            items.push(CapacityItem {
                rule: name.clone(),
                labels: key,
                value: s.v,
                threshold: self.def.threshold,
                direction: self.def.direction,
                horizon_ms: self.def.horizon_ms,
                forecast: f,
                crossing_at_ms: at,
                crossing_earliest_ms: upper_first,
                crossing_latest_ms: lower_last,
            });
        }
        forget(&mut self.series, qts);
        items.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.last = items;
        out.extend(self.alert.eval_results(ts_ms, &alerting, src, env)?);
        Ok(out)
    }

    /// The forecasts of the last evaluation, by labels.
    pub fn capacity(&self) -> &[CapacityItem] {
        &self.last
    }

    pub fn status(&self) -> LearnStatus {
        let warming = self.series.values().filter(|t| t.model.forecast(0).is_none()).count();
        LearnStatus {
            kind: "forecast",
            model: self.def.model.to_string(),
            tracked_series: self.series.len(),
            warming_up: warming,
            readiness: (warming > 0).then(|| format!("{warming} series without enough data to forecast")),
            dropped_series: self.dropped,
            memory_bytes: self.series.values().map(|t| t.model.memory_bytes()).sum(),
            model_error: None,
        }
    }

    pub fn state(&self) -> LearnedState {
        LearnedState {
            fingerprint: self.fingerprint(),
            series: serde_json::to_value(self.series.iter().collect::<Vec<_>>()).unwrap_or_default(),
        }
    }

    pub fn restore(&mut self, st: &LearnedState) -> bool {
        if st.fingerprint != self.fingerprint() {
            return false;
        }
        match serde_json::from_value::<Vec<(LabelMap, Tracked<AnyForecaster>)>>(st.series.clone()) {
            Ok(v) => {
                self.series = v.into_iter().collect();
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn copy_learned(&mut self, old: &ForecastRule) {
        if old.fingerprint() == self.fingerprint() {
            self.series = old.series.clone();
            self.last = old.last.clone();
        }
    }
}

#[cfg(test)]
#[path = "learned/tests.rs"]
mod tests;
