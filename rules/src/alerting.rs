//! Alerting rules and the alert state machine of Prometheus's `rules/alerting.go`.
//!
//! Each evaluation turns the query's samples into alerts (labels: the sample's labels without
//! `__name__`, plus the rule's labels expanded as templates, plus `alertname`; annotations
//! expanded per sample), then moves every known alert along
//! `pending --(for elapsed)--> firing --(absent, keep_firing_for elapsed)--> inactive`.
//! A pending alert that disappears is dropped at once; a resolved one is kept for 15 minutes so
//! its resolution keeps being sent. The output is `ALERTS{alertstate=...} 1` and
//! `ALERTS_FOR_STATE = activeAt` (seconds) per pending or firing alert, once the rule's `for`
//! state has been restored (or needs no restoring).

use std::collections::HashMap;

use crate::alert::{Fingerprint, LabelMap, fingerprint, label_map};
use crate::source::QuerySource;
use crate::template::{Template, TemplateContext};

/// The metric of the synthetic alert series.
pub const ALERTS: &str = "ALERTS";
/// The metric holding each alert's `activeAt` (Unix seconds), read back after a restart.
pub const ALERTS_FOR_STATE: &str = "ALERTS_FOR_STATE";
/// How long a resolved alert is kept (and re-sent) after it resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Prometheus's error for two samples that give one alert label set.
pub const ERR_DUPLICATE_ALERT: &str = "vector contains metrics with the same labelset after applying alert labels";

/// An alert's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    /// Prometheus's spelling (`inactive`, `pending`, `firing`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One active (or resolved, retained) alert of an alerting rule. Times are Unix ms, 0 = unset.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertInstance {
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub state: AlertState,
    pub active_at_ms: i64,
    pub fired_at_ms: i64,
    pub resolved_at_ms: i64,
    pub last_sent_ms: i64,
    /// Until when the last notification is valid (`endsAt` of a firing alert).
    pub valid_until_ms: i64,
    pub keep_firing_since_ms: i64,
    pub value: f64,
}

impl AlertInstance {
    /// Prometheus's `needsSending`: never while pending; at once after a resolution not yet
    /// sent; otherwise when the resend delay has passed since the last send.
    pub fn needs_sending(&self, ts_ms: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if self.resolved_at_ms > self.last_sent_ms {
            return true;
        }
        self.last_sent_ms + resend_delay_ms < ts_ms
    }
}

/// A label or annotation whose value is a template.
#[derive(Clone, Debug)]
pub(crate) struct Templated {
    pub(crate) name: String,
    tmpl: Template,
}

/// Parses label or annotation templates as `__alert_<rule>`.
pub(crate) fn templates(rule: &str, m: &LabelMap) -> Result<Vec<Templated>, String> {
    let tname = format!("__alert_{rule}");
    m.iter()
        .map(|(k, v)| {
            Template::parse(&tname, v)
                .map(|tmpl| Templated { name: k.clone(), tmpl })
                .map_err(|e| format!("{k:?}: {e}"))
        })
        .collect()
}

/// An alerting rule and its alerts.
#[derive(Clone, Debug)]
pub struct AlertingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) for_ms: i64,
    pub(crate) keep_firing_for_ms: i64,
    pub(crate) labels: LabelMap,
    pub(crate) annotations: LabelMap,
    label_tmpls: Vec<Templated>,
    annotation_tmpls: Vec<Templated>,
    /// Whether the `for` state is restored; until then no `ALERTS*` series are written.
    pub(crate) restored: bool,
    pub(crate) active: HashMap<Fingerprint, AlertInstance>,
    /// `expr` parsed, set by the group that runs the rule.
    pub(crate) ast: Option<std::sync::Arc<query::Expr>>,
}

/// What an alerting rule evaluates with besides the query.
pub struct AlertEnv<'a> {
    pub external_labels: &'a LabelMap,
    pub external_url: &'a str,
    /// 0: no limit.
    pub limit: usize,
}

impl AlertingRule {
    /// A rule; `labels` are the group's labels overlaid with the rule's. Fails on a label or
    /// annotation template that does not parse.
    pub fn new(
        name: &str,
        expr: &str,
        for_ms: i64,
        keep_firing_for_ms: i64,
        labels: LabelMap,
        annotations: LabelMap,
    ) -> Result<Self, String> {
        Ok(AlertingRule {
            name: name.into(),
            expr: expr.into(),
            for_ms,
            keep_firing_for_ms,
            label_tmpls: templates(name, &labels).map_err(|e| format!("label {e}"))?,
            annotation_tmpls: templates(name, &annotations).map_err(|e| format!("annotation {e}"))?,
            labels,
            annotations,
            restored: true,
            active: HashMap::new(),
            ast: None,
        })
    }

    /// The alerts, pending, firing and resolved-but-retained, sorted by labels.
    pub fn alerts(&self) -> Vec<&AlertInstance> {
        let mut v: Vec<&AlertInstance> = self.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The highest state of its alerts (`Inactive` when none is pending or firing).
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }

    /// One evaluation at `ts_ms`, querying at `ts_ms - query_offset_ms`. Returns the
    /// `ALERTS`/`ALERTS_FOR_STATE` samples (stamped `ts_ms - query_offset_ms`).
    pub fn eval(
        &mut self,
        ts_ms: i64,
        query_offset_ms: i64,
        src: &dyn QuerySource,
        env: &AlertEnv<'_>,
    ) -> Result<Vec<(LabelMap, f64)>, String> {
        let qts = ts_ms - query_offset_ms;
        let res = match &self.ast {
            Some(ast) => src.instant_parsed(&self.expr, ast, qts),
            None => src.instant(&self.expr, qts),
        }
        .map_err(|e| e.0)?;
        let res: Vec<(LabelMap, f64)> = res.iter().map(|s| (label_map(&s.labels), s.v)).collect();
        self.eval_results(ts_ms, &res, src, env)
    }

    /// The alert state step of [`AlertingRule::eval`] on an already computed result (the
    /// vector the expression returned): anomaly and forecast rules feed their own.
    pub(crate) fn eval_results(
        &mut self,
        ts_ms: i64,
        res: &[(LabelMap, f64)],
        src: &dyn QuerySource,
        env: &AlertEnv<'_>,
    ) -> Result<Vec<(LabelMap, f64)>, String> {
        let query_fn = |q: &str| -> Result<Vec<(LabelMap, f64)>, String> {
            let v = src.instant(q, ts_ms).map_err(|e| e.0)?;
            Ok(v.iter().map(|s| (label_map(&s.labels), s.v)).collect())
        };
        let mut fresh: HashMap<Fingerprint, AlertInstance> = HashMap::with_capacity(res.len());
        for (sample_labels, value) in res {
            let ctx = TemplateContext {
                labels: sample_labels,
                value: *value,
                external_labels: env.external_labels,
                external_url: env.external_url,
                query: Some(&query_fn),
            };
            let expand = |t: &Templated| match t.tmpl.render_at(&ctx, ts_ms) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(alert = %self.name, error = %e, "expanding alert template failed");
                    format!("<error expanding template: {e}>")
                }
            };
            let mut labels = sample_labels.clone();
            labels.remove(storage::METRIC_NAME);
            for t in &self.label_tmpls {
                set(&mut labels, &t.name, expand(t));
            }
            set(&mut labels, "alertname", self.name.clone());
            let mut annotations = LabelMap::new();
            for t in &self.annotation_tmpls {
                annotations.insert(t.name.clone(), expand(t));
            }
            let fp = fingerprint(&labels);
            if fresh.contains_key(&fp) {
                return Err(ERR_DUPLICATE_ALERT.into());
            }
            fresh.insert(
                fp,
                AlertInstance {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    active_at_ms: ts_ms,
                    fired_at_ms: 0,
                    resolved_at_ms: 0,
                    last_sent_ms: 0,
                    valid_until_ms: 0,
                    keep_firing_since_ms: 0,
                    value: *value,
                },
            );
        }
        let result_fps: std::collections::HashSet<Fingerprint> = fresh.keys().copied().collect();
        for (fp, a) in fresh {
            match self.active.get_mut(&fp) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(fp, a);
                }
            }
        }

        let mut out = Vec::new();
        let mut active_pending = 0usize;
        let mut remove = Vec::new();
        // Iterate in label order so the output is deterministic.
        let mut fps: Vec<Fingerprint> = self.active.keys().copied().collect();
        fps.sort_by(|x, y| self.active[x].labels.cmp(&self.active[y].labels));
        for fp in fps {
            let Some(a) = self.active.get_mut(&fp) else { continue };
            if !result_fps.contains(&fp) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    if a.keep_firing_since_ms == 0 {
                        a.keep_firing_since_ms = ts_ms;
                    }
                    if ts_ms - a.keep_firing_since_ms < self.keep_firing_for_ms {
                        keep_firing = true;
                    }
                }
                if a.state == AlertState::Pending
                    || (a.resolved_at_ms != 0 && ts_ms - a.resolved_at_ms > RESOLVED_RETENTION_MS)
                {
                    remove.push(fp);
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = ts_ms;
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since_ms = 0;
            }
            active_pending += 1;
            if a.state == AlertState::Pending && ts_ms - a.active_at_ms >= self.for_ms {
                a.state = AlertState::Firing;
                a.fired_at_ms = ts_ms;
            }
            if a.state == AlertState::Firing && ts_ms - a.active_at_ms < self.for_ms {
                a.state = AlertState::Pending;
                a.fired_at_ms = 0;
                a.last_sent_ms = 0;
                a.keep_firing_since_ms = 0;
            }
            if self.restored {
                let (rl, name) = (&self.labels, &self.name);
                out.push((series_labels(rl, name, ALERTS, Some(a), Some(a.state)), 1.0));
                let active_at_s = a.active_at_ms.div_euclid(1000) as f64;
                out.push((series_labels(rl, name, ALERTS_FOR_STATE, Some(a), None), active_at_s));
            }
        }
        for fp in remove {
            self.active.remove(&fp);
        }
        if env.limit > 0 && active_pending > env.limit {
            self.active.clear();
            return Err(format!("exceeded limit of {} with {} alerts", env.limit, active_pending));
        }
        Ok(out)
    }

    /// The labels of an `ALERTS` (with a state) or `ALERTS_FOR_STATE` series: the rule's
    /// labels overlaid with the alert's, the metric name and `alertname`.
    pub(crate) fn series(&self, metric: &str, a: Option<&AlertInstance>, state: Option<AlertState>) -> LabelMap {
        series_labels(&self.labels, &self.name, metric, a, state)
    }
}

fn series_labels(
    rule_labels: &LabelMap,
    name: &str,
    metric: &str,
    a: Option<&AlertInstance>,
    state: Option<AlertState>,
) -> LabelMap {
    {
        let mut l = rule_labels.clone();
        if let Some(a) = a {
            l.extend(a.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        l.retain(|_, v| !v.is_empty());
        l.insert(storage::METRIC_NAME.into(), metric.into());
        l.insert("alertname".into(), name.to_string());
        if let Some(s) = state {
            l.insert("alertstate".into(), s.as_str().into());
        }
        l
    }
}

/// Prometheus's `labels.Builder.Set`: an empty value deletes the label.
fn set(m: &mut LabelMap, k: &str, v: String) {
    if v.is_empty() {
        m.remove(k);
    } else {
        m.insert(k.to_string(), v);
    }
}
