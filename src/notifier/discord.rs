//! Discord webhooks: one message with one embed per notification.
//!
//! The embed's title is Alertmanager's subject (`[FIRING:2] HighLatency (api)`), its colour the
//! worst firing severity (critical red, warning orange, info blue; green when all resolved), its
//! description the alerts (name, severity, labels, `summary` and `description` annotations, a
//! link to the expression), firing first. Discord's limits are kept by construction: title 256,
//! description 4096, footer 2048, all embed text together 6000, `content` 2000 (counted in
//! UTF-16 units, cut on character boundaries); alerts that do not fit are counted in a last
//! "…and N more" line.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::render::{
    self, alert_name, color, detail_labels, go_time, pairs_text, severity, split, truncate, utf16_len,
};
use super::secret::{self, Secret, mask_url};
use super::transport::{HttpClient, HttpConfig, SendContext, SendError};
use super::webhook::check_url;
use super::{Notification, NotifiedAlert};

pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_CONTENT: usize = 2000;
pub const MAX_FOOTER: usize = 2048;
/// All of an embed's text together (and of all embeds of a message).
pub const MAX_EMBED_TOTAL: usize = 6000;
pub const MAX_EMBEDS: usize = 10;

/// One entry of `discord_configs`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Overrides the webhook's user name.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Fixed message text above the embed, e.g. a role mention `<@&123>`.
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub http_config: HttpConfig,
    #[serde(default)]
    pub timeout: Option<rules::notify::duration::Duration>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug)]
pub struct Discord {
    url: Secret,
    username: Option<String>,
    avatar_url: Option<String>,
    content: Option<String>,
    client: HttpClient,
}

#[derive(Serialize)]
struct Payload {
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar_url: Option<String>,
    embeds: Vec<Embed>,
}

#[derive(Serialize)]
struct Embed {
    title: String,
    description: String,
    color: u32,
    footer: Footer,
    timestamp: String,
}

#[derive(Serialize)]
struct Footer {
    text: String,
}

impl Discord {
    pub(crate) fn build(cfg: &DiscordConfig, base_dir: &std::path::Path) -> Result<Discord, (String, String)> {
        let url = secret::resolve(cfg.webhook_url.as_ref(), cfg.webhook_url_file.as_deref(), base_dir, "webhook_url")?
            .ok_or_else(|| {
                ("webhook_url".to_string(), "one of webhook_url and webhook_url_file must be set".to_string())
            })?;
        check_url(&url, "webhook_url")?;
        if let Some(c) = &cfg.content
            && utf16_len(c) > MAX_CONTENT
        {
            return Err(("content".into(), format!("longer than Discord's limit of {MAX_CONTENT} characters")));
        }
        let client = HttpClient::build(&cfg.http_config, base_dir)?;
        Ok(Discord {
            url,
            username: cfg.username.clone(),
            avatar_url: cfg.avatar_url.clone(),
            content: cfg.content.clone(),
            client,
        })
    }

    pub fn describe(&self) -> String {
        mask_url(self.url.expose())
    }

    /// The request body (JSON).
    pub fn render(&self, n: &Notification) -> serde_json::Value {
        let p = Payload {
            content: self.content.clone(),
            username: self.username.clone(),
            avatar_url: self.avatar_url.clone(),
            embeds: vec![embed(n)],
        };
        serde_json::to_value(&p).unwrap_or_default()
    }

    pub(crate) async fn send(&self, n: &Notification, ctx: &SendContext<'_>) -> Result<(), SendError> {
        let body = serde_json::to_vec(&self.render(n)).unwrap_or_default();
        self.client.post_json(&self.url, body, &[], ctx.timeout).await
    }
}

fn embed(n: &Notification) -> Embed {
    let (title, _) = truncate(&render::subject(n), MAX_TITLE);
    let (footer, _) = truncate(&format!("tickdb · receiver {}", n.receiver), MAX_FOOTER.min(200));
    let budget = MAX_DESCRIPTION.min(MAX_EMBED_TOTAL - utf16_len(&title) - utf16_len(&footer));
    Embed {
        description: description(n, budget),
        title,
        color: color(n),
        footer: Footer { text: footer },
        timestamp: go_time(n.created_ms),
    }
}

/// One alert's lines.
fn alert_block(a: &NotifiedAlert) -> String {
    let mut s = format!("• **{}**", truncate(alert_name(a), 200).0);
    if a.status == super::Status::Firing {
        let sev =
            a.alert.labels.get("severity").cloned().unwrap_or_else(|| format!("{:?}", severity(a)).to_lowercase());
        s.push_str(&format!(" `{}`", truncate(&sev, 40).0));
    }
    let labels = pairs_text(&detail_labels(a));
    if !labels.is_empty() {
        s.push_str(&format!(" — {}", truncate(&labels, 300).0));
    }
    s.push('\n');
    for (key, max) in [("summary", 300), ("description", 600)] {
        if let Some(v) = a.alert.annotations.get(key).filter(|v| !v.trim().is_empty()) {
            let one_line = v.trim().replace('\n', "\n> ");
            s.push_str(&format!("> {}\n", truncate(&one_line, max).0));
        }
    }
    let url = &a.alert.generator_url;
    if (url.starts_with("http://") || url.starts_with("https://")) && utf16_len(url) <= 1000 {
        s.push_str(&format!("[source]({url})\n"));
    }
    s
}

/// The alert list within `budget` UTF-16 units.
fn description(n: &Notification, budget: usize) -> String {
    let (firing, resolved) = split(n);
    let mut out = String::new();
    let total = n.alerts.len();
    let mut shown = 0;
    // Room kept for the "…and N more" line.
    const RESERVE: usize = 40;
    'sections: for (name, alerts) in [("Firing", firing), ("Resolved", resolved)] {
        if alerts.is_empty() {
            continue;
        }
        let header = format!("{}**{name}**\n", if out.is_empty() { "" } else { "\n" });
        if utf16_len(&out) + utf16_len(&header) + RESERVE > budget {
            break;
        }
        out.push_str(&header);
        for a in alerts {
            let block = alert_block(a);
            let remaining_after = total - shown - 1;
            let reserve = if remaining_after > 0 { RESERVE } else { 0 };
            if utf16_len(&out) + utf16_len(&block) + reserve > budget {
                break 'sections;
            }
            out.push_str(&block);
            shown += 1;
        }
    }
    if shown < total {
        out.push_str(&format!("…and {} more alert{}\n", total - shown, if total - shown == 1 { "" } else { "s" }));
    }
    truncate(out.trim_end(), budget).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::Status;
    use crate::notifier::render::tests::{alert, notification};

    fn discord() -> Discord {
        let cfg: DiscordConfig =
            serde_json::from_value(serde_json::json!({"webhook_url": "https://discord.example/api/webhooks/1/x"}))
                .unwrap();
        Discord::build(&cfg, std::path::Path::new(".")).unwrap()
    }

    #[test]
    fn renders_an_embed() {
        let n = notification(
            vec![
                alert(
                    Status::Firing,
                    &[("alertname", "HighLatency"), ("instance", "a"), ("severity", "warning")],
                    &[("summary", "p99 above 1s"), ("description", "p99 is 1.7s\nsince 10:00")],
                ),
                alert(
                    Status::Resolved,
                    &[("alertname", "HighLatency"), ("instance", "b"), ("severity", "warning")],
                    &[("summary", "p99 above 1s")],
                ),
            ],
            &[("alertname", "HighLatency")],
            &[("alertname", "HighLatency"), ("severity", "warning")],
        );
        let got = serde_json::to_string_pretty(&discord().render(&n)).unwrap();
        expect_test::expect![[r#"
            {
              "embeds": [
                {
                  "color": 15965202,
                  "description": "**Firing**\n• **HighLatency** `warning` — instance=a, severity=warning\n> p99 above 1s\n> p99 is 1.7s\n> since 10:00\n[source](http://tickdb:9201/graph?g0.expr=up+%3D%3D+0)\n\n**Resolved**\n• **HighLatency** — instance=b, severity=warning\n> p99 above 1s\n[source](http://tickdb:9201/graph?g0.expr=up+%3D%3D+0)",
                  "footer": {
                    "text": "tickdb · receiver team"
                  },
                  "timestamp": "2023-11-14T22:19:20Z",
                  "title": "[FIRING:1] HighLatency (warning)"
                }
              ]
            }"#]]
        .assert_eq(&got);
    }

    #[test]
    fn stays_within_discord_limits() {
        let long = "ü😀".repeat(3000);
        let alerts: Vec<_> = (0..500)
            .map(|i| {
                alert(
                    Status::Firing,
                    &[("alertname", &long), ("i", &i.to_string())],
                    &[("summary", &long), ("description", &long)],
                )
            })
            .collect();
        let n = notification(alerts, &[("alertname", &long)], &[("alertname", &long)]);
        let v = discord().render(&n);
        let e = &v["embeds"][0];
        let (title, desc, footer) =
            (e["title"].as_str().unwrap(), e["description"].as_str().unwrap(), e["footer"]["text"].as_str().unwrap());
        assert!(utf16_len(title) <= MAX_TITLE);
        assert!(utf16_len(desc) <= MAX_DESCRIPTION);
        assert!(utf16_len(title) + utf16_len(desc) + utf16_len(footer) <= MAX_EMBED_TOTAL);
        assert!(desc.ends_with("more alerts"), "{}", desc.chars().rev().take(100).collect::<String>());
        assert!(v["embeds"].as_array().unwrap().len() <= MAX_EMBEDS);
    }
}
