//! Parse error messages with positions, worded as Prometheus words them.
//!
//! `promql-parser` reports most syntax errors as a bare "invalid promql query" and never says
//! where. When it rejects a query, [`describe`] re-reads the query with a small lexer and a
//! recursive-descent recogniser of PromQL's grammar of our own, which stop at the first
//! offending token exactly where Prometheus's lexer and yacc parser stop, and word the error
//! as Prometheus does (`unexpected identifier "foo" in label matching, expected "," or "}"`,
//! `unclosed left parenthesis`, `unexpected end of input`, ...), with the byte position of the
//! token (Prometheus's `line:col`, col counting bytes from 1).
//!
//! When the recogniser finds nothing wrong the error is semantic (unknown function, argument
//! types, ...): the parser's message is kept, reworded to Prometheus's spelling where it
//! differs, and positioned on the construct it names where that can be found.

mod lex;

use lex::{AGGREGATORS, BINARY_OPERATORS, KEYWORDS, Kind, Tok, WORD_OPERATORS, lex};

/// Prometheus's message and `(line, col)` for a query that `promql-parser` rejected with
/// `parser_msg`.
pub(crate) fn describe(query: &str, parser_msg: &str) -> (String, Option<(usize, usize)>) {
    if lex(query).first().is_some_and(|t| t.kind == Kind::Eof) {
        return ("no expression found in input".into(), Some((1, 1)));
    }
    let toks = lex(query);
    let mut p = Recogniser { toks: &toks, i: 0 };
    if let Err((msg, pos)) = p.top() {
        return (msg, Some(line_col(query, pos)));
    }
    semantic(query, parser_msg)
}

/// 1-based line and byte column of byte offset `pos`.
fn line_col(query: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(query.len());
    let before = &query.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = pos - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

type Failure = (String, usize);

/// A recogniser of PromQL's grammar that reports the first offending token.
struct Recogniser<'t> {
    toks: &'t [Tok],
    i: usize,
}

impl Recogniser<'_> {
    fn peek(&self) -> &Tok {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.i.min(last)]
    }

    fn peek2(&self) -> Option<&Tok> {
        self.toks.get(self.i + 1)
    }

    fn bump(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    /// "unexpected X[ in ctx][, expected exp]" at the current token; a lexer error reports
    /// itself.
    fn unexpected(&self, ctx: &str, exp: &str) -> Failure {
        let t = self.peek();
        if let Kind::Error(m) = &t.kind {
            return (m.clone(), t.pos);
        }
        let mut msg = format!("unexpected {}", t.desc());
        if !ctx.is_empty() {
            msg.push_str(" in ");
            msg.push_str(ctx);
        }
        if !exp.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(exp);
        }
        (msg, t.pos)
    }

    fn top(&mut self) -> Result<(), Failure> {
        if self.peek().kind == Kind::Eof {
            return Ok(());
        }
        self.expr()?;
        if self.peek().kind == Kind::Eof { Ok(()) } else { Err(self.unexpected("", "")) }
    }

    fn is_binop(t: &Tok) -> bool {
        (t.kind == Kind::Punct && BINARY_OPERATORS.contains(&t.text.as_str()))
            || (t.kind == Kind::Ident && WORD_OPERATORS.contains(&t.lower().as_str()))
    }

    fn expr(&mut self) -> Result<(), Failure> {
        self.unary()?;
        while Self::is_binop(self.peek()) {
            self.bump();
            self.bin_modifiers()?;
            self.unary()?;
        }
        Ok(())
    }

    fn bin_modifiers(&mut self) -> Result<(), Failure> {
        if self.peek().is_word("bool") {
            self.bump();
        }
        if self.peek().is_word("on") || self.peek().is_word("ignoring") {
            self.bump();
            self.grouping_labels("grouping opts")?;
            if self.peek().is_word("group_left") || self.peek().is_word("group_right") {
                self.bump();
                if self.peek().is("(") {
                    self.grouping_labels("grouping opts")?;
                }
            }
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<(), Failure> {
        while self.peek().is("+") || self.peek().is("-") {
            self.bump();
        }
        self.primary()?;
        loop {
            let t = self.peek();
            if t.is("[") {
                self.range()?;
            } else if t.is_word("offset") {
                self.bump();
                if self.peek().is("-") || self.peek().is("+") {
                    self.bump();
                }
                if !matches!(self.peek().kind, Kind::Duration | Kind::Number) {
                    return Err(self.unexpected("offset", "duration"));
                }
                self.bump();
            } else if t.is("@") {
                self.bump();
                if self.peek().is("-") || self.peek().is("+") {
                    self.bump();
                }
                let t = self.peek();
                if t.kind == Kind::Number {
                    self.bump();
                } else if (t.is_word("start") || t.is_word("end")) && self.peek2().is_some_and(|n| n.is("(")) {
                    self.bump();
                    self.bump();
                    if !self.peek().is(")") {
                        return Err(self.unexpected("@", "\")\""));
                    }
                    self.bump();
                } else {
                    return Err(self.unexpected("@", "timestamp"));
                }
            } else {
                return Ok(());
            }
        }
    }

    fn range(&mut self) -> Result<(), Failure> {
        self.bump();
        if self.peek().is("]") {
            return Err(("missing unit character in duration".into(), self.peek().pos));
        }
        if !matches!(self.peek().kind, Kind::Duration | Kind::Number) {
            return Err(self.unexpected("subquery or range", "duration"));
        }
        self.bump();
        if self.peek().is(":") {
            self.bump();
            if matches!(self.peek().kind, Kind::Duration | Kind::Number) {
                self.bump();
            }
            if !self.peek().is("]") {
                return Err(self.unexpected("subquery or range", "\"]\""));
            }
        } else if !self.peek().is("]") {
            return Err(self.unexpected("subquery or range", "\":\" or \"]\""));
        }
        self.bump();
        Ok(())
    }

    fn primary(&mut self) -> Result<(), Failure> {
        let t = self.peek().clone();
        match &t.kind {
            Kind::Number | Kind::Str | Kind::Duration => {
                self.bump();
                Ok(())
            }
            Kind::Punct if t.text == "(" => {
                self.bump();
                self.expr()?;
                if !self.peek().is(")") {
                    return Err(self.unexpected("", ""));
                }
                self.bump();
                Ok(())
            }
            Kind::Punct if t.text == "{" => self.braces(),
            Kind::Ident => {
                let l = t.lower();
                let next_paren = self.peek2().is_some_and(|n| n.is("("));
                if AGGREGATORS.contains(&l.as_str()) {
                    self.bump();
                    let mut grouped = false;
                    if self.peek().is_word("by") || self.peek().is_word("without") {
                        self.bump();
                        self.grouping_labels("grouping opts")?;
                        grouped = true;
                    }
                    if !self.peek().is("(") {
                        return Err(self.unexpected("", ""));
                    }
                    self.args()?;
                    if !grouped && (self.peek().is_word("by") || self.peek().is_word("without")) {
                        self.bump();
                        self.grouping_labels("grouping opts")?;
                    }
                    Ok(())
                } else if next_paren {
                    self.bump();
                    self.args()
                } else if KEYWORDS.contains(&l.as_str()) || WORD_OPERATORS.contains(&l.as_str()) {
                    Err(self.unexpected("", ""))
                } else {
                    self.bump();
                    if self.peek().is("{") {
                        self.braces()?;
                    }
                    Ok(())
                }
            }
            _ => Err(self.unexpected("", "")),
        }
    }

    /// `( expr, ... )` of a function call or aggregation; the current token is `(`.
    fn args(&mut self) -> Result<(), Failure> {
        self.bump();
        if self.peek().is(")") {
            self.bump();
            return Ok(());
        }
        loop {
            self.expr()?;
            if self.peek().is(",") {
                let comma = self.peek().pos;
                self.bump();
                if self.peek().is(")") {
                    return Err(("trailing commas not allowed in function call args".into(), comma));
                }
            } else if self.peek().is(")") {
                self.bump();
                return Ok(());
            } else {
                return Err(self.unexpected("", ""));
            }
        }
    }

    fn grouping_labels(&mut self, ctx: &str) -> Result<(), Failure> {
        if !self.peek().is("(") {
            return Err(self.unexpected(ctx, "\"(\""));
        }
        self.bump();
        if self.peek().is(")") {
            self.bump();
            return Ok(());
        }
        loop {
            if !matches!(self.peek().kind, Kind::Ident | Kind::Str) {
                return Err(self.unexpected(ctx, "label"));
            }
            self.bump();
            if self.peek().is(",") {
                self.bump();
                if self.peek().is(")") {
                    self.bump();
                    return Ok(());
                }
            } else if self.peek().is(")") {
                self.bump();
                return Ok(());
            } else {
                return Err(self.unexpected(ctx, "\",\" or \")\""));
            }
        }
    }

    /// `{ matcher, ... }`; the current token is `{`.
    fn braces(&mut self) -> Result<(), Failure> {
        const CTX: &str = "label matching";
        self.bump();
        if self.peek().is("}") {
            self.bump();
            return Ok(());
        }
        loop {
            let name = self.peek().clone();
            if !matches!(name.kind, Kind::LabelName | Kind::Str) {
                return Err(self.unexpected(CTX, "identifier or \"}\""));
            }
            self.bump();
            let t = self.peek();
            if ["=", "!=", "=~", "!~"].iter().any(|op| t.is(op)) {
                self.bump();
                if self.peek().kind != Kind::Str {
                    return Err(self.unexpected(CTX, "string"));
                }
                self.bump();
            } else if !(name.kind == Kind::Str && (t.is(",") || t.is("}"))) {
                return Err(self.unexpected(CTX, "label matching operator"));
            }
            if self.peek().is(",") {
                self.bump();
                if self.peek().is("}") {
                    self.bump();
                    return Ok(());
                }
            } else if self.peek().is("}") {
                self.bump();
                return Ok(());
            } else {
                return Err(self.unexpected(CTX, "\",\" or \"}\""));
            }
        }
    }
}

/// Errors the recogniser does not see (the query is well-formed): Prometheus's wording and,
/// where the construct can be found, its position.
fn semantic(query: &str, msg: &str) -> (String, Option<(usize, usize)>) {
    // "unknown function with name 'foo'"
    if let Some(name) = msg.strip_prefix("unknown function with name '").and_then(|r| r.strip_suffix('\'')) {
        let pos = find_call(query, name);
        return (format!("unknown function with name \"{name}\""), pos.map(|p| line_col(query, p)));
    }
    // "expected type matrix in call to function 'rate', got vector"
    if let Some(rest) = msg.strip_prefix("expected type ")
        && let Some((want, rest)) = rest.split_once(" in call to function '")
        && let Some((func, got)) = rest.split_once("', got ")
    {
        let pos = find_call(query, func).map(|p| {
            let open = query[p..].find('(').map_or(p, |o| p + o + 1);
            open + query[open..].len() - query[open..].trim_start().len()
        });
        let msg = format!("expected type {} in call to function \"{func}\", got {}", type_name(want), type_name(got));
        return (msg, pos.map(|p| line_col(query, p)));
    }
    // "expected 1 argument(s) in call to 'abs', got 0"
    if let Some((head, rest)) = msg.split_once(" in call to '")
        && head.starts_with("expected ")
        && let Some((func, got)) = rest.split_once("', got ")
    {
        let pos = find_call(query, func);
        return (format!("{head} in call to \"{func}\", got {got}"), pos.map(|p| line_col(query, p)));
    }
    if msg.starts_with("wrong number of arguments for aggregate") || msg.starts_with("no arguments for aggregate") {
        let toks = lex(query);
        let pos =
            toks.iter().find(|t| t.kind == Kind::Ident && AGGREGATORS.contains(&t.lower().as_str())).map(|t| t.pos);
        return (msg.to_string(), pos.map(|p| line_col(query, p)));
    }
    if msg == "ranges only allowed for vector selectors" {
        let toks = lex(query);
        let pos = toks
            .iter()
            .enumerate()
            .find(|(i, t)| t.is("[") && *i > 0 && (toks[i - 1].is("]") || toks[i - 1].is(")")))
            .map(|(_, t)| t.pos);
        return (msg.to_string(), pos.map(|p| line_col(query, p)));
    }
    if msg == "vector selector must contain at least one non-empty matcher" {
        let pos = find_bare_brace(query);
        return (msg.to_string(), pos.map(|p| line_col(query, p)));
    }
    (msg.to_string(), None)
}

fn type_name(t: &str) -> &str {
    match t {
        "matrix" => "range vector",
        "vector" => "instant vector",
        other => other,
    }
}

/// Start of the first call `name(` (as a whole word) outside strings.
fn find_call(query: &str, name: &str) -> Option<usize> {
    let toks = lex(query);
    toks.windows(2).find(|w| w[0].kind == Kind::Ident && w[0].text == name && w[1].is("(")).map(|w| w[0].pos)
}

/// The first `{` not preceded by a metric name.
fn find_bare_brace(query: &str) -> Option<usize> {
    let toks = lex(query);
    toks.iter().enumerate().find(|(i, t)| t.is("{") && (*i == 0 || toks[i - 1].kind != Kind::Ident)).map(|(_, t)| t.pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &str, expected: &str) {
        let (msg, pos) = describe(q, "invalid promql query");
        let got = match pos {
            Some((l, c)) => format!("{l}:{c}: {msg}"),
            None => msg,
        };
        assert_eq!(got, expected, "{q}");
    }

    #[test]
    fn lexer_errors() {
        check("up ~ 1", "1:4: unexpected character: '~'");
        check("", "1:1: no expression found in input");
        check("  # just a comment", "1:1: no expression found in input");
        check("sum(up", "1:7: unclosed left parenthesis");
        check("\"abc", "1:1: unterminated quoted string");
        check("up[5x]", "1:4: bad number or duration syntax: \"5x\"");
        check("up{a=\"b\"\n", "2:1: unexpected end of input inside braces");
    }

    #[test]
    fn syntax_errors() {
        check("1 +", "1:4: unexpected end of input");
        check("1 + foo bar", "1:9: unexpected identifier \"bar\"");
        check("sum by (a b) (x)", "1:11: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\"");
        check("up{a=b}", "1:6: unexpected identifier \"b\" in label matching, expected string");
        check("x # comment\n +", "2:3: unexpected end of input");
    }

    #[test]
    fn valid_queries_pass_the_recogniser() {
        for q in [
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m] offset 1h)) / on(job) group_left up",
            "topk(3, x) without (a,)",
            "x @ start() + y @ 1609746000",
            "-x[5m:1m] offset -1m",
            "{\"quoted.name\", a!=\"b\"}",
            "count_values(\"v\", x) > bool 0.5e3",
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[1h30m])))",
            "",
            "Inf + NaN - 0x1F",
        ] {
            let toks = lex(q);
            let mut p = Recogniser { toks: &toks, i: 0 };
            assert_eq!(p.top(), Ok(()), "{q}");
        }
    }
}
