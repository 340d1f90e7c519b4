//! `tickdb rules check` and `tickdb rules test` as a user runs them (the built binary), on the
//! example rule packs under examples/rules/, and against the real `promtool check rules` /
//! `promtool test rules` on the same files: same verdicts, same failure messages.

use std::path::{Path, PathBuf};
use std::process::Command;

use expect_test::expect;

use crate::tools::which;

/// Exit code, stdout and stderr of one run.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn run(bin: &Path, args: &[&str], cwd: &Path) -> Run {
    let out = Command::new(bin).args(args).current_dir(cwd).output().expect("run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf8"),
        stderr: String::from_utf8(out.stderr).expect("utf8"),
    }
}

pub(crate) fn tickdb(args: &[&str], cwd: &Path) -> Run {
    run(Path::new(env!("CARGO_BIN_EXE_tickdb")), args, cwd)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules")
}

/// The example test files, relative to examples/rules/.
const TEST_FILES: &[&str] = &["gameserver_test.yml", "promtool-docs/test.yml"];

/// A temporary copy of the gameserver pack with `edit` applied to the test file.
fn broken_copy(edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(examples().join("gameserver.yml"), d.path().join("gameserver.yml")).unwrap();
    let t = std::fs::read_to_string(examples().join("gameserver_test.yml")).unwrap();
    std::fs::write(d.path().join("gameserver_test.yml"), edit(t)).unwrap();
    d
}

fn replace_once(s: String, from: &str, to: &str) -> String {
    assert!(s.contains(from), "{from:?} not in the file");
    s.replacen(from, to, 1)
}

#[test]
fn check_examples() {
    let r = tickdb(&["rules", "check", "gameserver.yml", "promtool-docs/alerts.yml"], &examples());
    assert_eq!(r.code, 0, "{}", r.stderr);
    expect![[r#"
        Checking gameserver.yml
          SUCCESS: 11 rules found

        Checking promtool-docs/alerts.yml
          SUCCESS: 2 rules found

    "#]]
    .assert_eq(&r.stdout);
    assert_eq!(r.stderr, "");
}

#[test]
fn check_reports_errors_with_positions() {
    let d = tempfile::tempdir().unwrap();
    let bad = "groups:\n- name: game\n  rules:\n  - alert: Lag\n    expr: gameserver_tick_rate < (\n    for: 5m\n  - record: 'players total'\n    expr: sum(gameserver_players)\n    annotations: {a: b}\n";
    std::fs::write(d.path().join("bad.yml"), bad).unwrap();
    std::fs::copy(examples().join("gameserver.yml"), d.path().join("good.yml")).unwrap();
    let r = tickdb(&["rules", "check", "good.yml", "bad.yml", "missing.yml"], d.path());
    assert_eq!(r.code, 1);
    expect![[r#"
        Checking good.yml
          SUCCESS: 11 rules found

        Checking bad.yml

        Checking missing.yml

    "#]]
    .assert_eq(&r.stdout);
    expect![[r#"
          FAILED:
        bad.yml:5:11: group "game", rule 1, "Lag": could not parse expression: 1:25: parse error: unclosed left parenthesis
        bad.yml:7:13: group "game", rule 2, "players total": invalid field 'annotations' in recording rule
        bad.yml:7:13: group "game", rule 2, "players total": invalid recording rule name: players total
          FAILED:
        missing.yml: open missing.yml: no such file or directory
    "#]]
    .assert_eq(&r.stderr);
}

#[test]
fn check_lints_duplicate_rules() {
    let d = tempfile::tempdir().unwrap();
    let dup = "groups:\n- name: a\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n- name: b\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up == 1)\n";
    std::fs::write(d.path().join("dup.yml"), dup).unwrap();
    let r = tickdb(&["rules", "check", "dup.yml"], d.path());
    assert_eq!(r.code, 0, "a lint finding alone does not fail");
    expect![[r#"
          FAILED:
        lint error 1 duplicate rule(s) found.
        Metric: job:up:sum
        Label(s):
        Might cause inconsistency while recording expressions
    "#]]
    .assert_eq(&r.stderr);
    assert_eq!(tickdb(&["rules", "check", "--lint-fatal", "dup.yml"], d.path()).code, 3);
    let r = tickdb(&["rules", "check", "--lint", "none", "dup.yml"], d.path());
    assert_eq!((r.code, r.stdout.as_str()), (0, "Checking dup.yml\n  SUCCESS: 2 rules found\n\n"));
}

#[test]
fn test_examples_pass() {
    for f in TEST_FILES {
        let r = tickdb(&["rules", "test", f], &examples());
        assert_eq!(r.code, 0, "{f}:\n{}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, format!("Unit Testing:  {f}\n  SUCCESS\n\n"));
        assert_eq!(r.stderr, "");
    }
}

#[test]
fn wrong_expectation_fails_with_promtools_message() {
    let d = broken_copy(|t| {
        let t = replace_once(t, "is 85% (threshold 80%)", "is 90% (threshold 80%)");
        replace_once(t, "value: 0.9375", "value: 0.9")
    });
    let r = tickdb(&["rules", "test", "gameserver_test.yml"], d.path());
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "Unit Testing:  gameserver_test.yml\n\n\n\n");
    // (A first line without indentation keeps expect-test from trimming the message's own.)
    expect![[r#"
        stderr:
          FAILED:
            name: cpu,
            alertname: GameServerHighCpu, time: 6m, 
                exp:[
                    0:
                      Labels:{alertname="GameServerHighCpu", instance="game-1:9100", job="node", severity="warning"}
                      Annotations:{description="CPU usage on game-1:9100 is 90% (threshold 80%) for more than 5 minutes.", summary="High CPU usage on game-1:9100"}
                    ], 
                got:[
                    0:
                      Labels:{alertname="GameServerHighCpu", instance="game-1:9100", job="node", severity="warning"}
                      Annotations:{description="CPU usage on game-1:9100 is 85% (threshold 80%) for more than 5 minutes.", summary="High CPU usage on game-1:9100"}
                    ]
            expr: "instance:node_memory_utilisation:ratio", time: 5m,
                exp: {__name__="instance:node_memory_utilisation:ratio", instance="game-1:9100", job="node"} 9E-01, {__name__="instance:node_memory_utilisation:ratio", instance="game-2:9100", job="node"} 5E-01
                got: {__name__="instance:node_memory_utilisation:ratio", instance="game-1:9100", job="node"} 9.375E-01, {__name__="instance:node_memory_utilisation:ratio", instance="game-2:9100", job="node"} 5E-01
    "#]]
    .assert_eq(&format!("stderr:\n{}", r.stderr));
}

/// `--run` selects test groups by name.
#[test]
fn run_flag_selects_test_groups() {
    let d = broken_copy(|t| replace_once(t, "value: 0.9375", "value: 0.9"));
    assert_eq!(tickdb(&["rules", "test", "--run", "cpu", "--run", "^disk$", "gameserver_test.yml"], d.path()).code, 0);
    assert_eq!(tickdb(&["rules", "test", "--run", "mem", "gameserver_test.yml"], d.path()).code, 1);
}

/// Broken copies of the gameserver tests, as (what, text, replacement) of the test file: each
/// must fail in both tools with the same output.
const MUTATIONS: &[(&str, &str, &str)] = &[
    ("annotation", "is 93.75% (threshold 90%)", "is 93.7% (threshold 90%)"),
    ("sample value", "value: 0.625", "value: 0.6"),
    // Expecting the alert while it is still pending.
    (
        "pending",
        "      - eval_time: 6m\n        alertname: GameServerHighCpu",
        "      - eval_time: 5m59s\n        alertname: GameServerHighCpu",
    ),
    // Expecting the alert after it resolved.
    (
        "resolved",
        "      - eval_time: 8m\n        alertname: GameServerDown",
        "      - eval_time: 9m\n        alertname: GameServerDown",
    ),
    ("label", "severity: info", "severity: warning"),
    ("missing alertname", "        alertname: GameServerFull\n        exp_alerts: []\n", "        exp_alerts: []\n"),
    ("bad expression", "expr: gameserver:players:ratio", "expr: gameserver:players:ratio{"),
];

/// The real promtool on the same files: both pass the examples, both fail each broken copy
/// with byte-identical messages.
#[test]
fn same_verdicts_as_promtool() {
    let Some(promtool) = which("promtool") else {
        eprintln!("SKIPPED same_verdicts_as_promtool: promtool is not installed (scripts/test.sh installs it)");
        return;
    };
    // promtool 2.42 prints `Unit Testing:  FILE` first; newer ones do not.
    let without_banner = |s: &str| s.lines().filter(|l| !l.starts_with("Unit Testing:")).collect::<Vec<_>>().join("\n");
    for f in TEST_FILES {
        let theirs = run(&promtool, &["test", "rules", f], &examples());
        assert_eq!(theirs.code, 0, "promtool on {f}:\n{}{}", theirs.stdout, theirs.stderr);
        let ours = tickdb(&["rules", "test", f], &examples());
        assert_eq!(ours.code, 0, "tickdb on {f}:\n{}", ours.stderr);
        assert_eq!(without_banner(&ours.stdout), without_banner(&theirs.stdout), "{f}");
    }
    for f in ["gameserver.yml", "promtool-docs/alerts.yml"] {
        let theirs = run(&promtool, &["check", "rules", f], &examples());
        let ours = tickdb(&["rules", "check", f], &examples());
        assert_eq!((ours.code, &ours.stdout), (theirs.code, &theirs.stdout), "{f}");
    }
    for &(what, from, to) in MUTATIONS {
        let d = broken_copy(|t| replace_once(t, from, to));
        let theirs = run(&promtool, &["test", "rules", "gameserver_test.yml"], d.path());
        let ours = tickdb(&["rules", "test", "gameserver_test.yml"], d.path());
        assert_eq!(theirs.code, 1, "{what}: promtool passed:\n{}", theirs.stdout);
        assert_eq!(ours.code, 1, "{what}: tickdb passed:\n{}", ours.stdout);
        assert_eq!(ours.stderr, theirs.stderr, "{what}: stderr differs");
        assert_eq!(without_banner(&ours.stdout), without_banner(&theirs.stdout), "{what}: stdout differs");
    }
    // A broken rule file: both fail (the wording of rule file errors is our own:
    // `file:line:col:` where promtool writes `file: line:col:`).
    let d = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(examples().join("gameserver.yml")).unwrap();
    std::fs::write(d.path().join("gameserver.yml"), replace_once(rules, "== 0", "== ")).unwrap();
    std::fs::copy(examples().join("gameserver_test.yml"), d.path().join("gameserver_test.yml")).unwrap();
    for args in [&["test", "rules", "gameserver_test.yml"][..], &["check", "rules", "gameserver.yml"]] {
        let theirs = run(&promtool, args, d.path());
        let ours_args: Vec<&str> = ["rules", args[0]].into_iter().chain(args[2..].iter().copied()).collect();
        let ours = tickdb(&ours_args, d.path());
        assert_eq!((ours.code, theirs.code), (1, 1), "{args:?}:\n{}\n{}", ours.stderr, theirs.stderr);
    }
}
