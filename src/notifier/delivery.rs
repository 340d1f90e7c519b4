//! Reliable delivery: the [`Notifier`].
//!
//! [`Notifier::enqueue`] turns a [`Notification`] into one job per integration of the named
//! receiver (resolved alerts left out where `send_resolved` is false, nothing at all if only
//! resolved alerts remain), writes the jobs to the [`DiskQueue`] (fsync'd) and only then
//! returns. A scheduler task attempts due jobs, at most `max_in_flight` at a time per receiver
//! integration, each attempt in its own task with a timeout, so a slow or dead receiver holds
//! only its own slots. After a retryable failure the job waits a backoff with full jitter,
//! `uniform(0, min(backoff_max, backoff_base × 2^(attempts−1)))` (or the receiver's
//! `Retry-After`, whichever is longer, capped at `backoff_max`), persisted with the job; a
//! permanent failure (a 4xx other than 408/429, an SMTP 5xx, a receiver removed by a reload),
//! `max_attempts` or `max_age` ends the job with an error log line and
//! `tickdb_notifications_failed_total`. Success or failure unlinks the job's file.
//!
//! Guarantee: at least once. A notification whose receiver answered 2xx is not sent again,
//! except when tickdb crashed between that answer and the unlink (then it is sent once more
//! after the restart; webhooks carry a stable `X-Tickdb-Notification-Id` for receivers that
//! de-duplicate). [`Notifier::stop`] lets attempts in flight finish (up to
//! `shutdown_timeout`) and keeps the rest on disk; the next [`Notifier::start`] on the same
//! directory retries them at once.
//!
//! Time comes from an injected [`Clock`], so tests drive backoff and `max_age` with a
//! [`ManualClock`] instead of sleeping.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use storage::metrics::{DEFAULT_BUCKETS, Registry};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::config::{Integration, Receivers};
use super::queue::{DiskQueue, FORMAT_VERSION, JobRecord};
use super::transport::{SendContext, SendError};
use super::{Error, Notification, Status};

/// The queue's directory name under the data directory.
pub const QUEUE_DIR: &str = "notifications";

/// Wall time and sleeping, injectable.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
    /// Completes once `now_ms() >= deadline_ms`.
    fn sleep_until(&self, deadline_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// The system clock and tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        d.as_millis() as i64
    }
    fn sleep_until(&self, deadline_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let wait = (deadline_ms - self.now_ms()).max(0) as u64;
        Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
    }
}

/// A clock that moves only when told to (for tests): sleepers wake when
/// [`ManualClock::advance`] passes their deadline.
#[derive(Debug)]
pub struct ManualClock {
    now: tokio::sync::watch::Sender<i64>,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock { now: tokio::sync::watch::Sender::new(start_ms) })
    }
    pub fn advance(&self, d: Duration) {
        self.now.send_modify(|t| *t += d.as_millis() as i64);
    }
    pub fn set(&self, ms: i64) {
        self.now.send_modify(|t| *t = ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.now.borrow()
    }
    fn sleep_until(&self, deadline_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            while *rx.borrow_and_update() < deadline_ms {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

/// Delivery settings.
#[derive(Clone)]
pub struct DeliveryOptions {
    /// First retry delay bound (default 1s).
    pub backoff_base: Duration,
    /// Upper bound of any retry delay (default 5m).
    pub backoff_max: Duration,
    /// A job older than this fails at its next failed attempt (default 24h).
    pub max_age: Duration,
    /// A job fails after this many failed attempts; 0 = no limit (default).
    pub max_attempts: u32,
    /// Concurrent attempts per receiver integration (default 4).
    pub max_in_flight: usize,
    /// Timeout of one attempt unless the integration sets `timeout` (default 10s).
    pub timeout: Duration,
    /// How long [`Notifier::stop`] waits for attempts in flight (default 10s).
    pub shutdown_timeout: Duration,
    /// tickdb's external URL (webhook `externalURL`, email footer).
    pub external_url: String,
    pub clock: Arc<dyn Clock>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_age: Duration::from_secs(24 * 3600),
            max_attempts: 0,
            max_in_flight: 4,
            timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            external_url: String::new(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for DeliveryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryOptions")
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("max_age", &self.max_age)
            .field("max_attempts", &self.max_attempts)
            .field("max_in_flight", &self.max_in_flight)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The retry delay after `attempts` failed attempts: full jitter, `u` uniform in [0, 1).
pub fn backoff(attempts: u32, base: Duration, max: Duration, u: f64) -> Duration {
    let exp = attempts.saturating_sub(1).min(62) as i32;
    let cap = (base.as_secs_f64() * 2f64.powi(exp)).min(max.as_secs_f64());
    Duration::from_secs_f64((cap * u.clamp(0.0, 1.0)).max(0.0))
}

/// The notification as one integration gets it: without resolved alerts unless it sends
/// them; `None` when nothing is left to send.
pub fn for_integration(n: &Notification, send_resolved: bool) -> Option<Notification> {
    if send_resolved {
        return Some(n.clone());
    }
    let firing: Vec<_> = n.alerts.iter().filter(|a| a.status == Status::Firing).cloned().collect();
    if firing.is_empty() {
        return None;
    }
    Some(Notification { alerts: firing, status: Status::Firing, ..n.clone() })
}

struct Job {
    rec: JobRecord,
    in_flight: bool,
}

#[derive(Clone, Debug, Default)]
struct Stats {
    delivered: u64,
    failed: u64,
    last_attempt_ms: Option<i64>,
    last_success_ms: Option<i64>,
    last_error: Option<String>,
}

#[derive(Default)]
struct State {
    /// By id: id order is enqueue order.
    jobs: BTreeMap<String, Job>,
    in_flight: HashMap<(String, String), usize>,
    stats: BTreeMap<(String, String), Stats>,
    stopping: bool,
}

struct Inner {
    queue: DiskQueue,
    receivers: RwLock<Receivers>,
    state: Mutex<State>,
    wake: Notify,
    opts: DeliveryOptions,
    registry: Registry,
}

/// The integration kind from a key such as `discord[0]` (for metrics of removed receivers).
fn kind_of(key: &str) -> &str {
    key.split('[').next().unwrap_or(key)
}

impl Inner {
    fn labels<'a>(receiver: &'a str, integration: &'a str) -> [(&'a str, &'a str); 2] {
        [("receiver", receiver), ("integration", kind_of(integration))]
    }

    fn count_total(&self, receiver: &str, integration: &str) {
        self.registry
            .counter_with(
                "tickdb_notifications_total",
                "Notifications accepted for delivery, per receiver integration.",
                &Self::labels(receiver, integration),
            )
            .inc();
    }

    fn count_failed(&self, receiver: &str, integration: &str) {
        self.registry
            .counter_with(
                "tickdb_notifications_failed_total",
                "Notifications that could not be delivered (permanent error, too old or too many attempts).",
                &Self::labels(receiver, integration),
            )
            .inc();
    }

    fn observe_attempt(&self, receiver: &str, integration: &str, secs: f64, ok: bool) {
        let l = Self::labels(receiver, integration);
        self.registry.counter_with("tickdb_notification_requests_total", "Delivery attempts.", &l).inc();
        if !ok {
            self.registry
                .counter_with("tickdb_notification_requests_failed_total", "Failed delivery attempts.", &l)
                .inc();
        }
        self.registry
            .histogram_with(
                "tickdb_notification_latency_seconds",
                "Duration of one delivery attempt.",
                DEFAULT_BUCKETS,
                &l,
            )
            .observe(secs);
    }

    fn update_queue_gauge(&self, st: &State) {
        self.registry
            .gauge("tickdb_notifications_queue_length", "Notification jobs waiting for delivery (on disk).")
            .set(st.jobs.len() as f64);
    }

    /// Marks due jobs in flight (respecting per-integration limits); returns them and the
    /// earliest future due time.
    fn pick_due(&self, now: i64) -> (Vec<String>, Option<i64>) {
        let mut st = self.state.lock();
        let st = &mut *st;
        let mut due = Vec::new();
        let mut next: Option<i64> = None;
        for (id, job) in st.jobs.iter_mut() {
            if job.in_flight {
                continue;
            }
            if job.rec.next_attempt_ms > now {
                next = Some(next.map_or(job.rec.next_attempt_ms, |n| n.min(job.rec.next_attempt_ms)));
                continue;
            }
            let key = (job.rec.receiver.clone(), job.rec.integration.clone());
            let n = st.in_flight.entry(key).or_insert(0);
            if *n >= self.opts.max_in_flight.max(1) {
                continue;
            }
            *n += 1;
            job.in_flight = true;
            due.push(id.clone());
        }
        (due, next)
    }

    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Inner) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let me = self.clone();
        let dir = self.queue.dir().to_path_buf();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .unwrap_or_else(|e| Err(Error::io(dir, std::io::Error::other(format!("queue task failed: {e}")))))
    }

    async fn attempt(self: Arc<Self>, id: String) {
        let Some(rec) = self.state.lock().jobs.get(&id).map(|j| j.rec.clone()) else { return };
        let receivers = self.receivers.read().clone();
        let integ: Option<&Integration> = receivers.get(&rec.receiver).and_then(|r| r.integration(&rec.integration));
        let now = self.opts.clock.now_ms();
        let result = match integ {
            None => Err(SendError::permanent("the receiver or integration is no longer configured")),
            Some(i) => {
                let timeout = i.timeout.unwrap_or(self.opts.timeout);
                let ctx = SendContext { external_url: &self.opts.external_url, job_id: &rec.id, timeout };
                let started = Instant::now();
                // The transports time out themselves; this bounds anything they miss.
                let r = match tokio::time::timeout(timeout + Duration::from_secs(1), i.send(&rec.notification, &ctx))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(SendError::retry(format!("timed out after {timeout:?}"))),
                };
                self.observe_attempt(&rec.receiver, &rec.integration, started.elapsed().as_secs_f64(), r.is_ok());
                r
            }
        };
        {
            let mut st = self.state.lock();
            let s = st.stats.entry((rec.receiver.clone(), rec.integration.clone())).or_default();
            s.last_attempt_ms = Some(now);
            match &result {
                Ok(()) => s.last_success_ms = Some(now),
                Err(e) => s.last_error = Some(e.msg.clone()),
            }
        }
        match result {
            Ok(()) => {
                tracing::debug!(receiver = %rec.receiver, integration = %rec.integration, job = %rec.id, attempts = rec.attempts + 1, "notification delivered");
                self.finish(&rec, None).await;
            }
            Err(e) if e.retryable => self.retry_later(rec.clone(), e).await,
            Err(e) => self.finish(&rec, Some(e.msg)).await,
        }
        {
            let mut st = self.state.lock();
            if let Some(n) = st.in_flight.get_mut(&(rec.receiver.clone(), rec.integration.clone())) {
                *n = n.saturating_sub(1);
            }
            if let Some(j) = st.jobs.get_mut(&id) {
                j.in_flight = false;
            }
        }
        self.wake.notify_one();
    }

    async fn retry_later(self: &Arc<Self>, mut rec: JobRecord, e: SendError) {
        let o = &self.opts;
        rec.attempts += 1;
        let now = o.clock.now_ms();
        let age = Duration::from_millis((now - rec.enqueued_ms).max(0) as u64);
        if o.max_attempts > 0 && rec.attempts >= o.max_attempts {
            let msg = format!("{} (giving up after {} attempts)", e.msg, rec.attempts);
            return self.finish(&rec, Some(msg)).await;
        }
        if age >= o.max_age {
            let msg = format!("{} (giving up: not delivered within {:?})", e.msg, o.max_age);
            return self.finish(&rec, Some(msg)).await;
        }
        let mut delay = backoff(rec.attempts, o.backoff_base, o.backoff_max, rand::random::<f64>());
        if let Some(ra) = e.retry_after {
            delay = delay.max(ra).min(o.backoff_max);
        }
        rec.next_attempt_ms = now + delay.as_millis() as i64;
        rec.last_error = Some(e.msg.clone());
        tracing::warn!(
            receiver = %rec.receiver, integration = %rec.integration, job = %rec.id, attempts = rec.attempts,
            retry_in = ?delay, error = %e.msg, "notification delivery failed, will retry"
        );
        let r = rec.clone();
        if let Err(err) = self.blocking(move |i| i.queue.write(std::slice::from_ref(&r))).await {
            tracing::error!(job = %rec.id, error = %err, "cannot persist a notification job's retry state");
        }
        if let Some(j) = self.state.lock().jobs.get_mut(&rec.id) {
            j.rec = rec;
        }
    }

    /// Ends a job: delivered (`failure` None) or failed for good.
    async fn finish(self: &Arc<Self>, rec: &JobRecord, failure: Option<String>) {
        let id = rec.id.clone();
        if let Err(err) = self.blocking(move |i| i.queue.remove(&id)).await {
            tracing::error!(job = %rec.id, error = %err, "cannot remove a finished notification job; it may be sent again after a restart");
        }
        if let Some(msg) = &failure {
            self.count_failed(&rec.receiver, &rec.integration);
            tracing::error!(
                receiver = %rec.receiver, integration = %rec.integration, job = %rec.id, group_key = %rec.notification.group_key,
                attempts = rec.attempts + 1, error = %msg, "notification could not be delivered"
            );
        }
        let mut st = self.state.lock();
        st.jobs.remove(&rec.id);
        let s = st.stats.entry((rec.receiver.clone(), rec.integration.clone())).or_default();
        match failure {
            None => s.delivered += 1,
            Some(msg) => {
                s.failed += 1;
                s.last_error = Some(msg);
            }
        }
        self.update_queue_gauge(&st);
    }
}

async fn run(inner: Arc<Inner>) {
    let mut tasks = JoinSet::new();
    loop {
        let now = inner.opts.clock.now_ms();
        let (due, next) = inner.pick_due(now);
        for id in due {
            tasks.spawn(inner.clone().attempt(id));
        }
        if inner.state.lock().stopping {
            break;
        }
        let sleep: Pin<Box<dyn Future<Output = ()> + Send>> = match next {
            Some(t) => inner.opts.clock.sleep_until(t),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = sleep => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    let deadline = tokio::time::sleep(inner.opts.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            r = tasks.join_next() => if r.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!(in_flight = tasks.len(), "notifier stopping with attempts in flight; their jobs stay queued");
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
}

/// Status of one integration (secrets masked).
#[derive(Clone, Debug, Serialize)]
pub struct IntegrationStatus {
    /// `discord[0]`.
    pub name: String,
    pub kind: &'static str,
    /// Where it delivers, secrets masked (`https://discord.com/<secret>`).
    pub target: String,
    pub send_resolved: bool,
    pub pending: usize,
    pub in_flight: usize,
    pub delivered: u64,
    pub failed: u64,
    pub last_attempt_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReceiverStatus {
    pub name: String,
    pub integrations: Vec<IntegrationStatus>,
}

/// The notifier's state for the API.
#[derive(Clone, Debug, Serialize)]
pub struct NotifierStatus {
    pub queue_length: usize,
    pub receivers: Vec<ReceiverStatus>,
    /// Queued jobs whose receiver or integration a reload removed (they fail when due).
    pub orphaned_jobs: usize,
}

/// Delivers notifications reliably. See the module docs.
pub struct Notifier {
    inner: Arc<Inner>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("dir", &self.inner.queue.dir())
            .field("queue_length", &self.queue_len())
            .finish()
    }
}

impl Notifier {
    /// Opens (or creates) the queue in `dir` (the server uses `<data dir>/`[`QUEUE_DIR`]),
    /// loads the pending jobs, which are due at once, and starts delivering. Must be called
    /// inside a tokio runtime.
    pub async fn start(
        dir: &Path,
        receivers: Receivers,
        registry: &Registry,
        opts: DeliveryOptions,
    ) -> Result<Notifier, Error> {
        let d = dir.to_path_buf();
        let (queue, loaded) = tokio::task::spawn_blocking(move || DiskQueue::open(&d))
            .await
            .map_err(|e| Error::io(dir, std::io::Error::other(e.to_string())))??;
        let now = opts.clock.now_ms();
        let mut st = State::default();
        for mut rec in loaded.jobs {
            // A restart is often what fixed the receiver: retry at once.
            rec.next_attempt_ms = rec.next_attempt_ms.min(now);
            st.jobs.insert(rec.id.clone(), Job { rec, in_flight: false });
        }
        if !st.jobs.is_empty() || !loaded.corrupt.is_empty() {
            tracing::info!(dir = %dir.display(), pending = st.jobs.len(), corrupt = loaded.corrupt.len(), "loaded queued notifications");
        }
        let inner = Arc::new(Inner {
            queue,
            receivers: RwLock::new(receivers),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            opts,
            registry: registry.clone(),
        });
        inner.update_queue_gauge(&st);
        *inner.state.lock() = st;
        let task = tokio::spawn(run(inner.clone()));
        Ok(Notifier { inner, task: tokio::sync::Mutex::new(Some(task)) })
    }

    /// Queues `n` for every integration of its receiver; returns once the jobs are on disk,
    /// with their number (0 for a receiver without integrations, or when only resolved alerts
    /// were left for integrations that do not send them). After [`Notifier::stop`], jobs are
    /// still written (and delivered by the next start).
    pub async fn enqueue(&self, n: Notification) -> Result<usize, Error> {
        let inner = &self.inner;
        let receivers = inner.receivers.read().clone();
        let Some(r) = receivers.get(&n.receiver) else {
            inner.count_failed(&n.receiver, "unknown");
            tracing::error!(receiver = %n.receiver, group_key = %n.group_key, "notification for an unknown receiver dropped");
            return Err(Error::UnknownReceiver(n.receiver));
        };
        let now = inner.opts.clock.now_ms();
        let recs: Vec<JobRecord> = r
            .integrations
            .iter()
            .filter_map(|i| {
                for_integration(&n, i.send_resolved).map(|notification| JobRecord {
                    v: FORMAT_VERSION,
                    id: inner.queue.new_id(now),
                    receiver: r.name.clone(),
                    integration: i.key(),
                    enqueued_ms: now,
                    attempts: 0,
                    next_attempt_ms: now,
                    last_error: None,
                    notification,
                })
            })
            .collect();
        if recs.is_empty() {
            return Ok(0);
        }
        let to_write = recs.clone();
        inner.blocking(move |i| i.queue.write(&to_write)).await?;
        let count = recs.len();
        {
            let mut st = inner.state.lock();
            for rec in recs {
                inner.count_total(&rec.receiver, &rec.integration);
                st.jobs.insert(rec.id.clone(), Job { rec, in_flight: false });
            }
            inner.update_queue_gauge(&st);
        }
        inner.wake.notify_one();
        Ok(count)
    }

    /// Replaces the receivers (a reload). Queued jobs stay; one whose receiver integration no
    /// longer exists fails when it is next due.
    pub fn set_receivers(&self, receivers: Receivers) {
        *self.inner.receivers.write() = receivers;
        self.inner.wake.notify_one();
    }

    /// Stops delivering: attempts in flight finish (up to `shutdown_timeout`), everything else
    /// stays queued on disk. Idempotent.
    pub async fn stop(&self) {
        self.inner.state.lock().stopping = true;
        self.inner.wake.notify_one();
        if let Some(t) = self.task.lock().await.take() {
            let _ = t.await;
        }
    }

    pub fn queue_len(&self) -> usize {
        self.inner.state.lock().jobs.len()
    }

    /// Receivers, their integrations (masked targets) and delivery counts.
    pub fn status(&self) -> NotifierStatus {
        let receivers = self.inner.receivers.read().clone();
        let st = self.inner.state.lock();
        let mut pending: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
        for j in st.jobs.values() {
            let e = pending.entry((j.rec.receiver.as_str(), j.rec.integration.as_str())).or_default();
            e.0 += 1;
            e.1 += usize::from(j.in_flight);
        }
        let mut known = 0;
        let rs = receivers
            .iter()
            .map(|r| ReceiverStatus {
                name: r.name.clone(),
                integrations: r
                    .integrations
                    .iter()
                    .map(|i| {
                        let key = i.key();
                        let (p, f) = pending.get(&(r.name.as_str(), key.as_str())).copied().unwrap_or_default();
                        known += p;
                        let s = st.stats.get(&(r.name.clone(), key.clone())).cloned().unwrap_or_default();
                        IntegrationStatus {
                            name: key,
                            kind: i.kind.as_str(),
                            target: i.describe(),
                            send_resolved: i.send_resolved,
                            pending: p,
                            in_flight: f,
                            delivered: s.delivered,
                            failed: s.failed,
                            last_attempt_ms: s.last_attempt_ms,
                            last_success_ms: s.last_success_ms,
                            last_error: s.last_error,
                        }
                    })
                    .collect(),
            })
            .collect();
        NotifierStatus { queue_length: st.jobs.len(), receivers: rs, orphaned_jobs: st.jobs.len() - known }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // Without `stop`, the scheduler still ends (after its attempts in flight).
        self.inner.state.lock().stopping = true;
        self.inner.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::render::tests::{alert, notification};

    #[test]
    fn backoff_is_exponential_with_full_jitter() {
        let (b, m) = (Duration::from_secs(1), Duration::from_secs(300));
        let cap = |a| backoff(a, b, m, 1.0);
        assert_eq!([1, 2, 3, 4, 9, 10, 40, u32::MAX].map(|a| cap(a).as_secs()), [1, 2, 4, 8, 256, 300, 300, 300]);
        assert_eq!(backoff(0, b, m, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, b, m, 0.0), Duration::ZERO);
        assert_eq!(backoff(3, b, m, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(3, b, m, 7.0), Duration::from_secs(4));
    }

    #[test]
    fn resolved_alerts_are_left_out_unless_sent() {
        let n = notification(
            vec![
                alert(Status::Firing, &[("alertname", "A")], &[]),
                alert(Status::Resolved, &[("alertname", "B")], &[]),
            ],
            &[],
            &[],
        );
        assert_eq!(for_integration(&n, true).unwrap().alerts.len(), 2);
        let f = for_integration(&n, false).unwrap();
        assert_eq!((f.alerts.len(), f.status), (1, Status::Firing));
        let r = notification(vec![alert(Status::Resolved, &[("alertname", "B")], &[])], &[], &[]);
        assert!(for_integration(&r, false).is_none());
    }

    #[tokio::test]
    async fn manual_clock_wakes_sleepers() {
        let c = ManualClock::new(1000);
        let s = c.sleep_until(1500);
        let h = tokio::spawn(s);
        c.advance(Duration::from_millis(400));
        tokio::task::yield_now().await;
        assert!(!h.is_finished());
        c.advance(Duration::from_millis(100));
        tokio::time::timeout(Duration::from_secs(5), h).await.unwrap().unwrap();
        assert_eq!(c.now_ms(), 1500);
    }
}
