//! Label sets: sorted `(name, value)` pairs whose strings are interned symbols.
//!
//! A [`Labels`] is immutable and cheap to clone (one `Arc`). Strings are `Arc<str>` handed out by
//! a [`SymbolTable`], so every series that carries `job="node"` shares the same two allocations.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use parking_lot::Mutex;

/// The reserved label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Default limits on label names and values, in bytes (configurable by callers).
pub const DEFAULT_MAX_LABEL_NAME_LEN: usize = 1024;
pub const DEFAULT_MAX_LABEL_VALUE_LEN: usize = 4096;
pub const DEFAULT_MAX_LABELS_PER_SERIES: usize = 64;

/// One label. Both strings are interned symbols.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Arc<str>,
}

impl Label {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Label { name: name.into(), value: value.into() }
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.name, &*self.value)
    }
}

/// A set of labels sorted by name, names unique, no empty values.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Labels(Arc<[Label]>);

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for l in self.0.iter() {
            state.write(l.name.as_bytes());
            state.write_u8(0xff);
            state.write(l.value.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl Labels {
    /// An empty label set.
    pub fn empty() -> Self {
        Labels(Arc::from(Vec::new()))
    }

    /// Builds a label set from pairs: sorts by name and drops pairs with an empty value
    /// (an empty value means "label absent" in Prometheus). Duplicate names are kept
    /// (so that [`Labels::validate`] can report them); use [`LabelsBuilder`] to overwrite.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .filter(|(_, v)| !v.as_ref().is_empty())
            .map(|(n, v)| Label::new(n.as_ref(), v.as_ref()))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(Arc::from(v))
    }

    /// Builds from labels already sorted by name with unique names (checked in debug builds).
    pub fn from_sorted(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name), "labels not sorted/unique: {v:?}");
        Labels(Arc::from(v))
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The value of label `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|l| (*l.name).cmp(name)) {
            Ok(i) => &self.0[i].value,
            Err(_) => "",
        }
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.binary_search_by(|l| (*l.name).cmp(name)).is_ok()
    }
    /// The metric name (`__name__`), or "".
    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    /// Stable 64-bit hash of the label set (used for sharding and series lookup).
    pub fn hash64(&self) -> u64 {
        // FNV-1a 64: stable across runs and platforms.
        let mut h: u64 = 0xcbf29ce484222325;
        for l in self.0.iter() {
            for b in l.name.as_bytes().iter().chain([0xffu8].iter()).chain(l.value.as_bytes()).chain([0xffu8].iter()) {
                h ^= *b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
        }
        h
    }

    /// Checks the set is storable: valid names, UTF-8 values within limits, sorted, unique.
    pub fn validate(&self, limits: &LabelLimits) -> Result<(), LabelError> {
        if self.0.len() > limits.max_labels {
            return Err(LabelError::TooManyLabels { count: self.0.len(), max: limits.max_labels });
        }
        for (i, l) in self.0.iter().enumerate() {
            if l.name.is_empty() {
                return Err(LabelError::EmptyName);
            }
            if l.name.len() > limits.max_name_len {
                return Err(LabelError::NameTooLong { name: truncate(&l.name), max: limits.max_name_len });
            }
            if l.value.len() > limits.max_value_len {
                return Err(LabelError::ValueTooLong { name: l.name.to_string(), max: limits.max_value_len });
            }
            if i > 0 {
                let prev = &self.0[i - 1].name;
                if *prev == l.name {
                    return Err(LabelError::Duplicate(l.name.to_string()));
                }
                if *prev > l.name {
                    return Err(LabelError::Unsorted);
                }
            }
        }
        if !self.has(METRIC_NAME) {
            // Prometheus accepts series without a name through remote write, but they are
            // unqueryable by name; we accept them too (validation here is about storability).
        }
        Ok(())
    }

    /// Returns a builder initialised with these labels.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder { labels: self.0.to_vec() }
    }

    /// Interns all strings of this set in `table`, returning an equal set sharing the table's
    /// allocations.
    pub fn intern(&self, table: &SymbolTable) -> Labels {
        Labels(self.0.iter().map(|l| Label { name: table.intern(&l.name), value: table.intern(&l.value) }).collect())
    }

    /// Bytes of string data (for memory accounting).
    pub fn byte_size(&self) -> usize {
        self.0.iter().map(|l| l.name.len() + l.value.len()).sum()
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

impl fmt::Display for Labels {
    /// Prometheus's `{a="b", c="d"}` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", l.name, go_quote(&l.value))?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Quotes a string the way Go's `strconv.Quote` does for printable UTF-8 (what Prometheus uses
/// when printing label sets).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Mutable label set used to derive new sets (set/delete/keep).
#[derive(Clone, Debug, Default)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.labels.retain(|l| &*l.name != name);
        if !value.is_empty() {
            self.labels.push(Label::new(name, value));
        }
        self
    }
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| &*l.name != name);
        self
    }
    /// Keeps only the named labels.
    pub fn keep(&mut self, names: &[&str]) -> &mut Self {
        self.labels.retain(|l| names.contains(&&*l.name));
        self
    }
    pub fn get(&self, name: &str) -> &str {
        self.labels.iter().find(|l| &*l.name == name).map(|l| &*l.value).unwrap_or("")
    }
    pub fn build(&self) -> Labels {
        let mut v = self.labels.clone();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(Arc::from(v))
    }
}

/// Limits applied by [`Labels::validate`].
#[derive(Clone, Debug)]
pub struct LabelLimits {
    pub max_name_len: usize,
    pub max_value_len: usize,
    pub max_labels: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_name_len: DEFAULT_MAX_LABEL_NAME_LEN,
            max_value_len: DEFAULT_MAX_LABEL_VALUE_LEN,
            max_labels: DEFAULT_MAX_LABELS_PER_SERIES,
        }
    }
}

/// Why a label set cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("empty label name")]
    EmptyName,
    #[error("label name {name:?} longer than {max} bytes")]
    NameTooLong { name: String, max: usize },
    #[error("value of label {name:?} longer than {max} bytes")]
    ValueTooLong { name: String, max: usize },
    #[error("{count} labels, more than the limit of {max}")]
    TooManyLabels { count: usize, max: usize },
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
    #[error("labels are not sorted by name")]
    Unsorted,
    #[error("label {0:?} is not valid UTF-8")]
    InvalidUtf8(String),
    #[error("invalid label name {0:?}")]
    InvalidName(String),
}

/// Interns strings so equal label names and values share one allocation.
#[derive(Default)]
pub struct SymbolTable {
    set: Mutex<HashSet<Arc<str>>>,
}

impl SymbolTable {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn intern(&self, s: &str) -> Arc<str> {
        let mut set = self.set.lock();
        if let Some(a) = set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        set.insert(a.clone());
        a
    }
    /// Drops symbols no longer referenced by anyone but the table (after series GC).
    pub fn gc(&self) {
        self.set.lock().retain(|a| Arc::strong_count(a) > 1);
    }
    pub fn len(&self) -> usize {
        self.set.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `labels!{"__name__" => "up", "job" => "node"}` convenience for tests and callers.
#[macro_export]
macro_rules! labels {
    ($($k:expr => $v:expr),* $(,)?) => {
        $crate::Labels::from_pairs([$(($k, $v)),*])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_display() {
        let l = labels! {"job" => "node", "__name__" => "up", "empty" => ""};
        assert_eq!(l.to_string(), r#"{__name__="up", job="node"}"#);
        assert_eq!(l.get("job"), "node");
        assert_eq!(l.get("empty"), "");
        assert_eq!(l.metric_name(), "up");
    }

    #[test]
    fn validate_catches_duplicates_and_limits() {
        let l = Labels::from_pairs([("a", "1"), ("a", "2")]);
        assert_eq!(l.validate(&LabelLimits::default()), Err(LabelError::Duplicate("a".into())));
        let long = "x".repeat(5000);
        let l = Labels::from_pairs([("a", long.as_str())]);
        assert!(matches!(l.validate(&LabelLimits::default()), Err(LabelError::ValueTooLong { .. })));
        assert!(labels! {"a" => "b"}.validate(&LabelLimits::default()).is_ok());
    }

    #[test]
    fn interning_shares_allocations() {
        let t = SymbolTable::new();
        let a = labels! {"job" => "node"}.intern(&t);
        let b = labels! {"job" => "node", "x" => "y"}.intern(&t);
        assert!(Arc::ptr_eq(&a.as_slice()[0].value, &b.as_slice()[0].value));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
