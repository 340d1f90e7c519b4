//! JSON encoding of API responses, byte-compatible with Prometheus: Go's string escaping
//! (including `<`, `>`, `&` as `\u003c`...), timestamps as seconds with up to three decimals,
//! sample values as strings (`"NaN"`, `"+Inf"`).

use std::fmt::Write as _;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use storage::{Labels, Sample, Timestamp};

use crate::engine::QueryValue;

/// Escapes `s` for inclusion between double quotes, as Go's `encoding/json` does.
pub fn escape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Pushes `"s"` (quoted and escaped).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// A sample value as Prometheus prints it (`strconv.FormatFloat(v, 'f', -1, 64)`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's Display is the shortest round-trip form without exponent, like Go's 'f', -1.
        format!("{v}")
    }
}

/// Pushes a millisecond timestamp as seconds (`1435781451.781`, `12.5` → `12.500`, as
/// Prometheus's `jsonutil.MarshalTimestamp`).
pub fn push_timestamp(out: &mut String, t: Timestamp) {
    let (sign, t) = if t < 0 { ("-", t.unsigned_abs()) } else { ("", t as u64) };
    let _ = write!(out, "{sign}{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// Pushes `{"name":"value",...}`.
pub fn push_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, l) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, &l.name);
        out.push(':');
        push_str(out, &l.value);
    }
    out.push('}');
}

fn push_point(out: &mut String, t: Timestamp, v: f64) {
    out.push('[');
    push_timestamp(out, t);
    out.push_str(",\"");
    out.push_str(&format_value(v));
    out.push_str("\"]");
}

/// Pushes `{"resultType":...,"result":...}`.
pub fn push_query_data(out: &mut String, v: &QueryValue) {
    match v {
        QueryValue::Scalar(t, v) => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            push_point(out, *t, *v);
        }
        QueryValue::String(t, s) => {
            out.push_str("{\"resultType\":\"string\",\"result\":[");
            push_timestamp(out, *t);
            out.push(',');
            push_str(out, s);
            out.push(']');
        }
        QueryValue::Vector(samples) => {
            out.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, (l, t, v)) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, l);
                out.push_str(",\"value\":");
                push_point(out, *t, *v);
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, (l, samples)) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, l);
                out.push_str(",\"values\":[");
                for (j, Sample { t, v }) in samples.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(out, *t, *v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// A `{"status":"success","data":<data>[,"warnings":[...]][,"infos":[...]]}` response; `data`
/// is already-encoded JSON.
pub fn success(data: &str, warnings: &[String], infos: &[String]) -> Response {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str("{\"status\":\"success\",\"data\":");
    out.push_str(data);
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(out, ",\"{key}\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(&mut out, w);
        }
        out.push(']');
    }
    out.push('}');
    json_response(out)
}

/// A success envelope around a serde value.
pub fn success_value(data: &serde_json::Value) -> Response {
    success(&to_go_json(data), &[], &[])
}

/// Serialises a serde value with Go's escaping (serde_json does not escape `<>&`).
pub fn to_go_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    push_value(&mut out, v);
    out
}

fn push_value(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value as V;
    match v {
        V::String(s) => push_str(out, s),
        V::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, x);
            }
            out.push(']');
        }
        V::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(out, k);
                out.push(':');
                push_value(out, x);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A 200 response with a JSON content type.
pub fn json_response(body: String) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(t: Timestamp) -> String {
        let mut s = String::new();
        push_timestamp(&mut s, t);
        s
    }

    #[test]
    fn timestamps() {
        assert_eq!(ts(1435781451781), "1435781451.781");
        assert_eq!(ts(1000), "1");
        assert_eq!(ts(12500), "12.500");
        assert_eq!(ts(5), "0.005");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(-1500), "-1.500");
    }

    #[test]
    fn values_and_escaping() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(escape_json("a\"b<c>&\n\u{1}"), "a\\\"b\\u003cc\\u003e\\u0026\\n\\u0001");
    }

    #[test]
    fn query_data() {
        let mut s = String::new();
        let l = storage::labels! {"__name__" => "up", "job" => "x"};
        push_query_data(&mut s, &QueryValue::Vector(vec![(l.clone(), 1000, 1.0)]));
        assert_eq!(s, r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"x"},"value":[1,"1"]}]}"#);
        s.clear();
        push_query_data(
            &mut s,
            &QueryValue::Matrix(vec![(l, vec![Sample::new(1000, 1.0), Sample::new(2500, f64::INFINITY)])]),
        );
        assert_eq!(
            s,
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"x"},"values":[[1,"1"],[2.500,"+Inf"]]}]}"#
        );
        s.clear();
        push_query_data(&mut s, &QueryValue::Scalar(1000, 2.0));
        assert_eq!(s, r#"{"resultType":"scalar","result":[1,"2"]}"#);
    }
}
