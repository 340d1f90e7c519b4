//! What a backtest found, and how it is printed.
//!
//! The alert timelines are read off the live engine's own state: after each group evaluation
//! the tracker looks at every rule's alerts ([`rules::group::Rule::active_alerts`]) and turns
//! their `activeAt`, `firedAt` and state into episodes. An episode opens when an alert appears
//! (pending, or firing at once without `for`) and closes at the first evaluation where the
//! alert is no longer active (Prometheus's `resolvedAt`; a pending alert that disappears is
//! dropped at that evaluation). An alert that comes back is a new episode (a new `activeAt`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use rules::alert::LabelMap;
use rules::alerting::AlertState;
use rules::group::{Group, RuleKind};

use crate::duration::PromDuration;

/// One stretch of time an alert was active.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// The alert's labels (with `alertname`).
    pub labels: LabelMap,
    /// When it became active (pending, or firing when the rule has no `for`).
    pub active_at_ms: i64,
    /// When it became firing; `None` for a pending period that never fired.
    pub fired_at_ms: Option<i64>,
    /// The first evaluation at which it was no longer active; `None` if still active at the end.
    pub end_ms: Option<i64>,
    /// The highest value of the expression while active.
    pub peak: f64,
}

/// One rule's results.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleReport {
    pub name: String,
    pub kind: RuleKind,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub evaluations: u64,
    /// Evaluations that failed (query error, `limit` exceeded, output rejected).
    pub failures: u64,
    /// The first failure: evaluation time and message.
    pub first_error: Option<(i64, String)>,
    /// Alerts that fired, by start (then labels).
    pub fired: Vec<Episode>,
    /// Pending periods that ended (or the backtest ended) before the alert fired.
    pub pending: Vec<Episode>,
    /// Most series one evaluation wrote (recording rules).
    pub max_series: usize,
}

impl RuleReport {
    /// Total time its alerts were firing; those still firing count until `last_eval_ms`.
    pub fn firing_ms(&self, last_eval_ms: i64) -> i64 {
        self.fired.iter().map(|e| e.end_ms.unwrap_or(last_eval_ms) - e.fired_at_ms.unwrap_or(last_eval_ms)).sum()
    }
}

/// One group's results.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupReport {
    pub name: String,
    pub step_ms: i64,
    pub evaluations: u64,
    /// Timestamp of the last evaluation (0 if none).
    pub last_eval_ms: i64,
    pub rules: Vec<RuleReport>,
}

/// The whole backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub file: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub groups: Vec<GroupReport>,
    pub wall: Duration,
}

impl Report {
    /// Rule evaluations (one rule at one timestamp) of all groups.
    pub fn rule_evaluations(&self) -> u64 {
        self.groups.iter().flat_map(|g| &g.rules).map(|r| r.evaluations).sum()
    }

    pub fn evaluations_per_second(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 { self.rule_evaluations() as f64 / secs } else { 0.0 }
    }
}

/// An episode still open: what the last evaluations showed of one alert.
struct Open {
    active_at_ms: i64,
    fired_at_ms: Option<i64>,
    peak: f64,
}

/// Follows one group's rules through the evaluations.
pub(super) struct GroupTracker {
    report: GroupReport,
    open: Vec<HashMap<LabelMap, Open>>,
}

impl GroupTracker {
    pub(super) fn new(group: &Group, step_ms: i64) -> Self {
        let rules = group
            .rules()
            .iter()
            .map(|r| RuleReport {
                name: r.name().to_string(),
                kind: r.kind(),
                for_ms: r.for_ms(),
                keep_firing_for_ms: r.keep_firing_for_ms(),
                evaluations: 0,
                failures: 0,
                first_error: None,
                fired: Vec::new(),
                pending: Vec::new(),
                max_series: 0,
            })
            .collect();
        GroupTracker {
            report: GroupReport { name: group.name().to_string(), step_ms, evaluations: 0, last_eval_ms: 0, rules },
            open: (0..group.rules().len()).map(|_| HashMap::new()).collect(),
        }
    }

    /// Records the group's state after its evaluation at `ts_ms`; `failures` are the
    /// evaluation's `(rule index, message)`.
    pub(super) fn observe(&mut self, ts_ms: i64, group: &Group, failures: &[(usize, String)]) {
        self.report.evaluations += 1;
        self.report.last_eval_ms = ts_ms;
        for (i, msg) in failures {
            let r = &mut self.report.rules[*i];
            r.failures += 1;
            r.first_error.get_or_insert_with(|| (ts_ms, msg.clone()));
        }
        for (i, rule) in group.rules().iter().enumerate() {
            let (rep, open) = (&mut self.report.rules[i], &mut self.open[i]);
            rep.evaluations += 1;
            rep.max_series = rep.max_series.max(rule.series_in_previous_eval().len());
            let mut seen = std::collections::HashSet::new();
            for a in rule.active_alerts() {
                if a.state == AlertState::Inactive {
                    continue;
                }
                let fired = (a.state == AlertState::Firing).then_some(a.fired_at_ms);
                match open.get_mut(&a.labels) {
                    Some(o) if o.active_at_ms == a.active_at_ms => {
                        o.peak = o.peak.max(a.value);
                        o.fired_at_ms = o.fired_at_ms.or(fired);
                    }
                    _ => {
                        // New, or back with a new activeAt (it ended in between).
                        let fresh = Open { active_at_ms: a.active_at_ms, fired_at_ms: fired, peak: a.value };
                        if let Some(old) = open.insert(a.labels.clone(), fresh) {
                            close(rep, a.labels.clone(), old, Some(ts_ms));
                        }
                    }
                }
                seen.insert(a.labels);
            }
            let ended: Vec<LabelMap> = open.keys().filter(|l| !seen.contains(*l)).cloned().collect();
            for l in ended {
                if let Some(o) = open.remove(&l) {
                    close(rep, l, o, Some(ts_ms));
                }
            }
        }
    }

    /// The report, with the alerts still active at the end left open.
    pub(super) fn finish(mut self) -> GroupReport {
        for (rep, open) in self.report.rules.iter_mut().zip(self.open) {
            for (l, o) in open {
                close(rep, l, o, None);
            }
            rep.fired.sort_by(|a, b| (a.fired_at_ms, &a.labels).cmp(&(b.fired_at_ms, &b.labels)));
            rep.pending.sort_by(|a, b| (a.active_at_ms, &a.labels).cmp(&(b.active_at_ms, &b.labels)));
        }
        self.report
    }
}

fn close(rep: &mut RuleReport, labels: LabelMap, o: Open, end_ms: Option<i64>) {
    let e = Episode { labels, active_at_ms: o.active_at_ms, fired_at_ms: o.fired_at_ms, end_ms, peak: o.peak };
    if e.fired_at_ms.is_some() { rep.fired.push(e) } else { rep.pending.push(e) }
}

/// RFC 3339 in UTC, with milliseconds only when there are some.
pub fn rfc3339(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => ms.to_string(),
    }
}

fn duration(ms: i64) -> String {
    PromDuration(Duration::from_millis(u64::try_from(ms).unwrap_or(0))).to_string()
}

/// `{k="v", ...}` without `alertname` (the rule's heading names it).
fn alert_labels(l: &LabelMap) -> String {
    let parts: Vec<String> = l
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={}", storage::labels::go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn kind_name(k: RuleKind) -> &'static str {
    match k {
        RuleKind::Recording => "record",
        RuleKind::Alerting => "alert",
    }
}

/// The report as text: per group and rule the alerts that fired (start, end, how long, peak,
/// labels) and the pending periods that never fired, then the summary.
pub fn render_text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Backtest of {} from {} to {}", r.file, rfc3339(r.from_ms), rfc3339(r.to_ms));
    let mut fired_total = 0;
    for g in &r.groups {
        let _ = writeln!(s, "\ngroup {:?}: every {}, {} evaluations", g.name, duration(g.step_ms), g.evaluations);
        for rule in &g.rules {
            let _ = write!(s, "\n  {} {}", kind_name(rule.kind), rule.name);
            if rule.kind == RuleKind::Alerting {
                fired_total += rule.fired.len();
                let _ = write!(s, " (for {}", duration(rule.for_ms));
                if rule.keep_firing_for_ms > 0 {
                    let _ = write!(s, ", keep_firing_for {}", duration(rule.keep_firing_for_ms));
                }
                let _ = write!(
                    s,
                    "): {} fired, firing {} in total, {} pending never fired",
                    rule.fired.len(),
                    duration(rule.firing_ms(g.last_eval_ms)),
                    rule.pending.len()
                );
            } else {
                let _ = write!(s, ": up to {} series", rule.max_series);
            }
            let _ = writeln!(s, "; {} evaluations, {} failed", rule.evaluations, rule.failures);
            if let Some((t, e)) = &rule.first_error {
                let _ = writeln!(s, "    first failure at {}: {e}", rfc3339(*t));
            }
            for e in &rule.fired {
                let start = e.fired_at_ms.unwrap_or(e.active_at_ms);
                let _ = writeln!(s, "    {}", episode_line("firing ", start, e, g.last_eval_ms, "still firing"));
            }
            for e in &rule.pending {
                let _ =
                    writeln!(s, "    {}", episode_line("pending", e.active_at_ms, e, g.last_eval_ms, "still pending"));
            }
        }
    }
    let rules: usize = r.groups.iter().map(|g| g.rules.len()).sum();
    let _ = writeln!(
        s,
        "\nSummary: {} group(s), {rules} rule(s), {fired_total} alert(s) fired; {} rule evaluations in {:.3}s ({:.0} evaluations/s)",
        r.groups.len(),
        r.rule_evaluations(),
        r.wall.as_secs_f64(),
        r.evaluations_per_second()
    );
    s
}

fn episode_line(what: &str, start: i64, e: &Episode, last_eval_ms: i64, open: &str) -> String {
    let (end, took) = match e.end_ms {
        Some(end) => (rfc3339(end), duration(end - start)),
        None => (open.to_string(), format!("{}+", duration(last_eval_ms - start))),
    };
    format!(
        "{what} {} -> {end:<20} {took:<8} peak {:<10} {}",
        rfc3339(start),
        query::format_go_g(e.peak),
        alert_labels(&e.labels)
    )
}

/// The report as one JSON document (times RFC 3339, durations in seconds).
pub fn render_json(r: &Report) -> serde_json::Value {
    use serde_json::json;
    let episode = |e: &Episode| {
        json!({
            "labels": e.labels,
            "active_at": rfc3339(e.active_at_ms),
            "start": e.fired_at_ms.map(rfc3339),
            "end": e.end_ms.map(rfc3339),
            "peak": finite(e.peak),
        })
    };
    let groups: Vec<serde_json::Value> = r
        .groups
        .iter()
        .map(|g| {
            let rules: Vec<serde_json::Value> = g
                .rules
                .iter()
                .map(|rule| {
                    json!({
                        "name": rule.name,
                        "kind": kind_name(rule.kind),
                        "for_seconds": rule.for_ms as f64 / 1000.0,
                        "keep_firing_for_seconds": rule.keep_firing_for_ms as f64 / 1000.0,
                        "evaluations": rule.evaluations,
                        "failures": rule.failures,
                        "first_error": rule.first_error.as_ref().map(|(t, e)| json!({"at": rfc3339(*t), "error": e})),
                        "alerts_fired": rule.fired.len(),
                        "firing_seconds": rule.firing_ms(g.last_eval_ms) as f64 / 1000.0,
                        "alerts": rule.fired.iter().map(episode).collect::<Vec<_>>(),
                        "pending_never_fired": rule.pending.iter().map(episode).collect::<Vec<_>>(),
                        "max_series": rule.max_series,
                    })
                })
                .collect();
            json!({
                "name": g.name,
                "step_seconds": g.step_ms as f64 / 1000.0,
                "evaluations": g.evaluations,
                "rules": rules,
            })
        })
        .collect();
    json!({
        "file": r.file,
        "from": rfc3339(r.from_ms),
        "to": rfc3339(r.to_ms),
        "groups": groups,
        "summary": {
            "rule_evaluations": r.rule_evaluations(),
            "wall_seconds": r.wall.as_secs_f64(),
            "evaluations_per_second": r.evaluations_per_second(),
        },
    })
}

/// JSON has no NaN or infinity: those become strings, as Prometheus writes sample values.
fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() { serde_json::json!(v) } else { serde_json::json!(query::format_go_g(v)) }
}
