//! `tickdb rules backtest` as a user runs it: history imported with `tickdb tsdb import` into
//! on-disk blocks, the real binary replaying a rule file over it, exact alerts and summary.

use std::path::{Path, PathBuf};

use expect_test::expect;

use crate::harness::TestServer;
use crate::rules_cli::Run;

/// 2025-12-01T01:30:00Z: the history crosses the 02:00 block boundary half an hour in.
const BASE_S: i64 = 1_764_552_600;

fn tickdb(args: &[&str]) -> Run {
    crate::rules_cli::tickdb(args, &std::env::temp_dir())
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `cpu{instance}` every minute for 70 minutes: `a` above 90 for exactly ten minutes (10m to
/// 19m, 91..100), `b` for two minutes (30m, 31m, shorter than `for`), `c` from 40m on.
fn history() -> String {
    let mut om = String::from("# TYPE cpu gauge\n");
    for (inst, f) in [
        ("a", &(|m: i64| if (10..20).contains(&m) { 81.0 + m as f64 } else { 50.0 }) as &dyn Fn(i64) -> f64),
        ("b", &|m| if m == 30 || m == 31 { 95.0 } else { 50.0 }),
        ("c", &|m| if m >= 40 { 92.0 } else { 50.0 }),
    ] {
        for m in 0..=70 {
            om.push_str(&format!("cpu{{instance=\"{inst}\"}} {} {}\n", f(m), BASE_S + m * 60));
        }
    }
    om + "# EOF\n"
}

const RULES: &str = r#"groups:
- name: cpu
  interval: 1m
  rules:
  - record: instance:cpu:max
    expr: max by (instance) (cpu)
  - alert: HighCpu
    expr: instance:cpu:max > 90
    for: 5m
    labels: {severity: page}
    annotations: {summary: "{{ $labels.instance }} at {{ $value }}"}
  - alert: CpuBlip
    expr: cpu > 90
    keep_firing_for: 3m
"#;

/// A data dir with the imported history and the rule file beside it.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let om = dir.path().join("history.om");
    std::fs::write(&om, history()).unwrap();
    let data = dir.path().join("data");
    let r = tickdb(&["tsdb", "import", "--format", "openmetrics", s(&om), "--data-dir", s(&data)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("into 2 block(s)"), "{}", r.stdout);
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    (dir, data, rules)
}

fn backtest(data: &Path, rules: &Path, extra: &[&str]) -> Run {
    let (from, to) = (BASE_S.to_string(), (BASE_S + 3600).to_string());
    let mut args = vec!["rules", "backtest", s(rules), "--from", &from, "--to", &to, "--data-dir", s(data)];
    args.extend_from_slice(extra);
    tickdb(&args)
}

#[test]
fn backtest_reports_exact_alerts() {
    let (dir, data, rules) = setup();
    let r = backtest(&data, &rules, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let (body, summary) = r.stdout.trim_end().rsplit_once('\n').unwrap();
    let rules_name = s(&rules);
    expect![[r#"
        Backtest of RULES from 2025-12-01T01:30:00Z to 2025-12-01T02:30:00Z

        group "cpu": every 1m, 61 evaluations

          record instance:cpu:max: up to 3 series; 61 evaluations, 0 failed

          alert HighCpu (for 5m): 2 fired, firing 20m in total, 1 pending never fired; 61 evaluations, 0 failed
            firing  2025-12-01T01:45:00Z -> 2025-12-01T01:50:00Z 5m       peak 100        {instance="a", severity="page"}
            firing  2025-12-01T02:15:00Z -> still firing         15m+     peak 92         {instance="c", severity="page"}
            pending 2025-12-01T02:00:00Z -> 2025-12-01T02:02:00Z 2m       peak 95         {instance="b", severity="page"}

          alert CpuBlip (for 0s, keep_firing_for 3m): 3 fired, firing 38m in total, 0 pending never fired; 61 evaluations, 0 failed
            firing  2025-12-01T01:40:00Z -> 2025-12-01T01:53:00Z 13m      peak 100        {instance="a"}
            firing  2025-12-01T02:00:00Z -> 2025-12-01T02:05:00Z 5m       peak 95         {instance="b"}
            firing  2025-12-01T02:10:00Z -> still firing         20m+     peak 92         {instance="c"}
    "#]]
    .assert_eq(&body.replace(rules_name, "RULES"));
    assert!(
        summary.starts_with("Summary: 1 group(s), 3 rule(s), 5 alert(s) fired; 183 rule evaluations in "),
        "{summary}"
    );
    assert!(summary.ends_with(" evaluations/s)"), "{summary}");

    // Nothing was written to the data dir: no recorded series, no ALERTS.
    let dump =
        tickdb(&["tsdb", "dump", "--data-dir", s(&data), "--match", "{__name__=~\"instance:cpu:max|ALERTS.*\"}"]);
    assert_eq!((dump.code, dump.stdout.as_str()), (0, ""), "{}", dump.stderr);
    drop(dir);
}

#[test]
fn backtest_json_and_step() {
    let (_dir, data, rules) = setup();
    let r = backtest(&data, &rules, &["--format", "json", "--step", "2m"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let g = &v["groups"][0];
    assert_eq!((g["step_seconds"].as_f64(), g["evaluations"].as_u64()), (Some(120.0), Some(31)));
    let high = &g["rules"][1];
    assert_eq!(high["name"], "HighCpu");
    // Every two minutes: active at 01:40, fired at 01:46 (the first slot 5m after), resolved at 01:50.
    let a = &high["alerts"][0];
    assert_eq!(
        (a["labels"]["instance"].as_str(), a["active_at"].as_str(), a["start"].as_str(), a["end"].as_str()),
        (Some("a"), Some("2025-12-01T01:40:00Z"), Some("2025-12-01T01:46:00Z"), Some("2025-12-01T01:50:00Z"))
    );
    // Peak over the slots it was active at (01:40..01:48, values 91, 93, .., 99).
    assert_eq!(a["peak"], 99.0);
    assert_eq!(high["alerts"][1]["end"], serde_json::Value::Null);
    assert_eq!(v["summary"]["rule_evaluations"], 93);
    assert!(v["summary"]["evaluations_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn backtest_refuses_bad_input() {
    let (dir, data, rules) = setup();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: rate(cpu[5m]\n").unwrap();
    let bt = |rules: &Path, args: &[&str]| {
        let mut a = vec!["rules", "backtest", s(rules), "--data-dir", s(&data)];
        a.extend_from_slice(args);
        tickdb(&a)
    };
    let from = BASE_S.to_string();
    for (rules, args, message) in [
        (&rules, vec!["--from", "now", "--to", "now-1h"], "is after --to"),
        (&rules, vec!["--from", &from, "--step", "0"], "--step must be positive"),
        (&rules, vec!["--from", "yesterday"], "--from: cannot parse \"yesterday\" to a valid timestamp"),
        (&rules, vec!["--from", "now-1y"], "more than --max-steps 100000"),
        (&rules, vec!["--from", "now-1h", "--max-steps", "10"], "would be evaluated 61 times"),
        (&bad, vec!["--from", &from], "bad.yml:5:11: group \"g\", rule 1, \"X\": could not parse expression"),
        (&dir.path().join("missing.yml"), vec!["--from", &from], "reading "),
    ] {
        let r = bt(rules, &args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{args:?}");
    }
    let nope = dir.path().join("nope");
    let r = tickdb(&["rules", "backtest", s(&rules), "--from", "now-1h", "--data-dir", s(&nope)]);
    assert!(r.code == 1 && r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(!dir.path().join("nope").exists());
    let r = tickdb(&["rules", "backtest", s(&rules)]);
    assert!(r.code == 2 && r.stderr.contains("--from"), "{}", r.stderr);
}

/// A data dir a server holds is refused with what to do instead; the server keeps its lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_refuses_a_live_data_dir() {
    let server = TestServer::start().await;
    let data = server.dir.path().join("data");
    let rules = server.dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let r = tickdb(&["rules", "backtest", s(&rules), "--from", "now-1h", "--data-dir", s(&data)]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is locked by another tickdb process"), "{}", r.stderr);
    assert!(r.stderr.contains("/api/v1/admin/tsdb/snapshot"), "{}", r.stderr);
    assert_eq!(server.get("/-/ready").await.status, 200);
    server.stop().await;
}

#[test]
fn backtest_help_has_an_example() {
    let r = tickdb(&["rules", "backtest", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Example:\n  tickdb rules backtest "), "{}", r.stdout);
}
