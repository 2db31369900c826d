//! The syntax tree of a TraceQL query, as the parser builds it and the engine walks it.
//!
//! A query is either a search ([`QueryExpr::Search`]: a [`Pipeline`] of stages over the spansets
//! of one trace) or a metrics query ([`QueryExpr::Metrics`]: pipelines feeding
//! `rate()`-style functions, combined by arithmetic and second stages).
//!
//! Literal arithmetic is folded while parsing, with Tempo's int/float rules (`1 / 2` is `0`,
//! `1.0 / 2` is `0.5`), so `{ duration > 1 + 2 }` holds the literal `3`. Printing a tree and
//! parsing the text back gives an identical tree.
//!
//! Nesting is bounded ([`MAX_DEPTH`]), so recursive walks over a parsed tree are safe.

use crate::data::{Kind, Status, Value};
use crate::fetch::CompareOp;
use crate::field::FieldRef;

/// The deepest a parsed tree nests (an `a || b || ...` chain of n terms is n deep). Deeper
/// queries are rejected by the parser. Walking a tree this deep recursively takes about 1 MiB of
/// stack in an unoptimized build (validation), far less optimized.
pub const MAX_DEPTH: usize = 500;

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// What the query computes.
    pub expr: QueryExpr,
    /// `with(name=value, ...)`; empty when absent. A later `with(...)` replaces an earlier one.
    pub hints: Vec<Hint>,
}

impl Query {
    /// True for metrics queries (`{ } | rate()` and friends), which `/api/metrics` answers;
    /// false for searches.
    pub fn is_metrics(&self) -> bool {
        matches!(self.expr, QueryExpr::Metrics(_))
    }

    /// The value of hint `name`, if given.
    pub fn hint(&self, name: &str) -> Option<&Static> {
        self.hints.iter().find(|h| h.name == name).map(|h| &h.value)
    }
}

/// The two kinds of query.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryExpr {
    /// A search: stages applied in order to the spansets of each trace.
    Search(Pipeline),
    /// A metrics query.
    Metrics(MetricsQuery),
}

/// `name=value` inside `with(...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hint {
    /// The hint name, e.g. `sample`, `most_recent`.
    pub name: String,
    /// Its value: a literal (no arithmetic, no sign).
    pub value: Static,
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

/// Stages separated by `|`; each takes the spansets the previous one produced. Never empty.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

/// One stage of a [`Pipeline`].
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// Spanset filters and the operators combining them: `{ a } && { b } >> { c }`.
    Spanset(SpansetExpr),
    /// Keeps the spansets whose aggregate satisfies a comparison: `count() > 3`.
    ScalarFilter(ScalarFilter),
    /// `by(expr)`: splits each spanset by the value of `expr`.
    By(FieldExpr),
    /// `coalesce()`: merges the spansets of a trace back into one. Never the first stage.
    Coalesce,
    /// `select(a, b)`: also returns these fields for the spans that matched.
    Select(Vec<FieldRef>),
}

/// Spanset filters combined by logical and structural operators.
///
/// Operands are either all [`SpansetExpr::Filter`]-rooted (inside one stage: `{ a } && { b }`)
/// or all [`SpansetExpr::Pipeline`]-rooted (parenthesized pipelines combined at the top of a
/// query: `({ a } | count() > 1) && ({ b })`); the parser never mixes the two in one operator.
#[derive(Clone, Debug, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`: keeps the spans for which `expr` is true. `{}` holds `true`.
    Filter(FieldExpr),
    /// `lhs op rhs`.
    Op {
        /// The operator.
        op: SpansetOp,
        /// The left operand.
        lhs: Box<SpansetExpr>,
        /// The right operand.
        rhs: Box<SpansetExpr>,
    },
    /// A parenthesized pipeline used as an operand.
    Pipeline(Pipeline),
}

/// Operators between spansets. `&&` and `||` bind looser than the structural ones; all are
/// left-associative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpansetOp {
    /// `&&`: both sides matched in the trace; returns both.
    And,
    /// `||`: either side; returns the union.
    Union,
    /// `>`: right-hand spans that are children of left-hand spans.
    Child,
    /// `<`: right-hand spans that are parents of left-hand spans.
    Parent,
    /// `>>`: right-hand spans that are descendants of left-hand spans.
    Descendant,
    /// `<<`: right-hand spans that are ancestors of left-hand spans.
    Ancestor,
    /// `~`: right-hand spans that are siblings of left-hand spans.
    Sibling,
    /// `!>`: right-hand spans that are not children of left-hand spans.
    NotChild,
    /// `!<`: right-hand spans that are not parents of left-hand spans.
    NotParent,
    /// `!>>`: right-hand spans that are not descendants of left-hand spans.
    NotDescendant,
    /// `!<<`: right-hand spans that are not ancestors of left-hand spans.
    NotAncestor,
    /// `!~`: right-hand spans that are not siblings of left-hand spans.
    NotSibling,
    /// `&>`: parent-child pairs; returns both sides.
    UnionChild,
    /// `&<`: child-parent pairs; returns both sides.
    UnionParent,
    /// `&>>`: ancestor-descendant pairs; returns both sides.
    UnionDescendant,
    /// `&<<`: descendant-ancestor pairs; returns both sides.
    UnionAncestor,
    /// `&~`: sibling pairs; returns both sides.
    UnionSibling,
}

impl SpansetOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Union => "||",
            SpansetOp::Child => ">",
            SpansetOp::Parent => "<",
            SpansetOp::Descendant => ">>",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionSibling => "&~",
        }
    }

    /// True for `&&` and `||`, which bind looser than the structural operators.
    pub fn is_logical(self) -> bool {
        matches!(self, SpansetOp::And | SpansetOp::Union)
    }
}

/// `lhs op rhs` between aggregates and numbers, e.g. `count() > 3`, `avg(duration) > 1s`.
///
/// The parser guarantees at least one side holds an aggregate; validation accepts only an
/// [`ScalarExpr::Aggregate`] on the left and a [`ScalarExpr::Static`] on the right (anything else
/// is reported as unsupported, as in Tempo).
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarFilter {
    /// One of `=`, `!=`, `<`, `<=`, `>`, `>=`.
    pub op: CompareOp,
    /// The left side.
    pub lhs: ScalarExpr,
    /// The right side.
    pub rhs: ScalarExpr,
}

/// A value computed per spanset.
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarExpr {
    /// A number or duration literal (already folded: `1 - 3` is `-2`).
    Static(Static),
    /// `count()`, `avg(expr)`, ...
    Aggregate(Aggregate),
    /// `lhs op rhs`.
    Arith {
        /// The operator.
        op: ArithOp,
        /// The left operand.
        lhs: Box<ScalarExpr>,
        /// The right operand.
        rhs: Box<ScalarExpr>,
    },
    /// `(pipeline | aggregate)`: a parenthesized pipeline ending in an aggregate. Only at the
    /// top of a query: `({ a } | count()) > ({ b } | count())`.
    Pipeline {
        /// The pipeline before the aggregate.
        pipeline: Pipeline,
        /// The aggregate computed over its output.
        aggregate: Aggregate,
    },
}

/// An aggregate over the spans of a spanset.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// Which aggregate.
    pub op: AggregateOp,
    /// What it aggregates; `None` exactly for `count()`.
    pub expr: Option<FieldExpr>,
}

/// The aggregates of search pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `count()`.
    Count,
    /// `avg(expr)`.
    Avg,
    /// `min(expr)`.
    Min,
    /// `max(expr)`.
    Max,
    /// `sum(expr)`.
    Sum,
}

impl AggregateOp {
    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Count => "count",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Sum => "sum",
        }
    }
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`: integer division when both sides are integers.
    Div,
    /// `%`
    Mod,
    /// `^`, right-associative.
    Pow,
}

impl ArithOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
            ArithOp::Pow => "^",
        }
    }
}

/// `&&` and `||` between booleans, inside a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicalOp {
    /// `&&`
    And,
    /// `||`
    Or,
}

impl LogicalOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LogicalOp::And => "&&",
            LogicalOp::Or => "||",
        }
    }
}

/// An expression evaluated per span: inside `{ }`, in aggregates and in `by()`.
///
/// `&&` and `||` have equal precedence and associate left: `a || b && c` is `(a || b) && c`.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldExpr {
    /// A literal.
    Static(Static),
    /// An intrinsic or attribute of the span.
    Field(FieldRef),
    /// `lhs op rhs`, arithmetic.
    Arith {
        /// The operator.
        op: ArithOp,
        /// The left operand.
        lhs: Box<FieldExpr>,
        /// The right operand.
        rhs: Box<FieldExpr>,
    },
    /// `lhs op rhs`, a comparison. For `=~` and `!~` the right side is a string literal (the
    /// pattern, matched against the whole value) once validated.
    Compare {
        /// The operator.
        op: CompareOp,
        /// The left operand.
        lhs: Box<FieldExpr>,
        /// The right operand.
        rhs: Box<FieldExpr>,
    },
    /// `lhs && rhs`, `lhs || rhs`.
    Logical {
        /// The operator.
        op: LogicalOp,
        /// The left operand.
        lhs: Box<FieldExpr>,
        /// The right operand.
        rhs: Box<FieldExpr>,
    },
    /// `!expr`.
    Not(Box<FieldExpr>),
    /// `-expr`.
    Neg(Box<FieldExpr>),
    /// `expr != nil`: the field is present.
    Exists(Box<FieldExpr>),
    /// `expr = nil`: the field is absent.
    NotExists(Box<FieldExpr>),
}

impl FieldExpr {
    /// True when the expression reads the span (an intrinsic or attribute appears in it).
    pub fn references_span(&self) -> bool {
        match self {
            FieldExpr::Static(_) => false,
            FieldExpr::Field(_) => true,
            FieldExpr::Arith { lhs, rhs, .. }
            | FieldExpr::Compare { lhs, rhs, .. }
            | FieldExpr::Logical { lhs, rhs, .. } => lhs.references_span() || rhs.references_span(),
            FieldExpr::Not(e) | FieldExpr::Neg(e) | FieldExpr::Exists(e) | FieldExpr::NotExists(e) => {
                e.references_span()
            }
        }
    }
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Static {
    /// `true`, `false`.
    Bool(bool),
    /// An integer; `minInt` and `maxInt` name the bounds.
    Int(i64),
    /// A float; always finite.
    Float(f64),
    /// A string.
    Str(String),
    /// A duration in nanoseconds (negative only through `-`).
    Duration(i64),
    /// `ok`, `error`, `unset`.
    Status(Status),
    /// `unspecified`, `internal`, `server`, `client`, `producer`, `consumer`.
    Kind(Kind),
}

impl Static {
    /// The runtime value of this literal.
    pub fn to_value(&self) -> Value {
        match self {
            Static::Bool(b) => Value::Bool(*b),
            Static::Int(i) => Value::Int(*i),
            Static::Float(f) => Value::Float(*f),
            Static::Str(s) => Value::str(s),
            Static::Duration(d) => Value::Duration(*d),
            Static::Status(s) => Value::Status(*s),
            Static::Kind(k) => Value::Kind(*k),
        }
    }

    /// The value as a float, for numbers and durations (in nanoseconds).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Static::Int(i) => Some(*i as f64),
            Static::Float(f) => Some(*f),
            Static::Duration(d) => Some(*d as f64),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/// A metrics query: series computed by [`MetricsExpr`], then `second_stage` applied in order.
///
/// When `expr` is a single [`MetricsExpr::Pipeline`], all second stages live on that pipeline
/// and `second_stage` here is empty, so `{ } | rate() | topk(5)` and `({ } | rate()) | topk(5)`
/// parse to the same tree.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsQuery {
    /// The series.
    pub expr: MetricsExpr,
    /// Applied to the series of `expr`, in order.
    pub second_stage: Vec<SecondStage>,
}

/// Series arithmetic.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricsExpr {
    /// `pipeline | function [second stages]`, parenthesized when combined.
    Pipeline(Box<MetricsPipeline>),
    /// `lhs op rhs` between series, matched by labels. `op` is one of `+ - * /`.
    Binary {
        /// The operator.
        op: ArithOp,
        /// The left operand.
        lhs: Box<MetricsExpr>,
        /// The right operand.
        rhs: Box<MetricsExpr>,
    },
    /// A series and a number: `expr op value` or, when `scalar_on_left`, `value op expr`.
    /// `op` is one of `+ - * /`.
    Scalar {
        /// The operator.
        op: ArithOp,
        /// The number (folded; durations are not allowed here).
        value: f64,
        /// True for `value op expr`.
        scalar_on_left: bool,
        /// The series.
        expr: Box<MetricsExpr>,
    },
}

/// A spanset pipeline turned into series by a metrics function.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsPipeline {
    /// Selects the spans.
    pub pipeline: Pipeline,
    /// Turns them into series.
    pub function: MetricsFunction,
    /// Applied to the function's series, in order.
    pub second_stage: Vec<SecondStage>,
}

/// The first-stage metrics functions.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricsFunction {
    /// `rate() [by (...)]`: spans per second.
    Rate {
        /// Grouping fields.
        by: Vec<FieldRef>,
    },
    /// `count_over_time() [by (...)]`.
    CountOverTime {
        /// Grouping fields.
        by: Vec<FieldRef>,
    },
    /// `min_over_time(field)`, `max_over_time`, `avg_over_time`, `sum_over_time`,
    /// `histogram_over_time`.
    OverTime {
        /// Which function.
        op: OverTimeOp,
        /// The field aggregated.
        field: FieldRef,
        /// Grouping fields.
        by: Vec<FieldRef>,
    },
    /// `quantile_over_time(field, q, ...)`.
    QuantileOverTime {
        /// The field.
        field: FieldRef,
        /// The quantiles, as written (validation requires 0 ≤ q ≤ 1).
        quantiles: Vec<f64>,
        /// Grouping fields.
        by: Vec<FieldRef>,
    },
    /// `compare({ selection }[, top_n[, start, end]])`.
    Compare {
        /// The filter expression of the selection (`{}` holds `true`).
        selection: FieldExpr,
        /// How many values per attribute to return; 10 when not given.
        top_n: i64,
        /// Start of the selection window, Unix nanoseconds; 0 for the whole range.
        start: i64,
        /// End of the selection window, Unix nanoseconds; 0 for the whole range.
        end: i64,
    },
}

/// The metrics functions that aggregate one field over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OverTimeOp {
    /// `min_over_time`.
    Min,
    /// `max_over_time`.
    Max,
    /// `avg_over_time`.
    Avg,
    /// `sum_over_time`.
    Sum,
    /// `histogram_over_time`.
    Histogram,
}

impl OverTimeOp {
    /// The function name.
    pub fn as_str(self) -> &'static str {
        match self {
            OverTimeOp::Min => "min_over_time",
            OverTimeOp::Max => "max_over_time",
            OverTimeOp::Avg => "avg_over_time",
            OverTimeOp::Sum => "sum_over_time",
            OverTimeOp::Histogram => "histogram_over_time",
        }
    }
}

impl MetricsFunction {
    /// The function name.
    pub fn name(&self) -> &'static str {
        match self {
            MetricsFunction::Rate { .. } => "rate",
            MetricsFunction::CountOverTime { .. } => "count_over_time",
            MetricsFunction::OverTime { op, .. } => op.as_str(),
            MetricsFunction::QuantileOverTime { .. } => "quantile_over_time",
            MetricsFunction::Compare { .. } => "compare",
        }
    }

    /// The grouping fields (`by (...)`); empty for `compare()`.
    pub fn by(&self) -> &[FieldRef] {
        match self {
            MetricsFunction::Rate { by }
            | MetricsFunction::CountOverTime { by }
            | MetricsFunction::OverTime { by, .. }
            | MetricsFunction::QuantileOverTime { by, .. } => by,
            MetricsFunction::Compare { .. } => &[],
        }
    }

    /// The field the function aggregates, if any.
    pub fn field(&self) -> Option<&FieldRef> {
        match self {
            MetricsFunction::OverTime { field, .. } | MetricsFunction::QuantileOverTime { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Operations on series after they are computed.
#[derive(Clone, Debug, PartialEq)]
pub enum SecondStage {
    /// `| topk(n)`: the n series with the highest values at each step.
    TopK(i64),
    /// `| bottomk(n)`: the n series with the lowest values at each step.
    BottomK(i64),
    /// `op value`: drops samples for which `sample op value` is false. `op` is one of
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`; a duration literal is stored in seconds.
    Filter {
        /// The comparison.
        op: CompareOp,
        /// The threshold.
        value: f64,
    },
}
