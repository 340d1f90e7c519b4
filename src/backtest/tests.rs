//! The backtest against the live engine: the same rule file run by [`rules::group::Group::eval`]
//! step by step over one head that holds both the history and the rules' output (as the
//! server's database does) must give the same alerts, read back from its `ALERTS` series.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use query::{Engine, EngineOptions};
use rules::alert::LabelMap;
use storage::head::{Head, HeadOptions};
use storage::querier::BlockQuerier;
use storage::{Appendable, Labels, Matcher, Querier, Queryable, is_stale_nan};

use super::*;

const M: i64 = 60_000;

/// A head read as storage reads it.
pub(super) struct HeadQ(pub(super) Arc<Head>);

impl Queryable for HeadQ {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
        Ok(Box::new(BlockQuerier::new(&self.0.range_reader(mint, maxt), mint, maxt)?))
    }
}

/// `cpu{instance}` every minute from 0 to 70m: `a` above 90 from 10m to 19m (91..100), `b`
/// above for two minutes (30m, 31m), `c` above from 40m on; `mem{instance="a"}` at 0.5.
fn history() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let cpu = |inst: &str, f: &dyn Fn(i64) -> f64| {
        (Labels::from_pairs([("__name__", "cpu"), ("instance", inst)]), (0..=70).map(|m| (m * M, f(m))).collect())
    };
    vec![
        cpu("a", &|m| if (10..20).contains(&m) { 81.0 + m as f64 } else { 50.0 }),
        cpu("b", &|m| if m == 30 || m == 31 { 95.0 } else { 50.0 }),
        cpu("c", &|m| if m >= 40 { 92.0 } else { 50.0 }),
        (Labels::from_pairs([("__name__", "mem"), ("instance", "a")]), (0..=70).map(|m| (m * M, 0.5)).collect()),
    ]
}

pub(super) fn head_with(series: &[(Labels, Vec<(i64, f64)>)]) -> Arc<Head> {
    let head = Head::open(HeadOptions::default()).unwrap();
    let mut app = Appendable::appender(&head);
    for (l, samples) in series {
        for &(t, v) in samples {
            app.append(None, l, t, v).unwrap();
        }
    }
    app.commit().unwrap();
    head
}

const RULES: &str = r#"
groups:
- name: cpu
  interval: 1m
  labels: {team: games}
  rules:
  - record: instance:cpu:max
    expr: max by (instance) (cpu)
  - alert: HighCpu
    expr: instance:cpu:max > 90
    for: 5m
    labels: {severity: page}
  - alert: CpuBlip
    expr: cpu > 90
    keep_firing_for: 3m
- name: later
  interval: 2m
  rules:
  - alert: HighCpuRecorded
    expr: instance:cpu:max > 95
"#;

fn plan(from_m: i64, to_m: i64) -> Plan {
    Plan { from_ms: from_m * M, to_ms: to_m * M, step_ms: None, max_steps: 0 }
}

fn run_backtest(rules: &str, p: Plan) -> Report {
    let rf = rules::file::parse("r.yml", rules).unwrap();
    let bt = Backtest::new("r.yml", &rf, &GroupOptions::default(), p).unwrap();
    let stored: Arc<dyn Queryable> = Arc::new(HeadQ(head_with(&history())));
    backtest(bt, stored, &Config::default(), &mut |_| {}).unwrap()
}

/// (alertname, labels) -> the evaluation timestamps at which it was firing, from the
/// backtest's episodes (end exclusive; still firing: up to the group's last evaluation).
fn firing_from_report(r: &Report) -> BTreeMap<LabelMap, BTreeSet<i64>> {
    let mut out: BTreeMap<LabelMap, BTreeSet<i64>> = BTreeMap::new();
    for g in &r.groups {
        for rule in &g.rules {
            for e in &rule.fired {
                let start = e.fired_at_ms.unwrap();
                let end = e.end_ms.unwrap_or(g.last_eval_ms + 1);
                let steps = (start..end).step_by(g.step_ms as usize);
                out.entry(e.labels.clone()).or_default().extend(steps);
            }
        }
    }
    out
}

/// The same from the live engine: every group evaluated with `Group::eval` over one head
/// holding history and output, in time order; then the `ALERTS{alertstate="firing"}` samples.
fn firing_live(rules: &str, p: Plan) -> BTreeMap<LabelMap, BTreeSet<i64>> {
    let head = head_with(&history());
    let src = LocalSource { engine: Engine::new(EngineOptions::default()), db: Arc::new(HeadQ(head.clone())) };
    let rf = rules::file::parse("r.yml", rules).unwrap();
    let mut groups: Vec<Group> =
        rf.groups.iter().map(|d| Group::new("r.yml", d, &GroupOptions::default()).unwrap()).collect();
    let mut slots: Vec<(i64, usize)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        slots.extend((p.from_ms..=p.to_ms).step_by(g.interval_ms() as usize).map(|t| (t, i)));
    }
    slots.sort();
    for (t, i) in slots {
        groups[i].eval(t, &src, &head);
    }
    let q = HeadQ(head).querier(i64::MIN, i64::MAX).unwrap();
    let ms = [Matcher::equal("__name__", "ALERTS"), Matcher::equal("alertstate", "firing")];
    let mut out: BTreeMap<LabelMap, BTreeSet<i64>> = BTreeMap::new();
    for s in q.select(true, None, &ms).unwrap() {
        let s = s.unwrap();
        let mut labels = rules::alert::label_map(&s.labels);
        for k in ["__name__", "alertstate", "team", "severity"] {
            labels.remove(k);
        }
        let ts = s.collect_samples().unwrap().into_iter().filter(|x| !is_stale_nan(x.v)).map(|x| x.t);
        out.entry(labels).or_default().extend(ts);
    }
    out
}

#[test]
fn same_alerts_as_the_live_engine() {
    for (from, to) in [(0, 70), (12, 45), (0, 0), (33, 34)] {
        let report = run_backtest(RULES, plan(from, to));
        let mut ours = firing_from_report(&report);
        for labels in ours.keys().cloned().collect::<Vec<_>>() {
            // The live ALERTS series carry the rule labels; drop them on both sides.
            let v = ours.remove(&labels).unwrap();
            let mut l = labels;
            l.remove("team");
            l.remove("severity");
            ours.insert(l, v);
        }
        let live = firing_live(RULES, plan(from, to));
        assert_eq!(ours, live, "window {from}m..{to}m");
        if (from, to) == (0, 70) {
            assert_eq!(live.len(), 6, "{live:?}");
        }
    }
}

fn episodes(r: &RuleReport) -> Vec<String> {
    let m = |t: Option<i64>| t.map_or("-".to_string(), |t| format!("{}m", t / M));
    let line = |kind: &str, e: &Episode| {
        format!(
            "{kind} {} active {} fired {} end {} peak {}",
            e.labels["instance"],
            m(Some(e.active_at_ms)),
            m(e.fired_at_ms),
            m(e.end_ms),
            e.peak
        )
    };
    r.fired.iter().map(|e| line("fired", e)).chain(r.pending.iter().map(|e| line("pending", e))).collect()
}

#[test]
fn alert_timelines() {
    let r = run_backtest(RULES, plan(0, 60));
    let [cpu, later] = &r.groups[..] else { panic!("two groups") };
    assert_eq!((cpu.evaluations, cpu.last_eval_ms, later.evaluations, later.last_eval_ms), (61, 60 * M, 31, 60 * M));
    let [record, high, blip] = &cpu.rules[..] else { panic!("three rules") };
    assert_eq!(
        (record.name.as_str(), record.kind, record.max_series, record.evaluations),
        ("instance:cpu:max", RuleKind::Recording, 3, 61)
    );
    // Above 90 for ten minutes with `for: 5m`: fires five minutes in, resolves when the value
    // drops; the two-minute blip never fires; `c` is still firing at the end.
    assert_eq!(
        episodes(high),
        [
            "fired a active 10m fired 15m end 20m peak 100",
            "fired c active 40m fired 45m end - peak 92",
            "pending b active 30m fired - end 32m peak 95",
        ]
    );
    assert_eq!(high.firing_ms(cpu.last_eval_ms), 20 * M);
    assert_eq!(high.fired[0].labels.get("severity").map(String::as_str), Some("page"));
    assert_eq!(high.fired[0].labels.get("team").map(String::as_str), Some("games"));
    // keep_firing_for 3m: fires at once, keeps firing three evaluations after the value drops.
    assert_eq!(
        episodes(blip),
        [
            "fired a active 10m fired 10m end 23m peak 100",
            "fired b active 30m fired 30m end 35m peak 95",
            "fired c active 40m fired 40m end - peak 92",
        ]
    );
    // The second group reads the first one's recorded series (every 2 minutes).
    assert_eq!(episodes(&later.rules[0]), ["fired a active 16m fired 16m end 20m peak 99"]);
    assert_eq!((r.rule_evaluations(), high.failures), (61 * 3 + 31, 0));
}

#[test]
fn output_series_of_the_history_are_shadowed() {
    // History that already holds the recording rule's output, with other values: the backtest
    // reads its own output only.
    let mut h = history();
    h.push((Labels::from_pairs([("__name__", "instance:cpu:max"), ("instance", "z")]), vec![(5 * M + 1, 1000.0)]));
    let head = head_with(&h);
    let rf = rules::file::parse("r.yml", RULES).unwrap();
    let bt = Backtest::new("r.yml", &rf, &GroupOptions::default(), plan(0, 20)).unwrap();
    let r = backtest(bt, Arc::new(HeadQ(head)), &Config::default(), &mut |_| {}).unwrap();
    let instances: BTreeSet<&str> = r
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .flat_map(|rule| rule.fired.iter().chain(&rule.pending))
        .map(|e| e.labels["instance"].as_str())
        .collect();
    assert_eq!(instances, BTreeSet::from(["a"]));
}

#[test]
fn failures_and_limits_are_reported() {
    let rules = "groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: Many\n    expr: cpu > 0\n";
    let r = run_backtest(rules, plan(0, 2));
    let rule = &r.groups[0].rules[0];
    assert_eq!((rule.evaluations, rule.failures), (3, 3));
    assert_eq!(rule.first_error, Some((0, "exceeded limit of 1 with 3 alerts".to_string())));
    assert!(rule.fired.is_empty() && rule.pending.is_empty());
}

#[test]
fn bad_windows_are_refused() {
    let rf = rules::file::parse("r.yml", RULES).unwrap();
    let err = |p: Plan| Backtest::new("r.yml", &rf, &GroupOptions::default(), p).err().unwrap().to_string();
    assert_eq!(err(plan(10, 5)), "--from (1970-01-01T00:10:00Z) is after --to (1970-01-01T00:05:00Z)");
    assert_eq!(err(Plan { step_ms: Some(0), ..plan(0, 5) }), "--step must be positive");
    assert_eq!(
        err(Plan { max_steps: 60, ..plan(0, 60) }),
        "group \"cpu\" would be evaluated 61 times (1970-01-01T00:00:00Z to 1970-01-01T01:00:00Z every 1m), \
         more than --max-steps 60; use a longer --step, a shorter window or a larger --max-steps"
    );
    // The widest window the time parser accepts is counted, not overflowed.
    let (min, max) = (crate::server::params::MIN_TIME, crate::server::params::MAX_TIME);
    let e = err(Plan { from_ms: min, to_ms: max, step_ms: None, max_steps: 100_000 });
    assert!(e.contains("would be evaluated 307443663375266 times"), "{e}");
    // The same window at the limit, or with a longer step, is fine.
    assert!(Backtest::new("r.yml", &rf, &GroupOptions::default(), Plan { max_steps: 61, ..plan(0, 60) }).is_ok());
    let bt = Backtest::new(
        "r.yml",
        &rf,
        &GroupOptions::default(),
        Plan { step_ms: Some(2 * M), max_steps: 31, ..plan(0, 60) },
    );
    assert_eq!(bt.unwrap().evaluations(), 62);
}

#[test]
fn text_report() {
    let mut r = run_backtest(RULES, plan(0, 60));
    r.wall = std::time::Duration::from_millis(250);
    let text = render_text(&r);
    expect_test::expect![[r#"
        Backtest of r.yml from 1970-01-01T00:00:00Z to 1970-01-01T01:00:00Z

        group "cpu": every 1m, 61 evaluations

          record instance:cpu:max: up to 3 series; 61 evaluations, 0 failed

          alert HighCpu (for 5m): 2 fired, firing 20m in total, 1 pending never fired; 61 evaluations, 0 failed
            firing  1970-01-01T00:15:00Z -> 1970-01-01T00:20:00Z 5m       peak 100        {instance="a", severity="page", team="games"}
            firing  1970-01-01T00:45:00Z -> still firing         15m+     peak 92         {instance="c", severity="page", team="games"}
            pending 1970-01-01T00:30:00Z -> 1970-01-01T00:32:00Z 2m       peak 95         {instance="b", severity="page", team="games"}

          alert CpuBlip (for 0s, keep_firing_for 3m): 3 fired, firing 38m in total, 0 pending never fired; 61 evaluations, 0 failed
            firing  1970-01-01T00:10:00Z -> 1970-01-01T00:23:00Z 13m      peak 100        {instance="a", team="games"}
            firing  1970-01-01T00:30:00Z -> 1970-01-01T00:35:00Z 5m       peak 95         {instance="b", team="games"}
            firing  1970-01-01T00:40:00Z -> still firing         20m+     peak 92         {instance="c", team="games"}

        group "later": every 2m, 31 evaluations

          alert HighCpuRecorded (for 0s): 1 fired, firing 4m in total, 0 pending never fired; 31 evaluations, 0 failed
            firing  1970-01-01T00:16:00Z -> 1970-01-01T00:20:00Z 4m       peak 99         {instance="a", team="games"}

        Summary: 2 group(s), 4 rule(s), 6 alert(s) fired; 214 rule evaluations in 0.250s (856 evaluations/s)
    "#]]
    .assert_eq(&text);
    let json = render_json(&r);
    assert_eq!(json["groups"][0]["rules"][1]["alerts"][0]["start"], "1970-01-01T00:15:00Z");
    assert_eq!(json["groups"][0]["rules"][1]["alerts"][1]["end"], serde_json::Value::Null);
    assert_eq!(json["groups"][0]["rules"][1]["pending_never_fired"][0]["peak"], 95.0);
    assert_eq!(json["summary"]["rule_evaluations"], 214);
}

/// Anomaly and forecast rules backtest as they run live: the same alerts at the same times.
#[test]
fn learned_rules_backtest_as_they_run_live() {
    let rules = r#"
groups:
- name: learned
  interval: 1m
  rules:
  - anomaly: CpuOdd
    expr: cpu
    detector: zscore:window=30m,buckets=6,min_samples=5
  - forecast: CpuFull
    expr: cpu
    model: linear:window=10m,buckets=5,min_samples=3
    horizon: 30m
    threshold: 100
"#;
    let report = run_backtest(rules, plan(0, 70));
    let mut ours = firing_from_report(&report);
    for labels in ours.keys().cloned().collect::<Vec<_>>() {
        let v = ours.remove(&labels).unwrap();
        let mut l = labels;
        l.remove("severity");
        ours.entry(l).or_default().extend(v);
    }
    let live = firing_live(rules, plan(0, 70));
    assert_eq!(ours, live);
    let names: BTreeSet<&str> = live.keys().map(|l| l["alertname"].as_str()).collect();
    assert_eq!(names, ["CpuFull", "CpuOdd"].into(), "both kinds fire on this history: {live:?}");
}
