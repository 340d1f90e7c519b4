//! Email over SMTP (lettre): a `multipart/alternative` message with a plain-text and an HTML
//! part listing the alerts, the subject Alertmanager's (`[FIRING:1] ...`).
//!
//! Connection security as Alertmanager: `require_tls` (default true) demands STARTTLS and fails
//! if the server does not offer it; `require_tls: false` talks plain SMTP; implicit TLS (SMTPS)
//! is used when `implicit_tls` is set, by default when the smarthost's port is 465. The
//! certificate is checked against `tls_config.server_name` (default: the smarthost's host),
//! with `tls_config.ca_file` roots added. Authentication (PLAIN or LOGIN) when
//! `auth_username` is set. SMTP 5xx replies are permanent failures; 4xx replies, connection
//! errors and timeouts are retried.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::render::{self, alert_name, detail_labels, go_time, pairs_text, split};
use super::secret::{self, Secret};
use super::transport::{SendContext, SendError, TlsConfig};
use super::{Notification, NotifiedAlert, Status};

/// One entry of `email_configs`. Unset `from`, `smarthost`, `hello`, `auth_*` and
/// `require_tls` come from `global.smtp_*`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients, comma separated (`a@example.org, Ops <ops@example.org>`).
    pub to: String,
    #[serde(default)]
    pub from: Option<String>,
    /// `host:port`.
    #[serde(default)]
    pub smarthost: Option<String>,
    /// The EHLO name (default `localhost`).
    #[serde(default)]
    pub hello: Option<String>,
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    pub auth_password: Option<Secret>,
    #[serde(default)]
    pub auth_password_file: Option<PathBuf>,
    #[serde(default)]
    pub require_tls: Option<bool>,
    /// SMTPS: TLS from the first byte (default: when the port is 465).
    #[serde(default)]
    pub implicit_tls: Option<bool>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Extra header fields (not `From`, `To`, `Subject` and the other structural ones).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Alertmanager's default for email: resolved alerts are not sent.
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub timeout: Option<rules::notify::duration::Duration>,
}

/// `global.smtp_*`, resolved.
#[derive(Clone, Debug, Default)]
pub struct EmailDefaults {
    pub from: Option<String>,
    pub smarthost: Option<String>,
    pub hello: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<Secret>,
    pub require_tls: Option<bool>,
}

/// Header fields the message builder owns.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "sender",
    "reply-to",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    None,
    StartTls,
    Implicit,
}

/// A resolved email integration. The SMTP transport (with its connection pool) is built on
/// first use, inside the runtime.
pub struct Email {
    to: Vec<Mailbox>,
    from: Mailbox,
    host: String,
    port: u16,
    hello: String,
    credentials: Option<(String, Secret)>,
    security: Security,
    tls: Option<TlsParameters>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").field("target", &self.describe()).field("auth", &self.credentials.is_some()).finish()
    }
}

type FieldError = (String, String);

fn err(field: &str, msg: impl Into<String>) -> FieldError {
    (field.to_string(), msg.into())
}

/// Splits `host:port` (`[v6]:port` too).
fn split_hostport(s: &str) -> Result<(String, u16), String> {
    let (h, p) = s.rsplit_once(':').ok_or_else(|| format!("{s:?} is not host:port"))?;
    let h = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(h);
    if h.is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    let p = p.parse::<u16>().map_err(|_| format!("invalid port in {s:?}"))?;
    Ok((h.to_string(), p))
}

impl Email {
    pub(crate) fn build(cfg: &EmailConfig, defaults: &EmailDefaults, base_dir: &Path) -> Result<Email, FieldError> {
        let to: Mailboxes = cfg.to.parse().map_err(|e| err("to", format!("invalid address list: {e}")))?;
        let to: Vec<Mailbox> = to.into_iter().collect();
        if to.is_empty() {
            return Err(err("to", "at least one recipient is required"));
        }
        let from = cfg
            .from
            .clone()
            .or_else(|| defaults.from.clone())
            .ok_or_else(|| err("from", "from (or global.smtp_from) must be set"))?;
        let from: Mailbox = from.parse().map_err(|e| err("from", format!("invalid address: {e}")))?;
        let smarthost = cfg
            .smarthost
            .clone()
            .or_else(|| defaults.smarthost.clone())
            .ok_or_else(|| err("smarthost", "smarthost (or global.smtp_smarthost) must be set"))?;
        let (host, port) = split_hostport(&smarthost).map_err(|e| err("smarthost", e))?;
        let hello = cfg.hello.clone().or_else(|| defaults.hello.clone()).unwrap_or_else(|| "localhost".into());
        let user = cfg.auth_username.clone().or_else(|| defaults.auth_username.clone());
        let password = match secret::resolve(
            cfg.auth_password.as_ref(),
            cfg.auth_password_file.as_deref(),
            base_dir,
            "auth_password",
        )? {
            Some(p) => Some(p),
            None => defaults.auth_password.clone(),
        };
        let credentials = match (user, password) {
            (Some(u), p) => Some((u, p.unwrap_or_default())),
            (None, Some(_)) => return Err(err("auth_username", "auth_password is set but auth_username is not")),
            (None, None) => None,
        };
        let implicit = cfg.implicit_tls.unwrap_or(port == 465);
        let require = cfg.require_tls.or(defaults.require_tls).unwrap_or(true);
        let security = if implicit {
            Security::Implicit
        } else if require {
            Security::StartTls
        } else {
            Security::None
        };
        let tls = if security == Security::None {
            None
        } else {
            crate::tls::install_crypto_provider();
            let name = cfg.tls_config.server_name.clone().unwrap_or_else(|| host.clone());
            let mut b =
                TlsParameters::builder(name).dangerous_accept_invalid_certs(cfg.tls_config.insecure_skip_verify);
            if let Some(pem) = cfg.tls_config.ca_pem(base_dir)? {
                let cert =
                    Certificate::from_pem(&pem).map_err(|e| err("tls_config.ca_file", format!("invalid PEM: {e}")))?;
                b = b.add_root_certificate(cert);
            }
            Some(b.build_rustls().map_err(|e| err("tls_config", e.to_string()))?)
        };
        let mut headers = Vec::new();
        for (k, v) in &cfg.headers {
            if RESERVED_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                return Err(err(&format!("headers.{k}"), "this header is set by tickdb"));
            }
            HeaderName::new_from_ascii(k.clone()).map_err(|_| err(&format!("headers.{k}"), "invalid header name"))?;
            if v.contains(['\r', '\n']) {
                return Err(err(&format!("headers.{k}"), "header values must be a single line"));
            }
            headers.push((k.clone(), v.clone()));
        }
        Ok(Email {
            to,
            from,
            host,
            port,
            hello,
            credentials,
            security,
            tls,
            headers,
            timeout: cfg.timeout.map(|d| Duration::from_millis(d.ms().max(0) as u64)),
            transport: OnceLock::new(),
        })
    }

    pub fn describe(&self) -> String {
        let to: Vec<String> = self.to.iter().map(|m| m.email.to_string()).collect();
        let sec = match self.security {
            Security::None => "smtp",
            Security::StartTls => "smtp+starttls",
            Security::Implicit => "smtps",
        };
        format!("{sec}://{}:{} to {}", self.host, self.port, to.join(", "))
    }

    fn transport(&self, timeout: Duration) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.transport.get_or_init(|| {
            let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
                .port(self.port)
                .hello_name(ClientId::Domain(self.hello.clone()))
                .timeout(Some(self.timeout.unwrap_or(timeout)));
            b = match (&self.security, &self.tls) {
                (Security::Implicit, Some(p)) => b.tls(Tls::Wrapper(p.clone())),
                (Security::StartTls, Some(p)) => b.tls(Tls::Required(p.clone())),
                _ => b.tls(Tls::None),
            };
            if let Some((u, p)) = &self.credentials {
                b = b.credentials(Credentials::new(u.clone(), p.expose().to_string()));
            }
            b.build()
        })
    }

    /// The message (public for tests; the `Date` and `Message-ID` are fresh each call).
    pub fn message(&self, n: &Notification, external_url: &str) -> Result<Message, String> {
        let mut b = Message::builder().from(self.from.clone()).subject(render::subject(n)).date_now().message_id(None);
        for t in &self.to {
            b = b.to(t.clone());
        }
        let mut raw = vec![("Auto-Submitted".to_string(), "auto-generated".to_string())];
        raw.push(("X-Tickdb-Receiver".to_string(), n.receiver.clone()));
        if n.escalation_level > 0 {
            raw.push(("X-Tickdb-Escalation-Level".to_string(), n.escalation_level.to_string()));
        }
        raw.extend(self.headers.iter().cloned());
        for (k, v) in raw {
            let name = HeaderName::new_from_ascii(k).map_err(|e| e.to_string())?;
            b = b.raw_header(HeaderValue::new(name, v.replace(['\r', '\n'], " ")));
        }
        b.multipart(MultiPart::alternative_plain_html(text_body(n, external_url), html_body(n, external_url)))
            .map_err(|e| e.to_string())
    }

    pub(crate) async fn send(&self, n: &Notification, ctx: &SendContext<'_>) -> Result<(), SendError> {
        let msg = self
            .message(n, ctx.external_url)
            .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))?;
        match self.transport(ctx.timeout).send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::retry(format!("SMTP: {}", error_chain(&e)))),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

fn counts(n: &Notification) -> String {
    let (f, r) = split(n);
    format!("{} firing, {} resolved", f.len(), r.len())
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// The plain-text part.
pub fn text_body(n: &Notification, external_url: &str) -> String {
    let mut s = format!("{}\n\nReceiver: {} ({})\n", render::subject(n), n.receiver, counts(n));
    if !n.group_labels.is_empty() {
        s.push_str(&format!("Group: {}\n", pairs_text(&n.group_labels)));
    }
    let (firing, resolved) = split(n);
    for (title, alerts) in [("FIRING", firing), ("RESOLVED", resolved)] {
        if alerts.is_empty() {
            continue;
        }
        s.push_str(&format!("\n{title}\n{}\n", "=".repeat(title.len())));
        let texts: Vec<String> = alerts.iter().map(|a| text_alert(a)).collect();
        s.push_str(&texts.join("\n"));
    }
    s.push_str("\n-- \nSent by tickdb");
    if !external_url.is_empty() {
        s.push_str(&format!(" ({external_url})"));
    }
    s.push_str(&format!("\nGroup key: {}\n", n.group_key));
    s
}

fn text_alert(a: &NotifiedAlert) -> String {
    let mut s = alert_name(a).to_string();
    if let Some(sev) = a.alert.labels.get("severity") {
        s.push_str(&format!(" ({sev})"));
    }
    s.push('\n');
    let labels = pairs_text(&detail_labels(a));
    let mut row = |k: &str, v: &str| {
        s.push_str(&format!("  {:<13}{}\n", format!("{k}:"), v.trim().replace('\n', "\n               ")))
    };
    if !labels.is_empty() {
        row("Labels", &labels);
    }
    for (k, title) in [("summary", "Summary"), ("description", "Description")] {
        if let Some(v) = a.alert.annotations.get(k) {
            row(title, v);
        }
    }
    for (k, v) in &a.alert.annotations {
        if k != "summary" && k != "description" {
            row(k, v);
        }
    }
    row("Started", &go_time(a.alert.starts_at_ms));
    if a.status == Status::Resolved {
        row("Ended", &go_time(a.alert.ends_at_ms));
    }
    if !a.alert.generator_url.is_empty() {
        row("Source", &a.alert.generator_url);
    }
    s
}

/// Escapes text for HTML content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn hex(c: u32) -> String {
    format!("#{c:06x}")
}

/// The HTML part: inline styles only (mail clients drop style sheets).
pub fn html_body(n: &Notification, external_url: &str) -> String {
    let e = html_escape;
    let mut s = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family:sans-serif;font-size:14px;color:#222\">\n",
    );
    s.push_str(&format!(
        "<h2 style=\"border-left:6px solid {};padding-left:8px\">{}</h2>\n",
        hex(render::color(n)),
        e(&render::subject(n))
    ));
    s.push_str(&format!("<p>Receiver <b>{}</b> · {}", e(&n.receiver), counts(n)));
    if !n.group_labels.is_empty() {
        s.push_str(&format!("<br>Group: <code>{}</code>", e(&pairs_text(&n.group_labels))));
    }
    s.push_str("</p>\n");
    let (firing, resolved) = split(n);
    for (title, alerts) in [("Firing", firing), ("Resolved", resolved)] {
        if alerts.is_empty() {
            continue;
        }
        s.push_str(&format!("<h3>{title}</h3>\n"));
        for a in alerts {
            let single = Notification { alerts: vec![(*a).clone()], status: a.status, ..n.clone() };
            s.push_str(&format!(
                "<table style=\"border-left:4px solid {};margin:0 0 12px 0;padding-left:8px\" cellpadding=\"2\">\n",
                hex(render::color(&single))
            ));
            let mut name = format!("<b>{}</b>", e(alert_name(a)));
            if let Some(sev) = a.alert.labels.get("severity") {
                name.push_str(&format!(" ({})", e(sev)));
            }
            s.push_str(&format!("<tr><td colspan=\"2\">{name}</td></tr>\n"));
            let mut row = |k: &str, v: String| {
                s.push_str(&format!("<tr><td style=\"color:#666;vertical-align:top\">{k}</td><td>{v}</td></tr>\n"))
            };
            let labels = pairs_text(&detail_labels(a));
            if !labels.is_empty() {
                row("Labels", format!("<code>{}</code>", e(&labels)));
            }
            for (k, v) in render::sorted_pairs(&a.alert.annotations) {
                let title = match k {
                    "summary" => "Summary",
                    "description" => "Description",
                    k => k,
                };
                row(&e(title), e(v).replace('\n', "<br>"));
            }
            row("Started", go_time(a.alert.starts_at_ms));
            if a.status == Status::Resolved {
                row("Ended", go_time(a.alert.ends_at_ms));
            }
            if is_http(&a.alert.generator_url) {
                row("Source", format!("<a href=\"{0}\">{0}</a>", e(&a.alert.generator_url)));
            }
            s.push_str("</table>\n");
        }
    }
    s.push_str("<p style=\"color:#888;font-size:12px\">Sent by tickdb");
    if is_http(external_url) {
        s.push_str(&format!(" (<a href=\"{0}\">{0}</a>)", e(external_url)));
    }
    s.push_str(&format!("<br>Group key: {}</p>\n</body></html>\n", e(&n.group_key)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::render::tests::{alert, notification};

    fn check_build(cfg: serde_json::Value, defaults: &EmailDefaults, want: &str) {
        let cfg: EmailConfig = serde_json::from_value(cfg).unwrap();
        let got = match Email::build(&cfg, defaults, Path::new(".")) {
            Ok(e) => e.describe(),
            Err((p, m)) => format!("{p}: {m}"),
        };
        assert_eq!(got, want);
    }

    #[test]
    fn builds_from_config_and_globals() {
        let none = EmailDefaults::default();
        check_build(
            serde_json::json!({"to": "a@x.org", "from": "t@x.org", "smarthost": "mail:587"}),
            &none,
            "smtp+starttls://mail:587 to a@x.org",
        );
        check_build(
            serde_json::json!({"to": "a@x.org, B <b@y.org>", "from": "t@x.org", "smarthost": "mail:465"}),
            &none,
            "smtps://mail:465 to a@x.org, b@y.org",
        );
        check_build(
            serde_json::json!({"to": "a@x.org", "from": "t@x.org", "smarthost": "[::1]:25", "require_tls": false}),
            &none,
            "smtp://::1:25 to a@x.org",
        );
        check_build(
            serde_json::json!({"to": "a@x.org", "from": "t@x.org", "smarthost": "mail"}),
            &none,
            "smarthost: \"mail\" is not host:port",
        );
        check_build(
            serde_json::json!({"to": "a@x.org", "smarthost": "mail:25"}),
            &none,
            "from: from (or global.smtp_from) must be set",
        );
        check_build(
            serde_json::json!({"to": "not an address", "from": "t@x.org", "smarthost": "m:25"}),
            &none,
            "to: invalid address list: Invalid input",
        );
        check_build(
            serde_json::json!({"to": "a@x.org", "from": "t@x.org", "smarthost": "m:25", "headers": {"Subject": "x"}}),
            &none,
            "headers.Subject: this header is set by tickdb",
        );
        check_build(
            serde_json::json!({"to": "a@x.org", "from": "t@x.org", "smarthost": "m:25", "auth_password": "p"}),
            &none,
            "auth_username: auth_password is set but auth_username is not",
        );
        let globals = EmailDefaults {
            from: Some("g@x.org".into()),
            smarthost: Some("relay:2525".into()),
            require_tls: Some(false),
            ..Default::default()
        };
        check_build(serde_json::json!({"to": "a@x.org"}), &globals, "smtp://relay:2525 to a@x.org");
    }

    #[test]
    fn bodies_list_alerts() {
        let n = notification(
            vec![
                alert(
                    Status::Firing,
                    &[("alertname", "DiskFull"), ("instance", "db1"), ("severity", "critical")],
                    &[("summary", "disk <95%> full"), ("runbook", "http://wiki/disk")],
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
        expect_test::expect![[r#"
            [FIRING:1] DiskFull (critical)

            Receiver: team (1 firing, 1 resolved)
            Group: alertname=DiskFull

            FIRING
            ======
            DiskFull (critical)
              Labels:      instance=db1, severity=critical
              Summary:     disk <95%> full
              runbook:     http://wiki/disk
              Started:     2023-11-14T22:13:20Z
              Source:      http://tickdb:9201/graph?g0.expr=up+%3D%3D+0

            RESOLVED
            ========
            DiskFull (critical)
              Labels:      instance=db2, severity=critical
              Started:     2023-11-14T22:13:20Z
              Ended:       2023-11-14T22:18:20.5Z
              Source:      http://tickdb:9201/graph?g0.expr=up+%3D%3D+0

            -- 
            Sent by tickdb (http://tickdb:9201)
            Group key: {}:{alertname="HighLatency"}
        "#]]
        .assert_eq(&text_body(&n, "http://tickdb:9201"));
        let html = html_body(&n, "http://tickdb:9201");
        assert!(
            html.contains(
                "<h2 style=\"border-left:6px solid #e01e2d;padding-left:8px\">[FIRING:1] DiskFull (critical)</h2>"
            ),
            "{html}"
        );
        assert!(html.contains("disk &lt;95%&gt; full"), "{html}");
        assert!(html.contains("border-left:4px solid #2ecc71"), "{html}");
    }
}
