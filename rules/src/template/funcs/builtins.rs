//! Go's builtin template functions that need more than a line: the comparisons, `len`,
//! `index`, `slice`, and the `html`/`js` escapers.

use std::rc::Rc;

use super::super::fmt::{sprint_printable, sprintf};
use super::super::strconv::is_print;
use super::super::value::{Kind, Value};
use super::FResult;

/// Go's `HTMLEscapeString`.
pub(super) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `JSEscapeString`.
pub(super) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && !is_print(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `evalArgs`: one string argument as is, anything else through `fmt.Sprint`.
pub(super) fn eval_args(args: &[Value<'_>]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    sprint_printable(args)
}

fn basic_kind(v: &Value<'_>) -> Kind {
    match v.kind() {
        k @ (Kind::Bool | Kind::Int | Kind::Uint | Kind::Float | Kind::Complex | Kind::String) => k,
        _ => Kind::Invalid,
    }
}

fn as_i64(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Duration { d: i, .. } => *i,
        Value::Byte(b) => i64::from(*b),
        _ => 0,
    }
}

fn as_u64(v: &Value<'_>) -> u64 {
    match v {
        Value::Byte(b) => u64::from(*b),
        v => as_i64(v) as u64,
    }
}

fn is_nil(v: &Value<'_>) -> bool {
    matches!(v, Value::Invalid | Value::NilIface | Value::Sample(None))
}

const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const BAD_COMPARISON: &str = "incompatible types for comparison";

/// Go's `eq`: true if `a` equals any of `others`.
pub(super) fn eq(a: Value<'_>, others: &[Value<'_>]) -> Result<bool, String> {
    let a = a.indirect_interface();
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(&a);
    for arg in others {
        let arg = arg.clone().indirect_interface();
        let k2 = basic_kind(&arg);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) => as_i64(&a) >= 0 && as_i64(&a) as u64 == as_u64(&arg),
                (Kind::Uint, Kind::Int) => as_i64(&arg) >= 0 && as_u64(&a) == as_i64(&arg) as u64,
                _ => {
                    if !matches!(a, Value::Invalid) && !matches!(arg, Value::Invalid) {
                        return Err(BAD_COMPARISON.into());
                    }
                    false
                }
            }
        } else {
            match k1 {
                Kind::Bool => a.truth() == arg.truth(),
                Kind::Complex => match (&a, &arg) {
                    (Value::Complex(r1, i1), Value::Complex(r2, i2)) => r1 == r2 && i1 == i2,
                    _ => false,
                },
                Kind::Float => match (&a, &arg) {
                    (Value::Float(x), Value::Float(y)) => x == y,
                    _ => false,
                },
                Kind::Int => as_i64(&a) == as_i64(&arg),
                Kind::Uint => as_u64(&a) == as_u64(&arg),
                Kind::String => a.as_str() == arg.as_str(),
                _ => {
                    let (ka, kb) = (a.kind(), arg.kind());
                    if ka != kb && ka != Kind::Invalid && kb != Kind::Invalid {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            sprintf("%s", std::slice::from_ref(&a)),
                            a.type_name(),
                            arg.type_name(),
                            sprintf("%v", std::slice::from_ref(&arg))
                        ));
                    }
                    if is_nil(&a) || is_nil(&arg) {
                        is_nil(&a) == is_nil(&arg)
                    } else {
                        match (&a, &arg) {
                            (Value::Sample(Some(x)), Value::Sample(Some(y))) => Rc::ptr_eq(x, y),
                            (Value::Time { t: x, ptr: false }, Value::Time { t: y, ptr: false }) => x == y,
                            (Value::Time { ptr: true, .. }, _) | (Value::Duration { ptr: true, .. }, _) => false,
                            _ => {
                                return Err(format!(
                                    "non-comparable type {}: {}",
                                    sprintf("%s", std::slice::from_ref(&arg)),
                                    arg.type_name()
                                ));
                            }
                        }
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) fn lt(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let a = a.clone().indirect_interface();
    let b = b.clone().indirect_interface();
    let (k1, k2) = (basic_kind(&a), basic_kind(&b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) => Ok(as_i64(&a) < 0 || (as_i64(&a) as u64) < as_u64(&b)),
            (Kind::Uint, Kind::Int) => Ok(as_i64(&b) >= 0 && as_u64(&a) < as_i64(&b) as u64),
            _ => Err(BAD_COMPARISON.into()),
        };
    }
    match (k1, &a, &b) {
        (Kind::Bool | Kind::Complex, ..) => Err(BAD_COMPARISON_TYPE.into()),
        (Kind::Float, Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Kind::Int, ..) => Ok(as_i64(&a) < as_i64(&b)),
        (Kind::Uint, ..) => Ok(as_u64(&a) < as_u64(&b)),
        (Kind::String, ..) => Ok(a.as_str() < b.as_str()),
        _ => Err(BAD_COMPARISON_TYPE.into()),
    }
}

pub(super) fn le(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a.clone(), std::slice::from_ref(b))
}

/// The type Go reports after following pointers (`len of type template.sample`).
fn indirect_type_name(v: &Value<'_>) -> &'static str {
    match v {
        Value::Sample(Some(_)) => "template.sample",
        Value::Time { .. } => "time.Time",
        Value::Duration { .. } => "time.Duration",
        v => v.type_name(),
    }
}

pub(super) fn length<'a>(v: Value<'a>) -> FResult<'a> {
    match &v {
        Value::Sample(None) | Value::NilIface => Err("len of nil pointer".into()),
        Value::Invalid => Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Value::Str(s) | Value::Html(s) => Ok(Value::Int(s.len() as i64)),
        Value::Labels(m) => Ok(Value::Int(m.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.len() as i64)),
        Value::Samples(s) => Ok(Value::Int(s.borrow().len() as i64)),
        v => Err(format!("len of type {}", indirect_type_name(v))),
    }
}

/// Go's `indexArg`.
fn index_arg(index: &Value<'_>, cap: usize) -> Result<usize, String> {
    let x: i64 = match index {
        Value::Int(i) | Value::Duration { d: i, ptr: false } => *i,
        Value::Byte(b) => i64::from(*b),
        Value::Invalid | Value::NilIface => return Err("cannot index slice/array with nil".into()),
        v => return Err(format!("cannot index slice/array with type {}", v.type_name())),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

pub(super) fn index<'a>(item: Value<'a>, indexes: &[Value<'a>]) -> FResult<'a> {
    let mut item = item.indirect_interface();
    if let Value::Invalid = item {
        return Err("index of untyped nil".into());
    }
    for idx in indexes {
        let idx = idx.clone().indirect_interface();
        item = match &item {
            Value::Sample(None) => return Err("index of nil pointer".into()),
            Value::Str(s) | Value::Html(s) => {
                let x = index_arg(&idx, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Byte(*b),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            Value::Samples(v) => {
                let v = v.borrow();
                let x = index_arg(&idx, v.len())?;
                match v.get(x) {
                    Some(s) => Value::Sample(Some(s.clone())),
                    None => return Err("reflect: slice index out of range".into()),
                }
            }
            Value::Labels(_) | Value::Map(_) => {
                let key = match &idx {
                    Value::Str(k) => k.clone(),
                    Value::Invalid => return Err("value is nil; should be of type string".into()),
                    v => return Err(format!("value has type {}; should be string", v.type_name())),
                };
                match &item {
                    Value::Labels(m) => Value::string(m.get(&*key).cloned().unwrap_or_default()),
                    Value::Map(m) => m.get(&*key).cloned().unwrap_or(Value::NilIface),
                    _ => Value::Invalid,
                }
            }
            v => return Err(format!("can't index item of type {}", indirect_type_name(v))),
        };
    }
    Ok(item)
}

pub(super) fn slice<'a>(item: Value<'a>, indexes: &[Value<'a>]) -> FResult<'a> {
    let item = item.indirect_interface();
    if let Value::Invalid = item {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match &item {
        Value::Str(s) | Value::Html(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Samples(v) => v.borrow().len(),
        v => return Err(format!("can't slice item of type {}", indirect_type_name(v))),
    };
    let mut idx = [0, len, len];
    for (i, x) in indexes.iter().enumerate() {
        idx[i] = index_arg(&x.clone().indirect_interface(), len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match &item {
        Value::Str(s) => Value::string(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned()),
        Value::Html(s) => Value::Html(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned().into()),
        Value::Samples(v) => Value::samples(v.borrow()[idx[0]..idx[1]].to_vec()),
        _ => Value::Invalid,
    })
}
