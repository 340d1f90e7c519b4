//! Start-up and shutdown: readiness during storage opening, the `tickdb serve` binary with
//! flags and a config file, graceful shutdown on SIGTERM.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tickdb::config::Config;

use crate::harness::*;

/// While the storage opens (WAL replay), `/-/healthy` is 200 and `/-/ready` and the API are
/// 503; once open, everything answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_storage_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        Config { data_dir: dir.path().join("data"), listen: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let opener: tickdb::server::Opener = Box::new(move |c, r| {
        let _ = gate.recv();
        tickdb::wiring::open_storage(c, r)
    });
    let engine = tickdb::wiring::engine(&cfg);
    let h = tickdb::server::start(cfg, opener, engine, BTreeMap::new()).await.unwrap();
    let url = format!("http://{}", h.addr);
    let c = tickdb::tls::client_builder().no_proxy().build().unwrap();
    let status = async |path: &str| c.get(format!("{url}{path}")).send().await.unwrap().status().as_u16();
    assert_eq!(status("/-/healthy").await, 200);
    assert_eq!(status("/-/ready").await, 503);
    assert_eq!(status("/api/v1/query?query=up").await, 503);
    let r = c.post(format!("{url}/api/v1/write")).body(Vec::new()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    release.send(()).unwrap();
    h.wait_ready().await.unwrap();
    assert_eq!(status("/-/ready").await, 200);
    assert_eq!(status("/api/v1/query?query=up").await, 200);
    h.shutdown().await.unwrap();
}

/// The real binary: config file plus overriding flags, JSON logs, SIGTERM flushes and exits 0,
/// and the data is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg_path = dir.path().join("tickdb.yml");
    std::fs::write(&cfg_path, "listen: 127.0.0.1:1\nquery:\n  max_concurrency: 3\n").unwrap();
    let log_path = dir.path().join("log");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_tickdb"))
            .args(["serve", "--config"])
            .arg(&cfg_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log-format", "json", "--log-level", "info"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap()
    };
    let c = tickdb::tls::client_builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let wait_ready = async || {
        // An external process: poll until it answers.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = c.get(format!("{url}/-/ready")).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tickdb did not become ready: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut child = spawn();
    wait_ready().await;
    let body =
        tickdb::remote::encode_compressed(&write_request(vec![series(&[("__name__", "persisted")], &[(BASE, 42.0)])]));
    let r = c.post(format!("{url}/api/v1/write")).header("content-type", V1_CT).body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    // Errors are logged with their route and status.
    let r = c.get(format!("{url}/api/v1/query?query=sum(")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let cfg_body = c.get(format!("{url}/api/v1/status/config")).send().await.unwrap().text().await.unwrap();
    assert!(cfg_body.contains("max_concurrency: 3"), "{cfg_body}");
    assert!(cfg_body.contains(&format!("listen: 127.0.0.1:{port}")), "{cfg_body}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(code.success(), "exit status {code:?}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("\"message\":\"storage closed\""), "{log}");
    let bad = log.lines().find(|l| l.contains("\"message\":\"bad request\"")).unwrap_or_else(|| panic!("{log}"));
    assert!(bad.contains("\"path\":\"/api/v1/query\"") && bad.contains("\"status\":400"), "{bad}");

    let mut child = spawn();
    wait_ready().await;
    let r = c
        .get(format!("{url}/api/v1/query"))
        .query(&[("query", "persisted"), ("time", &secs(BASE))])
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("\"42\""), "{text}");
    // SIGINT (Ctrl-C) shuts down just as cleanly.
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(code.success(), "exit status {code:?}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("\"message\":\"storage closed\""), "{log}");
}

/// Four hours of samples: more than 1.5 block ranges (2 h), so maintenance persists the oldest
/// range as a block.
fn four_hours() -> tickdb::remote::v1::WriteRequest {
    let pts: Vec<(i64, f64)> = (0..240).map(|i| (BASE + i * 60_000, i as f64)).collect();
    write_request(vec![series(&[("__name__", "m"), ("job", "x")], &pts)])
}

/// Block directories (with a meta.json) in a data directory.
fn blocks_in(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("meta.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn head_min_time(body: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["data"]["headStats"]["minTime"].as_i64().unwrap()
}

/// Maintenance run on demand with an injected clock cuts a block out of the head; the data
/// stays queryable across block and head, and the clock is the default query time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_cuts_blocks() {
    let now = BASE + 4 * 3600 * 1000;
    let s = TestServer::with_clock(std::sync::Arc::new(move || now), |c| {
        c.storage.maintain_interval = "1h".parse().unwrap();
    })
    .await;
    assert_eq!(s.write_v1(&four_hours()).await.status, 204);
    let data = s.dir.path().join("data");
    assert_eq!(blocks_in(&data), Vec::<String>::new());
    assert_eq!(head_min_time(&s.get("/api/v1/status/tsdb").await.body), BASE);
    s.handle().run_maintenance().await.unwrap();
    assert_eq!(blocks_in(&data).len(), 1, "{:?}", blocks_in(&data));
    assert!(head_min_time(&s.get("/api/v1/status/tsdb").await.body) > BASE);
    // No `time` parameter: evaluated at the injected clock's time.
    let r = s.get_params("/api/v1/query", &[("query", "count_over_time(m[5h])")]).await;
    assert!(r.body.contains(r#""value":[1700014400,"240"]"#), "{}", r.body);
    assert_eq!(*s.handle().state.maintenance_runs.borrow(), 1);
    // Samples older than the newest block are too old now.
    let r = s.write_v1(&write_request(vec![series(&[("__name__", "late")], &[(BASE, 1.0)])])).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("rejected 1 of 1 samples: too_old=1"), "{}", r.body);
    s.stop().await;
}

/// The timer runs maintenance every `storage.maintain_interval` (waiting on the run counter,
/// not on time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_runs_on_its_interval() {
    let s = TestServer::with(|c| c.storage.maintain_interval = "10ms".parse().unwrap()).await;
    assert_eq!(s.write_v1(&four_hours()).await.status, 204);
    let mut runs = s.handle().state.maintenance_runs.subscribe();
    let after_write = *runs.borrow();
    // A run that started after the write finished.
    runs.wait_for(|n| *n >= after_write + 2).await.unwrap();
    assert_eq!(blocks_in(&s.dir.path().join("data")).len(), 1);
    s.stop().await;
}

/// A second server on the same data directory does not start, and says why, instead of
/// serving from a shared WAL and audit log: the audit log's lock, taken first, refuses it (the
/// storage's own directory lock is tested in storage/tests/path_tester.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_server_on_same_dir_fails() {
    let first = TestServer::start().await;
    let cfg = Config {
        data_dir: first.dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let engine = tickdb::wiring::engine(&cfg);
    let err = tickdb::server::start(cfg, Box::new(tickdb::wiring::open_storage), engine, BTreeMap::new())
        .await
        .err()
        .expect("a second server on the same data dir must not start");
    let msg = format!("{err:#}");
    assert!(msg.contains("opening the audit log") && msg.contains("locked"), "{msg}");
    // The first server is unharmed.
    assert_eq!(first.get("/-/ready").await.status, 200);
    first.stop().await;
}

/// A bad config file stops `tickdb serve` with a message naming the file and the problem.
#[test]
fn bad_config_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yml");
    std::fs::write(&cfg, "query:\n  timeout: soon\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickdb")).args(["serve", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml") && err.contains("not a valid duration"), "{err}");
}
