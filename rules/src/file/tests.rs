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
                    },
                    GroupDef {
                        name: "empty",
                        interval_ms: None,
                        query_offset_ms: None,
                        limit: 0,
                        labels: {},
                        rules: [],
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
        expect![[r#"
        r.yml:6:5: unknown field `foo`, expected one of record, alert, expr, for, keep_firing_for, labels, annotations, anomaly, forecast, detector, min_level, max_series, features, on, retrain, model, horizon, threshold, direction"#]],
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
