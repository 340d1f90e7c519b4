use super::*;

const G1: &str = "groups:\n  - name: game\n    rules:\n      - alert: Hot\n        expr: cpu > 80\n";
const G2: &str = "groups:\n  - name: game\n    rules:\n      - alert: Hot\n        expr: cpu > 90\n";

fn opts() -> rules::group::GroupOptions {
    rules::group::GroupOptions::default()
}

#[test]
fn names_round_trip_through_file_names() {
    for n in ["game", "eu-1/minecraft", "a b", "..", "ümlaut", "%41", ""] {
        let e = encode_name(n);
        assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-%".contains(&b)), "{e}");
        assert_eq!(decode_name(&e).as_deref(), Some(n));
    }
    assert_eq!(decode_name("%zz"), None);
}

#[test]
fn versions_accumulate_and_rollback_restores() {
    let d = tempfile::tempdir().unwrap();
    let s = RulesStore::open(d.path()).unwrap();
    assert!(s.current("game").unwrap().is_none());
    let c1 = s.put("game", G1, "alice", "first", 1000).unwrap();
    assert_eq!((c1.version.version, c1.before.as_deref(), c1.after.as_deref()), (1, None, Some(G1)));
    let c2 = s.put("game", G2, "bob", "stricter", 2000).unwrap();
    assert_eq!((c2.version.version, c2.before.as_deref()), (2, Some(G1)));
    assert_eq!(std::fs::read_to_string(s.active_dir().join("game.yml")).unwrap(), G2);

    let r = s.rollback("game", 1, "carol", "too strict", 3000).unwrap();
    assert_eq!((r.version.version, r.version.from, r.version.action), (3, Some(1), Action::Rollback));
    assert_eq!(s.current("game").unwrap().unwrap().text, G1);

    let d3 = s.delete("game", "dave", "gone", 4000).unwrap();
    assert_eq!((d3.before.as_deref(), d3.after), (Some(G1), None));
    assert!(s.current("game").unwrap().is_none());
    assert!(!s.active_dir().join("game.yml").exists());
    assert!(matches!(s.delete("game", "dave", "again", 5000), Err(StoreError::NotFound(_))));
    // The deleted group comes back by rolling back to any version that held it.
    s.rollback("game", 2, "erin", "back", 6000).unwrap();
    assert_eq!(s.current("game").unwrap().unwrap().text, G2);

    let vs = s.versions("game").unwrap();
    let summary: Vec<(u64, Action, String)> = vs.iter().map(|v| (v.version, v.action, v.author.clone())).collect();
    assert_eq!(
        summary,
        [
            (1, Action::Put, "alice".to_string()),
            (2, Action::Put, "bob".to_string()),
            (3, Action::Rollback, "carol".to_string()),
            (4, Action::Delete, "dave".to_string()),
            (5, Action::Rollback, "erin".to_string()),
        ]
    );
    assert!(matches!(s.rollback("game", 4, "x", "", 0), Err(StoreError::NoVersion { version: 4, .. })));
    assert!(matches!(s.rollback("game", 9, "x", "", 0), Err(StoreError::NoVersion { version: 9, .. })));
    assert!(matches!(s.rollback("nope", 1, "x", "", 0), Err(StoreError::NotFound(_))));

    // Reopened, the store reads the same history.
    let s2 = RulesStore::open(d.path()).unwrap();
    assert_eq!(s2.versions("game").unwrap(), vs);
    assert_eq!(s2.list().unwrap().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["game"]);
}

#[test]
fn a_torn_history_line_is_skipped() {
    let d = tempfile::tempdir().unwrap();
    let s = RulesStore::open(d.path()).unwrap();
    s.put("game", G1, "alice", "first", 1000).unwrap();
    let h = d.path().join("groups/game/history.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(&h).unwrap();
    f.write_all(b"{\"version\":2,\"time").unwrap();
    assert_eq!(s.versions("game").unwrap().len(), 1);
}

#[test]
fn validation_accepts_files_and_bare_groups_and_reports_positions() {
    // A rule file with the one group.
    assert_eq!(validate_group("game", G1, &opts()).unwrap(), G1);
    // The group mapping itself, with or without its name (Mimir's ruler API body).
    let bare = "rules:\n  - record: x:sum\n    expr: sum(x)\n";
    let text = validate_group("game", bare, &opts()).unwrap();
    let f = rules::file::parse("t", &text).unwrap();
    assert_eq!((f.groups[0].name.as_str(), f.groups[0].rules.len()), ("game", 1));
    let named = "name: game\ninterval: 30s\nrules:\n  - record: x:sum\n    expr: sum(x)\n";
    assert_eq!(
        rules::file::parse("t", &validate_group("game", named, &opts()).unwrap()).unwrap().groups[0].interval_ms,
        Some(30_000)
    );

    // JSON: a bare group (named or not) and a whole file.
    let json = r#"{"rules": [{"record": "x:sum", "expr": "sum(x)"}]}"#;
    let f = rules::file::parse("t", &validate_group("game", json, &opts()).unwrap()).unwrap();
    assert_eq!((f.groups[0].name.as_str(), f.groups[0].rules[0].expr.as_str()), ("game", "sum(x)"));
    let named = r#"{"name": "game", "interval": "1m", "rules": []}"#;
    assert_eq!(
        rules::file::parse("t", &validate_group("game", named, &opts()).unwrap()).unwrap().groups[0].interval_ms,
        Some(60_000)
    );
    let file = r#"{"groups": [{"name": "game", "rules": []}]}"#;
    assert_eq!(validate_group("game", file, &opts()).unwrap(), file);
    assert!(validate_group("game", "{\"rules\": [", &opts()).unwrap_err().to_string().contains("invalid JSON"));

    let check = |name: &str, body: &str, want: &str| {
        let e = validate_group(name, body, &opts()).unwrap_err().to_string();
        assert!(e.contains(want), "{body:?}: {e}");
    };
    check("other", G1, "named \"game\", the URL names \"other\"");
    check("game", "groups:\n  - name: game\n    rules: []\n  - name: b\n    rules: []\n", "exactly one rule group");
    // A bad expression: the error names the group, the rule and the position in the body.
    check("game", "rules:\n  - alert: Hot\n    expr: cpu >\n", "group \"game\", rule 1, \"Hot\"");
    check("game", "rules:\n  - alert: Hot\n    expr: cpu >\n", "api:game:3:");
    check("game", "rules:\n  - alert: Hot\n    expr: up\n    annotations:\n      a: '{{ $labels.x '\n", "Hot");
    check("game", "rules:\n  - alert: Hot\n    expr: up\n    for: 5x\n", "api:game:4:");
}

#[test]
fn diffs_are_unified() {
    let d = unified_diff(G1, G2, "game v1", "game v2");
    assert!(d.starts_with("--- game v1\n+++ game v2\n"), "{d}");
    assert!(d.contains("-        expr: cpu > 80\n+        expr: cpu > 90\n"), "{d}");
    assert_eq!(unified_diff(G1, G1, "a", "b"), "");
}

#[test]
fn templates_are_stored_and_instantiated() {
    let t =
        "rules:\n  - alert: CpuHigh\n    expr: cpu{server=\"${server}\"} > ${cpu}\n    labels:\n      game: ${game}\n";
    assert_eq!(template_params(t), ["cpu", "game", "server"]);
    assert_eq!(template_params("${} ${a-b} ${ok}"), ["ok"]);
    let params: std::collections::BTreeMap<String, String> = [("server", "eu-1"), ("cpu", "80"), ("game", "minecraft")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let text = instantiate(t, &params).unwrap();
    assert!(text.contains("cpu{server=\"eu-1\"} > 80") && text.contains("game: minecraft"), "{text}");
    let mut partial = params.clone();
    partial.remove("cpu");
    assert!(instantiate(t, &partial).unwrap_err().to_string().contains("without a value: cpu"));

    let d = tempfile::tempdir().unwrap();
    let s = RulesStore::open(d.path()).unwrap();
    assert!(s.templates().unwrap().is_empty());
    s.put_template("game pack", t).unwrap();
    assert_eq!(s.templates().unwrap(), ["game pack"]);
    assert_eq!(s.template("game pack").unwrap(), t);
    assert!(matches!(s.template("nope"), Err(StoreError::NotFound(_))));
}

#[test]
fn a_change_that_cannot_go_live_leaves_no_version() {
    let d = tempfile::tempdir().unwrap();
    let s = RulesStore::open(d.path()).unwrap();
    s.put("game", G1, "alice", "first", 1000).unwrap();
    // A non-empty directory where the live file goes: the rename making v2 live fails.
    std::fs::remove_file(s.active_dir().join("game.yml")).unwrap();
    std::fs::create_dir_all(s.active_dir().join("game.yml").join("blocker")).unwrap();
    assert!(matches!(s.put("game", G2, "bob", "stricter", 2000), Err(StoreError::Io { .. })));
    let vs = s.versions("game").unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1], "the failed version is not in the history");
    assert_eq!(s.current("game").unwrap().unwrap().text, G1);
    // Once the path is free again, the next change is version 2 and goes live.
    std::fs::remove_dir_all(s.active_dir().join("game.yml")).unwrap();
    assert_eq!(s.put("game", G2, "bob", "stricter", 3000).unwrap().version.version, 2);
    assert_eq!(std::fs::read_to_string(s.active_dir().join("game.yml")).unwrap(), G2);
}

#[test]
fn reconcile_makes_live_files_follow_the_history() {
    let d = tempfile::tempdir().unwrap();
    let s = RulesStore::open(d.path()).unwrap();
    s.put("game", G1, "alice", "first", 1000).unwrap();
    s.put("game", G2, "bob", "second", 2000).unwrap();
    s.put("web", G1, "alice", "web", 3000).unwrap();
    s.put("gone", G1, "alice", "gone", 4000).unwrap();
    s.delete("gone", "alice", "bye", 5000).unwrap();
    assert!(s.reconcile().unwrap().is_empty(), "nothing to do when they agree");
    // As a crash between the history line and the live file leaves them: game's live file is
    // one version behind, web's is missing, and the deleted group is still live.
    std::fs::write(s.active_dir().join("game.yml"), G1).unwrap();
    std::fs::remove_file(s.active_dir().join("web.yml")).unwrap();
    std::fs::write(s.active_dir().join("gone.yml"), G1).unwrap();
    assert_eq!(s.reconcile().unwrap(), ["game", "gone", "web"]);
    assert_eq!(std::fs::read_to_string(s.active_dir().join("game.yml")).unwrap(), G2);
    assert_eq!(std::fs::read_to_string(s.active_dir().join("web.yml")).unwrap(), G1);
    assert!(!s.active_dir().join("gone.yml").exists());
}
