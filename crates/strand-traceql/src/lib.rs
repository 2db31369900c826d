//! TraceQL: Grafana Tempo's trace query language.
//!
//! - `token`, `lexer`, `parser`, `parser_stage`: query text to a [`Query`] ([`parse`], [`parse_identifier`]);
//!   `print` turns a [`Query`] back into canonical text (its `Display`).
//! - `ast`: the syntax tree; `types`: static types and constant folding; `validate`: the
//!   semantic checks ([`Query::validate`], [`compile`]); `error`: what goes wrong.
//! - `field`, `data`: what a query refers to, and the spans storage hands the engine.
//! - `fetch`: the [`SpansetFetcher`] seam that storage implements, and the [`FetchSpansRequest`]
//!   that tells it what to read and what it may skip.
//!
//! It owns no IO and no storage format: blocks and live traces implement the fetcher elsewhere.
#![warn(missing_docs)]

mod ast;
mod data;
mod duration;
mod engine;
mod error;
mod fetch;
mod field;
mod lexer;
mod parser;
mod parser_stage;
mod print;
mod result;
mod token;
mod types;
mod validate;

pub use ast::{
    Aggregate, AggregateOp, ArithOp, FieldExpr, Hint, LogicalOp, MAX_DEPTH, MetricsExpr, MetricsFunction,
    MetricsPipeline, MetricsQuery, OverTimeOp, Pipeline, Query, QueryExpr, ScalarExpr, ScalarFilter, SecondStage,
    SpansetExpr, SpansetOp, Stage, Static,
};
pub use data::{Attribute, Event, Instrumentation, Kind, Link, Span, Status, Trace, Value, find_attribute};
pub use engine::{SearchOutcome, search};
pub use error::{ParseError, TraceqlError, ValidateError};
pub use fetch::{CompareOp, Condition, FetchSpansRequest, FetchStats, SpanFilter, SpansetFetcher};
pub use field::{AttributeScope, FieldRef, Intrinsic};
pub use parser::{parse, parse_identifier};
pub use result::{
    MatchedSpan, MatchedSpanset, ROOT_SPAN_NOT_YET_RECEIVED, TraceMatch, go_duration, search_metadata, trace_id_hex,
};
pub use types::compile_regex;
pub use validate::compile;
