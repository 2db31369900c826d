//! What goes wrong reading a query: a syntax error (with where), or a well-formed query that
//! means nothing (or something the engine does not do yet).

use std::fmt;

/// A syntax error, with the 1-based line and column (in characters) where it was found.
///
/// Displays the way Tempo reports parse errors, so Grafana users see familiar text:
/// `parse error at line 1, col 14: syntax error: unexpected end of query, expected "}"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    line: u32,
    column: u32,
    message: String,
}

impl ParseError {
    pub(crate) fn new(line: u32, column: u32, message: impl Into<String>) -> ParseError {
        ParseError { line, column, message: message.into() }
    }

    /// The line of the offending token, from 1.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The column of the offending token, from 1, counted in characters.
    pub fn column(&self) -> u32 {
        self.column
    }

    /// What was wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parse error at line {}, col {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A query that parses but cannot run.
///
/// Tempo tells apart queries that are wrong (type errors, a filter that is not a boolean) from
/// syntax it reserves but does not evaluate yet (the `parent` scope, arithmetic between
/// aggregates). [`ValidateError::is_unsupported`] makes the same distinction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidateError {
    message: String,
    unsupported: bool,
}

impl ValidateError {
    pub(crate) fn invalid(message: impl Into<String>) -> ValidateError {
        ValidateError { message: message.into(), unsupported: false }
    }

    /// `feature` names what is not supported; the message reads "<feature> not yet supported".
    pub(crate) fn unsupported(feature: impl fmt::Display) -> ValidateError {
        ValidateError { message: format!("{feature} not yet supported"), unsupported: true }
    }

    /// True when the query uses reserved syntax the engine does not implement, rather than
    /// being wrong.
    pub fn is_unsupported(&self) -> bool {
        self.unsupported
    }

    /// The explanation shown to the user.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidateError {}

/// Why [`compile`](crate::compile) rejected a query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceqlError {
    /// The text is not TraceQL.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The query is well-formed but cannot be evaluated.
    #[error(transparent)]
    Validate(#[from] ValidateError),
}

impl TraceqlError {
    /// True for reserved syntax the engine does not implement yet.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, TraceqlError::Validate(e) if e.is_unsupported())
    }
}
