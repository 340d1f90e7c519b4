//! Request parameters of the Prometheus API: GET query strings and form-encoded POST bodies
//! merged into one list, and the parsers for times, durations and series selectors.
//!
//! A form body is read up to `query.max_form_bytes` (413 beyond). Percent-decoding is lenient,
//! as Go's: bytes that do not decode to UTF-8 become U+FFFD, so no encoding makes a request fail
//! before its parameters are validated.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use storage::labels::go_quote;
use storage::{Matcher, Timestamp};

use crate::duration::parse_duration;
use crate::server::AppState;
use crate::server::errors::{ApiError, ErrorType};

/// Prometheus's `minTime`/`maxTime` (the defaults of `start`/`end`), in milliseconds.
pub const MIN_TIME: Timestamp = -9_223_309_901_257_974_000;
pub const MAX_TIME: Timestamp = 9_223_309_901_257_974_999;
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// The request's parameters, query string first, then the form body of a POST.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value of `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
    /// All values of `name` (e.g. `match[]`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A time parameter, or `default` when absent.
    pub fn time_or(&self, name: &str, default: Timestamp) -> Result<Timestamp, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => parse_time(s).map_err(|e| invalid_param(name, &e)),
        }
    }

    /// A duration parameter in milliseconds, if present.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name).map(|s| parse_api_duration(s).map_err(|e| invalid_param(name, &e))).transpose()
    }

    /// The `limit` parameter (0 = no limit).
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(0),
            Some(s) => s.parse::<usize>().map_err(|_| {
                ApiError::bad_data(format!(
                    "invalid parameter \"limit\": cannot parse {} to a valid limit",
                    go_quote(s)
                ))
            }),
        }
    }
}

/// `invalid parameter "time": ...`, as Prometheus words it.
pub fn invalid_param(name: &str, e: &str) -> ApiError {
    ApiError::bad_data(format!("invalid parameter {}: {e}", go_quote(name)))
}

impl Params {
    /// Parameters from a query string only.
    pub fn from_query(q: Option<&str>) -> Result<Params, ApiError> {
        match q {
            Some(q) => serde_urlencoded::from_str(q)
                .map(Params)
                .map_err(|e| ApiError::bad_data(format!("invalid query string: {e}"))),
            None => Ok(Params::default()),
        }
    }
}

impl FromRequest<Arc<AppState>> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let mut out: Vec<(String, String)> = match req.uri().query() {
            Some(q) => {
                serde_urlencoded::from_str(q).map_err(|e| ApiError::bad_data(format!("invalid query string: {e}")))?
            }
            None => Vec::new(),
        };
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if req.method() == Method::POST && is_form {
            let limit = state.cfg.query.max_form_bytes;
            let too_large =
                || ApiError::new(ErrorType::TooLarge, format!("form body larger than the limit of {limit} bytes"));
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            let body = axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
                if crate::server::write::is_length_limit(&e) {
                    too_large()
                } else {
                    ApiError::bad_data(format!("reading request body: {e}"))
                }
            })?;
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|e| ApiError::bad_data(format!("invalid form body: {e}")))?;
            // Go's `r.Form` puts body values before query values.
            out.splice(0..0, form);
        }
        Ok(Params(out))
    }
}

/// Parses RFC 3339 or (fractional) Unix seconds into milliseconds, as Prometheus's `parseTime`.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let err = || format!("cannot parse {} to a valid timestamp", go_quote(s));
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return Err(err());
        }
        let int = f.trunc();
        let frac = ((f - int) * 1000.0).round();
        let ms = int * 1000.0 + frac;
        if ms > MAX_TIME as f64 || ms < MIN_TIME as f64 {
            return Err(err());
        }
        return Ok(ms as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME),
        MAX_TIME_FORMATTED => Ok(MAX_TIME),
        _ => Err(err()),
    }
}

/// [`parse_time`], plus the relative forms of the command line: `now`, `now-<duration>` and
/// `now+<duration>` (a Prometheus duration, e.g. `now-7d`, `now-1h30m`), relative to `now_ms`.
pub fn parse_time_relative(s: &str, now_ms: Timestamp) -> Result<Timestamp, String> {
    let Some(rest) = s.strip_prefix("now") else { return parse_time(s) };
    let bad = |why: String| format!("cannot parse {} to a valid timestamp: {why}", go_quote(s));
    let (sign, d) = match rest.chars().next() {
        None => return Ok(now_ms),
        Some('-') => (-1, &rest[1..]),
        Some('+') => (1, &rest[1..]),
        Some(_) => return Err(bad("expected now, now-<duration> or now+<duration>".into())),
    };
    let ms = parse_duration(d).map_err(bad)?;
    i64::try_from(ms.as_millis())
        .ok()
        .and_then(|ms| now_ms.checked_add(sign * ms))
        .filter(|t| (MIN_TIME..=MAX_TIME).contains(t))
        .ok_or_else(|| bad("out of range".into()))
}

/// Parses float seconds or a Prometheus duration into milliseconds.
pub fn parse_api_duration(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms.abs() > (i64::MAX / 1_000_000) as f64 {
            return Err(format!("cannot parse {} to a valid duration. It overflows int64", go_quote(s)));
        }
        return Ok(ms.round() as i64);
    }
    parse_duration(s)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|_| format!("cannot parse {} to a valid duration", go_quote(s)))
}

/// Parses a series selector (`up{job="x"}`, `{a=~"b"}`) into matcher sets; a selector with
/// `or` gives several sets (a series matching any set is selected).
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    use promql_parser::parser::Expr;
    let expr = query::parse(s).map_err(|e| ApiError::bad_data(e.to_string()))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(ApiError::bad_data(format!("1:1: parse error: expected a series selector, got {}", go_quote(s))));
    };
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>, ApiError> {
        let mut out: Vec<Matcher> = ms.iter().map(convert_matcher).collect::<Result<_, _>>()?;
        if let Some(name) = &vs.name
            && !out.iter().any(|m| m.name == storage::METRIC_NAME)
        {
            out.push(Matcher::equal(storage::METRIC_NAME, name.clone()));
        }
        if out.iter().all(|m| m.matches_empty()) {
            return Err(ApiError::bad_data("match[] must contain at least one non-empty matcher"));
        }
        Ok(out)
    };
    let mut sets = vec![convert(&vs.matchers.matchers)?];
    for or in &vs.matchers.or_matchers {
        sets.push(convert(or)?);
    }
    sets.retain(|s| !s.is_empty());
    Ok(sets)
}

/// Converts one parser matcher into a storage matcher.
pub fn convert_matcher(m: &promql_parser::label::Matcher) -> Result<Matcher, ApiError> {
    use promql_parser::label::MatchOp;
    let kind = match m.op {
        MatchOp::Equal => storage::MatchType::Equal,
        MatchOp::NotEqual => storage::MatchType::NotEqual,
        MatchOp::Re(_) => storage::MatchType::Regex,
        MatchOp::NotRe(_) => storage::MatchType::NotRegex,
    };
    Matcher::new(kind, m.name.clone(), m.value.clone()).map_err(|e| ApiError::bad_data(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_time(s: &str, expected: Result<Timestamp, ()>) {
        assert_eq!(parse_time(s).map_err(|_| ()), expected, "{s}");
    }

    #[test]
    fn times() {
        check_time("1435781451.781", Ok(1435781451781));
        check_time("1435781451", Ok(1435781451000));
        check_time("-1.5", Ok(-1500));
        check_time("0.0005", Ok(1));
        check_time("2015-07-01T20:10:51.781Z", Ok(1435781451781));
        check_time("2015-07-01T22:10:51+02:00", Ok(1435781451000));
        check_time("foo", Err(()));
        check_time("NaN", Err(()));
        check_time("1e300", Err(()));
        check_time(MAX_TIME_FORMATTED, Ok(MAX_TIME));
        assert_eq!(parse_time("x").unwrap_err(), "cannot parse \"x\" to a valid timestamp");
        // Quoted as Go's %q (Prometheus's message), not as Rust's Debug.
        assert_eq!(parse_time("a\u{1}\u{e9}").unwrap_err(), "cannot parse \"a\\x01\u{e9}\" to a valid timestamp");
    }

    #[test]
    fn relative_times() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time_relative("now", now), Ok(now));
        assert_eq!(parse_time_relative("now-7d", now), Ok(now - 7 * 86_400_000));
        assert_eq!(parse_time_relative("now-1h30m", now), Ok(now - 5_400_000));
        assert_eq!(parse_time_relative("now+5m", now), Ok(now + 300_000));
        assert_eq!(parse_time_relative("1435781451", now), Ok(1435781451000));
        assert_eq!(parse_time_relative("2015-07-01T20:10:51Z", now), Ok(1435781451000));
        for bad in ["now-", "now-7", "now7d", "now-x", "nowhere"] {
            let e = parse_time_relative(bad, now).unwrap_err();
            assert!(e.starts_with(&format!("cannot parse {bad:?} to a valid timestamp")), "{bad}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_api_duration("15"), Ok(15_000));
        assert_eq!(parse_api_duration("0.5"), Ok(500));
        assert_eq!(parse_api_duration("1m"), Ok(60_000));
        assert_eq!(parse_api_duration("-1"), Ok(-1000));
        assert_eq!(parse_api_duration("x"), Err("cannot parse \"x\" to a valid duration".into()));
    }

    #[test]
    fn selectors() {
        let s = parse_selector(r#"up{job="a"}"#).unwrap();
        assert_eq!(format!("{:?}", s), r#"[[job="a", __name__="up"]]"#);
        assert!(parse_selector(r#"{job=""}"#).is_err());
        assert!(parse_selector("rate(x[5m])").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
