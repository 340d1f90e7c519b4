//! A private Docker engine for tests: `Dockerd::start` runs `dockerd` (as root) on a fresh unix
//! socket under a temporary directory, with its own data and exec roots, no iptables and no
//! bridge, and imports a busybox image (`IMAGE`, from the host's static `/bin/busybox`; no
//! registry needed). Containers run with network `none`. Dropping the value removes every
//! container, stops dockerd (and the containerd it started) and deletes the directory.
//!
//! ```ignore
//! let Some(d) = Dockerd::start("my_test").await else { return }; // prints SKIPPED ...
//! d.run("web", |_| {}).await;                                     // one replica of service web
//! let act = DockerActuator::connect(&d.config()).await.unwrap();
//! ```
//!
//! Needs `dockerd`, the `docker` client, `tar` and a static busybox (Debian: `docker.io`,
//! `busybox-static`; scripts/test.sh installs them), and root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::CreateContainerOptions;
use tickdb::actuators::docker::DockerConfig;
use tickdb::duration::PromDuration;

use crate::tools::which;

/// The test image: busybox and its applets (`sh`, `sleep`, `test`, `touch`, ...).
pub const IMAGE: &str = "tickdb-test:busybox";

/// The command of `Dockerd::run` containers: a shell that exits at once on SIGTERM, so stops
/// do not wait out the grace period.
pub const SLEEPER: &[&str] = &["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];

pub struct Dockerd {
    /// `unix://<dir>/d.sock`.
    pub host: String,
    /// A client of this engine (API version negotiated).
    pub docker: Docker,
    dir: tempfile::TempDir,
    child: Option<Child>,
    docker_cli: PathBuf,
}

impl Dockerd {
    /// Starts an engine, or prints `SKIPPED <test>: ...` and returns None when dockerd, the
    /// docker client or busybox is missing or this is not root.
    pub async fn start(test: &str) -> Option<Dockerd> {
        Self::start_with(test, &[]).await
    }

    /// Like `start`, with more dockerd arguments (e.g. a TCP listener with TLS).
    pub async fn start_with(test: &str, extra_args: &[String]) -> Option<Dockerd> {
        let missing = [("dockerd", which("dockerd")), ("docker", which("docker")), ("tar", which("tar"))]
            .into_iter()
            .find(|(_, p)| p.is_none())
            .map(|(n, _)| format!("{n} is not installed"));
        let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().map(Path::new).find(|p| is_static(p));
        // Root owns /proc/self.
        let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        let why = missing
            .or_else(|| busybox.is_none().then(|| "no static busybox (busybox-static)".to_string()))
            .or_else(|| (!root.unwrap_or(false)).then(|| "dockerd needs root".to_string()));
        if let Some(why) = why {
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
        let (dockerd, docker_cli, busybox) = (which("dockerd")?, which("docker")?, busybox?);
        // Unix socket paths are limited to ~107 bytes: a short directory under /tmp.
        let dir = tempfile::Builder::new().prefix("dk").tempdir_in("/tmp").expect("tempdir");
        let p = |n: &str| dir.path().join(n);
        let host = format!("unix://{}", p("d.sock").display());
        let log = std::fs::File::create(p("dockerd.log")).expect("log file");
        let child = Command::new(dockerd)
            .args(["--host", &host])
            .arg("--data-root")
            .arg(p("root"))
            .arg("--exec-root")
            .arg(p("exec"))
            .arg("--pidfile")
            .arg(p("d.pid"))
            .args(["--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none"])
            .args(["--shutdown-timeout", "1", "--log-level", "warn"])
            .args(extra_args)
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let mut d = Dockerd {
            host: host.clone(),
            // A placeholder until the socket answers (clients connect lazily).
            docker: Docker::connect_with_http("http://127.0.0.1:1", 1, bollard::API_DEFAULT_VERSION).expect("client"),
            dir,
            child: Some(child),
            docker_cli,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        d.docker = loop {
            if let Some(status) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("dockerd exited with {status}:\n{}", d.log());
            }
            if let Ok(c) = Docker::connect_with_unix(&host, 60, bollard::API_DEFAULT_VERSION)
                && c.ping().await.is_ok()
            {
                break c.negotiate_version().await.expect("negotiate the API version");
            }
            assert!(Instant::now() < deadline, "dockerd did not answer within 60 s:\n{}", d.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        d.import_busybox(busybox);
        Some(d)
    }

    /// The actuator configuration for this engine (stop grace 2 s, timeout 30 s).
    pub fn config(&self) -> DockerConfig {
        DockerConfig { host: self.host.clone(), stop_grace: PromDuration::from_secs(2), ..Default::default() }
    }

    /// The temporary directory (dockerd's roots, socket and log live in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates and starts a container of `service` (label `tickdb.service=<service>`), named
    /// `<service>-<n>`, running `SLEEPER` from `IMAGE` with network `none`; `f` adjusts the
    /// creation request first (env, healthcheck, resources, more labels, ...). Returns its id.
    pub async fn run(&self, service: &str, f: impl FnOnce(&mut ContainerCreateBody)) -> String {
        let id = self.create(service, f).await;
        self.docker.start_container(&id, None).await.expect("start container");
        id
    }

    /// Like `run`, without starting the container.
    pub async fn create(&self, service: &str, f: impl FnOnce(&mut ContainerCreateBody)) -> String {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let name = format!("{service}-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut body = ContainerCreateBody {
            image: Some(IMAGE.into()),
            cmd: Some(SLEEPER.iter().map(|s| s.to_string()).collect()),
            labels: Some(HashMap::from([("tickdb.service".to_string(), service.to_string())])),
            host_config: Some(HostConfig { network_mode: Some("none".into()), ..Default::default() }),
            ..Default::default()
        };
        f(&mut body);
        let opts = CreateContainerOptions { name: Some(name), ..Default::default() };
        self.docker.create_container(Some(opts), body).await.expect("create container").id
    }

    /// Runs the docker client against this engine; panics unless it succeeds. Returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.docker_cli)
            .args(["--host", &self.host])
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_TLS_VERIFY")
            .output()
            .expect("run docker");
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops dockerd now (the value stays, e.g. to see the actuator fail to reach it).
    pub fn stop(&mut self) {
        if self.child.is_some() {
            let _ = Command::new(&self.docker_cli)
                .args(["--host", &self.host, "rm", "--force", "--volumes"])
                .args(self.cli_quiet(&["ps", "--all", "--quiet"]).split_whitespace())
                .env_remove("DOCKER_HOST")
                .output();
        }
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id();
        // SIGTERM: dockerd stops (within --shutdown-timeout) and takes its containerd down.
        signal(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().ok().flatten().is_none() {
            let _ = child.kill();
            let _ = child.wait();
            // A killed dockerd leaves its containerd running.
            if let Some(c) = std::fs::read_to_string(self.dir.path().join("exec/containerd/containerd.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                signal(c, "KILL");
            }
        }
    }

    fn cli_quiet(&self, args: &[&str]) -> String {
        Command::new(&self.docker_cli)
            .args(["--host", &self.host])
            .args(args)
            .env_remove("DOCKER_HOST")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// `IMAGE` from a tarball of busybox and links to its applets, by `docker import`.
    fn import_busybox(&self, busybox: &Path) {
        let img = self.dir.path().join("img");
        std::fs::create_dir_all(img.join("bin")).expect("image dir");
        std::fs::create_dir_all(img.join("tmp")).expect("image dir");
        // A /tmp any user can write to, as in a real image.
        std::fs::set_permissions(img.join("tmp"), std::os::unix::fs::PermissionsExt::from_mode(0o1777))
            .expect("chmod /tmp");
        std::fs::copy(busybox, img.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "sleep", "test", "touch", "rm", "cat", "echo", "true", "false", "ls", "env", "id"] {
            std::os::unix::fs::symlink("busybox", img.join("bin").join(applet)).expect("symlink");
        }
        let tar = self.dir.path().join("img.tar");
        let out = Command::new("tar").arg("-C").arg(&img).arg("-cf").arg(&tar).arg(".").output().expect("run tar");
        assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
        self.cli(&["import", "--change", "ENV PATH=/bin", &tar.to_string_lossy(), IMAGE]);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill -<sig> <pid>` (the workspace denies `unsafe`, so no libc::kill).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).output();
}

/// Whether a file is a statically linked ELF executable (a dynamic busybox would not run in a
/// scratch image).
fn is_static(p: &Path) -> bool {
    let Ok(bytes) = std::fs::read(p) else { return false };
    // A dynamic executable names its interpreter (PT_INTERP): look for the loader's path.
    bytes.starts_with(b"\x7fELF") && !bytes.windows(14).any(|w| w == b"/lib64/ld-linu" || w == b"/lib/ld-linux-")
}
