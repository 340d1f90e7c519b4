//! Durations in Prometheus's notation (`30s`, `5m`, `4h`, `1d`, `2w`, `1y`, `1h30m`, `250ms`) as
//! Alertmanager's configuration writes them; held as milliseconds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration in milliseconds, read and written in Prometheus's notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub i64);

impl Duration {
    pub const fn from_secs(s: i64) -> Self {
        Duration(s * 1000)
    }
    pub const fn ms(self) -> i64 {
        self.0
    }
}

const UNITS: &[(&str, i64)] = &[
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses `<int><unit>` repeated, units strictly decreasing (`y w d h m s ms`), as
/// Prometheus's `model.ParseDuration`; `"0"` alone is zero.
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(Duration(0));
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut prev: Option<usize> = None;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if n_end == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if prev.is_some_and(|p| idx <= p) {
            return Err(bad());
        }
        prev = Some(idx);
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    Ok(Duration(total))
}

impl fmt::Display for Duration {
    /// The canonical form, largest units first (`1h30m`), `0s` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms <= 0 {
            return f.write_str("0s");
        }
        for (u, mult) in UNITS {
            if (*u == "y" || *u == "w") && ms % mult != 0 {
                continue;
            }
            if ms >= *mult {
                write!(f, "{}{}", ms / mult, u)?;
                ms %= mult;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let got = match parse(input) {
            Ok(d) => format!("{} ms = {d}", d.0),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn parses_prometheus_durations() {
        check("0", "0 ms = 0s");
        check("30s", "30000 ms = 30s");
        check("5m", "300000 ms = 5m");
        check("1h30m", "5400000 ms = 1h30m");
        check("1d", "86400000 ms = 1d");
        check("2w", "1209600000 ms = 2w");
        check("250ms", "250 ms = 250ms");
        check("1y", "31536000000 ms = 1y");
        check("", "error: empty duration string");
        check("5", "error: not a valid duration string: \"5\"");
        check("m", "error: not a valid duration string: \"m\"");
        check("30m1h", "error: not a valid duration string: \"30m1h\"");
        check("1.5h", "error: not a valid duration string: \"1.5h\"");
        check("-5m", "error: not a valid duration string: \"-5m\"");
        check("5x", "error: not a valid duration string: \"5x\"");
        check("99999999999999999y", "error: duration out of range: \"99999999999999999y\"");
    }
}
