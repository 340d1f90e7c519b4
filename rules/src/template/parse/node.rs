//! Parse-tree nodes (Go's `text/template/parse/node.go`), which print themselves as Go's
//! `Node.String` does: execution errors quote them (`at <.Labels.x>`).

use std::fmt::{self, Display, Formatter};

use super::super::funcs::Func;
use super::super::strconv::quote;

#[derive(Clone, Debug)]
pub(in crate::template) struct List {
    pub(in crate::template) nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
pub(in crate::template) enum Node {
    Text { pos: usize, text: String },
    Action(Action),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template(TemplateCall),
    Break { pos: usize },
    Continue { pos: usize },
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Action {
    pub(in crate::template) pos: usize,
    pub(in crate::template) pipe: Pipe,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Branch {
    pub(in crate::template) pos: usize,
    pub(in crate::template) pipe: Pipe,
    pub(in crate::template) list: List,
    pub(in crate::template) else_list: Option<List>,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct TemplateCall {
    pub(in crate::template) pos: usize,
    pub(in crate::template) name: String,
    pub(in crate::template) pipe: Option<Pipe>,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Pipe {
    pub(in crate::template) pos: usize,
    pub(in crate::template) is_assign: bool,
    pub(in crate::template) decl: Vec<Var>,
    pub(in crate::template) cmds: Vec<Command>,
}

/// `$x` or `$x.a.b`: `ident[0]` is the variable's name, including the `$`.
#[derive(Clone, Debug)]
pub(in crate::template) struct Var {
    pub(in crate::template) pos: usize,
    pub(in crate::template) ident: Vec<String>,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Command {
    pub(in crate::template) pos: usize,
    pub(in crate::template) args: Vec<Arg>,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Number {
    pub(in crate::template) pos: usize,
    pub(in crate::template) is_int: bool,
    pub(in crate::template) is_uint: bool,
    pub(in crate::template) is_float: bool,
    pub(in crate::template) is_complex: bool,
    pub(in crate::template) int64: i64,
    pub(in crate::template) float64: f64,
    pub(in crate::template) complex: (f64, f64),
    pub(in crate::template) text: String,
}

/// An operand: a term of a command.
#[derive(Clone, Debug)]
pub(in crate::template) enum Arg {
    Identifier { pos: usize, name: String, func: Func },
    Dot { pos: usize },
    Nil { pos: usize },
    Bool { pos: usize, val: bool },
    Number(Box<Number>),
    String { pos: usize, quoted: String, text: String },
    Field { pos: usize, ident: Vec<String> },
    Variable(Var),
    Chain { pos: usize, node: Box<Arg>, fields: Vec<String> },
    Pipe(Box<Pipe>),
}

impl Arg {
    pub(in crate::template) fn pos(&self) -> usize {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::String { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Number(n) => n.pos,
            Arg::Variable(v) => v.pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl Node {
    pub(in crate::template) fn pos(&self) -> usize {
        match self {
            Node::Text { pos, .. } | Node::Break { pos } | Node::Continue { pos } => *pos,
            Node::Action(a) => a.pos,
            Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
            Node::Template(t) => t.pos,
        }
    }
}

// Go's Node.String forms.

impl Display for List {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.nodes.iter().try_for_each(|n| n.fmt(f))
    }
}

impl Display for Node {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let branch = |f: &mut Formatter<'_>, name: &str, b: &Branch| {
            write!(f, "{{{{{name} {}}}}}{}", b.pipe, b.list)?;
            if let Some(e) = &b.else_list {
                write!(f, "{{{{else}}}}{e}")?;
            }
            f.write_str("{{end}}")
        };
        match self {
            Node::Text { text, .. } => f.write_str(text),
            Node::Action(a) => write!(f, "{{{{{}}}}}", a.pipe),
            Node::If(b) => branch(f, "if", b),
            Node::Range(b) => branch(f, "range", b),
            Node::With(b) => branch(f, "with", b),
            Node::Template(t) => t.fmt(f),
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
        }
    }
}

impl Display for TemplateCall {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{template {}", quote(&self.name))?;
        if let Some(p) = &self.pipe {
            write!(f, " {p}")?;
        }
        f.write_str("}}")
    }
}

impl Display for Pipe {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                v.fmt(f)?;
            }
            f.write_str(" := ")?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            c.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for Var {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ident.join("."))
    }
}

impl Display for Command {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match a {
                Arg::Pipe(p) => write!(f, "({p})")?,
                a => a.fmt(f)?,
            }
        }
        Ok(())
    }
}

impl Display for Arg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { val, .. } => f.write_str(if *val { "true" } else { "false" }),
            Arg::Number(n) => f.write_str(&n.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Field { ident, .. } => ident.iter().try_for_each(|i| write!(f, ".{i}")),
            Arg::Variable(v) => v.fmt(f),
            Arg::Chain { node, fields, .. } => {
                match &**node {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    n => n.fmt(f)?,
                }
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
            Arg::Pipe(p) => p.fmt(f),
        }
    }
}
