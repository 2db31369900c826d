//! What a query needs from storage: the fields to read, the conditions storage may use to skip
//! data, and the per-span filter (Tempo's `extractConditions` in `ast_conditions.go`).

use std::sync::Arc;

use super::eval::Expr;
use crate::ast::{
    FieldExpr, LogicalOp, MetricsExpr, MetricsFunction, MetricsPipeline, Pipeline, Query, QueryExpr, ScalarExpr,
    SpansetExpr, Stage, Static,
};
use crate::data::Value;
use crate::fetch::{CompareOp, Condition, FetchSpansRequest, SpanFilter};
use crate::field::{FieldRef, Intrinsic};

impl Query {
    /// What storage must read for this query between two times (Unix nanoseconds, 0 for no
    /// bound), and what it may skip.
    pub fn fetch_request(&self, start_unix_nano: u64, end_unix_nano: u64) -> FetchSpansRequest {
        let mut collector = Collector::default();
        collector.query(self);
        let mut conditions = collector.conditions;
        if collector.structural {
            // Relations are decided on nested set numbers, which storage reads only on request.
            for intrinsic in [Intrinsic::NestedSetLeft, Intrinsic::NestedSetRight, Intrinsic::NestedSetParent] {
                let field = FieldRef::Intrinsic(intrinsic);
                if !conditions.iter().any(|c| c.field == field) {
                    conditions.push(Condition::read(field));
                }
            }
        }
        FetchSpansRequest {
            start_unix_nano,
            end_unix_nano,
            conditions,
            all_conditions: all_conditions(self),
            span_filter: span_filter(self),
        }
    }
}

/// Every field the query reads, in the order it reads them (repeats included).
pub(crate) fn fields_read(query: &Query) -> Vec<FieldRef> {
    let mut collector = Collector::default();
    collector.query(query);
    collector.conditions.into_iter().map(|c| c.field).collect()
}

/// Walks a query collecting conditions.
#[derive(Default)]
struct Collector {
    conditions: Vec<Condition>,
    /// A structural spanset operator appears somewhere.
    structural: bool,
}

impl Collector {
    fn query(&mut self, query: &Query) {
        match &query.expr {
            QueryExpr::Search(pipeline) => self.pipeline(pipeline),
            QueryExpr::Metrics(metrics) => self.metrics(&metrics.expr),
        }
    }

    fn metrics(&mut self, expr: &MetricsExpr) {
        match expr {
            MetricsExpr::Pipeline(leaf) => {
                self.pipeline(&leaf.pipeline);
                if let MetricsFunction::Compare { selection, .. } = &leaf.function {
                    self.filter(selection);
                }
                for field in leaf.function.field().into_iter().chain(leaf.function.by()) {
                    self.read(field);
                }
            }
            MetricsExpr::Binary { lhs, rhs, .. } => {
                self.metrics(lhs);
                self.metrics(rhs);
            }
            MetricsExpr::Scalar { expr, .. } => self.metrics(expr),
        }
    }

    fn pipeline(&mut self, pipeline: &Pipeline) {
        for stage in &pipeline.stages {
            match stage {
                Stage::Spanset(expr) => self.spanset(expr),
                Stage::ScalarFilter(filter) => {
                    self.scalar(&filter.lhs);
                    self.scalar(&filter.rhs);
                }
                Stage::By(expr) => self.read_all(expr),
                Stage::Coalesce => {}
                Stage::Select(fields) => fields.iter().for_each(|field| self.read(field)),
            }
        }
    }

    fn spanset(&mut self, expr: &SpansetExpr) {
        match expr {
            SpansetExpr::Filter(filter) => self.filter(filter),
            SpansetExpr::Op { op, lhs, rhs } => {
                self.structural |= !op.is_logical();
                self.spanset(lhs);
                self.spanset(rhs);
            }
            SpansetExpr::Pipeline(pipeline) => self.pipeline(pipeline),
        }
    }

    fn scalar(&mut self, expr: &ScalarExpr) {
        match expr {
            ScalarExpr::Static(_) => {}
            ScalarExpr::Aggregate(aggregate) => aggregate.expr.iter().for_each(|e| self.read_all(e)),
            ScalarExpr::Arith { lhs, rhs, .. } => {
                self.scalar(lhs);
                self.scalar(rhs);
            }
            ScalarExpr::Pipeline { pipeline, aggregate } => {
                self.pipeline(pipeline);
                aggregate.expr.iter().for_each(|e| self.read_all(e));
            }
        }
    }

    /// A filter expression: fields compared with literals carry the comparison.
    fn filter(&mut self, expr: &FieldExpr) {
        match expr {
            FieldExpr::Compare { op, lhs, rhs } => match (&**lhs, &**rhs) {
                (FieldExpr::Field(field), FieldExpr::Static(value)) => {
                    self.compared(field, *op, vec![value.to_value()])
                }
                (FieldExpr::Static(value), FieldExpr::Field(field)) => match flip(*op) {
                    Some(op) => self.compared(field, op, vec![value.to_value()]),
                    None => self.read(field),
                },
                _ => {
                    self.filter(lhs);
                    self.filter(rhs);
                }
            },
            FieldExpr::Logical { op: LogicalOp::Or, .. } if let Some((field, values)) = same_field_equalities(expr) => {
                self.compared(field, CompareOp::Eq, values);
            }
            FieldExpr::Logical { lhs, rhs, .. } => {
                self.filter(lhs);
                self.filter(rhs);
            }
            FieldExpr::Field(field) => self.read(field),
            FieldExpr::Static(_) => {}
            // Under `!`, arithmetic and existence tests a comparison says nothing storage can use.
            FieldExpr::Not(_)
            | FieldExpr::Neg(_)
            | FieldExpr::Arith { .. }
            | FieldExpr::Exists(_)
            | FieldExpr::NotExists(_) => self.read_all(expr),
        }
    }

    /// Every field in `expr`, to read only.
    fn read_all(&mut self, expr: &FieldExpr) {
        match expr {
            FieldExpr::Static(_) => {}
            FieldExpr::Field(field) => self.read(field),
            FieldExpr::Arith { lhs, rhs, .. }
            | FieldExpr::Compare { lhs, rhs, .. }
            | FieldExpr::Logical { lhs, rhs, .. } => {
                self.read_all(lhs);
                self.read_all(rhs);
            }
            FieldExpr::Not(e) | FieldExpr::Neg(e) | FieldExpr::Exists(e) | FieldExpr::NotExists(e) => self.read_all(e),
        }
    }

    fn read(&mut self, field: &FieldRef) {
        self.conditions.push(Condition::read(field.clone()));
    }

    fn compared(&mut self, field: &FieldRef, op: CompareOp, operands: Vec<Value>) {
        self.conditions.push(Condition { field: field.clone(), op: Some(op), operands });
    }
}

/// The operator with its operands swapped: `1 < .a` is `.a > 1`. `None` for regexes, whose
/// pattern must be on the right.
fn flip(op: CompareOp) -> Option<CompareOp> {
    Some(match op {
        CompareOp::Eq | CompareOp::NotEq => op,
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::LtEq => CompareOp::GtEq,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::GtEq => CompareOp::LtEq,
        CompareOp::Regex | CompareOp::NotRegex => return None,
    })
}

/// `f = a || f = b || ...` on one field: the field and its values (Tempo's IN rewrite).
fn same_field_equalities(expr: &FieldExpr) -> Option<(&FieldRef, Vec<Value>)> {
    fn walk<'a>(expr: &'a FieldExpr, field: &mut Option<&'a FieldRef>, values: &mut Vec<Value>) -> bool {
        match expr {
            FieldExpr::Logical { op: LogicalOp::Or, lhs, rhs } => walk(lhs, field, values) && walk(rhs, field, values),
            FieldExpr::Compare { op: CompareOp::Eq, lhs, rhs } => {
                let (f, value) = match (&**lhs, &**rhs) {
                    (FieldExpr::Field(f), FieldExpr::Static(v)) | (FieldExpr::Static(v), FieldExpr::Field(f)) => (f, v),
                    _ => return false,
                };
                if field.is_some_and(|seen| seen != f) {
                    return false;
                }
                *field = Some(f);
                values.push(value.to_value());
                true
            }
            _ => false,
        }
    }
    let mut field = None;
    let mut values = Vec::new();
    (walk(expr, &mut field, &mut values)).then_some(())?;
    Some((field?, values))
}

/// True when a span can only take part in a result if it satisfies every condition with an
/// op: a single filter (optionally followed by `select()`), or a metrics pipeline of one filter,
/// that is a conjunction of fields compared with literals.
fn all_conditions(query: &Query) -> bool {
    let pipeline = match &query.expr {
        QueryExpr::Search(pipeline) => pipeline,
        QueryExpr::Metrics(metrics) => match &metrics.expr {
            MetricsExpr::Pipeline(leaf) if !matches!(leaf.function, MetricsFunction::Compare { .. }) => &leaf.pipeline,
            _ => return false,
        },
    };
    let mut stages = pipeline.stages.iter();
    let Some(Stage::Spanset(SpansetExpr::Filter(filter))) = stages.next() else { return false };
    stages.all(|stage| matches!(stage, Stage::Select(_))) && is_simple_conjunction(filter)
}

fn is_simple_conjunction(expr: &FieldExpr) -> bool {
    match expr {
        FieldExpr::Static(Static::Bool(true)) => true,
        FieldExpr::Logical { op: LogicalOp::And, lhs, rhs } => is_simple_conjunction(lhs) && is_simple_conjunction(rhs),
        FieldExpr::Compare { op, lhs, rhs } => match (&**lhs, &**rhs) {
            (FieldExpr::Field(_), FieldExpr::Static(_)) => true,
            (FieldExpr::Static(_), FieldExpr::Field(_)) => flip(*op).is_some(),
            _ => false,
        },
        // Existence tests become read-only conditions, which constrain nothing.
        FieldExpr::Exists(e) | FieldExpr::NotExists(e) => matches!(**e, FieldExpr::Field(_)),
        _ => false,
    }
}

/// Keeps a span iff a first-stage filter of some pipeline in the query holds for it: later
/// stages only see what first stages kept, and spanset operators relate the spans their sides
/// matched through nested set numbers, which every span carries.
fn span_filter(query: &Query) -> SpanFilter {
    let mut filters: Vec<&FieldExpr> = Vec::new();
    let bounded = match &query.expr {
        QueryExpr::Search(pipeline) => first_filters(pipeline, &mut filters),
        QueryExpr::Metrics(metrics) => metrics_filters(&metrics.expr, &mut filters),
    };
    if !bounded {
        return SpanFilter::keep_all();
    }
    let mut exprs: Vec<Expr> = Vec::new();
    let mut seen: Vec<&FieldExpr> = Vec::new();
    for filter in filters {
        if seen.contains(&filter) {
            continue;
        }
        seen.push(filter);
        let expr = Expr::new(filter);
        if expr.is_always_true() {
            return SpanFilter::keep_all();
        }
        exprs.push(expr);
    }
    let exprs: Arc<[Expr]> = exprs.into();
    SpanFilter::new(move |trace, span| exprs.iter().any(|expr| expr.test(trace, span)))
}

/// Collects the filters of the pipeline's first stage; false when that stage is not made of
/// filters (so every span may matter).
fn first_filters<'a>(pipeline: &'a Pipeline, out: &mut Vec<&'a FieldExpr>) -> bool {
    match pipeline.stages.first() {
        Some(Stage::Spanset(expr)) => spanset_filters(expr, out),
        _ => false,
    }
}

fn spanset_filters<'a>(expr: &'a SpansetExpr, out: &mut Vec<&'a FieldExpr>) -> bool {
    match expr {
        SpansetExpr::Filter(filter) => {
            out.push(filter);
            true
        }
        SpansetExpr::Op { lhs, rhs, .. } => spanset_filters(lhs, out) && spanset_filters(rhs, out),
        SpansetExpr::Pipeline(pipeline) => first_filters(pipeline, out),
    }
}

/// `compare()` looks at every span (its baseline is the rest of the trace).
fn metrics_filters<'a>(expr: &'a MetricsExpr, out: &mut Vec<&'a FieldExpr>) -> bool {
    match expr {
        MetricsExpr::Pipeline(leaf) => {
            let MetricsPipeline { pipeline, function, .. } = &**leaf;
            !matches!(function, MetricsFunction::Compare { .. }) && first_filters(pipeline, out)
        }
        MetricsExpr::Binary { lhs, rhs, .. } => metrics_filters(lhs, out) && metrics_filters(rhs, out),
        MetricsExpr::Scalar { expr, .. } => metrics_filters(expr, out),
    }
}
