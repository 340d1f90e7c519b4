//! Detector configuration: `kind:param=value,...` on the command line, a map in YAML
//! (`{kind: zscore, window: 7d, robust: true}`, or the same string), validated with errors that
//! name the parameter; [`DetectorSpec::build`] makes the detector and `Display` writes the
//! canonical string back (every parameter, defaults included).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AnyDetector;
use super::ensemble::{Ensemble, EnsembleParams, MAX_MEMBERS};
use super::gmm::{Gmm, GmmParams, Univariate};
use super::holt_winters::{HoltWinters, HoltWintersParams};
use super::likelihood::LikelihoodParams;
use super::zscore::{ZScore, ZScoreParams};
use crate::notify::duration::{self, Duration};

/// The kinds, as written in a spec.
pub const KINDS: &[&str] = &["zscore", "holt_winters", "gmm", "ensemble"];

/// A detector and its parameters (each kind's parameters include the optional `likelihood`
/// post-processing, `likelihood=N`). An ensemble's members are specs of the other kinds, written
/// `kind(param=value,...)` and joined by `+`.
#[derive(Clone, Debug, PartialEq)]
pub enum DetectorSpec {
    Zscore(ZScoreParams),
    HoltWinters(HoltWintersParams),
    Gmm(GmmParams),
    Ensemble(EnsembleParams),
}

/// A configuration error.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown detector kind {kind:?} (known: {})", KINDS.join(", "))]
    UnknownKind { kind: String },
    #[error("{kind}: unknown parameter {param:?} (known: {})", known.join(", "))]
    UnknownParam { kind: &'static str, param: String, known: &'static [&'static str] },
    #[error("{kind}: parameter {param:?} given twice")]
    Duplicate { kind: String, param: String },
    #[error("{kind}: {param}={value:?}: {reason}")]
    BadValue { kind: &'static str, param: &'static str, value: String, reason: String },
    #[error("bad detector spec {0:?}: expected kind or kind:param=value,...")]
    Syntax(String),
    #[error("detector kind {0} is univariate; only gmm takes a vector of metrics")]
    NotMultivariate(&'static str),
}

const ZSCORE_PARAMS: &[&str] =
    &["window", "buckets", "robust", "sample", "min_samples", "likelihood", "likelihood_history"];
const HW_PARAMS: &[&str] =
    &["period", "slots", "alpha", "beta", "gamma", "min_samples", "likelihood", "likelihood_history"];
const GMM_PARAMS: &[&str] =
    &["components", "train", "retrain_every", "min_samples", "likelihood", "likelihood_history"];
const ENSEMBLE_PARAMS: &[&str] = &["members", "likelihood", "likelihood_history"];

/// `s` split at `sep` where it is outside parentheses; `None` if the parentheses do not balance.
fn split_outside_parens(s: &str, sep: char) -> Option<Vec<&str>> {
    let (mut depth, mut start, mut parts) = (0usize, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1)?,
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    (depth == 0).then(|| {
        parts.push(&s[start..]);
        parts
    })
}

/// `param=value,param=value` (of the spec `whole`, for errors) as a map.
fn parse_items(kind: &str, items: &str, whole: &str) -> Result<BTreeMap<String, String>, SpecError> {
    let mut given = BTreeMap::new();
    let items = split_outside_parens(items, ',').ok_or_else(|| SpecError::Syntax(whole.into()))?;
    for item in items.into_iter().map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| SpecError::Syntax(whole.into()))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() || v.is_empty() {
            return Err(SpecError::Syntax(whole.into()));
        }
        if given.insert(k.to_string(), v.to_string()).is_some() {
            return Err(SpecError::Duplicate { kind: kind.trim().into(), param: k.into() });
        }
    }
    Ok(given)
}

/// An ensemble's `members` value: `kind(param=value,...)+kind+...`.
fn parse_members(value: &str) -> Result<Vec<DetectorSpec>, String> {
    let parts = split_outside_parens(value, '+').ok_or("unbalanced parentheses")?;
    if parts.len() > MAX_MEMBERS {
        return Err(format!("at most {MAX_MEMBERS} members"));
    }
    parts
        .into_iter()
        .map(|m| {
            let m = m.trim();
            let (kind, items) = match m.split_once('(') {
                Some((kind, rest)) => (
                    kind.trim(),
                    rest.strip_suffix(')').ok_or_else(|| format!("{m:?}: expected kind(param=value,...)"))?,
                ),
                None => (m, ""),
            };
            if kind.is_empty() {
                return Err("expected kind(param=value,...)+kind(...)".into());
            }
            if kind == "ensemble" {
                return Err("an ensemble cannot contain an ensemble".into());
            }
            let given = parse_items(kind, items, m).map_err(|e| e.to_string())?;
            DetectorSpec::from_params(kind, given).map_err(|e| e.to_string())
        })
        .collect()
}

/// The given parameters of one kind, consumed as they are read; leftovers are unknown.
struct Params {
    kind: &'static str,
    known: &'static [&'static str],
    given: BTreeMap<String, String>,
}

impl Params {
    fn take<T>(
        &mut self,
        param: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, SpecError> {
        match self.given.remove(param) {
            None => Ok(default),
            Some(value) => {
                parse(value.trim()).map_err(|reason| SpecError::BadValue { kind: self.kind, param, value, reason })
            }
        }
    }

    fn duration(&mut self, param: &'static str, default: i64) -> Result<i64, SpecError> {
        self.take(param, default, |s| match duration::parse(s)?.ms() {
            0 => Err("must be positive".into()),
            ms => Ok(ms),
        })
    }

    fn count(&mut self, param: &'static str, default: u64, min: u64, max: u64) -> Result<u64, SpecError> {
        self.take(param, default, |s| {
            let v: u64 = s.parse().map_err(|_| "not a whole number".to_string())?;
            if (min..=max).contains(&v) { Ok(v) } else { Err(format!("must be in {min}..={max}")) }
        })
    }

    fn fraction(&mut self, param: &'static str, default: f64) -> Result<f64, SpecError> {
        self.take(param, default, |s| {
            let v: f64 = s.parse().map_err(|_| "not a number".to_string())?;
            if v > 0.0 && v <= 1.0 { Ok(v) } else { Err("must be in (0, 1]".into()) }
        })
    }

    fn flag(&mut self, param: &'static str, default: bool) -> Result<bool, SpecError> {
        self.take(param, default, |s| s.parse().map_err(|_| "must be true or false".to_string()))
    }

    fn finish(self) -> Result<(), SpecError> {
        match self.given.into_keys().next() {
            None => Ok(()),
            Some(param) => Err(SpecError::UnknownParam { kind: self.kind, param, known: self.known }),
        }
    }
}

impl DetectorSpec {
    /// A spec from its kind and parameters as strings (what the CLI and YAML forms reduce to).
    pub fn from_params(kind: &str, given: BTreeMap<String, String>) -> Result<Self, SpecError> {
        let (kind, known): (&'static str, _) = match kind {
            "zscore" => ("zscore", ZSCORE_PARAMS),
            "holt_winters" => ("holt_winters", HW_PARAMS),
            "gmm" => ("gmm", GMM_PARAMS),
            "ensemble" => ("ensemble", ENSEMBLE_PARAMS),
            _ => return Err(SpecError::UnknownKind { kind: kind.into() }),
        };
        let mut p = Params { kind, known, given };
        let likelihood = {
            let short = p.count("likelihood", 0, 0, 10_000)? as usize;
            let history = p.count("likelihood_history", 4000, 10, u32::MAX as u64)?;
            (short > 0).then_some(LikelihoodParams { short, history })
        };
        let spec = match kind {
            "zscore" => {
                let d = ZScoreParams::default();
                let window_ms = p.duration("window", d.window_ms)?;
                let buckets = p.count("buckets", d.buckets as u64, 1, 100_000)? as usize;
                if window_ms / (buckets as i64) < 1 {
                    return Err(SpecError::BadValue {
                        kind,
                        param: "buckets",
                        value: buckets.to_string(),
                        reason: "more buckets than milliseconds in the window".into(),
                    });
                }
                DetectorSpec::Zscore(ZScoreParams {
                    window_ms,
                    buckets,
                    robust: p.flag("robust", d.robust)?,
                    sample: p.count("sample", d.sample as u64, 1, 4096)? as usize,
                    min_samples: p.count("min_samples", d.min_samples, 2, u32::MAX as u64)?,
                    likelihood,
                })
            }
            "holt_winters" => {
                let d = HoltWintersParams::default();
                DetectorSpec::HoltWinters(HoltWintersParams {
                    period_ms: p.duration("period", d.period_ms)?,
                    slots: p.count("slots", d.slots as u64, 1, 100_000)? as usize,
                    alpha: p.fraction("alpha", d.alpha)?,
                    beta: p.fraction("beta", d.beta)?,
                    gamma: p.fraction("gamma", d.gamma)?,
                    min_samples: p.count("min_samples", d.min_samples, 1, u32::MAX as u64)?,
                    likelihood,
                })
            }
            "ensemble" => {
                let members = p.take("members", Vec::new(), parse_members)?;
                if members.is_empty() {
                    return Err(SpecError::BadValue {
                        kind,
                        param: "members",
                        value: String::new(),
                        reason: "required: kind(param=value,...)+kind+...".into(),
                    });
                }
                DetectorSpec::Ensemble(EnsembleParams { members, likelihood })
            }
            _ => {
                let d = GmmParams::default();
                let components = p.count("components", d.components as u64, 1, 16)? as usize;
                let train = p.count("train", d.train as u64, 10, 1_000_000)? as usize;
                let min_samples = p.count("min_samples", d.min_samples, 10, train as u64)?;
                DetectorSpec::Gmm(GmmParams {
                    components,
                    train,
                    retrain_every: p.count("retrain_every", d.retrain_every, 0, u32::MAX as u64)?,
                    min_samples,
                    likelihood,
                })
            }
        };
        p.finish()?;
        Ok(spec)
    }

    /// `zscore`, `holt_winters`, `gmm` or `ensemble`.
    pub fn kind(&self) -> &'static str {
        match self {
            DetectorSpec::Zscore(_) => "zscore",
            DetectorSpec::HoltWinters(_) => "holt_winters",
            DetectorSpec::Gmm(_) => "gmm",
            DetectorSpec::Ensemble(_) => "ensemble",
        }
    }

    /// The `likelihood` post-processing the spec asks for.
    pub fn likelihood(&self) -> Option<&LikelihoodParams> {
        match self {
            DetectorSpec::Zscore(p) => p.likelihood.as_ref(),
            DetectorSpec::HoltWinters(p) => p.likelihood.as_ref(),
            DetectorSpec::Gmm(p) => p.likelihood.as_ref(),
            DetectorSpec::Ensemble(p) => p.likelihood.as_ref(),
        }
    }

    /// The same spec with `likelihood` replaced.
    pub fn with_likelihood(mut self, likelihood: Option<LikelihoodParams>) -> Self {
        match &mut self {
            DetectorSpec::Zscore(p) => p.likelihood = likelihood,
            DetectorSpec::HoltWinters(p) => p.likelihood = likelihood,
            DetectorSpec::Gmm(p) => p.likelihood = likelihood,
            DetectorSpec::Ensemble(p) => p.likelihood = likelihood,
        }
        self
    }

    /// A fresh detector for one series.
    pub fn build(&self) -> AnyDetector {
        match self {
            DetectorSpec::Zscore(p) => AnyDetector::Zscore(ZScore::new(p.clone())),
            DetectorSpec::HoltWinters(p) => AnyDetector::HoltWinters(HoltWinters::new(p.clone())),
            DetectorSpec::Gmm(p) => AnyDetector::Gmm(Univariate::new(p.clone())),
            DetectorSpec::Ensemble(p) => {
                AnyDetector::Ensemble(Ensemble::new(p.effective_members().iter().map(DetectorSpec::build).collect()))
            }
        }
    }

    /// A fresh multivariate detector over vectors of `dims` metrics (gmm only).
    pub fn build_multivariate(&self, dims: usize) -> Result<Gmm, SpecError> {
        match self {
            DetectorSpec::Gmm(p) => Ok(Gmm::new(p.clone(), dims)),
            _ => Err(SpecError::NotMultivariate(self.kind())),
        }
    }

    /// The parameters as `(name, value)` in canonical order and notation.
    fn params(&self) -> Vec<(&'static str, String)> {
        let dur = |ms: i64| Duration(ms).to_string();
        let (mut params, likelihood) = match self {
            DetectorSpec::Zscore(p) => (
                vec![
                    ("window", dur(p.window_ms)),
                    ("buckets", p.buckets.to_string()),
                    ("robust", p.robust.to_string()),
                    ("sample", p.sample.to_string()),
                    ("min_samples", p.min_samples.to_string()),
                ],
                &p.likelihood,
            ),
            DetectorSpec::HoltWinters(p) => (
                vec![
                    ("period", dur(p.period_ms)),
                    ("slots", p.slots.to_string()),
                    ("alpha", p.alpha.to_string()),
                    ("beta", p.beta.to_string()),
                    ("gamma", p.gamma.to_string()),
                    ("min_samples", p.min_samples.to_string()),
                ],
                &p.likelihood,
            ),
            DetectorSpec::Gmm(p) => (
                vec![
                    ("components", p.components.to_string()),
                    ("train", p.train.to_string()),
                    ("retrain_every", p.retrain_every.to_string()),
                    ("min_samples", p.min_samples.to_string()),
                ],
                &p.likelihood,
            ),
            DetectorSpec::Ensemble(p) => {
                let member = |m: &DetectorSpec| {
                    let params: Vec<String> = m.params().iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{}({})", m.kind(), params.join(","))
                };
                (vec![("members", p.members.iter().map(member).collect::<Vec<_>>().join("+"))], &p.likelihood)
            }
        };
        if let Some(l) = likelihood {
            params.push(("likelihood", l.short.to_string()));
            params.push(("likelihood_history", l.history.to_string()));
        }
        params
    }
}

impl FromStr for DetectorSpec {
    type Err = SpecError;

    /// `kind` or `kind:param=value,param=value`.
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let s = s.trim();
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        let given = parse_items(kind, rest, s)?;
        DetectorSpec::from_params(kind.trim(), given)
    }
}

impl fmt::Display for DetectorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        for (i, (k, v)) in self.params().iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ':' } else { ',' })?;
        }
        Ok(())
    }
}

impl Serialize for DetectorSpec {
    /// As the map form, every value a string (`{kind: zscore, window: 7d, ...}`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let params = self.params();
        let mut m = s.serialize_map(Some(params.len() + 1))?;
        m.serialize_entry("kind", self.kind())?;
        for (k, v) in &params {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A YAML scalar as the string the CLI form would have.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, boolean, duration or string")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for DetectorSpec {
    /// The map form or the string form.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DetectorSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a detector: a map with `kind` and parameters, or `kind:param=value,...`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DetectorSpec, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DetectorSpec, A::Error> {
                let mut kind = None;
                let mut given = BTreeMap::new();
                while let Some((k, Scalar(v))) = map.next_entry::<String, Scalar>()? {
                    if k == "kind" {
                        kind = Some(v);
                    } else if given.insert(k.clone(), v).is_some() {
                        let kind = kind.clone().unwrap_or_default();
                        return Err(de::Error::custom(SpecError::Duplicate { kind, param: k }));
                    }
                }
                let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
                DetectorSpec::from_params(&kind, given).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let got = match input.parse::<DetectorSpec>() {
            Ok(s) => s.to_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn cli_strings() {
        check("zscore", "zscore:window=1w,buckets=168,robust=false,sample=8,min_samples=100");
        check(
            "zscore:window=1d,robust=true,min_samples=50",
            "zscore:window=1d,buckets=168,robust=true,sample=8,min_samples=50",
        );
        check(" zscore : window = 36h ", "zscore:window=1d12h,buckets=168,robust=false,sample=8,min_samples=100");
        check(
            "holt_winters:period=1w,slots=2016",
            "holt_winters:period=1w,slots=2016,alpha=0.1,beta=0.001,gamma=0.3,min_samples=12",
        );
        check("gmm:components=3", "gmm:components=3,train=1000,retrain_every=250,min_samples=200");
        check(
            "holt_winters:likelihood=10",
            "holt_winters:period=1d,slots=288,alpha=0.1,beta=0.001,gamma=0.3,min_samples=12,likelihood=10,likelihood_history=4000",
        );
        check(
            "zscore:likelihood=0,likelihood_history=50",
            "zscore:window=1w,buckets=168,robust=false,sample=8,min_samples=100",
        );
        check("arima", r#"error: unknown detector kind "arima" (known: zscore, holt_winters, gmm, ensemble)"#);
        check(
            "zscore:windw=7d",
            r#"error: zscore: unknown parameter "windw" (known: window, buckets, robust, sample, min_samples, likelihood, likelihood_history)"#,
        );
        check("zscore:window=7x", r#"error: zscore: window="7x": not a valid duration string: "7x""#);
        check("zscore:window=0", r#"error: zscore: window="0": must be positive"#);
        check("zscore:robust=yes", r#"error: zscore: robust="yes": must be true or false"#);
        check("zscore:min_samples=1", r#"error: zscore: min_samples="1": must be in 2..=4294967295"#);
        check("holt_winters:alpha=1.5", r#"error: holt_winters: alpha="1.5": must be in (0, 1]"#);
        check("holt_winters:gamma=x", r#"error: holt_winters: gamma="x": not a number"#);
        check("gmm:train=100,min_samples=200", r#"error: gmm: min_samples="200": must be in 10..=100"#);
        check("zscore:window", r#"error: bad detector spec "zscore:window": expected kind or kind:param=value,..."#);
        check("zscore:window=1d,window=2d", r#"error: zscore: parameter "window" given twice"#);
    }

    #[test]
    fn ensembles() {
        check(
            "ensemble:members=zscore(robust=true)+gmm,likelihood=10",
            "ensemble:members=zscore(window=1w,buckets=168,robust=true,sample=8,min_samples=100)\
             +gmm(components=2,train=1000,retrain_every=250,min_samples=200),likelihood=10,likelihood_history=4000",
        );
        check(
            "ensemble: members = zscore( window=1d , min_samples=50 ) + holt_winters(likelihood=5)",
            "ensemble:members=zscore(window=1d,buckets=168,robust=false,sample=8,min_samples=50)\
             +holt_winters(period=1d,slots=288,alpha=0.1,beta=0.001,gamma=0.3,min_samples=12,likelihood=5,likelihood_history=4000)",
        );
        check("ensemble", r#"error: ensemble: members="": required: kind(param=value,...)+kind+..."#);
        check(
            "ensemble:members=zscore+ensemble(members=gmm)",
            r#"error: ensemble: members="zscore+ensemble(members=gmm)": an ensemble cannot contain an ensemble"#,
        );
        check(
            "ensemble:members=zscore(robust=maybe)",
            r#"error: ensemble: members="zscore(robust=maybe)": zscore: robust="maybe": must be true or false"#,
        );
        check(
            "ensemble:members=arima+zscore",
            r#"error: ensemble: members="arima+zscore": unknown detector kind "arima" (known: zscore, holt_winters, gmm, ensemble)"#,
        );
        check(
            "ensemble:members=zscore(window=1d",
            r#"error: bad detector spec "ensemble:members=zscore(window=1d": expected kind or kind:param=value,..."#,
        );
        check(
            "ensemble:members=zscore+zscore+zscore+zscore+zscore",
            r#"error: ensemble: members="zscore+zscore+zscore+zscore+zscore": at most 4 members"#,
        );
        check(
            "ensemble:members=zscore,window=1d",
            r#"error: ensemble: unknown parameter "window" (known: members, likelihood, likelihood_history)"#,
        );
        let spec: DetectorSpec =
            serde_saphyr::from_str("{kind: ensemble, members: 'zscore(robust=true)+gmm', likelihood: 10}").unwrap();
        assert_eq!(spec, "ensemble:members=zscore(robust=true)+gmm,likelihood=10".parse().unwrap());
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<DetectorSpec>(&json).unwrap(), spec);
        assert_eq!(spec.build_multivariate(2).unwrap_err(), SpecError::NotMultivariate("ensemble"));
    }

    #[test]
    fn display_parses_back_to_the_same_spec() {
        for s in [
            "zscore:robust=true,window=3d",
            "holt_winters:alpha=0.25",
            "gmm:retrain_every=0,likelihood=5",
            "ensemble:members=zscore+zscore(robust=true)+gmm,likelihood=10",
        ] {
            let spec: DetectorSpec = s.parse().unwrap();
            assert_eq!(spec.to_string().parse::<DetectorSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn yaml_map_and_string_forms() {
        let spec: DetectorSpec =
            serde_saphyr::from_str("{kind: zscore, window: 7d, robust: true, min_samples: 100}").unwrap();
        assert_eq!(spec.to_string(), "zscore:window=1w,buckets=168,robust=true,sample=8,min_samples=100");
        let spec: DetectorSpec = serde_saphyr::from_str("kind: holt_winters\nalpha: 0.2\n").unwrap();
        assert_eq!(spec, "holt_winters:alpha=0.2".parse().unwrap());
        let spec: DetectorSpec = serde_saphyr::from_str("'gmm:components=4'").unwrap();
        assert_eq!(spec, "gmm:components=4".parse().unwrap());
        let err = serde_saphyr::from_str::<DetectorSpec>("{kind: zscore, robust: 3}").unwrap_err().to_string();
        assert!(err.contains(r#"zscore: robust="3": must be true or false"#), "{err}");
        let err = serde_saphyr::from_str::<DetectorSpec>("{window: 7d}").unwrap_err().to_string();
        assert!(err.contains("kind"), "{err}");
        // Serialised as the map form, which reads back.
        let spec: DetectorSpec = "zscore:robust=true".parse().unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<DetectorSpec>(&json).unwrap(), spec);
    }

    #[test]
    fn only_gmm_is_multivariate() {
        let zs: DetectorSpec = "zscore".parse().unwrap();
        assert_eq!(zs.build_multivariate(3).unwrap_err(), SpecError::NotMultivariate("zscore"));
        assert!("gmm".parse::<DetectorSpec>().unwrap().build_multivariate(3).is_ok());
    }
}
