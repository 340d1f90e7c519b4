//! Execution of parsed templates, a mirror of `text/template/exec.go`: the same walk, the
//! same variable stack and scoping, the same evaluation of pipelines, fields and calls, and
//! the same choice of "current node" for error messages (`template: n:1:12: executing "n" at
//! <humanize "x">: error calling humanize: ...`), with `missingkey=zero` as Prometheus sets.

use std::collections::HashMap;
use std::fmt::{self, Display};
use std::rc::Rc;

use super::fmt::{print_action, to_string};
use super::funcs::{Callee, Func, Ty, call_func, call_method, method_by_name, signature};
use super::parse::{Arg, Branch, Command, List, Node, Number, Pipe, TemplateCall, Var};
use super::strconv::quote;
use super::value::{DataRef, Labels, Str, Value};
use crate::alert::LabelMap;

/// The injected query function.
pub(super) type QueryFn<'a> = dyn Fn(&str) -> Result<Vec<(LabelMap, f64)>, String> + 'a;

/// A parsed template set with the text it came from (error positions are offsets in it).
#[derive(Debug)]
pub(super) struct Program {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) trees: HashMap<String, List>,
}

/// What templates can reach outside their data: the query function, the external URL, the
/// evaluation time.
pub(super) struct Env<'a> {
    pub(super) data: DataRef<'a>,
    pub(super) query: Option<&'a QueryFn<'a>>,
    pub(super) external_url: &'a str,
    pub(super) now_ms: i64,
}

/// Go's `maxExecDepth` is 100000 nested template invocations on growable goroutine stacks;
/// on a fixed thread stack the limit must be far lower. Error messages still quote Go's.
const MAX_EXEC_DEPTH: usize = 100;
/// Nested control structures and parenthesized pipelines across template invocations.
const MAX_NESTING: usize = 200;

/// Why a walk stopped early.
pub(super) enum Stop {
    Break,
    Continue,
    Error(String),
}

pub(super) type R<T> = Result<T, Stop>;

/// The node execution is at, for error messages.
#[derive(Clone, Copy)]
enum At<'a> {
    None,
    Node(&'a Node),
    Pipe(&'a Pipe),
    Cmd(&'a Command),
    Arg(&'a Arg),
    Var(&'a Var),
    Num(&'a Number),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::None => 0,
            At::Node(n) => n.pos(),
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(a) => a.pos(),
            At::Var(v) => v.pos,
            At::Num(n) => n.pos,
        }
    }
}

impl Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::None => Ok(()),
            At::Node(n) => n.fmt(f),
            At::Pipe(p) => p.fmt(f),
            At::Cmd(c) => c.fmt(f),
            At::Arg(a) => a.fmt(f),
            At::Var(v) => v.fmt(f),
            At::Num(n) => f.write_str(&n.text),
        }
    }
}

pub(super) struct State<'a> {
    prog: &'a Program,
    pub(super) env: &'a Env<'a>,
    tmpl_name: &'a str,
    pub(super) out: String,
    vars: Vec<(&'a str, Value<'a>)>,
    node: At<'a>,
    depth: usize,
    nesting: usize,
}

/// Executes the template `prog.name` with the alert data as dot.
pub(super) fn execute<'a>(prog: &'a Program, env: &'a Env<'a>) -> Result<String, String> {
    let dot = Value::Data(env.data);
    let mut s = State {
        prog,
        env,
        tmpl_name: &prog.name,
        out: String::with_capacity(prog.text.len()),
        vars: vec![("$", dot.clone())],
        node: At::None,
        depth: 0,
        nesting: 0,
    };
    let Some(root) = prog.trees.get(&prog.name) else {
        return Err(format!("template: {}: {} is an incomplete or empty template", prog.name, quote(&prog.name)));
    };
    match s.walk_list(&dot, root) {
        Ok(()) => Ok(s.out),
        Err(Stop::Error(e)) => Err(e),
        // The parser rejects break and continue outside range.
        Err(Stop::Break | Stop::Continue) => Ok(s.out),
    }
}

fn is_hex_int(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') && !s.contains(['p', 'P'])
}

impl<'a> State<'a> {
    fn at(&mut self, node: At<'a>) {
        self.node = node;
    }

    /// Go's `state.errorf`: the message with the current node's location and text.
    pub(super) fn errorf(&self, msg: impl Display) -> Stop {
        let name = &self.prog.name;
        if let At::None = self.node {
            return Stop::Error(format!("template: {}: {msg}", self.tmpl_name));
        }
        let pos = self.node.pos().min(self.prog.text.len());
        let before = &self.prog.text.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = match before.iter().rposition(|&b| b == b'\n') {
            Some(nl) => pos - nl - 1,
            None => pos,
        };
        Stop::Error(format!(
            "template: {name}:{line}:{col}: executing {} at <{}>: {msg}",
            quote(self.tmpl_name),
            self.node
        ))
    }

    fn enter(&mut self) -> R<()> {
        if self.nesting >= MAX_NESTING {
            return Err(self.errorf(format_args!("exceeded maximum template depth ({})", 100_000)));
        }
        self.nesting += 1;
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value<'a>, list: &'a List) -> R<()> {
        for n in &list.nodes {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value<'a>, node: &'a Node) -> R<()> {
        self.at(At::Node(node));
        match node {
            Node::Action(a) => {
                let val = self.eval_pipeline(dot, &a.pipe)?;
                if a.pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    print_action(&mut self.out, &val);
                }
                Ok(())
            }
            Node::Break { .. } => Err(Stop::Break),
            Node::Continue { .. } => Err(Stop::Continue),
            Node::Text { text, .. } => {
                self.out.push_str(text);
                Ok(())
            }
            Node::If(b) => self.walk_if_or_with(false, dot, b),
            Node::With(b) => self.walk_if_or_with(true, dot, b),
            Node::Range(b) => {
                self.enter()?;
                let r = self.walk_range(dot, node, b);
                self.nesting -= 1;
                r
            }
            Node::Template(t) => self.walk_template(dot, node, t),
        }
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value<'a>, b: &'a Branch) -> R<()> {
        self.enter()?;
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            if val.truth() {
                if with { self.walk_list(&val, &b.list) } else { self.walk_list(dot, &b.list) }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        self.nesting -= 1;
        r
    }

    fn set_top_var(&mut self, n: usize, v: Value<'a>) {
        let len = self.vars.len();
        if let Some(slot) = len.checked_sub(n).and_then(|i| self.vars.get_mut(i)) {
            slot.1 = v;
        }
    }

    /// One iteration of a range; `Ok(false)` after `{{break}}`.
    fn range_iteration(&mut self, r: &'a Branch, mark: usize, index: Value<'a>, elem: Value<'a>) -> R<bool> {
        let decl = &r.pipe.decl;
        if !decl.is_empty() {
            if r.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0].ident[0], index.clone())?;
                } else {
                    self.set_var(&decl[0].ident[0], elem.clone())?;
                }
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if decl.len() > 1 {
            if r.pipe.is_assign {
                self.set_var(&decl[1].ident[0], elem.clone())?;
            } else {
                self.set_top_var(2, index);
            }
        }
        let res = self.walk_list(&elem, &r.list);
        self.vars.truncate(mark);
        match res {
            Ok(()) | Err(Stop::Continue) => Ok(true),
            Err(Stop::Break) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn walk_range(&mut self, dot: &Value<'a>, node: &'a Node, r: &'a Branch) -> R<()> {
        self.at(At::Node(node));
        let mark0 = self.vars.len();
        let res = self.walk_range_inner(dot, r);
        self.vars.truncate(mark0);
        res
    }

    fn walk_range_inner(&mut self, dot: &Value<'a>, r: &'a Branch) -> R<()> {
        let val = indirect(self.eval_pipeline(dot, &r.pipe)?);
        let mark = self.vars.len();
        let n = match &val {
            Value::Int(_) | Value::Byte(_) | Value::Duration { ptr: false, .. } => {
                let n = match val {
                    Value::Int(i) | Value::Duration { d: i, .. } => i,
                    Value::Byte(b) => i64::from(b),
                    _ => 0,
                };
                if r.pipe.decl.len() > 1 {
                    let shown = to_string(&val);
                    return Err(self.errorf(format_args!("can't use {shown} to iterate over more than one variable")));
                }
                for i in 0..n.max(0) {
                    let elem = match val {
                        Value::Byte(_) => Value::Byte(i as u8),
                        Value::Duration { .. } => Value::Duration { d: i, ptr: false },
                        _ => Value::Int(i),
                    };
                    if !self.range_iteration(r, mark, Value::Invalid, elem)? {
                        return Ok(());
                    }
                }
                n.max(0) as usize
            }
            Value::Samples(v) => {
                // Elements are read afresh each iteration, as Go indexes the slice.
                let len = v.borrow().len();
                for i in 0..len {
                    let Some(e) = v.borrow().get(i).cloned() else { break };
                    if !self.range_iteration(r, mark, Value::Int(i as i64), Value::Sample(Some(e)))? {
                        return Ok(());
                    }
                }
                len
            }
            Value::Labels(m) => {
                for (k, v) in m.iter() {
                    let (k, v) = match m {
                        Labels::B(_) => (Value::string(k.clone()), Value::string(v.clone())),
                        Labels::R(_) => (Value::string(k.clone()), Value::string(v.clone())),
                    };
                    if !self.range_iteration(r, mark, k, v)? {
                        return Ok(());
                    }
                }
                m.len()
            }
            Value::Map(m) => {
                for (k, v) in m.iter() {
                    if !self.range_iteration(r, mark, Value::string(k.clone()), v.clone())? {
                        return Ok(());
                    }
                }
                m.len()
            }
            Value::Invalid => 0,
            v => {
                let shown = match v {
                    Value::Sample(Some(s)) => super::fmt::sprint_printable(&[Value::Sample(Some(s.clone()))]),
                    v => to_string(v),
                };
                return Err(self.errorf(format_args!("range can't iterate over {shown}")));
            }
        };
        if n == 0
            && let Some(e) = &r.else_list
        {
            return self.walk_list(dot, e);
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &Value<'a>, node: &'a Node, t: &'a TemplateCall) -> R<()> {
        self.at(At::Node(node));
        let prog = self.prog;
        let Some((name, tree)) = prog.trees.get_key_value(&t.name) else {
            return Err(self.errorf(format_args!("template {} not defined", quote(&t.name))));
        };
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(self.errorf(format_args!("exceeded maximum template depth ({})", 100_000)));
        }
        let new_dot = match &t.pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Invalid,
        };
        self.enter()?;
        let vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
        let tmpl_name = std::mem::replace(&mut self.tmpl_name, name);
        self.depth += 1;
        let r = self.walk_list(&new_dot, tree);
        self.depth -= 1;
        self.tmpl_name = tmpl_name;
        self.vars = vars;
        self.nesting -= 1;
        r
    }

    fn set_var(&mut self, name: &str, v: Value<'a>) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.errorf(format_args!("undefined variable: {name}"))),
        }
    }

    fn var_value(&self, name: &str) -> R<Value<'a>> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format_args!("undefined variable: {name}"))),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> R<Value<'a>> {
        self.at(At::Pipe(pipe));
        let mut value: Option<Value<'a>> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // Dig into interface{} values.
            value = Some(v.indirect_interface());
        }
        let value = value.unwrap_or(Value::Invalid);
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(&var.ident[0], value.clone())?;
            } else {
                self.vars.push((&var.ident[0], value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, first: &dyn Display, has_more: bool, final_: &Option<Value<'a>>) -> R<()> {
        if has_more || final_.is_some() {
            return Err(self.errorf(format_args!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value<'a>, cmd: &'a Command, final_: Option<Value<'a>>) -> R<Value<'a>> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match first {
            Arg::Field { ident, .. } => {
                self.at(At::Arg(first));
                return self.eval_field_chain(dot, dot.clone(), At::Arg(first), ident, rest, final_);
            }
            Arg::Chain { .. } => return self.eval_chain_node(dot, first, rest, final_),
            Arg::Identifier { .. } => {
                return self.eval_function(dot, first, At::Cmd(cmd), rest, final_);
            }
            Arg::Pipe(p) => {
                self.not_a_function(first, !rest.is_empty(), &final_)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable(v) => return self.eval_variable_node(dot, v, rest, final_),
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(first, !rest.is_empty(), &final_)?;
        match first {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.errorf("nil is not a command")),
            Arg::Number(n) => self.ideal_constant(n),
            Arg::String { text, .. } => Ok(Value::str(text)),
            _ => Err(self.errorf(format_args!("can't evaluate command {}", quote(&first.to_string())))),
        }
    }

    fn ideal_constant(&mut self, n: &'a Number) -> R<Value<'a>> {
        self.at(At::Num(n));
        if n.is_complex {
            return Ok(Value::Complex(n.complex.0, n.complex.1));
        }
        if n.is_float && !is_hex_int(&n.text) && !n.text.starts_with('\'') && n.text.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(n.float64));
        }
        if n.is_int {
            return Ok(Value::Int(n.int64));
        }
        if n.is_uint {
            return Err(self.errorf(format_args!("{} overflows int", n.text)));
        }
        Ok(Value::Invalid)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Value<'a>,
        chain: &'a Arg,
        rest: &'a [Arg],
        final_: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        self.at(At::Arg(chain));
        let Arg::Chain { node, fields, .. } = chain else { return Ok(Value::Invalid) };
        if let Arg::Nil { .. } = **node {
            return Err(self.errorf(format_args!("indirection through explicit nil in {chain}")));
        }
        let pipe = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, pipe, At::Arg(chain), fields, rest, final_)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Value<'a>,
        v: &'a Var,
        rest: &'a [Arg],
        final_: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        self.at(At::Var(v));
        let value = self.var_value(&v.ident[0])?;
        if v.ident.len() == 1 {
            self.not_a_function(v, !rest.is_empty(), &final_)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, At::Var(v), &v.ident[1..], rest, final_)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value<'a>,
        mut receiver: Value<'a>,
        node: At<'a>,
        ident: &'a [String],
        rest: &'a [Arg],
        final_: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        let n = ident.len();
        let mut iface = false;
        for name in &ident[..n - 1] {
            let from_iface = is_iface_field(&receiver, name);
            receiver = self.eval_field(dot, name, node, &[], None, receiver, iface)?;
            iface = from_iface;
        }
        self.eval_field(dot, &ident[n - 1], node, rest, final_, receiver, iface)
    }

    fn eval_function(
        &mut self,
        dot: &Value<'a>,
        ident: &'a Arg,
        node: At<'a>,
        rest: &'a [Arg],
        final_: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        self.at(At::Arg(ident));
        let Arg::Identifier { func, name, .. } = ident else { return Ok(Value::Invalid) };
        self.eval_call(dot, Callee::Func(*func), node, name, rest, final_)
    }

    /// Go's `evalField`, with whether the receiver came out of an `interface{}` field.
    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value<'a>,
        name: &'a str,
        node: At<'a>,
        rest: &'a [Arg],
        final_: Option<Value<'a>>,
        receiver: Value<'a>,
        iface: bool,
    ) -> R<Value<'a>> {
        // A value read from an `interface{}` field keeps that static type in messages.
        let typ = if iface && !matches!(receiver, Value::Invalid) { "interface {}" } else { receiver.type_name() };
        match &receiver {
            Value::Invalid => return Ok(Value::Invalid),
            Value::NilIface => return Err(self.errorf(format_args!("nil pointer evaluating {typ}.{name}"))),
            _ => {}
        }
        if let Some(m) = method_by_name(&receiver, name) {
            return self.eval_call(dot, Callee::Method(m, receiver), node, name, rest, final_);
        }
        let has_args = !rest.is_empty() || final_.is_some();
        let field_args = |s: &Self| s.errorf(format_args!("{name} has arguments but cannot be invoked as function"));
        match &receiver {
            Value::Data(d) => {
                let v = match name {
                    "Labels" => Value::Labels(Labels::B(d.labels)),
                    "ExternalLabels" => Value::Labels(Labels::B(d.external_labels)),
                    "ExternalURL" => Value::str(d.external_url),
                    "Value" => Value::Float(d.value),
                    _ => return Err(self.errorf(format_args!("can't evaluate field {name} in type {typ}"))),
                };
                if has_args {
                    return Err(field_args(self));
                }
                Ok(v)
            }
            Value::Sample(s) => {
                let v = match (name, s) {
                    ("Labels" | "Value", None) => {
                        return Err(self.errorf(format_args!("nil pointer evaluating {typ}.{name}")));
                    }
                    ("Labels", Some(s)) => Value::Labels(Labels::R(s.labels.clone())),
                    ("Value", Some(s)) => Value::Float(s.value),
                    _ => return Err(self.errorf(format_args!("can't evaluate field {name} in type {typ}"))),
                };
                if has_args {
                    return Err(field_args(self));
                }
                Ok(v)
            }
            Value::Labels(m) => {
                if has_args {
                    return Err(self.errorf(format_args!("{name} is not a method but has arguments")));
                }
                Ok(match m {
                    Labels::B(m) => m.get(name).map_or(Value::str(""), |v| Value::str(v)),
                    Labels::R(m) => m.get(name).map_or(Value::str(""), |v| Value::Str(Str::R(Rc::from(v.as_str())))),
                })
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.errorf(format_args!("{name} is not a method but has arguments")));
                }
                Ok(m.get(name).cloned().unwrap_or(Value::NilIface))
            }
            _ => Err(self.errorf(format_args!("can't evaluate field {name} in type {typ}"))),
        }
    }

    fn eval_call(
        &mut self,
        dot: &Value<'a>,
        callee: Callee<'a>,
        node: At<'a>,
        name: &'a str,
        args: &'a [Arg],
        final_: Option<Value<'a>>,
    ) -> R<Value<'a>> {
        let (params, variadic) = signature(&callee);
        let num_in = args.len() + usize::from(final_.is_some());
        let num_fixed = if variadic.is_some() { params.len() } else { args.len() };
        if variadic.is_some() {
            if num_in < num_fixed {
                return Err(self.errorf(format_args!(
                    "wrong number of args for {name}: want at least {} got {}",
                    params.len(),
                    args.len()
                )));
            }
        } else if num_in != params.len() {
            return Err(
                self.errorf(format_args!("wrong number of args for {name}: want {} got {num_in}", params.len()))
            );
        }

        // and/or short-circuit.
        if let Callee::Func(f @ (Func::And | Func::Or)) = callee {
            let want = f == Func::Or;
            let mut v = Value::Invalid;
            for arg in args {
                v = self.eval_arg(dot, Some(Ty::RValue), arg)?;
                if v.clone().indirect_interface().truth() == want {
                    return Ok(v);
                }
            }
            if let Some(f) = final_ {
                v = f;
            }
            return Ok(v);
        }

        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, Some(params[i]), &args[i])?);
            i += 1;
        }
        if let Some(vt) = variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, Some(vt), &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = final_ {
            let t = match variadic {
                Some(vt) => {
                    if num_in - 1 < num_fixed {
                        params[num_in - 1]
                    } else {
                        vt
                    }
                }
                None => params[params.len() - 1],
            };
            argv.push(self.validate_type(f, Some(t))?);
        }

        if let Callee::Func(Func::Call) = callee {
            let callee_name = match args.first() {
                Some(a) => a.to_string(),
                None => argv.first().map(|v| format!("<{} Value>", v.type_name())).unwrap_or_default(),
            };
            let err = match argv.first().map(|v| v.clone().indirect_interface()) {
                None | Some(Value::Invalid) => "call of nil".to_string(),
                Some(v) => format!("non-function {callee_name} of type {}", v.type_name()),
            };
            self.at(node);
            return Err(self.errorf(format_args!("error calling {name}: {err}")));
        }

        let result = match callee {
            Callee::Func(f) => call_func(self, f, argv),
            Callee::Method(m, recv) => call_method(m, &recv, argv),
        };
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at(node);
                Err(self.errorf(format_args!("error calling {name}: {e}")))
            }
        }
    }

    /// Go's `validateType`; `None` is the untyped argument of a chain.
    fn validate_type(&self, value: Value<'a>, ty: Option<Ty>) -> R<Value<'a>> {
        let Some(ty) = ty else { return Ok(value) };
        if let Value::Invalid = value {
            return match ty {
                Ty::Any => Ok(Value::NilIface),
                Ty::RValue => Ok(Value::Invalid),
                Ty::QueryResult => Ok(Value::samples(vec![])),
                Ty::SamplePtr => Ok(Value::Sample(None)),
                _ => Err(self.errorf(format_args!("invalid value; expected {ty}"))),
            };
        }
        let ok = match (ty, &value) {
            (Ty::Any | Ty::RValue, _) => true,
            (Ty::Str, Value::Str(_)) => true,
            (Ty::Int, Value::Int(_)) => true,
            (Ty::QueryResult, Value::Samples(_)) => true,
            (Ty::SamplePtr, Value::Sample(_)) => true,
            (Ty::Duration, Value::Duration { ptr: false, .. }) => true,
            (Ty::Time, Value::Time { ptr: false, .. }) => true,
            (Ty::Duration, Value::Duration { d, ptr: true }) => return Ok(Value::Duration { d: *d, ptr: false }),
            (Ty::Time, Value::Time { t, ptr: true }) => return Ok(Value::Time { t: *t, ptr: false }),
            _ => false,
        };
        if !ok {
            return Err(self.errorf(format_args!("wrong type for value; expected {ty}; got {}", value.type_name())));
        }
        Ok(value)
    }

    fn eval_arg(&mut self, dot: &Value<'a>, ty: Option<Ty>, n: &'a Arg) -> R<Value<'a>> {
        self.at(At::Arg(n));
        match n {
            Arg::Dot { .. } => return self.validate_type(dot.clone(), ty),
            Arg::Nil { .. } => {
                return match ty {
                    Some(Ty::Any) => Ok(Value::NilIface),
                    Some(Ty::RValue) | None => Ok(Value::Invalid),
                    Some(Ty::QueryResult) => Ok(Value::samples(vec![])),
                    Some(Ty::SamplePtr) => Ok(Value::Sample(None)),
                    Some(t) => Err(self.errorf(format_args!("cannot assign nil to {t}"))),
                };
            }
            Arg::Field { ident, .. } => {
                let v = self.eval_field_chain(dot, dot.clone(), At::Arg(n), ident, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Variable(v) => {
                let v = self.eval_variable_node(dot, v, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Pipe(p) => {
                self.enter()?;
                let v = self.eval_pipeline(dot, p);
                self.nesting -= 1;
                return self.validate_type(v?, ty);
            }
            Arg::Identifier { .. } => {
                let v = self.eval_function(dot, n, At::Arg(n), &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Chain { .. } => {
                let v = self.eval_chain_node(dot, n, &[], None)?;
                return self.validate_type(v, ty);
            }
            _ => {}
        }
        let Some(ty) = ty else {
            return Err(self.errorf(format_args!("can't handle {n} for arg of type <nil>")));
        };
        match ty {
            Ty::Str => match n {
                Arg::String { text, .. } => Ok(Value::str(text)),
                _ => Err(self.errorf(format_args!("expected string; found {n}"))),
            },
            Ty::Int | Ty::Duration => match n {
                Arg::Number(num) if num.is_int => {
                    Ok(if ty == Ty::Int { Value::Int(num.int64) } else { Value::Duration { d: num.int64, ptr: false } })
                }
                _ => Err(self.errorf(format_args!("expected integer; found {n}"))),
            },
            Ty::Any | Ty::RValue => self.eval_empty_interface(n),
            _ => Err(self.errorf(format_args!("can't handle {n} for arg of type {ty}"))),
        }
    }

    fn eval_empty_interface(&mut self, n: &'a Arg) -> R<Value<'a>> {
        self.at(At::Arg(n));
        match n {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Number(num) => self.ideal_constant(num),
            Arg::String { text, .. } => Ok(Value::str(text)),
            _ => Err(self.errorf(format_args!("can't handle assignment of {n} to empty interface argument"))),
        }
    }
}

/// Whether field `name` of `v` has the static type `interface{}`.
fn is_iface_field(v: &Value<'_>, name: &str) -> bool {
    match v {
        Value::Data(_) | Value::Sample(Some(_)) => name == "Value",
        Value::Map(_) => true,
        _ => false,
    }
}

/// Go's `indirect` for range: follow non-nil pointers.
fn indirect(v: Value<'_>) -> Value<'_> {
    match v {
        Value::Time { t, ptr: true } => Value::Time { t, ptr: false },
        Value::Duration { d, ptr: true } => Value::Duration { d, ptr: false },
        v => v,
    }
}
