//! Go's `%g` float formatting, reproduced exactly: Prometheus prints floats with it in
//! annotations (`got 1.5`, `with a max diff of 0.5`) and `promtool tsdb dump` prints sample
//! values with it.
//!
//! Go picks the shortest decimal that round-trips (as Rust's `{:e}` does), or rounds to the
//! given precision, then uses exponent form when the decimal exponent is below -4 or at least
//! the precision (6 for the shortest form, `strconv/ftoa.go`), with a sign and at least two
//! exponent digits (`1e+06`, `1.5e-07`). Infinities are `+Inf`/`-Inf`, NaN is `NaN`.

/// Formats `v` as Go's `fmt.Sprintf("%g", v)` (`strconv.FormatFloat(v, 'g', -1, 64)`): the
/// shortest decimal that round-trips, in exponent form when the exponent is below -4 or at
/// least 6. `tickdb tsdb dump` prints values with it, as `promtool tsdb dump` does.
pub fn format_go_g(v: f64) -> String {
    go_g(v, None)
}

/// Formats `v` as Go's `fmt.Sprintf("%.<prec>g", v)`: `prec` significant digits, trailing
/// zeros removed, exponent form when the exponent is below -4 or at least `prec`.
pub fn format_go_g_prec(v: f64, prec: usize) -> String {
    go_g(v, Some(prec))
}

/// Go's `%g`; `prec == None` is the shortest representation (`%g`, precision -1).
pub(crate) fn go_g(v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (mut digits, exp) = match prec {
        // The shortest round-tripping digits, picked as Go picks them: ryu's. (Rust's own `{:e}`
        // breaks ties between two equally short candidates differently: it prints
        // 169331498360004.63 where Go and Prometheus print 169331498360004.62.)
        None => shortest_digits(v.abs()),
        Some(p) => {
            let e = format!("{:.*e}", p.max(1) - 1, v.abs());
            let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
            (mant.chars().filter(|c| c.is_ascii_digit()).collect(), exp.parse().unwrap_or(0))
        }
    };
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let eprec = match prec {
        None => 6,
        Some(p) => {
            let p = p as i32;
            if p > nd && nd >= dp { nd } else { p }
        }
    };
    let sign = if v < 0.0 { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let mut m = digits[..1].to_string();
        if nd > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    // Plain notation.
    let s = if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp >= nd {
        format!("{}{}", digits, "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    };
    format!("{sign}{s}")
}

/// The shortest round-tripping decimal digits of a finite positive `v` (no leading or trailing
/// zeros beyond one digit) and the decimal exponent of the first digit.
fn shortest_digits(v: f64) -> (String, i32) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    // ryu prints "123.45", "0.000123", "1.2345e20" or "1e-7".
    let (mant, exp10) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all[lead..].trim_end_matches('0').to_string();
    if digits.is_empty() {
        return ("0".into(), 0);
    }
    // Position of the first significant digit relative to the decimal point.
    let exp = int.len() as i32 - 1 - lead as i32 + exp10;
    (digits, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: f64, expected: &str) {
        assert_eq!(format_go_g(v), expected, "{v:?}");
    }

    fn check_prec(v: f64, prec: usize, expected: &str) {
        assert_eq!(format_go_g_prec(v, prec), expected, "{v:?} {prec}");
    }

    #[test]
    fn shortest() {
        check(0.0, "0");
        check(-0.0, "-0");
        // Ties between equally short candidates are broken as Go does (checked against
        // Prometheus 2.42), not as Rust's `{:e}` does.
        check(169331498360004.62, "1.6933149836000462e+14");
        check(123456789012345670000.0, "1.2345678901234567e+20");
        check(0.000123, "0.000123");
        check(1.5e-7, "1.5e-07");
        check(123456.0, "123456");
        check(1234567.0, "1.234567e+06");
        check(5e-324, "5e-324");
        check(f64::MAX, "1.7976931348623157e+308");
        check(1.0, "1");
        check(1.1, "1.1");
        check(-1.1, "-1.1");
        check(-1.5, "-1.5");
        check(10.0, "10");
        check(123456.0, "123456");
        check(250000.0, "250000");
        check(999999.0, "999999");
        check(999999.5, "999999.5");
        check(1e6, "1e+06");
        check(1234567.0, "1.234567e+06");
        check(123456789.0, "1.23456789e+08");
        check(1.6e9, "1.6e+09");
        check(608863452348.1149, "6.088634523481149e+11");
        check(1e21, "1e+21");
        check(1e100, "1e+100");
        check(0.0001, "0.0001");
        check(0.00012, "0.00012");
        check(0.00001, "1e-05");
        check(1.5e-7, "1.5e-07");
        check(0.1 + 0.2, "0.30000000000000004");
        check(5e-324, "5e-324");
        check(f64::MAX, "1.7976931348623157e+308");
        check(f64::NAN, "NaN");
        check(f64::INFINITY, "+Inf");
        check(f64::NEG_INFINITY, "-Inf");
        check(123.456, "123.456");
    }

    #[test]
    fn with_precision() {
        check_prec(0.5, 2, "0.5");
        check_prec(100.0, 2, "1e+02");
        check_prec(50.0, 2, "50");
        check_prec(0.25, 2, "0.25");
        check_prec(0.125, 2, "0.12");
        check_prec(-3.0, 2, "-3");
        check_prec(f64::NEG_INFINITY, 2, "-Inf");
    }
}
