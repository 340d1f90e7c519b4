//! Parser for Prometheus's promqltest script language (`load` / `clear` / `eval`), see
//! README.upstream.md next to the scripts.

use regex::Regex;
use storage::{Labels, STALE_NAN_BITS};

/// One value of a series description.
#[derive(Clone, Debug)]
pub enum SeqValue {
    Omitted,
    Value(f64),
    /// A native histogram (`{{...}}`): not supported by the float engine.
    Histogram,
}

#[derive(Clone, Debug)]
pub struct SeriesDef {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectKind {
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
    Ordered,
}

#[derive(Clone, Debug)]
pub enum Matcher {
    Any,
    Msg(String),
    Regex(Regex),
}

impl Matcher {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Msg(m) => m == s,
            Matcher::Regex(r) => r.is_match(s),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Eval {
    pub line: usize,
    pub expr: String,
    pub range: Option<(i64, i64, i64)>,
    pub at: i64,
    pub expects: Vec<(ExpectKind, Matcher)>,
    pub legacy_fail: bool,
    pub legacy_warn: bool,
    pub legacy_info: bool,
    pub legacy_ordered: bool,
    pub fail_message: Option<String>,
    pub fail_regexp: Option<Regex>,
    /// `expect range vector from .. to .. step ..` for instant queries.
    pub range_vector: Option<(i64, i64, i64)>,
    pub expect_string: Option<String>,
    pub scalar: Option<f64>,
    pub series: Vec<SeriesDef>,
    pub has_histogram_output: bool,
}

impl Eval {
    pub fn is_fail(&self) -> bool {
        self.legacy_fail || self.expects.iter().any(|(k, _)| *k == ExpectKind::Fail)
    }
    pub fn is_ordered(&self) -> bool {
        self.legacy_ordered || self.expects.iter().any(|(k, _)| *k == ExpectKind::Ordered)
    }
    pub fn exclude_from_range(&self) -> bool {
        self.range_vector.is_some() || self.expect_string.is_some()
    }
}

#[derive(Clone, Debug)]
pub enum Cmd {
    Clear,
    Load { interval: i64, with_nhcb: bool, series: Vec<SeriesDef>, start_ts: bool },
    Eval(Box<Eval>),
}

/// Prometheus's `model.ParseDuration` (ms).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let re = Regex::new(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$").unwrap();
    let c = re.captures(s).ok_or_else(|| format!("not a valid duration string: {s:?}"))?;
    let units = [365 * 24 * 3600 * 1000i64, 7 * 24 * 3600 * 1000, 24 * 3600 * 1000, 3600 * 1000, 60 * 1000, 1000, 1];
    let mut total = 0i64;
    let mut any = false;
    for (i, u) in units.iter().enumerate() {
        if let Some(m) = c.get(i + 1) {
            any = true;
            total += m.as_str().parse::<i64>().map_err(|e| e.to_string())? * u;
        }
    }
    if !any {
        return Err(format!("not a valid duration string: {s:?}"));
    }
    Ok(total)
}

/// A PromQL number as the series-description lexer reads it.
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

/// Splits `metric{labels} values...` into the metric part and the rest.
fn split_metric(line: &str) -> (&str, &str) {
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

fn unquote(s: &str) -> Result<(String, usize), String> {
    let b: Vec<char> = s.chars().collect();
    let q = b[0];
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
            let e = *b.get(i).ok_or("bad escape")?;
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
                    let v = u32::from_str_radix(&h, 16).map_err(|e| e.to_string())?;
                    out.push(char::from_u32(v).ok_or("bad char")?);
                    i += n;
                }
                _ => return Err(format!("unknown escape \\{e}")),
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    Err("unterminated string".into())
}

/// Parses `name{a="b", ...}` into labels.
pub fn parse_metric(m: &str) -> Result<Labels, String> {
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
        let inner = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')).ok_or("bad braces")?;
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
            let after = after.strip_prefix('=').ok_or_else(|| format!("expected = in {m}"))?.trim_start();
            let (v, used) = unquote(after)?;
            pairs.push((lname, v));
            s = after[used..].trim_start();
            s = s.strip_prefix(',').unwrap_or(s).trim_start();
        }
    }
    Ok(Labels::from_pairs(pairs))
}

fn parse_values(s: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let stale = f64::from_bits(STALE_NAN_BITS);
    if s.contains("{{") {
        // Histograms: one opaque value per item; only the count matters for us.
        out.push(SeqValue::Histogram);
        return Ok(out);
    }
    for item in s.split_whitespace() {
        if item == "_" {
            out.push(SeqValue::Omitted);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repetition {item}"))?;
            out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
            continue;
        }
        if item == "stale" {
            out.push(SeqValue::Value(stale));
            continue;
        }
        let (base, times) = match item.rfind('x') {
            Some(i) if i + 1 < item.len() && item[i + 1..].bytes().all(|c| c.is_ascii_digit()) => {
                (&item[..i], Some(item[i + 1..].parse::<usize>().map_err(|e| e.to_string())?))
            }
            _ => (item, None),
        };
        // Split "a+b" / "a-b" (not at the start, not after an exponent 'e').
        let bytes = base.as_bytes();
        let mut split = None;
        for i in 1..bytes.len() {
            if (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E') {
                split = Some(i);
                break;
            }
        }
        let (start, delta) = match split {
            Some(i) => (
                parse_number(&base[..i]).ok_or_else(|| format!("bad number {item}"))?,
                Some(parse_number(&base[i..]).ok_or_else(|| format!("bad number {item}"))?),
            ),
            None => (parse_number(base).ok_or_else(|| format!("bad number {item}"))?, None),
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
            (None, Some(_)) => return Err(format!("bad series value {item}")),
        }
    }
    Ok(out)
}

pub fn parse_series(line: &str) -> Result<SeriesDef, String> {
    let (m, vals) = split_metric(line);
    Ok(SeriesDef { labels: parse_metric(m)?, values: parse_values(vals)? })
}

/// Parses a whole script.
pub fn parse(input: &str) -> Result<Vec<Cmd>, String> {
    let lines: Vec<String> = input
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') { String::new() } else { t.to_string() }
        })
        .collect();
    let pat_load = Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").unwrap();
    let pat_instant = Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$").unwrap();
    let pat_range =
        Regex::new(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$").unwrap();
    let pat_expect =
        Regex::new(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$").unwrap();
    let pat_rv = Regex::new(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$").unwrap();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l.split_whitespace().next().unwrap_or("").to_lowercase();
        if word == "clear" {
            cmds.push(Cmd::Clear);
            i += 1;
        } else if word.starts_with("load") {
            let c = pat_load.captures(l).ok_or_else(|| format!("line {}: bad load", i + 1))?;
            let interval = parse_duration(&c[2]).map_err(|e| format!("line {}: {e}", i + 1))?;
            let with_nhcb = c.get(1).is_some();
            let mut series = Vec::new();
            let mut start_ts = false;
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let (m, _) = split_metric(&lines[i]);
                if m.ends_with("@st") || lines[i].contains("@st ") {
                    start_ts = true;
                } else {
                    series.push(parse_series(&lines[i]).map_err(|e| format!("line {}: {e}", i + 1))?);
                }
                i += 1;
            }
            cmds.push(Cmd::Load { interval, with_nhcb, series, start_ts });
        } else if word.starts_with("eval") {
            let line = i + 1;
            let mut ev = Eval {
                line,
                expr: String::new(),
                range: None,
                at: 0,
                expects: Vec::new(),
                legacy_fail: false,
                legacy_warn: false,
                legacy_info: false,
                legacy_ordered: false,
                fail_message: None,
                fail_regexp: None,
                range_vector: None,
                expect_string: None,
                scalar: None,
                series: Vec::new(),
                has_histogram_output: false,
            };
            let modifier;
            if let Some(c) = pat_instant.captures(l) {
                modifier = c.get(1).map(|m| m.as_str().to_string());
                ev.at = match c.get(2) {
                    Some(a) => parse_duration(a.as_str()).map_err(|e| format!("line {line}: {e}"))?,
                    None => 0,
                };
                ev.expr = c[3].to_string();
            } else if let Some(c) = pat_range.captures(l) {
                modifier = c.get(1).map(|m| m.as_str().to_string());
                let d = |s: &str| parse_duration(s).map_err(|e| format!("line {line}: {e}"));
                ev.range = Some((d(&c[2])?, d(&c[3])?, d(&c[4])?));
                ev.expr = c[5].to_string();
            } else {
                return Err(format!("line {line}: bad eval command"));
            }
            match modifier.as_deref() {
                Some("fail") => ev.legacy_fail = true,
                Some("warn") => ev.legacy_warn = true,
                Some("info") => ev.legacy_info = true,
                Some("ordered") => ev.legacy_ordered = true,
                _ => {}
            }
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let d = &lines[i];
                i += 1;
                if ev.legacy_fail && d.starts_with("expected_fail_message") {
                    ev.fail_message = Some(d["expected_fail_message".len()..].trim().to_string());
                    break;
                }
                if ev.legacy_fail && d.starts_with("expected_fail_regexp") {
                    let p = d["expected_fail_regexp".len()..].trim();
                    ev.fail_regexp = Some(Regex::new(p).map_err(|e| e.to_string())?);
                    break;
                }
                if d.starts_with("expect range vector") {
                    let c = pat_rv.captures(d).ok_or_else(|| format!("line {i}: bad range vector"))?;
                    ev.range_vector = Some((parse_duration(&c[1])?, parse_duration(&c[2])?, parse_duration(&c[3])?));
                    continue;
                }
                if let Some(rest) = d.strip_prefix("expect string") {
                    let (s, _) = unquote(rest.trim())?;
                    ev.expect_string = Some(s);
                    continue;
                }
                if d.split(' ').next() == Some("expect") {
                    let c = pat_expect.captures(d.trim()).ok_or_else(|| format!("line {i}: bad expect"))?;
                    let kind = match &c[1] {
                        "ordered" => ExpectKind::Ordered,
                        "fail" => ExpectKind::Fail,
                        "warn" => ExpectKind::Warn,
                        "no_warn" => ExpectKind::NoWarn,
                        "info" => ExpectKind::Info,
                        _ => ExpectKind::NoInfo,
                    };
                    let m = match c.get(2).map(|m| m.as_str()) {
                        Some("msg") => Matcher::Msg(c[3].trim().to_string()),
                        Some(_) => Matcher::Regex(Regex::new(c[3].trim()).map_err(|e| e.to_string())?),
                        None => Matcher::Any,
                    };
                    ev.expects.push((kind, m));
                    continue;
                }
                if let Some(v) = parse_plain_number(d) {
                    ev.scalar = Some(v);
                    break;
                }
                if d.contains("{{") {
                    ev.has_histogram_output = true;
                    continue;
                }
                ev.series.push(parse_series(d).map_err(|e| format!("line {i}: {e}"))?);
            }
            cmds.push(Cmd::Eval(Box::new(ev)));
        } else {
            return Err(format!("line {}: invalid command {l:?}", i + 1));
        }
    }
    Ok(cmds)
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseFloat` (the harness's scalar lines).
fn parse_plain_number(s: &str) -> Option<f64> {
    if s.contains(char::is_whitespace) {
        return None;
    }
    let (neg, b) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = b.strip_prefix("0x").or_else(|| b.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()? as f64
    } else if b.eq_ignore_ascii_case("inf") || b.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if b.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else if b.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) && !b.is_empty() {
        b.parse::<f64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}
