use expect_test::{Expect, expect};

use super::*;

/// Parses `text` as `r.yml` and renders the errors, one a line, or the parsed file.
fn check(text: &str, expected: Expect) {
    let got = match parse("r.yml", text) {
        Ok(f) => format!("{f:#?}"),
        Err(errs) => errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"),
    };
    expected.assert_eq(&got);
}

/// One group `g` holding the given rule lines (indented as a rule list item).
fn rule(lines: &str) -> String {
    let mut s = String::from("groups:\n- name: g\n  rules:\n");
    for (i, l) in lines.lines().enumerate() {
        s.push_str(if i == 0 { "  - " } else { "    " });
        s.push_str(l);
        s.push('\n');
    }
    s
}

#[test]
fn parses_a_full_file() {
    check(
        "groups:
- name: g
  interval: 1m30s
  query_offset: 1m
  limit: 10
  labels: {team: a}
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels:
      x: y
  - alert: Down
    expr: up == 0
    for: 5m
    keep_firing_for: 1h
    labels: {severity: page}
    annotations:
      summary: '{{ $labels.instance }} down'
- name: empty
",
        expect![[r#"
            RuleFile {
                groups: [
                    GroupDef {
                        name: "g",
                        interval_ms: Some(
                            90000,
                        ),
                        query_offset_ms: Some(
                            60000,
                        ),
                        limit: 10,
                        labels: {
                            "team": "a",
                        },
                        rules: [
                            RuleDef {
                                record: Some(
                                    "job:up:sum",
                                ),
                                alert: None,
                                anomaly: None,
                                forecast: None,
                                expr: "sum by (job) (up)",
                                for_ms: 0,
                                keep_firing_for_ms: 0,
                                labels: {
                                    "x": "y",
                                },
                                annotations: {},
                                line: 8,
                            },
                            RuleDef {
                                record: None,
                                alert: Some(
                                    "Down",
                                ),
                                anomaly: None,
                                forecast: None,
                                expr: "up == 0",
                                for_ms: 300000,
                                keep_firing_for_ms: 3600000,
                                labels: {
                                    "severity": "page",
                                },
                                annotations: {
                                    "summary": "{{ $labels.instance }} down",
                                },
                                line: 12,
                            },
                        ],
                        policies: [],
                    },
                    GroupDef {
                        name: "empty",
                        interval_ms: None,
                        query_offset_ms: None,
                        limit: 0,
                        labels: {},
                        rules: [],
                        policies: [],
                    },
                ],
            }"#]],
    );
}

#[test]
fn empty_files_have_no_groups() {
    check("", expect!["RuleFile {\n    groups: [],\n}"]);
    check("groups: []\n", expect!["RuleFile {\n    groups: [],\n}"]);
}

#[test]
fn durations_in_prometheus_syntax() {
    let ms =
        |d: &str| parse("r.yml", &rule(&format!("alert: A\nexpr: up\nfor: {d}"))).map(|f| f.groups[0].rules[0].for_ms);
    assert_eq!(ms("1h30m"), Ok(5_400_000));
    assert_eq!(ms("15s"), Ok(15_000));
    assert_eq!(ms("1d"), Ok(86_400_000));
    assert_eq!(ms("1w"), Ok(604_800_000));
    assert_eq!(ms("1y"), Ok(31_536_000_000));
    assert_eq!(ms("250ms"), Ok(250));
    assert_eq!(ms("0"), Ok(0));
}

#[test]
fn yaml_errors() {
    check(
        "groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n    foo: 1\n",
        expect![
            "r.yml:6:5: unknown field `foo`, expected one of record, alert, expr, for, keep_firing_for, labels, annotations, anomaly, forecast, detector, min_level, max_series, features, on, retrain, model, horizon, threshold, direction, scaling, recovery, target, target_value, min_replicas, max_replicas, tolerance, mode, scale_up, scale_down, cooldown, predictive, approval_timeout, breaker, instance_label, max_restarts, backoff, max_backoff"
        ],
    );
    check(
        "groups:\n- name: g\n  interval_x: 1m\n",
        expect![
            "r.yml:3:3: unknown field `interval_x`, expected one of name, interval, query_offset, limit, labels, rules"
        ],
    );
    check("grups: []\n", expect!["r.yml:1:1: unknown field `grups`, expected one of groups"]);
    check("groups:\n- name: [\n", expect!["r.yml:2:9: expected string scalar"]);
    check("groups: 5\n", expect!["r.yml:1:9: expected sequence start"]);
}

#[test]
fn group_errors() {
    check("groups:\n- name: a\n- name: a\n", expect![[r#"r.yml:3:3: groupname: "a" is repeated in the same file"#]]);
    check("groups:\n- rules: []\n", expect!["r.yml:2:3: Groupname must not be empty"]);
    check(
        "groups:\n- name: a\n  interval: 5x\n",
        expect![[r#"r.yml:3:13: group "a": not a valid duration string: "5x""#]],
    );
    check(
        "groups:\n- name: a\n  labels:\n    1x: y\n    __name__: z\n",
        expect![[r#"
        r.yml:4:5: group "a": invalid label name: 1x
        r.yml:5:5: group "a": invalid label name: __name__"#]],
    );
    check("groups:\n- name: a\n  limit: -1\n", expect![[r#"r.yml:3:10: group "a": invalid limit: -1"#]]);
}

#[test]
fn rule_errors() {
    check(&rule("expr: up"), expect![[r#"r.yml:4:5: group "g", rule 1, "": one of 'record' or 'alert' must be set"#]]);
    check(
        &rule("record: a\nalert: b\nexpr: up"),
        expect![[r#"r.yml:4:13: group "g", rule 1, "b": only one of 'record' and 'alert' must be set"#]],
    );
    check(&rule("record: a"), expect![[r#"r.yml:4:5: group "g", rule 1, "a": field 'expr' must be set in rule"#]]);
    check(
        &rule("record: a\nexpr: sum(up"),
        expect![[
            r#"r.yml:5:11: group "g", rule 1, "a": could not parse expression: 1:7: parse error: unclosed left parenthesis"#
        ]],
    );
    check(
        &rule("record: 'a-b'\nexpr: up"),
        expect![[r#"r.yml:4:13: group "g", rule 1, "a-b": invalid recording rule name: a-b"#]],
    );
    check(
        &rule("record: 'a{b=\"c\"}'\nexpr: up"),
        expect![[r#"
        r.yml:4:13: group "g", rule 1, "a{b=\"c\"}": invalid recording rule name: a{b="c"}
        r.yml:4:13: group "g", rule 1, "a{b=\"c\"}": braces present in the recording rule name; should it be in expr?: a{b="c"}"#]],
    );
    check(
        &rule("record: a\nexpr: up\nfor: 1m\nkeep_firing_for: 1m\nannotations: {x: y}"),
        expect![[r#"
        r.yml:4:13: group "g", rule 1, "a": invalid field 'annotations' in recording rule
        r.yml:4:13: group "g", rule 1, "a": invalid field 'for' in recording rule
        r.yml:4:13: group "g", rule 1, "a": invalid field 'keep_firing_for' in recording rule"#]],
    );
    check(
        &rule("alert: A\nexpr: up\nlabels:\n  ok: x\n  bad-name: y\nannotations:\n  '0': z"),
        expect![[r#"
        r.yml:8:7: group "g", rule 1, "A": invalid label name: bad-name
        r.yml:10:7: group "g", rule 1, "A": invalid annotation name: 0"#]],
    );
    check(
        &rule("alert: A\nexpr: up\nfor: 10"),
        expect![[r#"r.yml:6:10: group "g", rule 1, "A": not a valid duration string: "10""#]],
    );
    check(
        &rule("alert: A\nexpr: up\nfor: 1m\nkeep_firing_for: 1h1h"),
        expect![[r#"r.yml:7:22: group "g", rule 1, "A": not a valid duration string: "1h1h""#]],
    );
}

#[test]
fn errors_of_several_rules_are_all_reported() {
    check(
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n  - record: b\n    expr: 'up +'\n  - alert: C\n",
        expect![[r#"
            r.yml:7:11: group "g", rule 2, "b": could not parse expression: 1:5: parse error: unexpected end of input
            r.yml:8:5: group "g", rule 3, "C": field 'expr' must be set in rule"#]],
    );
}

#[test]
fn scaling_and_recovery_policies() {
    let text = "groups:
- name: game
  rules:
  - record: x
    expr: up
  - scaling: game-servers
    target: docker/game
    expr: avg(game_cpu_percent)
    target_value: 60
    min_replicas: 1
    max_replicas: 5
    tolerance: 0.05
    mode: approve
    cooldown: 1m
    predictive: max(forecast_value{rule=\"players\"})
    scale_up:
      stabilization_window: 30s
      policies: [{type: replicas, value: 2, period: 1m}, {type: percent, value: 50, period: 1m}]
      select: min
    scale_down: {select: disabled}
    breaker: {failures: 5, open_for: 1h}
    labels: {team: ops}
  - recovery: game-restart
    target: deployment/games/game
    expr: up{job=\"game\"} == 0
    for: 2m
    instance_label: pod
    max_restarts: 2
    backoff: 1m
    max_backoff: 5m
";
    let f = parse("r.yml", text).unwrap();
    let g = &f.groups[0];
    assert_eq!(g.rules.len(), 1, "policies are not group rules");
    assert_eq!(g.policies.len(), 2);
    let crate::scaling::PolicyDef::Scaling(s) = &g.policies[0].def else { panic!() };
    assert_eq!(g.policies[0].name, "game-servers");
    assert_eq!(g.policies[0].line, 6);
    assert_eq!(s.target.to_string(), "docker/game");
    assert_eq!((s.target_value, s.min_replicas, s.max_replicas, s.tolerance), (60.0, 1, 5, 0.05));
    assert_eq!((s.mode, s.cooldown_ms), (crate::scaling::Mode::Approve, 60_000));
    assert_eq!(s.predictive_expr.as_deref(), Some("max(forecast_value{rule=\"players\"})"));
    assert_eq!(s.up.stabilization_ms, 30_000);
    assert_eq!(s.up.policies.len(), 2);
    assert_eq!(s.up.select, crate::scaling::Select::Min);
    assert_eq!(s.down.select, crate::scaling::Select::Disabled);
    assert_eq!(s.down.stabilization_ms, 300_000, "defaults kept for what is not given");
    assert_eq!((s.breaker.failures, s.breaker.open_for_ms), (5, 3_600_000));
    assert_eq!(s.labels.get("team").map(String::as_str), Some("ops"));
    let crate::scaling::PolicyDef::Recovery(r) = &g.policies[1].def else { panic!() };
    assert_eq!(r.target.to_string(), "deployment/games/game");
    assert_eq!(
        (r.for_ms, r.instance_label.as_str(), r.max_restarts, r.backoff_ms, r.max_backoff_ms),
        (120_000, "pod", 2, 60_000, 300_000)
    );
    // The defaults: mPanel's seed.
    let f = parse("r.yml", &rule("scaling: s\ntarget: docker/g\nexpr: avg(cpu)")).unwrap();
    let crate::scaling::PolicyDef::Scaling(s) = &f.groups[0].policies[0].def else { panic!() };
    assert_eq!(
        (s.target_value, s.min_replicas, s.max_replicas, s.cooldown_ms, s.mode),
        (70.0, 2, 10, 30_000, crate::scaling::Mode::Enforce)
    );
}

#[test]
fn policy_errors() {
    check(
        &rule("scaling: s\nexpr: avg(cpu)"),
        expect![[
            r#"r.yml:4:5: group "g", rule 1, "s": a scaling rule needs 'target' (docker/<service>, deployment/<ns>/<name> or statefulset/<ns>/<name>)"#
        ]],
    );
    check(
        &rule("scaling: s\ntarget: pod/x\nexpr: avg(cpu"),
        expect![[r#"
            r.yml:5:13: group "g", rule 1, "s": invalid target "pod/x": a target is docker/<service>, deployment/[<namespace>/]<name> or statefulset/[<namespace>/]<name>
            r.yml:6:11: group "g", rule 1, "s": could not parse expression: 1:8: parse error: unclosed left parenthesis"#]],
    );
    check(
        &rule(
            "scaling: s\ntarget: docker/g\nexpr: x\nfor: 1m\nmin_replicas: 5\nmax_replicas: 3\nmode: yolo\ntolerance: 2",
        ),
        expect![[r#"
            r.yml:7:10: group "g", rule 1, "s": invalid field 'for' in scaling rule
            r.yml:10:11: group "g", rule 1, "s": mode must be enforce, dry_run or approve, got "yolo"
            r.yml:11:16: group "g", rule 1, "s": tolerance must be in [0, 1), got 2
            r.yml:9:19: group "g", rule 1, "s": need 0 <= min_replicas <= max_replicas and max_replicas >= 1, got 5 and 3"#]],
    );
    check(
        &rule(
            "scaling: s\ntarget: docker/g\nexpr: x\nscale_up: {policies: [{type: pods, value: 1, period: 1m}]}\nscale_down: {policies: [{type: percent, value: 150, period: 1m}]}",
        ),
        expect![[r#"
            r.yml:7:27: group "g", rule 1, "s": scale_up.policies: type must be percent or replicas, got "pods"
            r.yml:7:15: group "g", rule 1, "s": scale_up: policies must not be empty (use select: disabled to forbid changes)
            r.yml:8:29: group "g", rule 1, "s": scale_down.policies: value 150 out of range
            r.yml:8:17: group "g", rule 1, "s": scale_down: policies must not be empty (use select: disabled to forbid changes)"#]],
    );
    check(
        &rule("recovery: r\ntarget: docker/g\ntarget_value: 3\nbackoff: 5m\nmax_backoff: 1m\nmax_restarts: 0"),
        expect![[r#"
            r.yml:6:19: group "g", rule 1, "r": invalid field 'target_value' in recovery rule
            r.yml:9:19: group "g", rule 1, "r": max_restarts must be between 1 and 1000, got 0
            r.yml:8:18: group "g", rule 1, "r": max_backoff must not be shorter than backoff"#]],
    );
    check(
        &rule("alert: A\nexpr: up == 0\ntarget: docker/g\nmin_replicas: 2"),
        expect![[r#"
            r.yml:6:13: group "g", rule 1, "A": invalid field 'target' in alerting rule
            r.yml:7:19: group "g", rule 1, "A": invalid field 'min_replicas' in alerting rule"#]],
    );
    check(
        "groups:\n- name: a\n  rules:\n  - {scaling: s, target: docker/a, expr: x}\n- name: b\n  rules:\n  - {recovery: s, target: docker/b}\n",
        expect![[r#"r.yml:7:0: group "b": policy "s" is already defined in group "a": policy names are unique"#]],
    );
}
