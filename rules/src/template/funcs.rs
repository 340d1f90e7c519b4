//! The functions templates can call: Go's builtins (`and or not len index slice print printf
//! println eq ne lt le gt ge html js urlquery call`), Prometheus's template functions
//! (`query first label value humanize* toTime ...`, as in Prometheus's `template/template.go`
//! and `prometheus/common`'s `helpers/templates`), and the methods of the `time.Time` and
//! `time.Duration` values some of them return. Each has its Go signature, which decides how
//! its arguments are converted and which type errors are reported.

use std::fmt::{self, Display};
use std::rc::Rc;

mod builtins;
mod prom;

use builtins::{eq, eval_args, html_escape, index, js_escape, le, length, lt, slice};
use prom::{
    convert_to_float, float_to_time, go_f64_to_i64, humanize, humanize_duration, humanize1024,
    parse_duration_allow_negative, split_host_port, strip_domain, title, to_lower, to_upper, url_path,
};

use super::exec::State;
use super::fmt::{sprint, sprintf, sprintln};
use super::gotime;
use super::regexp;
use super::strconv::{format_float, query_escape};
use super::value::{GoTime, Sample, Str, Value};

/// A function known to the parser (Go rejects unknown names at parse time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Func {
    And,
    Or,
    Not,
    Len,
    Index,
    Slice,
    Print,
    Printf,
    Println,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Html,
    Js,
    Urlquery,
    Call,
    Query,
    First,
    Label,
    ValueOf,
    Strvalue,
    Args,
    ReReplaceAll,
    SafeHtml,
    Match,
    Title,
    ToUpper,
    ToLower,
    GraphLink,
    TableLink,
    SortByLabel,
    StripPort,
    StripDomain,
    Humanize,
    Humanize1024,
    HumanizeDuration,
    HumanizePercentage,
    HumanizeTimestamp,
    ToTime,
    ToDuration,
    Now,
    PathPrefix,
    ExternalUrl,
    ParseDuration,
    UrlQueryEscape,
}

/// The template function called `name`.
pub(super) fn lookup(name: &str) -> Option<Func> {
    use Func::*;
    Some(match name {
        "and" => And,
        "or" => Or,
        "not" => Not,
        "len" => Len,
        "index" => Index,
        "slice" => Slice,
        "print" => Print,
        "printf" => Printf,
        "println" => Println,
        "eq" => Eq,
        "ne" => Ne,
        "lt" => Lt,
        "le" => Le,
        "gt" => Gt,
        "ge" => Ge,
        "html" => Html,
        "js" => Js,
        "urlquery" => Urlquery,
        "call" => Call,
        "query" => Query,
        "first" => First,
        "label" => Label,
        "value" => ValueOf,
        "strvalue" => Strvalue,
        "args" => Args,
        "reReplaceAll" => ReReplaceAll,
        "safeHtml" => SafeHtml,
        "match" => Match,
        "title" => Title,
        "toUpper" => ToUpper,
        "toLower" => ToLower,
        "graphLink" => GraphLink,
        "tableLink" => TableLink,
        "sortByLabel" => SortByLabel,
        "stripPort" => StripPort,
        "stripDomain" => StripDomain,
        "humanize" => Humanize,
        "humanize1024" => Humanize1024,
        "humanizeDuration" => HumanizeDuration,
        "humanizePercentage" => HumanizePercentage,
        "humanizeTimestamp" => HumanizeTimestamp,
        "toTime" => ToTime,
        "toDuration" => ToDuration,
        "now" => Now,
        "pathPrefix" => PathPrefix,
        "externalURL" => ExternalUrl,
        "parseDuration" => ParseDuration,
        "urlQueryEscape" => UrlQueryEscape,
        _ => return None,
    })
}

/// A Go parameter type, as far as argument conversion needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    /// `interface{}`
    Any,
    /// `reflect.Value` (the builtins that take anything)
    RValue,
    Str,
    Int,
    QueryResult,
    SamplePtr,
    Duration,
    Time,
}

impl Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Any => "interface {}",
            Ty::RValue => "reflect.Value",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::QueryResult => "template.queryResult",
            Ty::SamplePtr => "*template.sample",
            Ty::Duration => "time.Duration",
            Ty::Time => "time.Time",
        })
    }
}

/// A method of `time.Time` or `time.Duration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    TimeString,
    Format,
    Unix,
    UnixMilli,
    UnixMicro,
    UnixNano,
    Add,
    Sub,
    Utc,
    Local,
    Year,
    YearDay,
    Day,
    Hour,
    Minute,
    Second,
    Nanosecond,
    IsZero,
    Before,
    After,
    Equal,
    DurationString,
    Seconds,
    Minutes,
    Hours,
    Milliseconds,
    Microseconds,
    Nanoseconds,
    Abs,
    Round,
    Truncate,
}

/// What a call calls.
pub(super) enum Callee<'a> {
    Func(Func),
    Method(Method, Value<'a>),
}

/// The method `name` of `v`'s type, if it has one.
pub(super) fn method_by_name(v: &Value<'_>, name: &str) -> Option<Method> {
    use Method::*;
    match v {
        Value::Time { .. } => Some(match name {
            "String" => TimeString,
            "Format" => Format,
            "Unix" => Unix,
            "UnixMilli" => UnixMilli,
            "UnixMicro" => UnixMicro,
            "UnixNano" => UnixNano,
            "Add" => Add,
            "Sub" => Sub,
            "UTC" => Utc,
            "Local" => Local,
            "Year" => Year,
            "YearDay" => YearDay,
            "Day" => Day,
            "Hour" => Hour,
            "Minute" => Minute,
            "Second" => Second,
            "Nanosecond" => Nanosecond,
            "IsZero" => IsZero,
            "Before" => Before,
            "After" => After,
            "Equal" => Equal,
            _ => return None,
        }),
        Value::Duration { .. } => Some(match name {
            "String" => DurationString,
            "Seconds" => Seconds,
            "Minutes" => Minutes,
            "Hours" => Hours,
            "Milliseconds" => Milliseconds,
            "Microseconds" => Microseconds,
            "Nanoseconds" => Nanoseconds,
            "Abs" => Abs,
            "Round" => Round,
            "Truncate" => Truncate,
            _ => return None,
        }),
        _ => None,
    }
}

/// Fixed parameter types and the variadic element type, if any.
pub(super) fn signature(c: &Callee<'_>) -> (&'static [Ty], Option<Ty>) {
    use Func::*;
    use Ty::*;
    match c {
        Callee::Method(m, _) => match m {
            Method::Format => (&[Str], None),
            Method::Add | Method::Round | Method::Truncate => (&[Duration], None),
            Method::Sub | Method::Before | Method::After | Method::Equal => (&[Time], None),
            _ => (&[], None),
        },
        Callee::Func(f) => match f {
            And | Or | Index | Slice | Eq | Call => (&[RValue], Some(RValue)),
            Not | Len => (&[RValue], None),
            Ne | Lt | Le | Gt | Ge => (&[RValue, RValue], None),
            Print | Println | Html | Js | Urlquery | Args => (&[], Some(Any)),
            Printf => (&[Str], Some(Any)),
            Query | Title | ToUpper | ToLower | GraphLink | TableLink | StripPort | StripDomain | SafeHtml
            | ParseDuration | UrlQueryEscape => (&[Str], None),
            First => (&[QueryResult], None),
            Label => (&[Str, SamplePtr], None),
            ValueOf | Strvalue => (&[SamplePtr], None),
            ReReplaceAll => (&[Str, Str, Str], None),
            Match => (&[Str, Str], None),
            SortByLabel => (&[Str, QueryResult], None),
            Humanize | Humanize1024 | HumanizeDuration | HumanizePercentage | HumanizeTimestamp | ToTime
            | ToDuration => (&[Any], None),
            Now | PathPrefix | ExternalUrl => (&[], None),
        },
    }
}

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

pub(super) type FResult<'a> = Result<Value<'a>, String>;

fn str_arg<'v>(v: &'v Value<'_>) -> &'v str {
    v.as_str().unwrap_or("")
}

/// Calls `f` with arguments already converted to its parameter types.
pub(super) fn call_func<'a>(st: &mut State<'a>, f: Func, args: Vec<Value<'a>>) -> FResult<'a> {
    use Func::*;
    let a0 = || args.first().cloned().unwrap_or(Value::Invalid);
    match f {
        And | Or | Call => Ok(a0()),
        Not => Ok(Value::Bool(!a0().indirect_interface().truth())),
        Len => length(a0()),
        Index => index(a0(), &args[1..]),
        Slice => slice(a0(), &args[1..]),
        Print => Ok(Value::string(sprint(&args))),
        Println => Ok(Value::string(sprintln(&args))),
        Printf => Ok(Value::string(sprintf(str_arg(&args[0]), &args[1..]))),
        Eq => eq(a0(), &args[1..]).map(Value::Bool),
        Ne => eq(a0(), &args[1..2]).map(|b| Value::Bool(!b)),
        Lt => lt(&args[0], &args[1]).map(Value::Bool),
        Le => le(&args[0], &args[1]).map(Value::Bool),
        Gt => le(&args[0], &args[1]).map(|b| Value::Bool(!b)),
        Ge => lt(&args[0], &args[1]).map(|b| Value::Bool(!b)),
        Html => Ok(Value::string(html_escape(&eval_args(&args)))),
        Js => Ok(Value::string(js_escape(&eval_args(&args)))),
        Urlquery => Ok(Value::string(query_escape(&eval_args(&args)))),
        Query => {
            let Some(q) = st.env.query else { return Err(NIL_DEREF.into()) };
            let res = q(str_arg(&args[0]))?;
            let samples = res.into_iter().map(|(labels, value)| Rc::new(Sample { labels: Rc::new(labels), value }));
            Ok(Value::samples(samples.collect()))
        }
        First => match &args[0] {
            Value::Samples(v) if !v.borrow().is_empty() => Ok(Value::Sample(v.borrow().first().cloned())),
            _ => Err("first() called on vector with no elements".into()),
        },
        Label => match &args[1] {
            Value::Sample(Some(s)) => Ok(Value::string(s.labels.get(str_arg(&args[0])).cloned().unwrap_or_default())),
            _ => Err(NIL_DEREF.into()),
        },
        ValueOf => match &args[0] {
            Value::Sample(Some(s)) => Ok(Value::Float(s.value)),
            _ => Err(NIL_DEREF.into()),
        },
        Strvalue => match &args[0] {
            Value::Sample(Some(s)) => Ok(Value::string(s.labels.get("__value__").cloned().unwrap_or_default())),
            _ => Err(NIL_DEREF.into()),
        },
        Args => {
            let m = args.into_iter().enumerate().map(|(i, v)| (format!("arg{i}"), v)).collect();
            Ok(Value::Map(Rc::new(m)))
        }
        ReReplaceAll => {
            let pat = str_arg(&args[0]);
            let re = regexp::compile(pat).map_err(|e| format!("regexp: Compile({}): {e}", regexp::quote(pat)))?;
            Ok(Value::string(regexp::replace_all(&re, str_arg(&args[2]), str_arg(&args[1]))))
        }
        Match => {
            let re = regexp::compile(str_arg(&args[0]))?;
            Ok(Value::Bool(re.is_match(str_arg(&args[1]))))
        }
        SafeHtml => Ok(match &args[0] {
            Value::Str(s) => Value::Html(s.clone()),
            _ => Value::Html(Str::B("")),
        }),
        Title => Ok(Value::string(title(str_arg(&args[0])))),
        ToUpper => Ok(Value::string(to_upper(str_arg(&args[0])))),
        ToLower => Ok(Value::string(to_lower(str_arg(&args[0])))),
        GraphLink => Ok(Value::string(format!("/graph?g0.expr={}&g0.tab=0", query_escape(str_arg(&args[0]))))),
        TableLink => Ok(Value::string(format!("/graph?g0.expr={}&g0.tab=1", query_escape(str_arg(&args[0]))))),
        SortByLabel => {
            let label = str_arg(&args[0]);
            let Value::Samples(v) = &args[1] else { return Ok(args[1].clone()) };
            // Go sorts the slice in place (stably); other references see the new order.
            let key = |s: &Rc<Sample>| s.labels.get(label).cloned().unwrap_or_default();
            if let Ok(mut vec) = v.try_borrow_mut() {
                vec.sort_by_key(key);
            }
            Ok(args[1].clone())
        }
        StripPort => {
            let hp = str_arg(&args[0]);
            Ok(Value::string(match split_host_port(hp) {
                Some((host, _)) => host.to_string(),
                None => hp.to_string(),
            }))
        }
        StripDomain => Ok(Value::string(strip_domain(str_arg(&args[0])))),
        Humanize => humanize(convert_to_float(&args[0])?).map(Value::string),
        Humanize1024 => Ok(Value::string(humanize1024(convert_to_float(&args[0])?))),
        HumanizeDuration => Ok(Value::string(humanize_duration(convert_to_float(&args[0])?))),
        HumanizePercentage => {
            Ok(Value::string(format!("{}%", format_float(convert_to_float(&args[0])? * 100.0, 'g', 4))))
        }
        HumanizeTimestamp => {
            let v = convert_to_float(&args[0])?;
            if v.is_nan() || v.is_infinite() {
                return Ok(Value::string(format_float(v, 'g', 4)));
            }
            Ok(Value::string(gotime::time_string(float_to_time(v)?)))
        }
        ToTime => {
            let v = convert_to_float(&args[0])?;
            if v.is_nan() || v.is_infinite() {
                return Err("value is NaN or Inf".into());
            }
            Ok(Value::Time { t: float_to_time(v)?, ptr: true })
        }
        ToDuration => {
            let v = convert_to_float(&args[0])?;
            Ok(Value::Duration { d: go_f64_to_i64(v * 1e9), ptr: true })
        }
        Now => Ok(Value::Float(st.env.now_ms as f64 / 1000.0)),
        PathPrefix => Ok(Value::string(url_path(st.env.external_url))),
        ExternalUrl => Ok(Value::str(st.env.external_url)),
        ParseDuration => {
            let ns = parse_duration_allow_negative(str_arg(&args[0]))?;
            Ok(Value::Float(ns as f64 / 1e9))
        }
        UrlQueryEscape => Ok(Value::string(query_escape(str_arg(&args[0])))),
    }
}

/// Calls a method of a time or duration.
pub(super) fn call_method<'a>(m: Method, recv: &Value<'a>, args: Vec<Value<'a>>) -> FResult<'a> {
    use Method::*;
    match recv {
        Value::Time { t, .. } => {
            let t = *t;
            let c = || gotime::civil(t);
            let other = || match args.first() {
                Some(Value::Time { t, .. }) => *t,
                _ => t,
            };
            let dur = || match args.first() {
                Some(Value::Duration { d, .. }) => *d,
                _ => 0,
            };
            let ns = t.unix_nanos();
            Ok(match m {
                TimeString => Value::string(gotime::time_string(t)),
                Format => Value::string(gotime::format(t, args.first().map_or("", str_arg))),
                Unix => Value::Int(t.sec),
                UnixMilli => Value::Int(t.sec.wrapping_mul(1000).wrapping_add(i64::from(t.nsec / 1_000_000))),
                UnixMicro => Value::Int(t.sec.wrapping_mul(1_000_000).wrapping_add(i64::from(t.nsec / 1000))),
                UnixNano => Value::Int(ns as i64),
                Add => Value::Time { t: GoTime::from_unix_nanos(ns + i128::from(dur())), ptr: false },
                Sub => {
                    let d = (ns - other().unix_nanos()).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
                    Value::Duration { d: d as i64, ptr: false }
                }
                Utc | Local => Value::Time { t, ptr: false },
                Year => Value::Int(c().year),
                YearDay => Value::Int(i64::from(c().yday)),
                Day => Value::Int(i64::from(c().day)),
                Hour => Value::Int(i64::from(c().hour)),
                Minute => Value::Int(i64::from(c().min)),
                Second => Value::Int(i64::from(c().sec)),
                Nanosecond => Value::Int(i64::from(t.nsec)),
                IsZero => Value::Bool(t.sec == -62_135_596_800 && t.nsec == 0),
                Before => Value::Bool(t < other()),
                After => Value::Bool(t > other()),
                Equal => Value::Bool(t == other()),
                _ => return Err(NIL_DEREF.into()),
            })
        }
        Value::Duration { d, .. } => {
            let d = *d;
            let m_arg = match args.first() {
                Some(Value::Duration { d, .. }) => *d,
                _ => 0,
            };
            let split = |unit: i64| (d / unit) as f64 + (d % unit) as f64 / unit as f64;
            Ok(match m {
                DurationString => Value::string(gotime::duration_string(d)),
                Seconds => Value::Float(split(1_000_000_000)),
                Minutes => Value::Float(split(60_000_000_000)),
                Hours => Value::Float(split(3_600_000_000_000)),
                Milliseconds => Value::Int(d / 1_000_000),
                Microseconds => Value::Int(d / 1000),
                Nanoseconds => Value::Int(d),
                Abs => Value::Duration { d: if d >= 0 { d } else { d.checked_neg().unwrap_or(i64::MAX) }, ptr: false },
                Truncate => Value::Duration { d: if m_arg <= 0 { d } else { d - d % m_arg }, ptr: false },
                Round => Value::Duration { d: round_duration(d, m_arg), ptr: false },
                _ => return Err(NIL_DEREF.into()),
            })
        }
        _ => Err(NIL_DEREF.into()),
    }
}

fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let less_than_half = |x: i64, y: i64| (x as u64).wrapping_add(x as u64) < y as u64;
    let mut r = d % m;
    if d < 0 {
        r = -r;
        if less_than_half(r, m) {
            return d + r;
        }
        return d.checked_sub(m).map(|x| x + r).filter(|&d1| d1 < d).unwrap_or(i64::MIN);
    }
    if less_than_half(r, m) {
        return d - r;
    }
    d.checked_add(m).map(|x| x - r).filter(|&d1| d1 > d).unwrap_or(i64::MAX)
}
