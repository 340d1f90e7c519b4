//! Secrets in the notifications file: webhook URLs (their path is the credential), SMTP
//! passwords, authorization credentials.
//!
//! A secret comes from an inline value, from a file (`url_file`, `password_file`, ...: read
//! at load and reload, trailing whitespace trimmed, a relative path taken from the config
//! file's directory) or from the environment (`${NAME}` anywhere in an inline value; `$${`
//! writes a literal `${`). A [`Secret`] prints as `<secret>` in `Debug`, `Display` and
//! `Serialize`, so it never reaches a log line or an API response by accident; only
//! [`Secret::expose`] gives the value, at the point of use.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret string. See the module docs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

/// What a secret prints as.
pub const MASK: &str = "<secret>";

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The value, for building a request. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Replaces every `${NAME}` in `s` with the environment variable's value (`$${` is a literal
/// `${`). An unset or non-UTF-8 variable, an unclosed `${` or an invalid name is an error.
pub fn expand_env(s: &str) -> Result<String, String> {
    expand_with(s, |name| std::env::var(name).ok())
}

fn expand_with(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("${") {
            let end = t.find('}').ok_or_else(|| "unclosed \"${\" in value".to_string())?;
            let name = &t[..end];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            let v = lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&v);
            rest = &t[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves one secret from its inline value or its file (exactly one may be given; neither is
/// `Ok(None)`). `field` names the inline key for messages (`url`, `password`, ...).
pub(crate) fn resolve(
    inline: Option<&Secret>,
    file: Option<&Path>,
    base_dir: &Path,
    field: &str,
) -> Result<Option<Secret>, (String, String)> {
    match (inline, file) {
        (Some(_), Some(_)) => Err((field.to_string(), format!("at most one of {field} and {field}_file must be set"))),
        (Some(s), None) => expand_env(s.expose()).map(|v| Some(Secret(v))).map_err(|e| (field.to_string(), e)),
        (None, Some(p)) => {
            let path = if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| (format!("{field}_file"), format!("cannot read {}: {e}", path.display())))?;
            Ok(Some(Secret(text.trim_end().to_string())))
        }
        (None, None) => Ok(None),
    }
}

/// A URL for display: scheme, host and port, the rest masked (webhook paths carry tokens).
pub fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let path = if u.path() == "/" && u.query().is_none() { "" } else { "/<secret>" };
            format!("{}://{host}{port}{path}", u.scheme())
        }
        Err(_) => MASK.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Cfg {
            password: Secret,
        }
        assert_eq!(format!("{:?}", Cfg { password: s.clone() }), "Cfg { password: <secret> }");
        assert_eq!(s.expose(), "hunter2");
    }

    fn check_env(input: &str, expected: &str) {
        let env = |n: &str| match n {
            "TOKEN" => Some("t0k".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let got = match expand_with(input, env) {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "{input:?}");
    }

    #[test]
    fn expands_environment_references() {
        check_env("plain", "plain");
        check_env("https://x/${TOKEN}/y", "https://x/t0k/y");
        check_env("${TOKEN}${EMPTY}${TOKEN}", "t0kt0k");
        check_env("cost $5 and $$", "cost $5 and $$");
        check_env("$${TOKEN}", "${TOKEN}");
        check_env("${MISSING}", "error: environment variable MISSING is not set");
        check_env("${TOKEN", "error: unclosed \"${\" in value");
        check_env("${1A}", "error: invalid environment variable name \"1A\"");
        check_env("${}", "error: invalid environment variable name \"\"");
        check_env("ünï${TOKEN}cödé", "ünït0kcödé");
    }

    #[test]
    fn resolves_inline_or_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
        let got = resolve(None, Some(Path::new("pw")), dir.path(), "password").unwrap().unwrap();
        assert_eq!(got.expose(), "s3cret");
        let inline = Secret::new("x");
        let e = resolve(Some(&inline), Some(Path::new("pw")), dir.path(), "password").unwrap_err();
        assert_eq!(e.1, "at most one of password and password_file must be set");
        let e = resolve(None, Some(Path::new("nope")), dir.path(), "url").unwrap_err();
        assert_eq!(e.0, "url_file");
        assert!(e.1.starts_with("cannot read "), "{}", e.1);
        assert_eq!(resolve(None, None, dir.path(), "url").unwrap(), None);
    }

    #[test]
    fn masks_urls() {
        assert_eq!(mask_url("https://discord.com/api/webhooks/123/abc"), "https://discord.com/<secret>");
        assert_eq!(mask_url("http://127.0.0.1:9000/hook?token=x"), "http://127.0.0.1:9000/<secret>");
        assert_eq!(mask_url("http://user:pw@host/"), "http://host");
        assert_eq!(mask_url("not a url"), "<secret>");
    }
}
