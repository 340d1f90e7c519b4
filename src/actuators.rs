//! Actuators: what scaling and recovery actions act on.
//!
//! A policy (`scaling:` and `recovery:` rules, see `tickdb_rules::scaling`) names a [`Target`];
//! the action engine reads the target's [`ReplicaStatus`] and calls [`Actuator::scale`] or
//! [`Actuator::restart`] through the actuator the target names:
//! - `docker`: the Docker engine through bollard (`docker.rs`): a service is the set of
//!   containers labelled `tickdb.service=NAME`;
//! - `kubernetes`: the Kubernetes API through kube (`kubernetes.rs`): Deployments and StatefulSets
//!   through their `scale` subresource, restarts through the rollout annotation.
//!
//! Actuators decide nothing: the policy arithmetic, rate limits, modes, audit and the circuit
//! breaker are the caller's. They report what they did, or an [`ActuatorError`] whose kind the
//! circuit breaker and the admin API use (a refused request is not the same as an unknown target).

pub mod kubernetes;

use std::time::SystemTime;

pub mod docker;

use serde::Serialize;

/// What an action acts on (`docker/<service>`, `deployment/<ns>/<name>`, ...), as policies
/// name it; defined with the policies in the rules crate.
pub use rules::scaling::{ActuatorKind, Target, TargetKind};

/// A target's replicas as the actuator sees them now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaStatus {
    /// Replicas asked for: Kubernetes `spec.replicas` of the scale subresource; Docker: the
    /// service's containers that are not being removed (running or not).
    pub replicas: u32,
    /// Replicas ready: Kubernetes `status.readyReplicas`; Docker: running containers whose
    /// healthcheck (if any) says healthy.
    pub ready: u32,
    /// The instances, where the actuator knows them (Docker containers; empty for Kubernetes).
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// Container id.
    pub id: String,
    /// Container name (without Docker's leading `/`).
    pub name: String,
    pub health: InstanceHealth,
    pub created: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceHealth {
    /// Running, and healthy or without a healthcheck.
    Healthy,
    /// Running, healthcheck still starting.
    Starting,
    /// Running, healthcheck failing.
    Unhealthy,
    /// Created, exited, dead, paused or restarting.
    Down,
}

/// What a scale call did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleReport {
    pub before: u32,
    pub after: u32,
    /// Instances created or removed (Docker container names), for the audit entry and history.
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// What a restart call did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestartReport {
    /// Instances restarted (Docker container names), or the workload (Kubernetes).
    pub restarted: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    /// The target (or instance) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The engine or API refused the request (HTTP 409: a concurrent change).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Not allowed (HTTP 401/403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is not valid for this target (e.g. a service with no replica to clone).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The engine or API could not be reached, timed out, or answered 5xx.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Any other refusal by the engine or API.
    #[error("refused: {0}")]
    Refused(String),
}

impl ActuatorError {
    /// A short machine name for metrics and history (`not_found`, `conflict`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            ActuatorError::NotFound(_) => "not_found",
            ActuatorError::Conflict(_) => "conflict",
            ActuatorError::Forbidden(_) => "forbidden",
            ActuatorError::Invalid(_) => "invalid",
            ActuatorError::Unavailable(_) => "unavailable",
            ActuatorError::Refused(_) => "refused",
        }
    }
}

/// The Docker engine or the Kubernetes API, as the action engine uses it.
#[async_trait::async_trait]
pub trait Actuator: Send + Sync {
    fn kind(&self) -> ActuatorKind;
    /// The target's replicas now.
    async fn status(&self, target: &Target) -> Result<ReplicaStatus, ActuatorError>;
    /// Sets the target's replicas to `replicas` (which may equal the current count: then
    /// nothing changes and the report says so).
    async fn scale(&self, target: &Target, replicas: u32) -> Result<ScaleReport, ActuatorError>;
    /// Restarts one instance (`Some(container name or id)`, Docker only) or the whole target.
    async fn restart(&self, target: &Target, instance: Option<&str>) -> Result<RestartReport, ActuatorError>;
}
