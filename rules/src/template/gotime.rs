//! Go's `time` formatting for the values `toTime`, `toDuration` and `humanizeTimestamp` give
//! templates: `Time.String` (`2006-01-02 15:04:05.999999999 +0000 UTC`), `Time.Format` with Go
//! reference layouts, and `Duration.String` (`1h2m3.5s`). Times are always in UTC, as
//! Prometheus makes them.

use super::value::GoTime;

const LONG_DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The civil (proleptic Gregorian) date of a day number counted from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// The broken-down fields of a UTC time.
pub(super) struct Civil {
    pub(super) year: i64,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) yday: u32,
    pub(super) hour: u32,
    pub(super) min: u32,
    pub(super) sec: u32,
    pub(super) weekday: usize,
    pub(super) nsec: u32,
}

pub(super) fn civil(t: GoTime) -> Civil {
    let days = t.sec.div_euclid(86_400);
    let secs = t.sec.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let mut yday = CUM[(month - 1) as usize] + day;
    if month > 2 && is_leap(year) {
        yday += 1;
    }
    Civil {
        year,
        month,
        day,
        yday,
        hour: secs / 3600,
        min: secs / 60 % 60,
        sec: secs % 60,
        weekday: (days + 4).rem_euclid(7) as usize,
        nsec: t.nsec,
    }
}

/// Go's `appendInt(b, x, width)`: zero-padded to `width` digits, sign first.
fn push_int(out: &mut String, x: i64, width: usize) {
    if x < 0 {
        out.push('-');
    }
    let s = x.unsigned_abs().to_string();
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    PmLower,
    Tz,
    /// A numeric zone; `iso` prints `Z` for UTC; `colon`, `seconds`, `short` pick the form.
    NumTz {
        iso: bool,
        colon: bool,
        seconds: bool,
        short: bool,
    },
    /// Fractional seconds: digits, trim trailing zeros (`9`s), separator.
    Frac {
        n: usize,
        trim: bool,
        sep: char,
    },
}

fn starts_with_lower(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Go's `nextStdChunk`: the literal prefix, the next layout element and the rest.
fn next_std_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        let chunk = |len: usize, std: Std| (&layout[..i], Some(std), &layout[i + len..]);
        match b[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return chunk(7, Std::LongMonth);
                }
                if !starts_with_lower(&layout[i + 3..]) {
                    return chunk(3, Std::Month);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return chunk(6, Std::LongWeekDay);
                    }
                    if !starts_with_lower(&layout[i + 3..]) {
                        return chunk(3, Std::WeekDay);
                    }
                }
                if at(i, "MST") {
                    return chunk(3, Std::Tz);
                }
            }
            b'0' => {
                if let Some(&c) = b.get(i + 1) {
                    let std = match c {
                        b'1' => Some(Std::ZeroMonth),
                        b'2' => Some(Std::ZeroDay),
                        b'3' => Some(Std::ZeroHour12),
                        b'4' => Some(Std::ZeroMinute),
                        b'5' => Some(Std::ZeroSecond),
                        b'6' => Some(Std::Year),
                        _ => None,
                    };
                    if let Some(std) = std {
                        return chunk(2, std);
                    }
                }
                if at(i, "002") {
                    return chunk(3, Std::ZeroYearDay);
                }
            }
            b'1' => {
                if at(i, "15") {
                    return chunk(2, Std::Hour);
                }
                return chunk(1, Std::NumMonth);
            }
            b'2' => {
                if at(i, "2006") {
                    return chunk(4, Std::LongYear);
                }
                return chunk(1, Std::Day);
            }
            b'_' => {
                if at(i, "_2") {
                    if at(i, "_2006") {
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    return chunk(2, Std::UnderDay);
                }
                if at(i, "__2") {
                    return chunk(3, Std::UnderYearDay);
                }
            }
            b'3' => return chunk(1, Std::Hour12),
            b'4' => return chunk(1, Std::Minute),
            b'5' => return chunk(1, Std::Second),
            b'P' if at(i, "PM") => return chunk(2, Std::Pm),
            b'p' if at(i, "pm") => return chunk(2, Std::PmLower),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                let forms: [(&str, bool, bool, bool); 5] = [
                    ("070000", false, true, false),
                    ("07:00:00", true, true, false),
                    ("0700", false, false, false),
                    ("07:00", true, false, false),
                    ("07", false, false, true),
                ];
                for (form, colon, seconds, short) in forms {
                    if layout[i + 1..].starts_with(form) {
                        return chunk(1 + form.len(), Std::NumTz { iso, colon, seconds, short });
                    }
                }
            }
            c @ (b'.' | b',') => {
                if let Some(&ch @ (b'0' | b'9')) = b.get(i + 1) {
                    let mut j = i + 1;
                    while j < b.len() && b[j] == ch {
                        j += 1;
                    }
                    if !b.get(j).is_some_and(u8::is_ascii_digit) {
                        let std = Std::Frac { n: j - (i + 1), trim: ch == b'9', sep: c as char };
                        return (&layout[..i], Some(std), &layout[j..]);
                    }
                }
            }
            _ => {}
        }
    }
    (layout, None, "")
}

/// `Time.Format(layout)` for a UTC time.
pub(super) fn format(t: GoTime, layout: &str) -> String {
    let c = civil(t);
    let mut out = String::with_capacity(layout.len() + 10);
    let mut layout = layout;
    loop {
        let (prefix, std, suffix) = next_std_chunk(layout);
        out.push_str(prefix);
        let Some(std) = std else { break };
        layout = suffix;
        match std {
            Std::Year => push_int(&mut out, c.year.abs() % 100, 2),
            Std::LongYear => push_int(&mut out, c.year, 4),
            Std::Month => out.push_str(&LONG_MONTHS[(c.month - 1) as usize][..3]),
            Std::LongMonth => out.push_str(LONG_MONTHS[(c.month - 1) as usize]),
            Std::NumMonth => push_int(&mut out, i64::from(c.month), 0),
            Std::ZeroMonth => push_int(&mut out, i64::from(c.month), 2),
            Std::WeekDay => out.push_str(&LONG_DAYS[c.weekday][..3]),
            Std::LongWeekDay => out.push_str(LONG_DAYS[c.weekday]),
            Std::Day => push_int(&mut out, i64::from(c.day), 0),
            Std::UnderDay => {
                if c.day < 10 {
                    out.push(' ');
                }
                push_int(&mut out, i64::from(c.day), 0);
            }
            Std::ZeroDay => push_int(&mut out, i64::from(c.day), 2),
            Std::UnderYearDay => {
                if c.yday < 100 {
                    out.push(' ');
                    if c.yday < 10 {
                        out.push(' ');
                    }
                }
                push_int(&mut out, i64::from(c.yday), 0);
            }
            Std::ZeroYearDay => push_int(&mut out, i64::from(c.yday), 3),
            Std::Hour => push_int(&mut out, i64::from(c.hour), 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let hr = if c.hour.is_multiple_of(12) { 12 } else { c.hour % 12 };
                push_int(&mut out, i64::from(hr), if matches!(std, Std::Hour12) { 0 } else { 2 });
            }
            Std::Minute => push_int(&mut out, i64::from(c.min), 0),
            Std::ZeroMinute => push_int(&mut out, i64::from(c.min), 2),
            Std::Second => push_int(&mut out, i64::from(c.sec), 0),
            Std::ZeroSecond => push_int(&mut out, i64::from(c.sec), 2),
            Std::Pm => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            Std::PmLower => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Std::Tz => out.push_str("UTC"),
            Std::NumTz { iso, colon, seconds, short } => {
                if iso {
                    out.push('Z');
                } else {
                    out.push_str("+00");
                    if !short {
                        out.push_str(if colon { ":00" } else { "00" });
                    }
                    if seconds {
                        out.push_str(if colon { ":00" } else { "00" });
                    }
                }
            }
            Std::Frac { n, trim, sep } => {
                let digits = format!("{:09}", c.nsec);
                let mut n = n.min(9);
                if trim {
                    while n > 0 && digits.as_bytes()[n - 1] == b'0' {
                        n -= 1;
                    }
                    if n == 0 {
                        continue;
                    }
                }
                out.push(sep);
                out.push_str(&digits[..n]);
            }
        }
    }
    out
}

/// `Time.String` for a UTC time without a monotonic reading.
pub(super) fn time_string(t: GoTime) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// `Duration.String`: `72h3m0.5s`, `1.5µs`, `0s`.
pub(super) fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: one unit with a fraction.
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        out.push_str(&frac_string(u, prec));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let frac = u % 1_000_000_000;
        let h = secs / 3600;
        let m = secs / 60 % 60;
        let s = secs % 60;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac_string(s * 1_000_000_000 + frac, 9));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / 10^prec` with the fraction's trailing zeros (and a bare point) removed.
fn frac_string(v: u64, prec: u32) -> String {
    let p = 10u64.pow(prec);
    let int = v / p;
    let frac = v % p;
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{:0width$}", frac, width = prec as usize);
    format!("{int}.{}", f.trim_end_matches('0'))
}
