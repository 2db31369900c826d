//! Pipelines over the spansets of one trace.
//!
//! A trace enters as one spanset holding all its spans; each stage maps the list of spansets to
//! a new one (`ast_execute.go` in Tempo): filters keep spans, spanset operators combine what
//! their sides find in the same input spanset, scalar filters keep spansets by an aggregate,
//! `by()` splits, `coalesce()` merges. A spanset never ends up empty: one that loses all its
//! spans is dropped.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use super::eval::Expr;
use super::structural::{merge, relate};
use super::value::{IdStyle, Val, arith, compare};
use crate::ast::{AggregateOp, ArithOp, Pipeline, ScalarExpr, ScalarFilter, SpansetExpr, SpansetOp, Stage};
use crate::data::{Attribute, Kind, Status, Trace, Value};
use crate::fetch::CompareOp;

/// A spanset during evaluation: indexes into [`Trace::spans`], sorted and distinct.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Set {
    pub(crate) spans: Vec<usize>,
    /// `by()` values and aggregate results, in the order they were added.
    pub(crate) attributes: Vec<Attribute>,
}

impl Set {
    fn with_spans(&self, spans: Vec<usize>) -> Option<Set> {
        (!spans.is_empty()).then(|| Set { spans, attributes: self.attributes.clone() })
    }
}

/// Sets or replaces a spanset attribute. Tempo appends, which repeats a key when a pipeline
/// computes the same aggregate twice; the later value is the one that held.
fn set_attribute(attributes: &mut Vec<Attribute>, key: &Arc<str>, value: Value) {
    match attributes.iter_mut().find(|a| a.key == *key) {
        Some(existing) => existing.value = value,
        None => attributes.push(Attribute { key: key.clone(), value }),
    }
}

/// A compiled [`Pipeline`].
#[derive(Debug)]
pub(crate) struct PipelinePlan {
    stages: Vec<StagePlan>,
}

#[derive(Debug)]
enum StagePlan {
    Spanset(SetPlan),
    Scalar(ScalarFilterPlan),
    By {
        key: Arc<str>,
        expr: Expr,
    },
    Coalesce,
    /// `select()` changes no spanset: its fields are among those results show per span.
    Select,
}

#[derive(Debug)]
enum SetPlan {
    Filter(Expr),
    Op { op: SpansetOp, lhs: Box<SetPlan>, rhs: Box<SetPlan> },
    Pipeline(PipelinePlan),
}

#[derive(Debug)]
struct ScalarFilterPlan {
    op: CompareOp,
    lhs: ScalarPlan,
    rhs: ScalarPlan,
}

#[derive(Debug)]
enum ScalarPlan {
    Const(Value),
    Aggregate {
        op: AggregateOp,
        expr: Option<Expr>,
        /// The name results show it under, as Tempo prints it: `count()`, `avg(duration)`.
        key: Arc<str>,
    },
    Arith {
        op: ArithOp,
        lhs: Box<ScalarPlan>,
        rhs: Box<ScalarPlan>,
    },
    /// `(pipeline | aggregate)` operands, which validation reports as unsupported: never true.
    Unsupported,
}

impl PipelinePlan {
    pub(crate) fn new(pipeline: &Pipeline) -> PipelinePlan {
        PipelinePlan { stages: pipeline.stages.iter().map(StagePlan::new).collect() }
    }

    /// Runs the stages in order; stops early once nothing is left.
    pub(crate) fn run(&self, trace: &Trace, input: Vec<Set>) -> Vec<Set> {
        let mut sets = input;
        for stage in &self.stages {
            if sets.is_empty() {
                break;
            }
            sets = stage.run(trace, sets);
        }
        sets
    }
}

impl StagePlan {
    fn new(stage: &Stage) -> StagePlan {
        match stage {
            Stage::Spanset(expr) => StagePlan::Spanset(SetPlan::new(expr)),
            Stage::ScalarFilter(filter) => StagePlan::Scalar(ScalarFilterPlan::new(filter)),
            Stage::By(expr) => StagePlan::By { key: Arc::from(format!("by({expr})")), expr: Expr::new(expr) },
            Stage::Coalesce => StagePlan::Coalesce,
            Stage::Select(_) => StagePlan::Select,
        }
    }

    fn run(&self, trace: &Trace, sets: Vec<Set>) -> Vec<Set> {
        match self {
            StagePlan::Spanset(plan) => sets.iter().flat_map(|set| plan.eval(trace, set)).collect(),
            StagePlan::Scalar(plan) => sets.iter().filter_map(|set| plan.keep(trace, set)).collect(),
            StagePlan::By { key, expr } => sets.iter().flat_map(|set| group(key, expr, trace, set)).collect(),
            StagePlan::Coalesce => {
                let spans = sets.iter().fold(Vec::new(), |all, set| merge(&all, &set.spans));
                vec![Set { spans, attributes: Vec::new() }]
            }
            StagePlan::Select => sets,
        }
    }
}

impl SetPlan {
    fn new(expr: &SpansetExpr) -> SetPlan {
        match expr {
            SpansetExpr::Filter(filter) => SetPlan::Filter(Expr::new(filter)),
            SpansetExpr::Op { op, lhs, rhs } => {
                SetPlan::Op { op: *op, lhs: Box::new(SetPlan::new(lhs)), rhs: Box::new(SetPlan::new(rhs)) }
            }
            SpansetExpr::Pipeline(pipeline) => SetPlan::Pipeline(PipelinePlan::new(pipeline)),
        }
    }

    /// The spansets this expression makes of one input spanset: at most one, except for a
    /// parenthesized pipeline that groups.
    fn eval(&self, trace: &Trace, set: &Set) -> Vec<Set> {
        match self {
            SetPlan::Filter(expr) if expr.is_always_true() => vec![set.clone()],
            SetPlan::Filter(expr) => {
                let spans = set
                    .spans
                    .iter()
                    .copied()
                    .filter(|&i| trace.spans.get(i).is_some_and(|span| expr.test(trace, span)))
                    .collect();
                set.with_spans(spans).into_iter().collect()
            }
            SetPlan::Op { op, lhs, rhs } => {
                let left = lhs.eval(trace, set);
                let right = rhs.eval(trace, set);
                let spans = match op {
                    SpansetOp::And if left.is_empty() || right.is_empty() => return Vec::new(),
                    SpansetOp::And | SpansetOp::Union => merge(&flatten(&left), &flatten(&right)),
                    _ if right.is_empty() => return Vec::new(),
                    // Tempo refuses operands with several spansets ("consider using
                    // coalesce()"); they are coalesced here instead.
                    _ => relate(*op, &flatten(&left), &flatten(&right), &trace.spans),
                };
                set.with_spans(spans).into_iter().collect()
            }
            SetPlan::Pipeline(pipeline) => pipeline.run(trace, vec![set.clone()]),
        }
    }
}

/// All spans of several spansets, sorted and distinct.
fn flatten(sets: &[Set]) -> Vec<usize> {
    match sets {
        [] => Vec::new(),
        [one] => one.spans.clone(),
        many => many.iter().fold(Vec::new(), |all, set| merge(&all, &set.spans)),
    }
}

impl ScalarFilterPlan {
    fn new(filter: &ScalarFilter) -> ScalarFilterPlan {
        ScalarFilterPlan { op: filter.op, lhs: ScalarPlan::new(&filter.lhs), rhs: ScalarPlan::new(&filter.rhs) }
    }

    /// The spanset, with the aggregates it computed, if the comparison holds.
    fn keep(&self, trace: &Trace, set: &Set) -> Option<Set> {
        let mut attributes = set.attributes.clone();
        let lhs = self.lhs.eval(trace, set, &mut attributes);
        let rhs = self.rhs.eval(trace, set, &mut attributes);
        compare(self.op, Val::of(&lhs), Val::of(&rhs), None).then(|| Set { spans: set.spans.clone(), attributes })
    }
}

impl ScalarPlan {
    fn new(expr: &ScalarExpr) -> ScalarPlan {
        match expr {
            ScalarExpr::Static(value) => ScalarPlan::Const(value.to_value()),
            ScalarExpr::Aggregate(aggregate) => ScalarPlan::Aggregate {
                op: aggregate.op,
                expr: aggregate.expr.as_ref().map(Expr::new),
                key: Arc::from(aggregate.to_string()),
            },
            ScalarExpr::Arith { op, lhs, rhs } => {
                ScalarPlan::Arith { op: *op, lhs: Box::new(ScalarPlan::new(lhs)), rhs: Box::new(ScalarPlan::new(rhs)) }
            }
            ScalarExpr::Pipeline { .. } => ScalarPlan::Unsupported,
        }
    }

    /// The value for one spanset; aggregates are recorded in `attributes` as they are computed.
    fn eval(&self, trace: &Trace, set: &Set, attributes: &mut Vec<Attribute>) -> Value {
        match self {
            ScalarPlan::Const(value) => value.clone(),
            ScalarPlan::Aggregate { op, expr, key } => {
                let value = aggregate(*op, expr.as_ref(), trace, set);
                if !matches!(value, Value::Nil) {
                    set_attribute(attributes, key, value.clone());
                }
                value
            }
            ScalarPlan::Arith { op, lhs, rhs } => {
                let lhs = lhs.eval(trace, set, attributes);
                let rhs = rhs.eval(trace, set, attributes);
                arith(*op, Val::of(&lhs), Val::of(&rhs)).to_value()
            }
            ScalarPlan::Unsupported => Value::Nil,
        }
    }
}

/// `count()` of a spanset, or `avg`/`min`/`max`/`sum` of `expr` over its spans. Spans where
/// `expr` is not a number are skipped; nil when none is left (Tempo then drops the spanset).
fn aggregate(op: AggregateOp, expr: Option<&Expr>, trace: &Trace, set: &Set) -> Value {
    let Some(expr) = expr.filter(|_| op != AggregateOp::Count) else {
        return Value::Int(i64::try_from(set.spans.len()).unwrap_or(i64::MAX));
    };
    let mut acc = Accumulator::default();
    for span in set.spans.iter().filter_map(|&i| trace.spans.get(i)) {
        acc.add(expr.eval(trace, span));
    }
    acc.finish(op)
}

/// Running figures of an aggregate. Ints sum to an int and durations to a duration, as in
/// Tempo; a mix of number types sums as floats.
#[derive(Default)]
struct Accumulator<'a> {
    count: u64,
    int_sum: i64,
    float_sum: f64,
    all_ints: bool,
    all_durations: bool,
    min: Option<Val<'a>>,
    max: Option<Val<'a>>,
}

impl<'a> Accumulator<'a> {
    fn add(&mut self, value: Val<'a>) {
        let Some(number) = value.number() else { return };
        if self.count == 0 {
            self.all_ints = true;
            self.all_durations = true;
        }
        self.count += 1;
        self.all_ints &= matches!(value, Val::Int(_));
        self.all_durations &= matches!(value, Val::Duration(_));
        if let Val::Int(i) | Val::Duration(i) = value {
            self.int_sum = self.int_sum.wrapping_add(i);
        }
        self.float_sum += number;
        if self.min.is_none_or(|min| compare(CompareOp::Lt, value, min, None)) {
            self.min = Some(value);
        }
        if self.max.is_none_or(|max| compare(CompareOp::Gt, value, max, None)) {
            self.max = Some(value);
        }
    }

    fn finish(self, op: AggregateOp) -> Value {
        if self.count == 0 {
            return Value::Nil;
        }
        match op {
            AggregateOp::Count => Value::Int(i64::try_from(self.count).unwrap_or(i64::MAX)),
            AggregateOp::Sum if self.all_ints => Value::Int(self.int_sum),
            AggregateOp::Sum if self.all_durations => Value::Duration(self.int_sum),
            AggregateOp::Sum => Value::Float(self.float_sum),
            AggregateOp::Avg if self.all_durations => {
                Value::Duration(self.int_sum / i64::try_from(self.count).unwrap_or(i64::MAX))
            }
            AggregateOp::Avg => Value::Float(self.float_sum / self.count as f64),
            AggregateOp::Min => self.min.map_or(Value::Nil, Val::to_value),
            AggregateOp::Max => self.max.map_or(Value::Nil, Val::to_value),
        }
    }
}

/// A `by()` value as a map key: equal when type and value are (1 and 1.0 are two groups, as
/// in Tempo). Nil is a group of its own.
#[derive(Clone, PartialEq, Eq, Hash)]
enum GroupKey<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(&'a str),
    Id(&'a [u8], bool),
    Duration(i64),
    Status(Status),
    Kind(Kind),
    Array(String),
}

impl<'a> GroupKey<'a> {
    fn of(value: Val<'a>) -> GroupKey<'a> {
        match value {
            Val::Nil => GroupKey::Nil,
            Val::Bool(b) => GroupKey::Bool(b),
            Val::Int(i) => GroupKey::Int(i),
            // -0.0 and 0.0 are one group.
            Val::Float(f) => GroupKey::Float(if f == 0.0 { 0 } else { f.to_bits() }),
            Val::Str(s) => GroupKey::Str(s),
            Val::Id(bytes, style) => GroupKey::Id(bytes, style == IdStyle::Trace),
            Val::Duration(d) => GroupKey::Duration(d),
            Val::Status(s) => GroupKey::Status(s),
            Val::Kind(k) => GroupKey::Kind(k),
            Val::Array(items) => GroupKey::Array(format!("{items:?}")),
        }
    }
}

/// Splits a spanset by the value of `expr` on each span, groups in order of first appearance.
/// Each group keeps the spanset's attributes and adds `by(expr)` = its value.
fn group(key: &Arc<str>, expr: &Expr, trace: &Trace, set: &Set) -> Vec<Set> {
    let mut index: HashMap<GroupKey<'_>, usize> = HashMap::new();
    let mut groups: Vec<(Val<'_>, Vec<usize>)> = Vec::new();
    for &i in &set.spans {
        let Some(span) = trace.spans.get(i) else { continue };
        let value = expr.eval(trace, span);
        match index.entry(GroupKey::of(value)) {
            Entry::Occupied(slot) => {
                if let Some((_, spans)) = groups.get_mut(*slot.get()) {
                    spans.push(i);
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(groups.len());
                groups.push((value, vec![i]));
            }
        }
    }
    groups
        .into_iter()
        .map(|(value, spans)| {
            let mut attributes = set.attributes.clone();
            set_attribute(&mut attributes, key, value.to_value());
            Set { spans, attributes }
        })
        .collect()
}
