//! The seam between the engine and storage.
//!
//! The engine compiles a query into a [`FetchSpansRequest`]: which fields to read, which
//! conditions storage may use to skip data, and a per-span filter. Storage (a block, the
//! ingester's live traces) implements [`SpansetFetcher`] and hands back [`Trace`]s, one at a
//! time, in any order. The engine then evaluates the query on each trace.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::data::{Span, Trace, Value};
use crate::field::FieldRef;

/// A comparison TraceQL can push down to storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `=~`, fully anchored.
    Regex,
    /// `!~`, fully anchored.
    NotRegex,
}

impl CompareOp {
    /// The operator as written in TraceQL.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::LtEq => "<=",
            CompareOp::Gt => ">",
            CompareOp::GtEq => ">=",
            CompareOp::Regex => "=~",
            CompareOp::NotRegex => "!~",
        }
    }
}

/// A field the query reads, with the comparison it is used in when that comparison is simple
/// (field against literals).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The field to read.
    pub field: FieldRef,
    /// The comparison, when the field is compared with literals only; `None` when the field is
    /// only needed (select(), by(), arithmetic, existence).
    pub op: Option<CompareOp>,
    /// The literals compared against (one, or several for an `||` of equalities).
    pub operands: Vec<Value>,
}

impl Condition {
    /// A field that is read but not filtered on.
    pub fn read(field: FieldRef) -> Condition {
        Condition { field, op: None, operands: Vec::new() }
    }
}

/// A per-span predicate storage may apply to drop spans that cannot take part in any result.
///
/// It may read the span's fields asked for in the request, and the trace-level fields of the
/// trace (its `spans` may be incomplete while the fetcher is still building it).
#[derive(Clone, Default)]
pub struct SpanFilter(Option<Arc<KeepSpan>>);

type KeepSpan = dyn Fn(&Trace, &Span) -> bool + Send + Sync;

impl SpanFilter {
    /// Keeps every span.
    pub fn keep_all() -> SpanFilter {
        SpanFilter(None)
    }

    /// Keeps the spans for which `keep` is true.
    pub fn new(keep: impl Fn(&Trace, &Span) -> bool + Send + Sync + 'static) -> SpanFilter {
        SpanFilter(Some(Arc::new(keep)))
    }

    /// True when the filter keeps every span, so storage need not evaluate it.
    pub fn keeps_all(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `span` of `trace` may take part in a result.
    pub fn keep(&self, trace: &Trace, span: &Span) -> bool {
        self.0.as_ref().is_none_or(|keep| keep(trace, span))
    }
}

impl fmt::Debug for SpanFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.keeps_all() { "SpanFilter(all)" } else { "SpanFilter(..)" })
    }
}

/// What the engine needs from storage for one query.
#[derive(Clone, Debug, Default)]
pub struct FetchSpansRequest {
    /// Only spans starting at or after this time (Unix nanoseconds) matter; 0 for no bound.
    pub start_unix_nano: u64,
    /// Only spans starting at or before this time (Unix nanoseconds) matter; 0 for no bound.
    pub end_unix_nano: u64,
    /// Every field the query reads. Fields not listed may be left at their defaults.
    pub conditions: Vec<Condition>,
    /// When true, a span can only take part in a result if it satisfies every condition that
    /// has an `op`, so storage may skip row groups, pages and spans where one cannot hold.
    /// When false, conditions only say which fields to read.
    pub all_conditions: bool,
    /// Spans that fail this filter can be dropped before the trace reaches the engine.
    pub span_filter: SpanFilter,
}

impl FetchSpansRequest {
    /// Whether the request reads `field`.
    pub fn reads(&self, field: &FieldRef) -> bool {
        self.conditions.iter().any(|c| &c.field == field)
    }
}

/// What a fetch inspected, for search metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Traces handed to the engine.
    pub inspected_traces: u64,
    /// Spans read (before the span filter).
    pub inspected_spans: u64,
    /// Bytes read from storage or memory.
    pub inspected_bytes: u64,
}

impl FetchStats {
    /// Adds another fetch's figures.
    pub fn add(&mut self, other: FetchStats) {
        self.inspected_traces += other.inspected_traces;
        self.inspected_spans += other.inspected_spans;
        self.inspected_bytes += other.inspected_bytes;
    }
}

/// Storage that can produce traces for a query.
pub trait SpansetFetcher {
    /// What can go wrong reading.
    type Error;

    /// Calls `visit` with every trace that may match `request`, until `visit` breaks.
    fn fetch(
        &mut self,
        request: &FetchSpansRequest,
        visit: &mut dyn FnMut(Trace) -> ControlFlow<()>,
    ) -> Result<FetchStats, Self::Error>;
}
