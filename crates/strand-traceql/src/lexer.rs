//! Turns query text into tokens, following the lexical rules of Tempo's TraceQL lexer.
//!
//! The rules that differ from a plain programming-language lexer:
//! - After `.`, `span.`, `resource.`, `event.`, `link.`, `instrumentation.` or `parent.` comes an
//!   attribute name, which runs to the first whitespace or one of `{ } ( ) = ~ ! < > & | ^ ,`.
//!   So `.foo+bar` and `.http.status_code` are single names. Parts may be double-quoted to hold
//!   any character, with `\"` and `\\` as the only escapes.
//! - A number immediately followed by unit runes is a duration (`1h30m`, `1.5s`).
//! - `.` followed by a digit starts a number (`.5`), as in Go.
//! - `//` and `/* */` comments are skipped, as Go's scanner does.

use crate::duration::parse_duration;
use crate::error::ParseError;
use crate::field::AttributeScope;
use crate::token::{ColonScope, Keyword, Pos, Punct, Tok, Token};

/// True for characters that may appear unquoted in an attribute name.
pub(crate) fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ',')
}

fn is_duration_char(c: char) -> bool {
    matches!(c, 'n' | 's' | 'u' | 'm' | 'h' | '\u{b5}' | 'd' | 'w' | 'y')
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `input` into tokens. On a lexical error, returns the tokens before it and the error;
/// the parser reports whichever problem comes first.
pub(crate) fn tokenize(input: &str) -> (Vec<Token>, Result<Pos, ParseError>) {
    let mut lexer = Lexer { chars: input.chars().collect(), i: 0, line: 1, col: 1, tokens: Vec::new() };
    let end = lexer.run();
    (lexer.tokens, end)
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    tokens: Vec<Token>,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars().enumerate().all(|(k, c)| self.peek_at(k) == Some(c))
    }

    /// Lexes everything; returns the end position, or the first error.
    fn run(&mut self) -> Result<Pos, ParseError> {
        loop {
            self.skip_space_and_comments()?;
            let pos = self.pos();
            let Some(c) = self.peek() else { return Ok(pos) };
            let tok = match c {
                '"' => Tok::Str(self.string(pos)?),
                '`' => Tok::Str(self.raw_string(pos)?),
                '0'..='9' => self.number(pos)?,
                '.' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => self.number(pos)?,
                '.' => {
                    self.bump();
                    self.attribute(AttributeScope::Unscoped, pos)?
                }
                c if is_ident_start(c) => self.word(pos)?,
                _ => Tok::Punct(self.punct(pos)?),
            };
            self.tokens.push(Token { tok, pos });
        }
    }

    fn skip_space_and_comments(&mut self) -> Result<(), ParseError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(' ' | '\t' | '\n' | '\r'), _) => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let pos = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        if self.starts_with("*/") {
                            self.bump();
                            self.bump();
                            break;
                        }
                        if self.bump().is_none() {
                            return Err(pos.error("comment not terminated"));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// A keyword, a bare identifier, a scope prefix (`span.`) with its attribute, or a scoped
    /// intrinsic prefix (`span:`).
    fn word(&mut self, pos: Pos) -> Result<Tok, ParseError> {
        let mut word = String::new();
        while let Some(c) = self.peek().filter(|&c| is_ident_char(c)) {
            word.push(c);
            self.bump();
        }
        if self.peek() == Some('.') {
            let scope = match word.as_str() {
                "span" => Some(AttributeScope::Span),
                "resource" => Some(AttributeScope::Resource),
                "event" => Some(AttributeScope::Event),
                "link" => Some(AttributeScope::Link),
                "instrumentation" => Some(AttributeScope::Instrumentation),
                "parent" => Some(AttributeScope::Parent),
                _ => None,
            };
            if let Some(scope) = scope {
                self.bump();
                return self.attribute(scope, pos);
            }
        }
        if self.peek() == Some(':') {
            let scope = match word.as_str() {
                "trace" => Some(ColonScope::Trace),
                "span" => Some(ColonScope::Span),
                "event" => Some(ColonScope::Event),
                "link" => Some(ColonScope::Link),
                "instrumentation" => Some(ColonScope::Instrumentation),
                _ => None,
            };
            if let Some(scope) = scope {
                self.bump();
                return Ok(Tok::Colon(scope));
            }
        }
        Ok(match Keyword::from_word(&word) {
            Some(keyword) => Tok::Keyword(keyword),
            None => Tok::Ident(word),
        })
    }

    /// The attribute name after a scope prefix (already consumed).
    fn attribute(&mut self, scope: AttributeScope, pos: Pos) -> Result<Tok, ParseError> {
        let mut name = String::new();
        if scope == AttributeScope::Parent {
            for sub in ["span.", "resource."] {
                if self.starts_with(sub) {
                    for _ in 0..sub.len() {
                        self.bump();
                    }
                    name.push_str(sub);
                    break;
                }
            }
        }
        let mut any = false;
        loop {
            match self.peek() {
                Some('"') => {
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(pos.error("syntax error: unexpected end of query, expected '\"'")),
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                Some(c @ ('"' | '\\')) => name.push(c),
                                _ => {
                                    return Err(
                                        pos.error("syntax error: invalid escape sequence in quoted attribute name")
                                    );
                                }
                            },
                            Some(c) => name.push(c),
                        }
                    }
                    any = true;
                }
                Some(c) if is_attribute_char(c) => {
                    name.push(c);
                    self.bump();
                    any = true;
                }
                _ => break,
            }
        }
        if !any {
            let prefix = format!("{}{}", scope.prefix(), name);
            return Err(pos.error(format!("syntax error: expected an attribute name after {prefix:?}")));
        }
        Ok(Tok::Attribute { scope, name })
    }

    /// A double-quoted string with Go escapes.
    fn string(&mut self, pos: Pos) -> Result<String, ParseError> {
        self.bump();
        let mut bytes = Vec::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None | Some('\n') => return Err(pos.error("syntax error: string literal not terminated")),
                Some('"') => break,
                Some('\\') => self.escape(here, &mut bytes)?,
                Some(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        String::from_utf8(bytes).map_err(|_| pos.error("syntax error: string literal is not valid UTF-8"))
    }

    fn escape(&mut self, pos: Pos, bytes: &mut Vec<u8>) -> Result<(), ParseError> {
        let invalid = || pos.error("syntax error: invalid escape sequence in string literal");
        let simple = match self.bump() {
            Some('a') => 0x07,
            Some('b') => 0x08,
            Some('f') => 0x0c,
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('t') => b'\t',
            Some('v') => 0x0b,
            Some('\\') => b'\\',
            Some('"') => b'"',
            Some(d @ '0'..='7') => {
                let mut value = d.to_digit(8).ok_or_else(invalid)?;
                for _ in 0..2 {
                    let digit = self.bump().and_then(|c| c.to_digit(8)).ok_or_else(invalid)?;
                    value = value * 8 + digit;
                }
                u8::try_from(value).map_err(|_| invalid())?
            }
            Some('x') => u8::try_from(self.hex_digits(2).ok_or_else(invalid)?).map_err(|_| invalid())?,
            Some(c @ ('u' | 'U')) => {
                let value = self.hex_digits(if c == 'u' { 4 } else { 8 }).ok_or_else(invalid)?;
                let decoded = char::from_u32(value).ok_or_else(invalid)?;
                bytes.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => return Err(invalid()),
        };
        bytes.push(simple);
        Ok(())
    }

    fn hex_digits(&mut self, count: usize) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..count {
            value = value * 16 + self.bump()?.to_digit(16)?;
        }
        Some(value)
    }

    /// A backtick string: no escapes, carriage returns dropped (as Go's unquoting does).
    fn raw_string(&mut self, pos: Pos) -> Result<String, ParseError> {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(pos.error("syntax error: string literal not terminated")),
                Some('`') => return Ok(text),
                Some('\r') => {}
                Some(c) => text.push(c),
            }
        }
    }

    fn digits(&mut self, text: &mut String) {
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            text.push(c);
            self.bump();
        }
    }

    /// An integer, a float or a duration.
    fn number(&mut self, pos: Pos) -> Result<Tok, ParseError> {
        let mut text = String::new();
        let mut is_float = false;
        self.digits(&mut text);
        if text == "0" && self.peek().is_some_and(|c| matches!(c, 'x' | 'X' | 'b' | 'B' | 'o' | 'O')) {
            return Err(pos.error("syntax error: only decimal numbers are supported"));
        }
        if self.eat('.') {
            text.push('.');
            self.digits(&mut text);
            is_float = true;
        }
        if let Some(e @ ('e' | 'E')) = self.peek() {
            text.push(e);
            self.bump();
            if let Some(sign @ ('+' | '-')) = self.peek() {
                text.push(sign);
                self.bump();
            }
            let before = text.len();
            self.digits(&mut text);
            if text.len() == before {
                return Err(pos.error("syntax error: exponent has no digits"));
            }
            is_float = true;
        }
        if !is_float && text.len() > 1 && text.starts_with('0') && text.contains(['8', '9']) {
            return Err(pos.error("syntax error: invalid digit in octal literal"));
        }

        // A run of unit characters right after the number makes it a duration, if the whole
        // run parses as one; otherwise the number stands alone.
        let run: String = self.chars[self.i..]
            .iter()
            .take_while(|&&c| !c.is_whitespace() && (c.is_numeric() || is_duration_char(c) || c == '.'))
            .collect();
        if !run.is_empty()
            && let Some(nanos) = parse_duration(&format!("{text}{run}"))
        {
            for _ in run.chars() {
                self.bump();
            }
            return Ok(Tok::Duration(nanos));
        }

        if is_float {
            match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Tok::Float(value)),
                _ => Err(pos.error(format!("syntax error: number {text} is out of range"))),
            }
        } else {
            text.parse::<i64>()
                .map(Tok::Int)
                .map_err(|_| pos.error(format!("syntax error: number {text} is out of range")))
        }
    }

    fn punct(&mut self, pos: Pos) -> Result<Punct, ParseError> {
        let Some(c) = self.bump() else {
            return Err(pos.error("syntax error: unexpected end of query"));
        };
        Ok(match c {
            '{' => Punct::LBrace,
            '}' => Punct::RBrace,
            '(' => Punct::LParen,
            ')' => Punct::RParen,
            ',' => Punct::Comma,
            '+' => Punct::Add,
            '-' => Punct::Sub,
            '*' => Punct::Mul,
            '/' => Punct::Div,
            '%' => Punct::Mod,
            '^' => Punct::Pow,
            '~' => Punct::Tilde,
            '=' if self.eat('~') => Punct::Regex,
            '=' => Punct::Eq,
            '!' if self.eat('=') => Punct::NotEq,
            '!' if self.eat('~') => Punct::NotRegex,
            '!' if self.eat('>') => {
                if self.eat('>') {
                    Punct::NotDesc
                } else {
                    Punct::NotChild
                }
            }
            '!' if self.eat('<') => {
                if self.eat('<') {
                    Punct::NotAnce
                } else {
                    Punct::NotParent
                }
            }
            '!' => Punct::Not,
            '>' if self.eat('>') => Punct::Desc,
            '>' if self.eat('=') => Punct::Gte,
            '>' => Punct::Gt,
            '<' if self.eat('<') => Punct::Ance,
            '<' if self.eat('=') => Punct::Lte,
            '<' => Punct::Lt,
            '&' if self.eat('&') => Punct::And,
            '&' if self.eat('>') => {
                if self.eat('>') {
                    Punct::UnionDesc
                } else {
                    Punct::UnionChild
                }
            }
            '&' if self.eat('<') => {
                if self.eat('<') {
                    Punct::UnionAnce
                } else {
                    Punct::UnionParent
                }
            }
            '&' if self.eat('~') => Punct::UnionSibl,
            '|' if self.eat('|') => Punct::Or,
            '|' => Punct::Pipe,
            other => return Err(pos.error(format!("syntax error: unexpected character {other:?}"))),
        })
    }
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
