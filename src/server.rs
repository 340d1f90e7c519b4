//! The HTTP server: wiring of state, routes, middleware, readiness, maintenance and graceful
//! shutdown.
//!
//! Start-up order: bind the listener, start serving (`/-/healthy` answers at once, `/-/ready`
//! and the API answer 503 until the storage is open), open the storage on a blocking thread
//! (WAL replay may take a while), then start the maintenance task. On SIGTERM/SIGINT (or a
//! test's shutdown trigger) the server stops accepting, finishes in-flight requests and closes
//! the storage, which flushes the WAL.
//!
//! Maintenance (head persistence, compaction, retention) runs every `storage.maintain_interval`
//! with the time of an injectable [`Clock`]; [`ServerHandle::run_maintenance`] runs it at once
//! and waits for it (tests need no sleeps).
//!
//! Every request passes through one middleware ([`track`]): it times the request by route,
//! turns a panicking handler into a 500 error (the server keeps running), and logs every
//! error response with its route, status and message.

pub mod admin;
pub mod alerting_api;
pub mod api;
pub mod audit_api;
pub mod authn;
pub mod errors;
pub mod import;
pub mod insights_api;
pub mod json;
pub mod params;
pub mod rules_api;
pub mod scope;
pub mod slots;
pub mod status;
pub mod write;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use storage::Timestamp;
use storage::metrics::{Counter, Registry};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};

use crate::backend::SharedBackend;
use crate::config::Config;
use crate::engine::QueryEngine;
use crate::server::errors::{ApiError, ErrorType, LoggedError};
use crate::server::slots::{SlotError, Slots};

/// The current time in milliseconds since the Unix epoch. Injectable so tests control the
/// time maintenance and queries see.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(now_ms)
}

/// Opens the storage (runs on a blocking thread after the listener is bound).
pub type Opener = Box<dyn FnOnce(&Config, &Registry) -> anyhow::Result<SharedBackend> + Send>;

/// Metadata of one metric family as received through remote write.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricMeta {
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Everything the handlers share.
pub struct AppState {
    pub cfg: Config,
    /// Set once the storage is open; until then the server is not ready.
    backend: OnceLock<SharedBackend>,
    pub engine: Arc<dyn QueryEngine>,
    pub registry: Registry,
    /// Metric family → its distinct metadata entries.
    pub metadata: Mutex<BTreeMap<String, Vec<MetricMeta>>>,
    /// Write requests in progress (`write.max_concurrency`) and waiting.
    pub write_slots: Slots,
    /// Queries in progress (`query.max_concurrency`) and queued (`query.max_queue`).
    pub query_slots: Slots,
    /// The time source of default query times, import timestamps and maintenance.
    pub clock: Clock,
    /// Maintenance runs completed (tests wait on it).
    pub maintenance_runs: watch::Sender<u64>,
    pub start_time: SystemTime,
    /// Flag names and effective values (for `/api/v1/status/flags`).
    pub flags: BTreeMap<String, String>,
    pub exemplars_received: Arc<Counter>,
    /// Label sets and series refs of recently written series (one per storage instance).
    pub series_cache: write::SeriesCache,
    /// Start-up progress, for [`ServerHandle::wait_ready`].
    pub readiness: watch::Sender<Readiness>,
    /// The rule engine, set once the storage is open.
    pub rules: OnceLock<Arc<crate::rules_service::RulesService>>,
    /// Alert forwarding and tickdb's own notifications, set with the rule engine.
    pub alerting: OnceLock<Arc<crate::alerting::Alerting>>,
    /// Authentication and authorisation of every request (`auth.*`).
    pub auth: Arc<crate::auth::Authenticator>,
    /// The admin API (versioned rules, audit), set once the storage is open.
    pub admin: OnceLock<Arc<crate::server::admin::Admin>>,
    /// Scaling and recovery policies, approvals and manual actions, set with the rule engine.
    pub actions: OnceLock<Arc<crate::actions::Actions>>,
}

/// Start-up state of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Starting,
    Ready,
    Failed,
}

impl AppState {
    /// The storage, or 503 while it is still opening.
    pub fn backend(&self) -> Result<SharedBackend, ApiError> {
        self.backend
            .get()
            .cloned()
            .ok_or_else(|| ApiError::unavailable("storage is starting up (WAL replay in progress)"))
    }

    /// A slot to evaluate a query in: waits in a bounded queue (503 `unavailable` when it is
    /// full) for at most the query timeout (503 `timeout`).
    pub async fn query_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.query_slots.acquire().await.map_err(|e| match e {
            SlotError::QueueFull => ApiError::unavailable(format!(
                "too many queries waiting (query.max_concurrency {}, query.max_queue {})",
                self.cfg.query.max_concurrency, self.cfg.query.max_queue
            )),
            SlotError::TimedOut => ApiError::new(ErrorType::Timeout, "query timed out in query queue"),
            SlotError::Closed => ApiError::unavailable("server is shutting down"),
        })
    }

    /// A slot to handle a write in: 503 (retried by every remote-write sender) when none frees
    /// up within `write.max_queue_wait`.
    pub async fn write_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.write_slots.acquire().await.map_err(|e| match e {
            SlotError::QueueFull | SlotError::TimedOut => ApiError::unavailable(format!(
                "too many concurrent write requests (write.max_concurrency {}); retry later",
                self.cfg.write.max_concurrency
            )),
            SlotError::Closed => ApiError::unavailable("server is shutting down"),
        })
    }

    /// The current time of the server's clock, in milliseconds.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    maintain_now: mpsc::UnboundedSender<oneshot::Sender<Result<(), String>>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl ServerHandle {
    /// Waits until the storage is open; fails if opening it failed.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let mut rx = self.state.readiness.subscribe();
        let r = *rx.wait_for(|r| *r != Readiness::Starting).await.map_err(|_| anyhow::anyhow!("server stopped"))?;
        match r {
            Readiness::Ready => Ok(()),
            _ => anyhow::bail!("storage failed to open (see log)"),
        }
    }

    /// Runs a maintenance step now (as the timer would) and waits for it to finish.
    pub async fn run_maintenance(&self) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.maintain_now.send(tx).map_err(|_| anyhow::anyhow!("maintenance task is not running"))?;
        rx.await.map_err(|_| anyhow::anyhow!("maintenance task stopped"))?.map_err(|e| anyhow::anyhow!(e))
    }

    /// Triggers a graceful shutdown and waits for it (storage closed).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await?
    }

    /// Waits for the server to end by itself (signal).
    pub async fn join(self) -> anyhow::Result<()> {
        self.task.await?
    }
}

/// Binds `cfg.listen`, starts serving and opens the storage in the background.
pub async fn start(
    cfg: Config,
    opener: Opener,
    engine: Arc<dyn QueryEngine>,
    flags: BTreeMap<String, String>,
) -> anyhow::Result<ServerHandle> {
    start_with_clock(cfg, opener, engine, flags, system_clock()).await
}

/// [`start`] with another time source.
pub async fn start_with_clock(
    cfg: Config,
    opener: Opener,
    engine: Arc<dyn QueryEngine>,
    flags: BTreeMap<String, String>,
    clock: Clock,
) -> anyhow::Result<ServerHandle> {
    let listener =
        tokio::net::TcpListener::bind(cfg.listen).await.map_err(|e| anyhow::anyhow!("binding {}: {e}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let tls = match cfg.tls.enabled() {
        false => None,
        true => {
            crate::tls::install_crypto_provider();
            let t = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cfg.tls.cert_file, &cfg.tls.key_file)
                .await
                .map_err(|e| {
                anyhow::anyhow!(
                    "loading the TLS certificate {} and key {}: {e}",
                    cfg.tls.cert_file.display(),
                    cfg.tls.key_file.display()
                )
            })?;
            Some(t)
        }
    };
    let registry = Registry::new();
    register_process_metrics(&registry);
    let auth = Arc::new(
        crate::auth::Authenticator::new(&cfg.auth, &cfg.data_dir, cfg.listen.ip().is_loopback())
            .map_err(|e| anyhow::anyhow!("setting up authentication: {e}"))?,
    );
    let audit = crate::audit::AuditLog::open(&cfg.data_dir.join("audit"), crate::audit::AuditOptions::default())
        .map_err(|e| anyhow::anyhow!("opening the audit log: {e}"))?;
    let rules_store = crate::rules_store::RulesStore::open(&cfg.data_dir.join("rules-api"))
        .map_err(|e| anyhow::anyhow!("opening the rule store: {e}"))?;
    rules_store.reconcile().map_err(|e| anyhow::anyhow!("reconciling the rule store: {e}"))?;
    let admin = Arc::new(crate::server::admin::Admin {
        rules: rules_store,
        audit: crate::server::admin::audit_sink(audit.clone()),
    });
    let state = Arc::new(AppState {
        auth,
        write_slots: Slots::new(cfg.write.max_concurrency, usize::MAX, cfg.write.max_queue_wait.0),
        query_slots: Slots::new(cfg.query.max_concurrency, cfg.query.max_queue, cfg.query.timeout.0),
        clock,
        maintenance_runs: watch::Sender::new(0),
        backend: OnceLock::new(),
        engine,
        metadata: Mutex::new(BTreeMap::new()),
        start_time: SystemTime::now(),
        flags,
        exemplars_received: registry.counter(
            "tickdb_remote_write_exemplars_received_total",
            "Exemplars received through remote write (not stored).",
        ),
        series_cache: write::SeriesCache::new(cfg.write.series_cache_size),
        readiness: watch::Sender::new(Readiness::Starting),
        rules: OnceLock::new(),
        alerting: OnceLock::new(),
        actions: OnceLock::new(),
        admin: OnceLock::from(admin),
        registry,
        cfg,
    });
    register_server_metrics(&state);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (maintain_tx, maintain_rx) = mpsc::unbounded_channel();
    if !state.cfg.audit.retention.0.is_zero() {
        let (audit_ret, metrics_ret) = (state.cfg.audit.retention.0, state.cfg.storage.retention.0);
        if metrics_ret.is_zero() || audit_ret < metrics_ret {
            tracing::warn!(audit_retention = %state.cfg.audit.retention, retention = %state.cfg.storage.retention,
                "the audit log is kept for less time than the metrics");
        }
        tokio::spawn(audit_retention(state.clone(), audit.clone(), shutdown_rx.clone()));
    }
    let app = router(state.clone(), audit);
    tokio::spawn(auth_maintenance(state.auth.clone(), shutdown_rx.clone()));
    let scheme = if state.cfg.tls.enabled() { "https" } else { "http" };
    tracing::info!(%addr, scheme, data_dir = %state.cfg.data_dir.display(), "listening");

    let st = state.clone();
    let task = tokio::spawn(async move {
        let mut rx = shutdown_rx.clone();
        let signal = async move {
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = rx.wait_for(|v| *v) => {}
            }
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
        };
        let make = app.into_make_service_with_connect_info::<SocketAddr>();
        let serving = match tls {
            None => {
                let serve = axum::serve(listener, make).with_graceful_shutdown(signal);
                tokio::spawn(async move { serve.await })
            }
            Some(tls) => {
                let handle = axum_server::Handle::new();
                let h = handle.clone();
                tokio::spawn(async move {
                    signal.await;
                    h.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
                });
                let server = axum_server::from_tcp_rustls(listener.into_std()?, tls)?.handle(handle);
                tokio::spawn(async move { server.serve(make).await })
            }
        };

        // Open the storage while already answering health checks.
        let cfg = st.cfg.clone();
        let reg = st.registry.clone();
        let opened = tokio::task::spawn_blocking(move || opener(&cfg, &reg)).await;
        let maintain = match opened {
            Ok(Ok(backend)) => {
                let _ = st.backend.set(backend.clone());
                if let Err(e) = start_rules(&st, backend.clone(), shutdown_rx.clone()).await {
                    st.readiness.send_replace(Readiness::Failed);
                    tracing::error!(error = %e, "starting the rule engine failed");
                    serving.abort();
                    return Err(e);
                }
                st.readiness.send_replace(Readiness::Ready);
                tracing::info!("storage ready");
                tokio::spawn(crate::allocator::compaction_loop(
                    backend.clone(),
                    st.registry.clone(),
                    shutdown_rx.clone(),
                ));
                Some(tokio::spawn(maintain_loop(st.clone(), backend, maintain_rx, shutdown_rx.clone())))
            }
            Ok(Err(e)) => {
                st.readiness.send_replace(Readiness::Failed);
                tracing::error!(error = %e, "opening storage failed");
                serving.abort();
                return Err(e);
            }
            Err(e) => {
                st.readiness.send_replace(Readiness::Failed);
                serving.abort();
                return Err(anyhow::anyhow!("opening storage panicked: {e}"));
            }
        };
        let served = serving.await;
        if let Some(m) = maintain {
            m.abort();
        }
        if let Some(a) = st.actions.get() {
            a.stop().await;
        }
        if let Some(r) = st.rules.get() {
            r.stop().await;
        }
        if let Some(a) = st.alerting.get() {
            a.stop().await;
        }
        if let Some(b) = st.backend.get().cloned() {
            tokio::task::spawn_blocking(move || b.close())
                .await?
                .map_err(|e| anyhow::anyhow!("closing storage: {e}"))?;
            tracing::info!("storage closed");
        }
        served?.map_err(|e| anyhow::anyhow!("serving: {e}"))
    });
    Ok(ServerHandle { addr, state, shutdown: shutdown_tx, maintain_now: maintain_tx, task })
}

/// Starts the rule engine over the opened storage, loads `rules.dir` and reloads it on SIGHUP.
async fn start_rules(
    st: &Arc<AppState>,
    backend: SharedBackend,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let alerting =
        crate::alerting::Alerting::from_config(&st.cfg, &st.registry, st.clock.clone(), stop.clone()).await?;
    let sink = alerting.sink();
    let _ = st.alerting.set(alerting.clone());
    let svc = crate::rules_service::RulesService::new(&st.cfg, backend, &st.registry, st.clock.clone(), sink.clone())?;
    let actions = crate::actions::Actions::new(crate::actions::ActionsOptions {
        source: svc.source(),
        out: svc.appendable(),
        audit: crate::server::admin::admin(st).map_err(|e| anyhow::anyhow!("{}", e.message))?.audit.clone(),
        alerts: sink,
        clock: st.clock.clone(),
        registry: st.registry.clone(),
        actuators: crate::actions::connect_actuators(&st.cfg.actuators).await?,
        state_file: Some(st.cfg.data_dir.join("actions").join("state.json")),
        default_interval_ms: st.cfg.rules.evaluation_interval.as_millis(),
    });
    svc.set_actions(actions.clone());
    let _ = st.actions.set(actions);
    svc.reload().await.map_err(|e| anyhow::anyhow!("loading rules from {}: {e}", st.cfg.rules.dir.display()))?;
    let _ = st.rules.set(svc.clone());
    tokio::spawn(health_loop(st.clone(), svc.appendable(), stop.clone()));
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        // Ends at shutdown: it holds the rule engine, which holds the storage.
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    h = hup.recv() => {
                        if h.is_none() {
                            return;
                        }
                        tracing::info!("SIGHUP: reloading rules and notifications");
                        let _ = svc.reload().await;
                        if let Err(e) = alerting.reload().await {
                            tracing::error!(error = %e, "notifications not reloaded; the previous ones stay");
                        }
                    }
                    _ = async { let _ = stop.wait_for(|v| *v).await; } => return,
                }
            }
        });
    }
    Ok(())
}

/// Writes `tickdb_health_score{target=...}` for every target after every
/// `rules.evaluation_interval` (docs/anomaly.md#health-score), until shutdown.
async fn health_loop(st: Arc<AppState>, out: Arc<dyn storage::Appendable>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(st.cfg.rules.evaluation_interval.0);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let (st2, out2) = (st.clone(), out.clone());
        let res = tokio::task::spawn_blocking(move || {
            let scores = insights_api::current_scores(&st2);
            if scores.is_empty() {
                return Ok(());
            }
            let now = st2.now();
            let mut app = out2.appender();
            for h in &scores {
                let l =
                    storage::Labels::from_pairs([("__name__", "tickdb_health_score"), ("target", h.target.as_str())]);
                app.append(None, &l, now, h.score).map_err(|e| e.to_string())?;
            }
            app.commit_unsynced().map(|_| ()).map_err(|e| e.to_string())
        })
        .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "writing health scores failed"),
            Err(e) => tracing::error!(error = %e, "computing health scores panicked"),
        }
    }
}

/// Runs [`crate::backend::Backend::maintain`] every `storage.maintain_interval` and whenever a
/// trigger arrives (answering the trigger when done), until shutdown.
async fn maintain_loop(
    st: Arc<AppState>,
    backend: SharedBackend,
    mut trigger: mpsc::UnboundedReceiver<oneshot::Sender<Result<(), String>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(st.cfg.storage.maintain_interval.0);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        let reply = tokio::select! {
            _ = tick.tick() => None,
            t = trigger.recv() => t,
            _ = stop.wait_for(|v| *v) => return,
        };
        let (b, now) = (backend.clone(), st.now());
        let result = match tokio::task::spawn_blocking(move || b.maintain(now)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "storage maintenance failed");
                Err(format!("storage maintenance failed: {e}"))
            }
            Err(e) => {
                tracing::error!(error = %e, "storage maintenance panicked");
                Err(format!("storage maintenance panicked: {e}"))
            }
        };
        st.maintenance_runs.send_modify(|n| *n += 1);
        if let Some(r) = reply {
            let _ = r.send(result);
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Re-reads the token and user files (changes made by the CLI while serving) and prunes the
/// rate limiters, every 5 s until shutdown.
/// Applies `audit.retention` at start and then every hour.
async fn audit_retention(st: Arc<AppState>, log: Arc<crate::audit::AuditLog>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    let keep_ms = i64::try_from(st.cfg.audit.retention.0.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (l, cutoff) = (log.clone(), st.now().saturating_sub(keep_ms));
                match tokio::task::spawn_blocking(move || l.apply_retention(cutoff)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "audit log retention failed"),
                    Err(e) => tracing::error!(error = %e, "audit log retention panicked"),
                }
            }
            _ = async { let _ = stop.wait_for(|v| *v).await; } => return,
        }
    }
}

async fn auth_maintenance(auth: Arc<crate::auth::Authenticator>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let a = auth.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || a.maintain()).await {
                    tracing::warn!(error = %e, "re-reading the token or user files failed; the previous ones stay");
                }
            }
            _ = async { let _ = stop.wait_for(|v| *v).await; } => return,
        }
    }
}

/// All routes.
pub fn router(state: Arc<AppState>, audit: Arc<crate::audit::AuditLog>) -> Router {
    let api = Router::new()
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/import/prometheus", post(import::import_prometheus))
        .route("/api/v1/export", get(import::export).post(import::export))
        .route("/api/v1/query", get(api::query).post(api::query))
        .route("/api/v1/query_range", get(api::query_range).post(api::query_range))
        .route("/api/v1/series", get(api::series).post(api::series))
        .route("/api/v1/labels", get(api::labels).post(api::labels))
        .route("/api/v1/label/{name}/values", get(api::label_values))
        .route("/api/v1/query_exemplars", get(api::query_exemplars).post(api::query_exemplars))
        .route("/api/v1/format_query", get(api::format_query).post(api::format_query))
        .route("/api/v1/rules", get(rules_api::rules))
        .route("/api/v1/capacity", get(insights_api::capacity))
        .route("/api/v1/health_scores", get(insights_api::health_scores))
        .route("/api/v1/alerts", get(rules_api::alerts))
        .route("/-/reload", post(rules_api::reload).put(rules_api::reload))
        .route("/api/v1/alerts/{fingerprint}/ack", post(alerting_api::ack))
        .route("/api/v1/alerts/{fingerprint}/resolve", post(alerting_api::resolve))
        .route("/api/v1/notifications/alerts", get(alerting_api::alerts))
        .route("/api/v1/notifications/status", get(alerting_api::status))
        .route("/api/v1/silences", get(alerting_api::silences).post(alerting_api::add_silence))
        .route("/api/v1/silences/{id}", axum::routing::delete(alerting_api::expire_silence))
        .route("/api/v1/admin/rules", get(admin::rules::list))
        .route(
            "/api/v1/admin/rules/{group}",
            get(admin::rules::get_group)
                .put(admin::rules::put_group)
                .post(admin::rules::put_group)
                .delete(admin::rules::delete_group),
        )
        .route("/api/v1/admin/rules/{group}/versions", get(admin::rules::versions))
        .route("/api/v1/admin/rules/{group}/versions/{version}", get(admin::rules::version))
        .route("/api/v1/admin/rules/{group}/diff", get(admin::rules::diff))
        .route("/api/v1/admin/rules/{group}/rollback", post(admin::rules::rollback))
        .route("/api/v1/metadata", get(status::metadata))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/config", get(status::config))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/metrics", get(metrics));
    let api = api
        .route("/api/v1/admin/rule_templates", get(admin::templates::list))
        .route(
            "/api/v1/admin/rule_templates/{name}",
            get(admin::templates::get_template).put(admin::templates::put_template),
        )
        .route("/api/v1/admin/rule_templates/{name}/instantiate", post(admin::templates::instantiate_template))
        .route("/api/v1/admin/tokens", get(admin::tokens::list).post(admin::tokens::create))
        .route("/api/v1/admin/tokens/{id}", axum::routing::delete(admin::tokens::revoke))
        .route("/api/v1/admin/users", get(admin::users::list))
        .route("/api/v1/admin/users/{name}", axum::routing::put(admin::users::put).delete(admin::users::delete))
        .route(
            "/api/v1/admin/escalations",
            get(admin::escalations::list).put(admin::escalations::put).delete(admin::escalations::delete),
        )
        .route("/api/v1/admin/tsdb/delete_series", post(admin::tsdb::delete_series).put(admin::tsdb::delete_series))
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(admin::tsdb::clean_tombstones).put(admin::tsdb::clean_tombstones),
        )
        .route("/api/v1/admin/tsdb/snapshot", post(admin::tsdb::snapshot).put(admin::tsdb::snapshot))
        .route("/api/v1/admin/actions", get(admin::actions::list))
        .route("/api/v1/admin/actions/{id}", get(admin::actions::get_action))
        .route("/api/v1/admin/actions/{id}/approve", post(admin::actions::approve))
        .route("/api/v1/admin/actions/{id}/reject", post(admin::actions::reject))
        .route("/api/v1/admin/policies", get(admin::actions::policies))
        .route("/api/v1/admin/policies/{name}/reset", post(admin::actions::reset))
        .route("/api/v1/admin/targets/status", get(admin::actions::target_status))
        .route("/api/v1/admin/targets/scale", post(admin::actions::scale))
        .route("/api/v1/admin/targets/restart", post(admin::actions::restart))
        .with_state(state.clone())
        .merge(audit_api::router(audit));
    api.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authn::authenticate))
        .layer(middleware::from_fn_with_state(state, track))
        // Write and import bodies are limited by their handlers (413 with a message).
        .layer(DefaultBodyLimit::disable())
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(ErrorType::NotFound, format!("404 page not found: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(ErrorType::MethodNotAllowed, format!("method {method} not allowed for {}", uri.path()))
}

async fn healthy() -> &'static str {
    "tickdb is Healthy.\n"
}

async fn ready(State(st): State<Arc<AppState>>) -> Response {
    match st.backend.get() {
        Some(_) => "tickdb is Ready.\n".into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response(),
    }
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let mut r = st.registry.render().into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// Observes request durations by route (`handler` label), catches panics of handlers (500,
/// the server keeps serving) and logs error responses.
async fn track(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let handler =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "other".into());
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let start = Instant::now();
    // A task of its own, so a panic ends only this request.
    let resp = match tokio::spawn(next.run(req)).await {
        Ok(r) => r,
        Err(e) => ApiError::internal(format!("handler of {method} {path} panicked: {e}")).into_response(),
    };
    if let Some(LoggedError(e)) = resp.extensions().get::<LoggedError>() {
        let status = resp.status().as_u16();
        if resp.status().is_server_error() {
            tracing::warn!(%method, %path, status, error_type = e.kind.as_str(), error = %e.message, "request failed");
        } else {
            tracing::info!(%method, %path, status, error_type = e.kind.as_str(), error = %e.message, "bad request");
        }
    }
    st.registry
        .histogram_with(
            "tickdb_http_request_duration_seconds",
            "Latency of HTTP requests by handler.",
            storage::metrics::DEFAULT_BUCKETS,
            &[("handler", &handler)],
        )
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// Process metrics read from /proc at render time.
fn register_process_metrics(r: &Registry) {
    r.gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", || proc_status_kb("VmRSS:") * 1024.0);
    r.gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.", || proc_status_kb("VmSize:") * 1024.0);
    r.counter_fn("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", proc_cpu_seconds);
    let start = now_ms() as f64 / 1000.0;
    r.gauge_fn("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", move || start);
    r.gauge_fn("process_open_fds", "Number of open file descriptors.", || {
        std::fs::read_dir("/proc/self/fd").map(|d| d.count() as f64).unwrap_or(f64::NAN)
    });
    crate::allocator::register_metrics(r);
}

/// Queue lengths of the query and write slots.
fn register_server_metrics(st: &Arc<AppState>) {
    let q = st.query_slots.watch_waiting();
    st.registry
        .gauge_fn("tickdb_query_queue_length", "Queries waiting for an evaluation slot.", move || *q.borrow() as f64);
    let w = st.write_slots.watch_waiting();
    st.registry.gauge_fn("tickdb_write_queue_length", "Write requests waiting for a slot.", move || *w.borrow() as f64);
}

fn proc_status_kb(key: &str) -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else { return f64::NAN };
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// utime + stime from /proc/self/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).
fn proc_cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return f64::NAN };
    parse_cpu_seconds(&s).unwrap_or(f64::NAN)
}

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11, stime index 12.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let stat = "1234 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 1000 200";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(parse_cpu_seconds("garbage"), None);
        assert!(proc_cpu_seconds() >= 0.0);
        assert!(proc_status_kb("VmRSS:") > 0.0);
    }
}
