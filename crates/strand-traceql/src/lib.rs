//! TraceQL: Grafana Tempo's trace query language.
//!
//! - `field`, `data`: what a query refers to, and the spans storage hands the engine.
//! - `fetch`: the [`SpansetFetcher`] seam that storage implements, and the [`FetchSpansRequest`]
//!   that tells it what to read and what it may skip.
//!
//! It owns no IO and no storage format: blocks and live traces implement the fetcher elsewhere.
#![warn(missing_docs)]

mod data;
mod fetch;
mod field;
mod result;

pub use data::{Attribute, Event, Instrumentation, Kind, Link, Span, Status, Trace, Value, find_attribute};
pub use fetch::{CompareOp, Condition, FetchSpansRequest, FetchStats, SpanFilter, SpansetFetcher};
pub use field::{AttributeScope, FieldRef, Intrinsic};
pub use result::{
    MatchedSpan, MatchedSpanset, ROOT_SPAN_NOT_YET_RECEIVED, TraceMatch, go_duration, search_metadata, trace_id_hex,
};
