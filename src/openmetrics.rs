//! A small parser for the Prometheus text exposition format and OpenMetrics text.
//!
//! Both share one line grammar: `# HELP`, `# TYPE`, `# UNIT` and `# EOF` lines, other comments,
//! and samples `name{label="value",...} value [timestamp] [# exemplar]`. They differ in the
//! timestamp unit (milliseconds in the Prometheus format, seconds with decimals in OpenMetrics),
//! chosen by [`TimestampUnit`]. Errors carry the 1-based line number.

use storage::labels::go_quote;

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
    let rest = rest.trim_start();
    let (family, text) = if rest.starts_with('"') {
        // A quoted (UTF-8) family name.
        let mut i = 0;
        let f = parse_quoted(rest, &mut i, "quoted name").ok()?;
        (f, rest[i..].trim_start().to_string())
    } else {
        match rest.split_once(' ') {
            Some((f, t)) => (f.to_string(), t.trim_start().to_string()),
            None => (rest.trim().to_string(), String::new()),
        }
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

/// Reads a double-quoted string starting at `line[*i]` (the opening quote), with the text
/// format's escapes (`\\`, `\"`, `\n`); `what` names it in errors.
fn parse_quoted(line: &str, i: &mut usize, what: &str) -> Result<String, String> {
    if !line[*i..].starts_with('"') {
        return Err(format!("expected '\"' to start the {what}"));
    }
    *i += 1;
    let mut value = String::new();
    loop {
        let Some(c) = line[*i..].chars().next() else {
            return Err(format!("unterminated {what}"));
        };
        *i += c.len_utf8();
        match c {
            '"' => return Ok(value),
            '\\' => {
                let Some(e) = line[*i..].chars().next() else {
                    return Err(format!("unterminated {what}"));
                };
                *i += e.len_utf8();
                match e {
                    'n' => value.push('\n'),
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    o => return Err(format!("invalid escape \\{o} in {what}")),
                }
            }
            c => value.push(c),
        }
    }
}

fn skip_spaces(b: &[u8], i: &mut usize) {
    while *i < b.len() && b[*i] == b' ' {
        *i += 1;
    }
}

/// A sample line. Names may be bare (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or, for UTF-8 names as in
/// Prometheus 3, quoted: the metric name as the first item inside the braces
/// (`{"http.server.duration", "host.name"="a"} 1`) and label names as `"name"="value"`.
fn parse_sample(line: &str, unit: TimestampUnit) -> Result<Entry, String> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut name: Option<String> = None;
    if line.chars().next().is_some_and(is_name_start) {
        while i < b.len() && is_name_char(b[i] as char) {
            i += 1;
        }
        name = Some(line[..i].to_string());
    } else if !line.starts_with('{') {
        return Err(format!("expected a metric name at the start of {}", go_quote(line)));
    }
    let mut labels: Vec<(String, String)> = Vec::new();
    if i < b.len() && b[i] == b'{' {
        i += 1;
        let mut first = true;
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
            let lname = if b[i] == b'"' {
                let n = parse_quoted(line, &mut i, "quoted name")?;
                skip_spaces(b, &mut i);
                // A quoted string not followed by '=' is the metric name (first item only).
                if i >= b.len() || b[i] != b'=' {
                    if !first || name.is_some() {
                        return Err(format!("expected '=' after label name {}", go_quote(&n)));
                    }
                    if n.is_empty() {
                        return Err("empty metric name".into());
                    }
                    name = Some(n);
                    first = false;
                    continue;
                }
                n
            } else {
                while i < b.len() && is_name_char(b[i] as char) && b[i] != b':' {
                    i += 1;
                }
                line[start..i].to_string()
            };
            first = false;
            if lname.is_empty() || (b[start] != b'"' && lname.as_bytes()[0].is_ascii_digit()) {
                return Err(format!("invalid label name at column {}", start + 1));
            }
            skip_spaces(b, &mut i);
            if i >= b.len() || b[i] != b'=' {
                return Err(format!("expected '=' after label name {}", go_quote(&lname)));
            }
            i += 1;
            skip_spaces(b, &mut i);
            let value = parse_quoted(line, &mut i, &format!("value of label {}", go_quote(&lname)))?;
            if lname == storage::METRIC_NAME {
                return Err("__name__ may not be given as a label".into());
            }
            labels.push((lname, value));
        }
    }
    let name = name.ok_or_else(|| format!("expected a metric name at the start of {}", go_quote(line)))?;
    labels.insert(0, (storage::METRIC_NAME.to_string(), name.clone()));
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
    let value = parse_value(value).ok_or_else(|| format!("invalid value {}", go_quote(value)))?;
    let timestamp = match fields.next() {
        None => None,
        Some(t) => Some(match unit {
            TimestampUnit::Millis => t.parse::<i64>().map_err(|_| format!("invalid timestamp {}", go_quote(t)))?,
            TimestampUnit::Seconds => {
                let s: f64 = t.parse().map_err(|_| format!("invalid timestamp {}", go_quote(t)))?;
                if !s.is_finite() {
                    return Err(format!("invalid timestamp {}", go_quote(t)));
                }
                // Truncated toward zero like Prometheus's parser (`int64(ts * 1000)`), so
                // `1.005` is 1004 ms there and here.
                (s * 1000.0) as i64
            }
        }),
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {} after the timestamp", go_quote(extra)));
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
    Ok(parse_with_lines(text, unit)?.into_iter().map(|(_, e)| e).collect())
}

/// [`parse`], with the 1-based line number of each entry (for errors found later).
pub fn parse_with_lines(text: &str, unit: TimestampUnit) -> Result<Vec<(usize, Entry)>, ParseError> {
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
            Some(e) => out.push((n + 1, e)),
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
        check("up 1 1.005", Seconds, sample(&[("__name__", "up")], 1.0, Some(1004)));
        check("up 1 -1.5", Seconds, sample(&[("__name__", "up")], 1.0, Some(-1500)));
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
        // UTF-8 names, quoted (Prometheus 3).
        check(
            r#"{"http.server.duration", "host.name"="a", b="2"} 1"#,
            Millis,
            sample(&[("__name__", "http.server.duration"), ("host.name", "a"), ("b", "2")], 1.0, None),
        );
        check(r#"{"m\"q"} 1"#, Millis, sample(&[("__name__", "m\"q")], 1.0, None));
        check(r#"plain{"0day"="x"} 2"#, Millis, sample(&[("__name__", "plain"), ("0day", "x")], 2.0, None));
        check(r#"plain{"a", b="1"} 1"#, Millis, Err("expected '=' after label name \"a\""));
        check(r#"{b="1", "m"} 1"#, Millis, Err("expected '=' after label name \"m\""));
        check(r#"{b="1"} 1"#, Millis, Err("expected a metric name at the start of \"{b=\\\"1\\\"} 1\""));
        check(r#"{""} 1"#, Millis, Err("empty metric name"));
        check(r#"{"m} 1"#, Millis, Err("unterminated quoted name"));
        check(
            "# TYPE \"http.server\" counter",
            Millis,
            Ok(Some(Entry::Type { family: "http.server".into(), kind: "counter".into() })),
        );
        check(
            "# HELP \"a b\" Some text",
            Millis,
            Ok(Some(Entry::Help { family: "a b".into(), text: "Some text".into() })),
        );
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
