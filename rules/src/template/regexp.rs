//! Go (RE2) regular expressions for `reReplaceAll` and `match`, run on the `regex` crate:
//! the syntax differences that change results are translated (`\d \w \s \b` are ASCII in Go,
//! `[`, `&&` and `~~` are literal inside Go classes, `a{` is a literal brace, `\Q...\E`),
//! and compile errors are reported in Go's words where the cause is recognisable.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

thread_local! {
    /// Compiled patterns: Prometheus compiles on every call, which is too slow to copy.
    static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

const CACHE_CAP: usize = 256;

/// Compiles a Go regular expression; the error is Go's `error parsing regexp: ...`.
pub(super) fn compile(pattern: &str) -> Result<Regex, String> {
    if let Some(re) = CACHE.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(re);
    }
    let translated = translate(pattern)?;
    let re = Regex::new(&translated).map_err(|e| go_error(pattern, &e.to_string()))?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_CAP {
            c.clear();
        }
        c.insert(pattern.to_string(), re.clone());
    });
    Ok(re)
}

/// The `regexp` package's quoting of a pattern in `MustCompile`'s panic.
pub(super) fn quote(s: &str) -> String {
    if super::strconv::can_backquote(s) { format!("`{s}`") } else { super::strconv::quote(s) }
}

/// `Regexp.ReplaceAllString`: `$1`, `$name`, `${name}` and `$$` in `repl`, as Go expands them.
pub(super) fn replace_all(re: &Regex, text: &str, repl: &str) -> String {
    re.replace_all(text, repl).into_owned()
}

fn is_repeat_op(c: char) -> bool {
    matches!(c, '*' | '+' | '?')
}

/// A `{n}`, `{n,}` or `{n,m}` repetition at the start of `s`, its length.
fn repeat_len(s: &str) -> Option<usize> {
    let end = s.find('}')?;
    let body = &s[1..end];
    let (a, b) = match body.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    let ok = digits(a) && b.is_none_or(|b| b.is_empty() || digits(b));
    ok.then_some(end + 1)
}

fn translate(p: &str) -> Result<String, String> {
    let mut out = String::with_capacity(p.len() + 8);
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0;
    // The text of the last repetition operator, to find Go's nested-repetition error.
    let mut last_repeat: Option<(usize, usize)> = None;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                return Err("error parsing regexp: trailing backslash at end of expression: ``".into());
            };
            if n == 'Q' && !in_class {
                let rest: String = chars[i + 2..].iter().collect();
                let (lit, consumed) = match rest.find("\\E") {
                    Some(e) => (rest[..e].to_string(), rest[..e].chars().count() + 2),
                    None => (rest.clone(), rest.chars().count()),
                };
                out.push_str(&regex::escape(&lit));
                i += 2 + consumed;
                last_repeat = None;
                continue;
            }
            let class = |neg: bool, set: &str| {
                if in_class {
                    if neg { format!("[^{set}]") } else { set.to_string() }
                } else if neg {
                    format!("[^{set}]")
                } else {
                    format!("[{set}]")
                }
            };
            match n {
                'd' => out.push_str(&class(false, "0-9")),
                'D' => out.push_str(&class(true, "0-9")),
                'w' => out.push_str(&class(false, "0-9A-Za-z_")),
                'W' => out.push_str(&class(true, "0-9A-Za-z_")),
                's' => out.push_str(&class(false, "\\t\\n\\f\\r ")),
                'S' => out.push_str(&class(true, "\\t\\n\\f\\r ")),
                'b' if !in_class => out.push_str("(?-u:\\b)"),
                'B' if !in_class => out.push_str("(?-u:\\B)"),
                'p' | 'P' | 'x' if chars.get(i + 2) == Some(&'{') => {
                    // `\p{Greek}`, `\x{263a}`: copy through the closing brace.
                    let end = chars[i..].iter().position(|&c| c == '}').map_or(chars.len(), |e| i + e + 1);
                    out.extend(&chars[i..end]);
                    i = end;
                    last_repeat = None;
                    continue;
                }
                _ => {
                    out.push('\\');
                    out.push(n);
                }
            }
            i += 2;
            last_repeat = None;
            continue;
        }
        if in_class {
            match c {
                ']' if i > class_start => in_class = false,
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class: copy through its closing ":]".
                    let rest: String = chars[i..].iter().collect();
                    if let Some(e) = rest.find(":]") {
                        out.push_str(&rest[..e + 2]);
                        i += rest[..e + 2].chars().count();
                        continue;
                    }
                    out.push_str("\\[");
                    i += 1;
                    continue;
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                    i += 1;
                    continue;
                }
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A leading ']' is literal in both syntaxes.
                class_start = i;
                last_repeat = None;
                continue;
            }
            '{' => {
                let rest: String = chars[i..].iter().collect();
                match repeat_len(&rest) {
                    Some(n) => {
                        let counts = rest[1..n - 1].split(',').filter_map(|x| x.parse::<u64>().ok());
                        if counts.clone().any(|c| c > 1000) || rest[1..n - 1].split(',').any(|x| x.len() > 8) {
                            return Err(format!("error parsing regexp: invalid repeat count: `{}`", &rest[..n]));
                        }
                        if let Some((s, _)) = last_repeat.filter(|&(_, e)| e == i) {
                            let text: String = chars[s..i + rest[..n].chars().count()].iter().collect();
                            return Err(format!("error parsing regexp: invalid nested repetition operator: `{text}`"));
                        }
                        out.push_str(&rest[..n]);
                        let len = rest[..n].chars().count();
                        last_repeat = Some((i, i + len));
                        i += len;
                        if chars.get(i) == Some(&'?') {
                            out.push('?');
                            i += 1;
                            last_repeat = last_repeat.map(|(s, e)| (s, e + 1));
                        }
                    }
                    None => {
                        out.push_str("\\{");
                        i += 1;
                        last_repeat = None;
                    }
                }
                continue;
            }
            '}' => {
                out.push_str("\\}");
                i += 1;
                last_repeat = None;
                continue;
            }
            c if is_repeat_op(c) => {
                if let Some((s, _)) = last_repeat.filter(|&(_, e)| e == i) {
                    let text: String = chars[s..=i].iter().collect();
                    return Err(format!("error parsing regexp: invalid nested repetition operator: `{text}`"));
                }
                out.push(c);
                let start = i;
                i += 1;
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
                last_repeat = Some((start, i));
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
        last_repeat = None;
    }
    Ok(out)
}

/// Go's message for a pattern the `regex` crate rejected.
fn go_error(pattern: &str, rust: &str) -> String {
    let lines: Vec<&str> = rust.lines().collect();
    let what = lines.iter().rev().find_map(|l| l.trim().strip_prefix("error: ")).unwrap_or(rust);
    // The span, from the caret line under the pattern (both indented by 4).
    let span = lines.iter().position(|l| l.trim_start().starts_with('^')).and_then(|i| {
        let carets = lines[i];
        let start = carets.find('^')?.checked_sub(4)?;
        let len = carets.matches('^').count();
        let pat_line = lines.get(i.checked_sub(1)?)?.get(4..)?;
        Some(pat_line.chars().skip(start).take(len).collect::<String>())
    });
    let span = span.unwrap_or_else(|| pattern.to_string());
    let (code, expr) = if what.contains("unclosed group") {
        ("missing closing )", pattern.to_string())
    } else if what.contains("unopened group") {
        ("unexpected )", pattern.to_string())
    } else if what.contains("unclosed character class") {
        ("missing closing ]", pattern.find('[').map_or(pattern, |i| &pattern[i..]).to_string())
    } else if what.contains("repetition operator missing expression") {
        ("missing argument to repetition operator", span)
    } else if what.contains("escape") || what.contains("backreference") {
        ("invalid escape sequence", span)
    } else if what.contains("class range") {
        ("invalid character class range", span)
    } else if what.contains("repetition") || what.contains("decimal") {
        ("invalid repeat count", span)
    } else if what.contains("group name") || what.contains("capture") {
        let start = pattern.find("(?P<").or_else(|| pattern.find("(?<"));
        let expr = start.map_or(span, |s| {
            let end = pattern[s..].find('>').map_or(pattern.len(), |e| s + e + 1);
            pattern[s..end].to_string()
        });
        ("invalid named capture", expr)
    } else if what.contains("exceeds size limit") {
        ("expression too large", pattern.to_string())
    } else {
        ("invalid or unsupported Perl syntax", span)
    };
    format!("error parsing regexp: {code}: `{expr}`")
}
