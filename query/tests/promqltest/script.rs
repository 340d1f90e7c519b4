//! Parser for Prometheus's promqltest script language (`load` / `clear` / `eval`), see
//! README.upstream.md next to the scripts. Series lines use `query::series_desc`, the parser
//! shared with `promtool test rules` input series.

pub use query::series_desc::{SeqValue, SeriesDesc as SeriesDef, parse_duration};
use query::series_desc::{split_metric, unquote};
use regex::Regex;

/// One series line of a `load` or an expectation of an `eval`.
fn parse_series(line: &str) -> Result<SeriesDef, String> {
    query::series_desc::parse(line).map_err(|e| e.to_string())
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
                    let (s, _) = unquote(rest.trim()).map_err(|e| e.to_string())?;
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
