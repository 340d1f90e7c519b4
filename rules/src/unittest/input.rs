//! The YAML shape of a `promtool test rules` file, read strictly (unknown fields are errors, as
//! promtool's `yaml.UnmarshalStrict`). Durations are Prometheus durations (`5m`, `1h30m`, `0`);
//! scalars where promtool expects strings (`values: 1`, `exp_labels: {code: 500}`) are read as
//! their text, as Go's YAML decoder does.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::alert::LabelMap;

/// A whole test file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    #[serde(default)]
    pub rule_files: Option<Vec<Text>>,
    #[serde(default)]
    pub evaluation_interval: Option<Dur>,
    #[serde(default)]
    pub group_eval_order: Option<Vec<Text>>,
    #[serde(default)]
    pub tests: Option<Vec<TestGroup>>,
    /// Newer promtool: ignore a difference in the last bit of the mantissa.
    #[serde(default)]
    pub fuzzy_compare: Option<bool>,
}

/// One `tests[]` entry: input series and the tests run on them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    #[serde(default)]
    pub interval: Option<Dur>,
    #[serde(default)]
    pub input_series: Option<Vec<InputSeries>>,
    #[serde(default)]
    pub alert_rule_test: Option<Vec<AlertTestCase>>,
    #[serde(default)]
    pub promql_expr_test: Option<Vec<PromqlTestCase>>,
    #[serde(default)]
    pub external_labels: Option<StrMap>,
    #[serde(default)]
    pub external_url: Option<Text>,
    #[serde(default)]
    pub name: Option<Text>,
    /// Newer promtool: the time of the first sample and of `eval_time: 0` (Unix seconds or
    /// RFC 3339).
    #[serde(default)]
    pub start_timestamp: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    #[serde(default)]
    pub series: Option<Text>,
    #[serde(default)]
    pub values: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTestCase {
    #[serde(default)]
    pub eval_time: Option<Dur>,
    #[serde(default)]
    pub alertname: Option<Text>,
    #[serde(default)]
    pub exp_alerts: Option<Vec<ExpAlert>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpAlert {
    #[serde(default)]
    pub exp_labels: Option<StrMap>,
    #[serde(default)]
    pub exp_annotations: Option<StrMap>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlTestCase {
    #[serde(default)]
    pub expr: Option<Text>,
    #[serde(default)]
    pub eval_time: Option<Dur>,
    #[serde(default)]
    pub exp_samples: Option<Vec<ExpSample>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpSample {
    #[serde(default)]
    pub labels: Option<Text>,
    #[serde(default)]
    pub value: Option<f64>,
    /// Newer promtool: an expected native histogram (not supported here).
    #[serde(default)]
    pub histogram: Option<Text>,
}

/// A string read from any YAML scalar as its text (`n` stays `n`, not YAML 1.1's `false`;
/// `500` is `500`), as Go's decoder reads scalars into strings. Null is refused: fields that
/// may be null are `Option<Text>`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
        }
        d.deserialize_string(V)
    }
}

/// A Prometheus duration (`model.Duration`), in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dur(pub i64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Text::deserialize(d)?;
        crate::notify::duration::parse(&t.0).map(|x| Dur(x.ms())).map_err(de::Error::custom)
    }
}

/// A string-to-string map (labels, annotations); null is empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrMap(pub LabelMap);

impl<'de> Deserialize<'de> for StrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrMap, E> {
                Ok(StrMap::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<StrMap, E> {
                Ok(StrMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StrMap, A::Error> {
                let mut out = LabelMap::new();
                while let Some((k, v)) = m.next_entry::<Text, Option<Text>>()? {
                    out.insert(k.0, v.map(|v| v.0).unwrap_or_default());
                }
                Ok(StrMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a test file; the error is `<file>:<line>:<col>: message` (the position when saphyr
/// knows it).
pub fn parse(file: &str, text: &str) -> Result<TestFile, String> {
    match serde_saphyr::from_str::<Option<TestFile>>(text) {
        Ok(f) => Ok(f.unwrap_or_default()),
        Err(e) => {
            let full = e.to_string();
            let first = full.lines().next().unwrap_or("").trim();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            // saphyr prefixes `line N column M: `; the position is ours to print.
            let msg = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
                Some((pos, rest)) if pos.split(" column ").all(|n| n.bytes().all(|b| b.is_ascii_digit())) => rest,
                _ => first,
            };
            Err(match e.location() {
                Some(l) => format!("{file}:{}:{}: {msg}", l.line(), l.column()),
                None => format!("{file}: {msg}"),
            })
        }
    }
}
