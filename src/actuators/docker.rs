//! The Docker actuator: a service is the set of containers labelled `tickdb.service=NAME`
//! (the label key is configurable), in any state.
//!
//! - `status` inspects every container of the service: replicas are the containers not being
//!   removed, ready the running ones whose healthcheck (if any) says healthy.
//! - `scale` up clones the newest replica's configuration (container config, host config,
//!   networks) into new containers named `<service>-<6 random chars>`, created and started one
//!   after the other; `scale` down stops (with the grace period) and removes the newest first.
//! - `restart` restarts one container of the service, or all of them, with the grace period;
//!   Docker's restart starts a container that has exited or was killed.
//!
//! Every request goes through bollard with the configured timeout; requests that wait for a
//! container to stop (stop, restart) get the grace period on top. Engine answers map onto
//! [`ActuatorError`] by HTTP status (see [`engine_error`]). See docs/actuators/docker.md.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bollard::errors::Error as EngineError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointSettings, HealthStatusEnum,
    NetworkConnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, RestartContainerOptions,
    StopContainerOptions,
};
use bollard::{API_DEFAULT_VERSION, Docker};
use serde::{Deserialize, Serialize};

use super::{
    Actuator, ActuatorError, ActuatorKind, Instance, InstanceHealth, ReplicaStatus, RestartReport, ScaleReport, Target,
    TargetKind,
};
use crate::duration::PromDuration;

/// The `actuators: docker:` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// The engine's address: `unix:///path`, `tcp://host:port` (plain HTTP, or TLS with `tls`),
    /// `https://host:port` (needs `tls`). Empty: bollard's local defaults, i.e. `DOCKER_HOST`
    /// (with `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`) or `/var/run/docker.sock`.
    pub host: String,
    /// Client certificate, key and CA for an engine started with `--tlsverify`.
    pub tls: Option<DockerTls>,
    /// How long a stopping container gets between SIGTERM (or its stop signal) and SIGKILL:
    /// seconds (`10`) or a duration (`10s`, `1m`).
    #[serde(with = "seconds_or_duration")]
    pub stop_grace: PromDuration,
    /// Timeout of each request to the engine (stop and restart requests get `stop_grace` on top).
    #[serde(with = "seconds_or_duration")]
    pub timeout: PromDuration,
    /// The label whose value names a container's service.
    pub label: String,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            host: String::new(),
            tls: None,
            stop_grace: PromDuration::from_secs(10),
            timeout: PromDuration::from_secs(30),
            label: "tickdb.service".into(),
        }
    }
}

/// TLS client files, as for `docker --tlsverify --tlscacert --tlscert --tlskey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerTls {
    /// The CA that signed the engine's certificate (PEM).
    pub ca_file: PathBuf,
    /// The client certificate (PEM).
    pub cert_file: PathBuf,
    /// The client certificate's private key (PEM).
    pub key_file: PathBuf,
}

/// `stop_grace: 10` or `stop_grace: 10s`: whole seconds or a Prometheus duration.
mod seconds_or_duration {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    use crate::duration::PromDuration;

    pub fn serialize<S: Serializer>(d: &PromDuration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PromDuration, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PromDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("seconds (e.g. 10) or a duration (e.g. 10s, 1m)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PromDuration, E> {
                Ok(PromDuration::from_secs(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PromDuration, E> {
                u64::try_from(v).map(PromDuration::from_secs).map_err(|_| E::custom("a negative duration"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PromDuration, E> {
                if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                    return v.parse().map(PromDuration::from_secs).map_err(E::custom);
                }
                v.parse::<PromDuration>().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// The Docker engine as an [`Actuator`].
#[derive(Debug, Clone)]
pub struct DockerActuator {
    /// Requests bounded by `timeout`.
    docker: Docker,
    /// Requests that wait for a container to stop: `timeout + stop_grace`.
    slow: Docker,
    label: String,
    grace_secs: i32,
}

/// One container of a service, as inspected.
struct Replica {
    id: String,
    name: String,
    created: SystemTime,
    health: InstanceHealth,
    inspect: ContainerInspectResponse,
}

impl DockerActuator {
    /// Connects to the engine `cfg.host` names and negotiates the API version (bollard speaks a
    /// newer API than e.g. Docker 20.10's 1.41; it downgrades to the engine's).
    ///
    /// Errors: `Invalid` for a configuration that cannot work (scheme, missing TLS files, zero
    /// timeout), `Unavailable` when the engine cannot be reached, others as [`engine_error`].
    pub async fn connect(cfg: &DockerConfig) -> Result<Self, ActuatorError> {
        if cfg.timeout.0 < Duration::from_secs(1) {
            return Err(ActuatorError::Invalid(format!("docker: timeout {} is under a second", cfg.timeout)));
        }
        if cfg.label.is_empty() {
            return Err(ActuatorError::Invalid("docker: the service label must not be empty".into()));
        }
        let grace_secs = i32::try_from(cfg.stop_grace.0.as_secs())
            .map_err(|_| ActuatorError::Invalid(format!("docker: stop_grace {} is too long", cfg.stop_grace)))?;
        let secs = cfg.timeout.0.as_secs();
        let host = cfg.host.as_str();
        let shown = if host.is_empty() { "the local Docker engine" } else { host };
        let invalid = |why: &str| Err(ActuatorError::Invalid(format!("docker: host {shown:?}: {why}")));
        let tcp = host.starts_with("tcp://") || host.starts_with("http://");
        let connected = match &cfg.tls {
            None if host.is_empty() => Docker::connect_with_defaults(),
            None if host.starts_with("unix://") => Docker::connect_with_unix(host, secs, API_DEFAULT_VERSION),
            None if tcp => Docker::connect_with_http(host, secs, API_DEFAULT_VERSION),
            None if host.starts_with("https://") => {
                return invalid("https:// needs tls (ca_file, cert_file, key_file)");
            }
            Some(tls) if host.starts_with("tcp://") || host.starts_with("https://") => {
                for (what, path) in
                    [("ca_file", &tls.ca_file), ("cert_file", &tls.cert_file), ("key_file", &tls.key_file)]
                {
                    if let Err(e) = std::fs::File::open(path) {
                        return invalid(&format!("tls.{what} {}: {e}", path.display()));
                    }
                }
                Docker::connect_with_ssl(host, &tls.key_file, &tls.cert_file, &tls.ca_file, secs, API_DEFAULT_VERSION)
            }
            Some(_) => return invalid("tls needs a tcp:// or https:// host"),
            None => return invalid("unsupported scheme (unix://, tcp://, http:// or https://)"),
        };
        let docker = match connected {
            Ok(d) => d.with_timeout(cfg.timeout.0),
            Err(e @ (EngineError::SocketNotFoundError(_) | EngineError::IOError { .. })) => {
                return Err(ActuatorError::Unavailable(format!("docker: connecting to {shown}: {}", chain(&e))));
            }
            Err(e) => return Err(ActuatorError::Invalid(format!("docker: connecting to {shown}: {}", chain(&e)))),
        };
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| engine_error(format_args!("docker: negotiating the API version with {shown}"), e))?;
        let slow = docker.clone().with_timeout(cfg.timeout.0 + cfg.stop_grace.0);
        Ok(DockerActuator { docker, slow, label: cfg.label.clone(), grace_secs })
    }

    /// The API version in use after negotiation (e.g. `1.41` with Docker 20.10).
    pub fn api_version(&self) -> String {
        let v = self.docker.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }

    /// The service a target names, or `Invalid` for a target that is not a Docker service.
    fn service<'a>(&self, target: &'a Target) -> Result<&'a str, ActuatorError> {
        if target.actuator != ActuatorKind::Docker || target.kind != TargetKind::Service {
            return Err(ActuatorError::Invalid(format!(
                "{target}: the docker actuator acts on services, not {} {}",
                target.actuator.as_str(),
                target.kind.as_str()
            )));
        }
        if target.name.is_empty() {
            return Err(ActuatorError::Invalid("docker: a service name must not be empty".into()));
        }
        Ok(&target.name)
    }

    /// The service's containers that are not being removed, oldest first.
    async fn replicas(&self, service: &str) -> Result<Vec<Replica>, ActuatorError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{}={service}", self.label)])]);
        let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(|e| engine_error(format_args!("listing the containers of service {service}"), e))?;
        let mut out = Vec::with_capacity(list.len());
        for c in list {
            let Some(id) = c.id else { continue };
            let inspect = match self.docker.inspect_container(&id, None).await {
                Ok(i) => i,
                // Removed between the list and the inspect: not a replica any more.
                Err(EngineError::DockerResponseServerError { status_code: 404, .. }) => continue,
                Err(e) => return Err(engine_error(format_args!("inspecting container {id} of service {service}"), e)),
            };
            let state = inspect.state.as_ref();
            if state.and_then(|s| s.status) == Some(ContainerStateStatusEnum::REMOVING) {
                continue;
            }
            let name = inspect.name.as_deref().unwrap_or_default().trim_start_matches('/').to_string();
            let created = inspect
                .created
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(SystemTime::from)
                .or_else(|| {
                    let secs = u64::try_from(c.created?).ok()?;
                    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
                })
                .unwrap_or(SystemTime::UNIX_EPOCH);
            out.push(Replica { id, name, created, health: health(&inspect), inspect });
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Creates and starts one clone. A container that was created but could not be connected
    /// to its networks or started is removed again before the error is returned.
    async fn add_replica(
        &self,
        service: &str,
        source: &str,
        body: &ContainerCreateBody,
        extra_networks: &[(String, EndpointSettings)],
    ) -> Result<String, ActuatorError> {
        let mut attempt = 0;
        let (name, id) = loop {
            let name = replica_name(service);
            let opts = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
            match self.docker.create_container(Some(opts), body.clone()).await {
                Ok(r) => break (name, r.id),
                // The random name is taken: draw another.
                Err(EngineError::DockerResponseServerError { status_code: 409, .. }) if attempt < 3 => attempt += 1,
                Err(e) => {
                    let image = body.image.as_deref().unwrap_or_default();
                    return Err(engine_error(
                        format_args!(
                            "creating container {name} (service {service}, a clone of {source}, image {image})"
                        ),
                        e,
                    ));
                }
            }
        };
        let mut result = Ok(());
        for (network, endpoint) in extra_networks {
            let req = NetworkConnectRequest { container: id.clone(), endpoint_config: Some(endpoint.clone()) };
            if let Err(e) = self.docker.connect_network(network, req).await {
                result = Err(engine_error(format_args!("connecting container {name} to network {network}"), e));
                break;
            }
        }
        if result.is_ok() {
            result = self
                .docker
                .start_container(&id, None)
                .await
                .map_err(|e| engine_error(format_args!("starting container {name} of service {service}"), e));
        }
        match result {
            Ok(()) => Ok(name),
            Err(err) => {
                let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
                let cleanup = match self.docker.remove_container(&id, Some(opts)).await {
                    Ok(()) => "; removed it again".to_string(),
                    Err(e) => format!("; removing it again failed too: {}", chain(&e)),
                };
                Err(append(err, &cleanup))
            }
        }
    }

    /// Stops (with the grace period) and removes one container.
    async fn remove_replica(&self, service: &str, r: &Replica) -> Result<(), ActuatorError> {
        let stop = StopContainerOptions { t: Some(self.grace_secs), signal: None };
        match self.slow.stop_container(&r.id, Some(stop)).await {
            // Gone already: nothing to stop (304, not running, is a success for bollard).
            Ok(()) | Err(EngineError::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => return Err(engine_error(format_args!("stopping container {} of service {service}", r.name), e)),
        }
        // `force` in case a restart policy or someone else started it again meanwhile; `v`
        // removes its anonymous volumes, which nothing could reach any more.
        let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.docker.remove_container(&r.id, Some(opts)).await {
            Ok(()) | Err(EngineError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(engine_error(format_args!("removing container {} of service {service}", r.name), e)),
        }
    }
}

#[async_trait::async_trait]
impl Actuator for DockerActuator {
    fn kind(&self) -> ActuatorKind {
        ActuatorKind::Docker
    }

    async fn status(&self, target: &Target) -> Result<ReplicaStatus, ActuatorError> {
        let service = self.service(target)?;
        let replicas = self.replicas(service).await?;
        let ready = replicas.iter().filter(|r| r.health == InstanceHealth::Healthy).count();
        Ok(ReplicaStatus {
            replicas: count(replicas.len()),
            ready: count(ready),
            instances: replicas
                .into_iter()
                .map(|r| Instance { id: r.id, name: r.name, health: r.health, created: r.created })
                .collect(),
        })
    }

    /// Up: clones the newest replica `replicas - before` times; stops at the first failure and
    /// returns its error, naming the clones already started (they stay: they are sound
    /// replicas, and the next status counts them). Down: removes the newest first; stops at the
    /// first failure likewise.
    async fn scale(&self, target: &Target, replicas: u32) -> Result<ScaleReport, ActuatorError> {
        let service = self.service(target)?;
        let current = self.replicas(service).await?;
        let before = count(current.len());
        let mut report = ScaleReport { before, after: before, added: vec![], removed: vec![] };
        if replicas > before {
            let Some(newest) = current.last() else {
                return Err(ActuatorError::Invalid(format!(
                    "cannot scale service {service} up: it has no container to clone (label {}={service}); \
                     create one first",
                    self.label
                )));
            };
            let (body, extra_networks) = clone_config(&newest.inspect);
            for _ in before..replicas {
                match self.add_replica(service, &newest.name, &body, &extra_networks).await {
                    Ok(name) => report.added.push(name),
                    Err(e) => {
                        return Err(append(
                            e,
                            &format!(
                                "; scaling service {service} {before} -> {replicas} stopped at {} (added: {:?})",
                                before + count(report.added.len()),
                                report.added
                            ),
                        ));
                    }
                }
            }
        } else if replicas < before {
            for r in current.iter().rev().take((before - replicas) as usize) {
                if let Err(e) = self.remove_replica(service, r).await {
                    return Err(append(
                        e,
                        &format!(
                            "; scaling service {service} {before} -> {replicas} stopped at {} (removed: {:?})",
                            before - count(report.removed.len()),
                            report.removed
                        ),
                    ));
                }
                report.removed.push(r.name.clone());
            }
        }
        report.after = before + count(report.added.len()) - count(report.removed.len());
        Ok(report)
    }

    /// Restarts the named container (name, full id, or an id prefix of 12+ characters) or, with
    /// `None`, every container of the service, each with the grace period. A restart of an
    /// exited or killed container starts it. With `None`, a failure does not stop the others;
    /// the first error is returned, naming the containers restarted.
    async fn restart(&self, target: &Target, instance: Option<&str>) -> Result<RestartReport, ActuatorError> {
        let service = self.service(target)?;
        let replicas = self.replicas(service).await?;
        let chosen: Vec<&Replica> = match instance {
            Some(want) => {
                let want = want.trim_start_matches('/');
                let found = replicas
                    .iter()
                    .find(|r| r.name == want || r.id == want || (want.len() >= 12 && r.id.starts_with(want)));
                match found {
                    Some(r) => vec![r],
                    None => {
                        return Err(ActuatorError::NotFound(format!(
                            "restarting {want}: no container of service {service} has that name or id"
                        )));
                    }
                }
            }
            None if replicas.is_empty() => {
                return Err(ActuatorError::NotFound(format!(
                    "restarting service {service}: it has no containers (label {}={service})",
                    self.label
                )));
            }
            None => replicas.iter().collect(),
        };
        let mut report = RestartReport { restarted: vec![] };
        let mut first_error = None;
        for r in chosen {
            let opts = RestartContainerOptions { t: Some(self.grace_secs), signal: None };
            match self.slow.restart_container(&r.id, Some(opts)).await {
                Ok(()) => report.restarted.push(r.name.clone()),
                Err(e) => {
                    let e = engine_error(format_args!("restarting container {} of service {service}", r.name), e);
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(report),
            Some(e) => Err(append(e, &format!("; restarted: {:?}", report.restarted))),
        }
    }
}

/// The health of a container from its state and healthcheck.
fn health(inspect: &ContainerInspectResponse) -> InstanceHealth {
    let Some(state) = &inspect.state else { return InstanceHealth::Down };
    let running = state.status == Some(ContainerStateStatusEnum::RUNNING)
        && state.running == Some(true)
        && state.paused != Some(true)
        && state.restarting != Some(true);
    if !running {
        return InstanceHealth::Down;
    }
    match state.health.as_ref().and_then(|h| h.status) {
        None | Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY | HealthStatusEnum::HEALTHY) => {
            InstanceHealth::Healthy
        }
        Some(HealthStatusEnum::STARTING) => InstanceHealth::Starting,
        Some(HealthStatusEnum::UNHEALTHY) => InstanceHealth::Unhealthy,
    }
}

/// The creation request for a clone of an inspected container: its whole container config and
/// host config (image, command, entrypoint, environment, labels, user, working directory,
/// healthcheck, resources, restart policy, binds and mounts, network mode, ...), and its
/// networks. What identifies the source is left out: a hostname Docker derived from its id,
/// static IP and MAC addresses, aliases naming the source. The first network (the one the
/// network mode names) goes into the creation request; the others (API 1.41 takes one at
/// creation) are returned to be connected before the start.
fn clone_config(src: &ContainerInspectResponse) -> (ContainerCreateBody, Vec<(String, EndpointSettings)>) {
    let id = src.id.as_deref().unwrap_or_default();
    let name = src.name.as_deref().unwrap_or_default().trim_start_matches('/');
    let c = src.config.clone().unwrap_or_default();
    let hostname = c.hostname.filter(|h| !h.is_empty() && !id.starts_with(h.as_str()));
    let host_config = src.host_config.clone();
    let mode = host_config.as_ref().and_then(|h| h.network_mode.clone()).unwrap_or_default();
    let own_stack = mode == "none" || mode == "host" || mode.starts_with("container:");
    let primary = if mode.is_empty() || mode == "default" { "bridge".to_string() } else { mode.clone() };
    let mut networks: Vec<(String, EndpointSettings)> = if own_stack {
        vec![]
    } else {
        let nets = src.network_settings.as_ref().and_then(|n| n.networks.clone()).unwrap_or_default();
        let mut nets: Vec<_> = nets.into_iter().map(|(n, e)| (n, clone_endpoint(e, id, name))).collect();
        nets.sort_by(|a, b| (a.0 != primary).cmp(&(b.0 != primary)).then_with(|| a.0.cmp(&b.0)));
        nets
    };
    let networking_config = match networks.first() {
        Some((n, _)) if *n == primary => {
            let (n, e) = networks.remove(0);
            Some(NetworkingConfig { endpoints_config: Some(HashMap::from([(n, e)])) })
        }
        _ => None,
    };
    let body = ContainerCreateBody {
        hostname,
        domainname: c.domainname,
        user: c.user,
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        exposed_ports: c.exposed_ports,
        tty: c.tty,
        open_stdin: c.open_stdin,
        stdin_once: c.stdin_once,
        env: c.env,
        cmd: c.cmd,
        healthcheck: c.healthcheck,
        args_escaped: c.args_escaped,
        // The image as the source was created with (a name or an id), else the id it runs.
        image: c.image.filter(|i| !i.is_empty()).or_else(|| src.image.clone()),
        volumes: c.volumes,
        working_dir: c.working_dir,
        entrypoint: c.entrypoint,
        network_disabled: c.network_disabled,
        on_build: c.on_build,
        labels: c.labels,
        stop_signal: c.stop_signal,
        stop_timeout: c.stop_timeout,
        shell: c.shell,
        host_config,
        networking_config,
    };
    (body, networks)
}

/// An endpoint's settings a clone can reuse: aliases (minus those naming the source), links,
/// driver options. Addresses are the engine's to assign.
fn clone_endpoint(e: EndpointSettings, id: &str, name: &str) -> EndpointSettings {
    let aliases = e.aliases.map(|a| {
        a.into_iter().filter(|x| x != name && !(x.len() >= 12 && id.starts_with(x.as_str()))).collect::<Vec<_>>()
    });
    EndpointSettings { aliases, links: e.links, driver_opts: e.driver_opts, ..Default::default() }
}

/// `<service>-<6 random [a-z0-9]>`, with characters Docker does not take in names replaced.
fn replica_name(service: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect();
    format!("{}-{suffix}", docker_name(service))
}

/// A container name from a service name: Docker takes `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn docker_name(service: &str) -> String {
    let mut s: String =
        service.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        s.insert(0, 's');
    }
    s
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Maps a bollard error onto an [`ActuatorError`]; `what` says what was being done to which
/// container or service. HTTP 404 → NotFound, 409 → Conflict, 401/403 → Forbidden, 5xx →
/// Unavailable, other statuses → Refused; no answer (connection refused, socket missing,
/// timeout, broken connection) → Unavailable; anything else (e.g. an answer bollard cannot
/// read) → Refused.
pub fn engine_error(what: impl fmt::Display, e: EngineError) -> ActuatorError {
    match e {
        EngineError::DockerResponseServerError { status_code, message } => {
            let m = format!("{what}: {} (HTTP {status_code})", message.trim());
            match status_code {
                404 => ActuatorError::NotFound(m),
                409 => ActuatorError::Conflict(m),
                401 | 403 => ActuatorError::Forbidden(m),
                500..=599 => ActuatorError::Unavailable(m),
                _ => ActuatorError::Refused(m),
            }
        }
        EngineError::RequestTimeoutError => {
            ActuatorError::Unavailable(format!("{what}: the Docker engine did not answer within the timeout"))
        }
        EngineError::IOError { .. }
        | EngineError::HyperResponseError { .. }
        | EngineError::HyperLegacyError { .. }
        | EngineError::SocketNotFoundError(_) => ActuatorError::Unavailable(format!("{what}: {}", chain(&e))),
        e => ActuatorError::Refused(format!("{what}: {}", chain(&e))),
    }
}

/// An error with its sources (hyper's own messages are terse: `client error (Connect)`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// The same kind of error with more said.
fn append(e: ActuatorError, more: &str) -> ActuatorError {
    use ActuatorError::*;
    match e {
        NotFound(m) => NotFound(m + more),
        Conflict(m) => Conflict(m + more),
        Forbidden(m) => Forbidden(m + more),
        Invalid(m) => Invalid(m + more),
        Unavailable(m) => Unavailable(m + more),
        Refused(m) => Refused(m + more),
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerConfig, HostConfig, NetworkSettings, RestartPolicy};
    use expect_test::{Expect, expect};

    use super::*;

    fn check_config(yaml: &str, expected: Expect) {
        let got = match serde_saphyr::from_str::<DockerConfig>(yaml) {
            Ok(c) => format!(
                "host={:?} tls={:?} stop_grace={} timeout={} label={}",
                c.host,
                c.tls.map(|t| t.cert_file),
                c.stop_grace,
                c.timeout,
                c.label
            ),
            Err(e) => format!("error: {}", e.to_string().lines().next().unwrap_or_default()),
        };
        expected.assert_eq(&got);
    }

    #[test]
    fn config() {
        check_config("{}", expect![[r#"host="" tls=None stop_grace=10s timeout=30s label=tickdb.service"#]]);
        check_config(
            "host: unix:///run/docker.sock\nstop_grace: 5\ntimeout: 1m\nlabel: app",
            expect![[r#"host="unix:///run/docker.sock" tls=None stop_grace=5s timeout=1m label=app"#]],
        );
        check_config(
            "host: tcp://10.0.0.1:2376\ntls: {ca_file: ca.pem, cert_file: cert.pem, key_file: key.pem}\nstop_grace: 1m30s",
            expect![[
                r#"host="tcp://10.0.0.1:2376" tls=Some("cert.pem") stop_grace=1m30s timeout=30s label=tickdb.service"#
            ]],
        );
        check_config(
            "stop_grace: \"20\"",
            expect![[r#"host="" tls=None stop_grace=20s timeout=30s label=tickdb.service"#]],
        );
        check_config(
            "stop_grace: 10x",
            expect![[r#"error: error: line 1 column 13: not a valid duration string: "10x""#]],
        );
        check_config("stop_grace: -1", expect!["error: error: line 1 column 13: a negative duration"]);
        check_config(
            "hots: x",
            expect![
                "error: error: line 1 column 1: unknown field `hots`, expected one of host, tls, stop_grace, timeout, label"
            ],
        );
        check_config(
            "tls: {ca_file: a, cert_file: b}",
            expect!["error: error: line 1 column 19: missing field `key_file`"],
        );
    }

    #[test]
    fn config_round_trips() {
        let c = DockerConfig { stop_grace: PromDuration::from_secs(90), ..Default::default() };
        let back: DockerConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    fn check_error(e: EngineError, expected: Expect) {
        let got = engine_error("starting container web-1", e);
        expected.assert_eq(&format!("{}: {got}", got.kind()));
    }

    #[test]
    fn errors() {
        let server = |status_code, message: &str| EngineError::DockerResponseServerError {
            status_code,
            message: message.into(),
        };
        check_error(
            server(404, "No such container: web-1"),
            expect!["not_found: not found: starting container web-1: No such container: web-1 (HTTP 404)"],
        );
        check_error(server(409, "in use"), expect!["conflict: conflict: starting container web-1: in use (HTTP 409)"]);
        check_error(server(401, "no"), expect!["forbidden: forbidden: starting container web-1: no (HTTP 401)"]);
        check_error(server(403, "no"), expect!["forbidden: forbidden: starting container web-1: no (HTTP 403)"]);
        check_error(server(500, "oci"), expect!["unavailable: unavailable: starting container web-1: oci (HTTP 500)"]);
        check_error(
            server(503, "busy"),
            expect!["unavailable: unavailable: starting container web-1: busy (HTTP 503)"],
        );
        check_error(server(400, "bad"), expect!["refused: refused: starting container web-1: bad (HTTP 400)"]);
        check_error(
            EngineError::RequestTimeoutError,
            expect![
                "unavailable: unavailable: starting container web-1: the Docker engine did not answer within the timeout"
            ],
        );
        check_error(
            EngineError::IOError { err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused) },
            expect!["unavailable: unavailable: starting container web-1: connection refused"],
        );
        check_error(
            EngineError::SocketNotFoundError("/tmp/x.sock".into()),
            expect!["unavailable: unavailable: starting container web-1: Socket not found: /tmp/x.sock"],
        );
        check_error(
            EngineError::APIVersionParseError {},
            expect!["refused: refused: starting container web-1: Failed to parse API version"],
        );
    }

    fn check_health(status: &str, running: bool, hc: Option<&str>, expected: InstanceHealth) {
        let json = serde_json::json!({
            "State": {
                "Status": status, "Running": running, "Paused": false, "Restarting": false,
                "Health": hc.map(|h| serde_json::json!({"Status": h})),
            }
        });
        let inspect: ContainerInspectResponse = serde_json::from_value(json).unwrap();
        assert_eq!(health(&inspect), expected, "{status} {hc:?}");
    }

    #[test]
    fn healths() {
        use InstanceHealth::*;
        check_health("running", true, None, Healthy);
        check_health("running", true, Some("healthy"), Healthy);
        check_health("running", true, Some("starting"), Starting);
        check_health("running", true, Some("unhealthy"), Unhealthy);
        check_health("exited", false, Some("unhealthy"), Down);
        check_health("created", false, None, Down);
        check_health("paused", true, None, Down);
        check_health("restarting", true, None, Down);
        check_health("dead", false, None, Down);
    }

    #[test]
    fn clones_leave_out_what_identifies_the_source() {
        let id = "0123456789abcdef0123456789abcdef";
        let endpoint = |ip: &str| EndpointSettings {
            aliases: Some(vec!["0123456789ab".into(), "web".into(), "api-1".into()]),
            ip_address: Some(ip.into()),
            mac_address: Some("02:42:ac:11:00:02".into()),
            ..Default::default()
        };
        let src = ContainerInspectResponse {
            id: Some(id.into()),
            name: Some("/api-1".into()),
            image: Some("sha256:feed".into()),
            config: Some(ContainerConfig {
                hostname: Some("0123456789ab".into()),
                image: Some("app:1".into()),
                env: Some(vec!["A=1".into()]),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("front".into()),
                memory: Some(64 << 20),
                restart_policy: Some(RestartPolicy { name: None, maximum_retry_count: Some(3) }),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([
                    ("back".to_string(), endpoint("10.0.1.2")),
                    ("front".to_string(), endpoint("10.0.0.2")),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (body, extra) = clone_config(&src);
        assert_eq!(body.hostname, None);
        assert_eq!(body.image.as_deref(), Some("app:1"));
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.host_config, src.host_config);
        let eps = body.networking_config.unwrap().endpoints_config.unwrap();
        let clean = EndpointSettings { aliases: Some(vec!["web".into()]), ..Default::default() };
        assert_eq!(eps, HashMap::from([("front".to_string(), clean.clone())]));
        assert_eq!(extra, vec![("back".to_string(), clean)]);

        // A hostname given on purpose stays; network mode none: no endpoints.
        let mut src = src;
        src.config.as_mut().unwrap().hostname = Some("db".into());
        src.host_config.as_mut().unwrap().network_mode = Some("none".into());
        let (body, extra) = clone_config(&src);
        assert_eq!(body.hostname.as_deref(), Some("db"));
        assert!(body.networking_config.is_none() && extra.is_empty());
    }

    #[test]
    fn names() {
        for (service, prefix) in [("web", "web-"), ("my app/x", "my-app-x-"), ("_a", "s_a-"), ("a.b_c-d", "a.b_c-d-")] {
            let n = replica_name(service);
            assert!(n.starts_with(prefix) && n.len() == prefix.len() + 6, "{service}: {n}");
        }
        assert_ne!(replica_name("web"), replica_name("web"));
    }
}
