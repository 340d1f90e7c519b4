//! Scaling and recovery decisions: the arithmetic of `scaling:` and `recovery:` rules
//! (docs/scaling.md), with an injected clock (every function takes `now_ms`).
//!
//! - [`ScalingState::decide`]: the Kubernetes HPA's algorithm. `desired = ceil(current × metric /
//!   target)` unless the ratio is within the tolerance; clamped to `min`/`max`; stabilized (the
//!   highest recommendation of the scale-down window, the lowest of the scale-up window); limited
//!   by the rate policies (at most +100% per 30 s up, −50% per 60 s down by default); held during
//!   the cooldown after an action.
//! - [`RecoveryState::observe`]: restart an instance once it has failed for `for`, at most
//!   `max_restarts` an hour with an exponential back-off, then escalate.
//! - [`Breaker`]: repeated actuator failures open the circuit (the policy stops acting) for
//!   `open_for`, then one trial action decides.
//!
//! Nothing here talks to an actuator: the server reads replicas, calls these, audits and acts.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::alert::LabelMap;

#[cfg(test)]
#[path = "scaling/tests.rs"]
mod tests;

// ---- targets ---------------------------------------------------------------------------

/// What an action acts on, as a policy names it: `docker/<service>`,
/// `deployment/[<namespace>/]<name>`, `statefulset/[<namespace>/]<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The actuator that owns the target: `docker` or `kubernetes`.
    pub actuator: ActuatorKind,
    /// What the name names (a Docker service, a Deployment, a StatefulSet).
    pub kind: TargetKind,
    /// Kubernetes namespace (`default` when absent); unused for Docker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The service's or workload's name.
    pub name: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.actuator {
            ActuatorKind::Docker => write!(f, "docker/{}", self.name),
            ActuatorKind::Kubernetes => {
                write!(f, "{}/{}/{}", self.kind.as_str(), self.namespace.as_deref().unwrap_or("default"), self.name)
            }
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad_name = |n: &str| {
            n.is_empty()
                || n.len() > 253
                || !n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let usage = "a target is docker/<service>, deployment/[<namespace>/]<name> or statefulset/[<namespace>/]<name>";
        let (actuator, kind, namespace, name) = match parts.as_slice() {
            ["docker", name] => (ActuatorKind::Docker, TargetKind::Service, None, *name),
            [k @ ("deployment" | "statefulset"), rest @ ..] if !rest.is_empty() && rest.len() <= 2 => {
                let kind = if *k == "deployment" { TargetKind::Deployment } else { TargetKind::StatefulSet };
                let (ns, name) = if rest.len() == 2 { (Some(rest[0]), rest[1]) } else { (None, rest[0]) };
                (ActuatorKind::Kubernetes, kind, ns, name)
            }
            _ => return Err(format!("invalid target {s:?}: {usage}")),
        };
        if bad_name(name) || namespace.is_some_and(bad_name) {
            return Err(format!("invalid target {s:?}: names are letters, digits, '-', '_' and '.'"));
        }
        Ok(Target { actuator, kind, namespace: namespace.map(str::to_string), name: name.to_string() })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActuatorKind {
    Docker,
    Kubernetes,
}

impl ActuatorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActuatorKind::Docker => "docker",
            ActuatorKind::Kubernetes => "kubernetes",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Docker: the containers labelled `tickdb.service=<name>`.
    Service,
    Deployment,
    StatefulSet,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Service => "service",
            TargetKind::Deployment => "deployment",
            TargetKind::StatefulSet => "statefulset",
        }
    }
}

// ---- definitions -------------------------------------------------------------------------

/// What a policy does with its decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Decide and act.
    #[default]
    Enforce,
    /// Decide, log and audit; do nothing.
    DryRun,
    /// Decide; the action waits for an operator's approval and expires after a timeout.
    Approve,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "dry_run" => Ok(Mode::DryRun),
            "approve" => Ok(Mode::Approve),
            other => Err(format!("mode must be enforce, dry_run or approve, got {other:?}")),
        }
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::DryRun => "dry_run",
            Mode::Approve => "approve",
        }
    }
}

/// One rate policy: at most `value` percent (or replicas) of change per `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatePolicy {
    pub kind: RateKind,
    pub value: u32,
    pub period_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateKind {
    Percent,
    Replicas,
}

/// Which rate policy wins when several are given (the HPA's `selectPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Select {
    /// The policy allowing the largest change.
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No change in this direction at all.
    Disabled,
}

/// Scale-up or scale-down behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    pub stabilization_ms: i64,
    pub policies: Vec<RatePolicy>,
    pub select: Select,
}

impl Behavior {
    /// At most +100% per 30 s, no stabilization (the HPA's scale-up default, the issue's).
    pub fn default_up() -> Behavior {
        Behavior {
            stabilization_ms: 0,
            policies: vec![RatePolicy { kind: RateKind::Percent, value: 100, period_ms: 30_000 }],
            select: Select::Max,
        }
    }
    /// At most −50% per 60 s, 5 minutes of stabilization.
    pub fn default_down() -> Behavior {
        Behavior {
            stabilization_ms: 300_000,
            policies: vec![RatePolicy { kind: RateKind::Percent, value: 50, period_ms: 60_000 }],
            select: Select::Max,
        }
    }
}

/// The circuit breaker of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BreakerDef {
    /// Consecutive actuator failures that open the circuit.
    pub failures: u32,
    /// How long the circuit stays open before one trial action.
    pub open_for_ms: i64,
}

impl Default for BreakerDef {
    fn default() -> Self {
        BreakerDef { failures: 3, open_for_ms: 600_000 }
    }
}

/// A `scaling:` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingDef {
    pub target: Target,
    /// The metric: one value (a scalar or a one-series vector; several series are averaged).
    pub expr: String,
    /// The metric's target value (default 70, e.g. CPU %).
    pub target_value: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// No change while `|metric / target − 1| <= tolerance` (default 0.1).
    pub tolerance: f64,
    pub up: Behavior,
    pub down: Behavior,
    /// No action for this long after an action (default 30 s).
    pub cooldown_ms: i64,
    /// Predictive mode: the metric forecast ahead (e.g. a forecast rule's output series); the
    /// policy scales for the larger of the metric and the forecast.
    pub predictive_expr: Option<String>,
    pub mode: Mode,
    /// How long an action awaiting approval stays valid (default 10 min).
    pub approval_timeout_ms: i64,
    pub breaker: BreakerDef,
    /// Labels and annotations of the alerts the policy raises (circuit open).
    pub labels: LabelMap,
    pub annotations: LabelMap,
}

impl ScalingDef {
    /// A policy with the defaults (mPanel's seed: target 70, min 2, max 10).
    pub fn new(target: Target, expr: &str) -> ScalingDef {
        ScalingDef {
            target,
            expr: expr.to_string(),
            target_value: 70.0,
            min_replicas: 2,
            max_replicas: 10,
            tolerance: 0.1,
            up: Behavior::default_up(),
            down: Behavior::default_down(),
            cooldown_ms: 30_000,
            predictive_expr: None,
            mode: Mode::Enforce,
            approval_timeout_ms: 600_000,
            breaker: BreakerDef::default(),
            labels: LabelMap::new(),
            annotations: LabelMap::new(),
        }
    }
}

/// A `recovery:` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryDef {
    pub target: Target,
    /// Failing instances, one series each (like an alert's expression); empty: the actuator's
    /// own health (Docker: containers down or unhealthy).
    pub expr: String,
    /// The label of `expr`'s series naming the instance to restart (default `instance`; a
    /// series without it restarts the whole target).
    pub instance_label: String,
    /// How long an instance must fail before it is restarted.
    pub for_ms: i64,
    /// Restarts allowed per hour and instance; beyond, the policy escalates (an alert).
    pub max_restarts: u32,
    /// Wait after a restart before the next one; doubles with each restart of the hour.
    pub backoff_ms: i64,
    pub max_backoff_ms: i64,
    pub mode: Mode,
    pub approval_timeout_ms: i64,
    pub breaker: BreakerDef,
    pub labels: LabelMap,
    pub annotations: LabelMap,
}

impl RecoveryDef {
    pub fn new(target: Target, expr: &str) -> RecoveryDef {
        RecoveryDef {
            target,
            expr: expr.to_string(),
            instance_label: "instance".into(),
            for_ms: 60_000,
            max_restarts: 3,
            backoff_ms: 30_000,
            max_backoff_ms: 600_000,
            mode: Mode::Enforce,
            approval_timeout_ms: 600_000,
            breaker: BreakerDef::default(),
            labels: LabelMap::new(),
            annotations: LabelMap::new(),
        }
    }
}

/// A named policy from a rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PolicyDef {
    Scaling(ScalingDef),
    Recovery(RecoveryDef),
}

impl PolicyDef {
    pub fn target(&self) -> &Target {
        match self {
            PolicyDef::Scaling(d) => &d.target,
            PolicyDef::Recovery(d) => &d.target,
        }
    }
    pub fn mode(&self) -> Mode {
        match self {
            PolicyDef::Scaling(d) => d.mode,
            PolicyDef::Recovery(d) => d.mode,
        }
    }
    pub fn breaker(&self) -> BreakerDef {
        match self {
            PolicyDef::Scaling(d) => d.breaker,
            PolicyDef::Recovery(d) => d.breaker,
        }
    }
    pub fn approval_timeout_ms(&self) -> i64 {
        match self {
            PolicyDef::Scaling(d) => d.approval_timeout_ms,
            PolicyDef::Recovery(d) => d.approval_timeout_ms,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyDef::Scaling(_) => "scaling",
            PolicyDef::Recovery(_) => "recovery",
        }
    }
}

// ---- scaling -------------------------------------------------------------------------------

/// One scaling decision with the numbers that made it (for logs, audit, history and series).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingDecision {
    pub current: u32,
    pub metric: f64,
    /// The forecast metric, in predictive mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted: Option<f64>,
    pub target_value: f64,
    /// `ceil(current × metric / target)` clamped to min/max (= current within the tolerance).
    pub recommended: u32,
    /// After the stabilization windows.
    pub stabilized: u32,
    /// After the rate policies: what the policy wants now.
    pub desired: u32,
    /// Why `desired` is what it is, in words.
    pub reason: String,
    /// Whether an action is due (`desired != current` and not in cooldown).
    pub act: bool,
}

/// A scaling policy's memory: recommendations of the stabilization windows, the recent changes
/// for the rate policies, the last action for the cooldown.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScalingState {
    /// (time, recommendation), oldest first, kept for the longer stabilization window.
    recommendations: VecDeque<(i64, u32)>,
    /// (time, replicas change), oldest first, kept for the longest rate period.
    changes: VecDeque<(i64, i64)>,
    last_action_ms: Option<i64>,
}

impl ScalingState {
    /// Decides the replicas for `current` replicas and the metric values now. A metric that is
    /// not a finite number holds the replicas (no data is no reason to scale).
    pub fn decide(
        &mut self,
        def: &ScalingDef,
        now_ms: i64,
        current: u32,
        metric: f64,
        predicted: Option<f64>,
    ) -> ScalingDecision {
        let mut d = ScalingDecision {
            current,
            metric,
            predicted,
            target_value: def.target_value,
            recommended: current,
            stabilized: current,
            desired: current,
            reason: String::new(),
            act: false,
        };
        if !metric.is_finite() {
            d.reason = "no metric value: holding".into();
            return d;
        }
        let effective = match predicted {
            Some(p) if p.is_finite() && p > metric => p,
            _ => metric,
        };
        let clamp = |n: u32| n.clamp(def.min_replicas, def.max_replicas);
        let ratio = effective / def.target_value;
        let mut reasons = Vec::new();
        let raw = if current == 0 {
            // Nothing to multiply: start from the minimum (as the HPA does for a scaled-to-zero
            // workload it manages), or one replica if the metric asks for any.
            def.min_replicas.max(u32::from(effective > 0.0))
        } else if (ratio - 1.0).abs() <= def.tolerance {
            reasons.push(format!(
                "metric {} within {:.0}% of target {}",
                fmt_num(effective),
                def.tolerance * 100.0,
                fmt_num(def.target_value)
            ));
            current
        } else {
            let x = (f64::from(current) * ratio).ceil();
            if x >= f64::from(u32::MAX) { u32::MAX } else { x.max(0.0) as u32 }
        };
        d.recommended = clamp(raw);
        if d.recommended != raw {
            reasons.push(format!("{raw} clamped to [{}, {}]", def.min_replicas, def.max_replicas));
        }
        // Stabilization: the HPA's rule over the recommendations of each window.
        let up_cut = now_ms - def.up.stabilization_ms;
        let down_cut = now_ms - def.down.stabilization_ms;
        let (mut up_rec, mut down_rec) = (d.recommended, d.recommended);
        for &(t, r) in &self.recommendations {
            if t > up_cut {
                up_rec = up_rec.min(r);
            }
            if t > down_cut {
                down_rec = down_rec.max(r);
            }
        }
        let keep = def.up.stabilization_ms.max(def.down.stabilization_ms);
        self.recommendations.push_back((now_ms, d.recommended));
        while self.recommendations.front().is_some_and(|&(t, _)| t <= now_ms - keep) {
            self.recommendations.pop_front();
        }
        let mut s = current;
        if s < up_rec {
            s = up_rec;
        }
        if s > down_rec {
            s = down_rec;
        }
        d.stabilized = s;
        if s != d.recommended {
            reasons.push(format!("stabilized to {s}"));
        }
        // Rate policies.
        d.desired = s;
        if s > current {
            let limit = self.limit(&def.up, now_ms, current, true);
            if s > limit {
                d.desired = limit.max(current);
                reasons.push(format!("scale-up limited to {} by the rate policy", d.desired));
            }
        } else if s < current {
            let limit = self.limit(&def.down, now_ms, current, false);
            if s < limit {
                d.desired = limit.min(current);
                reasons.push(format!("scale-down limited to {} by the rate policy", d.desired));
            }
        }
        // The bounds win over the rate policies (a policy below `min` scales up at once).
        if current < def.min_replicas {
            d.desired = d.desired.max(def.min_replicas);
        } else if current > def.max_replicas {
            d.desired = d.desired.min(def.max_replicas);
        }
        if d.desired == current {
            if reasons.is_empty() {
                reasons.push(format!("{current} replicas is right"));
            }
            d.reason = reasons.join("; ");
            return d;
        }
        if let Some(last) = self.last_action_ms
            && now_ms < last + def.cooldown_ms
        {
            reasons.push(format!("in cooldown for {} more", fmt_ms(last + def.cooldown_ms - now_ms)));
            d.reason = reasons.join("; ");
            return d;
        }
        let dir = if d.desired > current { "up" } else { "down" };
        reasons.insert(
            0,
            format!(
                "scale {dir} {current} → {}: metric {} vs target {}",
                d.desired,
                fmt_num(effective),
                fmt_num(def.target_value)
            ),
        );
        d.reason = reasons.join("; ");
        d.act = true;
        d
    }

    /// The bound the rate policies of `b` put on a change from `current` now.
    fn limit(&self, b: &Behavior, now_ms: i64, current: u32, up: bool) -> u32 {
        if b.select == Select::Disabled {
            return current;
        }
        let cur = i64::from(current);
        let mut best: Option<i64> = None;
        for p in &b.policies {
            // Replicas at the start of the period: undo this direction's changes within it.
            let changed: i64 =
                self.changes.iter().filter(|&&(t, c)| t > now_ms - p.period_ms && (c > 0) == up).map(|&(_, c)| c).sum();
            let start = (cur - changed).max(0);
            let bound = match (p.kind, up) {
                (RateKind::Percent, true) => {
                    let v = (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64;
                    // Percent of nothing is nothing: allow one replica from zero.
                    v.max(start + i64::from(start == 0))
                }
                (RateKind::Replicas, true) => start + i64::from(p.value),
                (RateKind::Percent, false) => (start as f64 * (1.0 - f64::from(p.value) / 100.0)).ceil() as i64,
                (RateKind::Replicas, false) => start - i64::from(p.value),
            };
            best = Some(match (best, b.select, up) {
                (None, _, _) => bound,
                // Max: the largest change (highest bound up, lowest bound down).
                (Some(x), Select::Max, true) | (Some(x), Select::Min, false) => x.max(bound),
                (Some(x), _, _) => x.min(bound),
            });
        }
        best.map_or(current, |b| b.clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// Records an executed change (from `before` to `after` replicas) at `now_ms`: the rate
    /// policies and the cooldown count from here.
    pub fn record_action(&mut self, now_ms: i64, before: u32, after: u32) {
        self.last_action_ms = Some(now_ms);
        let c = i64::from(after) - i64::from(before);
        if c != 0 {
            self.changes.push_back((now_ms, c));
        }
        // Periods are minutes long: keep an hour of changes.
        while self.changes.front().is_some_and(|&(t, _)| t <= now_ms - 3_600_000) {
            self.changes.pop_front();
        }
    }

    /// When the cooldown after the last action ends (None: no action yet).
    pub fn cooldown_until(&self, def: &ScalingDef) -> Option<i64> {
        self.last_action_ms.map(|t| t + def.cooldown_ms)
    }
}

// ---- recovery ------------------------------------------------------------------------------

/// What a recovery policy wants for one failing instance now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RecoveryDecision {
    /// Failing for less than `for`, or waiting for the back-off.
    Wait { reason: String },
    /// Restart it (the `n`th restart of the last hour).
    Restart { n: u32, failing_for_ms: i64 },
    /// Out of restarts: raise the escalation alert (once per failure streak).
    Escalate { restarts: u32 },
    /// Escalated already; still failing.
    Escalated,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct InstanceRecovery {
    failing_since: Option<i64>,
    /// Restart times within the last hour.
    restarts: VecDeque<i64>,
    escalated: bool,
}

/// A recovery policy's memory, per instance (`""` = the whole target).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecoveryState {
    instances: BTreeMap<String, InstanceRecovery>,
}

impl RecoveryState {
    /// Takes the failing instances now; returns a decision per failing instance. Instances no
    /// longer failing are forgotten once they have no restart in the last hour.
    pub fn observe(&mut self, def: &RecoveryDef, now_ms: i64, failing: &[String]) -> Vec<(String, RecoveryDecision)> {
        let hour = 3_600_000;
        for (name, st) in self.instances.iter_mut() {
            if !failing.contains(name) {
                st.failing_since = None;
                st.escalated = false;
            }
            while st.restarts.front().is_some_and(|&t| t <= now_ms - hour) {
                st.restarts.pop_front();
            }
        }
        self.instances.retain(|n, st| failing.contains(n) || !st.restarts.is_empty());
        let mut out = Vec::new();
        for name in failing {
            let st = self.instances.entry(name.clone()).or_default();
            let since = *st.failing_since.get_or_insert(now_ms);
            let failing_for = now_ms - since;
            let decision = if st.escalated {
                RecoveryDecision::Escalated
            } else if failing_for < def.for_ms {
                RecoveryDecision::Wait {
                    reason: format!("failing for {} of {}", fmt_ms(failing_for), fmt_ms(def.for_ms)),
                }
            } else if st.restarts.len() as u32 >= def.max_restarts {
                st.escalated = true;
                RecoveryDecision::Escalate { restarts: st.restarts.len() as u32 }
            } else if let Some(&last) = st.restarts.back()
                && now_ms < last + backoff(def, st.restarts.len() as u32)
            {
                let left = last + backoff(def, st.restarts.len() as u32) - now_ms;
                RecoveryDecision::Wait { reason: format!("back-off: next restart in {}", fmt_ms(left)) }
            } else {
                RecoveryDecision::Restart { n: st.restarts.len() as u32 + 1, failing_for_ms: failing_for }
            };
            out.push((name.clone(), decision));
        }
        out
    }

    /// Records a restart of `instance` (executed or, in dry-run, decided) at `now_ms`. The
    /// failure streak starts again: the instance must fail for `for` once more.
    pub fn record_restart(&mut self, instance: &str, now_ms: i64) {
        let st = self.instances.entry(instance.to_string()).or_default();
        st.restarts.push_back(now_ms);
        st.failing_since = None;
    }

    /// Restarts in the last hour, per instance.
    pub fn restarts(&self) -> BTreeMap<String, usize> {
        self.instances.iter().map(|(n, s)| (n.clone(), s.restarts.len())).collect()
    }

    /// Instances escalated and still failing.
    pub fn escalated(&self) -> Vec<String> {
        self.instances.iter().filter(|(_, s)| s.escalated).map(|(n, _)| n.clone()).collect()
    }
}

/// The wait after the `n`th restart of the hour: `backoff × 2^(n−1)`, at most `max_backoff`.
pub fn backoff(def: &RecoveryDef, n: u32) -> i64 {
    let shift = n.saturating_sub(1).min(30);
    def.backoff_ms.saturating_mul(1i64 << shift).min(def.max_backoff_ms.max(def.backoff_ms))
}

// ---- circuit breaker -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    #[default]
    Closed,
    /// Acting is stopped until `until_ms`.
    Open { until_ms: i64 },
    /// One trial action is allowed; its outcome closes or re-opens the circuit.
    HalfOpen,
}

/// Counts consecutive actuator failures of a policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Breaker {
    state: BreakerState,
    failures: u32,
    /// The last failure's message, for the alert and the API.
    last_error: Option<String>,
}

impl Breaker {
    /// The state now (an open circuit whose time is up becomes half-open).
    pub fn state(&mut self, now_ms: i64) -> BreakerState {
        if let BreakerState::Open { until_ms } = self.state
            && now_ms >= until_ms
        {
            self.state = BreakerState::HalfOpen;
        }
        self.state
    }
    /// Whether the policy may act now.
    pub fn allows(&mut self, now_ms: i64) -> bool {
        !matches!(self.state(now_ms), BreakerState::Open { .. })
    }
    pub fn success(&mut self) {
        self.failures = 0;
        self.state = BreakerState::Closed;
        self.last_error = None;
    }
    /// Records a failure; returns true if this failure opened the circuit.
    pub fn failure(&mut self, def: &BreakerDef, now_ms: i64, error: &str) -> bool {
        self.failures += 1;
        self.last_error = Some(error.to_string());
        let was_open = matches!(self.state, BreakerState::Open { .. });
        if self.state == BreakerState::HalfOpen || self.failures >= def.failures.max(1) {
            self.state = BreakerState::Open { until_ms: now_ms + def.open_for_ms };
            return !was_open;
        }
        false
    }
    /// The target answered a read: a half-open circuit closes (the engine is back), so its
    /// alert resolves even when no action is due; an open or closed one is unchanged.
    pub fn reachable(&mut self, now_ms: i64) {
        if self.state(now_ms) == BreakerState::HalfOpen {
            self.success();
        }
    }

    /// Closes the circuit by hand (an operator's reset).
    pub fn reset(&mut self) {
        self.success();
    }
    pub fn failures(&self) -> u32 {
        self.failures
    }
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// Open or half-open: the policy's circuit alert fires.
    pub fn is_open(&self) -> bool {
        self.state != BreakerState::Closed
    }
}

// ---- formatting ----------------------------------------------------------------------------

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.3}") }
}

/// A duration in ms as Prometheus writes it (`1m30s`).
pub fn fmt_ms(ms: i64) -> String {
    crate::notify::duration::Duration(ms.max(0)).to_string()
}
