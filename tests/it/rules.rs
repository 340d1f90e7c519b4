//! The rule engine inside the server: rule files from `rules.dir`, recording output and
//! `ALERTS` written to storage, `/api/v1/rules` and `/api/v1/alerts` in Prometheus's shape,
//! `POST /-/reload` keeping the previous rules on an invalid file, and alert state across a
//! restart. Groups run on a 1 s interval; tests poll the API with a deadline (no fixed sleeps).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{TestServer, series, write_request};

const RULES: &str = r#"groups:
  - name: gs
    interval: 1s
    rules:
      - record: job:players:sum
        expr: sum by (job) (players)
      - alert: ServerFull
        expr: players >= 10
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.instance }} has {{ $value }} players"
"#;

fn now_ms() -> i64 {
    tickdb::server::now_ms()
}

async fn write_players(s: &TestServer, instance: &str, v: f64) {
    let t = now_ms();
    let req =
        write_request(vec![series(&[("__name__", "players"), ("job", "game"), ("instance", instance)], &[(t, v)])]);
    let r = s.write_v1(&req).await;
    assert_eq!(r.status, 204, "{}", r.body);
}

/// Polls `path` until `done` accepts its JSON, or fails after 30 s.
async fn poll(s: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).expect("json");
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting on {path}; last answer: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn firing(v: &Value) -> Vec<Value> {
    v["data"]["alerts"].as_array().cloned().unwrap_or_default().into_iter().filter(|a| a["state"] == "firing").collect()
}

async fn server_with_rules(dir: &Path) -> TestServer {
    let d = dir.to_path_buf();
    TestServer::with(move |c| c.rules.dir = d).await
}

#[tokio::test]
async fn alerts_fire_and_recording_rules_write_series() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("gs.yml"), RULES).unwrap();
    let s = server_with_rules(rules.path()).await;
    write_players(&s, "eu-1", 12.0).await;
    write_players(&s, "eu-2", 3.0).await;

    let v = poll(&s, "/api/v1/alerts", |v| !firing(v).is_empty()).await;
    let a = &firing(&v)[0];
    assert_eq!(a["labels"]["alertname"], "ServerFull");
    assert_eq!(a["labels"]["instance"], "eu-1");
    assert_eq!(a["labels"]["severity"], "warning");
    assert_eq!(a["annotations"]["summary"], "eu-1 has 12 players");
    assert_eq!(a["value"], "1.2e+01");
    assert!(a["activeAt"].as_str().unwrap().ends_with('Z'));

    let rules_v = poll(&s, "/api/v1/rules", |v| v["data"]["groups"][0]["rules"][0]["health"] == "ok").await;
    let g = &rules_v["data"]["groups"][0];
    assert_eq!(g["name"], "gs");
    assert_eq!(g["interval"], 1.0);
    assert!(g["file"].as_str().unwrap().ends_with("gs.yml"));
    let rec = &g["rules"][0];
    assert_eq!(rec["type"], "recording");
    assert_eq!(rec["name"], "job:players:sum");
    assert_eq!(rec["query"], "sum by (job) (players)");
    let alert = &g["rules"][1];
    assert_eq!(alert["type"], "alerting");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["duration"], 0.0);
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["alerts"].as_array().unwrap().len(), 1);
    let only_rec = s.get("/api/v1/rules?type=record").await;
    assert!(!only_rec.body.contains("ServerFull"), "{}", only_rec.body);
    assert_eq!(s.get("/api/v1/rules?type=bogus").await.status, 400);

    // The recorded series and ALERTS are in storage (ALERTS from the second evaluation on: the
    // first one after start waits for the `for` state restore, as in Prometheus).
    let query_until = async |q: &str, ok: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = s.query(q, now_ms()).await;
            let v: Value = serde_json::from_str(&r.body).unwrap();
            if ok(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{q}: {}", r.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    query_until("job:players:sum", &|v| v["data"]["result"][0]["value"][1] == "15").await;
    query_until("ALERTS{alertname=\"ServerFull\"}", &|v| v["data"]["result"][0]["metric"]["alertstate"] == "firing")
        .await;
    let v = query_until("ALERTS_FOR_STATE{alertname=\"ServerFull\"}", &|v| !v["data"]["result"][0].is_null()).await;
    assert_eq!(v["data"]["result"][0]["metric"]["instance"], "eu-1");
    s.stop().await;
}

#[tokio::test]
async fn reload_rejects_an_invalid_file_and_keeps_the_previous_rules() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("gs.yml"), RULES).unwrap();
    let s = server_with_rules(rules.path()).await;
    std::fs::write(
        rules.path().join("bad.yml"),
        "groups:\n  - name: broken\n    rules:\n      - alert: Oops\n        expr: sum(rate(x[5m])\n",
    )
    .unwrap();
    let r = s.post_form("/-/reload", &[]).await;
    assert_eq!(r.status, 500, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "error");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("bad.yml:5:"), "error names file and line: {msg}");
    assert!(msg.contains("broken") && msg.contains("Oops"), "error names group and rule: {msg}");
    let g = s.get("/api/v1/rules").await;
    assert!(g.body.contains("\"gs\"") && !g.body.contains("broken"), "{}", g.body);

    std::fs::write(
        rules.path().join("bad.yml"),
        "groups:\n  - name: fixed\n    rules:\n      - record: x:sum\n        expr: sum(x)\n",
    )
    .unwrap();
    let r = s.post_form("/-/reload", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = s.get("/api/v1/rules").await;
    assert!(g.body.contains("\"gs\"") && g.body.contains("\"fixed\""), "{}", g.body);
    let m = s.get("/metrics").await;
    assert!(m.body.contains("tickdb_rules_config_last_reload_successful 1"), "{}", m.body);
    s.stop().await;
}

/// An alert that was firing before a restart keeps its `activeAt` (Prometheus's restore from
/// `ALERTS_FOR_STATE`, which holds it in whole seconds) and is firing again at the first
/// evaluation after the restore. The grace period is shortened to 1 s so that a 2 s `for` is
/// restored at all (Prometheus restores only rules whose `for` is at least the grace period).
const HELD_RULES: &str = r#"groups:
  - name: held
    interval: 1s
    rules:
      - alert: ServerFullLong
        expr: players >= 10
        for: 2s
"#;

#[tokio::test]
async fn a_restart_keeps_the_active_at_of_a_firing_alert() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("held.yml"), HELD_RULES).unwrap();
    let d = rules.path().to_path_buf();
    let cfg = move |c: &mut tickdb::config::Config| {
        c.rules.dir = d;
        c.rules.for_grace_period = tickdb::duration::PromDuration::from_secs(1);
    };
    let s = TestServer::with(cfg.clone()).await;
    write_players(&s, "eu-1", 11.0).await;
    let v = poll(&s, "/api/v1/alerts", |v| !firing(v).is_empty()).await;
    let active_at = firing(&v)[0]["activeAt"].as_str().unwrap().to_string();
    let dir = s.stop().await;

    let s = TestServer::in_dir(dir, cfg).await;
    write_players(&s, "eu-1", 11.0).await;
    let v = poll(&s, "/api/v1/alerts", |v| !firing(v).is_empty()).await;
    let restored = firing(&v)[0]["activeAt"].as_str().unwrap().to_string();
    // Whole seconds: "2026-12-04T21:18:55.518Z" -> "2026-12-04T21:18:55".
    assert_eq!(restored.trim_end_matches('Z'), &active_at[..19], "activeAt survives the restart: {v}");
    s.stop().await;
}

/// Rules over a remote datasource, the real Prometheus 2.42: Prometheus scrapes itself and
/// evaluates a rule file; tickdb evaluates the same file through `rules.datasource_url`. The
/// recorded value and the firing alert are the same on both, and tickdb stores its own output.
#[tokio::test]
async fn rules_over_a_real_prometheus_datasource_agree_with_prometheus() {
    use crate::prometheus::{Prom, free_port, poll_until};
    let Some(bin) = crate::tools::which("prometheus") else {
        eprintln!("SKIPPED rules_over_a_real_prometheus_datasource_agree_with_prometheus: prometheus is not installed");
        return;
    };
    let rules_file = r#"groups:
  - name: remote
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetUp
        expr: up == 1
        labels:
          severity: info
"#;
    let pdir = tempfile::tempdir().unwrap();
    std::fs::write(pdir.path().join("rules.yml"), rules_file).unwrap();
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: prom\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
        pdir.path().join("rules.yml").display()
    );
    let prom = Prom::start(&bin, pdir.path(), &config, port);
    let log = pdir.path().join("prometheus.log");
    let client = tickdb::tls::client_builder().no_proxy().build().unwrap();
    let prom_alerts = async || -> Value {
        let r = client.get(format!("{}/api/v1/alerts", prom.url)).send().await;
        match r {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    };
    poll_until("prometheus firing TargetUp", 60, &log, async || !firing(&prom_alerts().await).is_empty()).await;

    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("rules.yml"), rules_file).unwrap();
    let (d, url) = (rules.path().to_path_buf(), prom.url.clone());
    let s = TestServer::with(move |c| {
        c.rules.dir = d;
        c.rules.datasource_url = url;
    })
    .await;
    let v = poll(&s, "/api/v1/alerts", |v| !firing(v).is_empty()).await;
    let ours = &firing(&v)[0];
    let theirs = &firing(&prom_alerts().await)[0];
    assert_eq!(ours["labels"], theirs["labels"], "same alert labels: ours {ours}, Prometheus {theirs}");
    assert_eq!(ours["value"], theirs["value"]);

    // The recorded series is written to tickdb's own storage.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = s.query("job:up:sum", now_ms()).await;
        let v: Value = serde_json::from_str(&r.body).unwrap();
        if v["data"]["result"][0]["value"][1] == "1" {
            assert_eq!(v["data"]["result"][0]["metric"]["job"], "prom");
            break;
        }
        assert!(Instant::now() < deadline, "recorded series not in tickdb: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
    drop(prom);
}
