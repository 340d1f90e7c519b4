//! Forwarding to Alertmanagers: the real `prometheus-alertmanager` (firing and resolved alerts
//! read back through its API, a dead second Alertmanager counted in errors) and a local receiver
//! that holds requests (batching, the bounded queue).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rules::alert::{Alert, LabelMap, fingerprint};
use serde_json::Value;
use storage::metrics::Registry;
use tickdb::notifier::{AlertmanagerForwarder, ForwarderOptions};

use super::*;
use crate::tools::which;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

struct Am {
    child: Child,
    url: String,
}

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_alertmanager(dir: &Path) -> Option<Am> {
    let Some(bin) = which("prometheus-alertmanager").or_else(|| which("alertmanager")) else {
        eprintln!("SKIPPED: prometheus-alertmanager is not installed (scripts/test.sh installs it)");
        return None;
    };
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(&cfg, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n").unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start alertmanager");
    let am = Am { child, url: format!("http://127.0.0.1:{port}") };
    let client = tickdb::tls::client_builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{}/-/ready", am.url)).send().await
            && r.status().is_success()
        {
            return Some(am);
        }
        if Instant::now() > deadline {
            panic!(
                "alertmanager not ready:\n{}",
                std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn am_alerts(am: &Am) -> Vec<Value> {
    let client = tickdb::tls::client_builder().no_proxy().build().unwrap();
    let v: Value = client.get(format!("{}/api/v2/alerts", am.url)).send().await.unwrap().json().await.unwrap();
    let mut v = v.as_array().cloned().unwrap_or_default();
    v.sort_by_key(|a| a["labels"]["instance"].as_str().unwrap_or("").to_string());
    v
}

#[tokio::test]
async fn alerts_reach_the_real_alertmanager_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let Some(am) = start_alertmanager(dir.path()).await else { return };
    let reg = Registry::new();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let opts = ForwarderOptions {
        external_labels: lm(&[("cluster", "eu-1")]),
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let fwd = AlertmanagerForwarder::new(&[am.url.clone(), dead.clone()], opts, &reg).unwrap();
    let now = tickdb::server::now_ms();
    let mk = |instance: &str, ends: i64, resolved: bool| Alert {
        labels: lm(&[("alertname", "InstanceDown"), ("instance", instance), ("severity", "page")]),
        annotations: lm(&[("summary", &format!("{instance} is down"))]),
        starts_at_ms: now - 60_000,
        ends_at_ms: ends,
        resolved,
        generator_url: "http://tickdb.example:9201/graph?g0.expr=up+%3D%3D+0".into(),
    };
    fwd.send(vec![
        mk("a:9100", now + 300_000, false),
        mk("b:9100", now + 300_000, false),
        mk("c:9100", now + 300_000, false),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let alerts = loop {
        let a = am_alerts(&am).await;
        if a.len() == 3 {
            break a;
        }
        assert!(Instant::now() < deadline, "alertmanager has {a:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let a = &alerts[0];
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "InstanceDown", "cluster": "eu-1", "instance": "a:9100", "severity": "page"})
    );
    assert_eq!(a["annotations"]["summary"], "a:9100 is down");
    assert_eq!(a["generatorURL"], "http://tickdb.example:9201/graph?g0.expr=up+%3D%3D+0");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(
        a["fingerprint"],
        format!(
            "{}",
            fingerprint(&lm(&[
                ("alertname", "InstanceDown"),
                ("cluster", "eu-1"),
                ("instance", "a:9100"),
                ("severity", "page")
            ]))
        )
    );

    // Resolution: endsAt in the past.
    fwd.send(vec![mk("b:9100", now - 1_000, true)]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = am_alerts(&am).await;
        let instances: Vec<&str> = a.iter().filter_map(|x| x["labels"]["instance"].as_str()).collect();
        if instances == ["a:9100", "c:9100"] {
            break;
        }
        assert!(Instant::now() < deadline, "alertmanager still has {instances:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every alertmanager got every alert; the dead one counts errors, the live one none.
    let live = format!("{}/api/v2/alerts", am.url);
    let dead = format!("{dead}/api/v2/alerts");
    let errors = |u: &str| metric(&reg, &format!("tickdb_notifications_errors_total{{alertmanager=\"{u}\"}}"));
    let sent = |u: &str| metric(&reg, &format!("tickdb_notifications_sent_total{{alertmanager=\"{u}\"}}"));
    wait_for("the dead alertmanager's errors", 20, || errors(&dead) == 4.0).await;
    assert_eq!((sent(&live), errors(&live), sent(&dead)), (4.0, 0.0, 4.0));
    assert_eq!(metric(&reg, "tickdb_notifications_dropped_total"), 0.0);
    fwd.stop().await;
}

#[tokio::test]
async fn the_forwarder_batches_and_drops_the_oldest_when_full() {
    let hook = Hook::start().await;
    hook.hang.store(true, Ordering::SeqCst);
    let reg = Registry::new();
    let opts = ForwarderOptions { queue_capacity: 100, max_batch_size: 64, ..Default::default() };
    let fwd = AlertmanagerForwarder::new(&[hook.url("/am")], opts, &reg).unwrap();
    let mk = |i: usize| Alert {
        labels: lm(&[("alertname", "A"), ("i", &i.to_string())]),
        annotations: LabelMap::new(),
        starts_at_ms: BASE,
        ends_at_ms: BASE + 1,
        resolved: false,
        generator_url: String::new(),
    };
    fwd.send((0..64).map(mk).collect());
    // The first batch is in flight (the receiver holds it); the queue fills behind it.
    wait_for("the first request", 10, || hook.arrived.load(Ordering::SeqCst) == 1).await;
    assert_eq!(fwd.queue_len(), 0);
    fwd.send((64..264).map(mk).collect());
    assert_eq!(fwd.queue_len(), 100);
    assert_eq!(metric(&reg, "tickdb_notifications_dropped_total"), 100.0);
    hook.gate.add_permits(1000);
    wait_for("all batches", 10, || hook.seen().len() == 3).await;
    let sizes: Vec<usize> =
        hook.seen().iter().map(|c| serde_json::from_str::<Vec<Value>>(&c.body).unwrap().len()).collect();
    assert_eq!(sizes, [64, 64, 36]);
    // The survivors are the newest 100.
    let last: Vec<Value> = serde_json::from_str(&hook.seen()[2].body).unwrap();
    assert_eq!(last.last().unwrap()["labels"]["i"], "263");
    let first_kept: Vec<Value> = serde_json::from_str(&hook.seen()[1].body).unwrap();
    assert_eq!(first_kept[0]["labels"]["i"], "164");
    assert_eq!(hook.seen()[0].path, "/am/api/v2/alerts");
    fwd.stop().await;
}
