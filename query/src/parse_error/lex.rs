//! The lexer of the parse-error locator: PromQL tokens with byte positions, ending at the
//! first lexer error (worded as Prometheus's lexer words it) or at the end of input.

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Kind {
    /// Identifiers and keywords (classified by the recogniser, case-insensitively).
    Ident,
    /// An identifier inside braces (never a keyword there).
    LabelName,
    Number,
    Duration,
    Str,
    /// Punctuation and operators, the text says which.
    Punct,
    Eof,
    /// A lexer error: it ends the stream, like Prometheus's ERROR item.
    Error(String),
}

#[derive(Clone, Debug)]
pub(super) struct Tok {
    pub(super) kind: Kind,
    pub(super) text: String,
    pub(super) pos: usize,
}

pub(super) const AGGREGATORS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
];
pub(super) const KEYWORDS: &[&str] =
    &["bool", "by", "group_left", "group_right", "ignoring", "offset", "on", "without", "smoothed", "anchored"];
pub(super) const WORD_OPERATORS: &[&str] = &["and", "or", "unless", "atan2"];
pub(super) const BINARY_OPERATORS: &[&str] = &["+", "-", "*", "/", "%", "^", "==", "!=", "<=", "<", ">=", ">"];

impl Tok {
    pub(super) fn lower(&self) -> String {
        self.text.to_ascii_lowercase()
    }

    pub(super) fn is(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Ident && self.text.eq_ignore_ascii_case(w)
    }

    /// Prometheus's `item.desc()`.
    pub(super) fn desc(&self) -> String {
        match &self.kind {
            Kind::Eof => "end of input".into(),
            Kind::Error(m) => m.clone(),
            Kind::Number => format!("number {}", go_quote(&self.text)),
            Kind::Duration => format!("duration {}", go_quote(&self.text)),
            Kind::LabelName => format!("identifier {}", go_quote(&self.text)),
            Kind::Str => format!("string {}", go_quote(&self.text)),
            Kind::Ident => {
                let l = self.lower();
                if KEYWORDS.contains(&l.as_str()) || l == "start" || l == "end" {
                    format!("<{}>", self.text)
                } else if WORD_OPERATORS.contains(&l.as_str()) {
                    format!("<op:{}>", self.text)
                } else if AGGREGATORS.contains(&l.as_str()) {
                    format!("<aggr:{}>", self.text)
                } else if self.text.contains(':') {
                    format!("metric identifier {}", go_quote(&self.text))
                } else {
                    format!("identifier {}", go_quote(&self.text))
                }
            }
            Kind::Punct => {
                if BINARY_OPERATORS.contains(&self.text.as_str()) || matches!(self.text.as_str(), "=~" | "!~" | "@") {
                    format!("<op:{}>", self.text)
                } else {
                    go_quote(&self.text)
                }
            }
        }
    }
}

/// Go's `%q` for the ASCII text of tokens.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Tokenises `q` as Prometheus's lexer does, up to and including the first lexer error (or
/// the end of input).
pub(super) fn lex(q: &str) -> Vec<Tok> {
    let b = q.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut parens: Vec<usize> = Vec::new();
    let mut in_braces = false;
    let mut in_brackets = false;
    let mut colon_seen = false;
    let tok = |kind: Kind, s: usize, e: usize| Tok { kind, text: q.get(s..e).unwrap_or("").to_string(), pos: s };
    let err = |msg: String, pos: usize| Tok { kind: Kind::Error(msg), text: String::new(), pos };
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if i >= b.len() {
            let t = if in_braces {
                err("unexpected end of input inside braces".into(), i)
            } else if in_brackets {
                err("unclosed left bracket".into(), i)
            } else if !parens.is_empty() {
                err("unclosed left parenthesis".into(), i)
            } else {
                Tok { kind: Kind::Eof, text: String::new(), pos: i }
            };
            toks.push(t);
            return toks;
        }
        let c = b[i];
        let start = i;
        // Strings.
        if c == b'"' || c == b'\'' || c == b'`' {
            let mut j = i + 1;
            let mut closed = false;
            while j < b.len() {
                if b[j] == b'\\' && c != b'`' {
                    j += 2;
                    continue;
                }
                if b[j] == c {
                    closed = true;
                    break;
                }
                if b[j] == b'\n' && c != b'`' {
                    break;
                }
                j += 1;
            }
            if !closed {
                toks.push(err("unterminated quoted string".into(), start));
                return toks;
            }
            i = j + 1;
            toks.push(tok(Kind::Str, start, i));
            continue;
        }
        if in_braces {
            match c {
                b'}' => {
                    in_braces = false;
                    i += 1;
                    toks.push(tok(Kind::Punct, start, i));
                }
                b',' => {
                    i += 1;
                    toks.push(tok(Kind::Punct, start, i));
                }
                b'=' | b'!' => {
                    let two = b.get(i + 1).copied();
                    let len = match (c, two) {
                        (b'=', Some(b'~')) | (b'!', Some(b'~')) | (b'!', Some(b'=')) => 2,
                        (b'=', _) => 1,
                        (_, Some(x)) => {
                            toks.push(err(
                                format!("unexpected character after '!' inside braces: '{}'", x as char),
                                start,
                            ));
                            return toks;
                        }
                        (_, None) => {
                            toks.push(err("unexpected end of input inside braces".into(), i + 1));
                            return toks;
                        }
                    };
                    i += len;
                    toks.push(tok(Kind::Punct, start, i));
                }
                c if is_ident_start(c) => {
                    while i < b.len() && is_ident_char(b[i]) {
                        i += 1;
                    }
                    toks.push(tok(Kind::LabelName, start, i));
                }
                b'{' => {
                    toks.push(err("unexpected left brace '{' inside braces".into(), start));
                    return toks;
                }
                _ => {
                    let ch = q[start..].chars().next().unwrap_or('?');
                    toks.push(err(format!("unexpected character inside braces: '{ch}'"), start));
                    return toks;
                }
            }
            continue;
        }
        // Numbers and durations.
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(|x| x.is_ascii_digit())) {
            match number_or_duration(b, i) {
                Ok((end, kind)) => {
                    i = end;
                    toks.push(tok(kind, start, i));
                }
                Err(end) => {
                    let text = q.get(start..end).unwrap_or("");
                    toks.push(err(format!("bad number or duration syntax: {}", go_quote(text)), start));
                    return toks;
                }
            }
            continue;
        }
        if is_ident_start(c) && !(in_brackets && c == b':') {
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            let t = tok(Kind::Ident, start, i);
            let l = t.lower();
            let kind = if l == "inf" || l == "nan" { Kind::Number } else { Kind::Ident };
            toks.push(Tok { kind, ..t });
            continue;
        }
        let two = q.get(i..i + 2).unwrap_or("");
        let len = match c {
            b'(' => {
                parens.push(i);
                1
            }
            b')' => {
                if parens.pop().is_none() {
                    // Prometheus reports this one just past the parenthesis.
                    toks.push(err("unexpected right parenthesis ')'".into(), start + 1));
                    return toks;
                }
                1
            }
            b'{' => {
                in_braces = true;
                1
            }
            b'}' => {
                toks.push(err("unexpected character: '}'".into(), start));
                return toks;
            }
            b'[' => {
                if in_brackets {
                    toks.push(err("unexpected left bracket '['".into(), start));
                    return toks;
                }
                in_brackets = true;
                colon_seen = false;
                1
            }
            b']' => {
                if !in_brackets {
                    toks.push(err("unexpected right bracket ']'".into(), start));
                    return toks;
                }
                in_brackets = false;
                1
            }
            b':' if in_brackets => {
                if colon_seen {
                    toks.push(err("unexpected colon ':'".into(), start));
                    return toks;
                }
                colon_seen = true;
                1
            }
            b',' | b'@' | b'+' | b'-' | b'*' | b'/' | b'%' | b'^' => 1,
            b'=' => {
                if two == "==" || two == "=~" {
                    2
                } else {
                    1
                }
            }
            b'!' => {
                if two == "!=" {
                    2
                } else {
                    let msg = match b.get(i + 1) {
                        Some(&x) => format!("unexpected character after '!': '{}'", x as char),
                        None => "unexpected end of input after '!'".into(),
                    };
                    toks.push(err(msg, start));
                    return toks;
                }
            }
            b'<' | b'>' => {
                if b.get(i + 1) == Some(&b'=') {
                    2
                } else {
                    1
                }
            }
            _ => {
                let ch = q[start..].chars().next().unwrap_or('?');
                toks.push(err(format!("unexpected character: '{ch}'"), start));
                return toks;
            }
        };
        i += len;
        toks.push(tok(Kind::Punct, start, i));
    }
}

/// Lexes a number or duration at `i`: `Ok((end, kind))`, or `Err(end)` with the end of the bad
/// lexeme (one character past the valid part, as Prometheus reports it).
fn number_or_duration(b: &[u8], mut i: usize) -> Result<(usize, Kind), usize> {
    let start = i;
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        return finish_number(b, i, Kind::Number);
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    // Duration: digits followed by a unit, repeated.
    let mut j = i;
    let mut units = 0;
    loop {
        let unit = duration_unit(&b[j..]);
        if unit == 0 {
            break;
        }
        units += 1;
        j += unit;
        let k = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == k {
            break;
        }
    }
    if units > 0 && i > start {
        return finish_number(b, j, Kind::Duration);
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut k = i + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        if k < b.len() && b[k].is_ascii_digit() {
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            i = k;
        }
    }
    finish_number(b, i, Kind::Number)
}

fn finish_number(b: &[u8], i: usize, kind: Kind) -> Result<(usize, Kind), usize> {
    if i < b.len() && ((is_ident_char(b[i]) && b[i] != b':') || b[i] == b'.') {
        return Err(i + 1);
    }
    Ok((i, kind))
}

/// Length of the duration unit at the start of `b` (0 when none).
fn duration_unit(b: &[u8]) -> usize {
    let ok_after = |n: usize| !b.get(n).is_some_and(|c| c.is_ascii_alphabetic());
    if b.starts_with(b"ms") && ok_after(2) {
        return 2;
    }
    match b.first() {
        Some(b's' | b'm' | b'h' | b'd' | b'w' | b'y') if ok_after(1) || b.get(1) == Some(&b'm') => 1,
        _ => 0,
    }
}
