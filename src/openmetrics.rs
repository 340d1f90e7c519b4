//! A small parser for the Prometheus text exposition format and OpenMetrics text.
//!
//! Both share one line grammar: `# HELP`, `# TYPE`, `# UNIT` and `# EOF` lines, other comments,
//! and samples `name{label="value",...} value [timestamp] [# exemplar]`. They differ in the
//! timestamp unit (milliseconds in the Prometheus format, seconds with decimals in OpenMetrics),
//! chosen by [`TimestampUnit`]. Errors carry the 1-based line number.

/// Unit of sample timestamps in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampUnit {
    /// Prometheus text format: integer milliseconds.
    Millis,
    /// OpenMetrics: (fractional) seconds.
    Seconds,
}

/// One meaningful line.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A sample: labels including `__name__` (unsorted, as written), value, timestamp in ms.
    Sample {
        labels: Vec<(String, String)>,
        value: f64,
        timestamp: Option<i64>,
    },
    Type {
        family: String,
        kind: String,
    },
    Help {
        family: String,
        text: String,
    },
    Unit {
        family: String,
        unit: String,
    },
    Eof,
}

/// A line that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

/// Parses one line (without its newline). Blank lines and plain comments give `None`.
pub fn parse_line(line: &str, unit: TimestampUnit) -> Result<Option<Entry>, String> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() {
        return Ok(None);
    }
    if let Some(rest) = line.strip_prefix('#') {
        return Ok(parse_comment(rest.trim_start()));
    }
    parse_sample(line, unit).map(Some)
}

fn parse_comment(rest: &str) -> Option<Entry> {
    if rest == "EOF" {
        return Some(Entry::Eof);
    }
    let (kw, rest) = rest.split_once(' ')?;
    let (family, text) = match rest.trim_start().split_once(' ') {
        Some((f, t)) => (f.to_string(), t.trim_start().to_string()),
        None => (rest.trim().to_string(), String::new()),
    };
    match kw {
        "HELP" => Some(Entry::Help { family, text: unescape_help(&text) }),
        "TYPE" => Some(Entry::Type { family, kind: text.trim().to_string() }),
        "UNIT" => Some(Entry::Unit { family, unit: text.trim().to_string() }),
        _ => None,
    }
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_sample(line: &str, unit: TimestampUnit) -> Result<Entry, String> {
    let b = line.as_bytes();
    let mut i = 0;
    if !line.chars().next().is_some_and(is_name_start) {
        return Err(format!("expected a metric name at the start of {line:?}"));
    }
    while i < b.len() && is_name_char(b[i] as char) {
        i += 1;
    }
    let name = &line[..i];
    let mut labels = vec![(storage::METRIC_NAME.to_string(), name.to_string())];
    if i < b.len() && b[i] == b'{' {
        i += 1;
        loop {
            while i < b.len() && (b[i] == b' ' || b[i] == b',') {
                i += 1;
            }
            if i >= b.len() {
                return Err("unterminated label set".into());
            }
            if b[i] == b'}' {
                i += 1;
                break;
            }
            let start = i;
            while i < b.len() && is_name_char(b[i] as char) && b[i] != b':' {
                i += 1;
            }
            let lname = &line[start..i];
            if lname.is_empty() || lname.as_bytes()[0].is_ascii_digit() {
                return Err(format!("invalid label name at column {}", start + 1));
            }
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i >= b.len() || b[i] != b'=' {
                return Err(format!("expected '=' after label name {lname:?}"));
            }
            i += 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i >= b.len() || b[i] != b'"' {
                return Err(format!("expected '\"' to start the value of label {lname:?}"));
            }
            i += 1;
            let mut value = String::new();
            loop {
                let Some(c) = line[i..].chars().next() else {
                    return Err(format!("unterminated value of label {lname:?}"));
                };
                i += c.len_utf8();
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(e) = line[i..].chars().next() else {
                            return Err(format!("unterminated value of label {lname:?}"));
                        };
                        i += e.len_utf8();
                        match e {
                            'n' => value.push('\n'),
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            o => return Err(format!("invalid escape \\{o} in value of label {lname:?}")),
                        }
                    }
                    c => value.push(c),
                }
            }
            if lname == storage::METRIC_NAME {
                return Err("__name__ may not be given as a label".into());
            }
            labels.push((lname.to_string(), value));
        }
    }
    let rest = &line[i..];
    if !rest.starts_with([' ', '\t']) {
        return Err(format!("expected a space before the value of {name}"));
    }
    // Drop an exemplar (`# {...} v [t]`).
    let rest = match rest.find(" # ") {
        Some(p) => &rest[..p],
        None => rest,
    };
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or_else(|| format!("missing value of {name}"))?;
    let value = parse_value(value).ok_or_else(|| format!("invalid value {value:?}"))?;
    let timestamp = match fields.next() {
        None => None,
        Some(t) => Some(match unit {
            TimestampUnit::Millis => t.parse::<i64>().map_err(|_| format!("invalid timestamp {t:?}"))?,
            TimestampUnit::Seconds => {
                let s: f64 = t.parse().map_err(|_| format!("invalid timestamp {t:?}"))?;
                if !s.is_finite() {
                    return Err(format!("invalid timestamp {t:?}"));
                }
                (s * 1000.0).round() as i64
            }
        }),
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the timestamp"));
    }
    Ok(Entry::Sample { labels, value, timestamp })
}

/// Go's `ParseFloat` spellings of the special values plus ordinary numbers.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

/// Parses a whole document. OpenMetrics input must end with `# EOF`; nothing may follow it.
pub fn parse(text: &str, unit: TimestampUnit) -> Result<Vec<Entry>, ParseError> {
    let mut out = Vec::new();
    let mut seen_eof = false;
    for (n, line) in text.lines().enumerate() {
        let e = parse_line(line, unit).map_err(|msg| ParseError { line: n + 1, msg })?;
        match e {
            Some(Entry::Eof) => seen_eof = true,
            Some(e) if seen_eof => {
                let _ = e;
                return Err(ParseError { line: n + 1, msg: "content after # EOF".into() });
            }
            Some(e) => out.push(e),
            None => {}
        }
    }
    if unit == TimestampUnit::Seconds && !seen_eof {
        return Err(ParseError {
            line: text.lines().count(),
            msg: "missing # EOF at the end of OpenMetrics input".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, unit: TimestampUnit, expected: Result<Option<Entry>, &str>) {
        let got = parse_line(line, unit);
        match (&got, &expected) {
            (Ok(Some(Entry::Sample { value: a, .. })), Ok(Some(Entry::Sample { value: b, .. })))
                if a.is_nan() && b.is_nan() => {}
            _ => assert_eq!(got, expected.map_err(str::to_string), "{line}"),
        }
    }

    fn sample(labels: &[(&str, &str)], value: f64, timestamp: Option<i64>) -> Result<Option<Entry>, &'static str> {
        Ok(Some(Entry::Sample {
            labels: labels.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            value,
            timestamp,
        }))
    }

    #[test]
    fn lines() {
        use TimestampUnit::*;
        check("up 1", Millis, sample(&[("__name__", "up")], 1.0, None));
        check("up 1 1700000000000", Millis, sample(&[("__name__", "up")], 1.0, Some(1700000000000)));
        check("up 1 1700000000.5", Seconds, sample(&[("__name__", "up")], 1.0, Some(1700000000500)));
        check(
            r#"x{a="1",b="q\"\\\n"} -Inf"#,
            Millis,
            sample(&[("__name__", "x"), ("a", "1"), ("b", "q\"\\\n")], f64::NEG_INFINITY, None),
        );
        check(r#"x{a="1",} 2"#, Millis, sample(&[("__name__", "x"), ("a", "1")], 2.0, None));
        check("x{} NaN", Millis, sample(&[("__name__", "x")], f64::NAN, None));
        check(
            r#"x_bucket{le="0.5"} 3 1 # {trace_id="a"} 0.4 1"#,
            Seconds,
            sample(&[("__name__", "x_bucket"), ("le", "0.5")], 3.0, Some(1000)),
        );
        check("# TYPE x counter", Millis, Ok(Some(Entry::Type { family: "x".into(), kind: "counter".into() })));
        check(
            "# HELP x Some \\n text",
            Millis,
            Ok(Some(Entry::Help { family: "x".into(), text: "Some \n text".into() })),
        );
        check("# UNIT x seconds", Seconds, Ok(Some(Entry::Unit { family: "x".into(), unit: "seconds".into() })));
        check("# EOF", Seconds, Ok(Some(Entry::Eof)));
        check("# just a comment", Millis, Ok(None));
        check("", Millis, Ok(None));
        check("1x 1", Millis, Err("expected a metric name at the start of \"1x 1\""));
        check("x{a=1} 1", Millis, Err("expected '\"' to start the value of label \"a\""));
        check(r#"x{a="1} 1"#, Millis, Err("unterminated value of label \"a\""));
        check("x abc", Millis, Err("invalid value \"abc\""));
        check("x 1 abc", Millis, Err("invalid timestamp \"abc\""));
        check("x 1 2 3", Millis, Err("unexpected \"3\" after the timestamp"));
        check("x", Millis, Err("expected a space before the value of x"));
    }

    #[test]
    fn documents() {
        let doc = "# TYPE a gauge\na 1 1\n# EOF\n";
        assert_eq!(parse(doc, TimestampUnit::Seconds).unwrap().len(), 2);
        assert_eq!(
            parse("a 1 1\n", TimestampUnit::Seconds).unwrap_err().msg,
            "missing # EOF at the end of OpenMetrics input"
        );
        assert_eq!(
            parse("# EOF\na 1\n", TimestampUnit::Seconds).unwrap_err(),
            ParseError { line: 2, msg: "content after # EOF".into() }
        );
        assert_eq!(parse("a 1\nb x\n", TimestampUnit::Millis).unwrap_err().line, 2);
    }
}
