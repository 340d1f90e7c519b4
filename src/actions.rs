//! The action engine: runs the `scaling:` and `recovery:` rules of the rule files
//! (docs/scaling.md) against the actuators, and the operators' manual actions and approvals.
//!
//! Each policy evaluates on its group's interval:
//! 1. its expression through the rules' query source (the metric, or the failing instances);
//! 2. the target's replicas through its actuator;
//! 3. the decision (`rules::scaling`), written as series (`tickdb_scaling_*`) for Grafana;
//! 4. if an action is due: by mode, `enforce` writes the audit entry (actor `policy:<name>`)
//!    and only then calls the actuator (no entry, no action); `dry_run` writes the entry with
//!    result `dry_run` and does nothing; `approve` parks the action until an operator approves
//!    it (`POST /api/v1/admin/actions/{id}/approve`) or it expires.
//!
//! Consecutive actuator failures open the policy's circuit breaker, which stops it and raises
//! `TickdbPolicyCircuitOpen`; a recovery policy out of restarts raises `TickdbRecoveryExhausted`.
//! Every action is kept in a bounded history (`GET /api/v1/admin/actions`), counted in
//! `tickdb_actions_total{policy,kind,outcome}`, and the history, pending approvals and the
//! policies' state (stabilization, cooldown, restarts, breaker) survive restarts
//! (`<data_dir>/actions/state.json`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use rules::alert::{Alert, LabelMap};
use rules::scaling::{
    Breaker, Mode, PolicyDef, RecoveryDecision, RecoveryState, ScalingDecision, ScalingState, Target,
};
use rules::source::QuerySource;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use storage::metrics::Registry;
use storage::{Appendable, Labels};
use tokio::sync::watch;

use crate::actuators::{Actuator, ActuatorError, ActuatorKind, InstanceHealth};
use crate::server::admin::{Actor, AuditEvent, AuditSink};

#[cfg(test)]
#[path = "actions/tests.rs"]
mod tests;

/// Actions kept in the history (oldest dropped first; pending ones are kept).
pub const HISTORY_LEN: usize = 1000;

/// What the engine needs from the server.
pub struct ActionsOptions {
    pub source: Arc<dyn QuerySource>,
    pub out: Arc<dyn Appendable>,
    pub audit: AuditSink,
    pub alerts: crate::rules_service::AlertSink,
    /// Unix ms now.
    pub clock: crate::server::Clock,
    pub registry: Registry,
    pub actuators: HashMap<ActuatorKind, Arc<dyn Actuator>>,
    /// Where history and policy state are kept (`None`: memory only).
    pub state_file: Option<PathBuf>,
    /// A policy's interval when its group has none (`rules.evaluation_interval`).
    pub default_interval_ms: i64,
}

/// Who asks for an action: an operator through the API (the admin API's [`Actor`]), or a
/// policy ([`policy_actor`]).
pub type Who = Actor;

/// The actor of a policy's own actions: `policy:<name>`, role `policy`.
fn policy_actor(name: &str) -> Actor {
    Actor {
        subject: format!("policy:{name}"),
        role: "policy".into(),
        source_ip: String::new(),
        user_agent: "tickdb".into(),
    }
}

/// What an action does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Scale { replicas: u32 },
    Restart { instance: Option<String> },
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Scale { .. } => "scale",
            Op::Restart { .. } => "restart",
        }
    }
}

/// An action's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for an operator (mode `approve`).
    Pending,
    /// Done by the actuator.
    Succeeded,
    /// The actuator failed.
    Failed,
    /// Decided in `dry_run` mode: audited, not done.
    DryRun,
    /// Not done: the audit entry could not be written.
    AuditFailed,
    Rejected,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::DryRun => "dry_run",
            Status::AuditFailed => "audit_failed",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }
}

/// One action in the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: u64,
    /// The policy that decided it (`None`: a manual action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub target: String,
    #[serde(flatten)]
    pub op: Op,
    pub mode: Mode,
    /// Who asked (`policy:<name>` or the operator) and, once approved, who approved.
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The decision in words and the numbers behind it (metric, replicas, ...).
    pub reason: String,
    pub inputs: Json,
    pub status: Status,
    /// Replicas before and after (scale), as the actuator reported them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<u32>,
    /// Instances added, removed or restarted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub decided_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    /// How long the actuator took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

impl ActionRecord {
    /// A decided action, not yet run (status `pending` until it is).
    #[allow(clippy::too_many_arguments)]
    fn new(
        policy: Option<String>,
        target: &Target,
        op: Op,
        mode: Mode,
        actor: String,
        reason: &str,
        before: Option<u32>,
        now: i64,
    ) -> Self {
        ActionRecord {
            id: 0,
            policy,
            target: target.to_string(),
            op,
            mode,
            actor,
            approved_by: None,
            reason: reason.to_string(),
            inputs: Json::Null,
            status: Status::Pending,
            before,
            after: None,
            changed: Vec::new(),
            error: None,
            decided_ms: now,
            expires_ms: None,
            started_ms: None,
            duration_ms: None,
        }
    }
}

/// A policy's state that outlives an evaluation (and a restart).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct PolicyMemory {
    scaling: ScalingState,
    recovery: RecoveryState,
    breaker: Breaker,
}

/// A policy as loaded, with what it remembers.
struct PolicyRun {
    name: String,
    file: String,
    group: String,
    interval_ms: i64,
    def: PolicyDef,
    mem: PolicyMemory,
    last_eval_ms: i64,
    last_decision: Option<Json>,
    last_error: Option<String>,
    /// The alerts the policy raised and has not resolved yet, by alert name + instance.
    alerts: BTreeMap<String, Alert>,
}

/// A policy as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyView {
    pub name: String,
    pub kind: &'static str,
    pub file: String,
    pub group: String,
    pub target: String,
    pub mode: Mode,
    pub interval_ms: i64,
    pub breaker: Json,
    pub last_eval_ms: i64,
    pub last_decision: Option<Json>,
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_until_ms: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub restarts_last_hour: BTreeMap<String, usize>,
    pub definition: Json,
    /// Shown from the end of the last evaluation: the policy is evaluating now.
    pub evaluating: bool,
}

fn view_of(g: &mut PolicyRun, now: i64, evaluating: bool) -> PolicyView {
    let state = g.mem.breaker.state(now);
    let (cooldown_until_ms, restarts) = match &g.def {
        PolicyDef::Scaling(d) => (g.mem.scaling.cooldown_until(d).filter(|&t| t > now), BTreeMap::new()),
        PolicyDef::Recovery(_) => (None, g.mem.recovery.restarts()),
    };
    PolicyView {
        name: g.name.clone(),
        kind: g.def.kind(),
        file: g.file.clone(),
        group: g.group.clone(),
        target: g.def.target().to_string(),
        mode: g.def.mode(),
        interval_ms: g.interval_ms,
        breaker: json!({
            "state": state,
            "failures": g.mem.breaker.failures(),
            "last_error": g.mem.breaker.last_error(),
        }),
        last_eval_ms: g.last_eval_ms,
        last_decision: g.last_decision.clone(),
        last_error: g.last_error.clone(),
        cooldown_until_ms,
        restarts_last_hour: restarts,
        definition: serde_json::to_value(&g.def).unwrap_or(Json::Null),
        evaluating,
    }
}

/// A loaded policy: where it comes from and how often it runs.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub file: String,
    pub group: String,
    pub interval_ms: Option<i64>,
    pub entry: rules::file::PolicyEntry,
}

#[derive(Default, Serialize, Deserialize)]
struct Saved {
    next_id: u64,
    history: VecDeque<ActionRecord>,
    policies: BTreeMap<String, PolicyMemory>,
}

#[derive(Default)]
struct History {
    next_id: u64,
    records: VecDeque<ActionRecord>,
}

/// Errors of the API's calls.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("unknown action {0}")]
    UnknownAction(u64),
    #[error("unknown policy {0:?}")]
    UnknownPolicy(String),
    #[error("action {id} is {status}, not pending")]
    NotPending { id: u64, status: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error("no {0} actuator is configured (actuators.{0} in the configuration)")]
    NoActuator(&'static str),
    /// The audit entry could not be written, so nothing was done.
    #[error("the audit log cannot be written, so the action was refused: {0}")]
    Audit(String),
    #[error("{0}")]
    Actuator(#[from] ActuatorError),
}

/// The engine.
pub struct Actions {
    opts: ActionsOptions,
    policies: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<PolicyRun>>>>,
    history: Mutex<History>,
    /// Saved memories of policies not loaded (yet): taken by a policy of the same name.
    saved: Mutex<BTreeMap<String, PolicyMemory>>,
    /// Each policy's view as of its last evaluation (for the API while it evaluates).
    views: Mutex<BTreeMap<String, PolicyView>>,
    /// Stops the running policy tasks (replaced at every update).
    stop: Mutex<watch::Sender<bool>>,
    save_lock: Mutex<()>,
}

impl Actions {
    /// The engine, with the history and policy state of the state file (policies are loaded
    /// by [`Actions::update`]).
    pub fn new(opts: ActionsOptions) -> Arc<Actions> {
        let saved: Saved = opts
            .state_file
            .as_ref()
            .and_then(|p| match std::fs::read(p) {
                Ok(b) => match serde_json::from_slice(&b) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::error!(path = %p.display(), error = %e, "action state unreadable; starting without history");
                        None
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    tracing::error!(path = %p.display(), error = %e, "action state unreadable; starting without history");
                    None
                }
            })
            .unwrap_or_default();
        Arc::new(Actions {
            opts,
            policies: Mutex::new(BTreeMap::new()),
            history: Mutex::new(History { next_id: saved.next_id.max(1), records: saved.history }),
            saved: Mutex::new(saved.policies),
            views: Mutex::new(BTreeMap::new()),
            stop: Mutex::new(watch::channel(false).0),
            save_lock: Mutex::new(()),
        })
    }

    fn now(&self) -> i64 {
        (self.opts.clock)()
    }

    /// Checks a set of policies from every rule file: names unique, one policy of each kind per
    /// target (two scaling policies on one target would undo each other), actuators configured.
    pub fn check(&self, specs: &[PolicySpec]) -> Result<(), String> {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let mut targets: HashMap<(&'static str, String), &str> = HashMap::new();
        let mut errs = Vec::new();
        for s in specs {
            let key = (s.entry.def.kind(), s.entry.def.target().to_string());
            if let Some(other) = targets.insert(key.clone(), &s.entry.name) {
                errs.push(format!(
                    "{}:{}: {} policy {:?} acts on {}, like policy {other:?}: one {} policy per target",
                    s.file, s.entry.line, key.0, s.entry.name, key.1, key.0
                ));
            }
            if let Some(other) = seen.insert(&s.entry.name, &s.file) {
                errs.push(format!(
                    "{}: policy {:?} is also defined in {other}: policy names are unique",
                    s.file, s.entry.name
                ));
            }
            let kind = s.entry.def.target().actuator;
            if !self.opts.actuators.contains_key(&kind) {
                errs.push(format!(
                    "{}:{}: policy {:?} acts on {}, but no {} actuator is configured (actuators.{} in the configuration)",
                    s.file,
                    s.entry.line,
                    s.entry.name,
                    s.entry.def.target(),
                    kind.as_str(),
                    kind.as_str()
                ));
            }
        }
        if errs.is_empty() { Ok(()) } else { Err(errs.join("\n")) }
    }

    /// Replaces the running policies (after [`Actions::check`]): a policy of the same name
    /// keeps its memory; removed policies stop and resolve their alerts.
    pub fn update(self: &Arc<Self>, specs: Vec<PolicySpec>) {
        let (tx, rx) = watch::channel(false);
        let old_stop = std::mem::replace(&mut *self.stop.lock(), tx);
        let _ = old_stop.send(true);
        let mut policies = self.policies.lock();
        let mut old = std::mem::take(&mut *policies);
        for s in specs {
            let name = s.entry.name.clone();
            let interval_ms = s.interval_ms.unwrap_or(self.opts.default_interval_ms).max(1000);
            let run = match old.remove(&name) {
                Some(run) => {
                    // The task may be mid-evaluation: update through the lock.
                    let r = run.clone();
                    let def = s.entry.def.clone();
                    let (file, group) = (s.file.clone(), s.group.clone());
                    tokio::spawn(async move {
                        let mut g = r.lock().await;
                        if g.def.target() != def.target() {
                            g.mem = PolicyMemory::default();
                        }
                        g.def = def;
                        g.interval_ms = interval_ms;
                        g.file = file;
                        g.group = group;
                    });
                    run
                }
                None => {
                    let mem = self.saved.lock().get(&name).cloned().unwrap_or_default();
                    Arc::new(tokio::sync::Mutex::new(PolicyRun {
                        name: name.clone(),
                        file: s.file.clone(),
                        group: s.group.clone(),
                        interval_ms,
                        def: s.entry.def.clone(),
                        mem,
                        last_eval_ms: 0,
                        last_decision: None,
                        last_error: None,
                        alerts: BTreeMap::new(),
                    }))
                }
            };
            policies.insert(name.clone(), run.clone());
            tokio::spawn(run_policy(self.clone(), run, interval_ms, rx.clone()));
        }
        // Memories of policies no longer loaded are dropped at the next save.
        self.saved.lock().retain(|n, _| policies.contains_key(n));
        // Removed policies: resolve what they raised.
        for (_, run) in old {
            let me = self.clone();
            tokio::spawn(async move {
                let mut g = run.lock().await;
                let now = me.now();
                let resolved: Vec<Alert> = std::mem::take(&mut g.alerts)
                    .into_values()
                    .map(|mut a| {
                        a.resolved = true;
                        a.ends_at_ms = now;
                        a
                    })
                    .collect();
                if !resolved.is_empty() {
                    (me.opts.alerts)(resolved);
                }
            });
        }
    }

    /// Stops the policy tasks and saves the state.
    pub async fn stop(&self) {
        let _ = self.stop.lock().send(true);
        self.save().await;
    }

    // ---- evaluation ----------------------------------------------------------------------

    /// Evaluates one policy now (the tasks call this on the policy's interval).
    async fn eval(self: &Arc<Self>, run: &mut PolicyRun) {
        let now = self.now();
        run.last_eval_ms = now;
        self.expire_pending(now);
        let result = match run.def.clone() {
            PolicyDef::Scaling(d) => self.eval_scaling(run, &d, now).await,
            PolicyDef::Recovery(d) => self.eval_recovery(run, &d, now).await,
        };
        run.last_error = result.err();
        if let Some(e) = &run.last_error {
            tracing::warn!(policy = %run.name, error = %e, "policy evaluation failed");
        }
        self.breaker_alert(run, now);
        self.remember(run);
        self.save().await;
    }

    /// Takes a policy's memory for the next save, and its view for the API.
    fn remember(&self, run: &mut PolicyRun) {
        self.saved.lock().insert(run.name.clone(), run.mem.clone());
        let v = view_of(run, self.now(), false);
        self.views.lock().insert(run.name.clone(), v);
    }

    /// The target's replicas; a failed read counts toward the policy's breaker.
    async fn read_status(
        &self,
        run: &mut PolicyRun,
        target: &Target,
        now: i64,
    ) -> Result<crate::actuators::ReplicaStatus, String> {
        let actuator = self.actuator(target.actuator).map_err(|e| e.to_string())?;
        actuator.status(target).await.map_err(|e| {
            let msg = format!("reading {target}: {e}");
            self.failure(run, now, &msg);
            msg
        })
    }

    async fn eval_scaling(
        self: &Arc<Self>,
        run: &mut PolicyRun,
        d: &rules::scaling::ScalingDef,
        now: i64,
    ) -> Result<(), String> {
        let metric = self.metric(&d.expr, now).await?;
        let predicted = match &d.predictive_expr {
            Some(e) => Some(self.metric(e, now).await?),
            None => None,
        };
        let status = self.read_status(run, &d.target, now).await?;
        let decision = run.mem.scaling.decide(d, now, status.replicas, metric, predicted);
        if !decision.act {
            // Read fine and nothing to try: a half-open circuit closes.
            run.mem.breaker.reachable(now);
        }
        run.last_decision = Some(serde_json::to_value(&decision).unwrap_or(Json::Null));
        let target = d.target.to_string();
        if metric.is_finite() {
            self.write_series(&[("tickdb_scaling_metric", &run.name, &target, metric)]).await;
        }
        self.write_series(&[
            ("tickdb_scaling_current_replicas", &run.name, &target, f64::from(status.replicas)),
            ("tickdb_scaling_ready_replicas", &run.name, &target, f64::from(status.ready)),
            ("tickdb_scaling_desired_replicas", &run.name, &target, f64::from(decision.desired)),
        ])
        .await;
        if let Some(p) = predicted.filter(|p| p.is_finite()) {
            self.write_series(&[("tickdb_scaling_predicted_metric", &run.name, &target, p)]).await;
        }
        if !decision.act {
            return Ok(());
        }
        tracing::info!(policy = %run.name, target = %target, reason = %decision.reason, "scaling decision");
        let op = Op::Scale { replicas: decision.desired };
        self.act(
            run,
            d.mode,
            d.approval_timeout_ms,
            op,
            &decision.reason,
            inputs_of(&decision),
            Some(status.replicas),
            now,
        )
        .await;
        Ok(())
    }

    async fn eval_recovery(
        self: &Arc<Self>,
        run: &mut PolicyRun,
        d: &rules::scaling::RecoveryDef,
        now: i64,
    ) -> Result<(), String> {
        let failing: Vec<String> = if d.expr.is_empty() {
            let status = self.read_status(run, &d.target, now).await?;
            if status.instances.is_empty() {
                // Kubernetes: the workload as a whole, when fewer replicas are ready than asked.
                if status.ready < status.replicas { vec![String::new()] } else { vec![] }
            } else {
                status
                    .instances
                    .iter()
                    .filter(|i| matches!(i.health, InstanceHealth::Down | InstanceHealth::Unhealthy))
                    .map(|i| i.name.clone())
                    .collect()
            }
        } else {
            let (src, expr) = (self.opts.source.clone(), d.expr.clone());
            let label = d.instance_label.clone();
            let v = tokio::task::spawn_blocking(move || src.instant(&expr, now))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let mut names: Vec<String> = v.iter().map(|s| s.labels.get(&label).to_string()).collect();
            names.sort();
            names.dedup();
            names
        };
        let decisions = run.mem.recovery.observe(d, now, &failing);
        if !decisions.iter().any(|(_, d)| matches!(d, RecoveryDecision::Restart { .. })) {
            run.mem.breaker.reachable(now);
        }
        let target = d.target.to_string();
        let restarts: usize = run.mem.recovery.restarts().values().sum();
        self.write_series(&[
            ("tickdb_recovery_failing_instances", &run.name, &target, failing.len() as f64),
            ("tickdb_recovery_restarts_last_hour", &run.name, &target, restarts as f64),
        ])
        .await;
        run.last_decision = Some(json!({ "failing": failing, "decisions": decisions }));
        // Escalations: alert while escalated; resolve the ones that recovered.
        let escalated = run.mem.recovery.escalated();
        let keys: Vec<String> = run.alerts.keys().filter(|k| k.starts_with("escalated/")).cloned().collect();
        for k in keys {
            if !escalated.iter().any(|i| format!("escalated/{i}") == k) {
                let mut a = run.alerts.remove(&k).expect("listed");
                a.resolved = true;
                a.ends_at_ms = now;
                (self.opts.alerts)(vec![a]);
            }
        }
        for inst in &escalated {
            let restarts = run.mem.recovery.restarts().get(inst).copied().unwrap_or(0);
            let mut labels = d.labels.clone();
            labels.insert("alertname".into(), "TickdbRecoveryExhausted".into());
            labels.insert("policy".into(), run.name.clone());
            labels.insert("target".into(), target.clone());
            if !inst.is_empty() {
                labels.insert("instance".into(), inst.clone());
            }
            labels.entry("severity".into()).or_insert_with(|| "critical".into());
            let mut ann = d.annotations.clone();
            ann.entry("summary".into()).or_insert_with(|| {
                format!("{target}{}: still failing after {restarts} restarts in the last hour", inst_suffix(inst))
            });
            self.raise(run, format!("escalated/{inst}"), labels, ann, now);
        }
        for (inst, dec) in decisions {
            match dec {
                RecoveryDecision::Restart { n, failing_for_ms } => {
                    let reason = format!(
                        "{target}{} failing for {}: restart {n} of at most {} an hour",
                        inst_suffix(&inst),
                        rules::scaling::fmt_ms(failing_for_ms),
                        d.max_restarts
                    );
                    tracing::info!(policy = %run.name, %reason, "recovery decision");
                    let op = Op::Restart { instance: (!inst.is_empty()).then(|| inst.clone()) };
                    let inputs =
                        json!({ "failing_for_ms": failing_for_ms, "restart": n, "max_restarts": d.max_restarts });
                    let done = self.act(run, d.mode, d.approval_timeout_ms, op, &reason, inputs, None, now).await;
                    if done {
                        run.mem.recovery.record_restart(&inst, now);
                    }
                }
                RecoveryDecision::Escalate { restarts } => {
                    tracing::warn!(policy = %run.name, instance = %inst, restarts, "recovery exhausted: escalating");
                }
                RecoveryDecision::Wait { .. } | RecoveryDecision::Escalated => {}
            }
        }
        Ok(())
    }

    /// Runs a decided action according to the mode. Returns true if it counts as done for the
    /// policy's memory: executed, or decided in dry-run. A parked action (approve mode) is not
    /// done yet: its approval records it.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        self: &Arc<Self>,
        run: &mut PolicyRun,
        mode: Mode,
        approval_timeout_ms: i64,
        op: Op,
        reason: &str,
        inputs: Json,
        before: Option<u32>,
        now: i64,
    ) -> bool {
        let target = run.def.target().clone();
        let mut rec = ActionRecord::new(
            Some(run.name.clone()),
            &target,
            op.clone(),
            mode,
            policy_actor(&run.name).subject,
            reason,
            before,
            now,
        );
        rec.inputs = inputs;
        match mode {
            Mode::Approve => {
                // One parked action per policy: a newer decision waits until it is settled.
                let waiting = self
                    .history
                    .lock()
                    .records
                    .iter()
                    .any(|r| r.policy.as_deref() == Some(&run.name) && r.status == Status::Pending);
                if waiting {
                    return false;
                }
                rec.expires_ms = Some(now + approval_timeout_ms);
                let rec = self.push(rec);
                tracing::info!(policy = %run.name, id = rec.id, "action awaiting approval");
                self.count(&run.name, op.kind(), "pending");
                // The policy holds (cooldown) while the operator decides.
                if let Op::Scale { replicas } = op {
                    run.mem.scaling.record_action(now, before.unwrap_or(replicas), before.unwrap_or(replicas));
                }
                false
            }
            Mode::DryRun => {
                let ev = self.event(&policy_actor(&run.name), &target, &op, before, reason, "dry_run");
                let status = match self.audit(ev).await {
                    Ok(()) => Status::DryRun,
                    Err(e) => {
                        rec.error = Some(e);
                        Status::AuditFailed
                    }
                };
                rec.status = status;
                self.count(&run.name, op.kind(), status.as_str());
                self.push(rec);
                if let Op::Scale { .. } = op {
                    // Decided, not done: the replicas stay; the cooldown spaces the entries.
                    run.mem.scaling.record_action(now, before.unwrap_or(0), before.unwrap_or(0));
                }
                status == Status::DryRun
            }
            Mode::Enforce => {
                if !run.mem.breaker.allows(now) {
                    return false;
                }
                let rec = self.execute(&policy_actor(&run.name), rec, None).await;
                match rec.status {
                    Status::Succeeded => {
                        run.mem.breaker.success();
                        if let (Op::Scale { .. }, Some(b), Some(a)) = (&op, rec.before, rec.after) {
                            run.mem.scaling.record_action(now, b, a);
                        }
                        true
                    }
                    Status::Failed => {
                        self.failure(run, now, rec.error.as_deref().unwrap_or("failed"));
                        false
                    }
                    _ => false,
                }
            }
        }
    }

    /// Audits then executes `rec` (status set from the outcome), stores it in the history.
    async fn execute(&self, who: &Who, mut rec: ActionRecord, justification: Option<String>) -> ActionRecord {
        let target: Target = match rec.target.parse() {
            Ok(t) => t,
            Err(e) => {
                rec.status = Status::Failed;
                rec.error = Some(e);
                return self.push(rec);
            }
        };
        let reason = match justification {
            Some(j) if !j.is_empty() => format!("{} ({j})", rec.reason),
            _ => rec.reason.clone(),
        };
        let ev = self.event(who, &target, &rec.op, rec.before, &reason, "ok");
        if let Err(e) = self.audit(ev.clone()).await {
            tracing::error!(target = %rec.target, error = %e, "audit entry not written: action not executed");
            rec.status = Status::AuditFailed;
            rec.error = Some(e);
            self.count(rec.policy.as_deref().unwrap_or("manual"), rec.op.kind(), "audit_failed");
            return self.push(rec);
        }
        let actuator = match self.actuator(target.actuator) {
            Ok(a) => a,
            Err(e) => {
                rec.status = Status::Failed;
                rec.error = Some(e.to_string());
                return self.push(rec);
            }
        };
        rec.started_ms = Some(self.now());
        let t0 = Instant::now();
        let outcome = match &rec.op {
            Op::Scale { replicas } => actuator.scale(&target, *replicas).await.map(|r| {
                rec.before = Some(r.before);
                rec.after = Some(r.after);
                rec.changed = r.added.into_iter().chain(r.removed).collect();
            }),
            Op::Restart { instance } => {
                actuator.restart(&target, instance.as_deref()).await.map(|r| rec.changed = r.restarted)
            }
        };
        rec.duration_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
        match outcome {
            Ok(()) => {
                rec.status = Status::Succeeded;
                tracing::info!(target = %rec.target, op = rec.op.kind(), before = ?rec.before, after = ?rec.after,
                    changed = ?rec.changed, duration_ms = rec.duration_ms, "action done");
            }
            Err(e) => {
                rec.status = Status::Failed;
                rec.error = Some(e.to_string());
                tracing::error!(target = %rec.target, op = rec.op.kind(), error = %e, "action failed");
                let failed = AuditEvent { result: format!("error: {e}"), ..ev };
                if let Err(ae) = self.audit(failed).await {
                    tracing::error!(error = %ae, "audit entry of a failed action not written");
                }
            }
        }
        self.count(rec.policy.as_deref().unwrap_or("manual"), rec.op.kind(), rec.status.as_str());
        self.push(rec)
    }

    // ---- the API -------------------------------------------------------------------------

    /// The history, newest first, filtered.
    pub fn history(&self, policy: Option<&str>, status: Option<&str>, limit: usize) -> Vec<ActionRecord> {
        self.expire_pending(self.now());
        self.history
            .lock()
            .records
            .iter()
            .rev()
            .filter(|r| policy.is_none_or(|p| r.policy.as_deref() == Some(p)))
            .filter(|r| status.is_none_or(|s| r.status.as_str() == s))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn action(&self, id: u64) -> Result<ActionRecord, ActionError> {
        self.expire_pending(self.now());
        self.history.lock().records.iter().find(|r| r.id == id).cloned().ok_or(ActionError::UnknownAction(id))
    }

    /// Approves a pending action: it is audited under the operator's name and executed now.
    pub async fn approve(
        self: &Arc<Self>,
        id: u64,
        who: &Who,
        justification: Option<String>,
    ) -> Result<ActionRecord, ActionError> {
        let rec = self.take_pending(id)?;
        let run = rec.policy.as_ref().and_then(|p| self.policies.lock().get(p).cloned());
        let mut rec = rec;
        rec.approved_by = Some(who.subject.clone());
        rec.reason = format!("approved action {id}: {}", rec.reason);
        let Some(run) = run else {
            // The policy is gone: the action still does what the operator approved.
            return Ok(self.execute(who, rec, justification).await);
        };
        let mut g = run.lock().await;
        let now = self.now();
        let done = self.execute(who, rec, justification).await;
        match done.status {
            Status::Succeeded => {
                g.mem.breaker.success();
                if let (Op::Scale { .. }, Some(b), Some(a)) = (&done.op, done.before, done.after) {
                    g.mem.scaling.record_action(now, b, a);
                }
                if let Op::Restart { instance } = &done.op {
                    g.mem.recovery.record_restart(instance.as_deref().unwrap_or(""), now);
                }
            }
            Status::Failed => self.failure(&mut g, now, done.error.as_deref().unwrap_or("failed")),
            _ => {}
        }
        self.remember(&mut g);
        drop(g);
        self.save().await;
        Ok(done)
    }

    /// Rejects a pending action (audited by the caller).
    pub async fn reject(&self, id: u64, who: &Who) -> Result<ActionRecord, ActionError> {
        let mut rec = self.take_pending(id)?;
        rec.status = Status::Rejected;
        rec.approved_by = Some(who.subject.clone());
        self.count(rec.policy.as_deref().unwrap_or("manual"), rec.op.kind(), "rejected");
        let rec = self.push(rec);
        self.save().await;
        Ok(rec)
    }

    /// Checks that `id` is pending (for the API, before its audit entry).
    pub fn check_pending(&self, id: u64) -> Result<ActionRecord, ActionError> {
        let rec = self.action(id)?;
        if rec.status != Status::Pending {
            return Err(ActionError::NotPending { id, status: rec.status.as_str() });
        }
        Ok(rec)
    }

    fn take_pending(&self, id: u64) -> Result<ActionRecord, ActionError> {
        self.expire_pending(self.now());
        let mut h = self.history.lock();
        let i = h.records.iter().position(|r| r.id == id).ok_or(ActionError::UnknownAction(id))?;
        if h.records[i].status != Status::Pending {
            return Err(ActionError::NotPending { id, status: h.records[i].status.as_str() });
        }
        Ok(h.records.remove(i).expect("found"))
    }

    /// A manual action of an operator (audited as theirs). Policies on the target hold for
    /// their cooldown after it, so they do not undo it at once.
    pub async fn manual(
        self: &Arc<Self>,
        who: &Who,
        target: Target,
        op: Op,
        justification: String,
    ) -> Result<ActionRecord, ActionError> {
        let actuator = self.actuator(target.actuator)?;
        let before = match &op {
            Op::Scale { .. } => Some(actuator.status(&target).await?.replicas),
            Op::Restart { .. } => None,
        };
        let now = self.now();
        let reason = format!("manual action by {}", who.subject);
        let rec = ActionRecord::new(None, &target, op, Mode::Enforce, who.subject.clone(), &reason, before, now);
        let done = self.execute(who, rec, Some(justification)).await;
        if done.status == Status::AuditFailed {
            return Err(ActionError::Audit(done.error.unwrap_or_default()));
        }
        if let (Status::Succeeded, Some(b), Some(a)) = (done.status, done.before, done.after) {
            let runs: Vec<_> = self.policies.lock().values().cloned().collect();
            for run in runs {
                let mut g = run.lock().await;
                if g.def.target() == &target {
                    g.mem.scaling.record_action(now, b, a);
                    self.remember(&mut g);
                }
            }
        }
        self.save().await;
        Ok(done)
    }

    /// A target's status through its actuator.
    pub async fn target_status(&self, target: &Target) -> Result<crate::actuators::ReplicaStatus, ActionError> {
        Ok(self.actuator(target.actuator)?.status(target).await?)
    }

    /// Closes a policy's circuit breaker by hand.
    pub async fn reset(self: &Arc<Self>, policy: &str) -> Result<(), ActionError> {
        let run = self.policies.lock().get(policy).cloned().ok_or_else(|| ActionError::UnknownPolicy(policy.into()))?;
        let mut g = run.lock().await;
        g.mem.breaker.reset();
        let now = self.now();
        self.breaker_alert(&mut g, now);
        self.remember(&mut g);
        drop(g);
        self.save().await;
        Ok(())
    }

    pub fn has_policy(&self, policy: &str) -> bool {
        self.policies.lock().contains_key(policy)
    }

    /// The loaded policies and their state.
    pub async fn policies(&self) -> Vec<PolicyView> {
        let runs: Vec<_> = self.policies.lock().iter().map(|(n, r)| (n.clone(), r.clone())).collect();
        let now = self.now();
        let mut out = Vec::new();
        for (name, run) in runs {
            // A policy mid-evaluation (an actuator call may take seconds) shows its view from
            // the end of its last evaluation rather than making the API wait.
            if let Ok(mut g) = run.try_lock() {
                out.push(view_of(&mut g, now, false));
                continue;
            }
            let cached = self.views.lock().get(&name).cloned();
            match cached {
                Some(v) => out.push(PolicyView { evaluating: true, ..v }),
                None => out.push(view_of(&mut *run.lock().await, now, false)),
            }
        }
        out
    }

    // ---- parts ---------------------------------------------------------------------------

    fn actuator(&self, kind: ActuatorKind) -> Result<Arc<dyn Actuator>, ActionError> {
        self.opts.actuators.get(&kind).cloned().ok_or(ActionError::NoActuator(kind.as_str()))
    }

    /// The expression's value now: a scalar, or the mean of a vector's values; NaN when empty.
    async fn metric(&self, expr: &str, now: i64) -> Result<f64, String> {
        let (src, e) = (self.opts.source.clone(), expr.to_string());
        let v = tokio::task::spawn_blocking(move || src.instant(&e, now))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{expr}: {e}"))?;
        if v.is_empty() {
            return Ok(f64::NAN);
        }
        Ok(v.iter().map(|s| s.v).sum::<f64>() / v.len() as f64)
    }

    fn failure(&self, run: &mut PolicyRun, now: i64, error: &str) {
        let breaker = run.def.breaker();
        if run.mem.breaker.failure(&breaker, now, error) {
            tracing::error!(policy = %run.name, failures = run.mem.breaker.failures(), error,
                "circuit breaker open: the policy stops acting");
        }
    }

    /// Raises or resolves the policy's circuit alert.
    fn breaker_alert(&self, run: &mut PolicyRun, now: i64) {
        let open = run.mem.breaker.is_open();
        let key = "breaker".to_string();
        if open {
            let (labels, annotations) = match &run.def {
                PolicyDef::Scaling(d) => (d.labels.clone(), d.annotations.clone()),
                PolicyDef::Recovery(d) => (d.labels.clone(), d.annotations.clone()),
            };
            let mut l = labels;
            l.insert("alertname".into(), "TickdbPolicyCircuitOpen".into());
            l.insert("policy".into(), run.name.clone());
            l.insert("target".into(), run.def.target().to_string());
            l.entry("severity".into()).or_insert_with(|| "critical".into());
            let mut a = annotations;
            a.entry("summary".into()).or_insert_with(|| {
                format!("policy {} stopped after {} actuator failures", run.name, run.mem.breaker.failures())
            });
            a.insert("description".into(), run.mem.breaker.last_error().unwrap_or("").to_string());
            self.raise(run, key, l, a, now);
            self.write_series_sync(&[("tickdb_policy_breaker_open", &run.name, &run.def.target().to_string(), 1.0)]);
        } else {
            if let Some(mut a) = run.alerts.remove(&key) {
                a.resolved = true;
                a.ends_at_ms = now;
                (self.opts.alerts)(vec![a]);
            }
            self.write_series_sync(&[("tickdb_policy_breaker_open", &run.name, &run.def.target().to_string(), 0.0)]);
        }
    }

    /// Sends (or re-sends) a firing alert of the policy.
    fn raise(&self, run: &mut PolicyRun, key: String, labels: LabelMap, annotations: LabelMap, now: i64) {
        let starts = run.alerts.get(&key).map_or(now, |a| a.starts_at_ms);
        let alert = Alert {
            labels,
            annotations,
            starts_at_ms: starts,
            ends_at_ms: now + 4 * run.interval_ms.max(60_000),
            resolved: false,
            generator_url: String::new(),
        };
        run.alerts.insert(key, alert.clone());
        (self.opts.alerts)(vec![alert]);
    }

    fn event(
        &self,
        who: &Who,
        target: &Target,
        op: &Op,
        before: Option<u32>,
        reason: &str,
        result: &str,
    ) -> AuditEvent {
        let (action, after) = match op {
            Op::Scale { replicas } => ("actuator.scale", json!({ "replicas": replicas })),
            Op::Restart { instance } => ("actuator.restart", json!({ "instance": instance })),
        };
        AuditEvent {
            actor: who.subject.clone(),
            role: who.role.clone(),
            source_ip: who.source_ip.clone(),
            user_agent: who.user_agent.clone(),
            action: action.into(),
            target: target.to_string(),
            before: before.map(|b| json!({ "replicas": b })),
            after: Some(after),
            justification: Some(reason.to_string()),
            result: result.into(),
        }
    }

    /// Writes an audit entry (blocking: fsync) or says why not.
    async fn audit(&self, ev: AuditEvent) -> Result<(), String> {
        let sink = self.opts.audit.clone();
        tokio::task::spawn_blocking(move || sink(ev)).await.map_err(|e| e.to_string())?
    }

    fn push(&self, mut rec: ActionRecord) -> ActionRecord {
        let mut h = self.history.lock();
        if rec.id == 0 {
            rec.id = h.next_id;
            h.next_id += 1;
        }
        h.records.push_back(rec.clone());
        while h.records.len() > HISTORY_LEN {
            match h.records.iter().position(|r| r.status != Status::Pending) {
                Some(i) => {
                    h.records.remove(i);
                }
                None => break,
            }
        }
        rec
    }

    fn expire_pending(&self, now: i64) {
        let mut expired = Vec::new();
        for r in self.history.lock().records.iter_mut() {
            if r.status == Status::Pending && r.expires_ms.is_some_and(|e| now >= e) {
                r.status = Status::Expired;
                expired.push((r.policy.clone().unwrap_or_default(), r.op.kind()));
            }
        }
        for (p, k) in expired {
            tracing::info!(policy = %p, "action not approved in time: expired");
            self.count(&p, k, "expired");
        }
    }

    fn count(&self, policy: &str, kind: &str, outcome: &str) {
        self.opts
            .registry
            .counter_with(
                "tickdb_actions_total",
                "Scaling and recovery actions by policy, kind (scale, restart) and outcome.",
                &[("policy", policy), ("kind", kind), ("outcome", outcome)],
            )
            .inc();
    }

    async fn write_series(&self, points: &[(&str, &str, &str, f64)]) {
        let write = self.series_writer(points);
        let _ = tokio::task::spawn_blocking(write).await;
    }

    /// Small and rare (once per evaluation): on a blocking thread, not waited for.
    fn write_series_sync(&self, points: &[(&str, &str, &str, f64)]) {
        tokio::task::spawn_blocking(self.series_writer(points));
    }

    fn series_writer(&self, points: &[(&str, &str, &str, f64)]) -> impl FnOnce() + Send + 'static {
        let owned: Vec<(String, String, String, f64)> =
            points.iter().map(|(n, p, t, v)| (n.to_string(), p.to_string(), t.to_string(), *v)).collect();
        let (out, now) = (self.opts.out.clone(), self.now());
        move || write_points(out.as_ref(), now, &owned)
    }

    /// Saves history and policy memories (atomically; errors are logged).
    async fn save(&self) {
        let Some(path) = self.opts.state_file.clone() else { return };
        // Policies put their memory in `saved` after each evaluation and each API change.
        let policies = self.saved.lock().clone();
        let saved = {
            let h = self.history.lock();
            Saved { next_id: h.next_id, history: h.records.clone(), policies }
        };
        let _one = self.save_lock.lock();
        if let Some(dir) = path.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            tracing::error!(error = %e, "creating the actions directory failed");
            return;
        }
        if let Err(e) = crate::alerting::write_json_atomic(&path, &saved) {
            tracing::error!(error = %e, path = %path.display(), "saving action state failed");
        }
    }
}

/// Connects the configured actuators (a configured one that cannot be set up stops the start:
/// policies would act on nothing).
pub async fn connect_actuators(
    cfg: &crate::config::ActuatorsConfig,
) -> anyhow::Result<HashMap<ActuatorKind, Arc<dyn Actuator>>> {
    let mut out: HashMap<ActuatorKind, Arc<dyn Actuator>> = HashMap::new();
    if let Some(d) = &cfg.docker {
        let a = crate::actuators::docker::DockerActuator::connect(d)
            .await
            .map_err(|e| anyhow::anyhow!("actuators.docker: {e}"))?;
        tracing::info!(host = %d.host, "docker actuator ready");
        out.insert(ActuatorKind::Docker, Arc::new(a));
    }
    if let Some(k) = &cfg.kubernetes {
        let a = crate::actuators::kubernetes::KubeActuator::connect(k)
            .await
            .map_err(|e| anyhow::anyhow!("actuators.kubernetes: {e}"))?;
        tracing::info!(kubeconfig = %k.kubeconfig.display(), "kubernetes actuator ready");
        out.insert(ActuatorKind::Kubernetes, Arc::new(a));
    }
    Ok(out)
}

fn inst_suffix(inst: &str) -> String {
    if inst.is_empty() { String::new() } else { format!(" instance {inst}") }
}

fn inputs_of(d: &ScalingDecision) -> Json {
    serde_json::to_value(d).unwrap_or(Json::Null)
}

fn write_points(out: &dyn Appendable, now: i64, points: &[(String, String, String, f64)]) {
    let mut app = out.appender();
    for (name, policy, target, v) in points {
        let l =
            Labels::from_pairs([("__name__", name.as_str()), ("policy", policy.as_str()), ("target", target.as_str())]);
        if let Err(e) = app.append(None, &l, now, *v) {
            tracing::warn!(error = %e, series = %name, "writing a policy series failed");
            return;
        }
    }
    if let Err(e) = app.commit_unsynced() {
        tracing::warn!(error = %e, "writing policy series failed");
    }
}

/// One policy's loop: evaluate every interval until stopped.
async fn run_policy(
    me: Arc<Actions>,
    run: Arc<tokio::sync::Mutex<PolicyRun>>,
    interval_ms: i64,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(interval_ms as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        if *stop.borrow() {
            return;
        }
        let mut g = run.lock().await;
        me.eval(&mut g).await;
    }
}
