//! Scaling and recovery policies end to end: metrics written into the server drive `scaling:`
//! and `recovery:` rules that act on a real Docker engine (started by the test) and on a fake
//! Kubernetes API server; the history, the audit log, the series and the alerts are read back
//! through the API.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dockerd::Dockerd;
use crate::fake_kube::FakeKube;
use crate::harness::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Writes `name{}` = v now.
async fn set(s: &TestServer, name: &str, v: f64) {
    let r = s.write_v1(&write_request(vec![series(&[("__name__", name)], &[(now_ms(), v)])])).await;
    assert_eq!(r.status, 204, "{}", r.body);
}

async fn wait_until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Running containers of a service, by the docker client.
fn running(d: &Dockerd, service: &str) -> usize {
    d.cli(&["ps", "-q", "--filter", &format!("label=tickdb.service={service}")])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

fn all(d: &Dockerd, service: &str) -> usize {
    d.cli(&["ps", "-aq", "--filter", &format!("label=tickdb.service={service}")])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

async fn actions(s: &TestServer, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/api/v1/admin/actions{query}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["data"].as_array().unwrap().clone()
}

async fn audit(s: &TestServer, actor: &str) -> Vec<Value> {
    let r = s.get_params("/api/v1/admin/audit", &[("actor", actor)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["data"]["entries"].as_array().cloned().unwrap_or_default()
}

fn rules_dir(dir: &Path, yaml: &str) -> std::path::PathBuf {
    let d = dir.join("rules");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("policies.yml"), yaml).unwrap();
    d
}

async fn docker_server(d: &Dockerd, yaml: &str) -> (TestServer, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let rdir = rules_dir(tmp.path(), yaml);
    let notif = tmp.path().join("notifications.yml");
    std::fs::write(&notif, "route: {receiver: ops, group_wait: 0s}\nreceivers: [{name: ops}]\n").unwrap();
    let cfg = d.config();
    let mut s = TestServer::with(move |c| {
        c.rules.dir = rdir;
        c.rules.evaluation_interval = tickdb::duration::PromDuration::from_secs(1);
        c.alerting.notifications_file = notif;
        c.actuators.docker = Some(cfg);
    })
    .await;
    s.authenticate_as(tickdb::auth::Role::Admin, "root");
    (s, tmp)
}

/// A policy scales a Docker service 1 → 3 → 2 as the injected load moves; every action is in
/// the history, the audit log (before it ran) and the series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_policy_scales_a_docker_service_1_3_2() {
    let Some(d) = Dockerd::start("scaling_policy_scales_a_docker_service_1_3_2").await else { return };
    d.run("game", |_| {}).await;
    let yaml = "groups:
- name: fleet
  interval: 1s
  rules:
  - scaling: game
    target: docker/game
    expr: max(game_load_percent)
    target_value: 50
    min_replicas: 1
    max_replicas: 3
    cooldown: 0s
    scale_up: {policies: [{type: percent, value: 200, period: 1s}]}
    scale_down: {stabilization_window: 0s, policies: [{type: replicas, value: 1, period: 1s}]}
";
    let (s, _tmp) = docker_server(&d, yaml).await;
    // 150% of target on one replica: ceil(1 × 150/50) = 3, which is also max_replicas, so later
    // evaluations at 150 (before the next sample) stay there.
    let t_write = now_ms();
    set(&s, "game_load_percent", 150.0).await;
    wait_until("3 running replicas", 60, || async { running(&d, "game") == 3 }).await;
    let up = actions(&s, "?policy=game").await;
    let first = up.iter().find(|a| a["status"] == "succeeded").expect("a succeeded action");
    assert_eq!(
        (first["op"].as_str(), first["before"].as_u64(), first["after"].as_u64()),
        (Some("scale"), Some(1), Some(3))
    );
    let latency = first["started_ms"].as_i64().unwrap() - t_write;
    println!(
        "decision latency (sample written → actuator call): {latency} ms, scale 1→3 took {} ms",
        first["duration_ms"]
    );
    // 2 of 3 replicas' worth: ceil(3 × 33/50) = 2.
    set(&s, "game_load_percent", 33.0).await;
    wait_until("2 replicas", 60, || async { all(&d, "game") == 2 && running(&d, "game") == 2 }).await;
    // It stays at 2: ceil(2 × 33/50) = 2.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(all(&d, "game"), 2);
    let hist = actions(&s, "?policy=game&status=succeeded").await;
    let moves: Vec<(u64, u64)> =
        hist.iter().rev().map(|a| (a["before"].as_u64().unwrap(), a["after"].as_u64().unwrap())).collect();
    assert_eq!(moves, [(1, 3), (3, 2)]);
    assert!(hist[0]["reason"].as_str().unwrap().contains("scale down 3 → 2"), "{}", hist[0]);
    // Audited by the policy, with before/after, in the same order.
    let entries = audit(&s, "policy:game").await;
    let scales: Vec<(Value, Value)> = entries
        .iter()
        .filter(|e| e["action"] == "actuator.scale")
        .map(|e| (e["before"]["replicas"].clone(), e["after"]["replicas"].clone()))
        .collect();
    assert_eq!(scales.len(), 2, "{entries:?}");
    assert!(scales.contains(&(1.into(), 3.into())) && scales.contains(&(3.into(), 2.into())));
    // The decisions as series.
    let q = s.query("tickdb_scaling_desired_replicas{policy=\"game\"}", now_ms()).await;
    assert!(q.body.contains("\"target\":\"docker/game\""), "{}", q.body);
    let m = s.get("/metrics").await.body;
    assert!(m.contains("tickdb_actions_total{policy=\"game\",kind=\"scale\",outcome=\"succeeded\"} 2"), "{m}");
    s.stop().await;
}

/// A killed container is restarted by a recovery rule; a dry-run policy changes nothing; an
/// approval-mode policy waits for the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_dry_run_and_approval_on_docker() {
    let Some(d) = Dockerd::start("recovery_dry_run_and_approval_on_docker").await else { return };
    d.run("web", |_| {}).await;
    d.run("web", |_| {}).await;
    d.run("dry", |_| {}).await;
    d.run("appr", |_| {}).await;
    let yaml = "groups:
- name: ops
  interval: 1s
  rules:
  - recovery: web-heal
    target: docker/web
    for: 1s
    backoff: 1s
  - scaling: dry
    target: docker/dry
    expr: max(dry_load)
    target_value: 50
    min_replicas: 1
    mode: dry_run
    cooldown: 2s
  - scaling: appr
    target: docker/appr
    expr: max(appr_load)
    target_value: 50
    min_replicas: 1
    mode: approve
    approval_timeout: 10m
";
    let (mut s, _tmp) = docker_server(&d, yaml).await;
    set(&s, "dry_load", 150.0).await;
    set(&s, "appr_load", 150.0).await;
    // Recovery: kill one web container.
    let victim =
        d.cli(&["ps", "-q", "--filter", "label=tickdb.service=web"]).lines().next().unwrap().trim().to_string();
    d.cli(&["kill", &victim]);
    assert_eq!(running(&d, "web"), 1);
    wait_until("the killed container running again", 60, || async { running(&d, "web") == 2 }).await;
    let heal = actions(&s, "?policy=web-heal&status=succeeded").await;
    assert_eq!(heal.len(), 1, "{heal:?}");
    assert_eq!(heal[0]["op"], "restart");
    assert!(heal[0]["reason"].as_str().unwrap().contains("failing for"), "{}", heal[0]);
    // Dry run: decided and audited, nothing done.
    wait_until("a dry-run decision", 30, || async { !actions(&s, "?policy=dry&status=dry_run").await.is_empty() })
        .await;
    assert_eq!(all(&d, "dry"), 1);
    let dry = audit(&s, "policy:dry").await;
    assert!(dry.iter().all(|e| e["result"] == "dry_run"), "{dry:?}");
    // Approval: pending, nothing done until approved.
    wait_until("a pending action", 30, || async { !actions(&s, "?policy=appr&status=pending").await.is_empty() }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(all(&d, "appr"), 1, "nothing happens without approval");
    let pending = actions(&s, "?policy=appr&status=pending").await;
    assert_eq!(pending.len(), 1, "one pending action per policy");
    let id = pending[0]["id"].as_u64().unwrap();
    // A reader cannot approve; an operator can.
    s.authenticate_as(tickdb::auth::Role::Reader, "viewer");
    let r = s.post_form(&format!("/api/v1/admin/actions/{id}/approve"), &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    s.authenticate_as(tickdb::auth::Role::Operator, "alice");
    let r = s.post_form(&format!("/api/v1/admin/actions/{id}/approve"), &[("justification", "evening peak")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let done: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (done["data"]["status"].as_str(), done["data"]["approved_by"].as_str()),
        (Some("succeeded"), Some("alice"))
    );
    // ceil(1 × 150/50) = 3, limited by the default scale-up policy (+100% per 30 s) to 2.
    assert_eq!(all(&d, "appr"), 2);
    assert_eq!(done["data"]["after"], 2);
    let r = s.post_form(&format!("/api/v1/admin/actions/{id}/approve"), &[]).await;
    assert_eq!(r.status, 409, "approved once: {}", r.body);
    // The operator's entry names them and the approved action.
    s.authenticate_as(tickdb::auth::Role::Admin, "root");
    let mine = audit(&s, "alice").await;
    assert!(
        mine.iter().any(|e| e["action"] == "actuator.scale"
            && e["justification"].as_str().unwrap().contains(&format!("approved action {id}"))
            && e["justification"].as_str().unwrap().contains("evening peak")),
        "{mine:?}"
    );
    // Manual scale (operator), audited, and its bad input.
    s.authenticate_as(tickdb::auth::Role::Operator, "alice");
    let r = s
        .post_raw(
            "/api/v1/admin/targets/scale",
            Some("application/json"),
            br#"{"target":"docker/appr","replicas":1}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "justification required: {}", r.body);
    let r = s
        .post_raw(
            "/api/v1/admin/targets/scale",
            Some("application/json"),
            br#"{"target":"pod/x","replicas":1,"justification":"x"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("\"errorType\":\"bad_data\""), "{}", r.body);
    let r = s
        .post_raw(
            "/api/v1/admin/targets/scale",
            Some("application/json"),
            br#"{"target":"docker/appr","replicas":1,"justification":"quiet night"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(all(&d, "appr"), 1);
    // Manual restart of a whole service, and its status.
    let r = s
        .post_raw(
            "/api/v1/admin/targets/restart",
            Some("application/json"),
            br#"{"target":"docker/web","justification":"stuck"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["data"]["changed"].as_array().unwrap().len(), 2, "{v}");
    let st = s.get_params("/api/v1/admin/targets/status", &[("target", "docker/web")]).await;
    let v: Value = serde_json::from_str(&st.body).unwrap();
    assert_eq!(v["data"]["status"]["replicas"], 2, "{v}");
    let r = s.get_params("/api/v1/admin/targets/status", &[("target", "deployment/x")]).await;
    assert_eq!(r.status, 400, "no kubernetes actuator here: {}", r.body);
    assert!(r.body.contains("no kubernetes actuator is configured"), "{}", r.body);
    s.stop().await;
}

/// The engine refuses (the service's image is gone, so clones cannot be created): after the
/// breaker's failures the policy stops calling it and its alert fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_trips_when_the_engine_refuses() {
    let Some(d) = Dockerd::start("circuit_breaker_trips_when_the_engine_refuses").await else { return };
    d.cli(&["tag", crate::dockerd::IMAGE, "tickdb-test:doomed"]);
    d.run("brk", |b| b.image = Some("tickdb-test:doomed".into())).await;
    d.cli(&["rmi", "tickdb-test:doomed"]);
    let yaml = "groups:
- name: ops
  interval: 1s
  rules:
  - scaling: brk
    target: docker/brk
    expr: max(brk_load)
    target_value: 50
    min_replicas: 1
    cooldown: 0s
    breaker: {failures: 2, open_for: 1h}
";
    let (s, _tmp) = docker_server(&d, yaml).await;
    set(&s, "brk_load", 150.0).await;
    wait_until("the circuit alert", 60, || async {
        let r = s.get("/api/v1/notifications/alerts").await;
        r.body.contains("TickdbPolicyCircuitOpen")
    })
    .await;
    let failed = actions(&s, "?policy=brk&status=failed").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0]["error"].as_str().unwrap().contains("tickdb-test:doomed"), "{}", failed[0]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(actions(&s, "?policy=brk&status=failed").await.len(), 2, "no more calls while open");
    let p: Value = serde_json::from_str(&s.get("/api/v1/admin/policies").await.body).unwrap();
    let brk = p["data"].as_array().unwrap().iter().find(|x| x["name"] == "brk").unwrap().clone();
    assert!(brk["breaker"]["state"].to_string().contains("open"), "{brk}");
    // A failed action leaves its entry and an error entry.
    let entries = audit(&s, "policy:brk").await;
    assert!(entries.iter().any(|e| e["result"].as_str().unwrap().starts_with("error:")), "{entries:?}");
    assert_eq!(all(&d, "brk"), 1);
    s.stop().await;
}

/// A policy over a Kubernetes Deployment (fake API server): the scale subresource is read and
/// patched; a 409 conflict fails the action with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_policy_on_a_kubernetes_deployment() {
    let kube = FakeKube::start().await;
    kube.add_deployment("games", "game", 2);
    let yaml = "groups:
- name: k8s
  interval: 1s
  rules:
  - scaling: kgame
    target: deployment/games/game
    expr: max(kgame_load)
    target_value: 50
    min_replicas: 1
    cooldown: 0s
";
    let tmp = tempfile::tempdir().unwrap();
    let rdir = rules_dir(tmp.path(), yaml);
    let cfg = kube.config();
    let mut s = TestServer::with(move |c| {
        c.rules.dir = rdir;
        c.actuators.kubernetes = Some(cfg);
    })
    .await;
    s.authenticate_as(tickdb::auth::Role::Admin, "root");
    // A conflict on the first PATCH: that action fails, the next succeeds.
    kube.fail_next_on("PATCH", 409, "Conflict");
    set(&s, "kgame_load", 100.0).await;
    let kind = tickdb::actuators::TargetKind::Deployment;
    wait_until("4 replicas", 60, || async { kube.replicas("games", kind, "game") == Some(4) }).await;
    let failed = actions(&s, "?policy=kgame&status=failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["error"].as_str().unwrap().starts_with("conflict:"), "{}", failed[0]);
    let ok = actions(&s, "?policy=kgame&status=succeeded").await;
    assert_eq!((ok[0]["before"].as_u64(), ok[0]["after"].as_u64()), (Some(2), Some(4)));
    let patches: Vec<_> = kube.requests().into_iter().filter(|r| r.method == "PATCH").collect();
    assert!(patches.iter().all(|p| p.path == "/apis/apps/v1/namespaces/games/deployments/game/scale"));
    assert_eq!(patches.last().unwrap().json(), serde_json::json!({"spec": {"replicas": 4}}));
    s.stop().await;
}
