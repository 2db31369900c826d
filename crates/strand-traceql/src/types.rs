//! Static types of expressions, which operators apply to which types, and evaluation of
//! operators on literals (used to fold constants while parsing).
//!
//! The rules follow Tempo: ints, floats and durations mix freely; `nil` matches anything; an
//! attribute's type is only known at query time, so it matches anything too.

use regex::Regex;

use crate::ast::{Aggregate, AggregateOp, ArithOp, FieldExpr, LogicalOp, ScalarExpr, Static};
use crate::fetch::CompareOp;
use crate::field::{FieldRef, Intrinsic};

/// What an expression evaluates to, as far as the query text tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StaticType {
    Nil,
    /// Decided at query time (attributes).
    Attribute,
    Int,
    Float,
    String,
    Boolean,
    Duration,
    Status,
    Kind,
}

impl StaticType {
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, StaticType::Int | StaticType::Float | StaticType::Duration)
    }

    /// Whether a binary operator may combine the two types at all.
    pub(crate) fn matches(self, other: StaticType) -> bool {
        self == StaticType::Attribute
            || other == StaticType::Attribute
            || self == other
            || (self.is_numeric() && other.is_numeric())
            || self == StaticType::Nil
            || other == StaticType::Nil
    }
}

/// The binary operators of field and scalar expressions, for type checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Arith(ArithOp),
    Compare(CompareOp),
    Logical(LogicalOp),
}

impl BinOp {
    fn is_boolean(self) -> bool {
        !matches!(self, BinOp::Arith(_))
    }

    /// Whether the operator applies to a value of type `t`.
    fn accepts(self, t: StaticType) -> bool {
        use CompareOp as C;
        match t {
            StaticType::Attribute => true,
            StaticType::Boolean => matches!(self, BinOp::Logical(_) | BinOp::Compare(C::Eq | C::NotEq)),
            StaticType::Int | StaticType::Float | StaticType::Duration => {
                matches!(self, BinOp::Arith(_) | BinOp::Compare(C::Eq | C::NotEq | C::Lt | C::LtEq | C::Gt | C::GtEq))
            }
            StaticType::String => matches!(self, BinOp::Compare(_)),
            StaticType::Nil | StaticType::Status | StaticType::Kind => matches!(self, BinOp::Compare(C::Eq | C::NotEq)),
        }
    }

    /// The check Tempo applies to every binary operation: the operand types match and the
    /// operator applies to both. `Err` carries the reason.
    pub(crate) fn check(self, lhs: StaticType, rhs: StaticType) -> Result<(), &'static str> {
        if !lhs.matches(rhs) {
            return Err("binary operations must operate on the same type");
        }
        if !self.accepts(lhs) || !self.accepts(rhs) {
            return Err("illegal operation for the given types");
        }
        Ok(())
    }

    fn result_type(self, lhs: StaticType, rhs: StaticType) -> StaticType {
        if self.is_boolean() {
            StaticType::Boolean
        } else if lhs != StaticType::Attribute {
            lhs
        } else {
            rhs
        }
    }
}

pub(crate) fn static_type(s: &Static) -> StaticType {
    match s {
        Static::Bool(_) => StaticType::Boolean,
        Static::Int(_) => StaticType::Int,
        Static::Float(_) => StaticType::Float,
        Static::Str(_) => StaticType::String,
        Static::Duration(_) => StaticType::Duration,
        Static::Status(_) => StaticType::Status,
        Static::Kind(_) => StaticType::Kind,
    }
}

pub(crate) fn field_type(field: &FieldRef) -> StaticType {
    let FieldRef::Intrinsic(intrinsic) = field else {
        return StaticType::Attribute;
    };
    match intrinsic {
        Intrinsic::Duration | Intrinsic::TraceDuration | Intrinsic::EventTimeSinceStart => StaticType::Duration,
        Intrinsic::ChildCount | Intrinsic::NestedSetLeft | Intrinsic::NestedSetRight | Intrinsic::NestedSetParent => {
            StaticType::Int
        }
        Intrinsic::Name
        | Intrinsic::StatusMessage
        | Intrinsic::EventName
        | Intrinsic::LinkTraceId
        | Intrinsic::LinkSpanId
        | Intrinsic::RootServiceName
        | Intrinsic::RootName
        | Intrinsic::TraceId
        | Intrinsic::SpanId
        | Intrinsic::ParentId => StaticType::String,
        Intrinsic::Status => StaticType::Status,
        Intrinsic::Kind => StaticType::Kind,
        Intrinsic::Parent => StaticType::Nil,
        // Tempo leaves these to query time.
        Intrinsic::InstrumentationName | Intrinsic::InstrumentationVersion => StaticType::Attribute,
    }
}

pub(crate) fn field_expr_type(expr: &FieldExpr) -> StaticType {
    match expr {
        FieldExpr::Static(s) => static_type(s),
        FieldExpr::Field(f) => field_type(f),
        FieldExpr::Arith { op, lhs, rhs } => BinOp::Arith(*op).result_type(field_expr_type(lhs), field_expr_type(rhs)),
        FieldExpr::Compare { .. } | FieldExpr::Logical { .. } | FieldExpr::Exists(_) | FieldExpr::NotExists(_) => {
            StaticType::Boolean
        }
        FieldExpr::Not(e) | FieldExpr::Neg(e) => field_expr_type(e),
    }
}

pub(crate) fn aggregate_type(aggregate: &Aggregate) -> StaticType {
    match (&aggregate.op, &aggregate.expr) {
        (AggregateOp::Count, _) | (_, None) => StaticType::Int,
        (_, Some(e)) => field_expr_type(e),
    }
}

pub(crate) fn scalar_expr_type(expr: &ScalarExpr) -> StaticType {
    match expr {
        ScalarExpr::Static(s) => static_type(s),
        ScalarExpr::Aggregate(a) | ScalarExpr::Pipeline { aggregate: a, .. } => aggregate_type(a),
        ScalarExpr::Arith { op, lhs, rhs } => {
            BinOp::Arith(*op).result_type(scalar_expr_type(lhs), scalar_expr_type(rhs))
        }
    }
}

/// Whether `-` (`negate`) or `!` applies to a value of type `t`.
pub(crate) fn unary_accepts(negate: bool, t: StaticType) -> bool {
    t == StaticType::Attribute || if negate { t.is_numeric() } else { t == StaticType::Boolean }
}

/// Compiles a TraceQL regular expression: fully anchored and with `.` matching newlines, as
/// Tempo (through Prometheus' matcher) does. The pattern must also be valid on its own, so
/// `a)|(b` is rejected rather than slipping through the added group.
pub fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)?;
    Regex::new(&format!("^(?s:{pattern})$"))
}

fn as_float(s: &Static) -> f64 {
    s.as_f64().unwrap_or(f64::NAN)
}

/// Tempo's equality between literals: numbers compare by value (an int equals a duration of as
/// many nanoseconds), an int equals the status with that code, everything else by type and value.
pub(crate) fn statics_equal(lhs: &Static, rhs: &Static) -> bool {
    match (lhs, rhs) {
        (Static::Int(a), Static::Int(b) | Static::Duration(b))
        | (Static::Duration(a), Static::Int(b) | Static::Duration(b)) => a == b,
        (Static::Int(a), Static::Status(s)) | (Static::Status(s), Static::Int(a)) => *a == s.otlp_code(),
        (Static::Float(_), _) | (_, Static::Float(_)) => as_float(lhs) == as_float(rhs),
        (Static::Status(a), Static::Status(b)) => a == b,
        (Static::Kind(a), Static::Kind(b)) => a == b,
        (Static::Bool(a), Static::Bool(b)) => a == b,
        (Static::Str(a), Static::Str(b)) => a == b,
        _ => false,
    }
}

/// Evaluates `lhs op rhs` on literals, as Tempo does when it folds constants: int with int stays
/// int (wrapping, truncating division), strings order lexically and match regexes, anything
/// else numeric goes through floats. `None` when there is no foldable result: a type the
/// operator does not apply to, division by zero, or a result that is not a finite number or
/// does not fit (those stay unfolded, and are evaluated, or rejected, later).
pub(crate) fn eval_binary(op: BinOp, lhs: &Static, rhs: &Static) -> Option<Static> {
    use CompareOp as C;
    op.check(static_type(lhs), static_type(rhs)).ok()?;
    match (lhs, rhs) {
        (Static::Str(a), Static::Str(b)) => match op {
            BinOp::Compare(C::Gt) => return Some(Static::Bool(a > b)),
            BinOp::Compare(C::GtEq) => return Some(Static::Bool(a >= b)),
            BinOp::Compare(C::Lt) => return Some(Static::Bool(a < b)),
            BinOp::Compare(C::LtEq) => return Some(Static::Bool(a <= b)),
            BinOp::Compare(C::Regex) => return Some(Static::Bool(compile_regex(b).ok()?.is_match(a))),
            BinOp::Compare(C::NotRegex) => return Some(Static::Bool(!compile_regex(b).ok()?.is_match(a))),
            _ => {}
        },
        (Static::Int(a), Static::Int(b)) => match op {
            BinOp::Arith(ArithOp::Add) => return Some(Static::Int(a.wrapping_add(*b))),
            BinOp::Arith(ArithOp::Sub) => return Some(Static::Int(a.wrapping_sub(*b))),
            BinOp::Arith(ArithOp::Mul) => return Some(Static::Int(a.wrapping_mul(*b))),
            BinOp::Arith(ArithOp::Div) => return (*b != 0).then(|| Static::Int(a.wrapping_div(*b))),
            BinOp::Arith(ArithOp::Mod) => return (*b != 0).then(|| Static::Int(a.wrapping_rem(*b))),
            BinOp::Arith(ArithOp::Pow) => {
                let value = (*a as f64).powf(*b as f64).trunc();
                // Only results an i64 holds exactly are folded.
                let fits = value.is_finite() && value >= i64::MIN as f64 && value < i64::MAX as f64;
                return fits.then_some(Static::Int(value as i64));
            }
            BinOp::Compare(C::Gt) => return Some(Static::Bool(a > b)),
            BinOp::Compare(C::GtEq) => return Some(Static::Bool(a >= b)),
            BinOp::Compare(C::Lt) => return Some(Static::Bool(a < b)),
            BinOp::Compare(C::LtEq) => return Some(Static::Bool(a <= b)),
            _ => {}
        },
        (Static::Bool(a), Static::Bool(b)) => match op {
            BinOp::Logical(LogicalOp::And) => return Some(Static::Bool(*a && *b)),
            BinOp::Logical(LogicalOp::Or) => return Some(Static::Bool(*a || *b)),
            _ => {}
        },
        _ => {}
    }
    let (a, b) = (as_float(lhs), as_float(rhs));
    let float = |value: f64| value.is_finite().then_some(Static::Float(value));
    match op {
        BinOp::Arith(ArithOp::Add) => float(a + b),
        BinOp::Arith(ArithOp::Sub) => float(a - b),
        BinOp::Arith(ArithOp::Mul) => float(a * b),
        BinOp::Arith(ArithOp::Div) => float(a / b),
        BinOp::Arith(ArithOp::Mod) => float(a % b),
        BinOp::Arith(ArithOp::Pow) => float(a.powf(b)),
        BinOp::Compare(C::Gt) => Some(Static::Bool(a > b)),
        BinOp::Compare(C::GtEq) => Some(Static::Bool(a >= b)),
        BinOp::Compare(C::Lt) => Some(Static::Bool(a < b)),
        BinOp::Compare(C::LtEq) => Some(Static::Bool(a <= b)),
        BinOp::Compare(C::Eq) => Some(Static::Bool(statics_equal(lhs, rhs))),
        BinOp::Compare(C::NotEq) => Some(Static::Bool(!statics_equal(lhs, rhs))),
        BinOp::Compare(C::Regex | C::NotRegex) | BinOp::Logical(_) => None,
    }
}

/// Negates a number or duration literal (wrapping at the integer bound, as Go does).
pub(crate) fn eval_neg(value: &Static) -> Option<Static> {
    match value {
        Static::Int(i) => Some(Static::Int(i.wrapping_neg())),
        Static::Float(f) => Some(Static::Float(-f)),
        Static::Duration(d) => Some(Static::Duration(d.wrapping_neg())),
        _ => None,
    }
}

pub(crate) fn eval_not(value: &Static) -> Option<Static> {
    match value {
        Static::Bool(b) => Some(Static::Bool(!b)),
        _ => None,
    }
}
