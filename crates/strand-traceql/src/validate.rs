//! Semantic checks on a parsed query: types, regexes, what aggregates and groupings read, and
//! the reserved syntax the engine does not evaluate yet.
//!
//! The checks and their order follow Tempo, so that the same queries are rejected the same way;
//! messages name the offending part in canonical TraceQL.

use crate::ast::{
    Aggregate, FieldExpr, MetricsExpr, MetricsFunction, MetricsPipeline, MetricsQuery, OverTimeOp, Pipeline, Query,
    QueryExpr, ScalarExpr, ScalarFilter, SecondStage, SpansetExpr, Stage, Static,
};
use crate::error::{TraceqlError, ValidateError};
use crate::fetch::CompareOp;
use crate::field::{AttributeScope, FieldRef, Intrinsic};
use crate::parser::parse;
use crate::types::{
    BinOp, StaticType, aggregate_type, compile_regex, field_expr_type, scalar_expr_type, unary_accepts,
};

/// More `by()` fields than this is unsupported (one fewer for functions that add a bucket label).
const MAX_GROUP_BYS: usize = 5;
/// The most values `compare()` may return per attribute.
const MAX_COMPARE_TOP_N: i64 = 1000;

/// Parses and validates `query`: what the query APIs accept.
pub fn compile(query: &str) -> Result<Query, TraceqlError> {
    let query = parse(query)?;
    query.validate()?;
    Ok(query)
}

impl Query {
    /// Checks that the query means something the engine can evaluate.
    pub fn validate(&self) -> Result<(), ValidateError> {
        match &self.expr {
            QueryExpr::Search(pipeline) => pipeline_ok(pipeline),
            QueryExpr::Metrics(metrics) => metrics_ok(metrics),
        }
    }
}

fn pipeline_ok(pipeline: &Pipeline) -> Result<(), ValidateError> {
    pipeline.stages.iter().try_for_each(stage_ok)
}

fn stage_ok(stage: &Stage) -> Result<(), ValidateError> {
    match stage {
        Stage::Spanset(expr) => spanset_ok(expr),
        Stage::ScalarFilter(filter) => scalar_filter_ok(filter),
        Stage::By(expr) => {
            if !expr.references_span() {
                return Err(ValidateError::invalid(format!(
                    "grouping field expressions must reference the span: {stage}"
                )));
            }
            field_ok(expr)
        }
        Stage::Coalesce => Ok(()),
        Stage::Select(fields) => fields.iter().try_for_each(field_ref_ok),
    }
}

fn spanset_ok(expr: &SpansetExpr) -> Result<(), ValidateError> {
    match expr {
        SpansetExpr::Filter(filter) => filter_ok(filter),
        SpansetExpr::Op { lhs, rhs, .. } => {
            spanset_ok(lhs)?;
            spanset_ok(rhs)
        }
        SpansetExpr::Pipeline(pipeline) => pipeline_ok(pipeline),
    }
}

/// The expression of `{ expr }`: valid, and a boolean (or an attribute that may be one).
fn filter_ok(expr: &FieldExpr) -> Result<(), ValidateError> {
    field_ok(expr)?;
    match field_expr_type(expr) {
        StaticType::Attribute | StaticType::Boolean => Ok(()),
        _ => Err(ValidateError::invalid(format!(
            "span filter field expressions must resolve to a boolean: {{ {expr} }}"
        ))),
    }
}

fn scalar_filter_ok(filter: &ScalarFilter) -> Result<(), ValidateError> {
    scalar_ok(&filter.lhs)?;
    scalar_ok(&filter.rhs)?;
    BinOp::Compare(filter.op)
        .check(scalar_expr_type(&filter.lhs), scalar_expr_type(&filter.rhs))
        .map_err(|why| ValidateError::invalid(format!("{why}: {filter}")))?;
    if !matches!(filter.lhs, ScalarExpr::Aggregate(_)) {
        return Err(ValidateError::unsupported(format!("scalar filter with {} on the left", filter.lhs)));
    }
    if !matches!(filter.rhs, ScalarExpr::Static(_)) {
        return Err(ValidateError::unsupported(format!("scalar filter with {} on the right", filter.rhs)));
    }
    Ok(())
}

fn scalar_ok(expr: &ScalarExpr) -> Result<(), ValidateError> {
    match expr {
        ScalarExpr::Static(_) => Ok(()),
        ScalarExpr::Aggregate(aggregate) => aggregate_ok(aggregate),
        ScalarExpr::Arith { op, lhs, rhs } => {
            scalar_ok(lhs)?;
            scalar_ok(rhs)?;
            BinOp::Arith(*op)
                .check(scalar_expr_type(lhs), scalar_expr_type(rhs))
                .map_err(|why| ValidateError::invalid(format!("{why}: {expr}")))
        }
        ScalarExpr::Pipeline { pipeline, aggregate } => {
            pipeline_ok(pipeline)?;
            aggregate_ok(aggregate)
        }
    }
}

fn aggregate_ok(aggregate: &Aggregate) -> Result<(), ValidateError> {
    let Some(expr) = &aggregate.expr else { return Ok(()) };
    field_ok(expr)?;
    let t = aggregate_type(aggregate);
    if t != StaticType::Attribute && !t.is_numeric() {
        return Err(ValidateError::invalid(format!(
            "aggregate field expressions must resolve to a number type: {aggregate}"
        )));
    }
    if !expr.references_span() {
        return Err(ValidateError::invalid(format!(
            "aggregate field expressions must reference the span: {aggregate}"
        )));
    }
    Ok(())
}

// These functions recurse once per level of the tree, so they keep their frames small and
// leave building messages to functions that do not recurse.
fn field_ok(expr: &FieldExpr) -> Result<(), ValidateError> {
    match expr {
        FieldExpr::Static(_) => Ok(()),
        FieldExpr::Field(field) => field_ref_ok(field),
        FieldExpr::Arith { op, lhs, rhs } => binary_ok(expr, BinOp::Arith(*op), lhs, rhs),
        FieldExpr::Logical { op, lhs, rhs } => binary_ok(expr, BinOp::Logical(*op), lhs, rhs),
        FieldExpr::Compare { op, lhs, rhs } => {
            binary_ok(expr, BinOp::Compare(*op), lhs, rhs)?;
            regex_ok(*op, rhs)
        }
        FieldExpr::Neg(operand) | FieldExpr::Not(operand) => {
            field_ok(operand)?;
            unary_ok(expr, operand)
        }
        FieldExpr::Exists(operand) => field_ok(operand),
        FieldExpr::NotExists(operand) => {
            field_ok(operand)?;
            not_exists_ok(operand)
        }
    }
}

fn binary_ok(expr: &FieldExpr, op: BinOp, lhs: &FieldExpr, rhs: &FieldExpr) -> Result<(), ValidateError> {
    field_ok(lhs)?;
    field_ok(rhs)?;
    binary_types_ok(expr, op, lhs, rhs)
}

#[inline(never)]
fn binary_types_ok(expr: &FieldExpr, op: BinOp, lhs: &FieldExpr, rhs: &FieldExpr) -> Result<(), ValidateError> {
    op.check(field_expr_type(lhs), field_expr_type(rhs)).map_err(|why| ValidateError::invalid(format!("{why}: {expr}")))
}

/// The right side of `=~` and `!~` is a pattern that compiles.
#[inline(never)]
fn regex_ok(op: CompareOp, rhs: &FieldExpr) -> Result<(), ValidateError> {
    if !matches!(op, CompareOp::Regex | CompareOp::NotRegex) {
        return Ok(());
    }
    let FieldExpr::Static(Static::Str(pattern)) = rhs else {
        return Err(ValidateError::invalid(format!("invalid type for =~ or !~: {rhs}")));
    };
    compile_regex(pattern).map(|_| ()).map_err(|_| ValidateError::invalid(format!("invalid regex: {rhs}")))
}

#[inline(never)]
fn unary_ok(expr: &FieldExpr, operand: &FieldExpr) -> Result<(), ValidateError> {
    if unary_accepts(matches!(expr, FieldExpr::Neg(_)), field_expr_type(operand)) {
        Ok(())
    } else {
        Err(ValidateError::invalid(format!("illegal operation for the given type: {expr}")))
    }
}

/// Intrinsics and `resource.service.name` are never missing, so `= nil` on them is a mistake.
#[inline(never)]
fn not_exists_ok(operand: &FieldExpr) -> Result<(), ValidateError> {
    match operand {
        FieldExpr::Field(field @ FieldRef::Intrinsic(_)) => {
            Err(ValidateError::invalid(format!("{field} = nil is not valid because intrinsics cannot be nil")))
        }
        FieldExpr::Field(FieldRef::Attribute { scope: AttributeScope::Resource, name }) if name == "service.name" => {
            Err(ValidateError::invalid(
                "resource.service.name = nil is not valid because resource.service.name cannot be nil",
            ))
        }
        _ => Ok(()),
    }
}

fn field_ref_ok(field: &FieldRef) -> Result<(), ValidateError> {
    match field {
        FieldRef::Attribute { scope: AttributeScope::Parent, .. } => Err(ValidateError::unsupported("parent")),
        FieldRef::Intrinsic(Intrinsic::Parent) => Err(ValidateError::unsupported("intrinsic (parent)")),
        _ => Ok(()),
    }
}

// --- Metrics ----------------------------------------------------------------------------------

fn leaves<'a>(expr: &'a MetricsExpr, out: &mut Vec<&'a MetricsPipeline>) {
    match expr {
        MetricsExpr::Pipeline(leaf) => out.push(leaf),
        MetricsExpr::Binary { lhs, rhs, .. } => {
            leaves(lhs, out);
            leaves(rhs, out);
        }
        MetricsExpr::Scalar { expr, .. } => leaves(expr, out),
    }
}

fn metrics_ok(metrics: &MetricsQuery) -> Result<(), ValidateError> {
    let mut all = Vec::new();
    leaves(&metrics.expr, &mut all);
    for leaf in &all {
        pipeline_ok(&leaf.pipeline)?;
    }
    for leaf in &all {
        function_ok(&leaf.function)?;
    }
    for leaf in &all {
        leaf.second_stage.iter().try_for_each(second_stage_ok)?;
    }
    metrics.second_stage.iter().try_for_each(second_stage_ok)?;

    let uses_compare = all.iter().any(|leaf| matches!(leaf.function, MetricsFunction::Compare { .. }));
    let plain = match &metrics.expr {
        MetricsExpr::Pipeline(leaf) => leaf.second_stage.is_empty() && metrics.second_stage.is_empty(),
        _ => false,
    };
    if uses_compare && !plain {
        return Err(ValidateError::invalid("`compare()` cannot be used with second stage functions"));
    }
    Ok(())
}

fn second_stage_ok(stage: &SecondStage) -> Result<(), ValidateError> {
    match stage {
        SecondStage::TopK(limit) | SecondStage::BottomK(limit) if *limit <= 0 => {
            Err(ValidateError::invalid("limit must be greater than 0"))
        }
        _ => Ok(()),
    }
}

fn function_ok(function: &MetricsFunction) -> Result<(), ValidateError> {
    let by = function.by();
    // Histograms and quantiles add a bucket label, and Tempo counts avg_over_time the same way.
    let adds_label = matches!(
        function,
        MetricsFunction::QuantileOverTime { .. }
            | MetricsFunction::OverTime { op: OverTimeOp::Histogram | OverTimeOp::Avg, .. }
    );
    let limit = if adds_label { MAX_GROUP_BYS - 1 } else { MAX_GROUP_BYS };
    if by.len() > limit {
        return Err(ValidateError::unsupported(format!("metrics group by {} values", by.len())));
    }
    function.field().into_iter().chain(by).try_for_each(field_ref_ok)?;
    match function {
        MetricsFunction::QuantileOverTime { quantiles, .. } => {
            if let Some(q) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                return Err(ValidateError::invalid(format!("quantile must be between 0 and 1: {q}")));
            }
            Ok(())
        }
        MetricsFunction::Compare { selection, top_n, start, end } => {
            filter_ok(selection)?;
            if *top_n <= 0 || *top_n > MAX_COMPARE_TOP_N {
                return Err(ValidateError::invalid(format!(
                    "compare() top number of values must be an integer between 1 and {MAX_COMPARE_TOP_N}"
                )));
            }
            if *start == 0 && *end == 0 {
                return Ok(());
            }
            if *start <= 0 || *end <= 0 {
                return Err(ValidateError::invalid("compare() timestamps must be positive integer unix nanoseconds"));
            }
            if end <= start {
                return Err(ValidateError::invalid("compare() end timestamp must be greater than start timestamp"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
