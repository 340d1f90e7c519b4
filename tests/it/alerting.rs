//! The whole alerting path in the server: a sample arrives by remote write, a rule fires, the
//! dispatcher routes the alert to a webhook receiver (a local HTTP server of the test), the
//! alert is acknowledged and silenced through the API, and its resolution is delivered.
//! Groups run on a 1 s interval; the test polls with deadlines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use crate::harness::{TestServer, series, write_request};

/// A receiver that records every JSON body posted to it, with the time it arrived.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                g.lock().push((Instant::now(), v));
                ""
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        Receiver { url: format!("http://{addr}/hook"), got }
    }

    async fn wait_for(&self, what: &str, f: impl Fn(&[(Instant, Value)]) -> bool) -> Vec<(Instant, Value)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.got.lock().clone();
            if f(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; received {got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const RULES: &str = r#"groups:
  - name: gs
    interval: 1s
    rules:
      - alert: TickRateLow
        expr: gameserver_tick_rate < 55
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.server }} ticks at {{ $value }}"
"#;

fn notifications(hook: &str) -> String {
    format!(
        r#"route:
  receiver: discord-ish
  group_by: [alertname, server]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: discord-ish
    webhook_configs:
      - url: {hook}
        send_resolved: true
"#
    )
}

async fn tick_rate(s: &TestServer, v: f64) -> Instant {
    let t = tickdb::server::now_ms();
    let req = write_request(vec![series(
        &[("__name__", "gameserver_tick_rate"), ("server", "eu-1"), ("job", "gs")],
        &[(t, v)],
    )]);
    let r = s.write_v1(&req).await;
    assert_eq!(r.status, 204, "{}", r.body);
    Instant::now()
}

fn firing(got: &[(Instant, Value)]) -> Vec<&Value> {
    got.iter().map(|(_, v)| v).filter(|v| v["status"] == "firing").collect()
}

/// A webhook receiver and a server whose rules dir holds RULES and whose notifications file
/// routes everything to the receiver; external label `cluster="eu"`. Returns the temp dirs
/// (kept alive by the caller) and the notifications file's path.
async fn start_with_hook() -> (Receiver, TestServer, [tempfile::TempDir; 2], std::path::PathBuf) {
    let hook = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gs.yml"), RULES).unwrap();
    let conf = tempfile::tempdir().unwrap();
    let nf = conf.path().join("notifications.yml");
    std::fs::write(&nf, notifications(&hook.url)).unwrap();
    let (rd, nf2) = (dir.path().to_path_buf(), nf.clone());
    let s = TestServer::with(move |c| {
        c.rules.dir = rd;
        c.alerting.notifications_file = nf2;
        c.rules.external_labels = [("cluster".to_string(), "eu".to_string())].into();
    })
    .await;
    (hook, s, [dir, conf], nf)
}

#[tokio::test]
async fn an_alert_reaches_the_webhook_is_acked_and_resolves() {
    let (hook, mut s, _dirs, _nf) = start_with_hook().await;
    // Without credentials acknowledging is refused: it needs the operator role (an admin token
    // has it, and may also write the samples below).
    let r = s.post_form("/api/v1/alerts/00000000000000ff/ack", &[("by", "ana")]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    s.authenticate_as(tickdb::auth::Role::Admin, "ana");

    let crossed = tick_rate(&s, 40.0).await;
    let got = hook.wait_for("a firing notification", |g| !firing(g).is_empty()).await;
    let (arrived, n) = got.iter().find(|(_, v)| v["status"] == "firing").unwrap();
    eprintln!("time to detection (1s interval, group_wait 1s): {:?}", arrived.duration_since(crossed));
    assert_eq!(n["version"], "4");
    assert_eq!(n["receiver"], "discord-ish");
    assert_eq!(n["groupLabels"]["server"], "eu-1");
    let a = &n["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "TickRateLow");
    assert_eq!(a["labels"]["cluster"], "eu", "external labels are on notified alerts");
    assert_eq!(a["annotations"]["summary"], "eu-1 ticks at 40");
    assert_eq!(a["status"], "firing");
    let fp = a["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fp.len(), 16);

    // The dispatcher's view and the ack API.
    let v: Value = serde_json::from_str(&s.get("/api/v1/notifications/alerts").await.body).unwrap();
    assert_eq!(v["data"][0]["labels"]["server"], "eu-1", "{v}");
    let r = s.post_form(&format!("/api/v1/alerts/{fp}/ack"), &[("by", "ana"), ("comment", "restarting it")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&s.get("/api/v1/notifications/alerts").await.body).unwrap();
    assert_eq!(v["data"][0]["ack"]["by"], "ana", "{v}");
    let r = s.post_form("/api/v1/alerts/00000000000000ff/ack", &[("by", "ana")]).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = s.post_form(&format!("/api/v1/alerts/{fp}/ack"), &[]).await;
    assert_eq!(r.status, 400, "who acts is required: {}", r.body);
    let r = s.post_form("/api/v1/alerts/nothex/ack", &[("by", "ana")]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let e: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(e["status"], "error");
    assert_eq!(e["errorType"], "bad_data");

    // A silence through the API, listed, then expired.
    let r = s
        .client
        .post(format!("{}/api/v1/silences", s.url))
        .json(&serde_json::json!({
            "matchers": [{"name": "server", "value": "eu-1", "isRegex": false}],
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "ana",
            "comment": "maintenance"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = v["data"]["silenceID"].as_str().unwrap().to_string();
    let v: Value = serde_json::from_str(&s.get("/api/v1/silences").await.body).unwrap();
    assert!(v["data"].as_array().unwrap().iter().any(|x| x["id"] == id.as_str()), "{v}");
    let r = s.client.delete(format!("{}/api/v1/silences/{id}", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.client.delete(format!("{}/api/v1/silences/silence-999", s.url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = s.client.post(format!("{}/api/v1/silences", s.url)).body("{").send().await.unwrap();
    assert_eq!(r.status(), 400);

    // Back to normal: the resolution is delivered.
    tick_rate(&s, 64.0).await;
    let got = hook.wait_for("a resolved notification", |g| g.iter().any(|(_, v)| v["status"] == "resolved")).await;
    let resolved = got.iter().map(|(_, v)| v).find(|v| v["status"] == "resolved").unwrap();
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_eq!(firing(&got).len(), 1, "one firing notification, not repeated: {got:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_bad_notifications_file_is_rejected_on_reload_and_the_old_one_stays() {
    let (hook, s, _dirs, nf) = start_with_hook().await;
    std::fs::write(&nf, "route:\n  receiver: nobody\nreceivers: []\n").unwrap();
    let r = s.post_form("/-/reload", &[]).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("nobody"), "the error names the unknown receiver: {}", r.body);
    // Still delivering with the previous receivers.
    tick_rate(&s, 10.0).await;
    hook.wait_for("a firing notification", |g| !firing(g).is_empty()).await;
    s.stop().await;
}
