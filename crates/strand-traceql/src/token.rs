//! The tokens of TraceQL and where they start.

use std::fmt;

use crate::data::{Kind, Status};
use crate::duration::format_duration;
use crate::error::ParseError;
use crate::field::AttributeScope;

/// Where a token starts: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: u32,
    pub(crate) col: u32,
}

impl Pos {
    pub(crate) fn error(self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.line, self.col, message)
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Str(String),
    Int(i64),
    Float(f64),
    Duration(i64),
    /// A bare word that is not a keyword (`minInt`, hint names).
    Ident(String),
    /// A scoped or unscoped attribute. For `parent.span.x` the scope is `Parent` and the name
    /// keeps the sub-scope: `span.x`.
    Attribute {
        scope: AttributeScope,
        name: String,
    },
    /// `trace:`, `span:`, `event:`, `link:`, `instrumentation:`.
    Colon(ColonScope),
    Keyword(Keyword),
    Punct(Punct),
    Eof,
}

/// The scopes of scoped intrinsics (`span:name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColonScope {
    Trace,
    Span,
    Event,
    Link,
    Instrumentation,
}

impl ColonScope {
    fn as_str(self) -> &'static str {
        match self {
            ColonScope::Trace => "trace:",
            ColonScope::Span => "span:",
            ColonScope::Event => "event:",
            ColonScope::Link => "link:",
            ColonScope::Instrumentation => "instrumentation:",
        }
    }
}

macro_rules! keywords {
    ($($variant:ident => $text:literal,)*) => {
        /// The reserved words of TraceQL.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Keyword { $($variant,)* }

        impl Keyword {
            pub(crate) fn from_word(word: &str) -> Option<Keyword> {
                match word { $($text => Some(Keyword::$variant),)* _ => None }
            }

            pub(crate) fn as_str(self) -> &'static str {
                match self { $(Keyword::$variant => $text,)* }
            }
        }
    };
}

keywords! {
    True => "true",
    False => "false",
    Nil => "nil",
    Ok => "ok",
    Error => "error",
    Unset => "unset",
    Unspecified => "unspecified",
    Internal => "internal",
    Server => "server",
    Client => "client",
    Producer => "producer",
    Consumer => "consumer",
    Duration => "duration",
    ChildCount => "childCount",
    Name => "name",
    Status => "status",
    StatusMessage => "statusMessage",
    Kind => "kind",
    RootName => "rootName",
    RootServiceName => "rootServiceName",
    RootService => "rootService",
    TraceDuration => "traceDuration",
    NestedSetLeft => "nestedSetLeft",
    NestedSetRight => "nestedSetRight",
    NestedSetParent => "nestedSetParent",
    Id => "id",
    TraceId => "traceID",
    SpanId => "spanID",
    ParentId => "parentID",
    TimeSinceStart => "timeSinceStart",
    Version => "version",
    Parent => "parent",
    Count => "count",
    Avg => "avg",
    Max => "max",
    Min => "min",
    Sum => "sum",
    By => "by",
    Coalesce => "coalesce",
    Select => "select",
    Rate => "rate",
    CountOverTime => "count_over_time",
    MinOverTime => "min_over_time",
    MaxOverTime => "max_over_time",
    AvgOverTime => "avg_over_time",
    SumOverTime => "sum_over_time",
    QuantileOverTime => "quantile_over_time",
    HistogramOverTime => "histogram_over_time",
    Compare => "compare",
    Topk => "topk",
    Bottomk => "bottomk",
    With => "with",
}

impl Keyword {
    /// The status or kind literal this keyword names, if any.
    pub(crate) fn status(self) -> Option<Status> {
        match self {
            Keyword::Ok => Some(Status::Ok),
            Keyword::Error => Some(Status::Error),
            Keyword::Unset => Some(Status::Unset),
            _ => None,
        }
    }

    pub(crate) fn kind(self) -> Option<Kind> {
        match self {
            Keyword::Unspecified => Some(Kind::Unspecified),
            Keyword::Internal => Some(Kind::Internal),
            Keyword::Server => Some(Kind::Server),
            Keyword::Client => Some(Kind::Client),
            Keyword::Producer => Some(Kind::Producer),
            Keyword::Consumer => Some(Kind::Consumer),
            _ => None,
        }
    }
}

/// Operators and punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Punct {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Eq,
    NotEq,
    Regex,
    /// `!~`: "does not match" in a filter, "not sibling" between spansets.
    NotRegex,
    Gt,
    Gte,
    Lt,
    Lte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    And,
    Or,
    Not,
    Pipe,
    Desc,
    Ance,
    Tilde,
    NotChild,
    NotParent,
    NotDesc,
    NotAnce,
    UnionChild,
    UnionParent,
    UnionDesc,
    UnionAnce,
    UnionSibl,
}

impl Punct {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Punct::LBrace => "{",
            Punct::RBrace => "}",
            Punct::LParen => "(",
            Punct::RParen => ")",
            Punct::Comma => ",",
            Punct::Eq => "=",
            Punct::NotEq => "!=",
            Punct::Regex => "=~",
            Punct::NotRegex => "!~",
            Punct::Gt => ">",
            Punct::Gte => ">=",
            Punct::Lt => "<",
            Punct::Lte => "<=",
            Punct::Add => "+",
            Punct::Sub => "-",
            Punct::Mul => "*",
            Punct::Div => "/",
            Punct::Mod => "%",
            Punct::Pow => "^",
            Punct::And => "&&",
            Punct::Or => "||",
            Punct::Not => "!",
            Punct::Pipe => "|",
            Punct::Desc => ">>",
            Punct::Ance => "<<",
            Punct::Tilde => "~",
            Punct::NotChild => "!>",
            Punct::NotParent => "!<",
            Punct::NotDesc => "!>>",
            Punct::NotAnce => "!<<",
            Punct::UnionChild => "&>",
            Punct::UnionParent => "&<",
            Punct::UnionDesc => "&>>",
            Punct::UnionAnce => "&<<",
            Punct::UnionSibl => "&~",
        }
    }
}

impl fmt::Display for Tok {
    /// How a token is named in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Int(i) => write!(f, "number {i}"),
            Tok::Float(x) => write!(f, "number {x:?}"),
            Tok::Duration(d) => write!(f, "duration {}", format_duration(*d)),
            Tok::Ident(word) => write!(f, "identifier {word:?}"),
            Tok::Attribute { scope, name } => write!(f, "attribute {}{name}", scope.prefix()),
            Tok::Colon(scope) => write!(f, "{:?}", scope.as_str()),
            Tok::Keyword(k) => write!(f, "{:?}", k.as_str()),
            Tok::Punct(p) => write!(f, "{:?}", p.as_str()),
            Tok::Eof => f.write_str("end of query"),
        }
    }
}
