//! One rule group (Prometheus's `rules/group.go`): its rules evaluated in order at each tick,
//! their output appended, stale markers written for series a rule wrote last time and not
//! now (`seriesInPreviousEval`), the alerts' `for` state restored after a restart from
//! `ALERTS_FOR_STATE`, and the alerts due to be sent.
//!
//! A group is plain synchronous state driven with explicit timestamps; the
//! [`crate::manager`] owns the clock and the scheduling.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use storage::Labels;

use crate::alert::{Alert, LabelMap};
use crate::alerting::{ALERTS_FOR_STATE, AlertEnv, AlertInstance, AlertingRule};
use crate::file::GroupDef;
use crate::recording::RecordingRule;
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
    prev_series: BTreeSet<Labels>,
}

impl Rule {
    fn new(imp: RuleImpl) -> Self {
        Rule {
            imp,
            health: RuleHealth::Unknown,
            last_error: None,
            last_eval_ms: 0,
            eval_duration: Duration::ZERO,
            prev_series: BTreeSet::new(),
        }
    }
    pub fn kind(&self) -> RuleKind {
        match self.imp {
            RuleImpl::Recording(_) => RuleKind::Recording,
            RuleImpl::Alerting(_) => RuleKind::Alerting,
        }
    }
    /// The `record` or `alert` name.
    pub fn name(&self) -> &str {
        match &self.imp {
            RuleImpl::Recording(r) => &r.name,
            RuleImpl::Alerting(r) => &r.name,
        }
    }
    pub fn query(&self) -> &str {
        match &self.imp {
            RuleImpl::Recording(r) => &r.expr,
            RuleImpl::Alerting(r) => &r.expr,
        }
    }
    /// The rule's labels (the group's overlaid with the rule's own).
    pub fn labels(&self) -> &LabelMap {
        match &self.imp {
            RuleImpl::Recording(r) => &r.labels,
            RuleImpl::Alerting(r) => &r.labels,
        }
    }
    /// Annotations (alerting rules only; empty for recording rules).
    pub fn annotations(&self) -> &LabelMap {
        static EMPTY: LabelMap = LabelMap::new();
        match &self.imp {
            RuleImpl::Recording(_) => &EMPTY,
            RuleImpl::Alerting(r) => &r.annotations,
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
    /// The alerting rule, for its alerts and state.
    pub fn alerting(&self) -> Option<&AlertingRule> {
        match &self.imp {
            RuleImpl::Alerting(r) => Some(r),
            RuleImpl::Recording(_) => None,
        }
    }
    /// The alerting rule's pending, firing and retained resolved alerts, sorted by labels
    /// (Prometheus's API shows `active_alerts().filter(resolved_at_ms == 0)`).
    pub fn active_alerts(&self) -> Vec<AlertInstance> {
        self.alerting().map(|r| r.alerts().into_iter().cloned().collect()).unwrap_or_default()
    }
    /// The series written by the last successful evaluation.
    pub fn series_in_previous_eval(&self) -> &BTreeSet<Labels> {
        &self.prev_series
    }
    /// Prometheus's `nameAndLabels`: how reloads match old rules to new.
    fn identity(&self) -> (RuleKind, &str, &LabelMap) {
        (self.kind(), self.name(), self.labels())
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
            let ast = query::parse(&r.expr).map_err(|e| rule_err(format!("could not parse expression: {e}")))?;
            let ast = Some(std::sync::Arc::new(ast));
            let mut labels = def.labels.clone();
            labels.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            let imp = match (&r.record, &r.alert) {
                (Some(rec), None) => {
                    RuleImpl::Recording(RecordingRule { ast, ..RecordingRule::new(rec, &r.expr, labels) })
                }
                (None, Some(a)) => {
                    let mut rule =
                        AlertingRule::new(a, &r.expr, r.for_ms, r.keep_firing_for_ms, labels, r.annotations.clone())
                            .map_err(rule_err)?;
                    rule.ast = ast;
                    RuleImpl::Alerting(rule)
                }
                _ => return Err(rule_err("exactly one of 'record' and 'alert' must be set".into())),
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
            if let RuleImpl::Alerting(a) = &mut r.imp {
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
            let res = match &mut rule.imp {
                RuleImpl::Recording(r) => r.eval(ts_ms, self.query_offset_ms, src, self.limit),
                RuleImpl::Alerting(r) => {
                    let env = AlertEnv {
                        external_labels: &self.opts.external_labels,
                        external_url: &self.opts.external_url,
                        limit: self.limit,
                    };
                    r.eval(ts_ms, self.query_offset_ms, src, &env)
                }
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
            let RuleImpl::Alerting(ar) = &mut r.imp else { continue };
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
            if let (RuleImpl::Alerting(new), RuleImpl::Alerting(prev)) = (&mut r.imp, &from.imp) {
                new.active.extend(prev.active.iter().map(|(k, v)| (*k, v.clone())));
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
        self.rules.iter_mut().filter_map(|r| match &mut r.imp {
            RuleImpl::Alerting(a) => Some(a),
            RuleImpl::Recording(_) => None,
        })
    }
}

/// Appends one rule's output and its stale markers in one transaction; updates the rule's
/// previous-series set on success. Returns the error that made the rule unhealthy, if any.
fn append(rule: &mut Rule, ts: i64, samples: Vec<(LabelMap, f64)>, out: &dyn storage::Appendable) -> Option<String> {
    let mut app = out.appender();
    let mut returned = BTreeSet::new();
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
mod tests;
