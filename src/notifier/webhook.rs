//! The generic webhook: Alertmanager's webhook payload (version 4) byte for byte as
//! Alertmanager's Go encoder writes it, so every existing Alertmanager webhook consumer works.
//!
//! ```json
//! {"receiver":"…","status":"firing","alerts":[{"status":"firing","labels":{…},"annotations":{…},
//!  "startsAt":"2023-11-14T22:13:20Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"…",
//!  "fingerprint":"…"}],"groupLabels":{…},"commonLabels":{…},"commonAnnotations":{…},
//!  "externalURL":"…","version":"4","groupKey":"…","truncatedAlerts":0}
//! ```
//!
//! As in Alertmanager, a firing alert's `endsAt` is Go's zero time (its "valid until" is an
//! internal detail); `max_alerts` > 0 keeps the first N alerts and counts the rest in
//! `truncatedAlerts`. Requests carry `X-Tickdb-Notification-Id` (the same on every retry, for
//! receivers that de-duplicate) and, for escalations, `X-Tickdb-Escalation-Level`.

use std::path::PathBuf;

use rules::alert::LabelMap;
use serde::{Deserialize, Serialize};

use super::render::{GO_ZERO_TIME, go_json, go_time, status_str};
use super::secret::{self, Secret, mask_url};
use super::transport::{HttpClient, HttpConfig, SendContext, SendError};
use super::{Notification, Status};

/// One entry of `webhook_configs`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// 0 = all.
    #[serde(default)]
    pub max_alerts: u64,
    #[serde(default)]
    pub http_config: HttpConfig,
    #[serde(default)]
    pub timeout: Option<rules::notify::duration::Duration>,
}

fn yes() -> bool {
    true
}

/// A resolved webhook integration.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: Secret,
    max_alerts: u64,
    client: HttpClient,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: Vec<AlertJson<'a>>,
    group_labels: &'a LabelMap,
    common_labels: &'a LabelMap,
    common_annotations: &'a LabelMap,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertJson<'a> {
    status: &'static str,
    labels: &'a LabelMap,
    annotations: &'a LabelMap,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: String,
}

impl Webhook {
    pub(crate) fn build(cfg: &WebhookConfig, base_dir: &std::path::Path) -> Result<Webhook, (String, String)> {
        let url = secret::resolve(cfg.url.as_ref(), cfg.url_file.as_deref(), base_dir, "url")?
            .ok_or_else(|| ("url".to_string(), "one of url and url_file must be set".to_string()))?;
        check_url(&url, "url")?;
        let client = HttpClient::build(&cfg.http_config, base_dir)?;
        Ok(Webhook { url, max_alerts: cfg.max_alerts, client })
    }

    /// Where it goes, masked.
    pub fn describe(&self) -> String {
        mask_url(self.url.expose())
    }

    /// The request body.
    pub fn render(&self, n: &Notification, external_url: &str) -> Vec<u8> {
        render(n, external_url, self.max_alerts)
    }

    pub(crate) async fn send(&self, n: &Notification, ctx: &SendContext<'_>) -> Result<(), SendError> {
        let body = self.render(n, ctx.external_url);
        let mut headers = vec![("X-Tickdb-Notification-Id", ctx.job_id.to_string())];
        if n.escalation_level > 0 {
            headers.push(("X-Tickdb-Escalation-Level", n.escalation_level.to_string()));
        }
        self.client.post_json(&self.url, body, &headers, ctx.timeout).await
    }
}

/// Checks that a URL parses as http(s) (message without the URL itself).
pub(crate) fn check_url(url: &Secret, field: &str) -> Result<(), (String, String)> {
    match reqwest::Url::parse(url.expose()) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(u) => Err((field.to_string(), format!("unsupported scheme {:?}", u.scheme()))),
        Err(e) => Err((field.to_string(), format!("invalid URL: {e}"))),
    }
}

/// Alertmanager's webhook message for `n`.
pub fn render(n: &Notification, external_url: &str, max_alerts: u64) -> Vec<u8> {
    let keep = if max_alerts > 0 { (max_alerts as usize).min(n.alerts.len()) } else { n.alerts.len() };
    let alerts = n.alerts[..keep]
        .iter()
        .map(|a| AlertJson {
            status: status_str(a.status),
            labels: &a.alert.labels,
            annotations: &a.alert.annotations,
            starts_at: go_time(a.alert.starts_at_ms),
            ends_at: match a.status {
                Status::Firing => GO_ZERO_TIME.to_string(),
                Status::Resolved => go_time(a.alert.ends_at_ms),
            },
            generator_url: &a.alert.generator_url,
            fingerprint: a.fingerprint.to_string(),
        })
        .collect();
    let msg = Message {
        receiver: &n.receiver,
        status: status_str(n.status),
        alerts,
        group_labels: &n.group_labels,
        common_labels: &n.common_labels,
        common_annotations: &n.common_annotations,
        external_url,
        version: "4",
        group_key: &n.group_key,
        truncated_alerts: (n.alerts.len() - keep) as u64,
    };
    go_json(&msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::render::tests::{alert, notification};

    #[test]
    fn payload_is_alertmanagers() {
        let n = notification(
            vec![
                alert(Status::Firing, &[("alertname", "HighLatency"), ("instance", "a")], &[("summary", "p99 > 1s")]),
                alert(Status::Resolved, &[("alertname", "HighLatency"), ("instance", "b")], &[]),
            ],
            &[("alertname", "HighLatency")],
            &[("alertname", "HighLatency")],
        );
        let got = String::from_utf8(render(&n, "http://tickdb:9201", 0)).unwrap();
        expect_test::expect![[r#"
            {"receiver":"team","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighLatency","instance":"a"},"annotations":{"summary":"p99 \u003e 1s"},"startsAt":"2023-11-14T22:13:20Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://tickdb:9201/graph?g0.expr=up+%3D%3D+0","fingerprint":"beea03ab491303a4"},{"status":"resolved","labels":{"alertname":"HighLatency","instance":"b"},"annotations":{},"startsAt":"2023-11-14T22:13:20Z","endsAt":"2023-11-14T22:18:20.5Z","generatorURL":"http://tickdb:9201/graph?g0.expr=up+%3D%3D+0","fingerprint":"beec03ab4913867b"}],"groupLabels":{"alertname":"HighLatency"},"commonLabels":{"alertname":"HighLatency"},"commonAnnotations":{},"externalURL":"http://tickdb:9201","version":"4","groupKey":"{}:{alertname=\"HighLatency\"}","truncatedAlerts":0}
        "#]]
        .assert_eq(&got);
        let v: serde_json::Value = serde_json::from_slice(&render(&n, "", 1)).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncatedAlerts"], 1);
    }
}
