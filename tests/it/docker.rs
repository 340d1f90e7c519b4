//! The Docker actuator against a real engine: each test starts a private dockerd (see
//! `dockerd`), runs busybox containers labelled as services, and checks status, scale and
//! restart through `DockerActuator`, and the errors when the engine refuses or is gone.

use std::process::Command;
use std::time::{Duration, Instant};

use bollard::models::{ContainerInspectResponse, HealthConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{KillContainerOptions, StopContainerOptions};
use tickdb::actuators::docker::{DockerActuator, DockerConfig, DockerTls};
use tickdb::actuators::{Actuator, ActuatorError, ActuatorKind, InstanceHealth, ReplicaStatus, Target, TargetKind};

use crate::dockerd::{Dockerd, IMAGE, SLEEPER};

fn service(name: &str) -> Target {
    Target { actuator: ActuatorKind::Docker, kind: TargetKind::Service, namespace: None, name: name.into() }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A healthcheck running `test -f /ok` every 200 ms, unhealthy after one failure.
fn ok_file_check() -> HealthConfig {
    HealthConfig {
        test: Some(strings(&["CMD", "test", "-f", "/ok"])),
        interval: Some(200_000_000),
        timeout: Some(2_000_000_000),
        retries: Some(1),
        ..Default::default()
    }
}

/// Polls the engine's view (container state is the engine's to change) until `done` holds.
async fn wait_status(
    act: &DockerActuator,
    target: &Target,
    what: &str,
    done: impl Fn(&ReplicaStatus) -> bool,
) -> ReplicaStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = act.status(target).await.expect("status");
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: not within 30 s: {s:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn health_of(s: &ReplicaStatus, name: &str) -> InstanceHealth {
    s.instances.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("{name} not in {s:#?}")).health
}

async fn inspect(d: &Dockerd, name: &str) -> ContainerInspectResponse {
    d.docker.inspect_container(name, None).await.expect("inspect")
}

fn name_of(i: &ContainerInspectResponse) -> String {
    i.name.as_deref().unwrap_or_default().trim_start_matches('/').to_string()
}

/// Replicas and ready counts from container states and healthchecks; other services and
/// unlabelled containers do not count; the API version is negotiated down to the engine's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_replicas_ready_and_health() {
    let Some(d) = Dockerd::start("status_counts_replicas_ready_and_health").await else { return };
    let with_ok = |b: &mut bollard::models::ContainerCreateBody| {
        b.cmd = Some(strings(&["sh", "-c", "touch /ok; trap 'exit 0' TERM; sleep 3600 & wait"]));
        b.healthcheck = Some(ok_file_check());
    };
    let healthy = name_of(&inspect(&d, &d.run("web", with_ok).await).await);
    let failing = name_of(&inspect(&d, &d.run("web", |b| b.healthcheck = Some(ok_file_check())).await).await);
    let slow = |b: &mut bollard::models::ContainerCreateBody| {
        // The first probe runs after an interval of an hour: starting until then.
        b.healthcheck = Some(HealthConfig { interval: Some(3_600_000_000_000), ..ok_file_check() });
    };
    let starting = name_of(&inspect(&d, &d.run("web", slow).await).await);
    let plain = name_of(&inspect(&d, &d.run("web", |_| {}).await).await);
    let created = name_of(&inspect(&d, &d.create("web", |_| {}).await).await);
    d.run("other", |_| {}).await;
    d.run("web", |b| b.labels = None).await;

    let act = DockerActuator::connect(&d.config()).await.expect("connect");
    let engine = d.docker.version().await.expect("version").api_version.expect("api version");
    assert_eq!(act.api_version(), engine);
    let target = service("web");
    let s = wait_status(&act, &target, "health settles", |s| {
        s.instances.iter().any(|i| i.name == healthy && i.health == InstanceHealth::Healthy)
            && s.instances.iter().any(|i| i.name == failing && i.health == InstanceHealth::Unhealthy)
    })
    .await;
    assert_eq!((s.replicas, s.ready), (5, 2), "{s:#?}");
    assert_eq!(health_of(&s, &starting), InstanceHealth::Starting);
    assert_eq!(health_of(&s, &plain), InstanceHealth::Healthy);
    assert_eq!(health_of(&s, &created), InstanceHealth::Down);
    // Oldest first, created times from the engine.
    let names: Vec<_> = s.instances.iter().map(|i| i.name.clone()).collect();
    assert_eq!(names, [healthy, failing, starting, plain, created]);
    assert!(s.instances.windows(2).all(|w| w[0].created <= w[1].created));
    assert!(s.instances.iter().all(|i| i.id.len() == 64));
}

/// 2 → 4 clones the newest replica (image, command, environment, labels, user, working
/// directory, resources, restart policy, healthcheck, network mode); 4 → 3 removes the newest
/// clone, 3 → 3 changes nothing, 3 → 1 removes the newest two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_clones_the_newest_replica_and_removes_the_newest_first() {
    let Some(d) = Dockerd::start("scale_clones_the_newest_replica_and_removes_the_newest_first").await else {
        return;
    };
    let oldest = name_of(&inspect(&d, &d.run("api", |b| b.env = Some(strings(&["VERSION=1"]))).await).await);
    // User 1000 writes its health file to /tmp.
    let cmd = strings(&["sh", "-c", "touch /tmp/ok; trap 'exit 0' TERM; sleep 3600 & wait"]);
    let check = HealthConfig { test: Some(strings(&["CMD", "test", "-f", "/tmp/ok"])), ..ok_file_check() };
    let newest = d
        .run("api", |b| {
            b.cmd = Some(cmd.clone());
            b.env = Some(strings(&["VERSION=2", "FOO=bar baz"]));
            b.labels.as_mut().unwrap().insert("team".into(), "core".into());
            b.working_dir = Some("/tmp".into());
            b.user = Some("1000:1000".into());
            b.healthcheck = Some(check.clone());
            let h = b.host_config.as_mut().unwrap();
            h.memory = Some(64 << 20);
            h.nano_cpus = Some(500_000_000);
            h.restart_policy =
                Some(RestartPolicy { name: Some(RestartPolicyNameEnum::ON_FAILURE), maximum_retry_count: Some(3) });
        })
        .await;
    let newest = inspect(&d, &newest).await;
    let act = DockerActuator::connect(&d.config()).await.expect("connect");
    let target = service("api");

    let r = act.scale(&target, 4).await.expect("scale up");
    assert_eq!((r.before, r.after, r.removed.len()), (2, 4, 0), "{r:?}");
    assert_eq!(r.added.len(), 2);
    for name in &r.added {
        assert!(name.starts_with("api-") && name.len() == "api-".len() + 6, "{name}");
        let clone = inspect(&d, name).await;
        let (c, src) = (clone.config.as_ref().unwrap(), newest.config.as_ref().unwrap());
        assert_eq!(c.image.as_deref(), Some(IMAGE));
        assert_eq!(c.cmd.as_ref(), Some(&cmd));
        let env = c.env.as_ref().unwrap();
        assert!(env.contains(&"VERSION=2".into()) && env.contains(&"FOO=bar baz".into()), "{env:?}");
        assert_eq!(c.labels.as_ref().unwrap()["tickdb.service"], "api");
        assert_eq!(c.labels.as_ref().unwrap()["team"], "core");
        assert_eq!((c.working_dir.as_deref(), c.user.as_deref()), (Some("/tmp"), Some("1000:1000")));
        assert_eq!(c.healthcheck, src.healthcheck);
        assert_ne!(c.hostname, src.hostname, "a clone gets its own hostname");
        let h = clone.host_config.as_ref().unwrap();
        assert_eq!((h.memory, h.nano_cpus), (Some(64 << 20), Some(500_000_000)));
        assert_eq!(h.restart_policy, newest.host_config.as_ref().unwrap().restart_policy);
        assert_eq!(h.network_mode.as_deref(), Some("none"));
        assert_eq!(clone.state.as_ref().unwrap().running, Some(true), "{name} runs");
    }
    let s = wait_status(&act, &target, "clones healthy", |s| s.ready == 4).await;
    assert_eq!(s.replicas, 4);

    let r = act.scale(&target, 3).await.expect("scale down");
    assert_eq!((r.before, r.after, r.added.clone(), r.removed.clone()), (4, 3, vec![], vec![r_added(&s, 3)]));
    let gone = d.docker.inspect_container(&r.removed[0], None).await;
    assert!(matches!(gone, Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })));

    let r = act.scale(&target, 3).await.expect("no change");
    assert_eq!((r.before, r.after, r.added.len(), r.removed.len()), (3, 3, 0, 0));

    let r = act.scale(&target, 1).await.expect("scale down");
    assert_eq!(r.removed, [r_added(&s, 2), name_of(&newest)]);
    let s = act.status(&target).await.unwrap();
    assert_eq!(s.instances.iter().map(|i| i.name.clone()).collect::<Vec<_>>(), [oldest]);
}

/// The name of the `i`th instance (oldest first) of a status.
fn r_added(s: &ReplicaStatus, i: usize) -> String {
    s.instances[i].name.clone()
}

/// A killed container and a stopped one are running again after a restart of the one, then of
/// the whole service; by name, by id prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_killed_and_stopped_containers() {
    let Some(d) = Dockerd::start("restart_recovers_killed_and_stopped_containers").await else { return };
    let a = d.run("job", |_| {}).await;
    let b = d.run("job", |_| {}).await;
    let (a_name, b_name) = (name_of(&inspect(&d, &a).await), name_of(&inspect(&d, &b).await));
    let act = DockerActuator::connect(&d.config()).await.expect("connect");
    let target = service("job");

    d.docker.kill_container(&a, Some(KillContainerOptions { signal: "SIGKILL".into() })).await.expect("kill");
    let s = wait_status(&act, &target, "killed is down", |s| s.ready == 1).await;
    assert_eq!(health_of(&s, &a_name), InstanceHealth::Down);
    let r = act.restart(&target, Some(&a_name)).await.expect("restart one");
    assert_eq!(r.restarted, std::slice::from_ref(&a_name));
    assert_eq!(inspect(&d, &a).await.state.unwrap().running, Some(true));

    // By id prefix; a stopped (exited) container starts again too.
    d.docker.stop_container(&b, Some(StopContainerOptions { t: Some(1), signal: None })).await.expect("stop");
    let r = act.restart(&target, Some(&b[..12])).await.expect("restart by id");
    assert_eq!(r.restarted, std::slice::from_ref(&b_name));
    assert_eq!(inspect(&d, &b).await.state.unwrap().running, Some(true));

    // The whole service: every container, running or not, is restarted.
    d.docker.kill_container(&b, Some(KillContainerOptions { signal: "SIGKILL".into() })).await.expect("kill");
    let started_before = inspect(&d, &a).await.state.unwrap().started_at;
    let r = act.restart(&target, None).await.expect("restart all");
    assert_eq!(r.restarted, [a_name.clone(), b_name.clone()]);
    let s = act.status(&target).await.unwrap();
    assert_eq!((s.replicas, s.ready), (2, 2), "{s:#?}");
    assert_ne!(inspect(&d, &a).await.state.unwrap().started_at, started_before, "a running one restarts too");
}

/// An error's kind and message.
fn kind<T>(r: Result<T, ActuatorError>) -> Result<T, (&'static str, String)> {
    r.map_err(|e| (e.kind(), e.to_string()))
}

/// Instances outside the service, services without containers, targets of another kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_instances_and_empty_services() {
    let Some(d) = Dockerd::start("unknown_instances_and_empty_services").await else { return };
    d.run("a", |_| {}).await;
    let other = name_of(&inspect(&d, &d.run("b", |_| {}).await).await);
    let act = DockerActuator::connect(&d.config()).await.expect("connect");

    let e = kind(act.restart(&service("a"), Some("nope")).await).unwrap_err();
    assert_eq!(e.0, "not_found", "{e:?}");
    assert!(e.1.contains("nope") && e.1.contains("service a"), "{e:?}");
    let e = kind(act.restart(&service("a"), Some(&other)).await).unwrap_err();
    assert_eq!(e.0, "not_found", "a container of another service: {e:?}");
    let e = kind(act.restart(&service("empty"), None).await).unwrap_err();
    assert_eq!(e.0, "not_found", "{e:?}");

    let e = kind(act.scale(&service("empty"), 2).await).unwrap_err();
    assert_eq!(e.0, "invalid", "{e:?}");
    assert!(e.1.contains("no container to clone") && e.1.contains("tickdb.service=empty"), "{e:?}");
    let s = act.status(&service("empty")).await.expect("status of an empty service");
    assert_eq!((s.replicas, s.ready, s.instances.len()), (0, 0, 0));
    let r = act.scale(&service("empty"), 0).await.expect("0 -> 0");
    assert_eq!((r.before, r.after), (0, 0));

    let mut k8s = service("a");
    k8s.kind = TargetKind::Deployment;
    assert_eq!(kind(act.status(&k8s).await).unwrap_err().0, "invalid");

    // Configurations that cannot work.
    for (host, want) in [
        (format!("unix://{}/nope.sock", d.dir().display()), "unavailable"),
        ("ftp://127.0.0.1:1".into(), "invalid"),
        ("https://127.0.0.1:1".into(), "invalid"),
        (format!("tcp://127.0.0.1:{}", crate::prometheus::free_port()), "unavailable"),
    ] {
        let cfg = DockerConfig { host: host.clone(), ..Default::default() };
        let e = DockerActuator::connect(&cfg).await.map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), want, "{host}: {e}");
    }
}

/// What the engine refuses: an image gone (create fails: no half-made clone stays), a command
/// that cannot start (the created clone is removed again), and an engine that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_refusals_map_to_error_kinds() {
    let Some(mut d) = Dockerd::start("engine_refusals_map_to_error_kinds").await else { return };
    d.run("web", |_| {}).await;
    // Never started: its command does not exist, so a clone cannot start.
    d.create("broken", |b| b.cmd = Some(strings(&["/bin/nonexistent"]))).await;
    let act = DockerActuator::connect(&d.config()).await.expect("connect");

    let e = act.scale(&service("broken"), 2).await.unwrap_err();
    eprintln!("start failure: {}: {e}", e.kind());
    assert!(matches!(e, ActuatorError::Refused(_) | ActuatorError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("starting container broken-") && e.to_string().contains("removed it again"), "{e}");
    assert_eq!(act.status(&service("broken")).await.unwrap().replicas, 1, "the failed clone is gone");
    assert_eq!(d.cli(&["ps", "--all", "--quiet", "--filter", "label=tickdb.service=broken"]).lines().count(), 1);

    // The image's name is gone (the running container keeps the layers): creating a clone fails.
    d.cli(&["rmi", "--force", IMAGE]);
    let e = act.scale(&service("web"), 3).await.unwrap_err();
    eprintln!("create failure: {}: {e}", e.kind());
    assert!(matches!(e, ActuatorError::NotFound(_)), "{e}");
    assert!(e.to_string().contains(IMAGE) && e.to_string().contains("stopped at 1 (added: [])"), "{e}");
    assert_eq!(act.status(&service("web")).await.unwrap().replicas, 1);

    d.stop();
    let e = act.status(&service("web")).await.unwrap_err();
    assert_eq!(e.kind(), "unavailable", "{e}");
    assert!(e.to_string().contains("listing the containers of service web"), "{e}");
    let e = act.restart(&service("web"), None).await.unwrap_err();
    assert_eq!(e.kind(), "unavailable", "{e}");
}

/// CA, server certificate for 127.0.0.1, client certificate (dockerd --tlsverify wants one),
/// and a client certificate from another CA: (ca, server cert, server key, client cert, client
/// key, foreign cert, foreign key).
fn certificates(dir: &std::path::Path) -> Option<[std::path::PathBuf; 7]> {
    let run = |args: String| {
        Command::new("openssl").current_dir(dir).args(args.split(' ')).output().is_ok_and(|o| o.status.success())
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").ok()?;
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").ok()?;
    let ca = |n: &str| run(format!("req -x509 {ec} -days 1 -subj /CN={n} -keyout {n}.key -out {n}.pem"));
    let leaf = |n: &str, ca: &str, ext: &str| {
        run(format!("req {ec} -subj /CN={n} -keyout {n}.key -out {n}.csr"))
            && run(format!(
                "x509 -req -in {n}.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial -days 1 -extfile {ext} -out {n}.pem"
            ))
    };
    let ok = ca("ca")
        && ca("other-ca")
        && leaf("server", "ca", "server.ext")
        && leaf("client", "ca", "client.ext")
        && leaf("foreign", "other-ca", "client.ext");
    let p = |n: &str| dir.join(n);
    ok.then(|| {
        [
            p("ca.pem"),
            p("server.pem"),
            p("server.key"),
            p("client.pem"),
            p("client.key"),
            p("foreign.pem"),
            p("foreign.key"),
        ]
    })
}

/// An engine on TCP with `--tlsverify`: the actuator connects with client certificates (tcp://
/// and https://) and reads the status; without a client certificate, or with one from another
/// CA, it gets no answer; missing files are a configuration error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_with_tls_client_certificates() {
    let certs = tempfile::tempdir().unwrap();
    let Some([ca, cert, key, client, client_key, foreign, foreign_key]) = certificates(certs.path()) else {
        eprintln!("SKIPPED tcp_with_tls_client_certificates: the openssl command could not make certificates");
        return;
    };
    let port = crate::prometheus::free_port();
    let args: Vec<String> = vec![
        "--host".into(),
        format!("tcp://127.0.0.1:{port}"),
        "--tlsverify".into(),
        format!("--tlscacert={}", ca.display()),
        format!("--tlscert={}", cert.display()),
        format!("--tlskey={}", key.display()),
    ];
    let Some(d) = Dockerd::start_with("tcp_with_tls_client_certificates", &args).await else { return };
    d.run("secure", |_| {}).await;
    let tls = DockerTls { ca_file: ca.clone(), cert_file: client, key_file: client_key };
    for host in [format!("tcp://127.0.0.1:{port}"), format!("https://127.0.0.1:{port}")] {
        let cfg = DockerConfig { host: host.clone(), tls: Some(tls.clone()), ..d.config() };
        let act = DockerActuator::connect(&cfg).await.unwrap_or_else(|e| panic!("{host}: {e}"));
        let s = act.status(&service("secure")).await.expect("status over TLS");
        assert_eq!((s.replicas, s.ready), (1, 1), "{host}");
    }

    let plain = DockerConfig { host: format!("tcp://127.0.0.1:{port}"), tls: None, ..d.config() };
    let e = DockerActuator::connect(&plain).await.map(|_| ()).unwrap_err();
    eprintln!("plain HTTP to the TLS port: {}: {e}", e.kind());
    assert!(matches!(e, ActuatorError::Refused(_) | ActuatorError::Unavailable(_)), "{e}");

    let wrong = DockerTls { ca_file: ca.clone(), cert_file: foreign, key_file: foreign_key };
    let cfg = DockerConfig { host: format!("tcp://127.0.0.1:{port}"), tls: Some(wrong), ..d.config() };
    let e = DockerActuator::connect(&cfg).await.map(|_| ()).unwrap_err();
    eprintln!("client certificate of another CA: {}: {e}", e.kind());
    assert_eq!(e.kind(), "unavailable", "{e}");

    let missing = DockerTls { ca_file: ca, cert_file: certs.path().join("nope.pem"), key_file: key };
    let cfg = DockerConfig { host: format!("tcp://127.0.0.1:{port}"), tls: Some(missing), ..d.config() };
    let e = DockerActuator::connect(&cfg).await.map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), "invalid", "{e}");
    assert!(e.to_string().contains("nope.pem"), "{e}");
}

/// Not a benchmark with a bound: prints how long a scale-up by one replica takes on this
/// machine (create + start of a clone, with the status read first), for docs/actuators/docker.md.
/// `cargo nextest run --test it docker::scale_up_time --no-capture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_time() {
    let Some(d) = Dockerd::start("scale_up_time").await else { return };
    d.run("bench", |b| b.cmd = Some(strings(SLEEPER))).await;
    let act = DockerActuator::connect(&d.config()).await.expect("connect");
    let target = service("bench");
    let mut ms = vec![];
    for n in 2..=8 {
        let t = Instant::now();
        let r = act.scale(&target, n).await.expect("scale up");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.added.len(), 1);
    }
    let t = Instant::now();
    act.scale(&target, 1).await.expect("scale down");
    let down = t.elapsed().as_secs_f64() * 1000.0;
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "docker scale-up by one replica (1 -> 8, one at a time): runs {:?} ms, median {:.0} ms, min {:.0} ms, \
         max {:.0} ms; scale-down 8 -> 1: {down:.0} ms",
        ms.iter().map(|m| m.round() as u64).collect::<Vec<_>>(),
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    );
}
