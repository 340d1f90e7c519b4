//! The offline `tickdb tsdb` commands and `promtool` against a running server.

use std::process::Command;

use expect_test::expect;

use crate::harness::*;

/// `tickdb tsdb dump` prints what `promtool tsdb dump` prints, with Go's `%g` values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_after_shutdown() {
    let s = TestServer::start().await;
    let req = write_request(vec![
        series(&[("__name__", "a"), ("x", "1")], &[(BASE, 1.0), (BASE + 1000, 1234567.0), (BASE + 2000, 0.00001)]),
        series(&[("__name__", "b")], &[(BASE, f64::INFINITY), (BASE + 1000, f64::NAN)]),
    ]);
    assert_eq!(s.write_v1(&req).await.status, 204);
    let dir = s.stop().await;
    let data = dir.path().join("data");
    let dump = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tickdb"))
            .args(["tsdb", "dump", "--data-dir"])
            .arg(&data)
            .args(args)
            .output()
            .expect("run tickdb");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    };
    expect![[r#"
        {__name__="a", x="1"} 1 1700000000000
        {__name__="a", x="1"} 1.234567e+06 1700000001000
        {__name__="a", x="1"} 1e-05 1700000002000
        {__name__="b"} +Inf 1700000000000
        {__name__="b"} NaN 1700000001000
    "#]]
    .assert_eq(&dump(&[]));
    expect![[r#"
        {__name__="a", x="1"} 1.234567e+06 1700000001000
    "#]]
    .assert_eq(&dump(&[
        "--match",
        "a",
        "--min-time",
        &(BASE + 500).to_string(),
        "--max-time",
        &(BASE + 1500).to_string(),
    ]));
}

#[test]
fn tsdb_import_then_dump() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.om");
    std::fs::write(&file, "# TYPE t gauge\nt{a=\"1\"} 1 1700000000\nt{a=\"1\"} 2.5 1700000060.5\n# EOF\n").unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_tickdb"))
        .args(["tsdb", "import", "--format", "openmetrics"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out =
        Command::new(env!("CARGO_BIN_EXE_tickdb")).args(["tsdb", "dump", "--data-dir"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    expect![[r#"
        {__name__="t", a="1"} 1 1700000000000
        {__name__="t", a="1"} 2.5 1700000060500
    "#]]
    .assert_eq(&String::from_utf8(out.stdout).unwrap());
}

#[test]
fn dump_of_missing_dir_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickdb"))
        .args(["tsdb", "dump", "--data-dir"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!dir.path().join("nope").exists());
}

#[test]
fn help_has_examples() {
    for sub in [&["serve"][..], &["tsdb", "import"], &["tsdb", "dump"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickdb")).args(sub).arg("--help").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Example:"), "{sub:?}: {text}");
    }
}

/// `promtool query instant|range|series|labels` against tickdb.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_queries() {
    let Some(promtool) = which("promtool") else {
        eprintln!("SKIPPED promtool_queries: promtool is not installed");
        return;
    };
    let s = loaded_server().await;
    let url = s.url.clone();
    let run = move |args: Vec<String>| {
        let out = Command::new(&promtool).args(&args).output().expect("run promtool");
        assert!(out.status.success(), "promtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    };
    let t = (BASE / 1000 + 600).to_string();
    let start = (BASE / 1000).to_string();
    let r = tokio::task::spawn_blocking({
        let (run, url, t, start) = (run.clone(), url.clone(), t.clone(), start.clone());
        move || {
            (
                run(vec!["query".into(), "instant".into(), "--time".into(), t.clone(), url.clone(), "sort(up)".into()]),
                run(vec![
                    "query".into(),
                    "range".into(),
                    "--start".into(),
                    (BASE / 1000 + 300).to_string(),
                    "--end".into(),
                    (BASE / 1000 + 330).to_string(),
                    "--step".into(),
                    "15s".into(),
                    url.clone(),
                    "sum(up)".into(),
                ]),
                run(vec![
                    "query".into(),
                    "series".into(),
                    "--match".into(),
                    "up".into(),
                    "--start".into(),
                    start.clone(),
                    "--end".into(),
                    t.clone(),
                    url.clone(),
                ]),
                run(vec![
                    "query".into(),
                    "labels".into(),
                    "--start".into(),
                    start.clone(),
                    "--end".into(),
                    t.clone(),
                    url.clone(),
                    "instance".into(),
                ]),
            )
        }
    })
    .await
    .unwrap();
    expect![[r#"
        up{instance="b:9090", job="api"} => 0 @[1700000600]
        up{instance="a:9090", job="api"} => 1 @[1700000600]
    "#]]
    .assert_eq(&r.0);
    expect![[r#"
        {} =>
        1 @[1700000300]
        1 @[1700000315]
        1 @[1700000330]
    "#]]
    .assert_eq(&r.1);
    expect![[r#"
        {__name__="up", instance="a:9090", job="api"}
        {__name__="up", instance="b:9090", job="api"}
    "#]]
    .assert_eq(&r.2);
    expect![[r#"
        a:9090
        b:9090
    "#]]
    .assert_eq(&r.3);
    s.stop().await;
}

/// The path of an installed executable.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(name)).find(|p| p.is_file())
}
