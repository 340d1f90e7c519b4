//! One rule group (Prometheus's `rules/group.go`): its rules evaluated in order at each tick,
//! their output appended, stale markers written for series a rule wrote last time and not
//! now (`seriesInPreviousEval`), the alerts' `for` state restored after a restart from
//! `ALERTS_FOR_STATE`, and the alerts due to be sent.
//!
//! A group is plain synchronous state driven with explicit timestamps; the
//! [`crate::manager`] owns the clock and the scheduling.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use storage::Labels;

use crate::alert::{Alert, LabelMap};
use crate::alerting::{ALERTS_FOR_STATE, AlertEnv, AlertInstance, AlertingRule};
use crate::file::GroupDef;
use crate::learned::{AnomalyRule, CapacityItem, ForecastRule, LearnStatus, LearnedState};
use crate::recording::RecordingRule;

static EMPTY_LABELS: LabelMap = LabelMap::new();
use crate::source::QuerySource;

mod restore;

/// Options shared by all groups.
#[derive(Clone, Debug)]
pub struct GroupOptions {
    pub external_labels: LabelMap,
    pub external_url: String,
    /// The interval of groups that set none.
    pub default_interval_ms: i64,
    /// Minimum time between two sends of an unchanged alert.
    pub resend_delay_ms: i64,
    /// How far back `ALERTS_FOR_STATE` is looked up when restoring.
    pub outage_tolerance_ms: i64,
    /// Alerts with a `for` shorter than this are not restored; restored ones get at least
    /// this long before they fire.
    pub for_grace_period_ms: i64,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            external_labels: LabelMap::new(),
            external_url: String::new(),
            default_interval_ms: 60_000,
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
        }
    }
}

/// A group that cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{file}: group {group:?}: {msg}")]
pub struct GroupError {
    pub file: String,
    pub group: String,
    pub msg: String,
}

/// The kind of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Recording,
    Alerting,
}

/// A rule's health after its last evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleHealth {
    Unknown,
    Ok,
    Err,
}

impl RuleHealth {
    /// Prometheus's spelling (`unknown`, `ok`, `err`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Ok => "ok",
            RuleHealth::Err => "err",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum RuleImpl {
    Recording(RecordingRule),
    Alerting(AlertingRule),
    Anomaly(Box<AnomalyRule>),
    Forecast(Box<ForecastRule>),
}

impl RuleImpl {
    /// The alert state of an alerting, anomaly or forecast rule.
    fn alerting(&self) -> Option<&AlertingRule> {
        match self {
            RuleImpl::Alerting(r) => Some(r),
            RuleImpl::Anomaly(r) => Some(&r.alert),
            RuleImpl::Forecast(r) => Some(&r.alert),
            RuleImpl::Recording(_) => None,
        }
    }
    fn alerting_mut(&mut self) -> Option<&mut AlertingRule> {
        match self {
            RuleImpl::Alerting(r) => Some(r),
            RuleImpl::Anomaly(r) => Some(&mut r.alert),
            RuleImpl::Forecast(r) => Some(&mut r.alert),
            RuleImpl::Recording(_) => None,
        }
    }
}

/// A rule of a group with its evaluation status.
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) imp: RuleImpl,
    health: RuleHealth,
    last_error: Option<String>,
    last_eval_ms: i64,
    eval_duration: Duration,
    /// The series the last successful evaluation wrote (Prometheus's `seriesInPreviousEval`).
    prev_series: HashSet<Labels>,
}

impl Rule {
    fn new(imp: RuleImpl) -> Self {
        Rule {
            imp,
            health: RuleHealth::Unknown,
            last_error: None,
            last_eval_ms: 0,
            eval_duration: Duration::ZERO,
            prev_series: HashSet::new(),
        }
    }
    /// Recording, or alerting (anomaly and forecast rules raise alerts: see
    /// [`Rule::learned_kind`]).
    pub fn kind(&self) -> RuleKind {
        match self.imp {
            RuleImpl::Recording(_) => RuleKind::Recording,
            _ => RuleKind::Alerting,
        }
    }
    /// `anomaly` or `forecast` for rules that learn; `None` for Prometheus's rules.
    pub fn learned_kind(&self) -> Option<&'static str> {
        match self.imp {
            RuleImpl::Anomaly(_) => Some("anomaly"),
            RuleImpl::Forecast(_) => Some("forecast"),
            _ => None,
        }
    }
    /// The `record`, `alert`, `anomaly` or `forecast` name.
    pub fn name(&self) -> &str {
        match &self.imp {
            RuleImpl::Recording(r) => &r.name,
            other => other.alerting().map_or("", |a| a.name.as_str()),
        }
    }
    /// The expression (a multivariate anomaly rule's features, `name=expr` joined by `; `).
    pub fn query(&self) -> String {
        match &self.imp {
            RuleImpl::Recording(r) => r.expr.clone(),
            RuleImpl::Anomaly(r) if !r.def.features.is_empty() => {
                r.def.features.iter().map(|(n, e)| format!("{n}={e}")).collect::<Vec<_>>().join("; ")
            }
            other => other.alerting().map_or(String::new(), |a| a.expr.clone()),
        }
    }
    /// The rule's labels (the group's overlaid with the rule's own).
    pub fn labels(&self) -> &LabelMap {
        match &self.imp {
            RuleImpl::Recording(r) => &r.labels,
            other => other.alerting().map_or(&EMPTY_LABELS, |a| &a.labels),
        }
    }
    /// Annotations (empty for recording rules).
    pub fn annotations(&self) -> &LabelMap {
        self.imp.alerting().map_or(&EMPTY_LABELS, |a| &a.annotations)
    }
    /// The learning state of an anomaly or forecast rule (series, cold start, memory).
    pub fn learn_status(&self) -> Option<LearnStatus> {
        match &self.imp {
            RuleImpl::Anomaly(r) => Some(r.status()),
            RuleImpl::Forecast(r) => Some(r.status()),
            _ => None,
        }
    }
    /// The last scores of an anomaly rule, by series.
    pub fn anomaly_scores(&self) -> &[(LabelMap, f64)] {
        match &self.imp {
            RuleImpl::Anomaly(r) => r.last_scores(),
            _ => &[],
        }
    }
    /// The last forecasts of a forecast rule.
    pub fn capacity(&self) -> &[CapacityItem] {
        match &self.imp {
            RuleImpl::Forecast(r) => r.capacity(),
            _ => &[],
        }
    }
    pub fn for_ms(&self) -> i64 {
        self.alerting().map_or(0, |r| r.for_ms)
    }
    pub fn keep_firing_for_ms(&self) -> i64 {
        self.alerting().map_or(0, |r| r.keep_firing_for_ms)
    }
    pub fn health(&self) -> RuleHealth {
        self.health
    }
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// When the rule was last evaluated (the group's evaluation timestamp), 0 if never.
    pub fn last_eval_ms(&self) -> i64 {
        self.last_eval_ms
    }
    pub fn eval_duration(&self) -> Duration {
        self.eval_duration
    }
    /// The alert state (alerting, anomaly and forecast rules), for its alerts.
    pub fn alerting(&self) -> Option<&AlertingRule> {
        self.imp.alerting()
    }
    /// The alerting rule's pending, firing and retained resolved alerts, sorted by labels
    /// (Prometheus's API shows `active_alerts().filter(resolved_at_ms == 0)`).
    pub fn active_alerts(&self) -> Vec<AlertInstance> {
        self.alerting().map(|r| r.alerts().into_iter().cloned().collect()).unwrap_or_default()
    }
    /// The series written by the last successful evaluation.
    pub fn series_in_previous_eval(&self) -> &HashSet<Labels> {
        &self.prev_series
    }
    /// Prometheus's `nameAndLabels`: how reloads match old rules to new.
    fn identity(&self) -> (RuleKind, Option<&'static str>, &str, &LabelMap) {
        (self.kind(), self.learned_kind(), self.name(), self.labels())
    }
}

/// What one group evaluation did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalReport {
    /// Samples the rules produced (stale markers not counted), as Prometheus's
    /// `rule_group_last_evaluation_samples`.
    pub samples: usize,
    /// `(rule index, message)` for each rule that failed.
    pub failures: Vec<(usize, String)>,
    pub duration: Duration,
}

/// A rule group.
#[derive(Debug)]
pub struct Group {
    name: String,
    file: String,
    interval_ms: i64,
    query_offset_ms: i64,
    limit: usize,
    rules: Vec<Rule>,
    opts: GroupOptions,
    /// Series of rules dropped by a reload, to be marked stale at the next evaluation.
    stale_series: Vec<Labels>,
    awaiting_restore: bool,
    last_eval_ms: i64,
    last_duration: Duration,
}

impl Group {
    /// Builds the group of `def` from file `file`. Group labels are overlaid by rule labels.
    pub fn new(file: &str, def: &GroupDef, opts: &GroupOptions) -> Result<Group, GroupError> {
        let err = |msg: String| GroupError { file: file.into(), group: def.name.clone(), msg };
        let mut rules = Vec::with_capacity(def.rules.len());
        for (i, r) in def.rules.iter().enumerate() {
            let rule_err = |m: String| err(format!("rule {}, {:?}: {m}", i + 1, r.name()));
            let multivariate = r.anomaly.as_ref().is_some_and(|(_, d)| !d.features.is_empty());
            let ast = if multivariate {
                None
            } else {
                let ast = query::parse(&r.expr).map_err(|e| rule_err(format!("could not parse expression: {e}")))?;
                Some(std::sync::Arc::new(ast))
            };
            let mut labels = def.labels.clone();
            labels.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            let alerting = |name: &str, ast: Option<std::sync::Arc<query::Expr>>| {
                AlertingRule::new(name, &r.expr, r.for_ms, r.keep_firing_for_ms, labels.clone(), r.annotations.clone())
                    .map(|mut rule| {
                        rule.ast = ast;
                        rule
                    })
            };
            let imp = match (&r.record, &r.alert, &r.anomaly, &r.forecast) {
                (Some(rec), None, None, None) => {
                    RuleImpl::Recording(RecordingRule { ast, ..RecordingRule::new(rec, &r.expr, labels) })
                }
                (None, Some(a), None, None) => RuleImpl::Alerting(alerting(a, ast).map_err(rule_err)?),
                (None, None, Some((a, def)), None) => {
                    let inner = alerting(a, ast).map_err(rule_err)?;
                    RuleImpl::Anomaly(Box::new(AnomalyRule::new(inner, def.clone()).map_err(rule_err)?))
                }
                (None, None, None, Some((a, def))) => {
                    RuleImpl::Forecast(Box::new(ForecastRule::new(alerting(a, ast).map_err(rule_err)?, def.clone())))
                }
                _ => {
                    return Err(rule_err(
                        "exactly one of 'record', 'alert', 'anomaly' and 'forecast' must be set".into(),
                    ));
                }
            };
            rules.push(Rule::new(imp));
        }
        let interval_ms = def.interval_ms.filter(|&i| i > 0).unwrap_or(opts.default_interval_ms);
        if interval_ms <= 0 {
            return Err(err(format!("invalid evaluation interval {interval_ms}ms")));
        }
        Ok(Group {
            name: def.name.clone(),
            file: file.into(),
            interval_ms,
            query_offset_ms: def.query_offset_ms.unwrap_or(0),
            limit: def.limit,
            rules,
            opts: opts.clone(),
            stale_series: Vec::new(),
            awaiting_restore: false,
            last_eval_ms: 0,
            last_duration: Duration::ZERO,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn file(&self) -> &str {
        &self.file
    }
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }
    pub fn query_offset_ms(&self) -> i64 {
        self.query_offset_ms
    }
    pub fn limit(&self) -> usize {
        self.limit
    }
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    /// The timestamp of the last evaluation (0 if never).
    pub fn last_eval_ms(&self) -> i64 {
        self.last_eval_ms
    }
    pub fn last_duration(&self) -> Duration {
        self.last_duration
    }
    /// `"<file>;<name>"`, Prometheus's `GroupKey` (the `rule_group` metric label).
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }

    /// Marks the group as started with the server (Prometheus's `ShouldRestore`): its alerting
    /// rules write no `ALERTS*` series until [`Group::restore_for_state`] ran.
    pub fn set_awaiting_restore(&mut self) {
        self.awaiting_restore = true;
        for r in &mut self.rules {
            if let Some(a) = r.imp.alerting_mut() {
                a.restored = false;
            }
        }
    }
    pub fn awaiting_restore(&self) -> bool {
        self.awaiting_restore
    }

    /// Prometheus's `EvalTimestamp`: the latest evaluation slot at or before `now_ms`. Slots are
    /// `interval` apart, shifted by a per-group offset (`hash(file, name) % interval`) so that
    /// groups spread over the interval.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval_ns = u64::try_from(self.interval_ms).unwrap_or(1).max(1) * 1_000_000;
        let h = Labels::from_pairs([("file", self.file.as_str()), ("name", self.name.as_str())]).hash64();
        // The offset in ms (Prometheus's is in ns; ours drops the sub-millisecond part so that
        // slots are whole milliseconds).
        let offset = i64::try_from((h % interval_ns) / 1_000_000).unwrap_or(0);
        let adj = now_ms - offset;
        adj - adj.rem_euclid(self.interval_ms) + offset
    }

    /// Evaluates every rule in order at `ts_ms` (queries at `ts_ms - query_offset`), appends
    /// the output and stale markers through `out`, one commit per rule as Prometheus.
    pub fn eval(&mut self, ts_ms: i64, src: &dyn QuerySource, out: &dyn storage::Appendable) -> EvalReport {
        let started = Instant::now();
        let mut report = EvalReport::default();
        let out_ts = ts_ms - self.query_offset_ms;
        for i in 0..self.rules.len() {
            let t0 = Instant::now();
            let rule = &mut self.rules[i];
            let env = AlertEnv {
                external_labels: &self.opts.external_labels,
                external_url: &self.opts.external_url,
                limit: self.limit,
            };
            let res = match &mut rule.imp {
                RuleImpl::Recording(r) => r.eval(ts_ms, self.query_offset_ms, src, self.limit),
                RuleImpl::Alerting(r) => r.eval(ts_ms, self.query_offset_ms, src, &env),
                RuleImpl::Anomaly(r) => r.eval(ts_ms, self.query_offset_ms, src, &env),
                RuleImpl::Forecast(r) => r.eval(ts_ms, self.query_offset_ms, src, &env),
            };
            match res {
                Err(e) => {
                    tracing::warn!(group = %self.name, rule = %rule.name(), error = %e, "evaluating rule failed");
                    rule.health = RuleHealth::Err;
                    rule.last_error = Some(e.clone());
                    report.failures.push((i, e));
                }
                Ok(samples) => {
                    rule.health = RuleHealth::Ok;
                    rule.last_error = None;
                    report.samples += samples.len();
                    if let Some(e) = append(rule, out_ts, samples, out) {
                        report.failures.push((i, e));
                    }
                }
            }
            rule.last_eval_ms = ts_ms;
            rule.eval_duration = t0.elapsed();
        }
        if !self.stale_series.is_empty() {
            let mut app = out.appender();
            for l in &self.stale_series {
                let _ = app.append(None, l, out_ts, f64::from_bits(storage::STALE_NAN_BITS));
            }
            match app.commit_unsynced() {
                Ok(_) => self.stale_series.clear(),
                Err(e) => tracing::warn!(group = %self.name, error = %e, "stale markers for removed rules not written"),
            }
        }
        self.last_eval_ms = ts_ms;
        self.last_duration = started.elapsed();
        report.duration = self.last_duration;
        report
    }

    /// Writes stale markers at `ts_ms` for every series the group wrote last (as Prometheus
    /// does for a group removed by a reload) and forgets them.
    pub fn mark_stale(&mut self, ts_ms: i64, out: &dyn storage::Appendable) {
        let ts = ts_ms - self.query_offset_ms;
        let mut app = out.appender();
        let series = self.rules.iter_mut().flat_map(|r| std::mem::take(&mut r.prev_series));
        for l in series.chain(self.stale_series.drain(..)) {
            let _ = app.append(None, &l, ts, f64::from_bits(storage::STALE_NAN_BITS));
        }
        if let Err(e) = app.commit_unsynced() {
            tracing::warn!(group = %self.name, error = %e, "stale markers of a removed group not written");
        }
    }

    /// Prometheus's `RestoreForState`: see [`restore`].
    pub fn restore_for_state(&mut self, ts_ms: i64, src: &dyn QuerySource) {
        restore::restore_for_state(self, ts_ms, src);
        self.awaiting_restore = false;
    }

    /// The alerts to hand to the notifier after an evaluation at `ts_ms` (Prometheus's
    /// `sendAlerts`): of each alerting rule whose last evaluation succeeded, every firing or
    /// resolved alert not sent within the resend delay (a new resolution is sent at once).
    /// Marks them sent; a firing alert is valid until `ts + 4 × max(resend delay, interval)`.
    pub fn alerts_to_send(&mut self, ts_ms: i64) -> Vec<Alert> {
        let delta = self.interval_ms.max(self.opts.resend_delay_ms);
        let mut out = Vec::new();
        for r in &mut self.rules {
            if r.health != RuleHealth::Ok {
                continue;
            }
            let Some(ar) = r.imp.alerting_mut() else { continue };
            let url = format!("{}{}", self.opts.external_url, table_link(&ar.expr));
            let mut alerts: Vec<&mut AlertInstance> = ar.active.values_mut().collect();
            alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
            for a in alerts {
                if !a.needs_sending(ts_ms, self.opts.resend_delay_ms) {
                    continue;
                }
                a.last_sent_ms = ts_ms;
                a.valid_until_ms = ts_ms + 4 * delta;
                let resolved = a.resolved_at_ms != 0;
                out.push(Alert {
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at_ms: a.active_at_ms,
                    ends_at_ms: if resolved { a.resolved_at_ms } else { a.valid_until_ms },
                    resolved,
                    generator_url: url.clone(),
                });
            }
        }
        out
    }

    /// Prometheus's `CopyState` on reload: a rule of `old` with the same kind, name and labels
    /// (the first not yet taken, in order) hands over its alerts and the series it wrote;
    /// series of old rules without a successor are marked stale at the next evaluation.
    pub fn copy_state_from(&mut self, old: &Group) {
        self.last_eval_ms = old.last_eval_ms;
        self.last_duration = old.last_duration;
        let mut taken = vec![false; old.rules.len()];
        for r in &mut self.rules {
            let Some(fi) = (0..old.rules.len()).find(|&j| !taken[j] && old.rules[j].identity() == r.identity()) else {
                continue;
            };
            taken[fi] = true;
            let from = &old.rules[fi];
            r.prev_series = from.prev_series.clone();
            if let (Some(new), Some(prev)) = (r.imp.alerting_mut(), from.imp.alerting()) {
                new.active.extend(prev.active.iter().map(|(k, v)| (*k, v.clone())));
            }
            match (&mut r.imp, &from.imp) {
                (RuleImpl::Anomaly(new), RuleImpl::Anomaly(prev)) => new.copy_learned(prev),
                (RuleImpl::Forecast(new), RuleImpl::Forecast(prev)) => new.copy_learned(prev),
                _ => {}
            }
        }
        self.stale_series = old.stale_series.clone();
        for (j, r) in old.rules.iter().enumerate() {
            if !taken[j] {
                self.stale_series.extend(r.prev_series.iter().cloned());
            }
        }
    }

    fn alerting_rules_mut(&mut self) -> impl Iterator<Item = &mut AlertingRule> {
        self.rules.iter_mut().filter_map(|r| r.imp.alerting_mut())
    }

    /// The learned state of each anomaly and forecast rule, by rule name (for persistence).
    pub fn learned_state(&self) -> Vec<(String, LearnedState)> {
        self.rules
            .iter()
            .filter_map(|r| match &r.imp {
                RuleImpl::Anomaly(a) => Some((r.name().to_string(), a.state())),
                RuleImpl::Forecast(f) => Some((r.name().to_string(), f.state())),
                _ => None,
            })
            .collect()
    }

    /// Restores saved learned states into the rules of the same name learned with the same
    /// model and expression; returns how many were taken.
    pub fn restore_learned_state(&mut self, saved: &[(String, LearnedState)]) -> usize {
        let mut n = 0;
        for r in &mut self.rules {
            let name = r.name().to_string();
            let Some((_, st)) = saved.iter().find(|(s, _)| *s == name) else { continue };
            let ok = match &mut r.imp {
                RuleImpl::Anomaly(a) => a.restore(st),
                RuleImpl::Forecast(f) => f.restore(st),
                _ => false,
            };
            n += usize::from(ok);
        }
        n
    }

    /// Waits for the background model fits of multivariate anomaly rules (tests, backtests).
    pub fn finish_training(&mut self) {
        for r in &mut self.rules {
            if let RuleImpl::Anomaly(a) = &mut r.imp {
                a.finish_training();
            }
        }
    }
}

/// Appends one rule's output and its stale markers in one transaction; updates the rule's
/// previous-series set on success. Returns the error that made the rule unhealthy, if any.
fn append(rule: &mut Rule, ts: i64, samples: Vec<(LabelMap, f64)>, out: &dyn storage::Appendable) -> Option<String> {
    let mut app = out.appender();
    let mut returned = HashSet::with_capacity(rule.prev_series.len());
    let mut failed = None;
    for (l, v) in samples {
        let labels = Labels::from_pairs(l.iter());
        match app.append(None, &labels, ts, v) {
            Ok(_) => {
                returned.insert(labels);
            }
            Err(e) => {
                tracing::debug!(rule = %rule.name(), error = %e, series = %labels, "rule evaluation result discarded");
                failed = Some(e.to_string());
            }
        }
    }
    for l in rule.prev_series.iter().filter(|l| !returned.contains(*l)) {
        // Out-of-order, too old or duplicate stale markers are expected and ignored.
        let _ = app.append(None, l, ts, f64::from_bits(storage::STALE_NAN_BITS));
    }
    match app.commit_unsynced() {
        Ok(_) => rule.prev_series = returned,
        Err(e) => failed = Some(e.to_string()),
    }
    if let Some(e) = &failed {
        rule.health = RuleHealth::Err;
        rule.last_error = Some(e.clone());
    }
    failed
}

/// Prometheus's `strutil.TableLinkForExpression`.
pub fn table_link(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", query_escape(expr))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The selector of a rule's `ALERTS_FOR_STATE` series (template-valued labels skipped).
fn for_state_selector(r: &AlertingRule) -> String {
    let l = r.series(ALERTS_FOR_STATE, None, None);
    let ms: Vec<String> = l
        .iter()
        .filter(|(k, v)| k.as_str() != storage::METRIC_NAME && !v.contains("{{"))
        .map(|(k, v)| format!("{k}={}", storage::labels::go_quote(v)))
        .collect();
    format!("{ALERTS_FOR_STATE}{{{}}}", ms.join(","))
}

#[cfg(test)]
#[path = "group/tests.rs"]
pub(crate) mod tests;
