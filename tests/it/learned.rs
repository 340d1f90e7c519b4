//! Anomaly and forecast rules in the server: their series, their state in `/api/v1/rules`,
//! `/api/v1/capacity`, `/api/v1/health_scores` and `tickdb_health_score`, and what they
//! learned surviving a restart.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{TestServer, series, write_request};

const RULES: &str = r#"groups:
  - name: learned
    interval: 1s
    rules:
      - forecast: DiskFullSoon
        expr: disk_free_bytes
        model: linear:window=1m,buckets=6,min_samples=3
        horizon: 1h
        threshold: 0
        direction: below
        labels: {severity: warning}
      - anomaly: PlayersOdd
        expr: players
        detector: zscore:window=10m,buckets=10,min_samples=1000
"#;

async fn poll(s: &TestServer, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last {path}: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Free disk falls by 10 bytes a second from 1000 at `t0`: empty 100 s after `t0`.
async fn write_disk(s: &TestServer, t0: i64) {
    let t = tickdb::server::now_ms();
    let v = 1000.0 - (t - t0) as f64 / 100.0;
    let req = write_request(vec![
        series(&[("__name__", "disk_free_bytes"), ("instance", "game-1"), ("mount", "/")], &[(t, v)]),
        series(&[("__name__", "players"), ("instance", "game-1")], &[(t, 40.0)]),
    ]);
    assert_eq!(s.write_v1(&req).await.status, 204);
}

fn learning<'a>(rules: &'a Value, name: &str) -> &'a Value {
    let rs = rules["data"]["groups"][0]["rules"].as_array().unwrap();
    &rs.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name}: {rules}"))["learning"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_capacity_health_and_learned_state_across_a_restart() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("learned.yml"), RULES).unwrap();
    let d = rules.path().to_path_buf();
    let cfg = move |c: &mut tickdb::config::Config| {
        c.rules.dir = d;
        c.rules.evaluation_interval = tickdb::duration::PromDuration::from_secs(1);
    };
    let s = TestServer::with(cfg.clone()).await;
    let t0 = tickdb::server::now_ms();
    // Samples for ~5 s while the rules evaluate every second.
    let writer = {
        let (url, client) = (s.url.clone(), s.client.clone());
        tokio::spawn(async move {
            for _ in 0..25 {
                let t = tickdb::server::now_ms();
                let v = 1000.0 - (t - t0) as f64 / 100.0;
                let req = write_request(vec![
                    series(&[("__name__", "disk_free_bytes"), ("instance", "game-1"), ("mount", "/")], &[(t, v)]),
                    series(&[("__name__", "players"), ("instance", "game-1")], &[(t, 40.0)]),
                ]);
                let body = tickdb::remote::encode_compressed(&req);
                let r = client
                    .post(format!("{url}/api/v1/write"))
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "snappy")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 204);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let v = poll(&s, "/api/v1/capacity", "a forecast crossing", |v| {
        v["data"]["targets"][0]["resources"][0]["crossingAt"].is_string()
    })
    .await;
    writer.await.unwrap();
    let target = &v["data"]["targets"][0];
    assert_eq!((v["data"]["by"].as_str(), target["target"].as_str()), (Some("instance"), Some("game-1")), "{v}");
    let res = &target["resources"][0];
    assert_eq!(
        (res["rule"].as_str(), res["direction"].as_str(), res["horizon"].as_str()),
        (Some("DiskFullSoon"), Some("below"), Some("1h"))
    );
    // Empty 100 s after t0, give or take the search step (1h / 64) and the samples' jitter.
    let at = chrono::DateTime::parse_from_rfc3339(res["crossingAt"].as_str().unwrap()).unwrap().timestamp_millis();
    assert!((at - (t0 + 100_000)).abs() <= 3_600_000 / 64 + 5_000, "crossing at {} ms after t0: {v}", at - t0);
    // The forecast alert fires; its value is the seconds left.
    let a = poll(&s, "/api/v1/alerts", "the forecast alert", |v| {
        v["data"]["alerts"].as_array().is_some_and(|a| a.iter().any(|x| x["labels"]["alertname"] == "DiskFullSoon"))
    })
    .await;
    assert!(a.to_string().contains("\"mount\":\"/\""), "{a}");
    // Health: the warning alert and the coming crossing cost points.
    let h = poll(&s, "/api/v1/health_scores", "a health score", |v| v["data"]["scores"][0]["score"].is_number()).await;
    let sc = &h["data"]["scores"][0];
    assert_eq!(sc["target"], "game-1");
    let score = sc["score"].as_f64().unwrap();
    assert!((0.0..90.0).contains(&score), "{h}");
    assert!(sc["soonestCrossing"]["rule"] == "DiskFullSoon", "{h}");
    let q = poll(&s, "/api/v1/query?query=tickdb_health_score", "the health score series", |v| {
        v["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
    })
    .await;
    assert_eq!(q["data"]["result"][0]["metric"]["target"], "game-1");
    // The series the rules write.
    for name in ["forecast_value", "forecast_lower", "forecast_upper", "forecast_crossing_seconds"] {
        let r = s.get(&format!("/api/v1/query?query={name}%7Bforecast%3D%22DiskFullSoon%22%7D")).await;
        assert!(r.body.contains("\"mount\":\"/\""), "{name}: {}", r.body);
    }
    // The anomaly rule is still warming up (it needs 1000 samples) and says so.
    let rules_v =
        poll(&s, "/api/v1/rules", "rule state", |v| learning(v, "PlayersOdd")["tracked_series"].as_u64() == Some(1))
            .await;
    let l = learning(&rules_v, "PlayersOdd");
    assert_eq!(l["warming_up"], 1, "{l}");
    assert!(l["readiness"].as_str().unwrap().starts_with("warming up: "), "{l}");
    assert!(l["model"].as_str().unwrap().starts_with("zscore:window=10m"), "{l}");
    assert!(l["memory_bytes"].as_u64().unwrap() > 0);
    let samples_before: u64 =
        l["readiness"].as_str().unwrap()["warming up: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(samples_before >= 2, "{l}");
    let dir = s.stop().await;

    // What the rules learned is on disk and comes back at start, before any new evaluation.
    let saved: Vec<_> = std::fs::read_dir(dir.path().join("data").join("learned")).unwrap().collect();
    assert_eq!(saved.len(), 1, "one file for the group");
    let s = TestServer::in_dir(dir, cfg).await;
    let v: Value = serde_json::from_str(&s.get("/api/v1/rules").await.body).unwrap();
    let l = learning(&v, "PlayersOdd");
    assert_eq!(l["tracked_series"], 1, "restored: {l}");
    let after: u64 =
        l["readiness"].as_str().unwrap()["warming up: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(after >= samples_before, "{after} < {samples_before}");
    write_disk(&s, t0).await;
    s.stop().await;
}
