//! The engine's own rules (order of audit and action, modes, breaker, approval, recovery) with
//! an in-memory actuator and a scripted metric. The real actuators are tested against the real
//! Docker engine and a fake Kubernetes API server (tests/it/docker.rs, tests/it/kubernetes.rs,
//! tests/it/actions.rs).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use query::InstantSample;
use rules::source::QueryFailed;

use super::*;
use crate::actuators::{Instance, ReplicaStatus, RestartReport, ScaleReport};

/// Replicas in memory; every call is logged with the number of audit entries at that moment.
#[derive(Default)]
struct MemActuator {
    replicas: Mutex<u32>,
    down: Mutex<Vec<String>>,
    fail: AtomicBool,
    calls: Mutex<Vec<(String, usize)>>,
    audit_len: Mutex<Option<Arc<Mutex<Vec<AuditEvent>>>>>,
}

impl MemActuator {
    fn log(&self, what: String) {
        let n = self.audit_len.lock().as_ref().map_or(0, |a| a.lock().len());
        self.calls.lock().push((what, n));
    }
    fn changes(&self) -> Vec<(String, usize)> {
        self.calls.lock().iter().filter(|(c, _)| !c.starts_with("status")).cloned().collect()
    }
}

#[async_trait::async_trait]
impl Actuator for MemActuator {
    fn kind(&self) -> ActuatorKind {
        ActuatorKind::Docker
    }
    async fn status(&self, _: &Target) -> Result<ReplicaStatus, ActuatorError> {
        self.log("status".into());
        if self.fail.load(Ordering::SeqCst) {
            return Err(ActuatorError::Unavailable("engine refused".into()));
        }
        let n = *self.replicas.lock();
        let down = self.down.lock().clone();
        let instances = (0..n)
            .map(|i| {
                let name = format!("c{i}");
                let health = if down.contains(&name) { InstanceHealth::Down } else { InstanceHealth::Healthy };
                Instance { id: name.clone(), name, health, created: std::time::UNIX_EPOCH }
            })
            .collect();
        Ok(ReplicaStatus { replicas: n, ready: n - down.len() as u32, instances })
    }
    async fn scale(&self, _: &Target, replicas: u32) -> Result<ScaleReport, ActuatorError> {
        self.log(format!("scale {replicas}"));
        if self.fail.load(Ordering::SeqCst) {
            return Err(ActuatorError::Refused("no".into()));
        }
        let before = std::mem::replace(&mut *self.replicas.lock(), replicas);
        Ok(ScaleReport { before, after: replicas, added: vec![], removed: vec![] })
    }
    async fn restart(&self, _: &Target, instance: Option<&str>) -> Result<RestartReport, ActuatorError> {
        self.log(format!("restart {}", instance.unwrap_or("*")));
        if self.fail.load(Ordering::SeqCst) {
            return Err(ActuatorError::Refused("no".into()));
        }
        self.down.lock().retain(|d| Some(d.as_str()) != instance);
        Ok(RestartReport { restarted: instance.map(str::to_string).into_iter().collect() })
    }
}

/// The metric: a value set by the test.
struct Scripted(Mutex<f64>);

impl QuerySource for Scripted {
    fn instant(&self, _: &str, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed> {
        Ok(vec![InstantSample { labels: Labels::empty(), t: t_ms, v: *self.0.lock() }])
    }
}

struct Env {
    actions: Arc<Actions>,
    act: Arc<MemActuator>,
    metric: Arc<Scripted>,
    audit: Arc<Mutex<Vec<AuditEvent>>>,
    audit_fails: Arc<AtomicBool>,
    alerts: Arc<Mutex<Vec<Alert>>>,
    now: Arc<AtomicI64>,
}

fn env() -> Env {
    let act = Arc::new(MemActuator::default());
    *act.replicas.lock() = 2;
    let metric = Arc::new(Scripted(Mutex::new(70.0)));
    let audit = Arc::new(Mutex::new(Vec::new()));
    *act.audit_len.lock() = Some(audit.clone());
    let audit_fails = Arc::new(AtomicBool::new(false));
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let now = Arc::new(AtomicI64::new(1_000_000));
    let (a2, f2, al2, n2) = (audit.clone(), audit_fails.clone(), alerts.clone(), now.clone());
    let mut actuators: HashMap<ActuatorKind, Arc<dyn Actuator>> = HashMap::new();
    actuators.insert(ActuatorKind::Docker, act.clone());
    let actions = Actions::new(ActionsOptions {
        source: metric.clone(),
        out: Arc::new(crate::rules_service::Capture::default()),
        audit: Arc::new(move |ev| {
            if f2.load(Ordering::SeqCst) {
                return Err("disk full".into());
            }
            a2.lock().push(ev);
            Ok(())
        }),
        alerts: Arc::new(move |a| al2.lock().extend(a)),
        clock: Arc::new(move || n2.load(Ordering::SeqCst)),
        registry: Registry::new(),
        actuators,
        state_file: None,
        default_interval_ms: 10_000,
    });
    Env { actions, act, metric, audit, audit_fails, alerts, now }
}

fn run(def: PolicyDef) -> PolicyRun {
    PolicyRun {
        name: "p".into(),
        file: "f.yml".into(),
        group: "g".into(),
        interval_ms: 10_000,
        def,
        mem: PolicyMemory::default(),
        last_eval_ms: 0,
        last_decision: None,
        last_error: None,
        alerts: BTreeMap::new(),
    }
}

fn scaling(mode: Mode) -> PolicyDef {
    let mut d = rules::scaling::ScalingDef::new("docker/game".parse().unwrap(), "avg(cpu)");
    d.mode = mode;
    d.cooldown_ms = 0;
    PolicyDef::Scaling(d)
}

impl Env {
    async fn eval(&self, r: &mut PolicyRun) {
        self.actions.eval(r).await;
        self.now.fetch_add(10_000, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn enforce_audits_before_it_acts() {
    let e = env();
    let mut r = run(scaling(Mode::Enforce));
    *e.metric.0.lock() = 140.0;
    e.eval(&mut r).await;
    assert_eq!(*e.act.replicas.lock(), 4);
    // The scale call saw the entry already written.
    assert_eq!(e.act.changes(), [("scale 4".to_string(), 1)]);
    let ev = e.audit.lock()[0].clone();
    assert_eq!(
        (ev.actor.as_str(), ev.action.as_str(), ev.target.as_str()),
        ("policy:p", "actuator.scale", "docker/game")
    );
    assert_eq!((ev.before.clone(), ev.after.clone()), (Some(json!({"replicas": 2})), Some(json!({"replicas": 4}))));
    assert!(ev.justification.as_deref().unwrap().contains("scale up 2 → 4: metric 140 vs target 70"));
    let h = e.actions.history(None, None, 10);
    assert_eq!((h[0].status, h[0].before, h[0].after), (Status::Succeeded, Some(2), Some(4)));
    assert!(h[0].duration_ms.is_some());
    // Within the tolerance: nothing more.
    *e.metric.0.lock() = 72.0;
    e.eval(&mut r).await;
    assert_eq!(e.act.changes().len(), 1);
}

#[tokio::test]
async fn no_audit_entry_no_action() {
    let e = env();
    let mut r = run(scaling(Mode::Enforce));
    *e.metric.0.lock() = 140.0;
    e.audit_fails.store(true, Ordering::SeqCst);
    e.eval(&mut r).await;
    assert!(e.act.changes().is_empty(), "the actuator was not called");
    assert_eq!(*e.act.replicas.lock(), 2);
    let h = e.actions.history(None, None, 10);
    assert_eq!(h[0].status, Status::AuditFailed);
    assert!(h[0].error.as_deref().unwrap().contains("disk full"));
}

#[tokio::test]
async fn dry_run_audits_and_changes_nothing() {
    let e = env();
    let mut r = run(scaling(Mode::DryRun));
    *e.metric.0.lock() = 140.0;
    e.eval(&mut r).await;
    assert!(e.act.changes().is_empty());
    assert_eq!(e.audit.lock()[0].result, "dry_run");
    assert_eq!(e.actions.history(None, Some("dry_run"), 10).len(), 1);
}

#[tokio::test]
async fn approval_waits_then_runs_as_the_operator_or_expires() {
    let e = env();
    let mut r = run(scaling(Mode::Approve));
    *e.metric.0.lock() = 140.0;
    e.eval(&mut r).await;
    e.eval(&mut r).await;
    let pending = e.actions.history(None, Some("pending"), 10);
    assert_eq!(pending.len(), 1, "one parked action per policy");
    assert!(e.act.changes().is_empty() && e.audit.lock().is_empty());
    let ops =
        Who { subject: "alice".into(), role: "operator".into(), source_ip: "127.0.0.1".into(), user_agent: "t".into() };
    e.actions.policies.lock().insert("p".into(), Arc::new(tokio::sync::Mutex::new(r)));
    let done = e.actions.approve(pending[0].id, &ops, Some("peak".into())).await.unwrap();
    assert_eq!((done.status, done.after, done.approved_by.as_deref()), (Status::Succeeded, Some(4), Some("alice")));
    let ev = e.audit.lock()[0].clone();
    assert_eq!(ev.actor, "alice");
    assert!(ev.justification.unwrap().ends_with("(peak)"));
    assert!(matches!(e.actions.approve(pending[0].id, &ops, None).await, Err(ActionError::NotPending { .. })));
    // A new one expires unapproved.
    let mut r = run(scaling(Mode::Approve));
    *e.metric.0.lock() = 280.0;
    e.eval(&mut r).await;
    let id = e.actions.history(None, Some("pending"), 10)[0].id;
    e.now.fetch_add(600_000, Ordering::SeqCst);
    assert_eq!(e.actions.action(id).unwrap().status, Status::Expired);
    assert!(matches!(e.actions.approve(id, &ops, None).await, Err(ActionError::NotPending { status: "expired", .. })));
}

#[tokio::test]
async fn breaker_opens_after_repeated_failures_and_alerts() {
    let e = env();
    let mut r = run(scaling(Mode::Enforce));
    *e.metric.0.lock() = 140.0;
    e.act.fail.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        e.eval(&mut r).await;
    }
    // 3 failures (status reads) open it; then the policy no longer acts.
    assert!(r.mem.breaker.is_open());
    let alerts = e.alerts.lock().clone();
    let open: Vec<_> = alerts.iter().filter(|a| a.labels["alertname"] == "TickdbPolicyCircuitOpen").collect();
    assert!(!open.is_empty() && !open[0].resolved);
    assert_eq!(open[0].labels["policy"], "p");
    assert!(open[0].annotations["description"].contains("engine refused"));
    // The engine is back: after open_for a trial succeeds and the alert resolves.
    e.act.fail.store(false, Ordering::SeqCst);
    e.now.fetch_add(600_000, Ordering::SeqCst);
    e.eval(&mut r).await;
    assert!(!r.mem.breaker.is_open());
    assert_eq!(*e.act.replicas.lock(), 4);
    assert!(e.alerts.lock().last().unwrap().resolved);
}

#[tokio::test]
async fn recovery_restarts_down_instances_then_escalates() {
    let e = env();
    let mut d = rules::scaling::RecoveryDef::new("docker/game".parse().unwrap(), "");
    d.for_ms = 20_000;
    d.max_restarts = 1;
    let mut r = run(PolicyDef::Recovery(d));
    e.act.down.lock().push("c1".into());
    for _ in 0..3 {
        e.eval(&mut r).await;
    }
    assert_eq!(e.act.changes(), [("restart c1".to_string(), 1)]);
    assert_eq!(e.audit.lock()[0].action, "actuator.restart");
    // Down again: out of restarts within the hour → escalation alert, no restart.
    e.act.down.lock().push("c1".into());
    for _ in 0..4 {
        e.eval(&mut r).await;
    }
    assert_eq!(e.act.changes().len(), 1);
    let alerts = e.alerts.lock().clone();
    let esc = alerts.iter().find(|a| a.labels["alertname"] == "TickdbRecoveryExhausted").expect("escalated");
    assert_eq!((esc.labels["instance"].as_str(), esc.labels["severity"].as_str()), ("c1", "critical"));
    // Recovered: resolved.
    e.act.down.lock().clear();
    e.eval(&mut r).await;
    assert!(
        e.alerts.lock().iter().rev().find(|a| a.labels["alertname"] == "TickdbRecoveryExhausted").unwrap().resolved
    );
}

#[tokio::test]
async fn policies_are_checked_across_files() {
    let e = env();
    let spec = |file: &str, name: &str, yaml: &str| {
        let f = rules::file::parse(file, yaml).unwrap();
        PolicySpec {
            file: file.into(),
            group: "g".into(),
            interval_ms: None,
            entry: f.groups[0].policies.iter().find(|p| p.name == name).unwrap().clone(),
        }
    };
    let a = spec("a.yml", "s1", "groups: [{name: g, rules: [{scaling: s1, target: docker/game, expr: x}]}]");
    let b = spec("b.yml", "s2", "groups: [{name: g, rules: [{scaling: s2, target: docker/game, expr: y}]}]");
    let r = spec("b.yml", "r", "groups: [{name: g, rules: [{recovery: r, target: docker/game}]}]");
    let k = spec("c.yml", "k", "groups: [{name: g, rules: [{scaling: k, target: deployment/x, expr: y}]}]");
    let dup = spec("d.yml", "s1", "groups: [{name: g, rules: [{scaling: s1, target: docker/other, expr: y}]}]");
    assert!(e.actions.check(&[a.clone(), r.clone()]).is_ok(), "a scaling and a recovery policy may share a target");
    let err = e.actions.check(&[a.clone(), b]).unwrap_err();
    assert!(err.contains("scaling policy \"s2\" acts on docker/game, like policy \"s1\""), "{err}");
    let err = e.actions.check(&[a.clone(), dup]).unwrap_err();
    assert!(err.contains("policy \"s1\" is also defined in a.yml"), "{err}");
    let err = e.actions.check(&[k]).unwrap_err();
    assert!(err.contains("no kubernetes actuator is configured"), "{err}");
}
