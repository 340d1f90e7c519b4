//! Prometheus's template helpers: argument conversion (`ConvertToFloat`), the `humanize*`
//! family, timestamps, `parseDuration`, the external URL's path, host/port splitting, and
//! Go's case mapping (`strings.ToUpper`, `x/text/cases` title casing).

use super::super::strconv::{FloatError, format_float, format_g, parse_float, quote};
use super::super::value::{GoTime, Value};

/// 2^63, which is also `float64(math.MaxInt64)`.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// Go's float64 → int64 conversion as amd64 does it: out-of-range and NaN give MinInt64.
pub(super) fn go_f64_to_i64(v: f64) -> i64 {
    if !(-TWO_63..TWO_63).contains(&v) { i64::MIN } else { v as i64 }
}

/// `prometheus/common`'s `ConvertToFloat`.
pub(super) fn convert_to_float(v: &Value<'_>) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Str(s) => parse_float(s).map_err(|e| {
            let why = match e {
                FloatError::Syntax => "invalid syntax",
                FloatError::Range => "value out of range",
            };
            format!("strconv.ParseFloat: parsing {}: {why}", quote(s))
        }),
        Value::Int(i) => Ok(*i as f64),
        Value::Duration { d, ptr: false } => Ok((d / 1_000_000_000) as f64 + (d % 1_000_000_000) as f64 / 1e9),
        Value::Invalid | Value::NilIface => Err("can't convert <nil> to float".into()),
        v => Err(format!("can't convert {} to float", v.type_name())),
    }
}

/// `FloatToTime` then `model.TimeFromUnixNano(...).Time()`: millisecond precision.
pub(super) fn float_to_time(v: f64) -> Result<GoTime, String> {
    let ts = v * 1e9;
    if !(-TWO_63..=TWO_63).contains(&ts) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_g(v)
        ));
    }
    let ms = go_f64_to_i64(ts) / 1_000_000;
    Ok(GoTime::from_unix_nanos(i128::from(ms) * 1_000_000))
}

pub(super) fn humanize(mut v: f64) -> Result<String, String> {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return Ok(format_float(v, 'g', 4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(format!("{}{prefix}", format_float(v, 'g', 4)))
}

pub(super) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return format_float(v, 'g', 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_float(v, 'g', 4))
}

pub(super) fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_float(v, 'g', 4);
    }
    if v == 0.0 {
        return format!("{}s", format_float(v, 'g', 4));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = go_f64_to_i64(v);
        let (seconds, minutes, hours, days) = (d % 60, d / 60 % 60, d / 60 / 60 % 24, d / 60 / 60 / 24);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", format_float(v, 'g', 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_float(v, 'g', 4))
}

/// `model.ParseDurationAllowNegative`, in nanoseconds.
pub(super) fn parse_duration_allow_negative(s: &str) -> Result<i64, String> {
    match s.strip_prefix('-') {
        Some(rest) => parse_duration(rest).map(|d| d.wrapping_neg()),
        None => parse_duration(s),
    }
}

fn parse_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", quote(s));
    let mut rest = s;
    let mut dur: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let v: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let ulen = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        if ulen == 0 {
            return Err(invalid());
        }
        let unit = &rest[..ulen];
        rest = &rest[ulen..];
        let (pos, mult): (u32, u64) = match unit {
            "ms" => (7, 1_000_000),
            "s" => (6, 1_000_000_000),
            "m" => (5, 60_000_000_000),
            "h" => (4, 3_600_000_000_000),
            "d" => (3, 86_400_000_000_000),
            "w" => (2, 604_800_000_000_000),
            "y" => (1, 31_536_000_000_000_000),
            _ => return Err(format!("unknown unit {} in duration {}", quote(unit), quote(s))),
        };
        if pos <= last_unit {
            return Err(invalid());
        }
        last_unit = pos;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        dur = dur.wrapping_add(v * mult);
        if dur > (1u64 << 63) - 1 {
            return Err("duration out of range".into());
        }
    }
    Ok(dur as i64)
}

/// `url.Parse(u).Path`: the unescaped path of the external URL.
pub(super) fn url_path(u: &str) -> String {
    let u = u.split(['?', '#']).next().unwrap_or("");
    let path = match u.find("://") {
        Some(i) => {
            let after = &u[i + 3..];
            after.find('/').map_or("", |j| &after[j..])
        }
        None if u.starts_with("//") => u[2..].find('/').map_or("", |j| &u[2 + j..]),
        None => u,
    };
    percent_decode(path)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `net.SplitHostPort`, success or failure.
pub(super) fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 == hp.len() || end + 1 != i {
            return None;
        }
        host = &hp[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

pub(super) fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        return host.to_string();
    }
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// `strings.ToUpper`: Unicode simple (one-to-one) case mapping per character.
pub(super) fn to_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// `strings.ToLower`.
pub(super) fn to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Word-break classes for `title`, after `golang.org/x/text/cases`: "mid" characters join
/// letters (`'`, `.`, `:`), other non-word characters break words.
fn is_mid(c: char) -> bool {
    matches!(
        c,
        '\'' | '.'
            | ':'
            | '\u{b7}'
            | '\u{387}'
            | '\u{55f}'
            | '\u{5f4}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{2024}'
            | '\u{2027}'
            | '\u{fe13}'
            | '\u{fe52}'
            | '\u{fe55}'
            | '\u{ff07}'
            | '\u{ff0e}'
            | '\u{ff1a}'
    )
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '\u{200d}' || c == '\u{ad}' || (!c.is_ascii() && is_combining(c))
}

fn is_combining(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn is_cased(c: char) -> bool {
    c.is_lowercase() || c.is_uppercase() || c.to_uppercase().ne(c.to_lowercase())
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower).String`: the first cased letter of
/// each word is title-cased, the rest is left alone.
pub(super) fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut mid_word = false;
    let mut was_mid = false;
    for (i, c) in s.chars().enumerate() {
        if i > 0 && was_mid && is_mid(c) {
            mid_word = false;
        }
        was_mid = is_mid(c);
        if is_cased(c) {
            if !mid_word {
                match c {
                    'ß' => out.push_str("Ss"),
                    'ﬀ' => out.push_str("Ff"),
                    'ﬁ' => out.push_str("Fi"),
                    'ﬂ' => out.push_str("Fl"),
                    'ﬃ' => out.push_str("Ffi"),
                    'ﬄ' => out.push_str("Ffl"),
                    'ﬅ' | 'ﬆ' => out.push_str("St"),
                    'ǆ' | 'Ǆ' => out.push('ǅ'),
                    'ǉ' | 'Ǉ' => out.push('ǈ'),
                    'ǌ' | 'Ǌ' => out.push('ǋ'),
                    'ǳ' | 'Ǳ' => out.push('ǲ'),
                    _ => out.extend(c.to_uppercase()),
                }
                mid_word = true;
            } else {
                out.push(c);
            }
        } else {
            out.push(c);
            if !is_word_char(c) && !is_mid(c) {
                mid_word = false;
            }
        }
    }
    out
}
