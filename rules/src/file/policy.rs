//! `scaling:` and `recovery:` rules (docs/scaling.md): parsed with the other rules of a group,
//! kept apart from them ([`GroupDef::policies`]): the server's action engine runs them.

use serde::Deserialize;

use super::{GroupDef, RawRule, S, Validator, pos};
use crate::scaling::{
    Behavior, BreakerDef, Mode, PolicyDef, RateKind, RatePolicy, RecoveryDef, ScalingDef, Select, Target,
};

/// A policy of a group: its name, what it does, its line.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyEntry {
    pub name: String,
    pub def: PolicyDef,
    /// 1-based line of the rule in its file.
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBehavior {
    #[serde(default)]
    stabilization_window: Option<S<String>>,
    #[serde(default)]
    policies: Option<Vec<S<RawRate>>>,
    #[serde(default)]
    select: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    r#type: String,
    value: i64,
    period: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreaker {
    #[serde(default)]
    failures: Option<S<i64>>,
    #[serde(default)]
    open_for: Option<S<String>>,
}

/// The fields only policies have, with their positions (for "invalid field" errors elsewhere).
pub(super) fn policy_fields(r: &RawRule) -> Vec<(&'static str, (usize, usize))> {
    let mut v = Vec::new();
    let mut add = |name, p: Option<(usize, usize)>| {
        if let Some(p) = p {
            v.push((name, p));
        }
    };
    add("target", r.target.as_ref().map(pos));
    add("target_value", r.target_value.as_ref().map(pos));
    add("min_replicas", r.min_replicas.as_ref().map(pos));
    add("max_replicas", r.max_replicas.as_ref().map(pos));
    add("tolerance", r.tolerance.as_ref().map(pos));
    add("mode", r.mode.as_ref().map(pos));
    add("scale_up", r.scale_up.as_ref().map(pos));
    add("scale_down", r.scale_down.as_ref().map(pos));
    add("cooldown", r.cooldown.as_ref().map(pos));
    add("predictive", r.predictive.as_ref().map(pos));
    add("approval_timeout", r.approval_timeout.as_ref().map(pos));
    add("breaker", r.breaker.as_ref().map(pos));
    add("instance_label", r.instance_label.as_ref().map(pos));
    add("max_restarts", r.max_restarts.as_ref().map(pos));
    add("backoff", r.backoff.as_ref().map(pos));
    add("max_backoff", r.max_backoff.as_ref().map(pos));
    v
}

impl Validator<'_> {
    /// A `scaling:` or `recovery:` rule, checked. `None` after errors.
    pub(super) fn policy(&mut self, group: &str, n: usize, rpos: (usize, usize), r: &RawRule) -> Option<PolicyEntry> {
        let (kind, name_node) = match (&r.scaling, &r.recovery) {
            (Some(s), None) => ("scaling", s),
            (None, Some(s)) => ("recovery", s),
            (Some(_), Some(s)) => {
                self.err(pos(s), Some(group), None, "only one of 'scaling' and 'recovery' may be set".into());
                return None;
            }
            (None, None) => return None,
        };
        let name = name_node.value.clone();
        let g = Some(group);
        let id = Some((n, name.as_str()));
        let before = self.errs.len();
        if name.is_empty() || !super::is_label_name(&name.replace('-', "_")) {
            self.err(
                pos(name_node),
                g,
                id,
                format!("invalid {kind} policy name {name:?}: letters, digits, '_' and '-'"),
            );
        }
        // Fields of other rule kinds.
        let mut foreign: Vec<(&str, Option<(usize, usize)>)> = vec![
            ("record", r.record.as_ref().map(pos)),
            ("alert", r.alert.as_ref().map(pos)),
            ("anomaly", r.anomaly.as_ref().map(pos)),
            ("forecast", r.forecast.as_ref().map(pos)),
            ("keep_firing_for", r.keep_firing_for.as_ref().map(pos)),
            ("detector", r.detector.as_ref().map(pos)),
            ("min_level", r.min_level.as_ref().map(pos)),
            ("max_series", r.max_series.as_ref().map(pos)),
            ("features", r.features.as_ref().and_then(|f| f.0.first()).map(|(k, _)| pos(k))),
            ("on", r.on.as_ref().map(pos)),
            ("retrain", r.retrain.as_ref().map(pos)),
            ("model", r.model.as_ref().map(pos)),
            ("horizon", r.horizon.as_ref().map(pos)),
            ("threshold", r.threshold.as_ref().map(pos)),
            ("direction", r.direction.as_ref().map(pos)),
        ];
        let scaling_only = [
            ("target_value", r.target_value.as_ref().map(pos)),
            ("min_replicas", r.min_replicas.as_ref().map(pos)),
            ("max_replicas", r.max_replicas.as_ref().map(pos)),
            ("tolerance", r.tolerance.as_ref().map(pos)),
            ("scale_up", r.scale_up.as_ref().map(pos)),
            ("scale_down", r.scale_down.as_ref().map(pos)),
            ("cooldown", r.cooldown.as_ref().map(pos)),
            ("predictive", r.predictive.as_ref().map(pos)),
        ];
        let recovery_only = [
            ("for", r.r#for.as_ref().map(pos)),
            ("instance_label", r.instance_label.as_ref().map(pos)),
            ("max_restarts", r.max_restarts.as_ref().map(pos)),
            ("backoff", r.backoff.as_ref().map(pos)),
            ("max_backoff", r.max_backoff.as_ref().map(pos)),
        ];
        if kind == "scaling" {
            foreign.extend(recovery_only);
        } else {
            foreign.extend(scaling_only);
        }
        for (field, p) in foreign {
            if let Some(p) = p {
                self.err(p, g, id, format!("invalid field '{field}' in {kind} rule"));
            }
        }
        let target = match &r.target {
            None => {
                self.err(rpos, g, id, format!("a {kind} rule needs 'target' (docker/<service>, deployment/<ns>/<name> or statefulset/<ns>/<name>)"));
                None
            }
            Some(t) => match t.value.parse::<Target>() {
                Ok(t) => Some(t),
                Err(e) => {
                    self.err(pos(t), g, id, e);
                    None
                }
            },
        };
        let expr = r.expr.as_ref().map(|s| s.value.clone()).unwrap_or_default();
        let at_expr = r.expr.as_ref().map_or(rpos, pos);
        if expr.is_empty() && kind == "scaling" {
            self.err(at_expr, g, id, "field 'expr' must be set in rule".into());
        } else if !expr.is_empty()
            && let Err(e) = query::parse(&expr)
        {
            self.err(at_expr, g, id, format!("could not parse expression: {e}"));
        }
        let mode = match &r.mode {
            None => Mode::Enforce,
            Some(m) => m.value.parse().unwrap_or_else(|e| {
                self.err(pos(m), g, id, e);
                Mode::Enforce
            }),
        };
        let approval_timeout_ms = self.positive(r.approval_timeout.as_ref(), "approval_timeout", 600_000, g, id);
        let breaker = self.breaker(r.breaker.as_ref(), g, id);
        let labels = self.labels(r.labels.as_ref(), g, id, false);
        let annotations = self.labels(r.annotations.as_ref(), g, id, true);
        let def = if kind == "scaling" {
            let mut d = ScalingDef::new(target.clone().unwrap_or_else(placeholder), &expr);
            if let Some(t) = &r.target_value {
                if t.value.is_finite() && t.value > 0.0 {
                    d.target_value = t.value;
                } else {
                    self.err(pos(t), g, id, format!("target_value must be a positive number, got {}", t.value));
                }
            }
            if let Some(t) = &r.tolerance {
                if t.value.is_finite() && (0.0..1.0).contains(&t.value) {
                    d.tolerance = t.value;
                } else {
                    self.err(pos(t), g, id, format!("tolerance must be in [0, 1), got {}", t.value));
                }
            }
            let count = |v: &mut Self, x: &Option<S<i64>>, what: &str, dflt: u32| match x {
                None => dflt,
                Some(c) if (0..=100_000).contains(&c.value) => c.value as u32,
                Some(c) => {
                    v.err(pos(c), g, id, format!("{what} must be between 0 and 100000, got {}", c.value));
                    dflt
                }
            };
            d.min_replicas = count(self, &r.min_replicas, "min_replicas", d.min_replicas);
            d.max_replicas = count(self, &r.max_replicas, "max_replicas", d.max_replicas);
            if d.max_replicas == 0 || d.min_replicas > d.max_replicas {
                let p = r.max_replicas.as_ref().or(r.min_replicas.as_ref()).map_or(rpos, pos);
                self.err(
                    p,
                    g,
                    id,
                    format!(
                        "need 0 <= min_replicas <= max_replicas and max_replicas >= 1, got {} and {}",
                        d.min_replicas, d.max_replicas
                    ),
                );
            }
            if let Some(b) = &r.scale_up {
                d.up = self.behavior(b, Behavior::default_up(), "scale_up", g, id);
            }
            if let Some(b) = &r.scale_down {
                d.down = self.behavior(b, Behavior::default_down(), "scale_down", g, id);
            }
            if let Some(c) = &r.cooldown {
                d.cooldown_ms = self.duration(c, g, id).unwrap_or(d.cooldown_ms);
            }
            if let Some(p) = &r.predictive {
                if let Err(e) = query::parse(&p.value) {
                    self.err(pos(p), g, id, format!("predictive: could not parse expression: {e}"));
                }
                d.predictive_expr = Some(p.value.clone());
            }
            d.mode = mode;
            d.approval_timeout_ms = approval_timeout_ms;
            d.breaker = breaker;
            d.labels = labels;
            d.annotations = annotations;
            PolicyDef::Scaling(d)
        } else {
            let mut d = RecoveryDef::new(target.clone().unwrap_or_else(placeholder), &expr);
            if let Some(l) = &r.instance_label {
                if super::is_label_name(&l.value) {
                    d.instance_label = l.value.clone();
                } else {
                    self.err(pos(l), g, id, format!("invalid label name in 'instance_label': {}", l.value));
                }
            }
            if let Some(f) = &r.r#for {
                d.for_ms = self.duration(f, g, id).unwrap_or(d.for_ms);
            }
            if let Some(m) = &r.max_restarts {
                if (1..=1000).contains(&m.value) {
                    d.max_restarts = m.value as u32;
                } else {
                    self.err(pos(m), g, id, format!("max_restarts must be between 1 and 1000, got {}", m.value));
                }
            }
            d.backoff_ms = self.positive(r.backoff.as_ref(), "backoff", d.backoff_ms, g, id);
            d.max_backoff_ms = self.positive(r.max_backoff.as_ref(), "max_backoff", d.max_backoff_ms, g, id);
            if d.max_backoff_ms < d.backoff_ms {
                let p = r.max_backoff.as_ref().or(r.backoff.as_ref()).map_or(rpos, pos);
                self.err(p, g, id, "max_backoff must not be shorter than backoff".into());
            }
            d.mode = mode;
            d.approval_timeout_ms = approval_timeout_ms;
            d.breaker = breaker;
            d.labels = labels;
            d.annotations = annotations;
            PolicyDef::Recovery(d)
        };
        if self.errs.len() > before {
            return None;
        }
        Some(PolicyEntry { name, def, line: rpos.0 })
    }

    fn positive(
        &mut self,
        d: Option<&S<String>>,
        what: &str,
        dflt: i64,
        g: Option<&str>,
        id: Option<(usize, &str)>,
    ) -> i64 {
        let Some(d) = d else { return dflt };
        match self.duration(d, g, id) {
            Some(0) => {
                self.err(pos(d), g, id, format!("{what} must be positive"));
                dflt
            }
            Some(x) => x,
            None => dflt,
        }
    }

    fn breaker(&mut self, b: Option<&S<RawBreaker>>, g: Option<&str>, id: Option<(usize, &str)>) -> BreakerDef {
        let mut out = BreakerDef::default();
        let Some(b) = b else { return out };
        if let Some(f) = &b.value.failures {
            if (1..=1000).contains(&f.value) {
                out.failures = f.value as u32;
            } else {
                self.err(pos(f), g, id, format!("breaker.failures must be between 1 and 1000, got {}", f.value));
            }
        }
        out.open_for_ms = self.positive(b.value.open_for.as_ref(), "breaker.open_for", out.open_for_ms, g, id);
        out
    }

    fn behavior(
        &mut self,
        b: &S<RawBehavior>,
        mut out: Behavior,
        what: &str,
        g: Option<&str>,
        id: Option<(usize, &str)>,
    ) -> Behavior {
        let raw = &b.value;
        if let Some(w) = &raw.stabilization_window {
            out.stabilization_ms = self.duration(w, g, id).unwrap_or(out.stabilization_ms);
        }
        if let Some(s) = &raw.select {
            out.select = match s.value.as_str() {
                "max" => Select::Max,
                "min" => Select::Min,
                "disabled" => Select::Disabled,
                other => {
                    self.err(pos(s), g, id, format!("{what}.select must be max, min or disabled, got {other:?}"));
                    Select::Max
                }
            };
        }
        if let Some(ps) = &raw.policies {
            out.policies.clear();
            for p in ps {
                let at = pos(p);
                let kind = match p.value.r#type.as_str() {
                    "percent" => RateKind::Percent,
                    "replicas" => RateKind::Replicas,
                    other => {
                        self.err(
                            at,
                            g,
                            id,
                            format!("{what}.policies: type must be percent or replicas, got {other:?}"),
                        );
                        continue;
                    }
                };
                if !(1..=100_000).contains(&p.value.value)
                    || (kind == RateKind::Percent && what == "scale_down" && p.value.value > 100)
                {
                    self.err(at, g, id, format!("{what}.policies: value {} out of range", p.value.value));
                    continue;
                }
                let Some(period_ms) = self.duration(&p.value.period, g, id) else { continue };
                if period_ms == 0 {
                    self.err(pos(&p.value.period), g, id, format!("{what}.policies: period must be positive"));
                    continue;
                }
                out.policies.push(RatePolicy { kind, value: p.value.value as u32, period_ms });
            }
            if out.policies.is_empty() && out.select != Select::Disabled {
                self.err(
                    pos(b),
                    g,
                    id,
                    format!("{what}: policies must not be empty (use select: disabled to forbid changes)"),
                );
            }
        }
        out
    }
}

/// Stands in for a target with errors (the entry is dropped with the errors).
fn placeholder() -> Target {
    "docker/invalid".parse().expect("a valid target")
}

/// Policy names must be unique within a group's file (the API names policies).
pub(super) fn check_unique(
    v: &mut Validator<'_>,
    group: &GroupDef,
    seen: &mut std::collections::HashMap<String, String>,
) {
    for p in &group.policies {
        if let Some(other) = seen.insert(p.name.clone(), group.name.clone()) {
            v.err(
                (p.line, 0),
                Some(&group.name),
                None,
                format!("policy {:?} is already defined in group {:?}: policy names are unique", p.name, other),
            );
        }
    }
}
