//! The parse trees of Go's `text/template` and the parser that builds them, a mirror of
//! `text/template/parse/parse.go`: the same grammar, the same three-token lookahead (error
//! lines come from the last token read), the same checks (undefined variables and functions,
//! `break` outside `range`, non-executable pipeline stages) and the same messages. Nodes print
//! themselves as Go's `Node.String` does, which execution errors quote (`at <.Labels.x>`).

use std::collections::HashMap;
use std::fmt::{self, Display, Formatter};

mod node;

pub(super) use node::{Action, Arg, Branch, Command, List, Node, Number, Pipe, TemplateCall, Var};

use super::funcs::lookup;
use super::lexer::{Item, ItemType, Lexer};
use super::strconv::{parse_float, parse_int0, parse_uint0, quote, unquote, unquote_char_constant};

/// Go allows 10000 nested parentheses; a recursive-descent parser on a small thread stack
/// cannot, so both parentheses and control structures nest at most this deep.
const MAX_NESTING: usize = 100;
/// Go's `maxPipelineCmds`.
const MAX_PIPELINE_CMDS: usize = 100_000;

/// A parsed template set: the top-level template and the ones it defines.
#[derive(Clone, Debug)]
pub(super) struct Trees {
    pub(super) trees: HashMap<String, List>,
}

/// What `itemList` stops at.
enum Parsed {
    Node(Node),
    End,
    Else,
}

impl Display for Parsed {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Parsed::Node(n) => n.fmt(f),
            Parsed::End => f.write_str("{{end}}"),
            Parsed::Else => f.write_str("{{else}}"),
        }
    }
}

/// Per-tree parser state (Go keeps one per `Tree`; `define` and `block` start a new one).
struct TreeState<'a> {
    token: [Item<'a>; 3],
    peek_count: usize,
    vars: Vec<String>,
    action_line: usize,
    range_depth: usize,
    stack_depth: usize,
    nesting: usize,
}

impl<'a> TreeState<'a> {
    fn new() -> TreeState<'a> {
        let eof = Item { typ: ItemType::Eof, pos: 0, val: "".into(), line: 1 };
        TreeState {
            token: [eof.clone(), eof.clone(), eof],
            peek_count: 0,
            vars: vec!["$".into()],
            action_line: 0,
            range_depth: 0,
            stack_depth: 0,
            nesting: 0,
        }
    }
}

type PResult<T> = Result<T, String>;

struct Parser<'a> {
    lex: Lexer<'a>,
    parse_name: &'a str,
    ts: TreeState<'a>,
    trees: HashMap<String, List>,
}

/// Parses `text` as the template `name` with the functions of [`lookup`]; the error is Go's
/// (`template: name:1: unexpected "}" in operand`).
pub(super) fn parse(name: &str, text: &str) -> Result<Trees, String> {
    let mut p = Parser { lex: Lexer::new(text), parse_name: name, ts: TreeState::new(), trees: HashMap::new() };
    let root = p.parse_top()?;
    p.add(name, root)?;
    Ok(Trees { trees: p.trees })
}

fn is_empty_tree(l: &List) -> bool {
    l.nodes.iter().all(|n| match n {
        Node::Text { text, .. } => text.trim().is_empty(),
        _ => false,
    })
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Item<'a> {
        if self.ts.peek_count > 0 {
            self.ts.peek_count -= 1;
        } else {
            self.ts.token[0] = self.lex.next_item();
        }
        self.ts.token[self.ts.peek_count].clone()
    }

    fn backup(&mut self) {
        self.ts.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item<'a>) {
        self.ts.token[1] = t1;
        self.ts.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item<'a>, t1: Item<'a>) {
        self.ts.token[1] = t1;
        self.ts.token[2] = t2;
        self.ts.peek_count = 3;
    }

    fn peek(&mut self) -> Item<'a> {
        if self.ts.peek_count > 0 {
            return self.ts.token[self.ts.peek_count - 1].clone();
        }
        self.ts.peek_count = 1;
        self.ts.token[0] = self.lex.next_item();
        self.ts.token[0].clone()
    }

    fn next_non_space(&mut self) -> Item<'a> {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item<'a> {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn errorf<T>(&self, msg: impl Display) -> PResult<T> {
        Err(format!("template: {}:{}: {}", self.parse_name, self.ts.token[0].line, msg))
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> PResult<Item<'a>> {
        let t = self.next_non_space();
        if t.typ != expected {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn unexpected<T>(&self, token: &Item<'_>, context: &str) -> PResult<T> {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.ts.action_line != 0 && self.ts.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.parse_name, self.ts.action_line);
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format_args!("{token}{extra}"));
        }
        self.errorf(format_args!("unexpected {token} in {context}"))
    }

    fn add(&mut self, name: &str, root: List) -> PResult<()> {
        match self.trees.get(name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&root) {
                    return self.errorf(format_args!("template: multiple definition of template {}", quote(name)));
                }
            }
            _ => {
                self.trees.insert(name.to_string(), root);
            }
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = List { nodes: vec![] };
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if self.next_non_space().typ == ItemType::Define {
                    let saved = std::mem::replace(&mut self.ts, TreeState::new());
                    let r = self.parse_definition();
                    self.ts = saved;
                    r?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.nodes.push(n),
                end => return self.errorf(format_args!("unexpected {end}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        if t.typ != ItemType::String && t.typ != ItemType::RawString {
            return self.unexpected(&t, CONTEXT);
        }
        let name = match unquote(&t.val) {
            Ok(n) => n,
            Err(e) => return self.errorf(e),
        };
        self.expect(ItemType::RightDelim, CONTEXT)?;
        let (root, end) = self.item_list()?;
        if !matches!(end, Parsed::End) {
            return self.errorf(format_args!("unexpected {end} in {CONTEXT}"));
        }
        self.add(&name, root)
    }

    fn item_list(&mut self) -> PResult<(List, Parsed)> {
        let mut list = List { nodes: vec![] };
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.nodes.push(n),
                end => return Ok((list, end)),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let t = self.next_non_space();
        match t.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text { pos: t.pos, text: t.val.into_owned() })),
            ItemType::LeftDelim => {
                self.ts.action_line = t.line;
                let r = self.action();
                self.ts.action_line = 0;
                r
            }
            _ => self.unexpected(&t, "input"),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let t = self.next_non_space();
        match t.typ {
            ItemType::Block => return self.block_control().map(Parsed::Node),
            ItemType::Break | ItemType::Continue => {
                let what = if t.typ == ItemType::Break { "{{break}}" } else { "{{continue}}" };
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, what);
                }
                if self.ts.range_depth == 0 {
                    return self.errorf(format_args!("{what} outside {{{{range}}}}"));
                }
                let n =
                    if t.typ == ItemType::Break { Node::Break { pos: t.pos } } else { Node::Continue { pos: t.pos } };
                return Ok(Parsed::Node(n));
            }
            ItemType::Else => return self.else_control(),
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            ItemType::If => return self.control("if").map(|b| Parsed::Node(Node::If(b))),
            ItemType::Range => return self.control("range").map(|b| Parsed::Node(Node::Range(b))),
            ItemType::With => return self.control("with").map(|b| Parsed::Node(Node::With(b))),
            ItemType::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let t = self.peek();
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Parsed::Node(Node::Action(Action { pos: t.pos, pipe })))
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let t = self.peek_non_space();
        let mut pipe = Pipe { pos: t.pos, is_assign: false, decl: vec![], cmds: vec![] };
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            self.next();
            let token_after = self.peek();
            let next = self.peek_non_space();
            if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                pipe.is_assign = next.typ == ItemType::Assign;
                self.next_non_space();
                pipe.decl.push(Var { pos: v.pos, ident: split_ident(&v.val) });
                self.ts.vars.push(v.val.to_string());
                break;
            }
            if next.typ == ItemType::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push(Var { pos: v.pos, ident: split_ident(&v.val) });
                self.ts.vars.push(v.val.to_string());
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => continue,
                        _ => return self.errorf("range can only initialize variables"),
                    }
                }
                return self.errorf(format_args!("too many declarations in {context}"));
            }
            if token_after.typ == ItemType::Space {
                self.backup3(v, token_after);
            } else {
                self.backup2(v);
            }
            break;
        }
        loop {
            let t = self.next_non_space();
            match t.typ {
                typ if typ == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                    if pipe.cmds.len() > MAX_PIPELINE_CMDS {
                        return self.errorf("pipeline too long");
                    }
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format_args!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool { .. } | Arg::Dot { .. } | Arg::Nil { .. } | Arg::Number(_) | Arg::String { .. }
            ) {
                return self.errorf(format_args!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        if self.ts.nesting >= MAX_NESTING {
            return self.errorf("max expression depth exceeded");
        }
        self.ts.nesting += 1;
        let vars = self.ts.vars.len();
        let r = self.control_inner(context);
        self.ts.vars.truncate(vars);
        self.ts.nesting -= 1;
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.ts.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.ts.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let Parsed::Else = next {
            if context == "if" && self.peek().typ == ItemType::If {
                self.next();
                let b = self.control("if")?;
                else_list = Some(List { nodes: vec![Node::If(b)] });
            } else if context == "with" && self.peek().typ == ItemType::With {
                self.next();
                let b = self.control("with")?;
                else_list = Some(List { nodes: vec![Node::With(b)] });
            } else {
                let (l, next) = self.item_list()?;
                if !matches!(next, Parsed::End) {
                    return self.errorf(format_args!("expected end; found {next}"));
                }
                else_list = Some(l);
            }
        }
        Ok(Branch { pos: pipe.pos, pipe, list, else_list })
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if peek.typ == ItemType::If || peek.typ == ItemType::With {
            return Ok(Parsed::Else);
        }
        self.expect(ItemType::RightDelim, "else")?;
        Ok(Parsed::Else)
    }

    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let t = self.next_non_space();
        let name = self.parse_template_name(&t, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, ItemType::RightDelim)?;
        // The block's body is a tree of its own, with its own lookahead and variables.
        let saved = std::mem::replace(&mut self.ts, TreeState::new());
        let r = self.item_list();
        let child = std::mem::replace(&mut self.ts, saved);
        let (root, end) = r?;
        if !matches!(end, Parsed::End) {
            return self.errorf(format_args!("unexpected {end} in {CONTEXT}"));
        }
        let parent = std::mem::replace(&mut self.ts, child);
        let added = self.add(&name, root);
        self.ts = parent;
        added?;
        Ok(Node::Template(TemplateCall { pos: t.pos, name, pipe: Some(pipe) }))
    }

    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let t = self.next_non_space();
        let name = self.parse_template_name(&t, CONTEXT)?;
        let pipe = if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, ItemType::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template(TemplateCall { pos: t.pos, name, pipe }))
    }

    fn parse_template_name(&self, t: &Item<'_>, context: &str) -> PResult<String> {
        match t.typ {
            ItemType::String | ItemType::RawString => match unquote(&t.val) {
                Ok(s) => Ok(s),
                Err(e) => self.errorf(e),
            },
            _ => self.unexpected(t, context),
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let mut cmd = Command { pos: self.peek_non_space().pos, args: vec![] };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else { return Ok(None) };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = vec![];
        while self.peek().typ == ItemType::Field {
            let t = self.next();
            fields.push(t.val[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut ident, .. } => {
                ident.extend(fields);
                Arg::Field { pos, ident }
            }
            Arg::Variable(Var { mut ident, .. }) => {
                ident.extend(fields);
                Arg::Variable(Var { pos, ident })
            }
            n @ (Arg::Bool { .. } | Arg::String { .. } | Arg::Number(_) | Arg::Nil { .. } | Arg::Dot { .. }) => {
                return self.errorf(format_args!("unexpected . after term {}", quote(&n.to_string())));
            }
            n => Arg::Chain { pos, node: Box::new(n), fields },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let arg = match t.typ {
            ItemType::Identifier => {
                let Some(func) = lookup(&t.val) else {
                    return self.errorf(format_args!("function {} not defined", quote(&t.val)));
                };
                Arg::Identifier { pos: t.pos, name: t.val.into_owned(), func }
            }
            ItemType::Dot => Arg::Dot { pos: t.pos },
            ItemType::Nil => Arg::Nil { pos: t.pos },
            ItemType::Variable => {
                let ident = split_ident(&t.val);
                if !self.ts.vars.iter().any(|v| *v == ident[0]) {
                    return self.errorf(format_args!("undefined variable {}", quote(&ident[0])));
                }
                Arg::Variable(Var { pos: t.pos, ident })
            }
            ItemType::Field => Arg::Field { pos: t.pos, ident: split_ident(&t.val[1..]) },
            ItemType::Bool => Arg::Bool { pos: t.pos, val: t.val == "true" },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => match new_number(t.pos, &t.val, t.typ) {
                Ok(n) => Arg::Number(Box::new(n)),
                Err(e) => return self.errorf(e),
            },
            ItemType::LeftParen => {
                if self.ts.stack_depth >= MAX_NESTING {
                    return self.errorf("max expression depth exceeded");
                }
                self.ts.stack_depth += 1;
                let p = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.ts.stack_depth -= 1;
                Arg::Pipe(Box::new(p?))
            }
            ItemType::String | ItemType::RawString => match unquote(&t.val) {
                Ok(s) => Arg::String { pos: t.pos, quoted: t.val.into_owned(), text: s },
                Err(e) => return self.errorf(e),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }
}

fn split_ident(s: &str) -> Vec<String> {
    s.split('.').map(str::to_string).collect()
}

/// 2^63: the floats that convert to int64 exactly are in [-2^63, 2^63).
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// Go's `newNumber`: which of int, uint, float and complex the literal can be.
fn new_number(pos: usize, text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        pos,
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int64: 0,
        float64: 0.0,
        complex: (0.0, 0.0),
        text: text.to_string(),
    };
    match typ {
        ItemType::CharConstant => {
            let r = unquote_char_constant(text)?;
            n.int64 = i64::from(r);
            n.is_int = true;
            n.is_uint = true;
            n.float64 = f64::from(r);
            n.is_float = true;
            return Ok(n);
        }
        ItemType::Complex => {
            let (re, im) = parse_complex(text).ok_or_else(|| format!("expected integer: {}", quote(text)))?;
            n.is_complex = true;
            n.complex = (re, im);
            simplify_complex(&mut n);
            return Ok(n);
        }
        _ => {}
    }
    if let Some(body) = text.strip_suffix('i')
        && let Ok(f) = parse_float(body)
    {
        n.is_complex = true;
        n.complex = (0.0, f);
        simplify_complex(&mut n);
        return Ok(n);
    }
    let u = parse_uint0(text);
    if u.is_some() {
        n.is_uint = true;
    }
    if let Some(i) = parse_int0(text) {
        n.is_int = true;
        n.int64 = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float64 = n.int64 as f64;
    } else if let Some(u) = u {
        n.is_float = true;
        n.float64 = u as f64;
    } else if let Ok(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", quote(text)));
        }
        n.is_float = true;
        n.float64 = f;
        if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) {
            n.is_int = true;
            n.int64 = f as i64;
        }
        if f.fract() == 0.0 && (0.0..2.0 * TWO_63).contains(&f) {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {}", quote(text)));
    }
    Ok(n)
}

fn simplify_complex(n: &mut Number) {
    n.is_float = n.complex.1 == 0.0;
    if n.is_float {
        let f = n.complex.0;
        n.float64 = f;
        n.is_int = f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f);
        if n.is_int {
            n.int64 = f as i64;
        }
        n.is_uint = f.fract() == 0.0 && (0.0..2.0 * TWO_63).contains(&f);
    }
}

/// `fmt.Sscan` of a complex literal `a±bi` as the lexer delimits it.
fn parse_complex(text: &str) -> Option<(f64, f64)> {
    let b = text.as_bytes();
    let split = (1..b.len())
        .rev()
        .find(|&i| (b[i] == b'+' || b[i] == b'-') && !matches!(b[i - 1].to_ascii_lowercase(), b'e' | b'p'))?;
    let re = parse_float(&text[..split]).ok()?;
    let im = parse_float(text[split..].strip_suffix('i')?).ok()?;
    Some((re, im))
}
