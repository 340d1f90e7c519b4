//! The parts of Go's `strconv` the template language shows in its output: quoting (`%q`, error
//! messages), unquoting string and character literals, integer and float parsing with Go's
//! syntax (underscores, base prefixes, `Inf`/`NaN`), and float formatting in every `fmt` verb
//! (`e f g b x`, shortest or with a precision, rounding half to even on exact ties as Go does).

/// Go's `unicode.IsPrint`, approximated without Unicode category tables: graphic characters
/// and the ASCII space are printable; controls, other spaces, format characters, surrogates
/// and private-use characters are not. (Unassigned code points count as printable here.)
pub(super) fn is_print(r: char) -> bool {
    if r.is_ascii() {
        return (' '..='~').contains(&r);
    }
    let c = r as u32;
    !(r.is_control()
        || r.is_whitespace()
        || matches!(c, 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E)
        || matches!(c, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB)
        || matches!(c, 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A)
        || matches!(c, 0xE0001 | 0xE0020..=0xE007F)
        || matches!(c, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
        || matches!(c, 0xFFFE | 0xFFFF))
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

fn push_escaped(out: &mut String, r: char, quote: char, ascii_only: bool) {
    if r == quote || r == '\\' {
        out.push('\\');
        out.push(r);
        return;
    }
    if ascii_only {
        if r.is_ascii() && is_print(r) {
            out.push(r);
            return;
        }
    } else if is_print(r) {
        out.push(r);
        return;
    }
    match r {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ => {
            let c = r as u32;
            if c < 0x20 || c == 0x7f {
                out.push_str("\\x");
                out.push(LOWER_HEX[(c >> 4) as usize] as char);
                out.push(LOWER_HEX[(c & 0xf) as usize] as char);
            } else if c < 0x10000 {
                out.push_str(&format!("\\u{c:04x}"));
            } else {
                out.push_str(&format!("\\U{c:08x}"));
            }
        }
    }
}

fn quote_with(s: &str, quote: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for r in s.chars() {
        push_escaped(&mut out, r, quote, ascii_only);
    }
    out.push(quote);
    out
}

/// `strconv.Quote`.
pub(super) fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

/// `strconv.QuoteToASCII`.
pub(super) fn quote_to_ascii(s: &str) -> String {
    quote_with(s, '"', true)
}

/// `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub(super) fn quote_rune(r: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, r, '\'', ascii_only);
    out.push('\'');
    out
}

/// `fmt`'s `%#U`: `U+00A0`, with ` 'x'` appended when the rune is printable.
pub(super) fn quote_rune_u(r: char) -> String {
    if is_print(r) { format!("U+{:04X} '{r}'", r as u32) } else { format!("U+{:04X}", r as u32) }
}

/// `strconv.CanBackquote`.
pub(super) fn can_backquote(s: &str) -> bool {
    s.chars().all(|r| {
        if r.len_utf8() > 1 {
            return r != '\u{feff}';
        }
        !((r < ' ' && r != '\t') || r == '`' || r == '\x7f')
    })
}

/// `strconv.UnquoteChar` on bytes: the value (a rune, or a raw byte for `\x` and octal
/// escapes) and the rest; `None` is Go's `ErrSyntax`.
fn unquote_char(s: &str, quote: u8) -> Option<(Unquoted, &str)> {
    let b = s.as_bytes();
    let c = *b.first()?;
    if c == quote && (quote == b'\'' || quote == b'"') {
        return None;
    }
    if c >= 0x80 {
        let r = s.chars().next()?;
        return Some((Unquoted::Rune(r), &s[r.len_utf8()..]));
    }
    if c != b'\\' {
        return Some((Unquoted::Rune(c as char), &s[1..]));
    }
    let c = *b.get(1)?;
    if !c.is_ascii() {
        return None;
    }
    let rest = &s[2..];
    let simple = |r: char| Some((Unquoted::Rune(r), rest));
    match c {
        b'a' => simple('\x07'),
        b'b' => simple('\x08'),
        b'f' => simple('\x0c'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\x0b'),
        b'\\' => simple('\\'),
        b'\'' | b'"' if c == quote => simple(c as char),
        b'x' | b'u' | b'U' => {
            let n = match c {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            let v = u32::from_str_radix(digits, 16).ok().filter(|_| digits.bytes().all(|d| d.is_ascii_hexdigit()))?;
            let rest = &rest[n..];
            if c == b'x' {
                return Some((Unquoted::Byte(v as u8), rest));
            }
            Some((Unquoted::Rune(char::from_u32(v)?), rest))
        }
        b'0'..=b'7' => {
            let more = rest.as_bytes().get(..2)?;
            let mut v = u32::from(c - b'0');
            for &d in more {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                v = (v << 3) | u32::from(d - b'0');
            }
            if v > 255 {
                return None;
            }
            Some((Unquoted::Byte(v as u8), &rest[2..]))
        }
        _ => None,
    }
}

enum Unquoted {
    Rune(char),
    Byte(u8),
}

impl Unquoted {
    fn push_to(&self, out: &mut Vec<u8>) {
        match *self {
            Unquoted::Byte(b) => out.push(b),
            Unquoted::Rune(r) => {
                let mut buf = [0; 4];
                out.extend_from_slice(r.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// `strconv.Unquote` for a string literal token (`"..."` or `` `...` ``). Go strings may hold
/// invalid UTF-8 (from `\x` escapes); such bytes become U+FFFD here.
pub(super) fn unquote(s: &str) -> Result<String, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b[b.len() - 1] {
        return Err(SYNTAX);
    }
    let inner = &s[1..s.len() - 1];
    match b[0] {
        b'`' => {
            if inner.contains('`') {
                return Err(SYNTAX);
            }
            Ok(inner.replace('\r', ""))
        }
        b'"' => {
            let mut out = Vec::with_capacity(inner.len());
            let mut rest = inner;
            while !rest.is_empty() {
                if rest.starts_with('\n') {
                    return Err(SYNTAX);
                }
                let (v, tail) = unquote_char(rest, b'"').ok_or(SYNTAX)?;
                v.push_to(&mut out);
                rest = tail;
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        _ => Err(SYNTAX),
    }
}

/// The value of a character constant token (`'a'`, `'\n'`, `'\x41'`), or Go's error text.
pub(super) fn unquote_char_constant(text: &str) -> Result<u32, String> {
    let (v, tail) = unquote_char(&text[1..], b'\'').ok_or_else(|| "invalid syntax".to_string())?;
    if tail != "'" {
        return Err(format!("malformed character constant: {text}"));
    }
    Ok(match v {
        Unquoted::Rune(r) => r as u32,
        Unquoted::Byte(b) => u32::from(b),
    })
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let mut s = s.as_bytes();
    if let Some(b'+' | b'-') = s.first() {
        s = &s[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, 0, 64)`: base prefixes (`0x`, `0o`, `0b`, a leading `0` for octal)
/// and underscores; no sign.
pub(super) fn parse_uint0(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let (base, digits) = if b[0] == b'0' && b.len() >= 3 && matches!(b[1].to_ascii_lowercase(), b'x' | b'o' | b'b') {
        let base = match b[1].to_ascii_lowercase() {
            b'x' => 16,
            b'o' => 8,
            _ => 2,
        };
        (base, &s[2..])
    } else if b[0] == b'0' && b.len() > 1 {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    let mut any = false;
    for c in digits.chars() {
        if c == '_' {
            underscores = true;
            continue;
        }
        let d = c.to_digit(base)?;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
        any = true;
    }
    if !any && base != 8 {
        return None;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    Some(n)
}

/// `strconv.ParseInt(s, 0, 64)`.
pub(super) fn parse_int0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint0(body)?;
    if neg {
        if u > 1 << 63 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// Why `strconv.ParseFloat` failed.
#[derive(Debug, PartialEq)]
pub(super) enum FloatError {
    Syntax,
    Range,
}

/// `strconv.ParseFloat(s, 64)` with Go's syntax: optional sign, decimal or `0x` hexadecimal
/// mantissa with `_` separators, `e`/`p` exponents, `Inf`, `Infinity` and `NaN` in any case.
pub(super) fn parse_float(s: &str) -> Result<f64, FloatError> {
    let b = s.as_bytes();
    // Special values.
    let (sign, rest) = match b.first() {
        Some(b'+') => (1.0, &s[1..]),
        Some(b'-') => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        return Ok(sign * f64::INFINITY);
    }
    if s.eq_ignore_ascii_case("nan") {
        return Ok(f64::NAN);
    }
    let r = rest.as_bytes();
    let hex = r.len() > 2 && r[0] == b'0' && r[1].eq_ignore_ascii_case(&b'x');
    let body = if hex { &rest[2..] } else { rest };
    let bb = body.as_bytes();
    let mut i = 0;
    let mut saw_digits = false;
    let mut saw_dot = false;
    let mut underscores = false;
    let mut mantissa = String::new();
    let mut frac_digits: i64 = 0;
    while i < bb.len() {
        let c = bb[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' {
            if saw_dot {
                break;
            }
            saw_dot = true;
        } else if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw_digits = true;
            mantissa.push(c as char);
            if saw_dot {
                frac_digits += 1;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !saw_digits {
        return Err(FloatError::Syntax);
    }
    let exp_char = if hex { b'p' } else { b'e' };
    let mut exp: i64 = 0;
    if i < bb.len() && bb[i].to_ascii_lowercase() == exp_char {
        i += 1;
        let mut esign = 1;
        match bb.get(i) {
            Some(b'+') => i += 1,
            Some(b'-') => {
                esign = -1;
                i += 1;
            }
            _ => {}
        }
        if !bb.get(i).is_some_and(u8::is_ascii_digit) {
            return Err(FloatError::Syntax);
        }
        while i < bb.len() && (bb[i].is_ascii_digit() || bb[i] == b'_') {
            if bb[i] == b'_' {
                underscores = true;
            } else if exp < 10000 {
                exp = exp * 10 + i64::from(bb[i] - b'0');
            }
            i += 1;
        }
        exp *= esign;
    } else if hex {
        return Err(FloatError::Syntax);
    }
    if i != bb.len() {
        return Err(FloatError::Syntax);
    }
    if underscores && !underscore_ok(&s[..s.len()]) {
        return Err(FloatError::Syntax);
    }
    let v = if hex {
        let mut m: f64 = 0.0;
        for c in mantissa.chars() {
            m = m * 16.0 + f64::from(c.to_digit(16).unwrap_or(0));
        }
        let e = exp - 4 * frac_digits;
        let e = e.clamp(-2000, 2000) as i32;
        // Scale in two steps so that subnormal results are not flushed early.
        m * 2f64.powi(e / 2) * 2f64.powi(e - e / 2)
    } else {
        let text = format!("{mantissa}e{}", exp - frac_digits);
        text.parse::<f64>().map_err(|_| FloatError::Syntax)?
    };
    if v.is_infinite() {
        return Err(FloatError::Range);
    }
    Ok(sign * v)
}

/// Decimal digits of a float: `digits` without trailing zeros (empty for zero) and `dp`, the
/// position of the decimal point relative to the first digit (value = 0.digits × 10^dp).
struct Decimal {
    d: Vec<u8>,
    dp: i32,
}

impl Decimal {
    fn trim(mut self) -> Decimal {
        while self.d.last() == Some(&b'0') {
            self.d.pop();
        }
        if self.d.is_empty() {
            self.dp = 0;
        }
        self
    }

    /// The shortest digits that round-trip, as Go's Ryu picks them.
    fn shortest(v: f64) -> Decimal {
        if v == 0.0 {
            return Decimal { d: vec![], dp: 0 };
        }
        let mut buf = ryu::Buffer::new();
        let s = buf.format_finite(v.abs());
        let (mant, exp10) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (s, 0),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        let lead = all.iter().take_while(|&&c| c == b'0').count();
        let dp = int.len() as i32 - lead as i32 + exp10;
        Decimal { d: all[lead..].to_vec(), dp }.trim()
    }

    /// `n` (≥ 1) significant digits, correctly rounded (half to even on exact ties).
    fn fixed(v: f64, n: usize) -> Decimal {
        if v == 0.0 {
            return Decimal { d: vec![], dp: 0 };
        }
        let s = format!("{:.*e}", n - 1, v.abs());
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
        Decimal { d, dp: exp + 1 }.trim()
    }

    fn fmt_e(&self, out: &mut String, prec: i32, upper: bool) {
        out.push(self.d.first().map_or('0', |&c| c as char));
        if prec > 0 {
            out.push('.');
            for i in 1..=prec as usize {
                out.push(self.d.get(i).map_or('0', |&c| c as char));
            }
        }
        out.push(if upper { 'E' } else { 'e' });
        let mut exp = if self.d.is_empty() { 0 } else { self.dp - 1 };
        if exp < 0 {
            out.push('-');
            exp = -exp;
        } else {
            out.push('+');
        }
        if exp < 10 {
            out.push('0');
        }
        out.push_str(&exp.to_string());
    }

    fn fmt_f(&self, out: &mut String, prec: i32) {
        if self.dp > 0 {
            let n = (self.dp as usize).min(self.d.len());
            out.extend(self.d[..n].iter().map(|&c| c as char));
            for _ in n..self.dp as usize {
                out.push('0');
            }
        } else {
            out.push('0');
        }
        if prec > 0 {
            out.push('.');
            for i in 1..=prec {
                let j = self.dp + i - 1;
                let c = if j >= 0 { self.d.get(j as usize).copied() } else { None };
                out.push(c.map_or('0', char::from));
            }
        }
    }
}

/// `strconv.FormatFloat(v, fmt, prec, 64)` for `fmt` in `e E f g G b x X`; `prec < 0` means
/// the shortest representation that round-trips.
pub(super) fn format_float(v: f64, fmt: char, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    match fmt {
        'b' => {
            let bits = v.to_bits();
            let mut exp = ((bits >> 52) & 0x7ff) as i32;
            let mut mant = bits & ((1 << 52) - 1);
            if exp == 0 {
                exp += 1;
            } else {
                mant |= 1 << 52;
            }
            exp += -1023 - 52;
            out.push_str(&format!("{mant}p{}{}", if exp >= 0 { "+" } else { "" }, exp));
        }
        'x' | 'X' => fmt_x(&mut out, v, prec, fmt),
        'f' if prec >= 0 => {
            let s = format!("{:.*}", prec as usize, v.abs());
            out.push_str(&s);
        }
        'e' | 'E' | 'f' | 'g' | 'G' => {
            let shortest = prec < 0;
            let mut prec = prec;
            let digs = if shortest {
                let d = Decimal::shortest(v);
                prec = match fmt {
                    'e' | 'E' => (d.d.len() as i32 - 1).max(0),
                    'f' => (d.d.len() as i32 - d.dp).max(0),
                    _ => d.d.len() as i32,
                };
                d
            } else {
                let n = match fmt {
                    'e' | 'E' => prec as usize + 1,
                    _ => {
                        if prec == 0 {
                            prec = 1;
                        }
                        prec as usize
                    }
                };
                Decimal::fixed(v, n)
            };
            match fmt {
                'e' | 'E' => digs.fmt_e(&mut out, prec, fmt == 'E'),
                'f' => digs.fmt_f(&mut out, prec),
                _ => {
                    let nd = digs.d.len() as i32;
                    let mut eprec = prec;
                    if eprec > nd && nd >= digs.dp {
                        eprec = nd;
                    }
                    if shortest {
                        eprec = 6;
                    }
                    let exp = digs.dp - 1;
                    if exp < -4 || exp >= eprec {
                        if prec > nd {
                            prec = nd;
                        }
                        digs.fmt_e(&mut out, prec - 1, fmt == 'G');
                    } else {
                        if prec > digs.dp {
                            prec = nd;
                        }
                        digs.fmt_f(&mut out, (prec - digs.dp).max(0));
                    }
                }
            }
        }
        _ => {
            out.push('%');
            out.push(fmt);
        }
    }
    out
}

/// Go's `%x` for floats: `-0x1.8p+01`.
fn fmt_x(out: &mut String, v: f64, prec: i32, fmt: char) {
    let bits = v.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = (prec * 4) as u32;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if fmt == 'X' { b"0123456789ABCDEF" } else { LOWER_HEX };
    out.push('0');
    out.push(fmt);
    out.push((b'0' + ((mant >> 60) & 1) as u8) as char);
    mant <<= 4;
    if prec < 0 && mant != 0 {
        out.push('.');
        while mant != 0 {
            out.push(hex[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
        }
    } else if prec > 0 {
        out.push('.');
        for _ in 0..prec {
            out.push(hex[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
        }
    }
    out.push(if fmt == 'X' { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

/// `%v` of a float64: the shortest `%g`.
pub(super) fn format_g(v: f64) -> String {
    format_float(v, 'g', -1)
}

/// Go's `net/url.QueryEscape`.
pub(super) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(b"0123456789ABCDEF"[(b >> 4) as usize] as char);
                out.push(b"0123456789ABCDEF"[(b & 15) as usize] as char);
            }
        }
    }
    out
}
