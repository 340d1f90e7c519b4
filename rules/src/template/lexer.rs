//! The lexer of Go's `text/template`: text, `{{ }}` actions with trim markers, comments,
//! literals, fields, variables and punctuation, with the byte positions and line numbers the
//! parser's error messages need. It mirrors `text/template/parse/lex.go` state for state,
//! because Go's error messages and positions depend on exactly where each item starts.

use std::borrow::Cow;

use super::strconv::{quote, quote_rune_u};

/// The kind of a lexed item, in Go's order (keywords after `Keyword`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum ItemType {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    Keyword,
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

/// A token: its kind, starting byte and line, and its text (the message for errors).
#[derive(Clone, Debug)]
pub(super) struct Item<'a> {
    pub(super) typ: ItemType,
    pub(super) pos: usize,
    pub(super) val: Cow<'a, str>,
    pub(super) line: usize,
}

impl std::fmt::Display for Item<'_> {
    /// As Go's `item.String`, which parse errors quote (`unexpected "}" in operand`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            ItemType::Error => f.write_str(&self.val),
            t if t > ItemType::Keyword => write!(f, "<{}>", self.val),
            _ if self.val.len() > 10 => {
                let short: String = self.val.chars().take(10).collect();
                write!(f, "{}...", quote(&short))
            }
            _ => f.write_str(&quote(&self.val)),
        }
    }
}

fn keyword(word: &str) -> Option<ItemType> {
    Some(match word {
        "." => ItemType::Dot,
        "block" => ItemType::Block,
        "break" => ItemType::Break,
        "continue" => ItemType::Continue,
        "define" => ItemType::Define,
        "else" => ItemType::Else,
        "end" => ItemType::End,
        "if" => ItemType::If,
        "range" => ItemType::Range,
        "nil" => ItemType::Nil,
        "template" => ItemType::Template,
        "with" => ItemType::With,
        _ => return None,
    })
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
/// The trim marker plus the space before or after it.
const TRIM_MARKER_LEN: usize = 2;

#[derive(Clone, Copy)]
enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
}

/// The scanner; the parser pulls items with [`Lexer::next_item`].
pub(super) struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    at_eof: bool,
    paren_depth: i64,
    line: usize,
    start_line: usize,
    inside_action: bool,
    /// Set once an error item was produced: everything after is EOF.
    dead: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(input: &'a str) -> Lexer<'a> {
        Lexer {
            input,
            pos: 0,
            start: 0,
            at_eof: false,
            paren_depth: 0,
            line: 1,
            start_line: 1,
            inside_action: false,
            dead: false,
        }
    }

    fn next(&mut self) -> Option<char> {
        match self.input[self.pos..].chars().next() {
            None => {
                self.at_eof = true;
                None
            }
            Some(c) => {
                self.pos += c.len_utf8();
                if c == '\n' {
                    self.line += 1;
                }
                Some(c)
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        let r = self.next();
        self.backup();
        r
    }

    fn backup(&mut self) {
        if !self.at_eof
            && let Some(c) = self.input[..self.pos].chars().next_back()
        {
            self.pos -= c.len_utf8();
            if c == '\n' {
                self.line -= 1;
            }
        }
    }

    fn this_item(&mut self, typ: ItemType) -> Item<'a> {
        let item =
            Item { typ, pos: self.start, val: Cow::Borrowed(&self.input[self.start..self.pos]), line: self.start_line };
        self.start = self.pos;
        self.start_line = self.line;
        item
    }

    fn ignore(&mut self) {
        self.line += count_newlines(&self.input[self.start..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while matches!(self.next(), Some(c) if valid.contains(c)) {}
        self.backup();
    }

    fn error(&mut self, msg: String) -> Item<'a> {
        let item = Item { typ: ItemType::Error, pos: self.start, val: Cow::Owned(msg), line: self.start_line };
        self.dead = true;
        item
    }

    /// The next item; after the end of input or an error, EOF forever.
    pub(super) fn next_item(&mut self) -> Item<'a> {
        if self.dead {
            return Item { typ: ItemType::Eof, pos: self.pos, val: Cow::Borrowed(""), line: self.start_line };
        }
        let mut state = if self.inside_action { State::InsideAction } else { State::Text };
        loop {
            let step = match state {
                State::Text => self.lex_text(),
                State::LeftDelim => self.lex_left_delim(),
                State::Comment => self.lex_comment(),
                State::RightDelim => Ok(self.lex_right_delim()),
                State::InsideAction => self.lex_inside_action(),
                State::Space => self.lex_space(),
                State::Identifier => self.lex_identifier(),
                State::Field => self.lex_field_or_variable(ItemType::Field),
                State::Variable => self.lex_variable(),
                State::Char => self.lex_char(),
                State::Number => self.lex_number(),
                State::Quote => self.lex_quote(),
                State::RawQuote => self.lex_raw_quote(),
            };
            match step {
                Ok(item) => return item,
                Err(next) => state = next,
            }
        }
    }

    fn lex_text(&mut self) -> Result<Item<'a>, State> {
        if let Some(x) = self.input[self.pos..].find(LEFT_DELIM) {
            if x > 0 {
                self.pos += x;
                let delim_end = self.pos + LEFT_DELIM.len();
                let trim = if has_left_trim_marker(&self.input[delim_end..]) {
                    right_trim_length(&self.input[self.start..self.pos])
                } else {
                    0
                };
                self.pos -= trim;
                self.line += count_newlines(&self.input[self.start..self.pos]);
                let item = self.this_item(ItemType::Text);
                self.pos += trim;
                self.ignore();
                if !item.val.is_empty() {
                    return Ok(item);
                }
            }
            return Err(State::LeftDelim);
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += count_newlines(&self.input[self.start..self.pos]);
            return Ok(self.this_item(ItemType::Text));
        }
        self.dead = true;
        Ok(self.this_item(ItemType::Eof))
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.input[self.pos..];
        if has_right_trim_marker(rest) && rest[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            return (true, true);
        }
        (rest.starts_with(RIGHT_DELIM), false)
    }

    fn lex_left_delim(&mut self) -> Result<Item<'a>, State> {
        self.pos += LEFT_DELIM.len();
        let trim = has_left_trim_marker(&self.input[self.pos..]);
        let after_marker = if trim { TRIM_MARKER_LEN } else { 0 };
        if self.input[self.pos + after_marker..].starts_with(LEFT_COMMENT) {
            self.pos += after_marker;
            self.ignore();
            return Err(State::Comment);
        }
        let item = self.this_item(ItemType::LeftDelim);
        self.inside_action = true;
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        Ok(item)
    }

    fn lex_comment(&mut self) -> Result<Item<'a>, State> {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.input[self.pos..].find(RIGHT_COMMENT) else {
            return Ok(self.error("unclosed comment".into()));
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return Ok(self.error("comment ends before closing delimiter".into()));
        }
        self.line += count_newlines(&self.input[self.start..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
        if trim {
            self.pos += TRIM_MARKER_LEN;
        }
        self.pos += RIGHT_DELIM.len();
        if trim {
            self.pos += left_trim_length(&self.input[self.pos..]);
        }
        self.ignore();
        Err(State::Text)
    }

    fn lex_right_delim(&mut self) -> Item<'a> {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += TRIM_MARKER_LEN;
            self.ignore();
        }
        self.pos += RIGHT_DELIM.len();
        let item = self.this_item(ItemType::RightDelim);
        if trim {
            self.pos += left_trim_length(&self.input[self.pos..]);
            self.ignore();
        }
        self.inside_action = false;
        item
    }

    fn lex_inside_action(&mut self) -> Result<Item<'a>, State> {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return Err(State::RightDelim);
            }
            return Ok(self.error("unclosed left paren".into()));
        }
        let Some(r) = self.next() else {
            return Ok(self.error("unclosed action".into()));
        };
        match r {
            _ if is_space(r) => {
                self.backup();
                Err(State::Space)
            }
            '=' => Ok(self.this_item(ItemType::Assign)),
            ':' => {
                if self.next() != Some('=') {
                    return Ok(self.error("expected :=".into()));
                }
                Ok(self.this_item(ItemType::Declare))
            }
            '|' => Ok(self.this_item(ItemType::Pipe)),
            '"' => Err(State::Quote),
            '`' => Err(State::RawQuote),
            '$' => Err(State::Variable),
            '\'' => Err(State::Char),
            '.' if self.input.as_bytes().get(self.pos).is_some_and(|b| !b.is_ascii_digit()) => Err(State::Field),
            '.' | '+' | '-' | '0'..='9' => {
                self.backup();
                Err(State::Number)
            }
            _ if is_alphanumeric(r) => {
                self.backup();
                Err(State::Identifier)
            }
            '(' => {
                self.paren_depth += 1;
                Ok(self.this_item(ItemType::LeftParen))
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return Ok(self.error("unexpected right paren".into()));
                }
                Ok(self.this_item(ItemType::RightParen))
            }
            _ if r.is_ascii() && !r.is_ascii_control() => Ok(self.this_item(ItemType::Char)),
            _ => Ok(self.error(format!("unrecognized character in action: {}", quote_rune_u(r)))),
        }
    }

    fn lex_space(&mut self) -> Result<Item<'a>, State> {
        let mut num_spaces = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            num_spaces += 1;
        }
        let rest = &self.input[self.pos - 1..];
        if has_right_trim_marker(rest) && rest[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            self.backup();
            if num_spaces == 1 {
                return Err(State::RightDelim);
            }
        }
        Ok(self.this_item(ItemType::Space))
    }

    fn lex_identifier(&mut self) -> Result<Item<'a>, State> {
        loop {
            match self.next() {
                Some(r) if is_alphanumeric(r) => {}
                r => {
                    self.backup();
                    let word = &self.input[self.start..self.pos];
                    if !self.at_terminator() {
                        return Ok(self.bad_character(r));
                    }
                    let typ = match keyword(word) {
                        Some(k) if k > ItemType::Keyword => k,
                        _ if word == "true" || word == "false" => ItemType::Bool,
                        _ => ItemType::Identifier,
                    };
                    return Ok(self.this_item(typ));
                }
            }
        }
    }

    fn bad_character(&mut self, r: Option<char>) -> Item<'a> {
        // Go prints the offending rune with %#U; at EOF it is -1, which cannot occur here
        // because EOF is a terminator.
        let shown = r.map(quote_rune_u).unwrap_or_else(|| "U+FFFFFFFFFFFFFFFF".into());
        self.error(format!("bad character {shown}"))
    }

    fn lex_variable(&mut self) -> Result<Item<'a>, State> {
        if self.at_terminator() {
            return Ok(self.this_item(ItemType::Variable));
        }
        self.lex_field_or_variable(ItemType::Variable)
    }

    fn lex_field_or_variable(&mut self, typ: ItemType) -> Result<Item<'a>, State> {
        if self.at_terminator() {
            let t = if typ == ItemType::Variable { ItemType::Variable } else { ItemType::Dot };
            return Ok(self.this_item(t));
        }
        let r = loop {
            match self.next() {
                Some(r) if is_alphanumeric(r) => {}
                r => {
                    self.backup();
                    break r;
                }
            }
        };
        if !self.at_terminator() {
            return Ok(self.bad_character(r));
        }
        Ok(self.this_item(typ))
    }

    fn at_terminator(&mut self) -> bool {
        match self.peek() {
            None => true,
            Some(r) if is_space(r) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.input[self.pos..].starts_with(RIGHT_DELIM),
        }
    }

    fn lex_char(&mut self) -> Result<Item<'a>, State> {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    None | Some('\n') => return Ok(self.error("unterminated character constant".into())),
                    Some(_) => {}
                },
                None | Some('\n') => return Ok(self.error("unterminated character constant".into())),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        Ok(self.this_item(ItemType::CharConstant))
    }

    fn lex_number(&mut self) -> Result<Item<'a>, State> {
        if !self.scan_number() {
            let text = quote(&self.input[self.start..self.pos]);
            return Ok(self.error(format!("bad number syntax: {text}")));
        }
        if let Some('+' | '-') = self.peek() {
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let text = quote(&self.input[self.start..self.pos]);
                return Ok(self.error(format!("bad number syntax: {text}")));
            }
            return Ok(self.this_item(ItemType::Complex));
        }
        Ok(self.this_item(ItemType::Number))
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        const DEC: &str = "0123456789_";
        const HEX: &str = "0123456789abcdefABCDEF_";
        let mut digits = DEC;
        if self.accept("0") {
            if self.accept("xX") {
                digits = HEX;
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits == DEC && self.accept("eE") {
            self.accept("+-");
            self.accept_run(DEC);
        }
        if digits == HEX && self.accept("pP") {
            self.accept("+-");
            self.accept_run(DEC);
        }
        self.accept("i");
        if self.peek().is_some_and(is_alphanumeric) {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> Result<Item<'a>, State> {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    None | Some('\n') => return Ok(self.error("unterminated quoted string".into())),
                    Some(_) => {}
                },
                None | Some('\n') => return Ok(self.error("unterminated quoted string".into())),
                Some('"') => break,
                Some(_) => {}
            }
        }
        Ok(self.this_item(ItemType::String))
    }

    fn lex_raw_quote(&mut self) -> Result<Item<'a>, State> {
        loop {
            match self.next() {
                None => return Ok(self.error("unterminated raw quoted string".into())),
                Some('`') => break,
                Some(_) => {}
            }
        }
        Ok(self.this_item(ItemType::RawString))
    }
}

fn count_newlines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches([' ', '\t', '\r', '\n']).len()
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Go's template space: ASCII space, tab, CR, LF only.
fn is_space(r: char) -> bool {
    matches!(r, ' ' | '\t' | '\r' | '\n')
}

/// Go's `isAlphaNumeric`: underscore, letter or digit.
pub(super) fn is_alphanumeric(r: char) -> bool {
    r == '_' || r.is_alphanumeric()
}
