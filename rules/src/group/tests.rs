//! Group evaluation on the real in-memory head through the local engine, with explicit
//! timestamps (no clock, no sleeps).

use std::sync::Arc;

use expect_test::{Expect, expect};
use query::{Engine, EngineOptions};
use storage::head::{Head, HeadOptions};
use storage::querier::BlockQuerier;
use storage::{Appendable, Labels, Matcher, Querier, Queryable, is_stale_nan};

use super::*;
use crate::source::LocalSource;

/// The head read through the block querier, as the database reads its head.
struct HeadQ(Arc<Head>);

impl Queryable for HeadQ {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
        let reader = self.0.range_reader(mint, maxt);
        Ok(Box::new(BlockQuerier::new(&reader, mint, maxt)?))
    }
}

pub(crate) struct Env {
    head: Arc<Head>,
    src: LocalSource,
    opts: GroupOptions,
}

pub(crate) const M: i64 = 60_000;

pub(crate) fn env() -> Env {
    let head = Head::open(HeadOptions { dir: None, out_of_order_window: i64::MAX / 4, ..HeadOptions::default() })
        .expect("in-memory head");
    let src = LocalSource { engine: Engine::new(EngineOptions::default()), db: Arc::new(HeadQ(head.clone())) };
    let opts = GroupOptions { external_url: "http://tick".into(), for_grace_period_ms: M, ..GroupOptions::default() };
    Env { head, src, opts }
}

impl Env {
    fn out(&self) -> &dyn Appendable {
        &self.head
    }

    /// Appends `(minute, value)` samples to the series `labels` (`name=value` pairs).
    pub(crate) fn add(&self, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let l = Labels::from_pairs(labels.iter().copied());
        let mut app = self.out().appender();
        for &(t, v) in samples {
            app.append(None, &l, t * M, v).expect("append");
        }
        app.commit().expect("commit");
    }

    /// A group `g` (interval 1m) of the given rules (YAML list items).
    pub(crate) fn group(&self, rules: &str) -> Group {
        self.group_with(rules, "")
    }

    fn group_with(&self, rules: &str, group_fields: &str) -> Group {
        let text = format!("groups:\n- name: g\n  interval: 1m\n{group_fields}  rules:\n{rules}");
        let f = crate::file::parse("r.yml", &text).unwrap_or_else(|e| panic!("{e:?}"));
        Group::new("r.yml", &f.groups[0], &self.opts).expect("group")
    }

    pub(crate) fn eval(&self, g: &mut Group, minute: i64) -> EvalReport {
        g.eval(minute * M, &self.src, self.out())
    }

    /// Every stored series whose name matches `re`, with its samples as `minute:value`.
    pub(crate) fn dump(&self, re: &str) -> String {
        let q = HeadQ(self.head.clone()).querier(i64::MIN / 4, i64::MAX / 4).expect("querier");
        let set = q.select(true, None, &[Matcher::regex("__name__", re).expect("regex")]).expect("select");
        let mut out = String::new();
        for s in set {
            let s = s.expect("series");
            let labels = s.labels.to_string();
            let samples: Vec<String> = s
                .collect_samples()
                .expect("samples")
                .iter()
                .map(|p| {
                    let v = if is_stale_nan(p.v) { "stale".to_string() } else { p.v.to_string() };
                    format!("{}:{v}", fmt_min(p.t))
                })
                .collect();
            out.push_str(&format!("{labels} {}\n", samples.join(" ")));
        }
        out
    }
}

fn fmt_min(t: i64) -> String {
    if t % M == 0 { format!("{}", t / M) } else { format!("{}s", t / 1000) }
}

/// One line per rule: health and error, and for alerting rules each alert's state.
pub(crate) fn status(g: &Group) -> String {
    let mut lines = Vec::new();
    for r in g.rules() {
        let mut s = format!("{} {}", r.name(), r.health().as_str());
        if let Some(e) = r.last_error() {
            s.push_str(&format!(" ({e})"));
        }
        for a in r.active_alerts() {
            let labels: Vec<String> =
                a.labels.iter().filter(|(k, _)| k.as_str() != "alertname").map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!(" [{} {} active@{}", labels.join(","), a.state.as_str(), fmt_min(a.active_at_ms)));
            if a.resolved_at_ms != 0 {
                s.push_str(&format!(" resolved@{}", fmt_min(a.resolved_at_ms)));
            }
            s.push(']');
        }
        lines.push(s);
    }
    lines.join("; ")
}

/// Evaluates at each minute and renders the status and the alerts sent, one line a minute.
fn timeline(e: &Env, g: &mut Group, minutes: impl IntoIterator<Item = i64>) -> String {
    let mut out = String::new();
    for m in minutes {
        e.eval(g, m);
        let sent: Vec<String> = g
            .alerts_to_send(m * M)
            .iter()
            .map(|a| {
                let kind = if a.resolved { "resolved" } else { "firing" };
                format!(
                    "{kind}({} starts@{} ends@{})",
                    a.labels["alertname"],
                    fmt_min(a.starts_at_ms),
                    fmt_min(a.ends_at_ms)
                )
            })
            .collect();
        out.push_str(&format!("{m:03}: {}", status(g)));
        if !sent.is_empty() {
            out.push_str(&format!(" => {}", sent.join(", ")));
        }
        out.push('\n');
    }
    out
}

fn check(got: String, expected: Expect) {
    expected.assert_eq(&got);
}

#[test]
fn recording_rule_output_labels_and_stale_markers() {
    let e = env();
    e.add(&[("__name__", "up"), ("job", "a"), ("instance", "1")], &[(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)]);
    e.add(&[("__name__", "up"), ("job", "a"), ("instance", "2")], &[(0, 0.0), (1, 0.0)]);
    e.add(&[("__name__", "up"), ("job", "b"), ("instance", "3")], &[(0, 1.0)]);
    let mut g = e.group("  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {team: x}\n  - record: inst\n    expr: up{job=\"a\"}\n    labels: {job: ''}\n");
    for m in [0, 1, 2, 3, 4] {
        // up{instance="2"} ends at 1 (gone from 7 on with the 5m lookback): use a shorter view.
        let r = e.eval(&mut g, m);
        assert!(r.failures.is_empty(), "{r:?}");
    }
    // Stale markers once a series is gone: make instance 2 disappear for `inst` by staleness.
    e.add(&[("__name__", "up"), ("job", "a"), ("instance", "2")], &[(5, f64::from_bits(storage::STALE_NAN_BITS))]);
    e.eval(&mut g, 5);
    e.eval(&mut g, 6);
    check(
        e.dump("job:up:sum|inst"),
        expect![[r#"
        {__name__="inst", instance="1"} 0:1 1:1 2:1 3:1 4:1 5:1 6:1
        {__name__="inst", instance="2"} 0:0 1:0 2:0 3:0 4:0 5:stale
        {__name__="job:up:sum", job="a", team="x"} 0:1 1:1 2:1 3:1 4:1 5:1 6:1
        {__name__="job:up:sum", job="b", team="x"} 0:1 1:1 2:1 3:1 4:1 5:stale
    "#]],
    );
    check(status(&g), expect!["job:up:sum ok; inst ok"]);
}

#[test]
fn recording_rule_of_a_scalar_and_query_offset() {
    let e = env();
    let mut g = e.group_with("  - record: one\n    expr: 1 + 1\n", "  query_offset: 30s\n");
    e.eval(&mut g, 1);
    check(
        e.dump("one"),
        expect![[r#"
        {__name__="one"} 30s:2
    "#]],
    );
}

#[test]
fn rule_errors_are_recorded_as_health_err() {
    let e = env();
    e.add(&[("__name__", "up"), ("instance", "1")], &[(0, 1.0)]);
    e.add(&[("__name__", "up"), ("instance", "2")], &[(0, 1.0)]);
    let mut g = e.group(
        "  - record: dup\n    expr: up\n    labels: {instance: x}\n  - record: matrix\n    expr: up[5m]\n  - record: m2m\n    expr: up * on() up\n  - alert: Dup\n    expr: up\n    labels: {instance: x}\n  - record: fine\n    expr: up\n",
    );
    let r = e.eval(&mut g, 1);
    check(
        format!("{:?}", r.failures),
        expect![[
            r#"[(0, "vector contains metrics with the same labelset after applying rule labels"), (1, "rule result is not a vector or scalar (got matrix)"), (2, "found duplicate series for the match group {} on the right hand-side of the operation: [{__name__=\"up\", instance=\"1\"}, {__name__=\"up\", instance=\"2\"}];many-to-many matching not allowed: matching labels must be unique on one side"), (3, "vector contains metrics with the same labelset after applying alert labels")]"#
        ]],
    );
    check(
        status(&g).replace("; ", "\n"),
        expect![[r#"
        dup err (vector contains metrics with the same labelset after applying rule labels)
        matrix err (rule result is not a vector or scalar (got matrix))
        m2m err (found duplicate series for the match group {} on the right hand-side of the operation: [{__name__="up", instance="1"}, {__name__="up", instance="2"}];many-to-many matching not allowed: matching labels must be unique on one side)
        Dup err (vector contains metrics with the same labelset after applying alert labels)
        fine ok"#]],
    );
    check(
        e.dump(".+"),
        expect![[r#"
        {__name__="fine", instance="1"} 1:1
        {__name__="fine", instance="2"} 1:1
        {__name__="up", instance="1"} 0:1
        {__name__="up", instance="2"} 0:1
    "#]],
    );
}

#[test]
fn limits() {
    let e = env();
    e.add(&[("__name__", "up"), ("instance", "1")], &[(0, 1.0)]);
    e.add(&[("__name__", "up"), ("instance", "2")], &[(0, 1.0)]);
    let mut g = e.group_with(
        "  - record: r\n    expr: up\n  - alert: A\n    expr: up\n  - record: ok\n    expr: sum(up)\n",
        "  limit: 1\n",
    );
    e.eval(&mut g, 1);
    check(
        status(&g).replace("; ", "\n"),
        expect![[r#"
        r err (exceeded limit of 1 with 2 series)
        A err (exceeded limit of 1 with 2 alerts)
        ok ok"#]],
    );
    let mut g = e.group_with("  - record: r\n    expr: up\n  - alert: A\n    expr: up\n", "  limit: 2\n");
    e.eval(&mut g, 1);
    check(
        status(&g).replace("; ", "\n"),
        expect![[r#"
        r ok
        A ok [instance=1 firing active@1] [instance=2 firing active@1]"#]],
    );
}

#[test]
fn alert_pending_firing_resolved() {
    let e = env();
    // m > 0 from minute 0 to 5, then 0 (resolved), gone from the store at 30.
    let samples: Vec<(i64, f64)> = (0..30).map(|t| (t, if t <= 5 { 1.0 } else { 0.0 })).collect();
    e.add(&[("__name__", "m"), ("i", "a")], &samples);
    let mut g = e.group("  - alert: High\n    expr: m > 0\n    for: 2m\n    labels: {severity: page}\n");
    check(
        timeline(&e, &mut g, (0..8).chain([9, 20, 21, 22])),
        expect![[r#"
        000: High ok [i=a,severity=page pending active@0]
        001: High ok [i=a,severity=page pending active@0]
        002: High ok [i=a,severity=page firing active@0] => firing(High starts@0 ends@6)
        003: High ok [i=a,severity=page firing active@0]
        004: High ok [i=a,severity=page firing active@0] => firing(High starts@0 ends@8)
        005: High ok [i=a,severity=page firing active@0]
        006: High ok [i=a,severity=page inactive active@0 resolved@6] => resolved(High starts@0 ends@6)
        007: High ok [i=a,severity=page inactive active@0 resolved@6]
        009: High ok [i=a,severity=page inactive active@0 resolved@6] => resolved(High starts@0 ends@6)
        020: High ok [i=a,severity=page inactive active@0 resolved@6] => resolved(High starts@0 ends@6)
        021: High ok [i=a,severity=page inactive active@0 resolved@6]
        022: High ok
    "#]],
    );
    check(
        e.dump("ALERTS.*"),
        expect![[r#"
        {__name__="ALERTS", alertname="High", alertstate="firing", i="a", severity="page"} 2:1 3:1 4:1 5:1 6:stale
        {__name__="ALERTS", alertname="High", alertstate="pending", i="a", severity="page"} 0:1 1:1 2:stale
        {__name__="ALERTS_FOR_STATE", alertname="High", i="a", severity="page"} 0:0 1:0 2:0 3:0 4:0 5:0 6:stale
    "#]],
    );
}

#[test]
fn alert_for_zero_fires_at_once() {
    let e = env();
    e.add(&[("__name__", "m"), ("i", "a")], &[(0, 1.0), (1, 1.0), (2, 0.0)]);
    let mut g = e.group("  - alert: Now\n    expr: m > 0\n");
    check(
        timeline(&e, &mut g, 0..4),
        expect![[r#"
        000: Now ok [i=a firing active@0]
        001: Now ok [i=a firing active@0]
        002: Now ok [i=a inactive active@0 resolved@2] => resolved(Now starts@0 ends@2)
        003: Now ok [i=a inactive active@0 resolved@2]
    "#]],
    );
}

#[test]
fn keep_firing_for() {
    let e = env();
    let samples: Vec<(i64, f64)> = (0..10).map(|t| (t, if t <= 2 || t == 5 { 1.0 } else { 0.0 })).collect();
    e.add(&[("__name__", "m"), ("i", "a")], &samples);
    let mut g = e.group("  - alert: Flappy\n    expr: m > 0\n    for: 1m\n    keep_firing_for: 2m\n");
    check(
        timeline(&e, &mut g, 0..10),
        expect![[r#"
        000: Flappy ok [i=a pending active@0]
        001: Flappy ok [i=a firing active@0]
        002: Flappy ok [i=a firing active@0] => firing(Flappy starts@0 ends@6)
        003: Flappy ok [i=a firing active@0]
        004: Flappy ok [i=a firing active@0] => firing(Flappy starts@0 ends@8)
        005: Flappy ok [i=a firing active@0]
        006: Flappy ok [i=a firing active@0] => firing(Flappy starts@0 ends@10)
        007: Flappy ok [i=a firing active@0]
        008: Flappy ok [i=a inactive active@0 resolved@8] => resolved(Flappy starts@0 ends@8)
        009: Flappy ok [i=a inactive active@0 resolved@8]
    "#]],
    );
}

#[test]
fn resend_delay_and_resolved_alerts_sent_for_15_minutes() {
    let mut e = env();
    e.opts.resend_delay_ms = 3 * M;
    let samples: Vec<(i64, f64)> = (0..40).map(|t| (t, if t <= 4 { 1.0 } else { 0.0 })).collect();
    e.add(&[("__name__", "m"), ("i", "a")], &samples);
    let mut g = e.group("  - alert: A\n    expr: m > 0\n");
    let out = timeline(&e, &mut g, 0..24);
    check(
        out,
        expect![[r#"
        000: A ok [i=a firing active@0]
        001: A ok [i=a firing active@0]
        002: A ok [i=a firing active@0]
        003: A ok [i=a firing active@0]
        004: A ok [i=a firing active@0] => firing(A starts@0 ends@16)
        005: A ok [i=a inactive active@0 resolved@5] => resolved(A starts@0 ends@5)
        006: A ok [i=a inactive active@0 resolved@5]
        007: A ok [i=a inactive active@0 resolved@5]
        008: A ok [i=a inactive active@0 resolved@5]
        009: A ok [i=a inactive active@0 resolved@5] => resolved(A starts@0 ends@5)
        010: A ok [i=a inactive active@0 resolved@5]
        011: A ok [i=a inactive active@0 resolved@5]
        012: A ok [i=a inactive active@0 resolved@5]
        013: A ok [i=a inactive active@0 resolved@5] => resolved(A starts@0 ends@5)
        014: A ok [i=a inactive active@0 resolved@5]
        015: A ok [i=a inactive active@0 resolved@5]
        016: A ok [i=a inactive active@0 resolved@5]
        017: A ok [i=a inactive active@0 resolved@5] => resolved(A starts@0 ends@5)
        018: A ok [i=a inactive active@0 resolved@5]
        019: A ok [i=a inactive active@0 resolved@5]
        020: A ok [i=a inactive active@0 resolved@5]
        021: A ok
        022: A ok
        023: A ok
    "#]],
    );
}

/// Minutes 0..=5 with a first server; the second starts at `restart` and evaluates from there.
fn restart(rule: &str, samples: &[(i64, f64)], restart: i64, minutes: std::ops::Range<i64>) -> (String, String) {
    let e = env();
    e.add(&[("__name__", "m"), ("i", "a")], samples);
    let mut before = e.group(rule);
    let first = timeline(&e, &mut before, 0..6);
    drop(before);
    let mut after = e.group(rule);
    after.set_awaiting_restore();
    e.eval(&mut after, restart);
    let mut out = format!("{first}--- restart at {restart}\n{restart:03}: {} (before restore)\n", status(&after));
    after.restore_for_state(restart * M, &e.src);
    out.push_str(&format!("{restart:03}: {} (restored)\n", status(&after)));
    let _ = after.alerts_to_send(restart * M);
    out.push_str(&timeline(&e, &mut after, minutes));
    (out, e.dump("ALERTS_FOR_STATE"))
}

#[test]
fn restart_keeps_the_active_at_of_a_firing_alert() {
    let samples: Vec<(i64, f64)> = (0..40).map(|t| (t, 1.0)).collect();
    let (timeline, stored) = restart("  - alert: A\n    expr: m > 0\n    for: 2m\n", &samples, 20, 21..23);
    check(
        timeline,
        expect![[r#"
        000: A ok [i=a pending active@0]
        001: A ok [i=a pending active@0]
        002: A ok [i=a firing active@0] => firing(A starts@0 ends@6)
        003: A ok [i=a firing active@0]
        004: A ok [i=a firing active@0] => firing(A starts@0 ends@8)
        005: A ok [i=a firing active@0]
        --- restart at 20
        020: A ok [i=a pending active@20] (before restore)
        020: A ok [i=a pending active@0] (restored)
        021: A ok [i=a firing active@0] => firing(A starts@0 ends@25)
        022: A ok [i=a firing active@0]
    "#]],
    );
    check(
        stored,
        expect![[r#"
        {__name__="ALERTS_FOR_STATE", alertname="A", i="a"} 0:0 1:0 2:0 3:0 4:0 5:0 21:0 22:0
    "#]],
    );
}

#[test]
fn restart_resumes_a_pending_alert_where_it_stopped() {
    let samples: Vec<(i64, f64)> = (0..40).map(|t| (t, 1.0)).collect();
    // Pending for 5 of its 10 minutes before the restart at 20: fires at 25.
    let (timeline, _) = restart("  - alert: A\n    expr: m > 0\n    for: 10m\n", &samples, 20, 21..27);
    check(
        timeline,
        expect![[r#"
        000: A ok [i=a pending active@0]
        001: A ok [i=a pending active@0]
        002: A ok [i=a pending active@0]
        003: A ok [i=a pending active@0]
        004: A ok [i=a pending active@0]
        005: A ok [i=a pending active@0]
        --- restart at 20
        020: A ok [i=a pending active@20] (before restore)
        020: A ok [i=a pending active@15] (restored)
        021: A ok [i=a pending active@15]
        022: A ok [i=a pending active@15]
        023: A ok [i=a pending active@15]
        024: A ok [i=a pending active@15]
        025: A ok [i=a firing active@15] => firing(A starts@15 ends@29)
        026: A ok [i=a firing active@15]
    "#]],
    );
}

#[test]
fn restart_gives_an_alert_about_to_fire_the_grace_period() {
    let samples: Vec<(i64, f64)> = (0..40).map(|t| (t, 1.0)).collect();
    // 5m of 5m30s spent: less than the 1m grace period remains, so it gets the grace period:
    // activeAt = 20m + 1m - 5m30s = 15m30s, firing at 21.
    let (timeline, _) = restart("  - alert: A\n    expr: m > 0\n    for: 5m30s\n", &samples, 20, 21..23);
    check(
        timeline,
        expect![[r#"
        000: A ok [i=a pending active@0]
        001: A ok [i=a pending active@0]
        002: A ok [i=a pending active@0]
        003: A ok [i=a pending active@0]
        004: A ok [i=a pending active@0]
        005: A ok [i=a pending active@0]
        --- restart at 20
        020: A ok [i=a pending active@20] (before restore)
        020: A ok [i=a pending active@930s] (restored)
        021: A ok [i=a firing active@930s] => firing(A starts@930s ends@25)
        022: A ok [i=a firing active@930s]
    "#]],
    );
}

#[test]
fn restart_does_not_restore_an_alert_that_resolved() {
    // Firing until 3, resolved at 4 (stale marker written), active again after the restart.
    let samples: Vec<(i64, f64)> = (0..40).map(|t| (t, if (4..=10).contains(&t) { 0.0 } else { 1.0 })).collect();
    let (timeline, stored) = restart("  - alert: A\n    expr: m > 0\n    for: 2m\n", &samples, 20, 21..23);
    check(
        timeline,
        expect![[r#"
        000: A ok [i=a pending active@0]
        001: A ok [i=a pending active@0]
        002: A ok [i=a firing active@0] => firing(A starts@0 ends@6)
        003: A ok [i=a firing active@0]
        004: A ok [i=a inactive active@0 resolved@4] => resolved(A starts@0 ends@4)
        005: A ok [i=a inactive active@0 resolved@4]
        --- restart at 20
        020: A ok [i=a pending active@20] (before restore)
        020: A ok [i=a pending active@20] (restored)
        021: A ok [i=a pending active@20]
        022: A ok [i=a firing active@20] => firing(A starts@20 ends@26)
    "#]],
    );
    check(
        stored,
        expect![[r#"
        {__name__="ALERTS_FOR_STATE", alertname="A", i="a"} 0:0 1:0 2:0 3:0 4:stale 21:1200 22:1200
    "#]],
    );
}

#[test]
fn reload_copies_state_and_marks_removed_rules_stale() {
    let e = env();
    let samples: Vec<(i64, f64)> = (0..10).map(|t| (t, 1.0)).collect();
    e.add(&[("__name__", "m"), ("i", "a")], &samples);
    let mut old = e.group("  - alert: A\n    expr: m > 0\n    for: 2m\n  - record: gone\n    expr: m\n");
    let before = timeline(&e, &mut old, 0..3);
    let mut new = e.group("  - alert: A\n    expr: m > 0\n    for: 2m\n  - record: kept\n    expr: m\n");
    new.copy_state_from(&old);
    let after = timeline(&e, &mut new, 3..5);
    check(
        format!("{before}--- reload\n{after}"),
        expect![[r#"
        000: A ok [i=a pending active@0]; gone ok
        001: A ok [i=a pending active@0]; gone ok
        002: A ok [i=a firing active@0]; gone ok => firing(A starts@0 ends@6)
        --- reload
        003: A ok [i=a firing active@0]; kept ok
        004: A ok [i=a firing active@0]; kept ok => firing(A starts@0 ends@8)
    "#]],
    );
    check(
        e.dump("gone|kept"),
        expect![[r#"
        {__name__="gone", i="a"} 0:1 1:1 2:1 3:stale
        {__name__="kept", i="a"} 3:1 4:1
    "#]],
    );
}

#[test]
fn eval_timestamps_are_aligned_to_the_group_offset() {
    let e = env();
    let g = e.group("  - record: r\n    expr: vector(1)\n");
    let now = 1_700_000_123_456;
    let t = g.eval_timestamp(now);
    assert!(t <= now && now - t < M, "{t} {now}");
    assert_eq!(g.eval_timestamp(t), t);
    assert_eq!(g.eval_timestamp(t + M - 1), t);
    assert_eq!(g.eval_timestamp(t + M), t + M);
}

#[test]
fn generator_url_is_prometheus_table_link() {
    assert_eq!(table_link("rate(x[5m]) > 0.5"), "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+0.5&g0.tab=1");
}
