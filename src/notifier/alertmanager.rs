//! Forwarding alerts to external Alertmanagers, as Prometheus's notifier does.
//!
//! [`AlertmanagerForwarder::send`] appends to a bounded in-memory queue (capacity 10000 by
//! default; when full the oldest alerts are dropped and counted in
//! `tickdb_notifications_dropped_total`) and returns at once. A task takes batches of up to 64
//! alerts and `POST`s each batch as a JSON array of Alertmanager's `PostableAlert` (`labels`,
//! `annotations`, `startsAt`, `endsAt`, `generatorURL`) to `/api/v2/alerts` of **every**
//! configured Alertmanager concurrently, each request with a 10 s timeout. Per Alertmanager,
//! `tickdb_notifications_sent_total{alertmanager}` counts the alerts sent and
//! `tickdb_notifications_errors_total{alertmanager}` the alerts in failed requests.
//!
//! There is no retry and no disk queue, by design (Prometheus's): the rule engine re-sends
//! firing alerts every `resend_delay` with `endsAt` = now + 4 × max(resend delay, evaluation
//! interval), so a lost batch is repaired by the next one, and a resolved alert is sent with
//! its resolution time as `endsAt`. External labels are added to alerts that lack them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rules::alert::{Alert, LabelMap};
use serde::Serialize;
use storage::metrics::{Counter, DEFAULT_BUCKETS, Registry};
use tokio::sync::Notify;

use super::Error;
use super::render::go_time;
use super::transport::request_error;

/// Forwarder settings.
#[derive(Clone, Debug)]
pub struct ForwarderOptions {
    /// Added to every alert that has no label of that name.
    pub external_labels: LabelMap,
    /// Timeout of one POST (default 10s).
    pub timeout: Duration,
    /// Alerts held in memory at most (default 10000).
    pub queue_capacity: usize,
    /// Alerts per request at most (default 64).
    pub max_batch_size: usize,
    /// How long [`AlertmanagerForwarder::stop`] keeps sending what is queued (default 5s).
    pub drain_timeout: Duration,
}

impl Default for ForwarderOptions {
    fn default() -> Self {
        ForwarderOptions {
            external_labels: LabelMap::new(),
            timeout: Duration::from_secs(10),
            queue_capacity: 10_000,
            max_batch_size: 64,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// One Alertmanager endpoint.
#[derive(Clone, Debug)]
struct Target {
    /// `.../api/v2/alerts`, without user info.
    url: reqwest::Url,
    /// Basic auth from the URL's user info.
    auth: Option<(String, Option<super::Secret>)>,
}

/// Alertmanager's `PostableAlert`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    labels: LabelMap,
    annotations: &'a LabelMap,
    #[serde(skip_serializing_if = "Option::is_none")]
    starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
}

/// The JSON body for a batch.
pub fn render_batch(alerts: &[Alert], external_labels: &LabelMap) -> Vec<u8> {
    let v: Vec<PostableAlert> = alerts
        .iter()
        .map(|a| {
            let mut labels = a.labels.clone();
            for (k, v) in external_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            PostableAlert {
                labels,
                annotations: &a.annotations,
                starts_at: (a.starts_at_ms != 0).then(|| go_time(a.starts_at_ms)),
                ends_at: (a.ends_at_ms != 0).then(|| go_time(a.ends_at_ms)),
                generator_url: &a.generator_url,
            }
        })
        .collect();
    serde_json::to_vec(&v).unwrap_or_else(|_| b"[]".to_vec())
}

/// Normalises an Alertmanager URL to its alerts endpoint: `http://am:9093` and
/// `http://am:9093/prefix/` gain `/api/v2/alerts`; a URL already ending in it is kept.
fn target(url: &str) -> Result<Target, Error> {
    let bad = |msg: String| Error::BadUrl { url: super::secret::mask_url(url), msg };
    let mut u = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(bad(format!("unsupported scheme {:?}", u.scheme())));
    }
    if !u.path().trim_end_matches('/').ends_with("/api/v2/alerts") {
        let p = format!("{}/api/v2/alerts", u.path().trim_end_matches('/'));
        u.set_path(&p);
    }
    let auth = (!u.username().is_empty()).then(|| (u.username().to_string(), u.password().map(super::Secret::new)));
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Ok(Target { url: u, auth })
}

struct Queue {
    alerts: VecDeque<Alert>,
    stopping: bool,
}

/// Appends, dropping the oldest beyond `cap`; returns how many were dropped.
fn push_bounded(q: &mut VecDeque<Alert>, alerts: Vec<Alert>, cap: usize) -> usize {
    let mut dropped = 0;
    let skip = alerts.len().saturating_sub(cap);
    dropped += skip;
    q.extend(alerts.into_iter().skip(skip));
    while q.len() > cap {
        q.pop_front();
        dropped += 1;
    }
    dropped
}

struct Inner {
    opts: ForwarderOptions,
    targets: RwLock<Vec<Target>>,
    queue: Mutex<Queue>,
    wake: Notify,
    client: reqwest::Client,
    registry: Registry,
    dropped: Arc<Counter>,
}

impl Inner {
    fn gauges(&self, len: usize) {
        self.registry
            .gauge("tickdb_notifications_alertmanager_queue_length", "Alerts waiting to be sent to Alertmanagers.")
            .set(len as f64);
    }

    async fn send_all(&self, batch: &[Alert]) {
        let targets = self.targets.read().clone();
        if targets.is_empty() {
            return;
        }
        let body = render_batch(batch, &self.opts.external_labels);
        let mut set = tokio::task::JoinSet::new();
        for t in targets {
            let (client, body, timeout) = (self.client.clone(), body.clone(), self.opts.timeout);
            set.spawn(async move {
                let start = Instant::now();
                let mut req = client
                    .post(t.url.clone())
                    .timeout(timeout)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
                if let Some((user, pw)) = &t.auth {
                    req = req.basic_auth(user, pw.as_ref().map(|p| p.expose()));
                }
                let r = req.send().await.map_err(|e| request_error(e).msg);
                let r = match r {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        Ok(())
                    }
                    Ok(resp) => {
                        let code = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        Err(format!("bad response status {code}: {}", super::render::truncate(text.trim(), 200).0))
                    }
                    Err(e) => Err(e),
                };
                (t, r, start.elapsed())
            });
        }
        let n = batch.len() as u64;
        while let Some(res) = set.join_next().await {
            let Ok((t, r, took)) = res else { continue };
            let label = t.url.to_string();
            let l = [("alertmanager", label.as_str())];
            self.registry.counter_with("tickdb_notifications_sent_total", "Alerts sent to Alertmanagers.", &l).add(n);
            self.registry
                .histogram_with(
                    "tickdb_notifications_alertmanager_latency_seconds",
                    "Duration of one POST to an Alertmanager.",
                    DEFAULT_BUCKETS,
                    &l,
                )
                .observe(took.as_secs_f64());
            if let Err(e) = r {
                self.registry
                    .counter_with(
                        "tickdb_notifications_errors_total",
                        "Alerts in requests to Alertmanagers that failed.",
                        &l,
                    )
                    .add(n);
                tracing::warn!(alertmanager = %label, alerts = n, error = %e, "error sending alerts to Alertmanager");
            }
        }
    }

    fn next_batch(&self) -> (Vec<Alert>, bool) {
        let mut q = self.queue.lock();
        let k = q.alerts.len().min(self.opts.max_batch_size.max(1));
        let batch: Vec<Alert> = q.alerts.drain(..k).collect();
        self.gauges(q.alerts.len());
        (batch, q.stopping)
    }
}

async fn run(inner: Arc<Inner>) {
    loop {
        loop {
            let (batch, stopping) = inner.next_batch();
            if batch.is_empty() {
                if stopping {
                    return;
                }
                break;
            }
            inner.send_all(&batch).await;
        }
        inner.wake.notified().await;
    }
}

/// Forwards alerts to Alertmanagers. See the module docs.
pub struct AlertmanagerForwarder {
    inner: Arc<Inner>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl AlertmanagerForwarder {
    /// Starts the sending task (inside a tokio runtime). `urls` are Alertmanager base URLs
    /// (`http://am:9093`) or alerts endpoints; user info in a URL is sent as basic auth.
    pub fn new(urls: &[String], opts: ForwarderOptions, registry: &Registry) -> Result<AlertmanagerForwarder, Error> {
        let targets = urls.iter().map(|u| target(u)).collect::<Result<Vec<_>, _>>()?;
        let client = crate::tls::client_builder()
            .no_proxy()
            .user_agent(super::transport::user_agent())
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let dropped = registry
            .counter("tickdb_notifications_dropped_total", "Alerts dropped because the Alertmanager queue was full.");
        registry
            .gauge("tickdb_notifications_alertmanager_queue_capacity", "Capacity of the Alertmanager queue.")
            .set(opts.queue_capacity as f64);
        registry
            .gauge("tickdb_notifications_alertmanagers_discovered", "Configured Alertmanagers.")
            .set(targets.len() as f64);
        let inner = Arc::new(Inner {
            opts,
            targets: RwLock::new(targets),
            queue: Mutex::new(Queue { alerts: VecDeque::new(), stopping: false }),
            wake: Notify::new(),
            client,
            registry: registry.clone(),
            dropped,
        });
        inner.gauges(0);
        let task = tokio::spawn(run(inner.clone()));
        Ok(AlertmanagerForwarder { inner, task: tokio::sync::Mutex::new(Some(task)) })
    }

    /// Queues alerts for every Alertmanager; never blocks. Without Alertmanagers it does
    /// nothing.
    pub fn send(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() || self.inner.targets.read().is_empty() {
            return;
        }
        let dropped = {
            let mut q = self.inner.queue.lock();
            if q.stopping {
                return;
            }
            let d = push_bounded(&mut q.alerts, alerts, self.inner.opts.queue_capacity.max(1));
            self.inner.gauges(q.alerts.len());
            d
        };
        if dropped > 0 {
            self.inner.dropped.add(dropped as u64);
            tracing::warn!(dropped, "Alertmanager queue full, dropped the oldest alerts");
        }
        self.inner.wake.notify_one();
    }

    /// Replaces the Alertmanagers (a reload); a bad URL changes nothing.
    pub fn set_alertmanagers(&self, urls: &[String]) -> Result<(), Error> {
        let targets = urls.iter().map(|u| target(u)).collect::<Result<Vec<_>, _>>()?;
        self.inner
            .registry
            .gauge("tickdb_notifications_alertmanagers_discovered", "Configured Alertmanagers.")
            .set(targets.len() as f64);
        *self.inner.targets.write() = targets;
        Ok(())
    }

    /// The alerts endpoints, without user info.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.inner.targets.read().iter().map(|t| t.url.to_string()).collect()
    }

    pub fn queue_len(&self) -> usize {
        self.inner.queue.lock().alerts.len()
    }

    /// Sends what is queued (for up to `drain_timeout`), then stops. Idempotent.
    pub async fn stop(&self) {
        self.inner.queue.lock().stopping = true;
        self.inner.wake.notify_one();
        if let Some(mut t) = self.task.lock().await.take()
            && tokio::time::timeout(self.inner.opts.drain_timeout, &mut t).await.is_err()
        {
            t.abort();
            tracing::warn!(left = self.queue_len(), "stopped forwarding to Alertmanagers with alerts still queued");
        }
    }
}

impl Drop for AlertmanagerForwarder {
    fn drop(&mut self) {
        self.inner.queue.lock().stopping = true;
        self.inner.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str, starts: i64, ends: i64) -> Alert {
        Alert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: [("summary".to_string(), "s".to_string())].into(),
            starts_at_ms: starts,
            ends_at_ms: ends,
            resolved: false,
            generator_url: "http://tickdb/graph".into(),
        }
    }

    #[test]
    fn renders_postable_alerts() {
        let ext: LabelMap =
            [("cluster".to_string(), "eu1".to_string()), ("alertname".to_string(), "ignored".to_string())].into();
        let mut b = a("Up", 1_700_000_000_000, 1_700_000_240_000);
        b.generator_url.clear();
        let got = String::from_utf8(render_batch(
            &[a("Down", 1_700_000_000_000, 1_700_000_240_000), b, a("Zero", 0, 0)],
            &ext,
        ))
        .unwrap();
        expect_test::expect![[r#"[{"labels":{"alertname":"Down","cluster":"eu1"},"annotations":{"summary":"s"},"startsAt":"2023-11-14T22:13:20Z","endsAt":"2023-11-14T22:17:20Z","generatorURL":"http://tickdb/graph"},{"labels":{"alertname":"Up","cluster":"eu1"},"annotations":{"summary":"s"},"startsAt":"2023-11-14T22:13:20Z","endsAt":"2023-11-14T22:17:20Z"},{"labels":{"alertname":"Zero","cluster":"eu1"},"annotations":{"summary":"s"},"generatorURL":"http://tickdb/graph"}]"#]]
        .assert_eq(&got);
    }

    #[test]
    fn normalises_urls() {
        let check = |u: &str, want: &str| {
            let got = match target(u) {
                Ok(t) => format!("{} | {:?}", t.url, t.auth),
                Err(e) => e.to_string(),
            };
            assert_eq!(got, want, "{u}");
        };
        check("http://am:9093", "http://am:9093/api/v2/alerts | None");
        check("http://am:9093/prefix/", "http://am:9093/prefix/api/v2/alerts | None");
        check("https://u:p@am/api/v2/alerts", "https://am/api/v2/alerts | Some((\"u\", Some(<secret>)))");
        check("am:9093", "invalid alertmanager URL \"am:///<secret>\": unsupported scheme \"am\"");
        check("::", "invalid alertmanager URL \"<secret>\": relative URL without a base");
    }

    #[test]
    fn full_queue_drops_oldest() {
        let mut q = VecDeque::new();
        let batch = |r: std::ops::Range<i64>| r.map(|i| a(&i.to_string(), i, 0)).collect::<Vec<_>>();
        assert_eq!(push_bounded(&mut q, batch(0..3), 5), 0);
        assert_eq!(push_bounded(&mut q, batch(3..7), 5), 2);
        assert_eq!(q.iter().map(|a| a.starts_at_ms).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6]);
        assert_eq!(push_bounded(&mut q, batch(10..20), 5), 10);
        assert_eq!(q.iter().map(|a| a.starts_at_ms).collect::<Vec<_>>(), vec![15, 16, 17, 18, 19]);
    }
}
