//! Prometheus's series description notation, as `load` commands of promqltest scripts and the
//! `input_series` of `promtool test rules` files write it (Prometheus's `ParseSeriesDesc`):
//!
//! ```text
//! metric{label="value", ...}  1 2+3x4 _ _x3 stale -1-2x2 5x3
//! ```
//!
//! Values are space separated, one per step of the load interval:
//! - `a` is one sample; `a+bxn` / `a-bxn` are `n + 1` samples starting at `a` and stepping by
//!   `b` (`-2+4x3` is `-2 2 6 10`); `axn` is `a` repeated `n + 1` times;
//! - `_` is a step without a sample and `_xn` is `n` of them (no `+ 1`: a missing sample cannot
//!   step);
//! - `stale` is a stale marker (`0x7ff0000000000002`);
//! - numbers are PromQL numbers (`1.5`, `1e3`, `Inf`, `NaN`, a leading sign); there is no hex
//!   in a series description (`0x3` is `0` repeated four times, as in Prometheus's lexer);
//! - `{{...}}` is a native histogram, which this crate does not evaluate: a description holding
//!   one yields a single [`SeqValue::Histogram`].
//!
//! The step arithmetic is done in `f64` by repeated addition, as Prometheus does, so long
//! sequences accumulate the same rounding.

use storage::{Labels, STALE_NAN_BITS, Sample};

/// One value of a series description.
#[derive(Clone, Debug, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this step.
    Omitted,
    /// A float sample (a stale marker is the stale NaN).
    Value(f64),
    /// A native histogram (`{{...}}`): not supported by the float engine.
    Histogram,
}

/// A parsed series description: the series' labels and its values, one per step.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

impl SeriesDesc {
    /// The float samples at `start_ms + i * step_ms` for the `i`-th value, omitted steps and
    /// histograms skipped.
    pub fn samples(&self, start_ms: i64, step_ms: i64) -> Vec<Sample> {
        let mut out = Vec::with_capacity(self.values.len());
        let mut t = start_ms;
        for v in &self.values {
            if let SeqValue::Value(v) = v {
                out.push(Sample { t, v: *v });
            }
            t = t.saturating_add(step_ms);
        }
        out
    }

    /// Whether a value is a native histogram.
    pub fn has_histogram(&self) -> bool {
        self.values.iter().any(|v| matches!(v, SeqValue::Histogram))
    }
}

/// Why a series description does not parse; the message names the offending item.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SeriesDescError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SeriesDescError> {
    Err(SeriesDescError(msg.into()))
}

/// Parses `metric{labels} values...`.
pub fn parse(line: &str) -> Result<SeriesDesc, SeriesDescError> {
    let (m, vals) = split_metric(line.trim());
    Ok(SeriesDesc { labels: parse_metric(m)?, values: parse_values(vals)? })
}

/// Splits `metric{labels} values...` into the metric part and the (trimmed) rest; braces
/// inside quoted label values do not end the metric.
pub fn split_metric(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut in_quote: Option<u8> = None;
    let mut depth = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = in_quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                in_quote = None;
            }
        } else if c == b'"' || c == b'\'' || c == b'`' {
            in_quote = Some(c);
        } else if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
            if depth == 0 {
                return (&line[..=i], line[i + 1..].trim());
            }
        } else if depth == 0 && c.is_ascii_whitespace() {
            return (&line[..i], line[i..].trim());
        }
        i += 1;
    }
    (line, "")
}

/// Parses `name{a="b", ...}`, `{__name__="name", ...}` or `{"name", a="b"}` into labels.
pub fn parse_metric(m: &str) -> Result<Labels, SeriesDescError> {
    let m = m.trim();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let (name, rest) = match m.find('{') {
        Some(i) => (&m[..i], &m[i..]),
        None => (m, ""),
    };
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.to_string()));
    }
    if !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
            return err(format!("unbalanced braces in {m:?}"));
        };
        let mut s = inner.trim();
        while !s.is_empty() {
            let (lname, after) = if s.starts_with('"') {
                let (n, used) = unquote(s)?;
                (n, s[used..].trim_start())
            } else {
                let end =
                    s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '.')).unwrap_or(s.len());
                (s[..end].to_string(), s[end..].trim_start())
            };
            if after.starts_with(',') || after.is_empty() {
                // A bare quoted name is the metric name.
                pairs.push(("__name__".into(), lname));
                s = after.strip_prefix(',').unwrap_or(after).trim_start();
                continue;
            }
            let Some(after) = after.strip_prefix('=') else {
                return err(format!("expected = after label name {lname:?} in {m:?}"));
            };
            let after = after.trim_start();
            if !after.starts_with(['"', '\'', '`']) {
                return err(format!("expected a quoted value for label {lname:?} in {m:?}"));
            }
            let (v, used) = unquote(after)?;
            pairs.push((lname, v));
            s = after[used..].trim_start();
            s = s.strip_prefix(',').unwrap_or(s).trim_start();
        }
    }
    Ok(Labels::from_pairs(pairs))
}

/// Unquotes the Go/PromQL string literal at the start of `s` (`"..."`, `'...'` or a raw
/// `` `...` ``); returns the value and the number of bytes consumed.
pub fn unquote(s: &str) -> Result<(String, usize), SeriesDescError> {
    let b: Vec<char> = s.chars().collect();
    let Some(&q) = b.first() else { return err("expected a quoted string") };
    let mut out = String::new();
    let mut i = 1;
    let mut consumed = q.len_utf8();
    while i < b.len() {
        let c = b[i];
        consumed += c.len_utf8();
        if c == q {
            return Ok((out, consumed));
        }
        if c == '\\' && q != '`' {
            i += 1;
            let Some(&e) = b.get(i) else { return err("unterminated escape sequence") };
            consumed += e.len_utf8();
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'v' => out.push('\x0b'),
                'x' | 'u' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let h: String = b[i + 1..(i + 1 + n).min(b.len())].iter().collect();
                    consumed += h.len();
                    let Ok(v) = u32::from_str_radix(&h, 16) else { return err(format!("bad escape \\{e}{h}")) };
                    let Some(ch) = char::from_u32(v) else { return err(format!("bad escape \\{e}{h}")) };
                    out.push(ch);
                    i += n;
                }
                _ => return err(format!("unknown escape sequence \\{e}")),
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    err("unterminated quoted string")
}

/// Parses the values part of a series description (see the module docs).
pub fn parse_values(s: &str) -> Result<Vec<SeqValue>, SeriesDescError> {
    let mut out = Vec::new();
    if s.contains("{{") {
        // Histograms: one opaque value; callers only need to know there is one.
        out.push(SeqValue::Histogram);
        return Ok(out);
    }
    for item in s.split_whitespace() {
        parse_item(item, &mut out)?;
    }
    Ok(out)
}

fn parse_item(item: &str, out: &mut Vec<SeqValue>) -> Result<(), SeriesDescError> {
    let bad = || SeriesDescError(format!("invalid series value {item:?}: expected a number, \"_\" or \"stale\""));
    if item == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| SeriesDescError(format!("invalid repetition count in {item:?}")))?;
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
        return Ok(());
    }
    if item == "stale" {
        out.push(SeqValue::Value(f64::from_bits(STALE_NAN_BITS)));
        return Ok(());
    }
    let (base, times) = match item.rfind('x') {
        Some(i) if i + 1 < item.len() && item[i + 1..].bytes().all(|c| c.is_ascii_digit()) => {
            let n = item[i + 1..].parse::<usize>().map_err(|_| bad())?;
            (&item[..i], Some(n))
        }
        _ => (item, None),
    };
    // "a+b" / "a-b": the first sign that is not leading and does not follow an exponent 'e'.
    let bytes = base.as_bytes();
    let split = (1..bytes.len()).find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, delta) = match split {
        Some(i) => (parse_number(&base[..i]).ok_or_else(bad)?, Some(parse_number(&base[i..]).ok_or_else(bad)?)),
        None => (parse_number(base).ok_or_else(bad)?, None),
    };
    match (times, delta) {
        (None, None) => out.push(SeqValue::Value(start)),
        (Some(n), None) => out.extend(std::iter::repeat_n(SeqValue::Value(start), n + 1)),
        (Some(n), Some(d)) => {
            let mut v = start;
            for _ in 0..=n {
                out.push(SeqValue::Value(v));
                v += d;
            }
        }
        (None, Some(_)) => {
            return err(format!("invalid series value {item:?}: a step needs a repetition count (\"a+bxn\")"));
        }
    }
    Ok(())
}

/// A PromQL number as the series-description lexer reads it: decimal or exponent notation,
/// `Inf`/`NaN` (any case), an optional sign; `0x..` hex and durations (`1m` = 60) as the
/// harness's expectation lines use them.
pub fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()? as f64
    } else if body.eq_ignore_ascii_case("inf") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else if body.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.') {
        match body.parse::<f64>() {
            Ok(v) => v,
            Err(_) => parse_duration(body).ok()? as f64 / 1000.0,
        }
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

/// Prometheus's `model.ParseDuration` in milliseconds: `<int><unit>` repeated with units in
/// decreasing order (`y w d h m s ms`); `"0"` alone is zero.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let s = s.trim();
    let bad = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total = 0i64;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let letters = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let i = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if i < next_unit {
            return Err(bad());
        }
        next_unit = i + 1;
        total = n.checked_mul(UNITS[i].1).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a description as `labels: v v v`, `_` for omitted, `stale` for stale markers.
    fn check(input: &str, expected: &str) {
        let got = match parse(input) {
            Ok(d) => {
                let vals: Vec<String> = d
                    .values
                    .iter()
                    .map(|v| match v {
                        SeqValue::Omitted => "_".to_string(),
                        SeqValue::Value(v) if v.to_bits() == STALE_NAN_BITS => "stale".to_string(),
                        SeqValue::Value(v) => v.to_string(),
                        SeqValue::Histogram => "hist".to_string(),
                    })
                    .collect();
                format!("{}: {}", d.labels, vals.join(" "))
            }
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn expanding_notation() {
        check("m 1 2 3", r#"{__name__="m"}: 1 2 3"#);
        check("m -2+4x3", r#"{__name__="m"}: -2 2 6 10"#);
        check("m 1-2x4", r#"{__name__="m"}: 1 -1 -3 -5 -7"#);
        check("m 1x4", r#"{__name__="m"}: 1 1 1 1 1"#);
        check("m 1 _x3 stale", r#"{__name__="m"}: 1 _ _ _ stale"#);
        check("m 1x3 5-1x2", r#"{__name__="m"}: 1 1 1 1 5 4 3"#);
        check("m _ 1 _", r#"{__name__="m"}: _ 1 _"#);
        check("m 1e3 1e-1+1e-1x1 -Inf NaN +2", r#"{__name__="m"}: 1000 0.1 0.2 -inf NaN 2"#);
        check("m 0x3", r#"{__name__="m"}: 0 0 0 0"#);
        check("m 0.1+0.1x2", r#"{__name__="m"}: 0.1 0.2 0.30000000000000004"#);
        check("m", r#"{__name__="m"}: "#);
        check("m {{schema:1 sum:2}}", r#"{__name__="m"}: hist"#);
    }

    #[test]
    fn labels() {
        check(r#"up{job="a", instance="x:1"} 1"#, r#"{__name__="up", instance="x:1", job="a"}: 1"#);
        check(r#"{__name__="up", a="}{ "} 1"#, r#"{__name__="up", a="}{ "}: 1"#);
        check(r#"{"my.metric", a='q\'t'} 1"#, r#"{__name__="my.metric", a="q't"}: 1"#);
        check(r#"up{a="\u00e9\n"} 1"#, r#"{__name__="up", a="é\n"}: 1"#);
    }

    #[test]
    fn errors() {
        check("m 1+2", r#"error: invalid series value "1+2": a step needs a repetition count ("a+bxn")"#);
        check("m abc", r#"error: invalid series value "abc": expected a number, "_" or "stale""#);
        check("m stalex3", r#"error: invalid series value "stalex3": expected a number, "_" or "stale""#);
        check("m 1+-2x3", r#"error: invalid series value "1+-2x3": expected a number, "_" or "stale""#);
        check("m _xa", r#"error: invalid repetition count in "_xa""#);
        check(r#"m{a=b} 1"#, r#"error: expected a quoted value for label "a" in "m{a=b}""#);
        check(r#"m{a="b} 1"#, r#"error: unbalanced braces in "m{a=\"b} 1""#);
        check(r#"m{a="b}"#, "error: unterminated quoted string");
        check(r#"m{a="b} 1"} 2"#, r#"{__name__="m", a="b} 1"}: 2"#);
    }

    #[test]
    fn samples_skip_omitted_steps() {
        let d = parse("m 1 _ 3 stale").unwrap();
        let s = d.samples(1000, 60_000);
        let ts: Vec<i64> = s.iter().map(|s| s.t).collect();
        assert_eq!(ts, [1000, 121_000, 181_000]);
        assert_eq!(s[2].v.to_bits(), STALE_NAN_BITS);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("5ms"), Ok(5));
        assert_eq!(parse_duration("1m5ms"), Ok(60_005));
        assert_eq!(parse_duration("2w1d"), Ok(15 * 86_400_000));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1.5h").is_err());
    }
}
