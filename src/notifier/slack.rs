//! Slack incoming webhooks: Block Kit `blocks` (a header with Alertmanager's subject, one
//! section per alert, a context line) plus the `text` fallback Slack shows in notifications.
//!
//! Slack's limits are kept by construction: at most 50 blocks (alerts beyond 47 are counted in
//! a last section), header text 150, section text 3000, `text` 3000 (UTF-16 units, cut on
//! character boundaries, never inside an `&amp;` entity). User text is escaped for mrkdwn
//! (`&`, `<`, `>`), so label values cannot inject mentions or links.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};

use super::render::{self, Severity, alert_name, detail_labels, severity, sorted_pairs, split, truncate};
use super::secret::{self, Secret, mask_url};
use super::transport::{HttpClient, HttpConfig, SendContext, SendError};
use super::webhook::check_url;
use super::{Notification, NotifiedAlert, Status};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_HEADER: usize = 150;
pub const MAX_SECTION: usize = 3000;
pub const MAX_TEXT: usize = 3000;

/// One entry of `slack_configs`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming webhook URL (default: `global.slack_api_url`).
    #[serde(default)]
    pub api_url: Option<Secret>,
    #[serde(default)]
    pub api_url_file: Option<PathBuf>,
    /// Alertmanager's default for Slack: resolved alerts are not sent.
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub http_config: HttpConfig,
    #[serde(default)]
    pub timeout: Option<rules::notify::duration::Duration>,
}

#[derive(Clone, Debug)]
pub struct Slack {
    url: Secret,
    channel: Option<String>,
    username: Option<String>,
    icon_emoji: Option<String>,
    icon_url: Option<String>,
    client: HttpClient,
}

impl Slack {
    /// `global_url` is `global.slack_api_url` (already resolved).
    pub(crate) fn build(
        cfg: &SlackConfig,
        global_url: Option<&Secret>,
        base_dir: &std::path::Path,
    ) -> Result<Slack, (String, String)> {
        let url = secret::resolve(cfg.api_url.as_ref(), cfg.api_url_file.as_deref(), base_dir, "api_url")?
            .or_else(|| global_url.cloned())
            .ok_or_else(|| {
                ("api_url".to_string(), "one of api_url, api_url_file or global.slack_api_url must be set".to_string())
            })?;
        check_url(&url, "api_url")?;
        let client = HttpClient::build(&cfg.http_config, base_dir)?;
        Ok(Slack {
            url,
            channel: cfg.channel.clone(),
            username: cfg.username.clone(),
            icon_emoji: cfg.icon_emoji.clone(),
            icon_url: cfg.icon_url.clone(),
            client,
        })
    }

    pub fn describe(&self) -> String {
        let ch = self.channel.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
        format!("{}{ch}", mask_url(self.url.expose()))
    }

    /// The request body (JSON).
    pub fn render(&self, n: &Notification) -> Value {
        let mut p = serde_json::Map::new();
        for (k, v) in [
            ("channel", &self.channel),
            ("username", &self.username),
            ("icon_emoji", &self.icon_emoji),
            ("icon_url", &self.icon_url),
        ] {
            if let Some(v) = v {
                p.insert(k.into(), Value::String(v.clone()));
            }
        }
        p.insert("text".into(), Value::String(truncate(&fallback(n), MAX_TEXT).0));
        p.insert("blocks".into(), Value::Array(blocks(n)));
        Value::Object(p)
    }

    pub(crate) async fn send(&self, n: &Notification, ctx: &SendContext<'_>) -> Result<(), SendError> {
        let body = serde_json::to_vec(&self.render(n)).unwrap_or_default();
        self.client.post_json(&self.url, body, &[], ctx.timeout).await
    }
}

/// Escapes text for mrkdwn.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Truncates escaped mrkdwn, never leaving half an entity.
fn truncate_escaped(s: &str, max: usize) -> String {
    let (mut t, cut) = truncate(s, max);
    if cut {
        t.pop(); // the ellipsis
        if let Some(amp) = t.rfind('&')
            && !t[amp..].contains(';')
        {
            t.truncate(amp);
        }
        t.push('…');
    }
    t
}

/// A `<url|text>` link, or "" when the URL would break the syntax.
fn link(url: &str, text: &str) -> String {
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(['|', '<', '>', ' '])
        || url.len() > 1500
    {
        return String::new();
    }
    format!("<{}|{text}>", url.replace('&', "&amp;"))
}

fn fallback(n: &Notification) -> String {
    let (f, r) = split(n);
    let mut s = render::subject(n);
    s.push_str(&format!(" — {} firing, {} resolved", f.len(), r.len()));
    s
}

fn emoji(a: &NotifiedAlert) -> &'static str {
    if a.status == Status::Resolved {
        return ":large_green_circle:";
    }
    match severity(a) {
        Severity::Critical => ":red_circle:",
        Severity::Warning => ":large_orange_circle:",
        Severity::Info => ":large_blue_circle:",
    }
}

fn section(a: &NotifiedAlert) -> Value {
    let status = if a.status == Status::Firing { "FIRING" } else { "RESOLVED" };
    let mut lines = vec![format!("{} *{status}* *{}*", emoji(a), escape(&truncate(alert_name(a), 200).0))];
    if let Some(sev) = a.alert.labels.get("severity") {
        lines[0].push_str(&format!(" · `{}`", escape(&truncate(sev, 40).0)));
    }
    for (key, title, max) in [("summary", "Summary", 500), ("description", "Description", 1200)] {
        if let Some(v) = a.alert.annotations.get(key).filter(|v| !v.trim().is_empty()) {
            lines.push(format!("*{title}:* {}", escape(&truncate(v.trim(), max).0)));
        }
    }
    let labels = detail_labels(a);
    if !labels.is_empty() {
        let l: Vec<String> =
            sorted_pairs(&labels).iter().map(|(k, v)| format!("`{}={}`", escape(k), escape(v))).collect();
        lines.push(format!("*Labels:* {}", truncate_escaped(&l.join(" "), 800)));
    }
    let src = link(&a.alert.generator_url, "Source");
    if !src.is_empty() {
        lines.push(src);
    }
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_escaped(&lines.join("\n"), MAX_SECTION)}})
}

fn blocks(n: &Notification) -> Vec<Value> {
    let (title, _) = truncate(&render::subject(n), MAX_HEADER);
    let mut out = vec![json!({"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}})];
    // Header + context + the alerts (the last one may be the "…and N more" section).
    let room = MAX_BLOCKS - 2;
    let (firing, resolved) = split(n);
    let ordered: Vec<&NotifiedAlert> = firing.into_iter().chain(resolved).collect();
    let shown = if ordered.len() > room { room - 1 } else { ordered.len() };
    out.extend(ordered[..shown].iter().map(|a| section(a)));
    if shown < ordered.len() {
        let more = ordered.len() - shown;
        out.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("…and {more} more alerts")}}));
    }
    let (f, r) = (
        n.alerts.iter().filter(|a| a.status == Status::Firing).count(),
        n.alerts.iter().filter(|a| a.status == Status::Resolved).count(),
    );
    let mut ctx = format!("tickdb · receiver *{}* · {f} firing, {r} resolved", escape(&truncate(&n.receiver, 200).0));
    if n.escalation_level > 0 {
        ctx.push_str(&format!(" · escalation level {}", n.escalation_level));
    }
    out.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate_escaped(&ctx, MAX_SECTION)}]}));
    debug_assert!(out.len() <= MAX_BLOCKS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::render::tests::{alert, notification};
    use crate::notifier::render::utf16_len;

    fn slack() -> Slack {
        let cfg: SlackConfig = serde_json::from_value(
            json!({"api_url": "https://hooks.slack.example/services/T/B/x", "channel": "#alerts"}),
        )
        .unwrap();
        Slack::build(&cfg, None, std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn renders_blocks() {
        let n = notification(
            vec![
                alert(
                    Status::Firing,
                    &[("alertname", "DiskFull"), ("instance", "db<1>"), ("severity", "critical")],
                    &[("summary", "disk & inode use > 95%")],
                ),
                alert(
                    Status::Resolved,
                    &[("alertname", "DiskFull"), ("instance", "db2"), ("severity", "critical")],
                    &[],
                ),
            ],
            &[("alertname", "DiskFull")],
            &[("alertname", "DiskFull"), ("severity", "critical")],
        );
        let got = serde_json::to_string_pretty(&slack().render(&n)).unwrap();
        expect_test::expect![[r##"
            {
              "blocks": [
                {
                  "text": {
                    "emoji": true,
                    "text": "[FIRING:1] DiskFull (critical)",
                    "type": "plain_text"
                  },
                  "type": "header"
                },
                {
                  "text": {
                    "text": ":red_circle: *FIRING* *DiskFull* · `critical`\n*Summary:* disk &amp; inode use &gt; 95%\n*Labels:* `instance=db&lt;1&gt;` `severity=critical`\n<http://tickdb:9201/graph?g0.expr=up+%3D%3D+0|Source>",
                    "type": "mrkdwn"
                  },
                  "type": "section"
                },
                {
                  "text": {
                    "text": ":large_green_circle: *RESOLVED* *DiskFull* · `critical`\n*Labels:* `instance=db2` `severity=critical`\n<http://tickdb:9201/graph?g0.expr=up+%3D%3D+0|Source>",
                    "type": "mrkdwn"
                  },
                  "type": "section"
                },
                {
                  "elements": [
                    {
                      "text": "tickdb · receiver *team* · 1 firing, 1 resolved",
                      "type": "mrkdwn"
                    }
                  ],
                  "type": "context"
                }
              ],
              "channel": "#alerts",
              "text": "[FIRING:1] DiskFull (critical) — 1 firing, 1 resolved"
            }"##]]
        .assert_eq(&got);
    }

    #[test]
    fn stays_within_slack_limits() {
        let long = "&<>😀".repeat(2000);
        let alerts: Vec<_> = (0..120)
            .map(|i| {
                alert(
                    Status::Firing,
                    &[("alertname", &long), ("i", &i.to_string()), ("x", &long)],
                    &[("summary", &long), ("description", &long)],
                )
            })
            .collect();
        let n = notification(alerts, &[("alertname", &long)], &[("alertname", &long)]);
        let v = slack().render(&n);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert!(utf16_len(blocks[0]["text"]["text"].as_str().unwrap()) <= MAX_HEADER);
        for b in &blocks[1..MAX_BLOCKS - 1] {
            let t = b["text"]["text"].as_str().unwrap();
            assert!(utf16_len(t) <= MAX_SECTION);
            // Every `&` starts a complete entity.
            for (i, _) in t.match_indices('&') {
                let rest = &t[i..];
                assert!(
                    rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;"),
                    "{}",
                    rest.chars().take(10).collect::<String>()
                );
            }
        }
        assert_eq!(blocks[MAX_BLOCKS - 2]["text"]["text"], "…and 73 more alerts");
        assert!(utf16_len(v["text"].as_str().unwrap()) <= MAX_TEXT);
    }
}
