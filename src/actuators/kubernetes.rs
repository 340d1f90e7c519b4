//! The Kubernetes actuator: Deployments and StatefulSets through the Kubernetes API (kube).
//!
//! What it sends (see `docs/actuators/kubernetes.md` for the RBAC rules this needs):
//! - `status`: `GET /apis/apps/v1/namespaces/{ns}/{deployments|statefulsets}/{name}`; replicas
//!   are the workload's `spec.replicas` (the value its `scale` subresource reports), ready
//!   replicas its `status.readyReplicas` (absent = 0).
//! - `scale`: `GET .../{name}/scale` (an `autoscaling/v1` `Scale`), then, only when the count
//!   changes, `PATCH .../{name}/scale?fieldManager=...` with the JSON merge patch
//!   (`application/merge-patch+json`) `{"spec":{"replicas":N}}`. A merge patch is the smallest
//!   request that says exactly one thing, works the same on every workload kind behind a `scale`
//!   subresource (no strategic-merge schema needed), and is what `kubectl scale` amounts to. It
//!   carries no `resourceVersion` precondition: like `kubectl scale`, the last writer wins.
//! - `restart(None)`: `PATCH .../{name}?fieldManager=...` with the merge patch
//!   `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":T}}}}}`,
//!   `T` the RFC 3339 time now: the pod template changes, so the controller rolls every pod,
//!   as `kubectl rollout restart` does.
//! - `restart(Some(pod))` is refused with [`ActuatorError::Invalid`]: Kubernetes restarts are
//!   rollouts of the whole workload; deleting single pods is left to the workload's own
//!   probes and controller.
//!
//! The client is built lazily: [`KubeActuator::connect`] reads the configuration but sends
//! nothing, so tickdb starts while the API server is down and the first action reports
//! [`ActuatorError::Unavailable`]. kube's own retries (429/503/504) are switched off: retrying
//! is the caller's decision (rate limits, circuit breaker).

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Actuator, ActuatorError, ActuatorKind, ReplicaStatus, RestartReport, ScaleReport, Target, TargetKind};
use crate::duration::PromDuration;

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// `actuators: kubernetes:` in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeConfig {
    /// A kubeconfig file. Empty: kube's inference: `KUBECONFIG` or `~/.kube/config`, else the
    /// in-cluster service account (`KUBERNETES_SERVICE_HOST` and
    /// `/var/run/secrets/kubernetes.io/serviceaccount/`).
    pub kubeconfig: PathBuf,
    /// The kubeconfig context to use (default: its `current-context`). With an empty
    /// `kubeconfig`, naming a context means a kubeconfig file is required (no in-cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The longest one action (its one or two requests, connecting included) may take.
    pub timeout: PromDuration,
    /// The `fieldManager` of every PATCH (what `kubectl get -o yaml --show-managed-fields`
    /// shows as the writer).
    pub field_manager: String,
}

impl Default for KubeConfig {
    fn default() -> Self {
        KubeConfig {
            kubeconfig: PathBuf::new(),
            context: None,
            timeout: PromDuration::from_secs(30),
            field_manager: "tickdb".to_string(),
        }
    }
}

/// The Kubernetes API as an [`Actuator`].
#[derive(Clone)]
pub struct KubeActuator {
    client: kube::Client,
    timeout: Duration,
    field_manager: String,
}

impl std::fmt::Debug for KubeActuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeActuator")
            .field("timeout", &self.timeout)
            .field("field_manager", &self.field_manager)
            .finish_non_exhaustive()
    }
}

impl KubeActuator {
    /// Reads the kubeconfig (or the in-cluster service account) and builds the client. Sends
    /// no request. Errors (no configuration found, a file that is not a kubeconfig, an unknown
    /// context, a bad CA or client certificate) are [`ActuatorError::Invalid`] and say which.
    pub async fn connect(cfg: &KubeConfig) -> Result<Self, ActuatorError> {
        if cfg.field_manager.is_empty() || cfg.field_manager.len() > 128 {
            return Err(ActuatorError::Invalid(format!(
                "kubernetes: field_manager must be 1 to 128 characters, not {:?}",
                cfg.field_manager
            )));
        }
        if cfg.timeout.0.is_zero() {
            return Err(ActuatorError::Invalid("kubernetes: timeout must be more than 0s".into()));
        }
        let options = KubeConfigOptions { context: cfg.context.clone(), ..Default::default() };
        let mut config = if !cfg.kubeconfig.as_os_str().is_empty() {
            let path = cfg.kubeconfig.display();
            let file = Kubeconfig::read_from(&cfg.kubeconfig)
                .map_err(|e| ActuatorError::Invalid(format!("kubernetes: kubeconfig {path}: {}", chain(&e))))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| ActuatorError::Invalid(format!("kubernetes: kubeconfig {path}: {}", chain(&e))))?
        } else if cfg.context.is_some() {
            kube::Config::from_kubeconfig(&options).await.map_err(|e| {
                ActuatorError::Invalid(format!("kubernetes: kubeconfig (KUBECONFIG or ~/.kube/config): {}", chain(&e)))
            })?
        } else {
            kube::Config::infer().await.map_err(|e| {
                ActuatorError::Invalid(format!(
                    "kubernetes: no configuration found (neither KUBECONFIG, ~/.kube/config nor an in-cluster \
                     service account): {}",
                    chain(&e)
                ))
            })?
        };
        let timeout = cfg.timeout.0;
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        config.reset_reader_on_write = true;
        config.default_retry = false;
        let cluster = config.cluster_url.to_string();
        crate::tls::install_crypto_provider();
        let client = kube::Client::try_from(config)
            .map_err(|e| ActuatorError::Invalid(format!("kubernetes: client for {cluster}: {}", chain(&e))))?;
        Ok(KubeActuator { client, timeout, field_manager: cfg.field_manager.clone() })
    }

    fn patch_params(&self) -> PatchParams {
        PatchParams { field_manager: Some(self.field_manager.clone()), ..Default::default() }
    }

    /// Runs one action under the configured timeout.
    async fn timed<T>(
        &self,
        target: &Target,
        action: impl Future<Output = Result<T, ActuatorError>>,
    ) -> Result<T, ActuatorError> {
        match tokio::time::timeout(self.timeout, action).await {
            Ok(r) => r,
            Err(_) => Err(ActuatorError::Unavailable(format!(
                "{}: the Kubernetes API did not answer within {}",
                describe(target),
                PromDuration(self.timeout)
            ))),
        }
    }

    async fn status_of<K: Workload>(&self, target: &Target) -> Result<ReplicaStatus, ActuatorError> {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace(target));
        let w = api.get(&target.name).await.map_err(|e| api_error(e, "get", target))?;
        Ok(ReplicaStatus { replicas: count(w.spec_replicas()), ready: count(w.ready_replicas()), instances: vec![] })
    }

    async fn scale_of<K: Workload>(&self, target: &Target, replicas: u32) -> Result<ScaleReport, ActuatorError> {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace(target));
        let scale = api.get_scale(&target.name).await.map_err(|e| api_error(e, "get scale of", target))?;
        let before = count(scale.spec.and_then(|s| s.replicas));
        if before == replicas {
            return Ok(ScaleReport { before, after: before, added: vec![], removed: vec![] });
        }
        let n = i32::try_from(replicas)
            .map_err(|_| ActuatorError::Invalid(format!("{}: {replicas} replicas is too many", describe(target))))?;
        let patch = serde_json::json!({ "spec": { "replicas": n } });
        let scale = api
            .patch_scale(&target.name, &self.patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| api_error(e, "scale", target))?;
        let after = scale.spec.and_then(|s| s.replicas).map_or(replicas, |r| count(Some(r)));
        Ok(ScaleReport { before, after, added: vec![], removed: vec![] })
    }

    async fn restart_of<K: Workload>(&self, target: &Target) -> Result<RestartReport, ActuatorError> {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace(target));
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let patch = serde_json::json!({
            "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT_ANNOTATION: now } } } }
        });
        api.patch(&target.name, &self.patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| api_error(e, "restart", target))?;
        Ok(RestartReport { restarted: vec![format!("{}/{}/{}", namespace(target), target.kind.as_str(), target.name)] })
    }
}

#[async_trait::async_trait]
impl Actuator for KubeActuator {
    fn kind(&self) -> ActuatorKind {
        ActuatorKind::Kubernetes
    }

    async fn status(&self, target: &Target) -> Result<ReplicaStatus, ActuatorError> {
        match check(target)? {
            Workloads::Deployment => self.timed(target, self.status_of::<Deployment>(target)).await,
            Workloads::StatefulSet => self.timed(target, self.status_of::<StatefulSet>(target)).await,
        }
    }

    async fn scale(&self, target: &Target, replicas: u32) -> Result<ScaleReport, ActuatorError> {
        match check(target)? {
            Workloads::Deployment => self.timed(target, self.scale_of::<Deployment>(target, replicas)).await,
            Workloads::StatefulSet => self.timed(target, self.scale_of::<StatefulSet>(target, replicas)).await,
        }
    }

    async fn restart(&self, target: &Target, instance: Option<&str>) -> Result<RestartReport, ActuatorError> {
        let kind = check(target)?;
        if let Some(instance) = instance {
            return Err(ActuatorError::Invalid(format!(
                "{}: restarting one instance ({instance}) is not supported on Kubernetes; restart the whole \
                 workload (a rollout) instead",
                describe(target)
            )));
        }
        match kind {
            Workloads::Deployment => self.timed(target, self.restart_of::<Deployment>(target)).await,
            Workloads::StatefulSet => self.timed(target, self.restart_of::<StatefulSet>(target)).await,
        }
    }
}

enum Workloads {
    Deployment,
    StatefulSet,
}

/// The target is ours and of a kind we act on.
fn check(target: &Target) -> Result<Workloads, ActuatorError> {
    if target.actuator != ActuatorKind::Kubernetes {
        return Err(ActuatorError::Invalid(format!("{target}: not a Kubernetes target")));
    }
    match target.kind {
        TargetKind::Deployment => Ok(Workloads::Deployment),
        TargetKind::StatefulSet => Ok(Workloads::StatefulSet),
        TargetKind::Service => Err(ActuatorError::Invalid(format!(
            "{}: Kubernetes targets are deployments or statefulsets (service is a Docker target)",
            describe(target)
        ))),
    }
}

/// A workload with a `scale` subresource, as far as the actuator reads it.
trait Workload:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn spec_replicas(&self) -> Option<i32>;
    fn ready_replicas(&self) -> Option<i32>;
}

impl Workload for Deployment {
    fn spec_replicas(&self) -> Option<i32> {
        // The API server defaults an absent spec.replicas to 1 on write.
        Some(self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
    }
    fn ready_replicas(&self) -> Option<i32> {
        self.status.as_ref().and_then(|s| s.ready_replicas)
    }
}

impl Workload for StatefulSet {
    fn spec_replicas(&self) -> Option<i32> {
        Some(self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
    }
    fn ready_replicas(&self) -> Option<i32> {
        self.status.as_ref().and_then(|s| s.ready_replicas)
    }
}

fn namespace(target: &Target) -> &str {
    target.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default")
}

/// `deployment default/web`, the way messages name a target.
fn describe(target: &Target) -> String {
    format!("{} {}/{}", target.kind.as_str(), namespace(target), target.name)
}

/// A replica count from the API (absent or negative = 0).
fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// Maps a kube error to the actuator's error kinds; `what` is the action (`get`, `scale`, ...).
fn api_error(e: kube::Error, what: &str, target: &Target) -> ActuatorError {
    let on = describe(target);
    match e {
        kube::Error::Api(status) => {
            let detail = if status.message.is_empty() { "no message".to_string() } else { status.message.clone() };
            let reason = if status.reason.is_empty() { String::new() } else { format!("{}, ", status.reason) };
            let msg = format!("{what} {on}: {detail} ({reason}HTTP {})", status.code);
            match status.code {
                404 => ActuatorError::NotFound(msg),
                409 => ActuatorError::Conflict(msg),
                401 | 403 => ActuatorError::Forbidden(msg),
                400 | 422 => ActuatorError::Invalid(msg),
                429 | 500..=599 => ActuatorError::Unavailable(msg),
                _ => ActuatorError::Refused(msg),
            }
        }
        kube::Error::Auth(e) => {
            ActuatorError::Forbidden(format!("{what} {on}: could not get credentials: {}", chain(&e)))
        }
        kube::Error::SerdeError(e) => ActuatorError::Unavailable(format!(
            "{what} {on}: the answer is not the Kubernetes object expected: {}",
            chain(&e)
        )),
        kube::Error::BuildRequest(e) => ActuatorError::Invalid(format!("{what} {on}: {}", chain(&e))),
        e => ActuatorError::Unavailable(format!("{what} {on}: the Kubernetes API is unreachable: {}", chain(&e))),
    }
}

/// An error and its sources on one line, skipping a source whose text the line already holds
/// (kube's errors often repeat their source in their own message).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: TargetKind) -> Target {
        Target { actuator: ActuatorKind::Kubernetes, kind, namespace: None, name: "web".into() }
    }

    fn check_status(code: u16, expected_kind: &str) {
        let status = kube::core::Status::failure("deployments.apps \"web\" is forbidden", "Forbidden").with_code(code);
        let e = api_error(kube::Error::Api(status.boxed()), "scale", &target(TargetKind::Deployment));
        assert_eq!(e.kind(), expected_kind, "{code}: {e}");
        let text = e.to_string();
        assert!(text.contains("scale deployment default/web: deployments.apps \"web\" is forbidden"), "{text}");
        assert!(text.contains(&format!("HTTP {code}")), "{text}");
    }

    #[test]
    fn api_status_codes_map_to_error_kinds() {
        check_status(404, "not_found");
        check_status(409, "conflict");
        check_status(401, "forbidden");
        check_status(403, "forbidden");
        check_status(400, "invalid");
        check_status(422, "invalid");
        check_status(429, "unavailable");
        check_status(500, "unavailable");
        check_status(503, "unavailable");
        check_status(405, "refused");
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: KubeConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, KubeConfig::default());
        assert_eq!(c.timeout, PromDuration::from_secs(30));
        assert_eq!(c.field_manager, "tickdb");
        let c: KubeConfig =
            serde_json::from_str(r#"{"kubeconfig":"/k","context":"prod","timeout":"5s","field_manager":"x"}"#).unwrap();
        assert_eq!(c.context.as_deref(), Some("prod"));
        assert_eq!(c.timeout, PromDuration::from_secs(5));
        let e = serde_json::from_str::<KubeConfig>(r#"{"kubeconfig_path":"/k"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn service_targets_are_invalid() {
        let e = check(&target(TargetKind::Service)).err().unwrap();
        assert_eq!(e.kind(), "invalid");
        assert!(e.to_string().contains("service default/web"), "{e}");
    }
}
