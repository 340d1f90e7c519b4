//! Go's `%g` float formatting (`strconv.FormatFloat(v, 'g', -1, 64)`), reproduced exactly so
//! `tickdb tsdb dump` prints what `promtool tsdb dump` prints.
//!
//! Go picks the shortest decimal that round-trips (as Rust's `{:e}` does), then uses exponent
//! form when the decimal exponent is below -4 or at least 6 (for the shortest precision Go
//! fixes the threshold at 6, `strconv/ftoa.go`), with a sign and at least two exponent digits
//! (`1e+06`, `1.5e-07`). Infinities are `+Inf`/`-Inf`, NaN is `NaN`.

/// Formats `v` as Go's `fmt.Sprintf("%g", v)`.
pub fn format_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Rust's `{:e}` is the shortest round-tripping form: "-1.2345e6", "5e-7".
    let e = format!("{:e}", v);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: f64, expected: &str) {
        assert_eq!(format_g(v), expected, "{v:?}");
    }

    #[test]
    fn matches_go() {
        check(0.0, "0");
        check(-0.0, "-0");
        check(1.0, "1");
        check(-1.5, "-1.5");
        check(10.0, "10");
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
}
