//! End to end against the real Prometheus (skipped with a message when it is not installed):
//! Prometheus scrapes a small exporter served by the test and tickdb's own `/metrics`, and
//! remote-writes everything to tickdb. Then the same PromQL queries go to both and the answers
//! must agree (same series, values within 1e-9 relative).
//!
//! To compare like with like, Prometheus is stopped (flushing its remote-write queue) and
//! restarted on its data directory without scrape jobs, so neither side receives new data
//! while the queries run.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::tools::which;

/// A tiny exporter: every scrape advances its counters deterministically.
async fn start_exporter() -> String {
    let n = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let k = n.fetch_add(1, Ordering::Relaxed) as f64;
            async move {
                let mut s = String::new();
                s.push_str("# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\n");
                for (m, c, f) in [("get", "200", 7.0), ("get", "500", 1.0), ("post", "200", 3.0)] {
                    s.push_str(&format!(
                        "demo_requests_total{{method=\"{m}\",code=\"{c}\"}} {}\n",
                        k * f + (k * k) % 5.0
                    ));
                }
                s.push_str("# TYPE demo_temperature gauge\n");
                for (room, base) in [("kitchen", 21.0), ("cellar", 12.5), ("attic", 25.25)] {
                    s.push_str(&format!("demo_temperature{{room=\"{room}\"}} {}\n", base + (k * 0.7).sin() * 3.0));
                }
                s.push_str("# TYPE demo_latency_seconds histogram\n");
                let mut cum = 0.0;
                for (le, w) in [("0.05", 5.0), ("0.1", 3.0), ("0.5", 2.0), ("1", 1.0), ("+Inf", 0.5)] {
                    cum += w * k;
                    s.push_str(&format!("demo_latency_seconds_bucket{{le=\"{le}\"}} {cum}\n"));
                }
                s.push_str(&format!("demo_latency_seconds_sum {}\ndemo_latency_seconds_count {cum}\n", k * 1.75));
                s
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind exporter");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    addr.to_string()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

pub(crate) struct Prom {
    child: Child,
    pub(crate) url: String,
}

impl Prom {
    pub(crate) fn start(bin: &std::path::Path, dir: &std::path::Path, config: &str, port: u16) -> Prom {
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).expect("write config");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Prom { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// SIGTERM and wait (Prometheus flushes remote write on shutdown).
    fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Prom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns true (an external process gives no other signal), failing
/// after `secs` seconds with Prometheus's log.
pub(crate) async fn poll_until(what: &str, secs: u64, log: &std::path::Path, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("timed out waiting for {what}; prometheus log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get_json(client: &reqwest::Client, url: &str, params: &[(&str, String)]) -> Value {
    let r = client.get(url).query(params).send().await.expect("request");
    let body = r.text().await.expect("body");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON from {url}: {body}"))
}

/// Normalises a query result: resultType plus label set → points.
fn normalize(v: &Value) -> (String, BTreeMap<String, Vec<(f64, f64)>>) {
    let data = &v["data"];
    let ty = data["resultType"].as_str().unwrap_or("").to_string();
    let point = |p: &Value| (p[0].as_f64().unwrap_or(f64::NAN), p[1].as_str().and_then(parse_val).unwrap_or(f64::NAN));
    let mut out = BTreeMap::new();
    match ty.as_str() {
        "scalar" | "string" => {
            out.insert(String::new(), vec![point(&data["result"])]);
        }
        _ => {
            for s in data["result"].as_array().cloned().unwrap_or_default() {
                let key = s["metric"].to_string();
                let pts = if let Some(vals) = s["values"].as_array() {
                    vals.iter().map(point).collect()
                } else {
                    vec![point(&s["value"])]
                };
                out.insert(key, pts);
            }
        }
    }
    (ty, out)
}

fn parse_val(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b).abs() <= 1e-9 * a.abs().max(b.abs()))
}

const QUERIES: &[&str] = &[
    "up",
    "up{job=\"exporter\"}",
    "count(up)",
    "demo_requests_total",
    "demo_requests_total{code!=\"200\"}",
    "demo_requests_total{method=~\"g.*\"}",
    "rate(demo_requests_total[5s])",
    "irate(demo_requests_total[5s])",
    "increase(demo_requests_total[10s])",
    "resets(demo_requests_total[10s])",
    "sum by (code) (rate(demo_requests_total[5s]))",
    "sum without (code) (demo_requests_total)",
    "demo_requests_total / on(method) group_left sum by (method) (demo_requests_total)",
    "demo_requests_total{code=\"200\"} + ignoring(code) demo_requests_total{code=\"500\"}",
    "avg(demo_temperature)",
    "max by (room) (demo_temperature)",
    "topk(2, demo_temperature)",
    "bottomk(1, demo_temperature)",
    "quantile(0.5, demo_temperature)",
    "stddev(demo_temperature)",
    "count_values(\"v\", up)",
    "demo_temperature > 20",
    "demo_temperature > bool 20",
    "demo_temperature * 2 + 1",
    "-demo_temperature",
    "clamp_max(demo_temperature, 21)",
    "abs(demo_temperature - 20)",
    "max_over_time(demo_temperature[10s])",
    "avg_over_time(demo_temperature[10s])",
    "deriv(demo_temperature[10s])",
    "delta(demo_temperature[10s])",
    "changes(demo_temperature[10s])",
    "predict_linear(demo_temperature[10s], 60)",
    "demo_temperature offset 3s",
    "histogram_quantile(0.9, sum by (le) (rate(demo_latency_seconds_bucket[5s])))",
    "histogram_quantile(0.5, rate(demo_latency_seconds_bucket[10s]))",
    "rate(demo_latency_seconds_sum[10s]) / rate(demo_latency_seconds_count[10s])",
    "max_over_time(rate(demo_requests_total[5s])[10s:2s])",
    "sum_over_time(up[10s:1s])",
    "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "absent(nonexistent_metric)",
    "vector(1)",
    "time()",
    "scalar(count(up))",
    "timestamp(up{job=\"exporter\"})",
    "sort_desc(sum by (job) (up))",
    "count by (__name__) ({job=\"exporter\"})",
    "process_open_fds{job=\"tickdb\"} > 0",
    "up[5s]",
    // Errors must be errors of the same type on both sides.
    "rate(up)",
    "sum(rate(up[5s])",
    "{job=~\"exp.*\"} / on() group_left vector(1)",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_real_prometheus() {
    let Some(prom_bin) = which("prometheus") else {
        eprintln!("SKIPPED matches_real_prometheus: prometheus is not installed");
        return;
    };
    let tick = TestServer::start().await;
    let exporter = start_exporter().await;
    let pdir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = [
        "global:".to_string(),
        "  scrape_interval: 1s".into(),
        "  evaluation_interval: 1s".into(),
        "scrape_configs:".into(),
        "  - job_name: exporter".into(),
        "    static_configs:".into(),
        format!("      - targets: ['{exporter}']"),
        "  - job_name: tickdb".into(),
        "    static_configs:".into(),
        format!("      - targets: ['{}']", tick.addr()),
        "remote_write:".into(),
        format!("  - url: {}/api/v1/write", tick.url),
        "    queue_config:".into(),
        "      batch_send_deadline: 200ms".into(),
        "      min_backoff: 10ms".into(),
        "      max_backoff: 200ms".into(),
    ]
    .join("\n");
    let mut prom = Prom::start(&prom_bin, pdir.path(), &config, port);
    let client = tickdb::tls::client_builder().no_proxy().build().expect("client");

    // Wait until tickdb has a dozen scrapes of the exporter.
    poll_until("remote-written data", 60, &pdir.path().join("prometheus.log"), async || {
        let v = get_json(
            &client,
            &format!("{}/api/v1/query", tick.url),
            &[("query", "count_over_time(up{job=\"exporter\"}[5m])".into())],
        )
        .await;
        v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse::<f64>().ok()).is_some_and(|n| n >= 12.0)
    })
    .await;
    prom.stop();
    // Restart without scraping or remote write: its TSDB now holds exactly what it sent.
    let mut prom = Prom::start(&prom_bin, pdir.path(), "global:\n  scrape_interval: 1s\n", port);
    poll_until("prometheus ready", 60, &pdir.path().join("prometheus.log"), async || {
        client.get(format!("{}/-/ready", prom.url)).send().await.map(|r| r.status().is_success()).unwrap_or(false)
    })
    .await;

    // Evaluate two scrapes before the last sample tickdb received, so a sample still in
    // flight at shutdown cannot matter.
    let last = get_json(
        &client,
        &format!("{}/api/v1/query", tick.url),
        &[("query", "max(timestamp(up))".into()), ("time", format!("{}", now_s()))],
    )
    .await;
    let last: f64 =
        last["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse().ok()).expect("last timestamp");
    let t = (last - 2.0).floor();

    let mut failures = Vec::new();
    let mut non_empty = 0;
    for q in QUERIES {
        let inst = [("query", q.to_string()), ("time", t.to_string())];
        let range = [
            ("query", q.to_string()),
            ("start", (t - 20.0).to_string()),
            ("end", t.to_string()),
            ("step", "2".to_string()),
        ];
        for (path, params) in [("/api/v1/query", &inst[..]), ("/api/v1/query_range", &range[..])] {
            let pv = get_json(&client, &format!("{}{path}", prom.url), params).await;
            let tv = get_json(&client, &format!("{}{path}", tick.url), params).await;
            if pv["status"] != "success" {
                // Both must reject what Prometheus rejects (e.g. a string in a range query).
                if tv["status"] != "error" || tv["errorType"] != pv["errorType"] {
                    failures.push(format!("{path} {q}: prometheus {pv}, tickdb {tv}"));
                }
                continue;
            }
            let (pty, pres) = normalize(&pv);
            let (tty, tres) = normalize(&tv);
            let same = pty == tty
                && pres.keys().eq(tres.keys())
                && pres.iter().all(|(k, pp)| {
                    let tp = &tres[k];
                    pp.len() == tp.len() && pp.iter().zip(tp).all(|(a, b)| a.0 == b.0 && close(a.1, b.1))
                });
            non_empty += usize::from(!pres.is_empty());
            if !same {
                failures.push(format!("{path} {q}:\n  prometheus {pv}\n  tickdb     {tv}"));
            }
        }
    }
    prom.stop();
    tick.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {} comparisons differ:\n{}",
        failures.len(),
        QUERIES.len() * 2,
        failures.join("\n")
    );
    // Guard against a vacuous pass (e.g. both sides empty because no data arrived).
    assert!(non_empty >= QUERIES.len() * 2 - 10, "only {non_empty} comparisons had data");
    eprintln!(
        "all {} comparisons agree with Prometheus ({non_empty} with data, the rest errors on both sides)",
        QUERIES.len() * 2
    );
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A real Prometheus replays the WAL tickdb writes: snappy-compressed records (the default,
/// `storage.wal_compression`) in Prometheus's own framing. tickdb's WAL alone (no blocks, no
/// head chunks) is copied into a fresh Prometheus data dir; every sample comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_replays_our_compressed_wal() {
    let Some(prom_bin) = which("prometheus") else {
        eprintln!("SKIPPED prometheus_replays_our_compressed_wal: prometheus is not installed");
        return;
    };
    let s = TestServer::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let t0 = now - 120_000;
    // 50 series × 100 samples, in batches (many records, most of them compressible).
    for batch in 0..10 {
        let ts: Vec<_> = (0..50)
            .map(|i| {
                let samples: Vec<(i64, f64)> =
                    (0..10).map(|k| (t0 + (batch * 10 + k) * 1000, (i * 1000 + batch * 10 + k) as f64)).collect();
                series(&[("__name__", "walcheck"), ("series", &i.to_string()), ("job", "tickdb-wal")], &samples)
            })
            .collect();
        assert_eq!(s.write_v1(&write_request(ts)).await.status, 204);
    }
    let dir = s.stop().await;
    let wal = dir.path().join("data").join("wal");
    let segs: Vec<_> = std::fs::read_dir(&wal).unwrap().map(|e| e.unwrap().path()).collect();
    // The first record (the series of the first request) is snappy-compressed: flag 0x08 in its
    // first fragment's type byte.
    let first = std::fs::read(segs.iter().find(|p| p.is_file()).unwrap()).unwrap();
    assert_eq!(first[0] & 0x18, 0x08, "the first record is not snappy-compressed: type byte {:#x}", first[0]);
    let pdir = tempfile::tempdir().unwrap();
    let tsdb = pdir.path().join("tsdb");
    std::fs::create_dir_all(tsdb.join("wal")).unwrap();
    for p in &segs {
        if p.is_file() {
            std::fs::copy(p, tsdb.join("wal").join(p.file_name().unwrap())).unwrap();
        }
    }
    let port = free_port();
    let _prom = Prom::start(&prom_bin, pdir.path(), "global:\n  scrape_interval: 1m\n", port);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let log = pdir.path().join("prometheus.log");
    let mut got = Value::Null;
    poll_until("prometheus to answer", 60, &log, async || {
        let r = client
            .get(&url)
            .query(&[("query", "sum(count_over_time(walcheck[10m]))"), ("time", &format!("{}", now / 1000))])
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => {
                got = r.json().await.unwrap_or(Value::Null);
                true
            }
            _ => false,
        }
    })
    .await;
    assert_eq!(got["data"]["result"][0]["value"][1], "5000", "{got}");
    let v = get_json(&client, &url, &[("query", "walcheck{series=\"7\"}".into()), ("time", secs(t0 + 99_000))]).await;
    assert_eq!(v["data"]["result"][0]["value"][1], "7099", "{v}");
}
