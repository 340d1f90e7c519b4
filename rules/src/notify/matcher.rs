//! Alertmanager's label matchers: `name="value"`, `name!=value`, `name=~"re"`, `name!~"re"`,
//! values quoted (with `\"`, `\\`, `\n` escapes) or bare; one string may hold several matchers
//! separated by commas, optionally wrapped in `{…}` (Alertmanager's `parse.Matchers`). Regexes
//! are fully anchored; a missing label matches as the empty string.

use std::fmt;

use regex::Regex;

/// The four matcher operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One compiled matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

impl Matcher {
    /// Builds a matcher; regex operators compile `^(?:value)$`.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        if !valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {}", first_line(&e.to_string())))?,
            ),
            _ => None,
        };
        Ok(Matcher { name: name.to_string(), op, value: value.to_string(), re })
    }

    /// Whether the label value (`""` when absent) satisfies the matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            // Invariant: `new` compiles a regex for both regex operators.
            (_, None) => false,
        }
    }

    pub fn matches(&self, labels: &crate::alert::LabelMap) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }
}

/// All matchers match (an empty list matches everything).
pub fn matches_all(ms: &[Matcher], labels: &crate::alert::LabelMap) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

fn first_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(n: &str) -> bool {
    let mut cs = n.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one matcher string (possibly several comma-separated matchers in optional braces).
/// Errors say what was expected and at which byte offset.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let err = |pos: usize, msg: &str| format!("{msg} at offset {pos} in {input:?}");
    let b = input.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    let braced = i < b.len() && b[i] == b'{';
    if braced {
        i += 1;
    }
    let mut out = Vec::new();
    loop {
        skip_ws(&mut i);
        if braced && i < b.len() && b[i] == b'}' {
            i += 1;
            break;
        }
        if i >= b.len() {
            if braced {
                return Err(err(i, "expected '}'"));
            }
            if out.is_empty() {
                return Err(err(i, "expected a matcher"));
            }
            break;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &input[start..i];
        if name.is_empty() {
            return Err(err(start, "expected a label name"));
        }
        if !valid_label_name(name) {
            return Err(err(start, &format!("invalid label name {name:?}")));
        }
        skip_ws(&mut i);
        let op = match (b.get(i), b.get(i + 1)) {
            (Some(b'='), Some(b'~')) => MatchOp::Regex,
            (Some(b'!'), Some(b'~')) => MatchOp::NotRegex,
            (Some(b'!'), Some(b'=')) => MatchOp::NotEqual,
            (Some(b'='), _) => MatchOp::Equal,
            _ => return Err(err(i, "expected one of '=', '!=', '=~', '!~'")),
        };
        i += if op == MatchOp::Equal { 1 } else { 2 };
        skip_ws(&mut i);
        let value = if b.get(i) == Some(&b'"') {
            let vstart = i;
            i += 1;
            let mut v = String::new();
            let mut chars = input[i..].char_indices();
            let mut closed = false;
            while let Some((off, c)) = chars.next() {
                match c {
                    '"' => {
                        i += off + 1;
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => v.push('\n'),
                        Some((_, 't')) => v.push('\t'),
                        Some((_, c @ ('"' | '\\'))) => v.push(c),
                        // Regexes keep their own escapes (`\d`, `\.`).
                        Some((_, c)) => {
                            v.push('\\');
                            v.push(c);
                        }
                        None => break,
                    },
                    c => v.push(c),
                }
            }
            if !closed {
                return Err(err(vstart, "unterminated quoted value"));
            }
            v
        } else {
            let vstart = i;
            while i < b.len() && b[i] != b',' && b[i] != b'}' {
                if b[i] == b'"' {
                    return Err(err(i, "unexpected '\"' in unquoted value"));
                }
                i += 1;
            }
            input[vstart..i].trim().to_string()
        };
        out.push(Matcher::new(name, op, &value).map_err(|e| err(start, &e))?);
        skip_ws(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') if braced => {
                i += 1;
                break;
            }
            None => {}
            Some(_) => return Err(err(i, "expected ',' or end of matcher")),
        }
    }
    skip_ws(&mut i);
    if i < b.len() {
        return Err(err(i, "unexpected text after '}'"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let got = match parse_matchers(input) {
            Ok(ms) => ms.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn parses_good_matchers() {
        check(r#"severity="critical""#, r#"severity="critical""#);
        check(r#"severity=~"warning|critical""#, r#"severity=~"warning|critical""#);
        check(r#"team!="x""#, r#"team!="x""#);
        check("team != x", r#"team!="x""#);
        check("instance!~db.*", r#"instance!~"db.*""#);
        check(r#"{a="1", b=~"2|3"}"#, r#"a="1" b=~"2|3""#);
        check("a=1,b=2", r#"a="1" b="2""#);
        check(r#"msg="say \"hi\"""#, r#"msg="say \"hi\"""#);
        check(r#"path=~"\d+\.txt""#, r#"path=~"\\d+\\.txt""#);
        check("a=", r#"a="""#);
        check("{}", "");
    }

    #[test]
    fn rejects_bad_matchers() {
        check("", r#"error: expected a matcher at offset 0 in """#);
        check("severity", r#"error: expected one of '=', '!=', '=~', '!~' at offset 8 in "severity""#);
        check(r#"="x""#, r#"error: expected a label name at offset 0 in "=\"x\"""#);
        check(r#"1a="x""#, r#"error: invalid label name "1a" at offset 0 in "1a=\"x\"""#);
        check(r#"a="x"#, r#"error: unterminated quoted value at offset 2 in "a=\"x""#);
        check(r#"a=~"(""#, r#"error: invalid regular expression "(": error: unclosed group at offset 0 in "a=~\"(\"""#);
        check(r#"{a="x""#, r#"error: expected '}' at offset 6 in "{a=\"x\"""#);
        check(r#"a="x" b="y""#, r#"error: expected ',' or end of matcher at offset 6 in "a=\"x\" b=\"y\"""#);
        check(r#"a=x"y""#, r#"error: unexpected '"' in unquoted value at offset 3 in "a=x\"y\"""#);
    }

    #[test]
    fn matching_treats_missing_labels_as_empty() {
        let lm = |p: &[(&str, &str)]| p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case] = &[
            (r#"severity=~"warning|critical""#, &[("severity", "critical")], true),
            (r#"severity=~"warning|critical""#, &[("severity", "critical2")], false),
            (r#"team!="x""#, &[], true),
            (r#"team="""#, &[], true),
            (r#"team=~".+""#, &[], false),
            (r#"instance!~"db.*""#, &[("instance", "web1")], true),
        ];
        for (m, labels, want) in cases {
            let ms = parse_matchers(m).unwrap();
            assert_eq!(matches_all(&ms, &lm(labels)), *want, "{m} on {labels:?}");
        }
    }
}
