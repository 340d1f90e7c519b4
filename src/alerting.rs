//! Where alerts go once the rule engine has them: forwarded to Alertmanagers (as Prometheus
//! does), and/or routed by tickdb's own dispatcher ([`rules::notify::Dispatcher`]) to
//! receivers whose deliveries are queued on disk.
//!
//! ```text
//! rule groups --alerts--> Alerting::receive --+--> Alertmanager forward (every URL)
//!                                             +--> Dispatcher (routing, grouping, silences,
//!                                                  inhibition, throttling, ack, escalation)
//!                                                      --notifications--> Delivery (disk queue,
//!                                                                          retries, transports)
//! ```
//!
//! The dispatcher runs on its own task, woken when alerts arrive or when its next group is due.
//! Its state (groups, notified sets, acks, silences) is written to
//! `<data_dir>/notifications/dispatcher.json` after every change, atomically, so a restart
//! neither pages again nor forgets an acknowledgement. A notification is handed to the delivery
//! queue (which persists it) before the state that records it as sent is written: a crash
//! between the two repeats a notification rather than losing it.

pub mod escalations;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rules::alert::{Alert, Fingerprint, LabelMap};
use rules::notify::SilenceDef;
use rules::notify::{Dispatcher, DispatcherState};
use rules::notify::{Notification, NotifyConfig, NotifyError};
use tokio::sync::{Notify, watch};

use crate::server::Clock;

/// A future the delivery side returns.
pub type BoxFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Where the dispatcher's notifications are delivered.
pub trait Delivery: Send + Sync {
    /// Queues `n` for delivery (durably: it survives a restart once the future is done).
    fn enqueue(&self, n: Notification) -> BoxFuture<'_>;
}

/// Where forwarded alerts go (the Alertmanager forwarder).
pub trait Forward: Send + Sync {
    fn send(&self, alerts: Vec<Alert>);
}

impl Delivery for crate::notifier::Notifier {
    fn enqueue(&self, n: Notification) -> BoxFuture<'_> {
        Box::pin(async move {
            let (receiver, key) = (n.receiver.clone(), n.group_key.clone());
            // Errors (an unknown receiver) are logged and counted by the notifier.
            if let Err(e) = crate::notifier::Notifier::enqueue(self, n).await {
                tracing::error!(receiver = %receiver, group_key = %key, error = %e, "notification not queued");
            }
        })
    }
}

impl Forward for crate::notifier::AlertmanagerForwarder {
    fn send(&self, alerts: Vec<Alert>) {
        crate::notifier::AlertmanagerForwarder::send(self, alerts);
    }
}

/// The alerting side of the server.
pub struct Alerting {
    external_labels: LabelMap,
    forward: Option<Arc<dyn Forward>>,
    routing: Option<Arc<Routing>>,
    /// The real parts, when built from the configuration (for reload and stop).
    parts: Option<Parts>,
}

struct Parts {
    notifications_file: PathBuf,
    /// The file's escalation policies and those set through the admin API (with own
    /// notifications only).
    escalations: Option<Mutex<escalations::Escalations>>,
    notifier: Option<Arc<crate::notifier::Notifier>>,
    forwarder: Option<Arc<crate::notifier::AlertmanagerForwarder>>,
}

/// The dispatcher and its task.
pub struct Routing {
    dispatcher: Mutex<Dispatcher>,
    wake: Notify,
    delivery: Arc<dyn Delivery>,
    state_path: PathBuf,
    clock: Clock,
}

impl Alerting {
    /// Alerting without own notifications or forwarding (alerts are only shown by the API).
    pub fn none() -> Arc<Alerting> {
        Arc::new(Alerting { external_labels: LabelMap::new(), forward: None, routing: None, parts: None })
    }

    /// Builds the alerting side the configuration asks for: the Alertmanager forward
    /// (`alerting.alertmanagers`) and tickdb's own receivers (`alerting.notifications_file`),
    /// their delivery queue under `<data_dir>/notifications` and the dispatcher's state under
    /// `<data_dir>/alerting`.
    pub async fn from_config(
        cfg: &crate::config::Config,
        registry: &storage::metrics::Registry,
        clock: Clock,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Alerting>> {
        use crate::notifier::{AlertmanagerForwarder, DeliveryOptions, ForwarderOptions, NotificationsFile, Notifier};
        let external_url = if cfg.rules.external_url.is_empty() {
            format!("http://{}", cfg.listen)
        } else {
            cfg.rules.external_url.trim_end_matches('/').to_string()
        };
        let forwarder = if cfg.alerting.alertmanagers.is_empty() {
            None
        } else {
            let opts = ForwarderOptions { timeout: cfg.alerting.alertmanager_timeout.0, ..Default::default() };
            Some(Arc::new(AlertmanagerForwarder::new(&cfg.alerting.alertmanagers, opts, registry)?))
        };
        let file = cfg.alerting.notifications_file.clone();
        let state_dir = cfg.data_dir.join("alerting");
        let mut escalations = None;
        let (notifier, routing) = if file.as_os_str().is_empty() {
            (None, None)
        } else {
            let f = file.clone();
            let (file_routes, receivers) = tokio::task::spawn_blocking(move || NotificationsFile::load(&f)).await??;
            std::fs::create_dir_all(&state_dir)?;
            let names = receivers.names().map(str::to_string).collect();
            let esc = escalations::Escalations::open(&state_dir, file_routes, names);
            let routes = esc.effective();
            escalations = Some(Mutex::new(esc));
            let opts = DeliveryOptions { external_url, ..Default::default() };
            let n = Arc::new(
                Notifier::start(&cfg.data_dir.join(crate::notifier::delivery::QUEUE_DIR), receivers, registry, opts)
                    .await?,
            );
            (Some(n.clone()), Some((routes, n as Arc<dyn Delivery>)))
        };
        let forward = forwarder.clone().map(|f| f as Arc<dyn Forward>);
        let mut a = Arc::into_inner(Alerting::start(
            cfg.rules.external_labels.clone(),
            forward,
            routing,
            &state_dir,
            clock,
            stop,
        )?)
        .ok_or_else(|| anyhow::anyhow!("alerting is shared before it started"))?;
        a.parts = Some(Parts { notifications_file: file, escalations, notifier, forwarder });
        Ok(Arc::new(a))
    }

    /// Re-reads the notifications file: new routes and receivers, the state kept. On any error
    /// nothing changes.
    pub async fn reload(&self) -> Result<(), String> {
        let Some(p) = &self.parts else { return Ok(()) };
        let (Some(notifier), Some(routing)) = (&p.notifier, &self.routing) else { return Ok(()) };
        let f = p.notifications_file.clone();
        let (file_routes, receivers) =
            tokio::task::spawn_blocking(move || crate::notifier::NotificationsFile::load(&f))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        match &p.escalations {
            Some(esc) => {
                let mut esc = esc.lock();
                let mut next = esc.clone();
                next.set_file(file_routes, receivers.names().map(str::to_string).collect());
                routing.set_config(next.effective()).map_err(|e| e.to_string())?;
                *esc = next;
            }
            None => routing.set_config(file_routes).map_err(|e| e.to_string())?,
        }
        notifier.set_receivers(receivers);
        tracing::info!(file = %p.notifications_file.display(), "notifications reloaded");
        Ok(())
    }

    /// Every route's escalation policy (file, override, effective); `None` without own
    /// notifications.
    pub fn escalations_view(&self) -> Option<serde_json::Value> {
        self.parts.as_ref()?.escalations.as_ref().map(|e| e.lock().view())
    }

    /// The effective escalation steps of `route` (for an audit entry's `before`).
    pub fn escalation_of(&self, route: &str) -> Option<serde_json::Value> {
        self.parts.as_ref()?.escalations.as_ref().map(|e| e.lock().describe_route(route))
    }

    /// Why [`Alerting::set_escalation`] would refuse this change, if it would.
    pub fn check_escalation(
        &self,
        route: &str,
        steps: Option<&[rules::notify::EscalationStep]>,
    ) -> Result<(), Option<String>> {
        let esc = self.parts.as_ref().and_then(|p| p.escalations.as_ref()).ok_or(None)?;
        esc.lock().proposed(route, steps).map(|_| ()).map_err(Some)
    }

    /// Sets (`Some`) or removes (`None`) the escalation override of `route`: checked against
    /// the notifications file and the dispatcher's rules, applied, then persisted; on any error
    /// nothing changes. Err(None) without own notifications.
    pub fn set_escalation(
        &self,
        route: &str,
        steps: Option<&[rules::notify::EscalationStep]>,
    ) -> Result<serde_json::Value, Option<String>> {
        let esc = self.parts.as_ref().and_then(|p| p.escalations.as_ref()).ok_or(None)?;
        let routing = self.routing.as_ref().ok_or(None)?;
        let mut esc = esc.lock();
        let (cfg, next) = esc.proposed(route, steps).map_err(Some)?;
        let old = esc.effective();
        routing.set_config(cfg).map_err(|e| Some(e.to_string()))?;
        if let Err(e) = esc.commit(next) {
            // Not persisted: take the change back so memory and disk agree.
            if let Err(re) = routing.set_config(old) {
                tracing::error!(error = %re, "restoring the escalation policy failed");
            }
            return Err(Some(format!("writing the escalation overrides: {e}")));
        }
        Ok(esc.describe_route(route))
    }

    /// Stops delivery (queued notifications stay on disk) and drains the forward queue.
    pub async fn stop(&self) {
        if let Some(p) = &self.parts {
            if let Some(n) = &p.notifier {
                n.stop().await;
            }
            if let Some(f) = &p.forwarder {
                f.stop().await;
            }
        }
    }

    /// Builds the alerting side. With a `routing` config, restores the dispatcher's state from
    /// `state_dir` and starts its task (stopped by `stop`).
    pub fn start(
        external_labels: LabelMap,
        forward: Option<Arc<dyn Forward>>,
        routing: Option<(NotifyConfig, Arc<dyn Delivery>)>,
        state_dir: &Path,
        clock: Clock,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Alerting>> {
        let routing = match routing {
            None => None,
            Some((cfg, delivery)) => {
                std::fs::create_dir_all(state_dir)?;
                let state_path = state_dir.join("dispatcher.json");
                let dispatcher = match load_state(&state_path) {
                    Some(st) => Dispatcher::restore(cfg.clone(), st).or_else(|e| {
                        tracing::error!(error = %e, path = %state_path.display(), "notification state not restored; starting afresh");
                        Dispatcher::new(cfg)
                    })?,
                    None => Dispatcher::new(cfg)?,
                };
                let r = Arc::new(Routing {
                    dispatcher: Mutex::new(dispatcher),
                    wake: Notify::new(),
                    delivery,
                    state_path,
                    clock,
                });
                tokio::spawn(dispatch_loop(r.clone(), stop));
                Some(r)
            }
        };
        Ok(Arc::new(Alerting { external_labels, forward, routing, parts: None }))
    }

    /// Takes the alerts of one group evaluation.
    pub fn receive(&self, mut alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        // External labels, as Prometheus's notifier adds them (an alert's own label wins).
        for a in &mut alerts {
            for (k, v) in &self.external_labels {
                a.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(r) = &self.routing {
            let now = (r.clock)();
            r.dispatcher.lock().receive(alerts.clone(), now);
            r.wake.notify_one();
        }
        if let Some(f) = &self.forward {
            f.send(alerts);
        }
    }

    /// The dispatcher, if tickdb routes notifications itself.
    pub fn routing(&self) -> Option<&Arc<Routing>> {
        self.routing.as_ref()
    }

    /// The sink the rule engine hands alerts to.
    pub fn sink(self: &Arc<Self>) -> crate::rules_service::AlertSink {
        let me = self.clone();
        Arc::new(move |alerts| me.receive(alerts))
    }
}

impl Routing {
    /// Runs `f` on the dispatcher, then persists the state and wakes the task (the change may
    /// make a notification due, e.g. a resolve).
    fn change<T>(&self, f: impl FnOnce(&mut Dispatcher, i64) -> Result<T, NotifyError>) -> Result<T, NotifyError> {
        let now = (self.clock)();
        let (out, state) = {
            let mut d = self.dispatcher.lock();
            let out = f(&mut d, now)?;
            (out, d.snapshot())
        };
        save_state(&self.state_path, &state);
        self.wake.notify_one();
        Ok(out)
    }

    /// Runs a check on the dispatcher without changing it (so an action that would be
    /// refused is refused before its audit entry is written).
    pub fn check(&self, f: impl FnOnce(&Dispatcher, i64) -> Result<(), NotifyError>) -> Result<(), NotifyError> {
        let now = (self.clock)();
        f(&self.dispatcher.lock(), now)
    }

    pub fn ack(&self, fp: Fingerprint, who: &str, why: &str) -> Result<(), NotifyError> {
        self.change(|d, now| d.ack(fp, who, why, now))
    }

    /// Resolves an alert by hand; its resolved notifications are delivered at once.
    pub async fn resolve(&self, fp: Fingerprint, who: &str, why: &str) -> Result<usize, NotifyError> {
        let ns = self.change(|d, now| d.resolve(fp, who, why, now))?;
        let n = ns.len();
        for x in ns {
            self.delivery.enqueue(x).await;
        }
        Ok(n)
    }

    pub fn add_silence(&self, def: SilenceDef) -> Result<String, NotifyError> {
        self.change(|d, now| d.add_silence(def, now))
    }

    pub fn expire_silence(&self, id: &str) -> Result<(), NotifyError> {
        self.change(|d, now| d.expire_silence(id, now))
    }

    /// Replaces the routing configuration (reload); the state is kept.
    pub fn set_config(&self, cfg: NotifyConfig) -> Result<(), NotifyError> {
        self.change(|d, _| d.set_config(cfg))
    }

    pub fn alerts(&self) -> Vec<rules::notify::AlertView> {
        let now = (self.clock)();
        self.dispatcher.lock().alerts(now)
    }

    pub fn silences(&self) -> Vec<rules::notify::SilenceView> {
        let now = (self.clock)();
        self.dispatcher.lock().silences(now)
    }

    pub fn stats(&self) -> rules::notify::NotifyStats {
        self.dispatcher.lock().stats().clone()
    }
}

/// The dispatcher's task: tick when woken or when the next group is due, deliver what is due,
/// persist the state.
async fn dispatch_loop(r: Arc<Routing>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = (r.clock)();
        let (due, next, state) = {
            let mut d = r.dispatcher.lock();
            let due = d.tick(now);
            let state = (!due.is_empty()).then(|| d.snapshot());
            (due, d.next_due_ms(), state)
        };
        for n in due {
            r.delivery.enqueue(n).await;
        }
        if let Some(s) = state {
            let path = r.state_path.clone();
            let _ = tokio::task::spawn_blocking(move || save_state(&path, &s)).await;
        }
        // Silences can start or end between due times: look again at least every second.
        let wait_ms = next.map_or(1000, |t| (t - (r.clock)()).clamp(1, 1000));
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait_ms as u64)) => {}
            _ = r.wake.notified() => {}
            _ = async { let _ = stop.wait_for(|v| *v).await; } => {
                let s = r.dispatcher.lock().snapshot();
                save_state(&r.state_path, &s);
                return;
            }
        }
    }
}

fn load_state(path: &Path) -> Option<DispatcherState> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "reading notification state failed");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "notification state is corrupt; starting afresh");
            None
        }
    }
}

/// Writes the state atomically ([`write_json_atomic`]).
fn save_state(path: &Path, state: &DispatcherState) {
    if let Err(e) = write_json_atomic(path, state) {
        tracing::error!(error = %e, path = %path.display(), "writing notification state failed");
    }
}

/// Writes `value` as JSON to `path` atomically: temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Mutex<Vec<Notification>>);
    impl Delivery for Collect {
        fn enqueue(&self, n: Notification) -> BoxFuture<'_> {
            self.0.lock().push(n);
            Box::pin(async {})
        }
    }
    struct Fwd(Mutex<Vec<Alert>>);
    impl Forward for Fwd {
        fn send(&self, alerts: Vec<Alert>) {
            self.0.lock().extend(alerts);
        }
    }

    fn alert(name: &str) -> Alert {
        Alert {
            labels: [("alertname".to_string(), name.to_string()), ("severity".into(), "critical".into())].into(),
            annotations: LabelMap::new(),
            starts_at_ms: 1_000,
            ends_at_ms: 1_000_000,
            resolved: false,
            generator_url: String::new(),
        }
    }

    const CFG: &str = "route:\n  receiver: ops\n  group_wait: 0s\n  group_by: [alertname]\n";

    /// Paused tokio time: alerts in, a notification out, external labels on both paths; the
    /// state is on disk and a restarted dispatcher does not notify the same alerts again.
    #[tokio::test(start_paused = true)]
    async fn alerts_are_routed_forwarded_and_the_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let start = tokio::time::Instant::now();
        let clock: Clock = Arc::new(move || 1_000 + start.elapsed().as_millis() as i64);
        let (stop_tx, stop) = watch::channel(false);
        let delivered = Arc::new(Collect(Mutex::new(Vec::new())));
        let fwd = Arc::new(Fwd(Mutex::new(Vec::new())));
        let ext: LabelMap = [("cluster".to_string(), "eu".to_string())].into();
        let cfg = NotifyConfig::from_yaml(CFG).unwrap();
        let a = Alerting::start(
            ext.clone(),
            Some(fwd.clone()),
            Some((cfg.clone(), delivered.clone())),
            dir.path(),
            clock.clone(),
            stop.clone(),
        )
        .unwrap();
        a.receive(vec![alert("Down")]);
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(fwd.0.lock()[0].labels["cluster"], "eu");
        {
            let d = delivered.0.lock();
            assert_eq!(d.len(), 1, "{d:?}");
            assert_eq!(d[0].receiver, "ops");
            assert_eq!(d[0].alerts[0].alert.labels["cluster"], "eu");
        }
        let fp = rules::alert::fingerprint(&delivered.0.lock()[0].alerts[0].alert.labels);
        a.routing().unwrap().ack(fp, "ana", "on it").unwrap();
        assert!(matches!(a.routing().unwrap().ack(Fingerprint(1), "ana", "x"), Err(NotifyError::UnknownAlert(_))));
        stop_tx.send(true).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(dir.path().join("dispatcher.json").exists());

        // Restart: same alerts again, no new notification; the ack is remembered.
        let (_stop_tx2, stop2) = watch::channel(false);
        let delivered2 = Arc::new(Collect(Mutex::new(Vec::new())));
        let a2 = Alerting::start(ext, None, Some((cfg, delivered2.clone())), dir.path(), clock, stop2).unwrap();
        a2.receive(vec![alert("Down")]);
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert!(delivered2.0.lock().is_empty(), "{:?}", delivered2.0.lock());
        let views = a2.routing().unwrap().alerts();
        assert_eq!(views[0].ack.as_ref().map(|x| x.by.as_str()), Some("ana"));
    }

    #[test]
    fn a_corrupt_state_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dispatcher.json");
        std::fs::write(&p, b"{not json").unwrap();
        assert!(load_state(&p).is_none());
        assert!(load_state(&dir.path().join("missing.json")).is_none());
    }
}
