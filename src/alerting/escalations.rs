//! Escalation policies changed through the admin API, kept over the notifications file's.
//!
//! A route of the notifications file is named by its path in the routing tree, as the file's
//! error messages name it: `route`, `route.routes[0]`, `route.routes[0].routes[2]`. An
//! override replaces that route's `escalation` steps (`[]`: none below it); removing the
//! override brings back what the file says. Overrides are kept in
//! `<data_dir>/alerting/escalations.json` (written atomically) and applied on top of the file at
//! start and at every reload; one naming a route or receiver the file no longer has is skipped
//! with an error in the log, and shown by the API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rules::notify::{EscalationStep, NotifyConfig, Route};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// The overrides: route path → its escalation steps.
pub type Overrides = BTreeMap<String, Vec<EscalationStep>>;

/// The file's routing, the receivers it defines and the overrides.
#[derive(Clone)]
pub struct Escalations {
    path: PathBuf,
    file_cfg: NotifyConfig,
    receivers: BTreeSet<String>,
    overrides: Overrides,
}

/// Every route of the tree with its path, depth first.
fn walk<'a>(r: &'a Route, path: String, out: &mut Vec<(String, &'a Route)>) {
    out.push((path.clone(), r));
    for (i, c) in r.routes.iter().enumerate() {
        walk(c, format!("{path}.routes[{i}]"), out);
    }
}

/// The route at `path` (`route`, `route.routes[i]`...).
fn route_at_mut<'a>(root: &'a mut Route, path: &str) -> Option<&'a mut Route> {
    let mut rest = path.strip_prefix("route")?;
    let mut cur = root;
    while !rest.is_empty() {
        let after = rest.strip_prefix(".routes[")?;
        let (idx, tail) = after.split_once(']')?;
        if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) || (idx.len() > 1 && idx.starts_with('0')) {
            return None;
        }
        cur = cur.routes.get_mut(idx.parse::<usize>().ok()?)?;
        rest = tail;
    }
    Some(cur)
}

impl Escalations {
    /// Reads the overrides next to the dispatcher's state (`state_dir/escalations.json`).
    pub fn open(state_dir: &Path, file_cfg: NotifyConfig, receivers: BTreeSet<String>) -> Escalations {
        let path = state_dir.join("escalations.json");
        let overrides = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::error!(path = %path.display(), error = %e, "escalation overrides unreadable; using the file's");
                Overrides::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Overrides::new(),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "escalation overrides unreadable; using the file's");
                Overrides::new()
            }
        };
        Escalations { path, file_cfg, receivers, overrides }
    }

    /// A new notifications file (reload): the overrides stay.
    pub fn set_file(&mut self, file_cfg: NotifyConfig, receivers: BTreeSet<String>) {
        self.file_cfg = file_cfg;
        self.receivers = receivers;
    }

    /// Why `steps` cannot be set on `route`, if they cannot.
    fn check(&self, route: &str, steps: &[EscalationStep]) -> Result<(), String> {
        let mut probe = self.file_cfg.clone();
        let node = route_at_mut(&mut probe.route, route)
            .ok_or_else(|| format!("no route {route:?} in the notifications file"))?;
        for (i, s) in steps.iter().enumerate() {
            if !self.receivers.contains(&s.receiver) {
                return Err(format!(
                    "escalation[{i}].receiver: undefined receiver {:?} (not in receivers)",
                    s.receiver
                ));
            }
        }
        // The dispatcher's own checks (delays positive and increasing).
        node.escalation = Some(steps.to_vec());
        probe.validate().map_err(|e| e.to_string())
    }

    /// The file's routing with every applicable override applied (others logged, skipped).
    pub fn effective(&self) -> NotifyConfig {
        let mut cfg = self.file_cfg.clone();
        for (route, steps) in &self.overrides {
            match self.check(route, steps) {
                Ok(()) => {
                    if let Some(r) = route_at_mut(&mut cfg.route, route) {
                        r.escalation = Some(steps.clone());
                    }
                }
                Err(e) => tracing::error!(route = %route, error = %e, "escalation override skipped"),
            }
        }
        cfg
    }

    /// The configuration with `route`'s override set to `steps` (`None`: removed), checked
    /// against the file; nothing changes until [`Escalations::commit`].
    pub fn proposed(&self, route: &str, steps: Option<&[EscalationStep]>) -> Result<(NotifyConfig, Overrides), String> {
        let mut next = self.overrides.clone();
        match steps {
            Some(s) => {
                self.check(route, s)?;
                next.insert(route.to_string(), s.to_vec());
            }
            None => {
                if next.remove(route).is_none() {
                    return Err(format!("route {route:?} has no escalation override"));
                }
            }
        }
        let mut cfg = self.file_cfg.clone();
        for (r, s) in &next {
            if self.check(r, s).is_ok()
                && let Some(node) = route_at_mut(&mut cfg.route, r)
            {
                node.escalation = Some(s.clone());
            }
        }
        Ok((cfg, next))
    }

    /// Persists `next` (atomically) and makes it the overrides.
    pub fn commit(&mut self, next: Overrides) -> std::io::Result<()> {
        super::write_json_atomic(&self.path, &next)?;
        self.overrides = next;
        Ok(())
    }

    /// The effective escalation of `route` as JSON (for the audit entry's before/after).
    pub fn describe_route(&self, route: &str) -> Json {
        let cfg = self.effective();
        let mut all = Vec::new();
        walk(&cfg.route, "route".into(), &mut all);
        all.into_iter().find(|(p, _)| p == route).map_or(Json::Null, |(_, r)| steps_json(r.escalation.as_deref()))
    }

    /// Every route: path, receiver, matchers, the file's steps, the override and the effect.
    pub fn view(&self) -> Json {
        let mut file_routes = Vec::new();
        walk(&self.file_cfg.route, "route".into(), &mut file_routes);
        let effective = self.effective();
        let mut eff_routes = Vec::new();
        walk(&effective.route, "route".into(), &mut eff_routes);
        let routes: Vec<Json> = file_routes
            .iter()
            .zip(&eff_routes)
            .map(|((path, f), (_, e))| {
                let mut matchers = f.matchers.clone();
                matchers.extend(f.match_eq.iter().map(|(k, v)| format!("{k}={v:?}")));
                matchers.extend(f.match_re.iter().map(|(k, v)| format!("{k}=~{v:?}")));
                json!({
                    "route": path,
                    "receiver": f.receiver,
                    "matchers": matchers,
                    "file": steps_json(f.escalation.as_deref()),
                    "override": self.overrides.get(path).map(|s| steps_json(Some(s))),
                    "effective": steps_json(e.escalation.as_deref()),
                })
            })
            .collect();
        let orphans: Vec<&String> =
            self.overrides.keys().filter(|p| !file_routes.iter().any(|(fp, _)| fp == *p)).collect();
        json!({"routes": routes, "skipped_overrides": orphans})
    }
}

/// Steps as `[{"after": "5m", "receiver": "pager"}]`; `null` when unset (inherited).
pub fn steps_json(steps: Option<&[EscalationStep]>) -> Json {
    steps.map_or(Json::Null, |s| {
        Json::Array(s.iter().map(|x| json!({"after": x.after.to_string(), "receiver": x.receiver})).collect())
    })
}

/// A request body's steps.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepsBody {
    pub route: String,
    pub steps: Vec<EscalationStep>,
    #[serde(default)]
    pub justification: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "route:\n  receiver: ops\n  routes:\n    - matchers: [game=\"mc\"]\n      receiver: mc\n      escalation: [{after: 10m, receiver: pager}]\n    - receiver: web\n      routes:\n        - receiver: ops\n";

    fn esc(dir: &Path) -> Escalations {
        let receivers = ["ops", "mc", "web", "pager", "boss"].iter().map(|s| s.to_string()).collect();
        Escalations::open(dir, NotifyConfig::from_yaml(CFG).unwrap(), receivers)
    }

    fn step(after: &str, receiver: &str) -> EscalationStep {
        serde_json::from_value(json!({"after": after, "receiver": receiver})).unwrap()
    }

    #[test]
    fn paths_name_routes_as_the_file_errors_do() {
        let mut cfg = NotifyConfig::from_yaml(CFG).unwrap();
        assert_eq!(route_at_mut(&mut cfg.route, "route").unwrap().receiver.as_deref(), Some("ops"));
        assert_eq!(route_at_mut(&mut cfg.route, "route.routes[0]").unwrap().receiver.as_deref(), Some("mc"));
        assert_eq!(route_at_mut(&mut cfg.route, "route.routes[1].routes[0]").unwrap().receiver.as_deref(), Some("ops"));
        for bad in ["", "routes", "route.routes[2]", "route.routes[01]", "route.routes[]", "route.routes[0", "route.x"]
        {
            assert!(route_at_mut(&mut cfg.route, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn overrides_apply_persist_and_fall_back_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = esc(dir.path());
        assert_eq!(e.describe_route("route.routes[0]"), json!([{"after": "10m", "receiver": "pager"}]));
        let steps = vec![step("5m", "pager"), step("30m", "boss")];
        let (cfg, next) = e.proposed("route.routes[0]", Some(&steps)).unwrap();
        assert_eq!(cfg.route.routes[0].escalation.as_ref(), Some(&steps));
        e.commit(next).unwrap();
        assert_eq!(
            e.describe_route("route.routes[0]"),
            json!([{"after": "5m", "receiver": "pager"}, {"after": "30m", "receiver": "boss"}])
        );
        // Kept across a restart, and across a reload of the file.
        let mut again = esc(dir.path());
        assert_eq!(again.effective().route.routes[0].escalation.as_ref(), Some(&steps));
        again.set_file(NotifyConfig::from_yaml(CFG).unwrap(), e.receivers.clone());
        assert_eq!(again.effective().route.routes[0].escalation.as_ref(), Some(&steps));
        // Removing the override brings the file's steps back.
        let (cfg, next) = again.proposed("route.routes[0]", None).unwrap();
        assert_eq!(cfg.route.routes[0].escalation.as_ref().map(|s| s[0].receiver.as_str()), Some("pager"));
        again.commit(next).unwrap();
        assert!(again.proposed("route.routes[0]", None).is_err(), "nothing left to remove");
        let v = again.view();
        assert_eq!(v["routes"].as_array().unwrap().len(), 4);
        assert_eq!(v["routes"][1]["override"], Json::Null);
    }

    #[test]
    fn bad_overrides_are_refused_and_stale_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = esc(dir.path());
        let err = e.proposed("route.routes[7]", Some(&[step("5m", "pager")])).unwrap_err();
        assert_eq!(err, "no route \"route.routes[7]\" in the notifications file");
        let err = e.proposed("route", Some(&[step("5m", "nobody")])).unwrap_err();
        assert_eq!(err, "escalation[0].receiver: undefined receiver \"nobody\" (not in receivers)");
        let err = e.proposed("route", Some(&[step("5m", "pager"), step("5m", "boss")])).unwrap_err();
        assert!(err.contains("escalation steps must have increasing delays"), "{err}");
        assert!(e.proposed("route", Some(&[step("0s", "pager")])).is_err());
        // An override whose route left the file is skipped, not fatal, and shown.
        let (_, next) = e.proposed("route.routes[1].routes[0]", Some(&[step("1h", "boss")])).unwrap();
        e.commit(next).unwrap();
        let smaller = NotifyConfig::from_yaml("route:\n  receiver: ops\n").unwrap();
        e.set_file(smaller.clone(), e.receivers.clone());
        assert_eq!(e.effective(), smaller);
        assert_eq!(e.view()["skipped_overrides"], json!(["route.routes[1].routes[0]"]));
    }
}
