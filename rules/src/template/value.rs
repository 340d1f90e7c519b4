//! The values a template computes with, standing in for the Go types Prometheus's templates
//! see: the data struct, `map[string]string` labels, query results (`[]*sample`), numbers,
//! strings, `template.HTML`, `*time.Time`, `*time.Duration`. Each knows its Go type name (for
//! `%T` and error messages), its Go kind (for comparisons) and its truth value.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::alert::LabelMap;

/// A string that is either borrowed from the render's inputs or the template, or computed.
#[derive(Clone, Debug)]
pub(super) enum Str<'a> {
    B(&'a str),
    R(Rc<str>),
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Str::B(s) => s,
            Str::R(s) => s,
        }
    }
}

impl From<String> for Str<'_> {
    fn from(s: String) -> Self {
        Str::R(s.into())
    }
}

/// A label set, borrowed from the context or owned by a query result.
#[derive(Clone, Debug)]
pub(super) enum Labels<'a> {
    B(&'a LabelMap),
    R(Rc<LabelMap>),
}

impl std::ops::Deref for Labels<'_> {
    type Target = LabelMap;
    fn deref(&self) -> &LabelMap {
        match self {
            Labels::B(m) => m,
            Labels::R(m) => m,
        }
    }
}

/// A query result's backing array.
pub(super) type SampleVec = Rc<RefCell<Vec<Rc<Sample>>>>;

/// One element of a query result (Prometheus's `template.sample`).
#[derive(Debug)]
pub(super) struct Sample {
    pub(super) labels: Rc<LabelMap>,
    pub(super) value: f64,
}

/// An instant in UTC, with nanosecond precision (Go's `time.Time` in the UTC location).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct GoTime {
    /// Seconds since the Unix epoch.
    pub(super) sec: i64,
    /// Nanoseconds within the second, 0..1e9.
    pub(super) nsec: u32,
}

impl GoTime {
    pub(super) fn from_unix_nanos(ns: i128) -> GoTime {
        GoTime { sec: ns.div_euclid(1_000_000_000) as i64, nsec: ns.rem_euclid(1_000_000_000) as u32 }
    }

    pub(super) fn unix_nanos(self) -> i128 {
        i128::from(self.sec) * 1_000_000_000 + i128::from(self.nsec)
    }
}

/// A template value.
#[derive(Clone, Debug)]
pub(super) enum Value<'a> {
    /// Go's invalid `reflect.Value`: no value at all (prints `<no value>`).
    Invalid,
    /// A nil `interface{}` (a missing key of `map[string]interface{}`; prints `<nil>`).
    NilIface,
    Bool(bool),
    /// Go `int` (and the int64s that time methods return).
    Int(i64),
    /// A `uint8`, which `index` yields for strings.
    Byte(u8),
    Float(f64),
    Complex(f64, f64),
    Str(Str<'a>),
    /// `template.HTML` (from `safeHtml`): a string kind of its own type.
    Html(Str<'a>),
    /// `map[string]string`: `.Labels`, `$labels`, `$externalLabels`, a sample's labels.
    Labels(Labels<'a>),
    /// `map[string]interface{}`, which `args` builds.
    Map(Rc<BTreeMap<String, Value<'a>>>),
    /// `template.queryResult` (`[]*sample`); shared, because `sortByLabel` sorts in place.
    Samples(SampleVec),
    /// `*template.sample`; `None` is a nil pointer.
    Sample(Option<Rc<Sample>>),
    /// `time.Time`, or `*time.Time` when `ptr`.
    Time {
        t: GoTime,
        ptr: bool,
    },
    /// `time.Duration` in nanoseconds, or `*time.Duration` when `ptr`.
    Duration {
        d: i64,
        ptr: bool,
    },
    /// The alert template data: `struct { Labels; ExternalLabels; ExternalURL; Value }`.
    Data(DataRef<'a>),
}

/// The fields of the alert template data, borrowed from the render's context.
#[derive(Clone, Copy, Debug)]
pub(super) struct DataRef<'a> {
    pub(super) labels: &'a LabelMap,
    pub(super) external_labels: &'a LabelMap,
    pub(super) external_url: &'a str,
    pub(super) value: f64,
}

/// Go's reflect kinds as far as comparisons and `isTrue` care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Invalid,
    Interface,
    Bool,
    Int,
    Uint,
    Float,
    Complex,
    String,
    Map,
    Slice,
    Ptr,
    Struct,
}

pub(super) const DATA_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

impl<'a> Value<'a> {
    pub(super) fn str(s: &'a str) -> Value<'a> {
        Value::Str(Str::B(s))
    }

    pub(super) fn samples(v: Vec<Rc<Sample>>) -> Value<'a> {
        Value::Samples(Rc::new(RefCell::new(v)))
    }

    pub(super) fn string(s: String) -> Value<'a> {
        Value::Str(Str::R(s.into()))
    }

    pub(super) fn kind(&self) -> Kind {
        match self {
            Value::Invalid => Kind::Invalid,
            Value::NilIface => Kind::Interface,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::Byte(_) => Kind::Uint,
            Value::Float(_) => Kind::Float,
            Value::Complex(..) => Kind::Complex,
            Value::Str(_) | Value::Html(_) => Kind::String,
            Value::Labels(_) | Value::Map(_) => Kind::Map,
            Value::Samples(_) => Kind::Slice,
            Value::Sample(_) => Kind::Ptr,
            Value::Time { ptr, .. } | Value::Duration { ptr, .. } if *ptr => Kind::Ptr,
            Value::Time { .. } | Value::Data(_) => Kind::Struct,
            Value::Duration { .. } => Kind::Int,
        }
    }

    /// The Go type, as `reflect.Type.String` prints it.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::Invalid => "<nil>",
            Value::NilIface => "interface {}",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Byte(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Complex(..) => "complex128",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::Labels(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::Samples(_) => "template.queryResult",
            Value::Sample(_) => "*template.sample",
            Value::Time { ptr: true, .. } => "*time.Time",
            Value::Time { ptr: false, .. } => "time.Time",
            Value::Duration { ptr: true, .. } => "*time.Duration",
            Value::Duration { ptr: false, .. } => "time.Duration",
            Value::Data(_) => DATA_TYPE,
        }
    }

    /// Go's `isTrue` (after `indirectInterface`): the zero value of a type is false.
    pub(super) fn truth(&self) -> bool {
        match self {
            Value::Invalid | Value::NilIface => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Byte(b) => *b != 0,
            Value::Float(f) => *f != 0.0,
            Value::Complex(r, i) => *r != 0.0 || *i != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::Labels(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Samples(v) => !v.borrow().is_empty(),
            Value::Sample(p) => p.is_some(),
            Value::Time { .. } | Value::Data(_) => true,
            Value::Duration { d, ptr } => *ptr || *d != 0,
        }
    }

    /// The string of a string-kind value.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Html(s) => Some(s),
            _ => None,
        }
    }

    /// `indirectInterface`: a nil interface is no value.
    pub(super) fn indirect_interface(self) -> Value<'a> {
        match self {
            Value::NilIface => Value::Invalid,
            v => v,
        }
    }
}
