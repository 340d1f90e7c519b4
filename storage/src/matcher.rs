//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus's semantics.
//!
//! Regular expressions are fully anchored (`^(?s:re)$`, as Prometheus 3 compiles them), so
//! `job=~"no"` does not match `node`, and `.` matches a newline. A matcher is applied to the
//! label's value, where an absent label has the value `""`: `foo=""` selects series without `foo`,
//! `foo!=""` selects series that have it.

use std::fmt;

use regex::Regex;

use crate::labels::{Labels, go_quote};

/// The four matcher kinds of PromQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        })
    }
}

/// A matcher on one label.
#[derive(Clone)]
pub struct Matcher {
    pub kind: MatchType,
    pub name: String,
    pub value: String,
    re: Option<Regex>,
    /// For regexes that are a plain alternation of literals (`a|b|c`), the literals, sorted;
    /// lets the index look postings up directly instead of scanning every value.
    set: Option<Vec<String>>,
}

/// A regular expression that does not compile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {expr:?}: {reason}")]
pub struct MatcherError {
    pub expr: String,
    pub reason: String,
}

impl Matcher {
    pub fn new(kind: MatchType, name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let (re, set) = match kind {
            MatchType::Regex | MatchType::NotRegex => {
                let re = Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| MatcherError { expr: value.clone(), reason: e.to_string() })?;
                (Some(re), literal_alternation(&value))
            }
            _ => (None, None),
        };
        Ok(Matcher { kind, name, value, re, set })
    }
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(MatchType::Equal, name, value).expect("equality matchers always build")
    }
    pub fn not_equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(MatchType::NotEqual, name, value).expect("equality matchers always build")
    }
    pub fn regex(name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        Self::new(MatchType::Regex, name, value)
    }
    pub fn not_regex(name: impl Into<String>, value: impl Into<String>) -> Result<Self, MatcherError> {
        Self::new(MatchType::NotRegex, name, value)
    }

    /// Does the label value `v` (`""` for an absent label) satisfy the matcher?
    pub fn matches(&self, v: &str) -> bool {
        match self.kind {
            MatchType::Equal => self.value == v,
            MatchType::NotEqual => self.value != v,
            MatchType::Regex => self.re_matches(v),
            MatchType::NotRegex => !self.re_matches(v),
        }
    }

    fn re_matches(&self, v: &str) -> bool {
        if let Some(set) = &self.set {
            return set.binary_search_by(|s| s.as_str().cmp(v)).is_ok();
        }
        self.re.as_ref().is_some_and(|re| re.is_match(v))
    }

    /// Does the series with these labels satisfy the matcher?
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name))
    }

    /// True when the matcher accepts the empty value, i.e. also selects series lacking the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The literal values a positive regex can match, if it is a plain alternation of literals
    /// (`a|b|c`); `None` otherwise.
    pub fn set_matches(&self) -> Option<&[String]> {
        match self.kind {
            MatchType::Regex => self.set.as_deref(),
            _ => None,
        }
    }

    /// The inverse matcher (`=` ↔ `!=`, `=~` ↔ `!~`).
    pub fn inverse(&self) -> Matcher {
        let kind = match self.kind {
            MatchType::Equal => MatchType::NotEqual,
            MatchType::NotEqual => MatchType::Equal,
            MatchType::Regex => MatchType::NotRegex,
            MatchType::NotRegex => MatchType::Regex,
        };
        Matcher { kind, ..self.clone() }
    }
}

/// Returns the literals of `a|b|c` when the regex has no metacharacters at all.
fn literal_alternation(re: &str) -> Option<Vec<String>> {
    const META: &[char] = &['\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$'];
    if re.contains(META) {
        return None;
    }
    let mut v: Vec<String> = re.split('|').map(str::to_owned).collect();
    v.sort();
    v.dedup();
    Some(v)
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind && self.name == o.name && self.value == o.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.kind, go_quote(&self.value))
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Do all matchers accept the label set?
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    fn check(kind: MatchType, value: &str, input: &str, expected: bool) {
        let m = Matcher::new(kind, "x", value).unwrap();
        assert_eq!(m.matches(input), expected, "{m} on {input:?}");
    }

    #[test]
    fn anchored_regex_semantics() {
        check(MatchType::Regex, "no", "node", false);
        check(MatchType::Regex, "no.*", "node", true);
        check(MatchType::Regex, "a|b", "a", true);
        check(MatchType::Regex, "a|b", "ab", false);
        check(MatchType::Regex, ".*", "", true);
        check(MatchType::Regex, ".+", "", false);
        check(MatchType::Regex, "a.b", "a\nb", true);
        check(MatchType::NotRegex, "a|b", "c", true);
        check(MatchType::NotRegex, "a|b", "b", false);
        check(MatchType::Equal, "", "", true);
        check(MatchType::NotEqual, "", "v", true);
    }

    #[test]
    fn absent_label_is_empty_value() {
        let l = labels! {"__name__" => "up"};
        assert!(Matcher::equal("job", "").matches_labels(&l));
        assert!(!Matcher::not_equal("job", "").matches_labels(&l));
        assert!(Matcher::regex("job", "a|").unwrap().matches_labels(&l));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::regex("x", "(").is_err());
    }

    #[test]
    fn literal_sets() {
        let m = Matcher::regex("x", "b|a|c").unwrap();
        assert_eq!(m.set_matches().unwrap(), ["a", "b", "c"]);
        assert!(Matcher::regex("x", "a.*").unwrap().set_matches().is_none());
    }
}
