//! The notifications file: Alertmanager's layout, one YAML document with
//!
//! - `route`, `inhibit_rules`, `silences`, `dedup_window`: the routing part, parsed and
//!   validated by [`NotifyConfig::from_yaml`] (the dispatcher's own schema);
//! - `receivers: [{name, webhook_configs, discord_configs, slack_configs, email_configs}]` and
//!   `global` (`smtp_*`, `slack_api_url`): parsed here into [`Receivers`].
//!
//! [`NotificationsFile::load`] parses the document once into a generic tree (YAML syntax
//! errors with line and column), takes `global` and `receivers` out, hands the rest to
//! `NotifyConfig` (so its `deny_unknown_fields` still catches typos at the top level), and
//! checks that every receiver a route or an escalation step names exists. Secrets are resolved
//! at load ([`super::secret`]); a reload re-reads `*_file`s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rules::notify::{NotifyConfig, Route};
use serde::Deserialize;
use serde_json::Value;

use super::discord::{Discord, DiscordConfig};
use super::email::{Email, EmailConfig, EmailDefaults};
use super::secret::{self, Secret};
use super::slack::{Slack, SlackConfig};
use super::transport::{SendContext, SendError};
use super::webhook::{Webhook, WebhookConfig};
use super::{Error, Notification};

/// Loads notifications files.
pub struct NotificationsFile;

/// `global`: defaults of the email and Slack integrations (Alertmanager's names).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default)]
    pub smtp_from: Option<String>,
    #[serde(default)]
    pub smtp_smarthost: Option<String>,
    #[serde(default)]
    pub smtp_hello: Option<String>,
    #[serde(default)]
    pub smtp_auth_username: Option<String>,
    #[serde(default)]
    pub smtp_auth_password: Option<Secret>,
    #[serde(default)]
    pub smtp_auth_password_file: Option<PathBuf>,
    #[serde(default)]
    pub smtp_require_tls: Option<bool>,
    #[serde(default)]
    pub slack_api_url: Option<Secret>,
    #[serde(default)]
    pub slack_api_url_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverDef {
    name: String,
    #[serde(default)]
    webhook_configs: Vec<Value>,
    #[serde(default)]
    discord_configs: Vec<Value>,
    #[serde(default)]
    slack_configs: Vec<Value>,
    #[serde(default)]
    email_configs: Vec<Value>,
}

/// The kind of an integration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    Webhook,
    Discord,
    Slack,
    Email,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Webhook => "webhook",
            IntegrationKind::Discord => "discord",
            IntegrationKind::Slack => "slack",
            IntegrationKind::Email => "email",
        }
    }
}

#[derive(Debug)]
pub(crate) enum Target {
    Webhook(Webhook),
    Discord(Discord),
    Slack(Slack),
    Email(Email),
}

/// One configured destination of a receiver (`discord_configs[0]`, ...).
#[derive(Debug)]
pub struct Integration {
    pub kind: IntegrationKind,
    /// Position in its `<kind>_configs` list.
    pub index: usize,
    pub send_resolved: bool,
    /// Per-attempt timeout; `None`: the delivery default.
    pub timeout: Option<Duration>,
    pub(crate) target: Target,
}

impl Integration {
    /// `discord[0]`: names the integration in job files, logs, metrics and the status view.
    pub fn key(&self) -> String {
        format!("{}[{}]", self.kind.as_str(), self.index)
    }

    /// Where it delivers, with secrets masked.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Webhook(t) => t.describe(),
            Target::Discord(t) => t.describe(),
            Target::Slack(t) => t.describe(),
            Target::Email(t) => t.describe(),
        }
    }

    /// Renders and sends one notification (one attempt).
    pub async fn send(&self, n: &Notification, ctx: &SendContext<'_>) -> Result<(), SendError> {
        match &self.target {
            Target::Webhook(t) => t.send(n, ctx).await,
            Target::Discord(t) => t.send(n, ctx).await,
            Target::Slack(t) => t.send(n, ctx).await,
            Target::Email(t) => t.send(n, ctx).await,
        }
    }

    /// The JSON body an HTTP integration would send (for tests and previews); `None` for email.
    pub fn render_json(&self, n: &Notification, external_url: &str) -> Option<Value> {
        match &self.target {
            Target::Webhook(t) => serde_json::from_slice(&t.render(n, external_url)).ok(),
            Target::Discord(t) => Some(t.render(n)),
            Target::Slack(t) => Some(t.render(n)),
            Target::Email(_) => None,
        }
    }
}

/// A named receiver: zero or more integrations (none = notifications are dropped, as
/// Alertmanager's "null" receiver).
#[derive(Debug)]
pub struct Receiver {
    pub name: String,
    pub integrations: Vec<Integration>,
}

impl Receiver {
    pub fn integration(&self, key: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.key() == key)
    }
}

/// All receivers by name. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Receivers {
    by_name: Arc<BTreeMap<String, Receiver>>,
}

impl Receivers {
    pub fn get(&self, name: &str) -> Option<&Receiver> {
        self.by_name.get(name)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Receiver> {
        self.by_name.values()
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
    pub fn len(&self) -> usize {
        self.by_name.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Parses just a `receivers:` (+ `global:`) document; relative `*_file` paths are taken
    /// from `base_dir`.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<Receivers, Error> {
        let mut doc = parse_tree(text, "receivers")?;
        parse_receivers(&mut doc, base_dir, "receivers")
    }
}

fn parse_tree(text: &str, file: &str) -> Result<serde_json::Map<String, Value>, Error> {
    let v: Value =
        serde_saphyr::from_str(text).map_err(|e| Error::Yaml { file: file.to_string(), msg: e.to_string() })?;
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(serde_json::Map::new()),
        _ => Err(Error::Yaml { file: file.to_string(), msg: "the document must be a mapping".into() }),
    }
}

fn cfg_err(file: &str, path: String, msg: String) -> Error {
    Error::Config { file: file.to_string(), path, msg }
}

/// Strips serde_json's " at line 0 column 0" (positions in the re-serialised tree mean
/// nothing to the user).
fn clean(e: serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn parse_receivers(doc: &mut serde_json::Map<String, Value>, base_dir: &Path, file: &str) -> Result<Receivers, Error> {
    let global: GlobalConfig = match doc.remove("global") {
        None | Some(Value::Null) => GlobalConfig::default(),
        Some(v) => serde_json::from_value(v).map_err(|e| cfg_err(file, "global".into(), clean(e)))?,
    };
    let gsecret = |inline: Option<&Secret>, f: Option<&Path>, field: &str| {
        secret::resolve(inline, f, base_dir, field).map_err(|(p, m)| cfg_err(file, format!("global.{p}"), m))
    };
    let defaults = EmailDefaults {
        from: global.smtp_from.clone(),
        smarthost: global.smtp_smarthost.clone(),
        hello: global.smtp_hello.clone(),
        auth_username: global.smtp_auth_username.clone(),
        auth_password: gsecret(
            global.smtp_auth_password.as_ref(),
            global.smtp_auth_password_file.as_deref(),
            "smtp_auth_password",
        )?,
        require_tls: global.smtp_require_tls,
    };
    let slack_url = gsecret(global.slack_api_url.as_ref(), global.slack_api_url_file.as_deref(), "slack_api_url")?;
    let list = match doc.remove("receivers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(cfg_err(file, "receivers".into(), "must be a list".into())),
    };
    let mut by_name = BTreeMap::new();
    for (i, v) in list.into_iter().enumerate() {
        let at = format!("receivers[{i}]");
        let def: ReceiverDef = serde_json::from_value(v).map_err(|e| cfg_err(file, at.clone(), clean(e)))?;
        if def.name.is_empty() {
            return Err(cfg_err(file, format!("{at}.name"), "receiver name must not be empty".into()));
        }
        if by_name.contains_key(&def.name) {
            return Err(cfg_err(file, format!("{at}.name"), format!("duplicate receiver name {:?}", def.name)));
        }
        let mut integrations = Vec::new();
        let mut each = |kind: IntegrationKind, list: Vec<Value>, field: &str| -> Result<(), Error> {
            for (j, v) in list.into_iter().enumerate() {
                let p = format!("{at}.{field}[{j}]");
                let fe = |(sub, msg): (String, String)| cfg_err(file, format!("{p}.{sub}"), msg);
                let pe = |e: serde_json::Error| cfg_err(file, p.clone(), clean(e));
                let ms = |d: Option<rules::notify::duration::Duration>| {
                    d.map(|d| Duration::from_millis(d.ms().max(0) as u64))
                };
                let (send_resolved, timeout, target) = match kind {
                    IntegrationKind::Webhook => {
                        let c: WebhookConfig = serde_json::from_value(v).map_err(pe)?;
                        (c.send_resolved, ms(c.timeout), Target::Webhook(Webhook::build(&c, base_dir).map_err(fe)?))
                    }
                    IntegrationKind::Discord => {
                        let c: DiscordConfig = serde_json::from_value(v).map_err(pe)?;
                        (c.send_resolved, ms(c.timeout), Target::Discord(Discord::build(&c, base_dir).map_err(fe)?))
                    }
                    IntegrationKind::Slack => {
                        let c: SlackConfig = serde_json::from_value(v).map_err(pe)?;
                        (
                            c.send_resolved,
                            ms(c.timeout),
                            Target::Slack(Slack::build(&c, slack_url.as_ref(), base_dir).map_err(fe)?),
                        )
                    }
                    IntegrationKind::Email => {
                        let c: EmailConfig = serde_json::from_value(v).map_err(pe)?;
                        (
                            c.send_resolved,
                            ms(c.timeout),
                            Target::Email(Email::build(&c, &defaults, base_dir).map_err(fe)?),
                        )
                    }
                };
                integrations.push(Integration { kind, index: j, send_resolved, timeout, target });
            }
            Ok(())
        };
        each(IntegrationKind::Webhook, def.webhook_configs, "webhook_configs")?;
        each(IntegrationKind::Discord, def.discord_configs, "discord_configs")?;
        each(IntegrationKind::Slack, def.slack_configs, "slack_configs")?;
        each(IntegrationKind::Email, def.email_configs, "email_configs")?;
        by_name.insert(def.name.clone(), Receiver { name: def.name, integrations });
    }
    Ok(Receivers { by_name: Arc::new(by_name) })
}

/// Every receiver a route names (the route's own and its escalation steps'), with its path.
fn named_receivers(r: &Route, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(name) = &r.receiver {
        out.push((format!("{path}.receiver"), name.clone()));
    }
    for (i, s) in r.escalation.iter().flatten().enumerate() {
        out.push((format!("{path}.escalation[{i}].receiver"), s.receiver.clone()));
    }
    for (i, c) in r.routes.iter().enumerate() {
        named_receivers(c, &format!("{path}.routes[{i}]"), out);
    }
}

impl NotificationsFile {
    /// Reads and validates a notifications file. See the module docs.
    pub fn load(path: &Path) -> Result<(NotifyConfig, Receivers), Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, &path.display().to_string())
    }

    /// [`NotificationsFile::load`] on text; `file` names it in errors, `base_dir` anchors
    /// relative `*_file` paths.
    pub fn parse(text: &str, base_dir: &Path, file: &str) -> Result<(NotifyConfig, Receivers), Error> {
        let mut doc = parse_tree(text, file)?;
        let receivers = parse_receivers(&mut doc, base_dir, file)?;
        // JSON is YAML: the routing part goes to the dispatcher's parser unchanged.
        let rest = serde_json::to_string(&Value::Object(doc)).unwrap_or_else(|_| "{}".into());
        let notify =
            NotifyConfig::from_yaml(&rest).map_err(|source| Error::Notify { file: file.to_string(), source })?;
        let mut named = Vec::new();
        named_receivers(&notify.route, "route", &mut named);
        for (path, name) in named {
            if receivers.get(&name).is_none() {
                return Err(cfg_err(file, path, format!("undefined receiver {name:?} (not in receivers)")));
            }
        }
        Ok((notify, receivers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str, want: &str) {
        let got = match NotificationsFile::parse(yaml, Path::new("/nonexistent"), "n.yml") {
            Ok((n, r)) => {
                let rs: Vec<String> = r
                    .iter()
                    .map(|r| {
                        let is: Vec<String> =
                            r.integrations.iter().map(|i| format!("{}={}", i.key(), i.describe())).collect();
                        format!("{}[{}]", r.name, is.join(" "))
                    })
                    .collect();
                format!("ok route={} receivers={}", n.route.receiver.unwrap_or_default(), rs.join(","))
            }
            Err(e) => e.to_string(),
        };
        assert_eq!(got, want, "{yaml}");
    }

    #[test]
    fn loads_receivers_and_routes() {
        check(
            "route: {receiver: chat}\nreceivers:\n- name: chat\n  discord_configs: [{webhook_url: 'https://discord.example/api/webhooks/1/tok'}]\n  webhook_configs: [{url: 'http://127.0.0.1:1/hook'}]\n- name: 'null'\n",
            "ok route=chat receivers=chat[webhook[0]=http://127.0.0.1:1/<secret> discord[0]=https://discord.example/<secret>],null[]",
        );
        check(
            "global: {smtp_from: t@x.org, smtp_smarthost: 'mail:25', smtp_require_tls: false, slack_api_url: 'https://hooks.slack.example/x'}\nroute: {receiver: m}\nreceivers: [{name: m, email_configs: [{to: a@x.org}], slack_configs: [{channel: '#ops'}]}]",
            "ok route=m receivers=m[slack[0]=https://hooks.slack.example/<secret> #ops email[0]=smtp://mail:25 to a@x.org]",
        );
    }

    #[test]
    fn reports_precise_errors() {
        let recv = "receivers: [{name: a}]\n";
        check(
            &format!("{recv}route: {{receiver: b}}"),
            "n.yml: route.receiver: undefined receiver \"b\" (not in receivers)",
        );
        check(
            &format!(
                "{recv}route: {{receiver: a, routes: [{{matchers: [x=1], escalation: [{{after: 5m, receiver: pager}}]}}]}}"
            ),
            "n.yml: route.routes[0].escalation[0].receiver: undefined receiver \"pager\" (not in receivers)",
        );
        check(
            "receivers: [{name: a}, {name: a}]\nroute: {receiver: a}",
            "n.yml: receivers[1].name: duplicate receiver name \"a\"",
        );
        check(
            "receivers: [{name: ''}]\nroute: {receiver: a}",
            "n.yml: receivers[0].name: receiver name must not be empty",
        );
        check(
            "receivers: [{name: a, sms_configs: []}]\nroute: {receiver: a}",
            "n.yml: receivers[0]: unknown field `sms_configs`, expected one of `name`, `webhook_configs`, `discord_configs`, `slack_configs`, `email_configs`",
        );
        check(
            "receivers: [{name: a, webhook_configs: [{}]}]\nroute: {receiver: a}",
            "n.yml: receivers[0].webhook_configs[0].url: one of url and url_file must be set",
        );
        check(
            "receivers: [{name: a, webhook_configs: [{url: 'ftp://x/y'}]}]\nroute: {receiver: a}",
            "n.yml: receivers[0].webhook_configs[0].url: unsupported scheme \"ftp\"",
        );
        check(
            "receivers: [{name: a, webhook_configs: [{url: 'http://x/${TICKDB_TEST_UNSET_VAR}'}]}]\nroute: {receiver: a}",
            "n.yml: receivers[0].webhook_configs[0].url: environment variable TICKDB_TEST_UNSET_VAR is not set",
        );
        check(
            "receivers: [{name: a, webhook_configs: [{url: 'http://x/', url_file: f}]}]\nroute: {receiver: a}",
            "n.yml: receivers[0].webhook_configs[0].url: at most one of url and url_file must be set",
        );
        check(
            "receivers: [{name: a, discord_configs: [{webhook_url_file: missing.txt}]}]\nroute: {receiver: a}",
            "n.yml: receivers[0].discord_configs[0].webhook_url_file: cannot read /nonexistent/missing.txt: No such file or directory (os error 2)",
        );
        check(
            "receivers: [{name: a, slack_configs: [{}]}]\nroute: {receiver: a}",
            "n.yml: receivers[0].slack_configs[0].api_url: one of api_url, api_url_file or global.slack_api_url must be set",
        );
        check(
            "global: {smtp_frm: x}\nroute: {receiver: a}",
            "n.yml: global: unknown field `smtp_frm`, expected one of `smtp_from`, `smtp_smarthost`, `smtp_hello`, `smtp_auth_username`, `smtp_auth_password`, `smtp_auth_password_file`, `smtp_require_tls`, `slack_api_url`, `slack_api_url_file`",
        );
        // The routing part's own validation, and its unknown keys.
        check(
            &format!("{recv}route: {{receiver: a, group_interval: 0}}"),
            "n.yml: notify config: route.group_interval: group_interval cannot be zero",
        );
        let e =
            NotificationsFile::parse(&format!("{recv}route: {{receiver: a}}\ninhibit: []"), Path::new("."), "n.yml")
                .unwrap_err();
        assert!(e.to_string().contains("unknown field `inhibit`"), "{e}");
        let e = NotificationsFile::parse("route: [", Path::new("."), "n.yml").unwrap_err();
        assert!(matches!(e, Error::Yaml { .. }), "{e}");
        check("- a\n- b", "n.yml: the document must be a mapping");
    }

    #[test]
    fn secrets_come_from_files_and_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook.url"), "https://discord.example/api/webhooks/9/secret-token\n").unwrap();
        // (The environment cannot be set safely from a test; HOME is always there.)
        let yaml = "route: {receiver: a}\nreceivers:\n- name: a\n  discord_configs: [{webhook_url_file: hook.url}]\n  slack_configs: [{api_url: 'https://hooks.slack.example/${HOME}'}]\n";
        std::fs::write(dir.path().join("n.yml"), yaml).unwrap();
        let (_, r) = NotificationsFile::load(&dir.path().join("n.yml")).unwrap();
        let a = r.get("a").unwrap();
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("secret-token"), "{dbg}");
        match (&a.integrations[0].target, &a.integrations[1].target) {
            (Target::Discord(_), Target::Slack(_)) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(a.integrations[0].describe(), "https://discord.example/<secret>");
    }

    /// The full example of docs/notifications.md loads (with its files and variable provided).
    #[test]
    fn the_documented_example_loads() {
        let doc = include_str!("../../docs/notifications.md");
        let start = doc.find("```yaml\n").expect("a yaml block") + 8;
        let yaml = &doc[start..start + doc[start..].find("```").expect("end of block")];
        let dir = tempfile::tempdir().unwrap();
        for f in ["smtp.password", "slack.url", "db-discord.url", "sms.token"] {
            let v = if f.ends_with(".url") { "https://hooks.example/services/x" } else { "secret" };
            std::fs::write(dir.path().join(f), v).unwrap();
        }
        let yaml = yaml
            .replace("/etc/tickdb/", "")
            .replace("${DISCORD_TEAM_WEBHOOK}", "https://discord.example/api/webhooks/1/t");
        let (n, r) = NotificationsFile::parse(&yaml, dir.path(), "notifications.md").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.names().collect::<Vec<_>>(), ["blackhole", "db-discord", "db-email", "db-sms", "team-chat"]);
        assert_eq!(n.route.routes[0].escalation.as_ref().map(Vec::len), Some(2));
        let kinds: Vec<String> =
            r.iter().flat_map(|r| r.integrations.iter().map(|i| format!("{}:{}", r.name, i.describe()))).collect();
        assert_eq!(
            kinds,
            [
                "db-discord:https://hooks.example/<secret>",
                "db-email:smtp+starttls://mail.example.org:587 to db-oncall@example.org, dba-lead@example.org",
                "db-sms:https://sms-gateway.example.org/<secret>",
                "team-chat:https://discord.example/<secret>",
                "team-chat:https://hooks.example/<secret> #alerts",
            ]
        );
    }
}
