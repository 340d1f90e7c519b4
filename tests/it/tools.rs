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

/// The offline commands refuse a data directory a running server holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_commands_refuse_a_live_data_dir() {
    let s = TestServer::start().await;
    let data = s.dir.path().join("data");
    let om = s.dir.path().join("m.om");
    std::fs::write(&om, "# TYPE a gauge\na 1 1700000000\n# EOF\n").unwrap();
    for args in [vec!["tsdb".as_ref(), "dump".as_ref()], vec!["tsdb".as_ref(), "import".as_ref(), om.as_os_str()]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickdb")).args(&args).arg("--data-dir").arg(&data).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is locked by another tickdb process"), "{args:?}: {err}");
    }
    let blocks = std::fs::read_dir(&data).unwrap().filter(|e| e.as_ref().unwrap().path().join("meta.json").exists());
    assert_eq!(blocks.count(), 0);
    s.stop().await;
}

#[test]
fn help_has_examples() {
    for sub in [&[][..], &["serve"], &["tsdb"], &["tsdb", "import"], &["tsdb", "dump"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickdb")).args(sub).arg("--help").output().unwrap();
        assert!(out.status.success(), "{sub:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Example:\n  tickdb "), "{sub:?}: {text}");
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

/// A non-trivial OpenMetrics file: 12 families (counters and gauges, HELP/TYPE lines), 15 series
/// each with escaped label values, float edge values, ~8.3 h of samples (five 2 h blocks), and
/// the series of each family interleaved at random (each series in time order, as promtool
/// requires). With `shuffle_series`, each series' samples are shuffled too (only tickdb takes that).
fn big_openmetrics(seed: u64, shuffle_series: bool) -> String {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let edge = [
        "0",
        "-0",
        "1e-300",
        "5e-324",
        "1.7976931348623157e+308",
        "-1.7976931348623157e+308",
        "+Inf",
        "-Inf",
        "NaN",
        "0.1",
        "123456789012345678",
        "-2.5",
        "1e+21",
        "3.14159",
    ];
    let mut out = String::new();
    for f in 0..12 {
        let counter = f % 2 == 0;
        let fam = format!("fam{f}");
        let name = if counter { format!("{fam}_total") } else { fam.clone() };
        out += &format!("# HELP {fam} Help for {fam} with \\\\ backslash and \\n newline.\n");
        out += &format!("# TYPE {fam} {}\n", if counter { "counter" } else { "gauge" });
        let mut series: Vec<Vec<String>> = (0..15)
            .map(|s| {
                let labels = format!(r#"{{job="j{}",instance="i{s}",esc="q\"uote \\ bs \n nl ü"}}"#, s % 3);
                let (mut t, mut v) = (1_700_000_000_000i64 + s as i64 * 1000, 0.0f64);
                let mut lines: Vec<String> = (0..200)
                    .map(|k| {
                        t += if k % 10 == 0 { 151_500 } else { 150_000 };
                        let value = if counter {
                            v += rng.random_range(0..50) as f64;
                            format!("{v:?}")
                        } else if s % 5 == 0 {
                            edge[(k + s) % edge.len()].to_string()
                        } else {
                            format!("{:?}", rng.random_range(-100.0..100.0f64))
                        };
                        format!("{name}{labels} {value} {}.{:03}\n", t / 1000, t % 1000)
                    })
                    .collect();
                if shuffle_series {
                    lines.shuffle(&mut rng);
                }
                lines
            })
            .collect();
        series.shuffle(&mut rng);
        let mut next: Vec<std::collections::VecDeque<String>> = series.into_iter().map(Into::into).collect();
        while !next.is_empty() {
            let i = rng.random_range(0..next.len());
            match next[i].pop_front() {
                Some(l) => out += &l,
                None => {
                    next.swap_remove(i);
                }
            }
        }
    }
    out + "# EOF\n"
}

fn tickdb_import(file: &std::path::Path, data: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tickdb"))
        .args(["tsdb", "import", "--format", "openmetrics"])
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

/// `tickdb tsdb import` and `promtool tsdb create-blocks-from openmetrics` of the same file give
/// identical `promtool tsdb dump` output and the same blocks (time ranges, counts).
#[test]
fn tsdb_import_matches_promtool_create_blocks() {
    let Some(promtool) = which("promtool") else {
        eprintln!("SKIPPED tsdb_import_matches_promtool_create_blocks: promtool is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.om");
    std::fs::write(&file, big_openmetrics(7, false)).unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    let out = tickdb_import(&file, &ours);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out =
        Command::new(&promtool).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&file).arg(&theirs).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let promtool_out = |args: &[&str], d: &std::path::Path| {
        // promtool's read-only open wants a wal/ dir; neither import writes one.
        std::fs::create_dir_all(d.join("wal")).unwrap();
        let out = Command::new(&promtool).args(args).arg(d).output().unwrap();
        assert!(out.status.success(), "promtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let (a, b) = (promtool_out(&["tsdb", "dump"], &ours), promtool_out(&["tsdb", "dump"], &theirs));
    assert_eq!(a.lines().count(), 12 * 15 * 200);
    assert!(a == b, "promtool tsdb dump differs between tickdb import and promtool create-blocks-from");
    // Same blocks: min time, max time, samples, chunks, series (ULIDs and durations aside).
    let blocks = |d: &std::path::Path| {
        let mut v: Vec<String> = promtool_out(&["tsdb", "list"], d)
            .lines()
            .skip(1)
            .map(|l| {
                l.split_whitespace().enumerate().filter(|(i, _)| [1, 2, 4, 5, 6].contains(i)).map(|x| x.1).collect()
            })
            .collect();
        v.sort();
        v
    };
    let ours_blocks = blocks(&ours);
    assert_eq!(ours_blocks.len(), 5);
    assert_eq!(ours_blocks, blocks(&theirs));
    // tickdb's own dump agrees too.
    let out =
        Command::new(env!("CARGO_BIN_EXE_tickdb")).args(["tsdb", "dump", "--data-dir"]).arg(&ours).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap() == a, "tickdb tsdb dump differs from promtool tsdb dump");

    // Samples out of time order within a series: promtool refuses them; tickdb sorts them and
    // stores the same data.
    let shuffled = dir.path().join("shuffled.om");
    std::fs::write(&shuffled, big_openmetrics(7, true)).unwrap();
    let out = tickdb_import(&shuffled, &dir.path().join("shuffled"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(promtool_out(&["tsdb", "dump"], &dir.path().join("shuffled")).lines().count(), 12 * 15 * 200);
}

/// A bad line anywhere (here the last sample) fails the import with its line number and
/// leaves no block, not even a partial one.
#[test]
fn tsdb_import_rejects_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = big_openmetrics(3, false);
    let body = good.strip_suffix("# EOF\n").unwrap();
    let n = body.lines().count();
    for (bad, what) in [
        (format!("{body}fam0_total{{a=\"1\"}} oops 1700000000\n# EOF\n"), "invalid value"),
        (format!("{body}fam0_total{{a=\"1\",a=\"2\"}} 1 1700000000\n# EOF\n"), "duplicate"),
        (format!("{body}fam0_total{{a=\"1\"}} 1\n# EOF\n"), "no timestamp"),
        (format!("{body}fam0_total{{a=\"1\"}} 1 1700000000\n"), "missing # EOF"),
    ] {
        let file = dir.path().join("bad.om");
        std::fs::write(&file, bad).unwrap();
        let data = dir.path().join("data");
        let out = tickdb_import(&file, &data);
        assert!(!out.status.success(), "{what}");
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(err.contains(&format!("line {}", n + 1)), "{what}: {err}");
        assert!(err.contains(&what.to_lowercase()), "{what}: {err}");
        let left: Vec<_> = std::fs::read_dir(&data)
            .map(|d| d.map(|e| e.unwrap().file_name()).filter(|n| n != "lock").collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: the data dir holds {left:?}");
    }
}

/// Migration from Prometheus as docs/operations.md describes it: blocks written by Prometheus's
/// tooling (`promtool tsdb create-blocks-from openmetrics`) are copied into a stopped tickdb's
/// data directory and served after the restart, next to tickdb's own data. The copied blocks
/// end before tickdb's own (head) data starts: WAL samples older than the newest block's end
/// are dropped at replay, as in Prometheus (see the migration section of the docs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_blocks_copied_in_are_served() {
    let Some(promtool) = which("promtool") else {
        eprintln!("SKIPPED prometheus_blocks_copied_in_are_served: promtool is not installed");
        return;
    };
    let s = TestServer::start().await;
    assert_eq!(s.write_v1(&write_request(vec![series(&[("__name__", "own")], &[(BASE, 1.0)])])).await.status, 204);
    let dir = s.stop().await;
    // A day of Prometheus blocks, ending a day before tickdb's data.
    let day = 86_400;
    let t0 = BASE / 1000 - 2 * day;
    let mut om = String::from("# TYPE migrated gauge\n");
    for i in 0..=24 {
        om.push_str(&format!("migrated{{job=\"old\"}} {i} {}\n", t0 + i * 3600));
    }
    om.push_str("# EOF\n");
    let om_path = dir.path().join("old.om");
    std::fs::write(&om_path, om).unwrap();
    let out = dir.path().join("prom-blocks");
    let run = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_path)
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let data = dir.path().join("data");
    let mut copied = 0;
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.join("meta.json").is_file() {
            let to = data.join(p.file_name().unwrap());
            std::fs::create_dir_all(to.join("chunks")).unwrap();
            for f in ["meta.json", "index", "tombstones"] {
                std::fs::copy(p.join(f), to.join(f)).unwrap();
            }
            for c in std::fs::read_dir(p.join("chunks")).unwrap() {
                let c = c.unwrap().path();
                std::fs::copy(&c, to.join("chunks").join(c.file_name().unwrap())).unwrap();
            }
            copied += 1;
        }
    }
    assert!(copied >= 2, "promtool wrote {copied} blocks");
    let s = TestServer::in_dir(dir, |_| {}).await;
    let r = s.query("count_over_time(migrated[1d])", (t0 + day) * 1000).await;
    assert!(r.body.contains("\"value\":[1699913600,\"24\"]"), "{}", r.body);
    let r = s.query("own", BASE).await;
    assert!(r.body.contains("\"1\""), "{}", r.body);
    s.stop().await;
}
