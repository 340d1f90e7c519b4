//! Go's `fmt` printing of template values: `Sprint`, `Sprintln` and `Sprintf` (the `print`,
//! `println` and `printf` functions) and the `%v` that template actions print with. Flags,
//! width, precision, argument indexes and the `%!verb(type=value)` error forms follow
//! `fmt/print.go` and `fmt/format.go`.

use super::gotime;
use super::strconv::{can_backquote, format_float, is_print, quote, quote_rune, quote_to_ascii};
use super::value::{DataRef, Sample, Value};

mod printf;

#[derive(Clone, Copy, Default)]
struct Flags {
    wid_present: bool,
    prec_present: bool,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: usize,
    prec: usize,
}

/// A `pp`: the output buffer and the current verb's flags.
#[derive(Default)]
pub(super) struct Printer {
    pub(super) buf: String,
    f: Flags,
}

const LDIGITS: &[u8; 16] = b"0123456789abcdef";
const UDIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// `fmt.Sprint(args...)`.
pub(super) fn sprint(args: &[Value<'_>]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = arg.as_str().is_some();
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// `fmt.Sprint` of arguments made printable as templates make them (`evalArgs`): a nil
/// interface is `<no value>` and a pointer to a sample prints as the sample.
pub(super) fn sprint_printable(args: &[Value<'_>]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let arg = match arg {
            Value::NilIface | Value::Invalid => &Value::str("<no value>"),
            a => a,
        };
        let is_string = arg.as_str().is_some();
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        match arg {
            Value::Sample(Some(s)) => p.print_sample(s, 'v', 1),
            a => p.print_arg(a, 'v'),
        }
        prev_string = is_string;
    }
    p.buf
}

/// `fmt.Sprintln(args...)`.
pub(super) fn sprintln(args: &[Value<'_>]) -> String {
    let mut p = Printer::default();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// `fmt.Sprintf(format, args...)`.
pub(super) fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut p = Printer::default();
    p.do_printf(format, args);
    p.buf
}

/// `fmt.Sprint(v)`: how `%v` shows one value.
pub(super) fn to_string(v: &Value<'_>) -> String {
    let mut p = Printer::default();
    p.print_arg(v, 'v');
    p.buf
}

/// What a template action prints for a value: Go's `printableValue` then `fmt.Fprint`.
pub(super) fn print_action(out: &mut String, v: &Value<'_>) {
    let mut p = Printer { buf: std::mem::take(out), f: Flags::default() };
    match v {
        Value::Invalid => p.buf.push_str("<no value>"),
        Value::Sample(Some(s)) => p.print_sample(s, 'v', 1),
        Value::Time { t, ptr: true } => p.buf.push_str(&gotime::time_string(*t)),
        Value::Duration { d, ptr: true } => p.buf.push_str(&gotime::duration_string(*d)),
        v => p.print_arg(v, 'v'),
    }
    *out = p.buf;
}

impl Printer {
    fn clear_flags(&mut self) {
        self.f = Flags::default();
    }

    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero { '0' } else { ' ' };
        for _ in 0..n {
            self.buf.push(c);
        }
    }

    fn pad(&mut self, s: &str) {
        if !self.f.wid_present || self.f.wid == 0 {
            self.buf.push_str(s);
            return;
        }
        let width = self.f.wid.saturating_sub(s.chars().count());
        if !self.f.minus {
            self.write_padding(width);
            self.buf.push_str(s);
        } else {
            self.buf.push_str(s);
            self.write_padding(width);
        }
    }

    fn fmt_boolean(&mut self, v: bool) {
        self.pad(if v { "true" } else { "false" });
    }

    fn fmt_unicode(&mut self, u: u64) {
        let mut prec = 4;
        if self.f.prec_present && self.f.prec > 4 {
            prec = self.f.prec;
        }
        let mut s = format!("{u:X}");
        while s.len() < prec {
            s.insert(0, '0');
        }
        s.insert_str(0, "U+");
        if self.f.sharp
            && let Some(r) = u32::try_from(u).ok().and_then(char::from_u32).filter(|&r| is_print(r))
        {
            s.push_str(&format!(" '{r}'"));
        }
        let zero = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = zero;
    }

    fn fmt_integer(&mut self, u: u64, base: u32, signed: bool, verb: char, digits: &[u8; 16]) {
        let negative = signed && (u as i64) < 0;
        let mut u = if negative { (u as i64).unsigned_abs() } else { u };
        let mut prec = 0usize;
        if self.f.prec_present {
            prec = self.f.prec;
            if prec == 0 && u == 0 {
                let zero = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid);
                self.f.zero = zero;
                return;
            }
        } else if self.f.zero && self.f.wid_present {
            prec = self.f.wid;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut rev: Vec<u8> = Vec::with_capacity(24);
        let b = u64::from(base);
        while u >= b {
            rev.push(digits[(u % b) as usize]);
            u /= b;
        }
        rev.push(digits[u as usize]);
        while rev.len() < prec {
            rev.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => rev.extend_from_slice(b"b0"),
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => {
                    rev.push(digits[10] + (b'x' - b'a'));
                    rev.push(b'0');
                }
                _ => {}
            }
        }
        if verb == 'O' {
            rev.extend_from_slice(b"o0");
        }
        if negative {
            rev.push(b'-');
        } else if self.f.plus {
            rev.push(b'+');
        } else if self.f.space {
            rev.push(b' ');
        }
        rev.reverse();
        let s = String::from_utf8_lossy(&rev).into_owned();
        let zero = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = zero;
    }

    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        if self.f.prec_present
            && let Some((i, _)) = s.char_indices().nth(self.f.prec)
        {
            return &s[..i];
        }
        s
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad(s);
    }

    fn fmt_sx(&mut self, s: &str, digits: &[u8; 16]) {
        let mut length = s.len();
        if self.f.prec_present && self.f.prec < length {
            length = self.f.prec;
        }
        let mut width = 2 * length;
        if width > 0 {
            if self.f.space {
                if self.f.sharp {
                    width *= 2;
                }
                width += length - 1;
            } else if self.f.sharp {
                width += 2;
            }
        } else {
            if self.f.wid_present {
                self.write_padding(self.f.wid);
            }
            return;
        }
        if self.f.wid_present && self.f.wid > width && !self.f.minus {
            self.write_padding(self.f.wid - width);
        }
        let x = if digits[10] == b'a' { 'x' } else { 'X' };
        if self.f.sharp {
            self.buf.push('0');
            self.buf.push(x);
        }
        for (i, &c) in s.as_bytes()[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push('0');
                    self.buf.push(x);
                }
            }
            self.buf.push(digits[usize::from(c >> 4)] as char);
            self.buf.push(digits[usize::from(c & 15)] as char);
        }
        if self.f.wid_present && self.f.wid > width && self.f.minus {
            self.write_padding(self.f.wid - width);
        }
    }

    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            self.pad(&format!("`{s}`"));
            return;
        }
        let q = if self.f.plus { quote_to_ascii(s) } else { quote(s) };
        self.pad(&q);
    }

    fn rune_of(c: u64) -> char {
        u32::try_from(c).ok().and_then(char::from_u32).unwrap_or('\u{fffd}')
    }

    fn fmt_float_inner(&mut self, v: f64, verb: char, prec: i32) {
        let prec = if self.f.prec_present { self.f.prec as i32 } else { prec };
        let mut num = format_float(v, verb, prec);
        if !num.starts_with(['-', '+']) {
            num.insert(0, '+');
        }
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        let second = num.as_bytes().get(1).copied();
        if second == Some(b'I') || second == Some(b'N') {
            let zero = self.f.zero;
            self.f.zero = false;
            if second == Some(b'N') && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad(&num);
            self.f.zero = zero;
            return;
        }
        if self.f.sharp && verb != 'b' {
            num = sharp_float(num, verb, prec);
        }
        if self.f.plus || !num.starts_with('+') {
            if self.f.zero && self.f.wid_present && self.f.wid > num.len() {
                let (sign, rest) = num.split_at(1);
                self.buf.push_str(sign);
                self.write_padding(self.f.wid - num.len());
                self.buf.push_str(rest);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }

    fn bad_verb(&mut self, verb: char, arg: &Value<'_>) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match arg {
            Value::Invalid | Value::NilIface => self.buf.push_str("<nil>"),
            v => {
                self.buf.push_str(v.type_name());
                self.buf.push('=');
                self.print_arg(v, 'v');
            }
        }
        self.buf.push(')');
    }

    fn fmt_bool(&mut self, v: bool, verb: char, arg: &Value<'_>) {
        match verb {
            't' | 'v' => self.fmt_boolean(v),
            _ => self.bad_verb(verb, arg),
        }
    }

    fn fmt0x64(&mut self, v: u64, leading0x: bool) {
        let sharp = self.f.sharp;
        self.f.sharp = leading0x;
        self.fmt_integer(v, 16, false, 'v', LDIGITS);
        self.f.sharp = sharp;
    }

    fn pp_fmt_integer(&mut self, v: u64, signed: bool, verb: char, arg: &Value<'_>) {
        match verb {
            'v' if self.f.sharp_v && !signed => self.fmt0x64(v, true),
            'v' | 'd' => self.fmt_integer(v, 10, signed, verb, LDIGITS),
            'b' => self.fmt_integer(v, 2, signed, verb, LDIGITS),
            'o' | 'O' => self.fmt_integer(v, 8, signed, verb, LDIGITS),
            'x' => self.fmt_integer(v, 16, signed, verb, LDIGITS),
            'X' => self.fmt_integer(v, 16, signed, verb, UDIGITS),
            'c' => {
                let r = Self::rune_of(v);
                self.pad(&r.to_string());
            }
            'q' => {
                let q = quote_rune(Self::rune_of(v), self.f.plus);
                self.pad(&q);
            }
            'U' => self.fmt_unicode(v),
            _ => self.bad_verb(verb, arg),
        }
    }

    fn pp_fmt_float(&mut self, v: f64, verb: char, arg: &Value<'_>) {
        match verb {
            'v' => self.fmt_float_inner(v, 'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float_inner(v, verb, -1),
            'f' | 'e' | 'E' => self.fmt_float_inner(v, verb, 6),
            'F' => self.fmt_float_inner(v, 'f', 6),
            _ => self.bad_verb(verb, arg),
        }
    }

    fn fmt_complex(&mut self, re: f64, im: f64, verb: char, arg: &Value<'_>) {
        match verb {
            'v' | 'b' | 'g' | 'G' | 'x' | 'X' | 'f' | 'F' | 'e' | 'E' => {
                let plus = self.f.plus;
                self.buf.push('(');
                self.pp_fmt_float(re, verb, arg);
                self.f.plus = true;
                self.pp_fmt_float(im, verb, arg);
                self.buf.push_str("i)");
                self.f.plus = plus;
            }
            _ => self.bad_verb(verb, arg),
        }
    }

    fn fmt_string(&mut self, v: &str, verb: char, arg: &Value<'_>) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(v),
            'v' | 's' => self.fmt_s(v),
            'x' => self.fmt_sx(v, LDIGITS),
            'X' => self.fmt_sx(v, UDIGITS),
            'q' => self.fmt_q(v),
            _ => self.bad_verb(verb, arg),
        }
    }

    /// A pointer-like value's address; Go's are arbitrary, ours are the values' own.
    fn address(v: &Value<'_>) -> u64 {
        match v {
            Value::Sample(Some(s)) => std::rc::Rc::as_ptr(s) as usize as u64,
            Value::Sample(None) => 0,
            Value::Samples(s) => std::rc::Rc::as_ptr(s) as usize as u64,
            Value::Labels(m) => &**m as *const _ as usize as u64,
            Value::Map(m) => std::rc::Rc::as_ptr(m) as usize as u64,
            _ => 0xc0_0001_0000,
        }
    }

    fn fmt_pointer(&mut self, v: &Value<'_>, verb: char) {
        let is_pointer = matches!(
            v,
            Value::Labels(_)
                | Value::Map(_)
                | Value::Samples(_)
                | Value::Sample(_)
                | Value::Time { ptr: true, .. }
                | Value::Duration { ptr: true, .. }
        );
        if !is_pointer {
            return self.bad_verb(verb, v);
        }
        let u = Self::address(v);
        match verb {
            'v' => {
                if self.f.sharp_v {
                    self.buf.push('(');
                    self.buf.push_str(v.type_name());
                    self.buf.push_str(")(");
                    if u == 0 {
                        self.buf.push_str("nil");
                    } else {
                        self.fmt0x64(u, true);
                    }
                    self.buf.push(')');
                } else if u == 0 {
                    self.pad("<nil>");
                } else {
                    self.fmt0x64(u, !self.f.sharp);
                }
            }
            'p' => self.fmt0x64(u, !self.f.sharp),
            'b' | 'o' | 'd' | 'x' | 'X' => self.pp_fmt_integer(u, false, verb, v),
            _ => self.bad_verb(verb, v),
        }
    }

    /// Stringers (`time.Time`, `time.Duration` and pointers to them) print through
    /// `String` for the string verbs, and `GoString` for `%#v` on times.
    fn handle_methods(&mut self, arg: &Value<'_>, verb: char) -> bool {
        let s = match arg {
            Value::Time { t, .. } => {
                if self.f.sharp_v {
                    let s = go_string_time(*t);
                    self.fmt_s(&s);
                    return true;
                }
                gotime::time_string(*t)
            }
            Value::Duration { d, .. } if !self.f.sharp_v => gotime::duration_string(*d),
            _ => return false,
        };
        match verb {
            'v' | 's' | 'x' | 'X' | 'q' => {
                self.fmt_string(&s, verb, arg);
                true
            }
            _ => {
                if matches!(arg, Value::Time { .. }) {
                    // Go would print the struct's private fields; show the time instead.
                    self.buf.push_str("%!");
                    self.buf.push(verb);
                    self.buf.push_str(&format!("({}={s})", arg.type_name()));
                    return true;
                }
                false
            }
        }
    }

    pub(super) fn print_arg(&mut self, arg: &Value<'_>, verb: char) {
        if verb == 'w' {
            // %w is only valid in Errorf.
            return self.bad_verb(verb, arg);
        }
        if matches!(arg, Value::Invalid | Value::NilIface) {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(verb, arg),
            }
            return;
        }
        match verb {
            'T' => return self.fmt_s(arg.type_name()),
            'p' => return self.fmt_pointer(arg, 'p'),
            _ => {}
        }
        match arg {
            Value::Bool(b) => self.fmt_bool(*b, verb, arg),
            Value::Float(f) => self.pp_fmt_float(*f, verb, arg),
            Value::Complex(r, i) => self.fmt_complex(*r, *i, verb, arg),
            Value::Int(i) => self.pp_fmt_integer(*i as u64, true, verb, arg),
            Value::Byte(b) => self.pp_fmt_integer(u64::from(*b), false, verb, arg),
            Value::Str(s) => self.fmt_string(s, verb, arg),
            _ => {
                if !self.handle_methods(arg, verb) {
                    self.print_value(arg, verb, 0);
                }
            }
        }
    }

    fn print_map_entries<'v>(
        &mut self,
        type_name: &str,
        entries: impl Iterator<Item = (&'v str, Entry<'v>)>,
        verb: char,
        depth: usize,
    ) {
        if self.f.sharp_v {
            self.buf.push_str(type_name);
            self.buf.push('{');
        } else {
            self.buf.push_str("map[");
        }
        for (i, (k, v)) in entries.enumerate() {
            if i > 0 {
                if self.f.sharp_v {
                    self.buf.push_str(", ");
                } else {
                    self.buf.push(' ');
                }
            }
            let key = Value::str(k);
            self.print_value(&key, verb, depth + 1);
            self.buf.push(':');
            match v {
                Entry::S(s) => self.print_value(&Value::str(s), verb, depth + 1),
                Entry::V(v) => self.print_value(v, verb, depth + 1),
            }
        }
        self.buf.push(if self.f.sharp_v { '}' } else { ']' });
    }

    fn struct_sep(&mut self, name: &str, first: bool) {
        if !first {
            if self.f.sharp_v {
                self.buf.push_str(", ");
            } else {
                self.buf.push(' ');
            }
        }
        if self.f.plus_v || self.f.sharp_v {
            self.buf.push_str(name);
            self.buf.push(':');
        }
    }

    fn print_sample(&mut self, s: &Sample, verb: char, depth: usize) {
        if self.f.sharp_v {
            self.buf.push_str("template.sample");
        }
        self.buf.push('{');
        self.struct_sep("Labels", true);
        self.print_labels(&s.labels, verb, depth + 1);
        self.struct_sep("Value", false);
        self.print_value(&Value::Float(s.value), verb, depth + 2);
        self.buf.push('}');
    }

    fn print_labels(&mut self, m: &crate::alert::LabelMap, verb: char, depth: usize) {
        self.print_map_entries("map[string]string", m.iter().map(|(k, v)| (k.as_str(), Entry::S(v))), verb, depth);
    }

    fn print_data(&mut self, d: &DataRef<'_>, verb: char, depth: usize) {
        if self.f.sharp_v {
            self.buf.push_str(super::value::DATA_TYPE);
        }
        self.buf.push('{');
        self.struct_sep("Labels", true);
        self.print_labels(d.labels, verb, depth + 1);
        self.struct_sep("ExternalLabels", false);
        self.print_labels(d.external_labels, verb, depth + 1);
        self.struct_sep("ExternalURL", false);
        self.print_value(&Value::str(d.external_url), verb, depth + 1);
        self.struct_sep("Value", false);
        self.print_value(&Value::Float(d.value), verb, depth + 2);
        self.buf.push('}');
    }

    fn print_value(&mut self, v: &Value<'_>, verb: char, depth: usize) {
        if depth > 0 && !matches!(v, Value::Invalid) && self.handle_methods(v, verb) {
            return;
        }
        match v {
            Value::Invalid => {
                if depth == 0 {
                    self.buf.push_str("<invalid reflect.Value>");
                } else if verb == 'v' {
                    self.buf.push_str("<nil>");
                } else {
                    self.bad_verb(verb, v);
                }
            }
            Value::NilIface => {
                if self.f.sharp_v {
                    self.buf.push_str("interface {}(nil)");
                } else {
                    self.buf.push_str("<nil>");
                }
            }
            Value::Bool(b) => self.fmt_bool(*b, verb, v),
            Value::Int(i) => self.pp_fmt_integer(*i as u64, true, verb, v),
            Value::Duration { d, ptr: false } => self.pp_fmt_integer(*d as u64, true, verb, v),
            Value::Byte(b) => self.pp_fmt_integer(u64::from(*b), false, verb, v),
            Value::Float(f) => self.pp_fmt_float(*f, verb, v),
            Value::Complex(r, i) => self.fmt_complex(*r, *i, verb, v),
            Value::Str(s) | Value::Html(s) => self.fmt_string(s, verb, v),
            Value::Labels(m) => self.print_labels(m, verb, depth),
            Value::Map(m) => self.print_map_entries(
                "map[string]interface {}",
                m.iter().map(|(k, v)| (k.as_str(), Entry::V(v))),
                verb,
                depth,
            ),
            Value::Samples(s) => {
                if self.f.sharp_v {
                    self.buf.push_str("template.queryResult{");
                } else {
                    self.buf.push('[');
                }
                let s = s.borrow();
                for (i, e) in s.iter().enumerate() {
                    if i > 0 {
                        if self.f.sharp_v {
                            self.buf.push_str(", ");
                        } else {
                            self.buf.push(' ');
                        }
                    }
                    self.print_value(&Value::Sample(Some(e.clone())), verb, depth + 1);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Sample(Some(s)) if depth == 0 => {
                self.buf.push('&');
                self.print_sample(s, verb, depth + 1);
            }
            Value::Sample(_) | Value::Duration { ptr: true, .. } => self.fmt_pointer(v, verb),
            Value::Time { t, .. } => {
                if depth == 0 && matches!(v, Value::Time { ptr: true, .. }) {
                    self.buf.push('&');
                }
                let s = gotime::time_string(*t);
                self.fmt_string(&s, 'v', v);
            }
            Value::Data(d) => self.print_data(d, verb, depth),
        }
    }
}

enum Entry<'v> {
    S(&'v str),
    V(&'v Value<'v>),
}

/// The `#` flag on floats: keep a decimal point and pad to the precision's digits.
fn sharp_float(num: String, verb: char, prec: i32) -> String {
    let mut digits: i32 = match verb {
        'v' | 'g' | 'G' | 'x' => {
            if prec == -1 {
                6
            } else {
                prec
            }
        }
        _ => 0,
    };
    let b = num.as_bytes();
    let mut tail = String::new();
    let mut body_end = b.len();
    let mut has_point = false;
    let mut saw_nonzero = false;
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'.' => has_point = true,
            b'p' | b'P' => {
                tail = num[i..].to_string();
                body_end = i;
                break;
            }
            b'e' | b'E' if verb != 'x' && verb != 'X' => {
                tail = num[i..].to_string();
                body_end = i;
                break;
            }
            c => {
                if c != b'0' {
                    saw_nonzero = true;
                }
                if saw_nonzero {
                    digits -= 1;
                }
            }
        }
        i += 1;
    }
    let mut body = num[..body_end].to_string();
    if !has_point {
        if body.len() == 2 && body.as_bytes()[1] == b'0' {
            digits -= 1;
        }
        body.push('.');
    }
    while digits > 0 {
        body.push('0');
        digits -= 1;
    }
    body.push_str(&tail);
    body
}

/// `time.Time.GoString` for a UTC time.
fn go_string_time(t: super::value::GoTime) -> String {
    let c = gotime::civil(t);
    const MONTHS: [&str; 12] = [
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
    format!(
        "time.Date({}, time.{}, {}, {}, {}, {}, {}, time.UTC)",
        c.year,
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.min,
        c.sec,
        c.nsec
    )
}
