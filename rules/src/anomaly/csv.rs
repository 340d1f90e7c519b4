//! The `timestamp,value` CSV that `tickdb anomaly score` and the NAB evaluation read: an optional
//! header line, then one sample per line. Timestamps are NAB's `2014-04-01 00:00:00` (UTC,
//! optional fraction), RFC 3339 (`2014-04-01T00:00:00Z`), or Unix seconds (fractions allowed)
//! or milliseconds (numbers of 12 digits or more are milliseconds).

use chrono::{DateTime, NaiveDateTime};

/// A line that could not be read, with its 1-based number.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

/// Milliseconds since the Unix epoch of one timestamp field.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') && !s[1..].contains('-') {
        let v: f64 = s.parse().map_err(|_| format!("bad timestamp {s:?}"))?;
        let digits = s.trim_start_matches('-').split('.').next().unwrap_or("").len();
        return Ok(if digits >= 12 { v.round() as i64 } else { (v * 1000.0).round() as i64 });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(format!("bad timestamp {s:?} (expected `2014-04-01 00:00:00` UTC, RFC 3339, or Unix seconds or milliseconds)"))
}

/// One data line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row<'a> {
    /// The timestamp as written.
    pub ts_text: &'a str,
    pub ts_ms: i64,
    pub value: f64,
}

/// The samples of a CSV file's text as `(ts_ms, value)`, in file order (see [`read_rows`]).
pub fn read_series(text: &str) -> Result<Vec<(i64, f64)>, CsvError> {
    Ok(read_rows(text)?.into_iter().map(|r| (r.ts_ms, r.value)).collect())
}

/// The data lines of a CSV file's text, in file order. A first line whose timestamp does not
/// parse is taken as the header; blank lines are skipped; `NaN` values are kept (detectors skip
/// them).
pub fn read_rows(text: &str) -> Result<Vec<Row<'_>>, CsvError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| CsvError { line: i + 1, message };
        let mut fields = line.split(',');
        let (Some(ts), Some(value)) = (fields.next(), fields.next()) else {
            return Err(err(format!("expected `timestamp,value`, got {line:?}")));
        };
        let ts_ms = match parse_timestamp(ts) {
            Ok(ts) => ts,
            Err(_) if out.is_empty() && i == 0 => continue, // the header
            Err(e) => return Err(err(e)),
        };
        let value: f64 = value.trim().parse().map_err(|_| err(format!("bad value {:?}", value.trim())))?;
        out.push(Row { ts_text: ts.trim(), ts_ms, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let got = match parse_timestamp(input) {
            Ok(ms) => ms.to_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn timestamps() {
        check("2014-04-01 00:00:00", "1396310400000");
        check("2014-04-10 07:15:00.000000", "1397114100000");
        check("2014-04-01T00:00:00Z", "1396310400000");
        check("2014-04-01T02:00:00+02:00", "1396310400000");
        check("1396310400", "1396310400000");
        check("1396310400.5", "1396310400500");
        check("1396310400000", "1396310400000");
        check(
            "yesterday",
            "error: bad timestamp \"yesterday\" (expected `2014-04-01 00:00:00` UTC, RFC 3339, or Unix seconds or milliseconds)",
        );
    }

    #[test]
    fn files() {
        let s = read_series("timestamp,value\n2014-04-01 00:00:00,1.5\n\n2014-04-01 00:05:00,NaN\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], (1396310400000, 1.5));
        assert!(s[1].1.is_nan());
        assert_eq!(read_series("1,2\n3,4").unwrap(), [(1000, 2.0), (3000, 4.0)]);
        assert_eq!(
            read_series("t,v\n1,2\nx,4").unwrap_err().to_string(),
            "line 3: bad timestamp \"x\" (expected `2014-04-01 00:00:00` UTC, RFC 3339, or Unix seconds or milliseconds)"
        );
        assert_eq!(read_series("t,v\n1,abc").unwrap_err().to_string(), "line 2: bad value \"abc\"");
        assert_eq!(read_series("t,v\n1").unwrap_err().to_string(), "line 2: expected `timestamp,value`, got \"1\"");
    }
}
