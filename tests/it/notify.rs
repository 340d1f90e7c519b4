//! The notifier against real peers: local HTTP receivers (axum on 127.0.0.1:0) for the
//! webhook, Discord and Slack payloads (exact snapshots) and for delivery semantics (retries,
//! restart, permanent failures, corrupt queue files, a slow receiver); a real SMTP server
//! (Python's `aiosmtpd`, with AUTH) for email; the real Alertmanager (Debian's
//! `prometheus-alertmanager`) for alert forwarding (submodules `mail` and `forward`). Tests that
//! need a missing peer say so and pass. Backoff is a few milliseconds, or driven by a `ManualClock`; synchronisation is
//! short polling of what the receivers saw.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rules::alert::{Alert, LabelMap, fingerprint};
use rules::notify::{Notification, NotifiedAlert, Status};
use serde_json::Value;
use storage::metrics::Registry;
use tickdb::notifier::queue::{DiskQueue, FORMAT_VERSION, JobRecord};
use tickdb::notifier::{DeliveryOptions, ManualClock, NotificationsFile, Notifier, Receivers};

mod forward;
mod mail;

const BASE: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------
// Fixtures

fn lm(pairs: &[(&str, &str)]) -> LabelMap {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn alert(status: Status, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> NotifiedAlert {
    let labels = lm(labels);
    NotifiedAlert {
        status,
        fingerprint: fingerprint(&labels),
        alert: Alert {
            labels,
            annotations: lm(annotations),
            starts_at_ms: BASE,
            ends_at_ms: if status == Status::Resolved { BASE + 300_250 } else { BASE + 240_000 },
            resolved: status == Status::Resolved,
            generator_url: "http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1"
                .into(),
        },
    }
}

/// The notification every payload snapshot renders: two firing alerts of different
/// severities and one resolved, grouped by alertname.
fn fixed_notification(receiver: &str) -> Notification {
    let common = [("alertname", "HighErrorRate"), ("job", "api")];
    Notification {
        receiver: receiver.into(),
        group_key: "{}/0{team=\"api\"}:{alertname=\"HighErrorRate\"}".into(),
        status: Status::Firing,
        group_labels: lm(&[("alertname", "HighErrorRate")]),
        common_labels: lm(&common),
        common_annotations: lm(&[("runbook_url", "https://runbooks.example/errors")]),
        alerts: vec![
            alert(
                Status::Firing,
                &[("alertname", "HighErrorRate"), ("instance", "api-1:8080"), ("job", "api"), ("severity", "critical")],
                &[
                    ("summary", "api-1 error rate is 12%"),
                    ("description", "5xx > 10% for 5m"),
                    ("runbook_url", "https://runbooks.example/errors"),
                ],
            ),
            alert(
                Status::Firing,
                &[("alertname", "HighErrorRate"), ("instance", "api-2:8080"), ("job", "api"), ("severity", "warning")],
                &[("summary", "api-2 error rate is 6% <warning>"), ("runbook_url", "https://runbooks.example/errors")],
            ),
            alert(
                Status::Resolved,
                &[("alertname", "HighErrorRate"), ("instance", "api-3:8080"), ("job", "api"), ("severity", "warning")],
                &[("summary", "api-3 recovered"), ("runbook_url", "https://runbooks.example/errors")],
            ),
        ],
        escalation_level: 0,
        created_ms: BASE + 360_000,
    }
}

fn simple_notification(receiver: &str, group: &str) -> Notification {
    Notification {
        receiver: receiver.into(),
        group_key: format!("{{}}:{{alertname=\"{group}\"}}"),
        status: Status::Firing,
        group_labels: lm(&[("alertname", group)]),
        common_labels: lm(&[("alertname", group)]),
        common_annotations: LabelMap::new(),
        alerts: vec![alert(Status::Firing, &[("alertname", group)], &[])],
        escalation_level: 0,
        created_ms: BASE,
    }
}

fn fast_opts() -> DeliveryOptions {
    DeliveryOptions {
        backoff_base: Duration::from_millis(2),
        backoff_max: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        shutdown_timeout: Duration::from_secs(5),
        external_url: "http://tickdb.example:9201".into(),
        ..Default::default()
    }
}

fn receivers(yaml: &str, dir: &Path) -> Receivers {
    NotificationsFile::parse(yaml, dir, "test.yml").unwrap_or_else(|e| panic!("{e}\n{yaml}")).1
}

/// Polls `f` every 10 ms until it holds, failing after `secs` seconds.
async fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn metric(reg: &Registry, series: &str) -> f64 {
    let text = reg.render();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

fn job_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// A scriptable HTTP receiver

#[derive(Clone, Debug)]
struct Captured {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
    /// The status the receiver answered.
    status: u16,
}

#[derive(Clone)]
struct Hook {
    base: String,
    seen: Arc<Mutex<Vec<Captured>>>,
    /// Statuses for the next requests, then `default_status`.
    plan: Arc<Mutex<VecDeque<u16>>>,
    default_status: Arc<AtomicU16>,
    /// Requests wait for a permit when `hang` is set.
    gate: Arc<tokio::sync::Semaphore>,
    hang: Arc<std::sync::atomic::AtomicBool>,
    /// Requests received (counted before any hang).
    arrived: Arc<std::sync::atomic::AtomicUsize>,
}

impl Hook {
    async fn start() -> Hook {
        let hook = Hook {
            base: String::new(),
            seen: Arc::default(),
            plan: Arc::default(),
            default_status: Arc::new(AtomicU16::new(200)),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
            hang: Arc::default(),
            arrived: Arc::default(),
        };
        let h = hook.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let h = h.clone();
            async move {
                let path = req.uri().path().to_string();
                let headers: BTreeMap<String, String> = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
                h.arrived.fetch_add(1, Ordering::SeqCst);
                if h.hang.load(Ordering::SeqCst) {
                    let _permit = h.gate.acquire().await;
                }
                let status = h.plan.lock().pop_front().unwrap_or_else(|| h.default_status.load(Ordering::SeqCst));
                h.seen.lock().push(Captured {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    status,
                });
                let mut resp = axum::response::Response::new(axum::body::Body::from(if status == 400 {
                    "bad payload"
                } else {
                    ""
                }));
                *resp.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
                if status == 429 {
                    resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("0"));
                }
                resp
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        Hook { base: format!("http://{addr}"), ..hook }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn seen(&self) -> Vec<Captured> {
        self.seen.lock().clone()
    }
    fn ok(&self) -> Vec<Captured> {
        self.seen().into_iter().filter(|c| (200..300).contains(&c.status)).collect()
    }
}

fn group_of(c: &Captured) -> String {
    let v: Value = serde_json::from_str(&c.body).expect("JSON body");
    v["groupLabels"]["alertname"].as_str().unwrap_or("").to_string()
}

// ---------------------------------------------------------------------------------------
// Payloads

#[tokio::test]
async fn webhook_discord_and_slack_payloads_are_exact() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "hunter2\n").unwrap();
    let yaml = format!(
        r#"
route: {{receiver: team}}
receivers:
  - name: team
    webhook_configs:
      - url: {0}
        http_config: {{basic_auth: {{username: tickdb, password_file: pw}}}}
    discord_configs:
      - webhook_url: {1}
    slack_configs:
      - api_url: {2}
        send_resolved: true
"#,
        hook.url("/webhook/token-a"),
        hook.url("/discord/api/webhooks/1/token-b"),
        hook.url("/slack/services/T/B/token-c"),
    );
    let reg = Registry::new();
    let n = Notifier::start(&dir.path().join("q"), receivers(&yaml, dir.path()), &reg, fast_opts()).await.unwrap();
    assert_eq!(n.enqueue(fixed_notification("team")).await.unwrap(), 3);
    wait_for("three deliveries", 10, || hook.ok().len() == 3).await;
    n.stop().await;
    let by_path = |p: &str| hook.seen().into_iter().find(|c| c.path.starts_with(p)).expect(p);

    let w = by_path("/webhook/");
    assert_eq!(w.headers["content-type"], "application/json");
    assert_eq!(w.headers["authorization"], "Basic dGlja2RiOmh1bnRlcjI="); // tickdb:hunter2
    assert!(w.headers["user-agent"].starts_with("tickdb/"), "{:?}", w.headers);
    assert!(w.headers.contains_key("x-tickdb-notification-id"));
    expect_test::expect![[r#"
        {"receiver":"team","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","instance":"api-1:8080","job":"api","severity":"critical"},"annotations":{"description":"5xx \u003e 10% for 5m","runbook_url":"https://runbooks.example/errors","summary":"api-1 error rate is 12%"},"startsAt":"2023-11-14T22:13:20Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1","fingerprint":"bd70a65464fae094"},{"status":"firing","labels":{"alertname":"HighErrorRate","instance":"api-2:8080","job":"api","severity":"warning"},"annotations":{"runbook_url":"https://runbooks.example/errors","summary":"api-2 error rate is 6% \u003cwarning\u003e"},"startsAt":"2023-11-14T22:13:20Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1","fingerprint":"234fbaf636248404"},{"status":"resolved","labels":{"alertname":"HighErrorRate","instance":"api-3:8080","job":"api","severity":"warning"},"annotations":{"runbook_url":"https://runbooks.example/errors","summary":"api-3 recovered"},"startsAt":"2023-11-14T22:13:20Z","endsAt":"2023-11-14T22:18:20.25Z","generatorURL":"http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1","fingerprint":"0ebda2d6758ba2f5"}],"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate","job":"api"},"commonAnnotations":{"runbook_url":"https://runbooks.example/errors"},"externalURL":"http://tickdb.example:9201","version":"4","groupKey":"{}/0{team=\"api\"}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0}
    "#]].assert_eq(&w.body);

    let pretty = |c: &Captured| serde_json::to_string_pretty(&serde_json::from_str::<Value>(&c.body).unwrap()).unwrap();
    let d = by_path("/discord/");
    assert!(!d.headers.contains_key("authorization"));
    expect_test::expect![[r#"
        {
          "embeds": [
            {
              "color": 14687789,
              "description": "**Firing**\n• **HighErrorRate** `critical` — instance=api-1:8080, job=api, severity=critical\n> api-1 error rate is 12%\n> 5xx > 10% for 5m\n[source](http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1)\n• **HighErrorRate** `warning` — instance=api-2:8080, job=api, severity=warning\n> api-2 error rate is 6% <warning>\n[source](http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1)\n\n**Resolved**\n• **HighErrorRate** — instance=api-3:8080, job=api, severity=warning\n> api-3 recovered\n[source](http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1)",
              "footer": {
                "text": "tickdb · receiver team"
              },
              "timestamp": "2023-11-14T22:19:20Z",
              "title": "[FIRING:2] HighErrorRate (api)"
            }
          ]
        }"#]].assert_eq(&pretty(&d));
    let s = by_path("/slack/");
    expect_test::expect![[r#"
        {
          "blocks": [
            {
              "text": {
                "emoji": true,
                "text": "[FIRING:2] HighErrorRate (api)",
                "type": "plain_text"
              },
              "type": "header"
            },
            {
              "text": {
                "text": ":red_circle: *FIRING* *HighErrorRate* · `critical`\n*Summary:* api-1 error rate is 12%\n*Description:* 5xx &gt; 10% for 5m\n*Labels:* `instance=api-1:8080` `job=api` `severity=critical`\n<http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1|Source>",
                "type": "mrkdwn"
              },
              "type": "section"
            },
            {
              "text": {
                "text": ":large_orange_circle: *FIRING* *HighErrorRate* · `warning`\n*Summary:* api-2 error rate is 6% &lt;warning&gt;\n*Labels:* `instance=api-2:8080` `job=api` `severity=warning`\n<http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1|Source>",
                "type": "mrkdwn"
              },
              "type": "section"
            },
            {
              "text": {
                "text": ":large_green_circle: *RESOLVED* *HighErrorRate* · `warning`\n*Summary:* api-3 recovered\n*Labels:* `instance=api-3:8080` `job=api` `severity=warning`\n<http://tickdb.example:9201/graph?g0.expr=rate%28http_errors_total%5B5m%5D%29+%3E+0.1|Source>",
                "type": "mrkdwn"
              },
              "type": "section"
            },
            {
              "elements": [
                {
                  "text": "tickdb · receiver *team* · 2 firing, 1 resolved",
                  "type": "mrkdwn"
                }
              ],
              "type": "context"
            }
          ],
          "text": "[FIRING:2] HighErrorRate (api) — 2 firing, 1 resolved"
        }"#]].assert_eq(&pretty(&s));

    // Each was one attempt, and the queue is empty on disk.
    assert_eq!(hook.seen().len(), 3);
    assert_eq!(job_files(&dir.path().join("q")), Vec::<String>::new());
    assert_eq!(metric(&reg, "tickdb_notifications_total{receiver=\"team\",integration=\"discord\"}"), 1.0);
    assert_eq!(metric(&reg, "tickdb_notifications_queue_length"), 0.0);
}

#[tokio::test]
async fn escalated_notifications_are_marked() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route: {{receiver: a, routes: [{{matchers: ['severity=critical'], escalation: [{{after: 10m, receiver: pager}}]}}]}}\nreceivers:\n  - name: a\n  - name: pager\n    webhook_configs: [{{url: '{}'}}]\n    discord_configs: [{{webhook_url: '{}'}}]\n",
        hook.url("/sms-gateway"),
        hook.url("/discord")
    );
    let n = Notifier::start(dir.path(), receivers(&yaml, dir.path()), &Registry::new(), fast_opts()).await.unwrap();
    let mut note = fixed_notification("pager");
    note.escalation_level = 1;
    n.enqueue(note).await.unwrap();
    wait_for("two deliveries", 10, || hook.ok().len() == 2).await;
    n.stop().await;
    let seen = hook.seen();
    let sms = seen.iter().find(|c| c.path == "/sms-gateway").unwrap();
    assert_eq!(sms.headers["x-tickdb-escalation-level"], "1");
    let d: Value = serde_json::from_str(&seen.iter().find(|c| c.path == "/discord").unwrap().body).unwrap();
    assert_eq!(d["embeds"][0]["title"], "[ESCALATED level 1] [FIRING:2] HighErrorRate (api)");
}

// ---------------------------------------------------------------------------------------
// Delivery semantics

#[tokio::test]
async fn a_flaky_receiver_gets_everything_exactly_once() {
    let hook = Hook::start().await;
    hook.plan.lock().extend([500, 503, 429, 500, 502]);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route: {{receiver: flaky}}\nreceivers: [{{name: flaky, webhook_configs: [{{url: '{}'}}]}}]",
        hook.url("/h")
    );
    let reg = Registry::new();
    let opts = DeliveryOptions { max_in_flight: 2, ..fast_opts() };
    let n = Notifier::start(dir.path(), receivers(&yaml, dir.path()), &reg, opts).await.unwrap();
    let groups: Vec<String> = (0..8).map(|i| format!("G{i}")).collect();
    for g in &groups {
        n.enqueue(simple_notification("flaky", g)).await.unwrap();
    }
    wait_for("the queue to drain", 20, || n.queue_len() == 0).await;
    n.stop().await;
    let mut delivered: Vec<String> = hook.ok().iter().map(group_of).collect();
    delivered.sort();
    assert_eq!(delivered, groups, "each group exactly once");
    assert_eq!(hook.seen().len(), groups.len() + 5, "five failed attempts were retried");
    let l = "{receiver=\"flaky\",integration=\"webhook\"}";
    assert_eq!(metric(&reg, &format!("tickdb_notifications_total{l}")), 8.0);
    assert_eq!(metric(&reg, &format!("tickdb_notification_requests_total{l}")), 13.0);
    assert_eq!(metric(&reg, &format!("tickdb_notification_requests_failed_total{l}")), 5.0);
    assert_eq!(metric(&reg, &format!("tickdb_notifications_failed_total{l}")), 0.0);
    assert_eq!(metric(&reg, &format!("tickdb_notification_latency_seconds_count{l}")), 13.0);
    let st = n.status();
    assert_eq!((st.receivers[0].integrations[0].delivered, st.receivers[0].integrations[0].failed), (8, 0));
    assert_eq!(job_files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_restart_in_the_middle_still_delivers_exactly_once() {
    let hook = Hook::start().await;
    hook.default_status.store(503, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("notifications");
    let yaml =
        format!("route: {{receiver: r}}\nreceivers: [{{name: r, webhook_configs: [{{url: '{}'}}]}}]", hook.url("/h"));
    let opts = DeliveryOptions {
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(50),
        ..fast_opts()
    };
    let n = Notifier::start(&q, receivers(&yaml, dir.path()), &Registry::new(), opts.clone()).await.unwrap();
    for g in ["A", "B", "C"] {
        n.enqueue(simple_notification("r", g)).await.unwrap();
    }
    wait_for("each job to be attempted", 10, || {
        let mut g: Vec<String> = hook.seen().iter().map(group_of).collect();
        g.sort();
        g.dedup();
        g.len() == 3
    })
    .await;
    n.stop().await;
    assert_eq!(job_files(&q).iter().filter(|f| f.ends_with(".json")).count(), 3, "{:?}", job_files(&q));
    let attempts_before = hook.seen().len();
    assert!(hook.ok().is_empty());

    // The receiver recovers; a new notifier on the same directory delivers each job once.
    hook.default_status.store(200, Ordering::SeqCst);
    assert_eq!(hook.seen().len(), attempts_before, "a stopped notifier sent something");
    let n2 = Notifier::start(&q, receivers(&yaml, dir.path()), &Registry::new(), opts).await.unwrap();
    assert_eq!(n2.queue_len(), 3);
    wait_for("the queue to drain", 10, || n2.queue_len() == 0).await;
    n2.stop().await;
    let mut ok: Vec<String> = hook.ok().iter().map(group_of).collect();
    ok.sort();
    assert_eq!(ok, ["A", "B", "C"]);
    assert_eq!(job_files(&q), Vec::<String>::new());
}

/// Captures log output of the current thread (the tests' runtime is single-threaded, so the
/// notifier's tasks log here too).
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

fn capture_logs() -> (LogBuf, tracing::subscriber::DefaultGuard) {
    let buf = LogBuf::default();
    let b = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || b.clone())
        .finish();
    (buf, tracing::subscriber::set_default(sub))
}

#[tokio::test]
async fn a_permanent_error_is_counted_and_logged_once() {
    let (logs, _guard) = capture_logs();
    let hook = Hook::start().await;
    hook.default_status.store(400, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route: {{receiver: bad}}\nreceivers: [{{name: bad, webhook_configs: [{{url: '{}'}}]}}]",
        hook.url("/hook/s3cr3t-token")
    );
    let reg = Registry::new();
    let n = Notifier::start(dir.path(), receivers(&yaml, dir.path()), &reg, fast_opts()).await.unwrap();
    n.enqueue(simple_notification("bad", "Broken")).await.unwrap();
    let failed = "tickdb_notifications_failed_total{receiver=\"bad\",integration=\"webhook\"}";
    wait_for("the failure to be counted", 10, || metric(&reg, failed) == 1.0).await;
    n.stop().await;
    assert_eq!(hook.seen().len(), 1, "a 400 is not retried");
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("notification could not be delivered"))
        .unwrap_or_else(|| panic!("no error line in:\n{text}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("receiver=bad") && line.contains("unexpected status code 400: bad payload"), "{line}");
    assert!(!text.contains("s3cr3t"), "a secret URL reached the log:\n{text}");
    let st = n.status();
    let i = &st.receivers[0].integrations[0];
    assert_eq!((i.failed, i.pending), (1, 0));
    assert_eq!(i.target, format!("{}/<secret>", hook.base));
    assert_eq!(i.last_error.as_deref(), Some("unexpected status code 400: bad payload"));
    assert!(!serde_json::to_string(&st).unwrap().contains("s3cr3t"));
    assert_eq!(job_files(dir.path()), Vec::<String>::new());

    // An unknown receiver is an error, counted as a failure too.
    assert!(n.enqueue(simple_notification("nobody", "X")).await.is_err());
    assert_eq!(metric(&reg, "tickdb_notifications_failed_total{receiver=\"nobody\",integration=\"unknown\"}"), 1.0);
}

#[tokio::test]
async fn corrupt_queue_files_are_skipped() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    // A good job written by the queue itself, and the kinds of damage a crash or a disk can do.
    let (queue, _) = DiskQueue::open(&q).unwrap();
    let good = JobRecord {
        v: FORMAT_VERSION,
        id: queue.new_id(BASE),
        receiver: "r".into(),
        integration: "webhook[0]".into(),
        enqueued_ms: BASE,
        attempts: 3,
        next_attempt_ms: i64::MAX / 2,
        last_error: Some("earlier failure".into()),
        notification: simple_notification("r", "Survivor"),
    };
    queue.write(std::slice::from_ref(&good)).unwrap();
    drop(queue);
    std::fs::write(q.join("0000000000001-000000-00000000.json"), b"{\"v\":1,\"id\":\"0000000000001-0").unwrap();
    std::fs::write(q.join("0000000000002-000000-00000000.json"), [0xffu8, 0, 0xfe, 7]).unwrap();
    std::fs::write(q.join("0000000000003-000000-00000000.json"), b"").unwrap();
    std::fs::write(q.join("0000000000004-000000-00000000.json.tmp"), b"{").unwrap();
    let yaml =
        format!("route: {{receiver: r}}\nreceivers: [{{name: r, webhook_configs: [{{url: '{}'}}]}}]", hook.url("/h"));
    let n = Notifier::start(&q, receivers(&yaml, dir.path()), &Registry::new(), fast_opts()).await.unwrap();
    wait_for("the good job", 10, || hook.ok().len() == 1).await;
    n.stop().await;
    assert_eq!(group_of(&hook.ok()[0]), "Survivor");
    let files = job_files(&q);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|f| f.ends_with(".json.corrupt")), "{files:?}");
}

#[tokio::test]
async fn jobs_fail_after_max_age_by_the_injected_clock() {
    let hook = Hook::start().await;
    hook.default_status.store(500, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let yaml =
        format!("route: {{receiver: r}}\nreceivers: [{{name: r, webhook_configs: [{{url: '{}'}}]}}]", hook.url("/h"));
    let clock = ManualClock::new(BASE);
    let reg = Registry::new();
    let opts = DeliveryOptions {
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(300),
        max_age: Duration::from_secs(3600),
        clock: clock.clone(),
        ..fast_opts()
    };
    let n = Notifier::start(dir.path(), receivers(&yaml, dir.path()), &reg, opts).await.unwrap();
    n.enqueue(simple_notification("r", "Old")).await.unwrap();
    let failed = "tickdb_notifications_failed_total{receiver=\"r\",integration=\"webhook\"}";
    wait_for("the first attempt", 10, || hook.seen().len() == 1).await;
    // Time passes only when the test says so: five minutes a step, each step past the
    // largest backoff, so every step brings one more attempt until the hour is over.
    let mut steps = 0;
    while metric(&reg, failed) == 0.0 {
        steps += 1;
        assert!(steps < 40, "never gave up");
        let before = hook.seen().len();
        clock.advance(Duration::from_secs(301));
        wait_for("another attempt", 10, || hook.seen().len() > before || metric(&reg, failed) == 1.0).await;
        wait_for("the attempt's outcome", 10, || n.status().receivers[0].integrations[0].in_flight == 0).await;
    }
    n.stop().await;
    // 3600 s / 301 s per step: attempts at 0, 301, ..., 3311 s failed and were retried; the
    // one at 3612 s found the job too old.
    assert_eq!(hook.seen().len(), 13);
    assert!(n.status().receivers[0].integrations[0].last_error.as_deref().unwrap().contains("giving up"));
    assert_eq!(n.queue_len(), 0);
}

#[tokio::test]
async fn a_slow_receiver_does_not_delay_others() {
    let slow = Hook::start().await;
    slow.hang.store(true, Ordering::SeqCst);
    let fast = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route: {{receiver: slow}}\nreceivers:\n  - {{name: slow, webhook_configs: [{{url: '{}'}}]}}\n  - {{name: fast, webhook_configs: [{{url: '{}'}}]}}\n",
        slow.url("/s"),
        fast.url("/f")
    );
    let opts = DeliveryOptions { max_in_flight: 2, timeout: Duration::from_secs(30), ..fast_opts() };
    let n = Notifier::start(dir.path(), receivers(&yaml, dir.path()), &Registry::new(), opts).await.unwrap();
    for i in 0..5 {
        n.enqueue(simple_notification("slow", &format!("S{i}"))).await.unwrap();
    }
    n.enqueue(simple_notification("fast", "F")).await.unwrap();
    wait_for("the fast receiver", 10, || fast.ok().len() == 1).await;
    let st = n.status();
    let slow_st = &st.receivers.iter().find(|r| r.name == "slow").unwrap().integrations[0];
    assert_eq!((slow_st.pending, slow_st.in_flight), (5, 2), "bounded concurrency per receiver");
    slow.gate.add_permits(1000);
    wait_for("the slow receiver", 10, || slow.ok().len() == 5).await;
    n.stop().await;
}

#[tokio::test]
async fn reload_replaces_receivers() {
    let a = Hook::start().await;
    let b = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let conf =
        |url: &str| format!("route: {{receiver: r}}\nreceivers: [{{name: r, webhook_configs: [{{url: '{url}'}}]}}]");
    let n = Notifier::start(dir.path(), receivers(&conf(&a.url("/a")), dir.path()), &Registry::new(), fast_opts())
        .await
        .unwrap();
    n.enqueue(simple_notification("r", "One")).await.unwrap();
    wait_for("a", 10, || a.ok().len() == 1).await;
    n.set_receivers(receivers(&conf(&b.url("/b")), dir.path()));
    n.enqueue(simple_notification("r", "Two")).await.unwrap();
    wait_for("b", 10, || b.ok().len() == 1).await;
    n.stop().await;
    assert_eq!((a.seen().len(), group_of(&b.ok()[0])), (1, "Two".to_string()));
}
