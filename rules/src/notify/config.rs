//! The notification configuration in Alertmanager's key names (`route`, `receiver`, `matchers`,
//! `match`, `match_re`, `continue`, `group_by`, `group_wait`, `group_interval`,
//! `repeat_interval`, `routes`, `inhibit_rules`), plus tickdb's `escalation`, `throttle`,
//! static `silences` and `dedup_window`; validated and compiled into a [`RouteNode`] tree in
//! which every node carries its effective (inherited) options.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::NotifyError;
use super::duration::Duration;
use super::matcher::{MatchOp, Matcher, parse_matchers, valid_label_name};

/// The whole notification section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub route: Route,
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRule>,
    /// Silences that always exist (ids `config-<index>`); API silences live in the state.
    #[serde(default)]
    pub silences: Vec<SilenceDef>,
    /// The same alert set is not sent to the same receiver twice within this window, even from
    /// another group (e.g. after a reload renamed the group). Default 5m.
    #[serde(default)]
    pub dedup_window: Option<Duration>,
}

/// A node of the routing tree. Unset options are inherited from the parent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Legacy equality matchers.
    #[serde(default, rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    /// Legacy regex matchers.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Label names, or `["..."]` for all labels.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default)]
    pub group_wait: Option<Duration>,
    #[serde(default)]
    pub group_interval: Option<Duration>,
    #[serde(default)]
    pub repeat_interval: Option<Duration>,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Unset: inherited; `[]`: no escalation below this node.
    #[serde(default)]
    pub escalation: Option<Vec<EscalationStep>>,
    #[serde(default)]
    pub throttle: Option<Throttle>,
}

/// After `after` since an alert's first notification, unacknowledged, it also goes to `receiver`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    pub after: Duration,
    pub receiver: String,
}

/// At most `max_notifications` per `window` per route and receiver; when the limit is hit, that
/// receiver gets nothing from that route for `cooldown`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    pub max_notifications: u32,
    #[serde(default = "default_window")]
    pub window: Duration,
    #[serde(default = "default_cooldown")]
    pub cooldown: Duration,
}

fn default_window() -> Duration {
    Duration::from_secs(60)
}
fn default_cooldown() -> Duration {
    Duration::from_secs(300)
}

/// Alerts matching `target_matchers` are muted while an alert matching `source_matchers` fires
/// with the same values of the `equal` labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    #[serde(default)]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A silence: alerts matching all `matchers` are muted in `[starts_at_ms, ends_at_ms)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceDef {
    pub matchers: Vec<String>,
    #[serde(default)]
    pub starts_at_ms: i64,
    #[serde(default = "forever")]
    pub ends_at_ms: i64,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

fn forever() -> i64 {
    i64::MAX
}

pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(300);

impl NotifyConfig {
    /// Parses YAML and validates.
    pub fn from_yaml(text: &str) -> Result<NotifyConfig, NotifyError> {
        let cfg: NotifyConfig = serde_saphyr::from_str(text).map_err(|e| NotifyError::Yaml(e.to_string()))?;
        cfg.compile()?;
        Ok(cfg)
    }

    /// Validates, as [`NotifyConfig::from_yaml`] and the dispatcher do.
    pub fn validate(&self) -> Result<(), NotifyError> {
        self.compile().map(|_| ())
    }

    /// Validates and compiles (the dispatcher's form).
    pub(crate) fn compile(&self) -> Result<Compiled, NotifyError> {
        let root = &self.route;
        let cerr = |path: &str, msg: String| NotifyError::Config { path: path.to_string(), msg };
        if root.receiver.as_deref().unwrap_or("").is_empty() {
            return Err(cerr("route.receiver", "root route must specify a default receiver".into()));
        }
        if !root.matchers.is_empty() || !root.match_eq.is_empty() || !root.match_re.is_empty() {
            return Err(cerr("route", "root route must not have any matchers".into()));
        }
        if root.continue_ {
            return Err(cerr("route.continue", "cannot have continue in root route".into()));
        }
        let defaults = Effective {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT.ms(),
            group_interval: DEFAULT_GROUP_INTERVAL.ms(),
            repeat_interval: DEFAULT_REPEAT_INTERVAL.ms(),
            escalation: Vec::new(),
            throttle: None,
        };
        let root = compile_route(root, &defaults, "route", "{}".to_string())?;
        let mut inhibit = Vec::new();
        for (i, r) in self.inhibit_rules.iter().enumerate() {
            let path = format!("inhibit_rules[{i}]");
            let source = compile_matchers(
                &r.source_matchers,
                &r.source_match,
                &r.source_match_re,
                &format!("{path}.source_matchers"),
            )?;
            let target = compile_matchers(
                &r.target_matchers,
                &r.target_match,
                &r.target_match_re,
                &format!("{path}.target_matchers"),
            )?;
            for n in &r.equal {
                if !valid_label_name(n) {
                    return Err(cerr(&format!("{path}.equal"), format!("invalid label name {n:?}")));
                }
            }
            inhibit.push(CompiledInhibit { source, target, equal: r.equal.clone() });
        }
        let mut silences = Vec::new();
        for (i, s) in self.silences.iter().enumerate() {
            let path = format!("silences[{i}]");
            silences.push(compile_silence(s).map_err(|msg| cerr(&path, msg))?);
        }
        let dedup_window = self.dedup_window.unwrap_or(DEFAULT_DEDUP_WINDOW).ms();
        Ok(Compiled { root, inhibit, silences, dedup_window })
    }
}

/// Checks a silence definition and compiles its matchers.
pub(crate) fn compile_silence(s: &SilenceDef) -> Result<Vec<Matcher>, String> {
    let mut ms = Vec::new();
    for m in &s.matchers {
        ms.extend(parse_matchers(m)?);
    }
    if ms.is_empty() {
        return Err("silence must have at least one matcher".into());
    }
    if ms.iter().all(|m| m.matches_value("")) {
        return Err("at least one matcher must not match the empty string".into());
    }
    if s.ends_at_ms <= s.starts_at_ms {
        return Err(format!("end time {} must be after start time {}", s.ends_at_ms, s.starts_at_ms));
    }
    Ok(ms)
}

fn compile_matchers(
    strs: &[String],
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
    path: &str,
) -> Result<Vec<Matcher>, NotifyError> {
    let cerr = |msg: String| NotifyError::Config { path: path.to_string(), msg };
    let mut out = Vec::new();
    for (i, s) in strs.iter().enumerate() {
        out.extend(parse_matchers(s).map_err(|e| NotifyError::Config { path: format!("{path}[{i}]"), msg: e })?);
    }
    for (k, v) in eq {
        out.push(Matcher::new(k, MatchOp::Equal, v).map_err(cerr)?);
    }
    for (k, v) in re {
        out.push(Matcher::new(k, MatchOp::Regex, v).map_err(cerr)?);
    }
    Ok(out)
}

/// How a route forms group labels.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum GroupBy {
    All,
    Labels(Vec<String>),
}

#[derive(Clone, Debug)]
pub(crate) struct Effective {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: i64,
    pub group_interval: i64,
    pub repeat_interval: i64,
    /// (after ms, receiver), sorted by `after`.
    pub escalation: Vec<(i64, String)>,
    /// (max, window ms, cooldown ms).
    pub throttle: Option<(u32, i64, i64)>,
}

/// A compiled route with its effective options.
#[derive(Clone, Debug)]
pub(crate) struct RouteNode {
    /// Unique path key (`{}` for the root, `{}/0{team="a"}` for its first child, ...).
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub opts: Effective,
    pub children: Vec<RouteNode>,
}

pub(crate) struct CompiledInhibit {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

pub(crate) struct Compiled {
    pub root: RouteNode,
    pub inhibit: Vec<CompiledInhibit>,
    pub silences: Vec<Vec<Matcher>>,
    pub dedup_window: i64,
}

fn compile_route(r: &Route, parent: &Effective, path: &str, id: String) -> Result<RouteNode, NotifyError> {
    let cerr = |field: &str, msg: String| NotifyError::Config { path: format!("{path}.{field}"), msg };
    let matchers = compile_matchers(&r.matchers, &r.match_eq, &r.match_re, &format!("{path}.matchers"))?;
    let mut opts = parent.clone();
    if let Some(rcv) = &r.receiver {
        if rcv.is_empty() {
            return Err(cerr("receiver", "receiver name must not be empty".into()));
        }
        opts.receiver = rcv.clone();
    }
    if let Some(gb) = &r.group_by {
        if gb.iter().any(|l| l == "...") {
            if gb.len() > 1 {
                return Err(cerr(
                    "group_by",
                    "cannot have wildcard group_by (`...`) and other labels at the same time".into(),
                ));
            }
            opts.group_by = GroupBy::All;
        } else {
            let mut seen = std::collections::BTreeSet::new();
            for l in gb {
                if !valid_label_name(l) {
                    return Err(cerr("group_by", format!("invalid label name {l:?} in group_by list")));
                }
                if !seen.insert(l) {
                    return Err(cerr("group_by", format!("duplicated label {l:?} in group_by")));
                }
            }
            opts.group_by = GroupBy::Labels(gb.clone());
        }
    }
    if let Some(d) = r.group_wait {
        opts.group_wait = d.ms();
    }
    if let Some(d) = r.group_interval {
        if d.ms() == 0 {
            return Err(cerr("group_interval", "group_interval cannot be zero".into()));
        }
        opts.group_interval = d.ms();
    }
    if let Some(d) = r.repeat_interval {
        if d.ms() == 0 {
            return Err(cerr("repeat_interval", "repeat_interval cannot be zero".into()));
        }
        opts.repeat_interval = d.ms();
    }
    if let Some(steps) = &r.escalation {
        let mut out = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            if s.receiver.is_empty() {
                return Err(cerr(&format!("escalation[{i}].receiver"), "receiver name must not be empty".into()));
            }
            if s.after.ms() <= 0 {
                return Err(cerr(
                    &format!("escalation[{i}].after"),
                    "escalation delay must be greater than zero".into(),
                ));
            }
            if let Some((prev, _)) = out.last().filter(|(p, _)| s.after.ms() <= *p) {
                return Err(cerr(
                    &format!("escalation[{i}].after"),
                    format!("escalation steps must have increasing delays ({} after {})", s.after, Duration(*prev)),
                ));
            }
            out.push((s.after.ms(), s.receiver.clone()));
        }
        opts.escalation = out;
    }
    if let Some(t) = &r.throttle {
        if t.max_notifications == 0 {
            return Err(cerr("throttle.max_notifications", "must be at least 1".into()));
        }
        if t.window.ms() <= 0 {
            return Err(cerr("throttle.window", "must be greater than zero".into()));
        }
        opts.throttle = Some((t.max_notifications, t.window.ms(), t.cooldown.ms()));
    }
    let mut children = Vec::new();
    for (i, c) in r.routes.iter().enumerate() {
        let ms = compile_matchers(&c.matchers, &c.match_eq, &c.match_re, &format!("{path}.routes[{i}].matchers"))?;
        let key = ms.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        children.push(compile_route(c, &opts, &format!("{path}.routes[{i}]"), format!("{id}/{i}{{{key}}}"))?);
    }
    Ok(RouteNode { id, matchers, continue_: r.continue_, opts, children })
}

impl RouteNode {
    /// Alertmanager's `Route.Match`: the deepest matching nodes, children in order, stopping at
    /// the first match unless it has `continue`; the node itself when no child matches.
    pub fn match_routes<'a>(&'a self, labels: &crate::alert::LabelMap, out: &mut Vec<&'a RouteNode>) -> bool {
        if !super::matcher::matches_all(&self.matchers, labels) {
            return false;
        }
        let before = out.len();
        for c in &self.children {
            if c.match_routes(labels, out) && !c.continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
        true
    }

    pub fn find(&self, id: &str) -> Option<&RouteNode> {
        if self.id == id {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(yaml: &str, expected: &str) {
        let got = match NotifyConfig::from_yaml(yaml) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expected, "{yaml}");
    }

    #[test]
    fn bad_configs_give_precise_errors() {
        check_err("route: {receiver: a}", "ok");
        check_err("route: {}", "notify config: route.receiver: root route must specify a default receiver");
        check_err(
            "route: {receiver: a, matchers: ['x=1']}",
            "notify config: route: root route must not have any matchers",
        );
        check_err(
            "route: {receiver: a, continue: true}",
            "notify config: route.continue: cannot have continue in root route",
        );
        check_err(
            "route: {receiver: a, routes: [{matchers: ['sev=~\"(\"']}]}",
            "notify config: route.routes[0].matchers[0]: invalid regular expression \"(\": error: unclosed group at offset 0 in \"sev=~\\\"(\\\"\"",
        );
        check_err(
            "route: {receiver: a, group_by: ['...', 'x']}",
            "notify config: route.group_by: cannot have wildcard group_by (`...`) and other labels at the same time",
        );
        check_err(
            "route: {receiver: a, group_by: ['x', 'x']}",
            "notify config: route.group_by: duplicated label \"x\" in group_by",
        );
        check_err(
            "route: {receiver: a, group_by: ['a-b']}",
            "notify config: route.group_by: invalid label name \"a-b\" in group_by list",
        );
        check_err(
            "route: {receiver: a, group_interval: 0}",
            "notify config: route.group_interval: group_interval cannot be zero",
        );
        check_err(
            "route: {receiver: a, escalation: [{after: 10m, receiver: b}, {after: 5m, receiver: c}]}",
            "notify config: route.escalation[1].after: escalation steps must have increasing delays (5m after 10m)",
        );
        check_err(
            "route: {receiver: a, throttle: {max_notifications: 0}}",
            "notify config: route.throttle.max_notifications: must be at least 1",
        );
        check_err(
            "route: {receiver: a}\nsilences: [{matchers: ['x=~\".*\"']}]",
            "notify config: silences[0]: at least one matcher must not match the empty string",
        );
        check_err(
            "route: {receiver: a}\ninhibit_rules: [{equal: ['a b']}]",
            "notify config: inhibit_rules[0].equal: invalid label name \"a b\"",
        );
        // Unknown keys, bad durations and wrong types come from the YAML layer; never a panic.
        for bad in [
            "route: {receiver: a, group_wiat: 1m}",
            "route: {receiver: a, group_wait: 5x}",
            "route: {receiver: a, routes: 3}",
            "route: [",
            "",
            "receivers: []",
        ] {
            let e = NotifyConfig::from_yaml(bad).expect_err(bad);
            assert!(matches!(e, NotifyError::Yaml(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn children_inherit_options() {
        let cfg = NotifyConfig::from_yaml(
            "route:\n  receiver: a\n  group_by: [instance]\n  group_wait: 10s\n  throttle: {max_notifications: 3}\n  routes:\n    - matchers: ['team=db']\n      repeat_interval: 1h\n      routes:\n        - match: {sev: page}\n          receiver: pager\n",
        )
        .unwrap();
        let c = cfg.compile().unwrap();
        let leaf = &c.root.children[0].children[0];
        assert_eq!(leaf.id, "{}/0{team=\"db\"}/0{sev=\"page\"}");
        assert_eq!(leaf.opts.receiver, "pager");
        assert_eq!(leaf.opts.group_by, GroupBy::Labels(vec!["instance".into()]));
        assert_eq!(
            (leaf.opts.group_wait, leaf.opts.group_interval, leaf.opts.repeat_interval),
            (10_000, 300_000, 3_600_000)
        );
        assert_eq!(leaf.opts.throttle, Some((3, 60_000, 300_000)));
    }
}
