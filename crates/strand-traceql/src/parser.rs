//! A hand-written recursive-descent parser with precedence climbing.
//!
//! This file holds the token cursor, the entry points, field expressions (what goes inside
//! `{ }`), fields and literals. Pipelines, spanset operators, scalar filters and metrics are in
//! `parser_stage.rs`.
//!
//! Precedence, loosest first, as in Tempo's grammar: `|`; `&&` `||` (equal, left-associative);
//! comparisons and structural operators; `+ -` and prefix `-`; prefix `!`; `* / %`; `^`
//! (right-associative). Between pipelines, a leading `-` on a number binds tightest.

use std::cell::Cell;

use crate::ast::{ArithOp, FieldExpr, Hint, LogicalOp, MAX_DEPTH, Query, Static};
use crate::error::ParseError;
use crate::fetch::CompareOp;
use crate::field::{FieldRef, Intrinsic};
use crate::lexer::tokenize;
use crate::token::{ColonScope, Keyword, Pos, Punct, Tok, Token};
use crate::types::{BinOp, eval_binary, eval_neg, eval_not};

pub(crate) const PREC_LOGICAL: u8 = 2;
pub(crate) const PREC_COMPARE: u8 = 3;
pub(crate) const PREC_ADD: u8 = 4;
pub(crate) const PREC_NOT: u8 = 5;
pub(crate) const PREC_MUL: u8 = 6;
pub(crate) const PREC_POW: u8 = 7;
/// Above every binary operator: parses one operand only.
pub(crate) const PREC_PREFIX: u8 = 8;

/// How deeply parentheses and prefix operators may nest while parsing.
const MAX_NESTING: usize = 100;

/// Parses a query. Syntax only: see [`Query::validate`] for the semantic checks.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let mut parser = Parser::new(query);
    let result = parser.query();
    result.map_err(|e| parser.first_error(e))
}

/// Parses a lone field name as the tag APIs take it: `resource.service.name`, `.http.method`,
/// `span:name`, `name`, `trace:rootService`. Anything after the name is an error.
pub fn parse_identifier(text: &str) -> Result<FieldRef, ParseError> {
    let mut parser = Parser::new(text);
    let result = parser.identifier();
    result.map_err(|e| parser.first_error(e))
}

impl std::str::FromStr for Query {
    type Err = ParseError;

    fn from_str(query: &str) -> Result<Query, ParseError> {
        parse(query)
    }
}

pub(crate) struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Where the text ends, or the lexical error that stopped tokenizing there.
    end: Result<Pos, ParseError>,
    /// Set once the parser has looked past the last token.
    reached_end: Cell<bool>,
    nesting: usize,
}

const EOF: Tok = Tok::Eof;

impl Parser {
    fn new(input: &str) -> Parser {
        let (tokens, end) = tokenize(input);
        Parser { tokens, next: 0, end, reached_end: Cell::new(false), nesting: 0 }
    }

    /// A lexical error wins over a parse error found after the parser reached it, as it does
    /// in a lexer that runs on demand.
    fn first_error(&self, error: ParseError) -> ParseError {
        match &self.end {
            Err(lex) if self.reached_end.get() => lex.clone(),
            _ => error,
        }
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        let node = self.level(false)?;
        let expr = self.root(node)?;
        let mut hints = Vec::new();
        while self.at_keyword(Keyword::With) {
            hints = self.hints()?;
        }
        self.expect_end("\"with\" or end of query")?;
        Ok(Query { expr, hints })
    }

    fn identifier(&mut self) -> Result<FieldRef, ParseError> {
        let field = self.field_ref()?.ok_or_else(|| self.unexpected("an attribute or intrinsic"))?;
        self.expect_end("end of identifier")?;
        Ok(field)
    }

    // --- Token cursor -------------------------------------------------------------------------

    pub(crate) fn peek(&self) -> &Tok {
        match self.tokens.get(self.next) {
            Some(token) => &token.tok,
            None => {
                self.reached_end.set(true);
                &EOF
            }
        }
    }

    pub(crate) fn pos(&self) -> Pos {
        match (self.tokens.get(self.next), &self.end) {
            (Some(token), _) => token.pos,
            (None, Ok(end)) => *end,
            (None, Err(e)) => Pos { line: e.line(), col: e.column() },
        }
    }

    pub(crate) fn bump(&mut self) {
        if self.next < self.tokens.len() {
            self.next += 1;
        }
    }

    pub(crate) fn at_punct(&self, punct: Punct) -> bool {
        *self.peek() == Tok::Punct(punct)
    }

    pub(crate) fn at_keyword(&self, keyword: Keyword) -> bool {
        *self.peek() == Tok::Keyword(keyword)
    }

    /// "unexpected <current token>, expected <expected>" at the current token.
    pub(crate) fn unexpected(&self, expected: &str) -> ParseError {
        let found = self.peek().to_string();
        self.pos().error(format!("syntax error: unexpected {found}, expected {expected}"))
    }

    pub(crate) fn expect_punct(&mut self, punct: Punct) -> Result<(), ParseError> {
        if self.at_punct(punct) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(&format!("{:?}", punct.as_str())))
        }
    }

    fn expect_end(&self, expected: &str) -> Result<(), ParseError> {
        match self.peek() {
            Tok::Eof => match &self.end {
                Ok(_) => Ok(()),
                Err(lex) => Err(lex.clone()),
            },
            _ => Err(self.unexpected(expected)),
        }
    }

    /// Counts one level of parser recursion; deeply nested input is rejected, not overflowed.
    pub(crate) fn enter(&mut self) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.pos().error(format!("query too complex: nesting exceeds {MAX_NESTING} levels")));
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    /// The depth of a node whose deepest child is `child` levels deep.
    pub(crate) fn deeper(&self, child: usize, pos: Pos) -> Result<usize, ParseError> {
        let depth = child + 1;
        if depth > MAX_DEPTH {
            return Err(pos.error(format!("query too complex: expressions nest more than {MAX_DEPTH} levels")));
        }
        Ok(depth)
    }

    // --- Field expressions ----------------------------------------------------------------------

    /// `{ }` or `{ expr }`; the empty filter holds `true`.
    pub(crate) fn spanset_filter(&mut self) -> Result<(FieldExpr, usize), ParseError> {
        self.expect_punct(Punct::LBrace)?;
        if self.at_punct(Punct::RBrace) {
            self.bump();
            return Ok((FieldExpr::Static(Static::Bool(true)), 1));
        }
        let expr = self.field_expr(0)?;
        self.expect_punct(Punct::RBrace)?;
        Ok(expr)
    }

    /// A field expression whose operators all bind at least as tightly as `min_prec`. Returns the
    /// expression and its depth.
    pub(crate) fn field_expr(&mut self, min_prec: u8) -> Result<(FieldExpr, usize), ParseError> {
        self.enter()?;
        let (mut lhs, mut depth) = self.field_prefix()?;
        while let Some((op, prec)) = field_infix(self.peek()) {
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.bump();
            if matches!(op, BinOp::Compare(CompareOp::Eq | CompareOp::NotEq)) && self.at_keyword(Keyword::Nil) {
                // `x = nil` binds as tightly as possible: `x = nil + 1` is `(x = nil) + 1`.
                self.bump();
                lhs = existence(op == BinOp::Compare(CompareOp::NotEq), lhs);
                depth = self.deeper(depth, op_pos)?;
                continue;
            }
            let next_min = if prec == PREC_POW { prec } else { prec + 1 };
            let (rhs, rhs_depth) = self.field_expr(next_min)?;
            lhs = fold_binary(op, lhs, rhs);
            depth = self.deeper(depth.max(rhs_depth), op_pos)?;
        }
        if let FieldExpr::Static(_) = lhs {
            depth = 1;
        }
        self.leave();
        Ok((lhs, depth))
    }

    fn field_prefix(&mut self) -> Result<(FieldExpr, usize), ParseError> {
        match self.peek() {
            Tok::Punct(Punct::LParen) => self.field_paren(),
            Tok::Punct(Punct::Sub) => self.field_unary(true),
            Tok::Punct(Punct::Not) => self.field_unary(false),
            Tok::Keyword(Keyword::Nil) => self.field_nil(),
            _ => self.field_atom(),
        }
    }

    fn field_paren(&mut self) -> Result<(FieldExpr, usize), ParseError> {
        self.bump();
        let inner = self.field_expr(0)?;
        self.expect_punct(Punct::RParen)?;
        Ok(inner)
    }

    /// `-x` or `!x`. As in Tempo, prefix minus binds like binary minus (`-a * b` is `-(a * b)`)
    /// and prefix not between `+` and `*`.
    fn field_unary(&mut self, negate: bool) -> Result<(FieldExpr, usize), ParseError> {
        let pos = self.pos();
        self.bump();
        let (operand, depth) = self.field_expr(if negate { PREC_NOT } else { PREC_MUL })?;
        let folded = match &operand {
            FieldExpr::Static(s) if negate => eval_neg(s),
            FieldExpr::Static(s) => eval_not(s),
            _ => None,
        };
        let expr = match folded {
            Some(value) => FieldExpr::Static(value),
            None if negate => FieldExpr::Neg(Box::new(operand)),
            None => FieldExpr::Not(Box::new(operand)),
        };
        Ok((expr, self.deeper(depth, pos)?))
    }

    /// `nil = x`, `nil != x`, `nil = nil`.
    fn field_nil(&mut self) -> Result<(FieldExpr, usize), ParseError> {
        let pos = self.pos();
        self.bump();
        let exists = match self.peek() {
            Tok::Punct(Punct::Eq) => false,
            Tok::Punct(Punct::NotEq) => true,
            _ => return Err(self.unexpected("\"=\" or \"!=\" after nil")),
        };
        self.bump();
        if self.at_keyword(Keyword::Nil) {
            // `nil = nil` and `nil != nil` are both false, as in Tempo.
            self.bump();
            return Ok((FieldExpr::Static(Static::Bool(false)), 1));
        }
        let (operand, depth) = self.field_expr(PREC_ADD)?;
        Ok((existence(exists, operand), self.deeper(depth, pos)?))
    }

    fn field_atom(&mut self) -> Result<(FieldExpr, usize), ParseError> {
        if let Some(value) = self.literal()? {
            return Ok((FieldExpr::Static(value), 1));
        }
        match self.field_ref()? {
            Some(field) => Ok((FieldExpr::Field(field), 1)),
            None => Err(self.unexpected("a field expression")),
        }
    }

    /// A literal at the current token, consumed; `None` (nothing consumed) if there is none.
    pub(crate) fn literal(&mut self) -> Result<Option<Static>, ParseError> {
        let value = match self.peek() {
            Tok::Str(s) => Static::Str(s.clone()),
            Tok::Int(i) => Static::Int(*i),
            Tok::Float(f) => Static::Float(*f),
            Tok::Duration(d) => Static::Duration(*d),
            Tok::Keyword(Keyword::True) => Static::Bool(true),
            Tok::Keyword(Keyword::False) => Static::Bool(false),
            Tok::Keyword(k) => match (k.status(), k.kind()) {
                (Some(status), _) => Static::Status(status),
                (_, Some(kind)) => Static::Kind(kind),
                _ => return Ok(None),
            },
            Tok::Ident(word) => match word.as_str() {
                "minInt" => Static::Int(i64::MIN),
                "maxInt" => Static::Int(i64::MAX),
                _ => return Err(self.pos().error(format!("syntax error: unknown identifier: {word}"))),
            },
            _ => return Ok(None),
        };
        self.bump();
        Ok(Some(value))
    }

    /// An intrinsic or attribute at the current token, consumed; `None` if the current token
    /// cannot start one.
    pub(crate) fn field_ref(&mut self) -> Result<Option<FieldRef>, ParseError> {
        let field = match self.peek() {
            Tok::Attribute { scope, name } => FieldRef::attribute(*scope, name.clone()),
            Tok::Keyword(k) => match bare_intrinsic(*k) {
                Some(intrinsic) => FieldRef::Intrinsic(intrinsic),
                None => return Ok(None),
            },
            Tok::Colon(scope) => {
                let scope = *scope;
                self.bump();
                let intrinsic = match self.peek() {
                    Tok::Keyword(k) => scoped_intrinsic(scope, *k),
                    _ => None,
                };
                let intrinsic = intrinsic.ok_or_else(|| self.unexpected("an intrinsic of that scope"))?;
                FieldRef::Intrinsic(intrinsic)
            }
            _ => return Ok(None),
        };
        self.bump();
        Ok(Some(field))
    }

    /// `a, b, c` between parentheses already opened; at least one.
    pub(crate) fn field_ref_list(&mut self) -> Result<Vec<FieldRef>, ParseError> {
        let mut fields = Vec::new();
        loop {
            let field = self.field_ref()?.ok_or_else(|| self.unexpected("an attribute or intrinsic"))?;
            fields.push(field);
            if !self.at_punct(Punct::Comma) {
                return Ok(fields);
            }
            self.bump();
        }
    }

    /// `with(name=value, ...)`.
    fn hints(&mut self) -> Result<Vec<Hint>, ParseError> {
        self.bump();
        self.expect_punct(Punct::LParen)?;
        let mut hints = Vec::new();
        loop {
            let Tok::Ident(name) = self.peek() else {
                return Err(self.unexpected("a hint name"));
            };
            let name = name.clone();
            self.bump();
            self.expect_punct(Punct::Eq)?;
            let value = self.literal()?.ok_or_else(|| self.unexpected("a hint value"))?;
            hints.push(Hint { name, value });
            if !self.at_punct(Punct::Comma) {
                break;
            }
            self.bump();
        }
        self.expect_punct(Punct::RParen)?;
        Ok(hints)
    }
}

fn field_infix(tok: &Tok) -> Option<(BinOp, u8)> {
    let Tok::Punct(punct) = tok else { return None };
    Some(match punct {
        Punct::And => (BinOp::Logical(LogicalOp::And), PREC_LOGICAL),
        Punct::Or => (BinOp::Logical(LogicalOp::Or), PREC_LOGICAL),
        Punct::Eq => (BinOp::Compare(CompareOp::Eq), PREC_COMPARE),
        Punct::NotEq => (BinOp::Compare(CompareOp::NotEq), PREC_COMPARE),
        Punct::Lt => (BinOp::Compare(CompareOp::Lt), PREC_COMPARE),
        Punct::Lte => (BinOp::Compare(CompareOp::LtEq), PREC_COMPARE),
        Punct::Gt => (BinOp::Compare(CompareOp::Gt), PREC_COMPARE),
        Punct::Gte => (BinOp::Compare(CompareOp::GtEq), PREC_COMPARE),
        Punct::Regex => (BinOp::Compare(CompareOp::Regex), PREC_COMPARE),
        Punct::NotRegex => (BinOp::Compare(CompareOp::NotRegex), PREC_COMPARE),
        Punct::Add => (BinOp::Arith(ArithOp::Add), PREC_ADD),
        Punct::Sub => (BinOp::Arith(ArithOp::Sub), PREC_ADD),
        Punct::Mul => (BinOp::Arith(ArithOp::Mul), PREC_MUL),
        Punct::Div => (BinOp::Arith(ArithOp::Div), PREC_MUL),
        Punct::Mod => (BinOp::Arith(ArithOp::Mod), PREC_MUL),
        Punct::Pow => (BinOp::Arith(ArithOp::Pow), PREC_POW),
        _ => return None,
    })
}

/// Builds `lhs op rhs`, folded to a literal when both sides are literals and the operation is
/// valid and has a result (Tempo simplifies the same way while parsing).
fn fold_binary(op: BinOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    if let (FieldExpr::Static(l), FieldExpr::Static(r)) = (&lhs, &rhs)
        && let Some(value) = eval_binary(op, l, r)
    {
        return FieldExpr::Static(value);
    }
    let (lhs, rhs) = (Box::new(lhs), Box::new(rhs));
    match op {
        BinOp::Arith(op) => FieldExpr::Arith { op, lhs, rhs },
        BinOp::Compare(op) => FieldExpr::Compare { op, lhs, rhs },
        BinOp::Logical(op) => FieldExpr::Logical { op, lhs, rhs },
    }
}

/// `expr != nil` (`exists`) or `expr = nil`. A literal always exists.
fn existence(exists: bool, expr: FieldExpr) -> FieldExpr {
    match expr {
        FieldExpr::Static(_) => FieldExpr::Static(Static::Bool(exists)),
        expr if exists => FieldExpr::Exists(Box::new(expr)),
        expr => FieldExpr::NotExists(Box::new(expr)),
    }
}

/// Intrinsics written without a scope.
fn bare_intrinsic(keyword: Keyword) -> Option<Intrinsic> {
    Some(match keyword {
        Keyword::Duration => Intrinsic::Duration,
        Keyword::Name => Intrinsic::Name,
        Keyword::Status => Intrinsic::Status,
        Keyword::StatusMessage => Intrinsic::StatusMessage,
        Keyword::Kind => Intrinsic::Kind,
        Keyword::Parent => Intrinsic::Parent,
        Keyword::RootName => Intrinsic::RootName,
        Keyword::RootServiceName => Intrinsic::RootServiceName,
        Keyword::TraceDuration => Intrinsic::TraceDuration,
        Keyword::NestedSetLeft => Intrinsic::NestedSetLeft,
        Keyword::NestedSetRight => Intrinsic::NestedSetRight,
        Keyword::NestedSetParent => Intrinsic::NestedSetParent,
        _ => return None,
    })
}

fn scoped_intrinsic(scope: ColonScope, keyword: Keyword) -> Option<Intrinsic> {
    Some(match (scope, keyword) {
        (ColonScope::Trace, Keyword::Duration) => Intrinsic::TraceDuration,
        (ColonScope::Trace, Keyword::RootName) => Intrinsic::RootName,
        (ColonScope::Trace, Keyword::RootService) => Intrinsic::RootServiceName,
        (ColonScope::Trace, Keyword::Id) => Intrinsic::TraceId,
        (ColonScope::Span, Keyword::Duration) => Intrinsic::Duration,
        (ColonScope::Span, Keyword::Name) => Intrinsic::Name,
        (ColonScope::Span, Keyword::Kind) => Intrinsic::Kind,
        (ColonScope::Span, Keyword::Status) => Intrinsic::Status,
        (ColonScope::Span, Keyword::StatusMessage) => Intrinsic::StatusMessage,
        (ColonScope::Span, Keyword::Id) => Intrinsic::SpanId,
        (ColonScope::Span, Keyword::ParentId) => Intrinsic::ParentId,
        (ColonScope::Span, Keyword::ChildCount) => Intrinsic::ChildCount,
        (ColonScope::Event, Keyword::Name) => Intrinsic::EventName,
        (ColonScope::Event, Keyword::TimeSinceStart) => Intrinsic::EventTimeSinceStart,
        (ColonScope::Link, Keyword::TraceId) => Intrinsic::LinkTraceId,
        (ColonScope::Link, Keyword::SpanId) => Intrinsic::LinkSpanId,
        (ColonScope::Instrumentation, Keyword::Name) => Intrinsic::InstrumentationName,
        (ColonScope::Instrumentation, Keyword::Version) => Intrinsic::InstrumentationVersion,
        _ => return None,
    })
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
