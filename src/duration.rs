//! Prometheus durations (`1h30m`, `5m`, `250ms`, `2w`, `1y`) for flags, config and API params.

use std::fmt;
use std::time::Duration;

/// A duration written and read in Prometheus's notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    pub fn from_secs(s: u64) -> Self {
        PromDuration(Duration::from_secs(s))
    }
    pub fn as_millis(&self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

const UNITS: &[(&str, u64)] = &[
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses `[0-9]+(y|w|d|h|m|s|ms)` repeated, units in decreasing order, each at most once
/// (Prometheus's `model.ParseDuration`). `"0"` is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0usize; // index into UNITS the next unit must be after
    let mut first = true;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if n_end == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        if !first && idx <= last_unit {
            return Err(bad());
        }
        first = false;
        last_unit = idx;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(Duration::from_millis(total))
}

impl fmt::Display for PromDuration {
    /// Prometheus's canonical form: largest units first, `0s` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (u, mult) in UNITS {
            // Like Prometheus, years and weeks are only used when they divide evenly.
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

impl std::str::FromStr for PromDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(PromDuration)
    }
}

impl serde::Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str, expected: Option<u64>) {
        assert_eq!(parse_duration(s).ok().map(|d| d.as_millis() as u64), expected, "{s}");
    }

    #[test]
    fn parses() {
        check("0", Some(0));
        check("5m", Some(300_000));
        check("1h30m", Some(5_400_000));
        check("250ms", Some(250));
        check("1s500ms", Some(1500));
        check("2w", Some(14 * 86_400_000));
        check("1y", Some(365 * 86_400_000));
        check("", None);
        check("5", None);
        check("m", None);
        check("5x", None);
        check("30m1h", None);
        check("1m1m", None);
        check("-5m", None);
    }

    #[test]
    fn displays() {
        assert_eq!(PromDuration(Duration::from_secs(5400)).to_string(), "1h30m");
        assert_eq!(PromDuration(Duration::from_secs(15 * 86400)).to_string(), "15d");
        assert_eq!(PromDuration(Duration::from_secs(14 * 86400)).to_string(), "2w");
        assert_eq!(PromDuration(Duration::from_millis(1500)).to_string(), "1s500ms");
        assert_eq!(PromDuration(Duration::ZERO).to_string(), "0s");
    }
}
