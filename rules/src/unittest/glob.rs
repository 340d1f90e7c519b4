//! `rule_files` resolution as promtool does it: a relative path is joined to the test file's
//! directory with Go's `filepath.Join` (which cleans the result), then expanded with Go's
//! `filepath.Glob`: `*` (any run of non-`/` characters), `?` (one), `[a-z]` / `[^a-z]`
//! classes and `\` escapes, matched per path element; a pattern without metacharacters
//! yields itself if the file exists. Matches are sorted per directory; a pattern matching
//! nothing yields nothing (promtool then warns).

use std::path::Path;

/// Go's `filepath.Clean` for `/`-separated paths: collapses `//`, drops `.` elements and
/// resolves `..` lexically; the empty path is `.`.
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for el in p.split('/') {
        match el {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            e => parts.push(e),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `filepath.Join(dir, file)`.
pub fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        return clean(file);
    }
    clean(&format!("{dir}/{file}"))
}

/// Go's `filepath.Dir`.
pub fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

/// A malformed pattern (Go's `filepath.ErrBadPattern`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `filepath.Glob`.
pub fn glob(pattern: &str) -> Result<Vec<String>, BadPattern> {
    // Validate the whole pattern first, as Go does.
    matches(pattern, "")?;
    if !has_meta(pattern) {
        return Ok(if std::fs::symlink_metadata(pattern).is_ok() { vec![pattern.to_string()] } else { vec![] });
    }
    let (d, file) = match pattern.rfind('/') {
        Some(i) => (&pattern[..i], &pattern[i + 1..]),
        None => ("", pattern),
    };
    let d = match d {
        "" if pattern.starts_with('/') => "/".to_string(),
        "" => String::new(),
        d => d.to_string(),
    };
    if !has_meta(&d) {
        let base = if d.is_empty() { ".".to_string() } else { d.clone() };
        return glob_in(&base, &d, file);
    }
    let mut out = Vec::new();
    for m in glob(&d)? {
        out.extend(glob_in(&m, &m, file)?);
    }
    Ok(out)
}

/// The entries of directory `base` matching `file`, prefixed with `prefix` (empty: none).
fn glob_in(base: &str, prefix: &str, file: &str) -> Result<Vec<String>, BadPattern> {
    let Ok(meta) = std::fs::metadata(base) else { return Ok(vec![]) };
    if !meta.is_dir() {
        return Ok(vec![]);
    }
    let Ok(rd) = std::fs::read_dir(Path::new(base)) else { return Ok(vec![]) };
    let mut names: Vec<String> = rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        if matches(file, &n)? {
            out.push(match prefix {
                "" => n,
                "/" => format!("/{n}"),
                p => format!("{p}/{n}"),
            });
        }
    }
    Ok(out)
}

/// Go's `filepath.Match` of one name (no `/` crossing).
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let ok = match_from(&p, &n)?;
    // Go reports a bad pattern even when the name failed to match before reaching it.
    check_syntax(&p)?;
    Ok(ok)
}

fn check_syntax(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => i = class_end(p, i)?,
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index after the class starting at `p[start] == '['`.
fn class_end(p: &[char], start: usize) -> Result<usize, BadPattern> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(BadPattern),
            Some(']') if !first => return Ok(i + 1),
            Some(_) => {
                let (_, next) = class_char(p, i)?;
                i = next;
                if p.get(i) == Some(&'-') {
                    let (_, next) = class_char(p, i + 1)?;
                    i = next;
                }
            }
        }
        first = false;
    }
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match p.get(i) {
        None | Some('-') | Some(']') => Err(BadPattern),
        Some('\\') => p.get(i + 1).map(|&c| (c, i + 2)).ok_or(BadPattern),
        Some(&c) => Ok((c, i + 1)),
    }
}

fn match_from(p: &[char], n: &[char]) -> Result<bool, BadPattern> {
    if p.is_empty() {
        return Ok(n.is_empty());
    }
    match p[0] {
        '*' => {
            for k in 0..=n.len() {
                if n[..k].contains(&'/') {
                    break;
                }
                if match_from(&p[1..], &n[k..])? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        '?' => Ok(n.first().is_some_and(|&c| c != '/') && match_from(&p[1..], &n[1..])?),
        '[' => {
            let end = class_end(p, 0)?;
            let Some(&c) = n.first() else { return Ok(false) };
            if c == '/' {
                return Ok(false);
            }
            let negated = p.get(1) == Some(&'^');
            let mut i = if negated { 2 } else { 1 };
            let mut hit = false;
            while i < end - 1 {
                let (lo, next) = class_char(p, i)?;
                i = next;
                let mut hi = lo;
                if p.get(i) == Some(&'-') {
                    let (h, next) = class_char(p, i + 1)?;
                    hi = h;
                    i = next;
                }
                if lo <= c && c <= hi {
                    hit = true;
                }
            }
            Ok(hit != negated && match_from(&p[end..], &n[1..])?)
        }
        '\\' => {
            let Some(&lit) = p.get(1) else { return Err(BadPattern) };
            Ok(n.first() == Some(&lit) && match_from(&p[2..], &n[1..])?)
        }
        c => Ok(n.first() == Some(&c) && match_from(&p[1..], &n[1..])?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_and_join_like_go() {
        assert_eq!(clean(""), ".");
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("../a/../../b"), "../../b");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(join("examples/rules", "./alerts.yml"), "examples/rules/alerts.yml");
        assert_eq!(join(".", "alerts.yml"), "alerts.yml");
        assert_eq!(dir("examples/rules/test.yml"), "examples/rules");
        assert_eq!(dir("test.yml"), ".");
        assert_eq!(dir("/test.yml"), "/");
    }

    #[test]
    fn match_like_go() {
        let cases = [
            ("*.yml", "alerts.yml", true),
            ("*.yml", "alerts.yaml", false),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("\\*", "*", true),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), Ok(want), "{p} {n}");
        }
        assert_eq!(matches("[a-", "a"), Err(BadPattern));
        assert_eq!(matches("x\\", "y"), Err(BadPattern));
    }

    #[test]
    fn glob_lists_sorted_matches() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.yml", "a.yml", "c.txt"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/x.yml"), "").unwrap();
        let base = d.path().display().to_string();
        let rel = |v: Vec<String>| -> Vec<String> { v.into_iter().map(|p| p[base.len()..].to_string()).collect() };
        assert_eq!(rel(glob(&format!("{base}/*.yml")).unwrap()), ["/a.yml", "/b.yml"]);
        assert_eq!(rel(glob(&format!("{base}/*/*.yml")).unwrap()), ["/sub/x.yml"]);
        assert_eq!(rel(glob(&format!("{base}/c.txt")).unwrap()), ["/c.txt"]);
        assert!(glob(&format!("{base}/none.yml")).unwrap().is_empty());
    }
}
