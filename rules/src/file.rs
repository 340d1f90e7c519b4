//! The Prometheus rule file format (`groups: [{name, interval, query_offset, limit, labels,
//! rules: [...]}]`), parsed with positions and validated as Prometheus's `model/rulefmt` does:
//! unknown fields are rejected, group names are non-empty and unique in a file, each rule is
//! exactly one of `record`/`alert`, record names are valid metric names, label names are
//! valid, `for`, `keep_firing_for` and `annotations` belong to alerting rules only, expressions
//! parse, and alert label and annotation templates parse.
//!
//! Names follow Prometheus's legacy validation scheme (`[a-zA-Z_:][a-zA-Z0-9_:]*` for metric
//! names, `[a-zA-Z_][a-zA-Z0-9_]*` for label names), the one our PromQL parser accepts.
//!
//! Every error carries the `line:col` of the offending YAML node (Prometheus reports the node
//! of `record`/`alert`/`expr`; where Prometheus has none, e.g. a label, we point at the key).

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

pub use crate::alert::LabelMap;
use crate::template::Template;
pub use policy::PolicyEntry;

/// A parsed, validated rule file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleFile {
    pub groups: Vec<GroupDef>,
}

/// One `groups[]` entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupDef {
    pub name: String,
    pub interval_ms: Option<i64>,
    pub query_offset_ms: Option<i64>,
    /// Maximum number of series (recording) or alerts (alerting) per rule; 0 means no limit.
    pub limit: usize,
    pub labels: LabelMap,
    pub rules: Vec<RuleDef>,
    /// The group's `scaling:` and `recovery:` rules (docs/scaling.md), which the server's
    /// action engine runs; not part of the group's evaluation.
    pub policies: Vec<PolicyEntry>,
}

/// One `rules[]` entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleDef {
    pub record: Option<String>,
    pub alert: Option<String>,
    /// An `anomaly:` rule's name and what it learns (docs/anomaly.md).
    pub anomaly: Option<(String, crate::learned::AnomalyDef)>,
    /// A `forecast:` rule's name and what it predicts.
    pub forecast: Option<(String, crate::learned::ForecastDef)>,
    pub expr: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: LabelMap,
    pub annotations: LabelMap,
    /// 1-based line of the rule in its file (0 if unknown).
    pub line: usize,
}

impl RuleDef {
    /// The rule's name: its `alert` or `record`.
    pub fn name(&self) -> &str {
        self.alert
            .as_deref()
            .or(self.record.as_deref())
            .or(self.anomaly.as_ref().map(|(n, _)| n.as_str()))
            .or(self.forecast.as_ref().map(|(n, _)| n.as_str()))
            .unwrap_or("")
    }
}

/// A rule file error, shown as `<file>:<line>:<col>: group "<g>", rule <n>, "<name>": <what>`
/// for rule errors, `<file>:<line>:<col>: group "<g>": <what>` for group errors and
/// `<file>:<line>:<col>: <what>` for errors of the file itself (YAML syntax, duplicate groups).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct RuleFileError {
    pub file: String,
    /// 1-based position of the offending node (0:0 when unknown, e.g. an unreadable file).
    pub line: usize,
    pub col: usize,
    pub group: Option<String>,
    /// 1-based rule index in its group and the rule's name.
    pub rule: Option<(usize, String)>,
    pub msg: String,
}

impl RuleFileError {
    fn render(&self) -> String {
        let mut s = self.file.clone();
        if self.line > 0 {
            let _ = write!(s, ":{}:{}", self.line, self.col);
        }
        s.push_str(": ");
        if let Some(g) = &self.group {
            let _ = write!(s, "group {}, ", go_quote(g));
            if self.rule.is_none() {
                s.truncate(s.len() - 2);
                s.push_str(": ");
            }
        }
        if let Some((n, name)) = &self.rule {
            let _ = write!(s, "rule {n}, {}: ", go_quote(name));
        }
        s.push_str(&self.msg);
        s
    }
}

fn go_quote(s: &str) -> String {
    storage::labels::go_quote(s)
}

/// Reads and parses rule files; the errors of all files are returned together.
pub fn load(paths: &[PathBuf]) -> Result<Vec<(PathBuf, RuleFile)>, Vec<RuleFileError>> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        match std::fs::read_to_string(p) {
            Ok(text) => match parse(&name, &text) {
                Ok(f) => out.push((p.clone(), f)),
                Err(e) => errs.extend(e),
            },
            Err(e) => {
                errs.push(RuleFileError { file: name, line: 0, col: 0, group: None, rule: None, msg: e.to_string() })
            }
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

// ---- the YAML shape -------------------------------------------------------------------

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Option<Vec<S<RawGroup>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: Option<S<String>>,
    #[serde(default)]
    interval: Option<S<String>>,
    #[serde(default)]
    query_offset: Option<S<String>>,
    #[serde(default)]
    limit: Option<S<i64>>,
    #[serde(default)]
    labels: Option<Pairs>,
    #[serde(default)]
    rules: Option<Vec<S<RawRule>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<S<String>>,
    #[serde(default)]
    alert: Option<S<String>>,
    #[serde(default)]
    expr: Option<S<String>>,
    #[serde(default)]
    r#for: Option<S<String>>,
    #[serde(default)]
    keep_firing_for: Option<S<String>>,
    #[serde(default)]
    labels: Option<Pairs>,
    #[serde(default)]
    annotations: Option<Pairs>,
    // Learned rules (docs/anomaly.md).
    #[serde(default)]
    anomaly: Option<S<String>>,
    #[serde(default)]
    forecast: Option<S<String>>,
    #[serde(default)]
    detector: Option<S<crate::anomaly::DetectorSpec>>,
    #[serde(default)]
    min_level: Option<S<String>>,
    #[serde(default)]
    max_series: Option<S<i64>>,
    #[serde(default)]
    features: Option<Pairs>,
    #[serde(default)]
    on: Option<S<Vec<String>>>,
    #[serde(default)]
    retrain: Option<S<String>>,
    #[serde(default)]
    model: Option<S<String>>,
    #[serde(default)]
    horizon: Option<S<String>>,
    #[serde(default)]
    threshold: Option<S<f64>>,
    #[serde(default)]
    direction: Option<S<String>>,
    // Scaling and recovery policies (docs/scaling.md).
    #[serde(default)]
    scaling: Option<S<String>>,
    #[serde(default)]
    recovery: Option<S<String>>,
    #[serde(default)]
    target: Option<S<String>>,
    #[serde(default)]
    target_value: Option<S<f64>>,
    #[serde(default)]
    min_replicas: Option<S<i64>>,
    #[serde(default)]
    max_replicas: Option<S<i64>>,
    #[serde(default)]
    tolerance: Option<S<f64>>,
    #[serde(default)]
    mode: Option<S<String>>,
    #[serde(default)]
    scale_up: Option<S<policy::RawBehavior>>,
    #[serde(default)]
    scale_down: Option<S<policy::RawBehavior>>,
    #[serde(default)]
    cooldown: Option<S<String>>,
    #[serde(default)]
    predictive: Option<S<String>>,
    #[serde(default)]
    approval_timeout: Option<S<String>>,
    #[serde(default)]
    breaker: Option<S<policy::RawBreaker>>,
    #[serde(default)]
    instance_label: Option<S<String>>,
    #[serde(default)]
    max_restarts: Option<S<i64>>,
    #[serde(default)]
    backoff: Option<S<String>>,
    #[serde(default)]
    max_backoff: Option<S<String>>,
}

/// A string map in document order with the position of each key.
struct Pairs(Vec<(S<String>, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Pairs, E> {
                Ok(Pairs(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<S<String>, String>()? {
                    v.push((k, val));
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V)
    }
}

fn pos<T>(s: &S<T>) -> (usize, usize) {
    (s.referenced.line() as usize, s.referenced.column() as usize)
}

// ---- validation -----------------------------------------------------------------------

/// Parses and validates one rule file. `file_name` prefixes every error.
pub fn parse(file_name: &str, text: &str) -> Result<RuleFile, Vec<RuleFileError>> {
    let raw: RawFile = match serde_saphyr::from_str(text) {
        Ok(Some(r)) => r,
        Ok(None) => RawFile { groups: None },
        Err(e) => return Err(vec![yaml_error(file_name, &e)]),
    };
    let mut v = Validator { file: file_name, errs: Vec::new() };
    let mut out = RuleFile::default();
    let mut seen = std::collections::HashSet::new();
    let mut policy_names = std::collections::HashMap::new();
    for g in raw.groups.unwrap_or_default() {
        let gpos = pos(&g);
        let g = g.value;
        let name = g.name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        if name.is_empty() {
            v.err(gpos, None, None, "Groupname must not be empty".into());
        } else if !seen.insert(name.clone()) {
            v.err(gpos, None, None, format!("groupname: \"{name}\" is repeated in the same file"));
        }
        let gname = Some(name.as_str());
        let mut def = GroupDef { name: name.clone(), ..GroupDef::default() };
        def.interval_ms = g.interval.as_ref().and_then(|d| v.duration(d, gname, None));
        def.query_offset_ms = g.query_offset.as_ref().and_then(|d| v.duration(d, gname, None));
        if let Some(l) = &g.limit {
            if l.value < 0 {
                v.err(pos(l), gname, None, format!("invalid limit: {}", l.value));
            } else {
                def.limit = usize::try_from(l.value).unwrap_or(usize::MAX);
            }
        }
        def.labels = v.labels(g.labels.as_ref(), gname, None, false);
        for (i, r) in g.rules.unwrap_or_default().into_iter().enumerate() {
            if r.value.scaling.is_some() || r.value.recovery.is_some() {
                let rpos = pos(&r);
                if let Some(p) = v.policy(&name, i + 1, rpos, &r.value) {
                    def.policies.push(p);
                }
            } else if let Some(r) = v.rule(&name, i + 1, r) {
                def.rules.push(r);
            }
        }
        policy::check_unique(&mut v, &def, &mut policy_names);
        out.groups.push(def);
    }
    if v.errs.is_empty() { Ok(out) } else { Err(v.errs) }
}

fn yaml_error(file: &str, e: &serde_saphyr::Error) -> RuleFileError {
    let (line, col) = e.location().map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
    // saphyr's rendering adds the position (and a snippet); keep only the message line.
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("").trim();
    let msg = strip_position(first);
    RuleFileError { file: file.into(), line, col, group: None, rule: None, msg }
}

/// Removes saphyr's `error: line N column M: ` prefix (the position is ours to print).
fn strip_position(s: &str) -> String {
    let s = s.strip_prefix("error: ").unwrap_or(s);
    if let Some(rest) = s.strip_prefix("line ")
        && let Some(i) = rest.find(": ")
        && rest[..i].split(" column ").all(|n| n.chars().all(|c| c.is_ascii_digit()))
    {
        return rest[i + 2..].to_string();
    }
    s.to_string()
}

struct Validator<'a> {
    file: &'a str,
    errs: Vec<RuleFileError>,
}

impl Validator<'_> {
    fn err(&mut self, at: (usize, usize), group: Option<&str>, rule: Option<(usize, &str)>, msg: String) {
        self.errs.push(RuleFileError {
            file: self.file.into(),
            line: at.0,
            col: at.1,
            group: group.map(str::to_string),
            rule: rule.map(|(n, s)| (n, s.to_string())),
            msg,
        });
    }

    fn duration(&mut self, d: &S<String>, group: Option<&str>, rule: Option<(usize, &str)>) -> Option<i64> {
        match crate::notify::duration::parse(&d.value) {
            Ok(x) => Some(x.ms()),
            Err(e) => {
                self.err(pos(d), group, rule, e);
                None
            }
        }
    }

    /// Checks names (and, for alert rules, templates); annotation names need only be valid.
    fn labels(
        &mut self,
        p: Option<&Pairs>,
        group: Option<&str>,
        rule: Option<(usize, &str)>,
        annotations: bool,
    ) -> LabelMap {
        let mut out = LabelMap::new();
        for (k, val) in p.map(|p| p.0.as_slice()).unwrap_or_default() {
            let bad = !is_label_name(&k.value) || (!annotations && k.value == "__name__");
            if bad {
                let what = if annotations { "annotation" } else { "label" };
                self.err(pos(k), group, rule, format!("invalid {what} name: {}", k.value));
            }
            out.insert(k.value.clone(), val.clone());
        }
        out
    }

    fn rule(&mut self, group: &str, n: usize, r: S<RawRule>) -> Option<RuleDef> {
        let rpos = pos(&r);
        let r = r.value;
        let name = [&r.alert, &r.record, &r.anomaly, &r.forecast]
            .into_iter()
            .find_map(|x| x.as_ref())
            .map(|s| s.value.clone())
            .unwrap_or_default();
        let at = |s: &Option<S<String>>| s.as_ref().map_or(rpos, pos);
        let g = Some(group);
        let id = Some((n, name.as_str()));
        let before = self.errs.len();
        let record = r.record.as_ref().map(|s| s.value.clone()).filter(|s| !s.is_empty());
        let alert = r.alert.as_ref().map(|s| s.value.clone()).filter(|s| !s.is_empty());
        let anomaly = r.anomaly.as_ref().map(|s| s.value.clone()).filter(|s| !s.is_empty());
        let forecast = r.forecast.as_ref().map(|s| s.value.clone()).filter(|s| !s.is_empty());
        let learned = anomaly.is_some() || forecast.is_some();
        let kinds = [&record, &alert, &anomaly, &forecast].iter().filter(|k| k.is_some()).count();
        match (kinds, learned) {
            (1, _) => {}
            (0, _) => self.err(at(&r.record), g, id, "one of 'record' or 'alert' must be set".into()),
            (_, false) => self.err(at(&r.record), g, id, "only one of 'record' and 'alert' must be set".into()),
            (_, true) => self.err(
                at(&r.anomaly).min(at(&r.forecast)),
                g,
                id,
                "only one of 'record', 'alert', 'anomaly' and 'forecast' may be set".into(),
            ),
        }
        let multivariate = r.features.as_ref().is_some_and(|f| !f.0.is_empty());
        let expr = r.expr.as_ref().map(|s| s.value.clone()).unwrap_or_default();
        if expr.is_empty() {
            if !multivariate {
                self.err(at(&r.expr), g, id, "field 'expr' must be set in rule".into());
            }
        } else if multivariate {
            self.err(at(&r.expr), g, id, "an anomaly rule has either 'expr' or 'features', not both".into());
        } else if let Err(e) = query::parse(&expr) {
            self.err(at(&r.expr), g, id, format!("could not parse expression: {e}"));
        }
        let learned_def = self.learned(&r, rpos, g, id, anomaly.is_some(), forecast.is_some());
        let for_ms = r.r#for.as_ref().and_then(|d| self.duration(d, g, id)).unwrap_or(0);
        let keep_ms = r.keep_firing_for.as_ref().and_then(|d| self.duration(d, g, id)).unwrap_or(0);
        let labels = self.labels(r.labels.as_ref(), g, id, false);
        let annotations = self.labels(r.annotations.as_ref(), g, id, true);
        if let Some(rec) = &record {
            let rp = at(&r.record);
            if !annotations.is_empty() {
                self.err(rp, g, id, "invalid field 'annotations' in recording rule".into());
            }
            if for_ms != 0 {
                self.err(rp, g, id, "invalid field 'for' in recording rule".into());
            }
            if keep_ms != 0 {
                self.err(rp, g, id, "invalid field 'keep_firing_for' in recording rule".into());
            }
            if !is_metric_name(rec) {
                self.err(rp, g, id, format!("invalid recording rule name: {rec}"));
            }
            if rec.contains('{') || rec.contains('}') {
                self.err(rp, g, id, format!("braces present in the recording rule name; should it be in expr?: {rec}"));
            }
        }
        if let Some(a) = alert.as_ref().or(anomaly.as_ref()).or(forecast.as_ref()) {
            let tname = format!("__alert_{a}");
            for (pairs, what) in [(&r.labels, "label"), (&r.annotations, "annotation")] {
                for (k, val) in pairs.as_ref().map(|p| p.0.as_slice()).unwrap_or_default() {
                    if let Err(e) = Template::parse(&tname, val) {
                        self.err(pos(k), g, id, format!("{what} {}: {e}", go_quote(&k.value)));
                    }
                }
            }
        }
        let kind = if anomaly.is_some() {
            "anomaly"
        } else if forecast.is_some() {
            "forecast"
        } else if alert.is_some() {
            "alerting"
        } else {
            "recording"
        };
        for (field, p) in policy::policy_fields(&r) {
            self.err(p, g, id, format!("invalid field '{field}' in {kind} rule"));
        }
        if self.errs.len() > before {
            return None;
        }
        let (anomaly, forecast) = match learned_def {
            Some(Learned::Anomaly(d)) => (anomaly.map(|n| (n, d)), None),
            Some(Learned::Forecast(d)) => (None, forecast.map(|n| (n, d))),
            None => (None, None),
        };
        Some(RuleDef {
            record,
            alert,
            anomaly,
            forecast,
            expr,
            for_ms,
            keep_firing_for_ms: keep_ms,
            labels,
            annotations,
            line: rpos.0,
        })
    }

    /// The `anomaly:`/`forecast:` part of a rule, checked; errors for learned-rule fields on
    /// other rules.
    fn learned(
        &mut self,
        r: &RawRule,
        rpos: (usize, usize),
        g: Option<&str>,
        id: Option<(usize, &str)>,
        is_anomaly: bool,
        is_forecast: bool,
    ) -> Option<Learned> {
        use crate::learned::{AnomalyDef, DEFAULT_MAX_SERIES, Direction, ForecastDef, ForecastModel};
        let anomaly_only: [(&str, Option<(usize, usize)>); 5] = [
            ("detector", r.detector.as_ref().map(pos)),
            ("min_level", r.min_level.as_ref().map(pos)),
            ("features", r.features.as_ref().and_then(|f| f.0.first()).map(|(k, _)| pos(k))),
            ("on", r.on.as_ref().map(pos)),
            ("retrain", r.retrain.as_ref().map(pos)),
        ];
        let forecast_only: [(&str, Option<(usize, usize)>); 4] = [
            ("model", r.model.as_ref().map(pos)),
            ("horizon", r.horizon.as_ref().map(pos)),
            ("threshold", r.threshold.as_ref().map(pos)),
            ("direction", r.direction.as_ref().map(pos)),
        ];
        let kind = if is_anomaly {
            "anomaly"
        } else if is_forecast {
            "forecast"
        } else if r.alert.is_some() {
            "alerting"
        } else {
            "recording"
        };
        for (field, p) in
            anomaly_only.iter().filter(|_| !is_anomaly).chain(forecast_only.iter().filter(|_| !is_forecast))
        {
            if let Some(p) = p {
                self.err(*p, g, id, format!("invalid field '{field}' in {kind} rule"));
            }
        }
        if let Some(m) = r.max_series.as_ref().filter(|_| !is_anomaly && !is_forecast) {
            self.err(pos(m), g, id, format!("invalid field 'max_series' in {kind} rule"));
        }
        let max_series = match &r.max_series {
            Some(m) if m.value <= 0 => {
                self.err(pos(m), g, id, format!("max_series must be positive, got {}", m.value));
                0
            }
            Some(m) => usize::try_from(m.value).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_SERIES,
        };
        if is_anomaly {
            let detector = r
                .detector
                .as_ref()
                .map(|d| d.value.clone())
                .unwrap_or_else(|| "zscore".parse().expect("the default detector spec parses"));
            let min_level = match &r.min_level {
                None => crate::anomaly::Level::Medium,
                Some(l) => match l.value.as_str() {
                    "medium" => crate::anomaly::Level::Medium,
                    "high" => crate::anomaly::Level::High,
                    "critical" => crate::anomaly::Level::Critical,
                    other => {
                        self.err(pos(l), g, id, format!("min_level must be medium, high or critical, got {other:?}"));
                        crate::anomaly::Level::Medium
                    }
                },
            };
            let mut features = Vec::new();
            for (k, e) in r.features.as_ref().map(|f| f.0.as_slice()).unwrap_or_default() {
                if let Err(err) = query::parse(e) {
                    self.err(pos(k), g, id, format!("feature {:?}: could not parse expression: {err}", k.value));
                }
                features.push((k.value.clone(), e.clone()));
            }
            let on = r.on.as_ref().map(|o| o.value.clone()).unwrap_or_default();
            if !features.is_empty() {
                if on.is_empty() {
                    self.err(
                        rpos,
                        g,
                        id,
                        "a multivariate anomaly rule ('features') needs 'on': the labels of a target".into(),
                    );
                }
                if let Err(e) = detector.build_multivariate(features.len()) {
                    let p = r.detector.as_ref().map_or(rpos, pos);
                    self.err(p, g, id, e.to_string());
                }
            } else if let Some(o) = &r.on {
                self.err(pos(o), g, id, "'on' belongs to multivariate anomaly rules ('features')".into());
            }
            for l in &on {
                if !is_label_name(l) {
                    self.err(r.on.as_ref().map_or(rpos, pos), g, id, format!("invalid label name in 'on': {l}"));
                }
            }
            let retrain_ms = r.retrain.as_ref().and_then(|d| self.duration(d, g, id)).unwrap_or(3_600_000);
            return Some(Learned::Anomaly(AnomalyDef { detector, min_level, max_series, features, on, retrain_ms }));
        }
        if is_forecast {
            let model = match &r.model {
                None => ForecastModel::Linear(Default::default()),
                Some(m) => match m.value.parse::<ForecastModel>() {
                    Ok(x) => x,
                    Err(e) => {
                        self.err(pos(m), g, id, e);
                        ForecastModel::Linear(Default::default())
                    }
                },
            };
            let horizon_ms = match &r.horizon {
                None => {
                    self.err(rpos, g, id, "a forecast rule needs 'horizon' (how far ahead)".into());
                    0
                }
                Some(h) => match self.duration(h, g, id) {
                    Some(0) => {
                        self.err(pos(h), g, id, "horizon must be positive".into());
                        0
                    }
                    Some(x) => x,
                    None => 0,
                },
            };
            let threshold = match &r.threshold {
                None => {
                    self.err(rpos, g, id, "a forecast rule needs 'threshold'".into());
                    0.0
                }
                Some(t) if !t.value.is_finite() => {
                    self.err(pos(t), g, id, "threshold must be a finite number".into());
                    0.0
                }
                Some(t) => t.value,
            };
            let direction = match &r.direction {
                None => Direction::Above,
                Some(d) => d.value.parse().unwrap_or_else(|e| {
                    self.err(pos(d), g, id, e);
                    Direction::Above
                }),
            };
            return Some(Learned::Forecast(ForecastDef { model, horizon_ms, threshold, direction, max_series }));
        }
        None
    }
}

enum Learned {
    Anomaly(crate::learned::AnomalyDef),
    Forecast(crate::learned::ForecastDef),
}

/// Prometheus's legacy metric name rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// Prometheus's legacy label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

#[path = "file/policy.rs"]
mod policy;

#[cfg(test)]
#[path = "file/tests.rs"]
mod tests;
