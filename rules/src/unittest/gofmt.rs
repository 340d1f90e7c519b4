//! The Go renderings promtool's messages are made of, so ours read byte for byte the same:
//! `time.Duration.String` (`5m0s`), `model.Duration.String` (`5m`), `strconv.FormatFloat(v,
//! 'E', -1, 64)` (`5E+01`), `labels.Labels.String` (`{a="b", c="d"}`) and `strconv.Quote`.

use std::fmt::Write as _;

use crate::alert::LabelMap;

/// Go's `time.Duration.String` of a duration in milliseconds: `0s`, `500ms`, `1.5s`, `5m0s`,
/// `1h0m30s`.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let abs = ms.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if abs < 1000 {
        let _ = write!(out, "{abs}ms");
        return out;
    }
    let (h, rest) = (abs / 3_600_000, abs % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, frac) = (rest / 1000, rest % 1000);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}");
    if frac > 0 {
        let f = format!("{frac:03}");
        let _ = write!(out, ".{}", f.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// Prometheus's `model.Duration.String`: `0s`, `5m`, `1h30m`, `1d`, `2w` (years and weeks only
/// when they divide the duration).
pub fn model_duration(ms: i64) -> String {
    crate::notify::duration::Duration(ms).to_string()
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: the shortest digits that round-trip, in
/// `d.dddE±dd` form (`5E+01`, `1.5E-07`, `+Inf`, `NaN`).
pub fn format_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Rust's `{:E}` prints the shortest round-trip digits too, as `5E1` / `1.5E-7`.
    let s = format!("{v:E}");
    let Some((mant, exp)) = s.split_once('E') else { return s };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mant}E{sign}{digits:0>2}")
}

/// Go's `strconv.Quote` (printable UTF-8 kept, control characters escaped).
pub fn quote(s: &str) -> String {
    storage::labels::go_quote(s)
}

/// Prometheus's `labels.Labels.String` of a label map: `{a="b", c="d"}`.
pub fn label_set(m: &LabelMap) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{k}={}", quote(v));
    }
    out.push('}');
    out
}

/// promtool's `indentLines`: every line but the first prefixed with `indent`.
pub fn indent_lines(lines: &str, indent: &str) -> String {
    let mut out = String::with_capacity(lines.len());
    for (i, l) in lines.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            (0, "0s"),
            (1, "1ms"),
            (999, "999ms"),
            (1000, "1s"),
            (1500, "1.5s"),
            (1250, "1.25s"),
            (1001, "1.001s"),
            (90_000, "1m30s"),
            (300_000, "5m0s"),
            (3_600_000, "1h0m0s"),
            (3_630_500, "1h0m30.5s"),
            (-300_000, "-5m0s"),
            (-5, "-5ms"),
            (90_000_000, "25h0m0s"),
        ];
        for (ms, want) in cases {
            assert_eq!(go_duration(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn model_durations() {
        assert_eq!(model_duration(0), "0s");
        assert_eq!(model_duration(600_000), "10m");
        assert_eq!(model_duration(5_400_000), "1h30m");
        assert_eq!(model_duration(86_400_000), "1d");
    }

    #[test]
    fn floats_in_go_e_format() {
        let cases = [
            (50.0, "5E+01"),
            (1.0, "1E+00"),
            (0.0, "0E+00"),
            (-0.0, "-0E+00"),
            (0.1, "1E-01"),
            (1.5e-7, "1.5E-07"),
            (123456.789, "1.23456789E+05"),
            (1e300, "1E+300"),
            (-2.5, "-2.5E+00"),
            (0.30000000000000004, "3.0000000000000004E-01"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(format_float_e(v), want, "{v}");
        }
    }

    #[test]
    fn label_sets_and_indent() {
        let m: LabelMap = [("b", "x\"y"), ("a", "1")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(label_set(&m), r#"{a="1", b="x\"y"}"#);
        assert_eq!(label_set(&LabelMap::new()), "{}");
        assert_eq!(indent_lines("a\nb\n", "  "), "a\n  b\n  ");
        assert_eq!(indent_lines("[]", "  "), "[]");
    }
}
