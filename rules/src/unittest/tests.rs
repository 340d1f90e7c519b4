//! Test files run end to end (rule files and test file in a temporary directory), their
//! outcome rendered as `tickdb rules test` prints it, against inline snapshots.

use expect_test::{Expect, expect};

use super::*;

const ALERTS: &str = r#"
groups:
- name: example
  rules:
  - alert: InstanceDown
    expr: up == 0
    for: 5m
    labels:
      severity: page
    annotations:
      summary: "Instance down"
"#;

/// Writes `files` (`name`, `content`) into a temporary directory, runs `test.yml` and renders
/// the warnings, then `SUCCESS` or `FAILED:` and the failures (the directory shown as `DIR`).
fn check(files: &[(&str, &str)], expected: Expect) {
    check_with(files, &TestOptions::default(), expected)
}

fn check_with(files: &[(&str, &str)], opts: &TestOptions, expected: Expect) {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    let r = test_file(&d.path().join("test.yml"), opts);
    let mut out = r.warnings.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    if r.passed() {
        out.push_str("SUCCESS\n");
    } else {
        // An unindented first line: expect-test keeps the messages' own indentation.
        out.push_str("FAILED:\n");
        let f: Vec<String> = r.failures.iter().map(|f| f.to_string()).collect();
        out.push_str(&f.join("\n---\n"));
        out.push('\n');
    }
    let dir = d.path().display().to_string();
    expected.assert_eq(&out.replace(&dir, "DIR"));
}

fn test_yml(tests: &str) -> String {
    format!("rule_files: [alerts.yml]\nevaluation_interval: 1m\ntests:\n{tests}")
}

#[test]
fn firing_alert_matches() {
    let t = test_yml(
        r#"
- interval: 1m
  input_series:
  - series: 'up{job="p", instance="a"}'
    values: '0x15'
  - series: 'up{job="n", instance="b"}'
    values: '1x6 0x8'
  alert_rule_test:
  - eval_time: 10m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: page, instance: a, job: p}
      exp_annotations: {summary: "Instance down"}
  - eval_time: 4m
    alertname: InstanceDown
  - eval_time: 14m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: page, instance: a, job: p}
      exp_annotations: {summary: "Instance down"}
    - exp_labels: {severity: page, instance: b, job: n}
      exp_annotations: {summary: "Instance down"}
"#,
    );
    check(
        &[("alerts.yml", ALERTS), ("test.yml", &t)],
        expect![[r#"
        SUCCESS
    "#]],
    );
}

#[test]
fn wrong_alert_expectation_renders_like_promtool() {
    let t = test_yml(
        r#"
- interval: 1m
  name: down
  input_series:
  - series: 'up{job="p", instance="a"}'
    values: '0x15'
  alert_rule_test:
  - eval_time: 10m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: critical, instance: a, job: p}
  - eval_time: 2m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: page, instance: a, job: p}
      exp_annotations: {summary: "Instance down"}
"#,
    );
    check(
        &[("alerts.yml", ALERTS), ("test.yml", &t)],
        expect![[r#"
        FAILED:
            name: down,
            alertname: InstanceDown, time: 2m, 
                exp:[
                    0:
                      Labels:{alertname="InstanceDown", instance="a", job="p", severity="page"}
                      Annotations:{summary="Instance down"}
                    ], 
                got:[]
        ---
            name: down,
            alertname: InstanceDown, time: 10m, 
                exp:[
                    0:
                      Labels:{alertname="InstanceDown", instance="a", job="p", severity="critical"}
                      Annotations:{}
                    ], 
                got:[
                    0:
                      Labels:{alertname="InstanceDown", instance="a", job="p", severity="page"}
                      Annotations:{summary="Instance down"}
                    ]
    "#]],
    );
}

#[test]
fn alert_checked_at_the_step_before_eval_time() {
    // Evaluation every 2m: at 5m the state is that of the 4m step (pending), at 6m firing.
    let t = r#"
rule_files: [alerts.yml]
evaluation_interval: 2m
tests:
- interval: 1m
  input_series:
  - series: 'up{job="p", instance="a"}'
    values: '0x10'
  alert_rule_test:
  - eval_time: 5m
    alertname: InstanceDown
  - eval_time: 7m
    alertname: InstanceDown
    exp_alerts:
    - exp_labels: {severity: page, instance: a, job: p}
      exp_annotations: {summary: "Instance down"}
"#;
    check(
        &[("alerts.yml", ALERTS), ("test.yml", t)],
        expect![[r#"
        SUCCESS
    "#]],
    );
}

#[test]
fn promql_expr_tests() {
    let rules = r#"
groups:
- name: rec
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
"#;
    let t = r#"
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
- interval: 30s
  input_series:
  - series: 'up{job="p", instance="a"}'
    values: '1+1x10'
  - series: 'up{job="p", instance="b"}'
    values: '0.5 _ stale 2'
  promql_expr_test:
  - expr: job:up:sum
    eval_time: 1m
    exp_samples:
    - labels: 'job:up:sum{job="p"}'
      value: 3
  # 90s lies between two evaluation steps: only samples up to 1m are loaded.
  - expr: up{instance="a"}
    eval_time: 90s
    exp_samples:
    - labels: 'up{job="p", instance="a"}'
      value: 3
  - expr: scalar(up{instance="a"}) * 2
    eval_time: 1m
    exp_samples:
    - labels: '{}'
      value: 6
  - expr: up
    eval_time: 1m
    exp_samples:
    - labels: 'up{job="p", instance="a"}'
      value: 3.5
  - expr: 'up{'
    eval_time: 1m
  - expr: 'up'
    eval_time: 1m
    exp_samples:
    - labels: 'up{job=p}'
  - expr: '"s"'
"#;
    check(
        &[("rules.yml", rules), ("test.yml", t)],
        expect![[r#"
        FAILED:
            expr: "up", time: 1m,
                exp: {__name__="up", instance="a", job="p"} 3.5E+00
                got: {__name__="up", instance="a", job="p"} 3E+00
        ---
            expr: "up{", time: 1m, err: 1:4: parse error: unexpected end of input inside braces
        ---
            expr: "up", time: 1m, err: labels "up{job=p}": 1:8: parse error: unexpected identifier "p" in label set, expected string
        ---
            expr: "\"s\"", time: 0s, err: rule result is not a vector or scalar
    "#]],
    );
}

#[test]
fn rule_error_stops_the_test_group() {
    let rules = r#"
groups:
- name: g
  rules:
  - record: dup
    expr: up
    labels: {instance: ""}
"#;
    let t = r#"
rule_files: [rules.yml]
tests:
- input_series:
  - series: 'up{instance="a"}'
    values: '1x5'
  - series: 'up{instance="b"}'
    values: '_x2 1x3'
  promql_expr_test:
  - expr: dup
    eval_time: 5m
"#;
    check(
        &[("rules.yml", rules), ("test.yml", t)],
        expect![[r#"
        FAILED:
            rule: dup, time: 2m0s, err: vector contains metrics with the same labelset after applying rule labels
    "#]],
    );
}

#[test]
fn group_eval_order_decides_what_a_rule_sees() {
    // `second` reads what `first` recorded at the same step only when evaluated after it.
    let rules = r#"
groups:
- name: second
  rules:
  - record: copy
    expr: orig
- name: first
  rules:
  - record: orig
    expr: vector(time())
"#;
    let test = |order: &str| {
        format!(
            "rule_files: [rules.yml]\n{order}tests:\n- promql_expr_test:\n  - expr: copy\n    eval_time: 2m\n    exp_samples:\n    - labels: copy\n      value: 120\n"
        )
    };
    check(
        &[("rules.yml", rules), ("test.yml", &test("group_eval_order: [first, second]\n"))],
        expect![[r#"
        SUCCESS
    "#]],
    );
    check(
        &[("rules.yml", rules), ("test.yml", &test(""))],
        expect![[r#"
        FAILED:
            expr: "copy", time: 2m,
                exp: {__name__="copy"} 1.2E+02
                got: {__name__="copy"} 6E+01
    "#]],
    );
}

#[test]
fn setup_errors() {
    check(
        &[("alerts.yml", ALERTS), ("test.yml", "rule_files: [alerts.yml]\ngroup_eval_order: [a, b, a]\n")],
        expect![[r#"
        FAILED:
        group name repeated in evaluation order: a
    "#]],
    );
    let t = test_yml("- name: t1\n  alert_rule_test:\n  - eval_time: 1m\n");
    check(
        &[("alerts.yml", ALERTS), ("test.yml", &t)],
        expect![[r#"
        FAILED:
        an item under alert_rule_test misses required attribute alertname at eval_time 1m (in TestGroup t1)
    "#]],
    );
    check(
        &[("test.yml", "rule_files: [nope/*.yml]\ntests:\n- {}\n")],
        expect![[r#"
          WARNING: no file match pattern DIR/nope/*.yml
        SUCCESS
    "#]],
    );
    check(
        &[("test.yml", "rule_files: [missing.yml]\ntest: []\n")],
        expect![[r#"
        FAILED:
        DIR/test.yml:2:1: unknown field `test`, expected one of rule_files, evaluation_interval, group_eval_order, tests, fuzzy_compare
    "#]],
    );
    let bad_rules = "groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(\n";
    check(
        &[("rules.yml", bad_rules), ("test.yml", "rule_files: [rules.yml]\ntests:\n- {}\n- {}\n")],
        expect![[r#"
        FAILED:
        DIR/rules.yml:5:11: group "g", rule 1, "x": could not parse expression: 1:5: parse error: unclosed left parenthesis
        ---
        DIR/rules.yml:5:11: group "g", rule 1, "x": could not parse expression: 1:5: parse error: unclosed left parenthesis
    "#]],
    );
    let t = "rule_files: []\ntests:\n- input_series:\n  - series: up\n    values: '1 x 2'\n";
    check(
        &[("test.yml", t)],
        expect![[r#"
        FAILED:
        input series "up": invalid series value "x": expected a number, "_" or "stale"
    "#]],
    );
    check(
        &[],
        expect![[r#"
        FAILED:
        open DIR/test.yml: no such file or directory
    "#]],
    );
}

#[test]
fn run_selects_test_groups_by_name() {
    let t = "tests:\n- name: good\n- name: bad\n  promql_expr_test:\n  - expr: vector(1)\n";
    let opts = TestOptions { run: Some(Regex::new("^good$").unwrap()) };
    check_with(
        &[("test.yml", t)],
        &opts,
        expect![[r#"
        SUCCESS
    "#]],
    );
    check(
        &[("test.yml", t)],
        expect![[r#"
        FAILED:
            expr: "vector(1)", time: 0s,
                exp: nil
                got: {} 1E+00
    "#]],
    );
}

#[test]
fn keep_firing_for_and_resolution() {
    let rules = r#"
groups:
- name: g
  rules:
  - alert: Flappy
    expr: m > 0
    for: 1m
    keep_firing_for: 3m
"#;
    let t = r#"
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: m
    values: '1 1 1 0 0 0 0 0'
  alert_rule_test:
  - {eval_time: 0m, alertname: Flappy}
  - {eval_time: 1m, alertname: Flappy, exp_alerts: [{exp_labels: {}}]}
  - {eval_time: 5m, alertname: Flappy, exp_alerts: [{}]}
  - {eval_time: 6m, alertname: Flappy}
"#;
    check(
        &[("rules.yml", rules), ("test.yml", t)],
        expect![[r#"
        SUCCESS
    "#]],
    );
}

#[test]
fn scalars_where_strings_are_expected() {
    let rules = "groups:\n- name: g\n  rules:\n  - alert: Code\n    expr: vector(1)\n    labels: {code: '500'}\n";
    let t = "rule_files: [rules.yml]\ntests:\n- input_series:\n  - {series: m, values: 1}\n  alert_rule_test:\n  - eval_time: 0\n    alertname: Code\n    exp_alerts: [{exp_labels: {code: 500}}]\n  promql_expr_test:\n  - {expr: m, eval_time: 0, exp_samples: [{labels: m, value: 1}]}\n";
    check(
        &[("rules.yml", rules), ("test.yml", t)],
        expect![[r#"
        SUCCESS
    "#]],
    );
}
