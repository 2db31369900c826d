//! Canonical TraceQL text for a tree: `parse(&query.to_string())` gives back `query`.
//!
//! Parentheses are added only where the parser needs them to rebuild the same tree, so printed
//! text never nests deeper than the text it was parsed from (and stays within the parser's
//! nesting limit). A prefix form (`-x`, `!x`, a negative literal) is parenthesized only when
//! the operator after it would otherwise become part of its operand.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{
    Aggregate, ArithOp, FieldExpr, Hint, MetricsExpr, MetricsFunction, MetricsPipeline, MetricsQuery, Pipeline, Query,
    QueryExpr, ScalarExpr, ScalarFilter, SecondStage, SpansetExpr, Stage, Static,
};
use crate::duration::format_duration;
use crate::field::{AttributeScope, FieldRef};
use crate::lexer::is_attribute_char;
use crate::parser::{PREC_ADD, PREC_COMPARE, PREC_LOGICAL, PREC_MUL, PREC_NOT, PREC_POW};

/// Binding strength of something that never needs parentheses.
const ATOM: u8 = 10;

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            QueryExpr::Search(pipeline) => write!(f, "{pipeline}")?,
            QueryExpr::Metrics(metrics) => write!(f, "{metrics}")?,
        }
        if !self.hints.is_empty() {
            f.write_str(" with(")?;
            for (i, Hint { name, value }) in self.hints.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{name}=")?;
                write_static(f, value)?;
            }
            f.write_char(')')?;
        }
        Ok(())
    }
}

impl Display for Pipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{stage}")?;
        }
        Ok(())
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(expr) => write!(f, "{expr}"),
            Stage::ScalarFilter(filter) => write!(f, "{filter}"),
            Stage::By(expr) => write!(f, "by({expr})"),
            Stage::Coalesce => f.write_str("coalesce()"),
            Stage::Select(fields) => {
                f.write_str("select(")?;
                write_fields(f, fields)?;
                f.write_char(')')
            }
        }
    }
}

fn write_fields(f: &mut Formatter<'_>, fields: &[FieldRef]) -> fmt::Result {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{field}")?;
    }
    Ok(())
}

fn spanset_prec(expr: &SpansetExpr) -> u8 {
    match expr {
        SpansetExpr::Op { op, .. } if op.is_logical() => PREC_LOGICAL,
        SpansetExpr::Op { .. } => PREC_COMPARE,
        SpansetExpr::Filter(_) | SpansetExpr::Pipeline(_) => ATOM,
    }
}

impl Display for SpansetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(expr) => write!(f, "{{ {expr} }}"),
            SpansetExpr::Pipeline(pipeline) => write!(f, "({pipeline})"),
            SpansetExpr::Op { op, lhs, rhs } => {
                let prec = spanset_prec(self);
                write_wrapped(f, lhs, spanset_prec(lhs) < prec)?;
                write!(f, " {} ", op.as_str())?;
                write_wrapped(f, rhs, spanset_prec(rhs) <= prec)
            }
        }
    }
}

fn write_wrapped(f: &mut Formatter<'_>, item: &impl Display, wrap: bool) -> fmt::Result {
    if wrap { write!(f, "({item})") } else { write!(f, "{item}") }
}

fn arith_prec(op: ArithOp) -> u8 {
    match op {
        ArithOp::Add | ArithOp::Sub => PREC_ADD,
        ArithOp::Mul | ArithOp::Div | ArithOp::Mod => PREC_MUL,
        ArithOp::Pow => PREC_POW,
    }
}

/// Whether an operand needs parentheses under a binary operator of precedence `parent`.
fn needs_parens(child: u8, parent: u8, is_rhs: bool) -> bool {
    let right_assoc = parent == PREC_POW;
    if is_rhs {
        child < parent || (child == parent && !right_assoc)
    } else {
        child < parent || (child == parent && right_assoc)
    }
}

// --- Field expressions ------------------------------------------------------------------------

fn is_negative(value: &Static) -> bool {
    match value {
        Static::Int(i) => *i < 0 && *i != i64::MIN,
        Static::Float(x) => x.is_sign_negative(),
        Static::Duration(d) => *d < 0,
        _ => false,
    }
}

/// How tightly a printed field expression binds, for the non-prefix forms.
fn field_prec(expr: &FieldExpr) -> u8 {
    match expr {
        FieldExpr::Static(_) | FieldExpr::Field(_) => ATOM,
        FieldExpr::Arith { op, .. } => arith_prec(*op),
        FieldExpr::Compare { .. } | FieldExpr::Exists(_) | FieldExpr::NotExists(_) => PREC_COMPARE,
        FieldExpr::Logical { .. } => PREC_LOGICAL,
        FieldExpr::Neg(_) => PREC_ADD,
        FieldExpr::Not(_) => PREC_NOT,
    }
}

/// For a prefix form (`-x`, `!x`, a negative literal), the tightest operator that can follow it
/// without being taken into its operand: its operand runs over every operator binding tighter
/// than `+` (for `-`) or than `!` (for `!`).
fn prefix_reach(expr: &FieldExpr) -> Option<u8> {
    match expr {
        FieldExpr::Static(value) if is_negative(value) => Some(PREC_ADD),
        FieldExpr::Neg(_) => Some(PREC_ADD),
        FieldExpr::Not(_) => Some(PREC_NOT),
        _ => None,
    }
}

/// Whether `expr`, printed where the operator of precedence `follower` comes right after it
/// (0 for none), needs parentheses as an operand of an operator of precedence `parent`.
/// A prefix form needs them only if it would take in what follows; anything else by precedence.
fn field_needs_parens(expr: &FieldExpr, parent: u8, is_rhs: bool, follower: u8) -> bool {
    match prefix_reach(expr) {
        Some(reach) => follower > reach,
        None => needs_parens(field_prec(expr), parent, is_rhs),
    }
}

// Field expressions nest deepest (long `||` chains), so their printing calls itself directly
// rather than through `write!`, keeping each level of recursion cheap. `follower` is the
// precedence of the operator printed right after the expression, 0 for none.
fn write_operand(f: &mut Formatter<'_>, expr: &FieldExpr, wrap: bool, follower: u8) -> fmt::Result {
    if wrap {
        f.write_char('(')?;
        write_field(f, expr, 0)?;
        f.write_char(')')
    } else {
        write_field(f, expr, follower)
    }
}

fn write_binary(
    f: &mut Formatter<'_>,
    op: &str,
    prec: u8,
    lhs: &FieldExpr,
    rhs: &FieldExpr,
    follower: u8,
) -> fmt::Result {
    write_operand(f, lhs, field_needs_parens(lhs, prec, false, prec), prec)?;
    f.write_char(' ')?;
    f.write_str(op)?;
    f.write_char(' ')?;
    write_operand(f, rhs, field_needs_parens(rhs, prec, true, follower), follower)
}

/// The operand of `-` or `!`: anything binding at least as tightly as `*`, or another prefix
/// form (which then ends where the outer one does).
fn write_prefix_operand(f: &mut Formatter<'_>, expr: &FieldExpr, follower: u8) -> fmt::Result {
    let wrap = match prefix_reach(expr) {
        Some(reach) => follower > reach,
        None => field_prec(expr) < PREC_MUL,
    };
    write_operand(f, expr, wrap, follower)
}

fn write_field(f: &mut Formatter<'_>, expr: &FieldExpr, follower: u8) -> fmt::Result {
    match expr {
        FieldExpr::Static(value) => write_static(f, value),
        FieldExpr::Field(field) => field.fmt(f),
        FieldExpr::Arith { op, lhs, rhs } => write_binary(f, op.as_str(), arith_prec(*op), lhs, rhs, follower),
        FieldExpr::Compare { op, lhs, rhs } => write_binary(f, op.as_str(), PREC_COMPARE, lhs, rhs, follower),
        FieldExpr::Logical { op, lhs, rhs } => write_binary(f, op.as_str(), PREC_LOGICAL, lhs, rhs, follower),
        FieldExpr::Neg(e) => {
            f.write_char('-')?;
            write_prefix_operand(f, e, follower)
        }
        FieldExpr::Not(e) => {
            f.write_char('!')?;
            write_prefix_operand(f, e, follower)
        }
        FieldExpr::Exists(e) | FieldExpr::NotExists(e) => {
            write_operand(f, e, field_needs_parens(e, PREC_COMPARE, false, PREC_COMPARE), PREC_COMPARE)?;
            f.write_str(if matches!(expr, FieldExpr::Exists(_)) { " != nil" } else { " = nil" })
        }
    }
}

impl Display for FieldExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_field(f, self, 0)
    }
}

/// A literal. The smallest integer has no literal of its own (its magnitude does not fit), so it
/// prints as `minInt`.
fn write_static(f: &mut Formatter<'_>, value: &Static) -> fmt::Result {
    match value {
        Static::Int(i64::MIN) => f.write_str("minInt"),
        Static::Int(i) => write!(f, "{i}"),
        Static::Float(x) => write!(f, "{x:?}"),
        Static::Duration(nanos) => f.write_str(&format_duration(*nanos)),
        Static::Bool(b) => write!(f, "{b}"),
        Static::Status(status) => f.write_str(status.as_str()),
        Static::Kind(kind) => f.write_str(kind.as_str()),
        Static::Str(s) => write_string(f, s),
    }
}

fn write_string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c < ' ' || c == '\u{7f}' => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Display for FieldRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FieldRef::Intrinsic(intrinsic) => f.write_str(intrinsic.as_str()),
            FieldRef::Attribute { scope: AttributeScope::Parent, name } => {
                // `parent.span.x` keeps its sub-scope as the start of the name.
                for sub in ["span.", "resource."] {
                    if let Some(rest) = name.strip_prefix(sub) {
                        write!(f, "parent.{sub}")?;
                        return write_attribute_name(f, rest, false);
                    }
                }
                f.write_str("parent.")?;
                write_attribute_name(f, name, false)
            }
            FieldRef::Attribute { scope, name } => {
                f.write_str(scope.prefix())?;
                write_attribute_name(f, name, *scope == AttributeScope::Unscoped)
            }
        }
    }
}

/// The name bare when the lexer reads it back whole, quoted otherwise. After a lone `.`, a
/// leading digit would start a number, so such names are quoted too.
fn write_attribute_name(f: &mut Formatter<'_>, name: &str, unscoped: bool) -> fmt::Result {
    let bare = !name.is_empty()
        && name.chars().all(|c| is_attribute_char(c) && c != '"')
        && !(unscoped && name.starts_with(|c: char| c.is_ascii_digit()));
    if bare {
        return f.write_str(name);
    }
    f.write_char('"')?;
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

// --- Scalars ----------------------------------------------------------------------------------

fn scalar_prec(expr: &ScalarExpr) -> u8 {
    match expr {
        ScalarExpr::Arith { op, .. } => arith_prec(*op),
        _ => ATOM,
    }
}

impl Display for ScalarFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.as_str(), self.rhs)
    }
}

impl Display for ScalarExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Static(value) => write_static(f, value),
            ScalarExpr::Aggregate(aggregate) => write!(f, "{aggregate}"),
            ScalarExpr::Pipeline { pipeline, aggregate } => write!(f, "({pipeline} | {aggregate})"),
            ScalarExpr::Arith { op, lhs, rhs } => {
                let prec = arith_prec(*op);
                write_wrapped(f, lhs, needs_parens(scalar_prec(lhs), prec, false))?;
                write!(f, " {} ", op.as_str())?;
                write_wrapped(f, rhs, needs_parens(scalar_prec(rhs), prec, true))
            }
        }
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            Some(expr) => write!(f, "{}({expr})", self.op.as_str()),
            None => write!(f, "{}()", self.op.as_str()),
        }
    }
}

// --- Metrics ----------------------------------------------------------------------------------

/// A number as a literal that reads back as the same `f64`.
struct Number(f64);

impl Display for Number {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
            write!(f, "{}", value as i64)
        } else {
            write!(f, "{value:?}")
        }
    }
}

impl Display for MetricsQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            MetricsExpr::Pipeline(leaf) => write!(f, "{leaf}")?,
            expr => write!(f, "{expr}")?,
        }
        write_second_stages(f, &self.second_stage)
    }
}

fn write_second_stages(f: &mut Formatter<'_>, stages: &[SecondStage]) -> fmt::Result {
    for stage in stages {
        match stage {
            SecondStage::TopK(n) => write!(f, " | topk({n})")?,
            SecondStage::BottomK(n) => write!(f, " | bottomk({n})")?,
            SecondStage::Filter { op, value } => write!(f, " {} {}", op.as_str(), Number(*value))?,
        }
    }
    Ok(())
}

impl Display for MetricsPipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} | {}", self.pipeline, self.function)?;
        write_second_stages(f, &self.second_stage)
    }
}

fn metrics_prec(expr: &MetricsExpr) -> u8 {
    match expr {
        MetricsExpr::Pipeline(_) => ATOM,
        MetricsExpr::Binary { op, .. } | MetricsExpr::Scalar { op, .. } => arith_prec(*op),
    }
}

/// Series arithmetic; pipelines inside it are parenthesized.
impl Display for MetricsExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsExpr::Pipeline(leaf) => write!(f, "({leaf})"),
            MetricsExpr::Binary { op, lhs, rhs } => {
                let prec = arith_prec(*op);
                write_wrapped(f, lhs, needs_parens(metrics_prec(lhs), prec, false))?;
                write!(f, " {} ", op.as_str())?;
                write_wrapped(f, rhs, needs_parens(metrics_prec(rhs), prec, true))
            }
            MetricsExpr::Scalar { op, value, scalar_on_left, expr } => {
                let prec = arith_prec(*op);
                if *scalar_on_left {
                    write!(f, "{} {} ", Number(*value), op.as_str())?;
                    write_wrapped(f, expr, needs_parens(metrics_prec(expr), prec, true))
                } else {
                    write_wrapped(f, expr, needs_parens(metrics_prec(expr), prec, false))?;
                    write!(f, " {} {}", op.as_str(), Number(*value))
                }
            }
        }
    }
}

impl Display for MetricsFunction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsFunction::Rate { .. } | MetricsFunction::CountOverTime { .. } => write!(f, "{}()", self.name())?,
            MetricsFunction::OverTime { field, .. } => write!(f, "{}({field})", self.name())?,
            MetricsFunction::QuantileOverTime { field, quantiles, .. } => {
                write!(f, "{}({field}", self.name())?;
                for q in quantiles {
                    write!(f, ", {}", Number(*q))?;
                }
                f.write_char(')')?;
            }
            MetricsFunction::Compare { selection, top_n, start, end } => {
                write!(f, "compare({{ {selection} }}")?;
                match (*top_n, *start, *end) {
                    (10, 0, 0) => {}
                    (n, 0, 0) => write!(f, ", {n}")?,
                    (n, s, e) => write!(f, ", {n}, {s}, {e}")?,
                }
                f.write_char(')')?;
            }
        }
        if !self.by().is_empty() {
            f.write_str(" by (")?;
            write_fields(f, self.by())?;
            f.write_char(')')?;
        }
        Ok(())
    }
}
