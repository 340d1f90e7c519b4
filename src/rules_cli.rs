//! `tickdb rules check FILE...` and `tickdb rules test FILE...`: `promtool check rules` and
//! `promtool test rules` with promtool's output, stream for stream (progress and results on
//! stdout, `FAILED:` and error text on stderr) and exit codes (0 ok, 1 failure, 3 lint
//! findings with `--lint-fatal`).
//!
//! Validation is [`rules::file`]'s (errors as `file:line:col: group "g", rule n, "name": ...`);
//! unit tests are [`rules::unittest`]'s.

use std::io::Write;
use std::path::PathBuf;

use rules::file::{RuleFile, RuleFileError};
use rules::unittest::{TestOptions, test_file};

use crate::cli::{RulesCheckArgs, RulesLint, RulesTestArgs};

/// Exit code of a failed check or test.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code when only lint findings were reported and `--lint-fatal` was given (promtool's).
pub const EXIT_LINT: i32 = 3;

/// `tickdb rules check`: validates each file; returns the exit code.
pub fn check(args: &RulesCheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<i32> {
    let mut failed = false;
    let mut has_errors = false;
    for f in &args.files {
        writeln!(out, "Checking {}", f.display())?;
        match read_rule_file(f) {
            Err(errs) => {
                failed = true;
                has_errors = true;
                writeln!(err, "  FAILED:")?;
                for e in errs {
                    writeln!(err, "{e}")?;
                }
            }
            Ok(rf) => {
                let n: usize = rf.groups.iter().map(|g| g.rules.len()).sum();
                let dups = if args.lint == RulesLint::DuplicateRules { duplicates(&rf) } else { Vec::new() };
                if dups.is_empty() {
                    writeln!(out, "  SUCCESS: {n} rules found")?;
                } else {
                    failed = true;
                    writeln!(err, "  FAILED:")?;
                    writeln!(err, "lint error {}", duplicates_message(&dups))?;
                }
            }
        }
        writeln!(out)?;
    }
    Ok(match (failed, has_errors) {
        (true, true) => EXIT_FAILURE,
        (true, false) if args.lint_fatal => EXIT_LINT,
        _ => 0,
    })
}

fn read_rule_file(p: &PathBuf) -> Result<RuleFile, Vec<RuleFileError>> {
    let name = p.display().to_string();
    let text = std::fs::read_to_string(p).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        vec![RuleFileError {
            file: name.clone(),
            line: 0,
            col: 0,
            group: None,
            rule: None,
            msg: format!("open {name}: {why}"),
        }]
    })?;
    rules::file::parse(&name, &text)
}

/// A rule name with its own labels (promtool's `compareRuleType`).
type RuleKey = (String, Vec<(String, String)>);

/// promtool's `checkDuplicates`: rules of the file with the same name and the same labels
/// (the expression is not compared), each reported once, sorted.
fn duplicates(rf: &RuleFile) -> Vec<RuleKey> {
    let mut all: Vec<RuleKey> = rf
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| (r.name().to_string(), r.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
        .collect();
    all.sort();
    let mut out: Vec<RuleKey> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] && out.last() != Some(&w[1]) {
            out.push(w[1].clone());
        }
    }
    out
}

fn duplicates_message(dups: &[RuleKey]) -> String {
    let mut s = format!("{} duplicate rule(s) found.\n", dups.len());
    for (metric, labels) in dups {
        s.push_str(&format!("Metric: {metric}\nLabel(s):\n"));
        for (k, v) in labels {
            s.push_str(&format!("\t{k}: {v}\n"));
        }
    }
    s.push_str("Might cause inconsistency while recording expressions");
    s
}

/// `tickdb rules test`: runs each test file; returns the exit code.
pub fn test(args: &RulesTestArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let run = if args.run.is_empty() {
        None
    } else {
        Some(regex::Regex::new(&args.run.join("|")).map_err(|e| anyhow::anyhow!("--run: {e}"))?)
    };
    let opts = TestOptions { run };
    let mut failed = false;
    for f in &args.files {
        writeln!(out, "Unit Testing:  {}", f.display())?;
        out.flush()?;
        let report = test_file(f, &opts);
        for w in &report.warnings {
            writeln!(err, "{w}")?;
        }
        if report.passed() {
            writeln!(out, "  SUCCESS")?;
        } else {
            failed = true;
            writeln!(err, "  FAILED:")?;
            for e in &report.failures {
                writeln!(err, "{e}")?;
                writeln!(out)?;
            }
        }
        writeln!(out)?;
    }
    Ok(if failed { EXIT_FAILURE } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_dups(yaml: &str, expected: &str) {
        let rf = rules::file::parse("r.yml", yaml).expect("valid");
        let d = duplicates(&rf);
        let got = if d.is_empty() { "none".to_string() } else { duplicates_message(&d) };
        assert_eq!(got, expected);
    }

    #[test]
    fn duplicate_rules_by_name_and_labels() {
        check_dups("groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n  - record: y\n    expr: up\n", "none");
        check_dups(
            "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    labels: {k: v}\n- name: b\n  rules:\n  - record: x\n    expr: sum(up)\n    labels: {k: v}\n  - record: x\n    expr: up\n    labels: {k: v}\n  - alert: x\n    expr: up\n",
            "1 duplicate rule(s) found.\nMetric: x\nLabel(s):\n\tk: v\nMight cause inconsistency while recording expressions",
        );
    }
}
