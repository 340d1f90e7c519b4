//! The manager under paused tokio time: the clock is tokio's instant, so waiting costs nothing
//! and every timeline is exact.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use query::{Engine, EngineOptions, InstantSample};
use storage::head::{Head, HeadOptions};
use storage::querier::BlockQuerier;
use storage::{Appender as _, Labels, Querier, Queryable};

use super::*;
use crate::source::{LocalSource, QueryFailed};

struct HeadQ(Arc<Head>);

impl Queryable for HeadQ {
    fn querier(&self, mint: i64, maxt: i64) -> storage::Result<Box<dyn Querier>> {
        let reader = self.0.range_reader(mint, maxt);
        Ok(Box::new(BlockQuerier::new(&reader, mint, maxt)?))
    }
}

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

/// A source whose queries of `slow` wait while the gate is closed, as a slow datasource does.
struct Gated {
    inner: LocalSource,
    gate: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl QuerySource for Gated {
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed> {
        if expr.contains("slow") {
            let (closed, cv) = &*self.gate;
            let mut c = closed.lock().unwrap();
            while *c {
                c = cv.wait(c).unwrap();
            }
        }
        self.inner.instant(expr, t_ms)
    }
}

struct Env {
    head: Arc<Head>,
    manager: Manager,
    sent: Arc<Mutex<Vec<(i64, Alert)>>>,
    gate: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    registry: Registry,
}

fn clock() -> Arc<dyn Fn() -> i64 + Send + Sync> {
    let start = tokio::time::Instant::now();
    Arc::new(move || T0 + i64::try_from(start.elapsed().as_millis()).unwrap_or(0))
}

fn env() -> Env {
    env_with(clock())
}

fn env_with(clk: Arc<dyn Fn() -> i64 + Send + Sync>) -> Env {
    let head = Head::open(HeadOptions { dir: None, out_of_order_window: i64::MAX / 4, ..HeadOptions::default() })
        .expect("in-memory head");
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let src = Gated {
        inner: LocalSource { engine: Engine::new(EngineOptions::default()), db: Arc::new(HeadQ(head.clone())) },
        gate: gate.clone(),
    };
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    let c2 = clk.clone();
    let registry = Registry::new();
    let manager = Manager::new(ManagerOptions {
        source: Arc::new(src),
        appendable: Arc::new(head.clone()),
        notify: Arc::new(move |alerts| {
            let now = c2();
            s.lock().extend(alerts.into_iter().map(|a| (now, a)));
        }),
        clock: clk,
        registry: registry.clone(),
        group_options: GroupOptions { resend_delay_ms: 60_000, ..GroupOptions::default() },
        state_dir: None,
    });
    Env { head, manager, sent, gate, registry }
}

impl Env {
    fn add(&self, labels: &[(&str, &str)], t: i64, v: f64) {
        let l = Labels::from_pairs(labels.iter().copied());
        let mut app = self.head.appender();
        app.append(None, &l, t, v).expect("append");
        app.commit().expect("commit");
    }

    async fn load(&self, files: &[(&str, &str)]) -> Result<(), Vec<GroupError>> {
        let mut parsed = Vec::new();
        for (name, text) in files {
            let f = crate::file::parse(name, text).expect("valid rule file");
            parsed.push((PathBuf::from(name), f));
        }
        self.manager.update(parsed).await
    }

    fn metric(&self, name: &str) -> String {
        self.registry.render().lines().filter(|l| l.starts_with(name)).collect::<Vec<_>>().join("\n")
    }

    fn set_gate(&self, closed: bool) {
        *self.gate.0.lock().unwrap() = closed;
        self.gate.1.notify_all();
    }

    fn value(&self, metric: &str) -> f64 {
        let m = self.metric(metric);
        m.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(-1.0)
    }
}

const FILE: &str = r#"groups:
  - name: a
    interval: 10s
    rules:
      - record: up:sum
        expr: sum(up)
      - alert: Down
        expr: up == 0
"#;

#[tokio::test(start_paused = true)]
async fn groups_evaluate_on_their_slots_and_send_alerts() {
    let e = env();
    for i in 0..20 {
        e.add(&[("__name__", "up"), ("job", "x")], T0 + i * 5_000, 0.0);
    }
    e.load(&[("a.yml", FILE)]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(35)).await;
    let g = e.manager.groups();
    assert_eq!(g.len(), 1);
    let last = g[0].lock().last_eval_ms();
    assert!(last > T0 && (last - T0) <= 35_000, "last evaluation {last}");
    let sent = e.sent.lock().clone();
    // for: 0 fires at the first evaluation; resent only after the resend delay (60s).
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1.labels["alertname"], "Down");
    let it = e.value("tickdb_rule_group_iterations_total{rule_group=\"a.yml;a\"}");
    assert!(it == 3.0 || it == 4.0, "three or four 10s slots in 35s: {it}");
    assert!(
        e.metric("tickdb_rule_group_iterations_missed_total").ends_with(" 0"),
        "{}",
        e.metric("tickdb_rule_group_iterations_missed_total")
    );
    e.manager.stop().await;
}

/// Real time, 100 ms groups: while the slow group hangs in its query the fast one keeps
/// evaluating; when the slow one returns, the slots it missed are counted. Polls, no fixed sleep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_group_misses_iterations_without_delaying_others() {
    let e = env_with(Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }));
    let slow = "groups:\n  - name: slow\n    interval: 100ms\n    rules:\n      - record: s\n        expr: vector(1) + slow_metric_absent\n";
    let fast = "groups:\n  - name: fast\n    interval: 100ms\n    rules:\n      - record: f\n        expr: vector(1)\n";
    e.set_gate(true);
    e.load(&[("slow.yml", slow), ("fast.yml", fast)]).await.unwrap();
    let fast_it = "tickdb_rule_group_iterations_total{rule_group=\"fast.yml;fast\"}";
    let slow_missed = "tickdb_rule_group_iterations_missed_total{rule_group=\"slow.yml;slow\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while e.value(fast_it) < 10.0 {
        assert!(std::time::Instant::now() < deadline, "fast group stalled: {}", e.metric(fast_it));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(e.value(slow_missed), 0.0);
    e.set_gate(false);
    while e.value(slow_missed) < 3.0 {
        assert!(std::time::Instant::now() < deadline, "missed slots not counted: {}", e.metric(slow_missed));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let missed = e.metric("tickdb_rule_group_iterations_missed_total{rule_group=\"fast.yml;fast\"}");
    assert!(missed.ends_with(" 0"), "{missed}");
    e.manager.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_state_and_an_invalid_one_changes_nothing() {
    let e = env();
    for i in 0..100 {
        e.add(&[("__name__", "up"), ("job", "x")], T0 + i * 5_000, 0.0);
    }
    let held = "groups:\n  - name: a\n    interval: 10s\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 1m\n";
    e.load(&[("a.yml", held)]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    let active_at = |m: &Manager| {
        let g = m.groups();
        let g = g[0].lock();
        g.rules()[0].active_alerts().first().map(|a| a.active_at_ms)
    };
    let before = active_at(&e.manager).expect("pending alert");

    // Invalid: the group keeps running with its state.
    let err = e
        .manager
        .update(vec![(
            PathBuf::from("a.yml"),
            crate::file::RuleFile {
                groups: vec![crate::file::GroupDef {
                    name: "a".into(),
                    rules: vec![crate::file::RuleDef {
                        alert: Some("X".into()),
                        expr: "up ==".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            },
        )])
        .await
        .unwrap_err();
    assert!(err[0].to_string().contains("could not parse expression"), "{err:?}");
    assert_eq!(active_at(&e.manager), Some(before));

    // Valid, with a changed annotation: the alert keeps its activeAt and fires on time.
    let changed = format!("{held}        annotations:\n          summary: down\n");
    e.load(&[("a.yml", &changed)]).await.unwrap();
    assert_eq!(active_at(&e.manager), Some(before));
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    let sent = e.sent.lock().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1.starts_at_ms, before);
    assert!(sent[0].0 - before >= 60_000 && sent[0].0 - before < 80_000, "fired after its for: {sent:?}");

    // Removed: its ALERTS series get a stale marker.
    assert!(e.metric("tickdb_rule_group_rules{").contains("rule_group=\"a.yml;a\"} 1"));
    e.load(&[]).await.unwrap();
    assert!(e.manager.groups().is_empty());
    // Its metrics are gone with it, as Prometheus unregisters them.
    assert_eq!(e.metric("tickdb_rule_group_"), "", "metrics of the removed group");
    let q = HeadQ(e.head.clone()).querier(T0, T0 + 1_000_000).unwrap();
    let set = q.select(true, None, &[storage::Matcher::equal("__name__", "ALERTS")]).unwrap();
    let mut saw_stale = false;
    for s in set {
        let samples = s.unwrap().collect_samples().unwrap();
        saw_stale |= samples.iter().any(|p| storage::is_stale_nan(p.v));
    }
    assert!(saw_stale, "stale marker written for the removed group's ALERTS");
}
