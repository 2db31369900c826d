//! Field expressions compiled for evaluation on one span.
//!
//! Compiling resolves each field to an accessor, converts literals once and compiles regexes
//! once, so evaluating `{ resource.service.name = "x" }` or `{ span.http.url =~ "..." }` on a
//! span is a lookup and a comparison, without allocation.

use std::sync::Arc;

use regex::Regex;

use super::value::{IdStyle, Val, arith, compare, negate};
use crate::ast::{ArithOp, FieldExpr, LogicalOp, Static};
use crate::data::{Attribute, Span, Trace, Value, find_attribute};
use crate::fetch::CompareOp;
use crate::field::{AttributeScope, FieldRef, Intrinsic};
use crate::types::compile_regex;

/// Where a field's value comes from.
#[derive(Debug)]
pub(crate) enum Field {
    Intrinsic(Intrinsic),
    Span(Box<str>),
    Resource(Box<str>),
    /// The span's attribute, else the resource's.
    Unscoped(Box<str>),
    /// Any of the span's events.
    Event(Box<str>),
    /// Any of the span's links.
    Link(Box<str>),
    Instrumentation(Box<str>),
    /// `parent.` fields, which validation refuses; always nil.
    Nil,
}

impl Field {
    pub(crate) fn new(field: &FieldRef) -> Field {
        let FieldRef::Attribute { scope, name } = field else {
            return match field {
                FieldRef::Intrinsic(Intrinsic::Parent) => Field::Nil,
                FieldRef::Intrinsic(intrinsic) => Field::Intrinsic(*intrinsic),
                FieldRef::Attribute { .. } => Field::Nil,
            };
        };
        let name: Box<str> = name.as_str().into();
        match scope {
            AttributeScope::Unscoped => Field::Unscoped(name),
            AttributeScope::Span => Field::Span(name),
            AttributeScope::Resource => Field::Resource(name),
            AttributeScope::Event => Field::Event(name),
            AttributeScope::Link => Field::Link(name),
            AttributeScope::Instrumentation => Field::Instrumentation(name),
            AttributeScope::Parent => Field::Nil,
        }
    }

    /// True for fields with one value per event or link: a comparison holds when it holds for
    /// one of them.
    fn is_multi(&self) -> bool {
        matches!(
            self,
            Field::Event(_)
                | Field::Link(_)
                | Field::Intrinsic(
                    Intrinsic::EventName
                        | Intrinsic::EventTimeSinceStart
                        | Intrinsic::LinkTraceId
                        | Intrinsic::LinkSpanId
                )
        )
    }

    /// The value on `span`; for event and link fields, the first event or link that has one.
    pub(crate) fn get<'a>(&self, trace: &'a Trace, span: &'a Span) -> Val<'a> {
        let attribute = |list: &'a [Attribute], key: &str| find_attribute(list, key).map_or(Val::Nil, Val::of);
        match self {
            Field::Intrinsic(intrinsic) => intrinsic_value(*intrinsic, trace, span),
            Field::Span(key) => attribute(&span.attributes, key),
            Field::Resource(key) => attribute(&span.resource, key),
            Field::Unscoped(key) => match find_attribute(&span.attributes, key) {
                Some(value) => Val::of(value),
                None => attribute(&span.resource, key),
            },
            Field::Event(key) => {
                span.events.iter().find_map(|e| find_attribute(&e.attributes, key)).map_or(Val::Nil, Val::of)
            }
            Field::Link(key) => {
                span.links.iter().find_map(|l| find_attribute(&l.attributes, key)).map_or(Val::Nil, Val::of)
            }
            Field::Instrumentation(key) => attribute(&span.instrumentation.attributes, key),
            Field::Nil => Val::Nil,
        }
    }

    /// Whether `test` holds for one of the field's values on `span` (its only value, for
    /// fields that are not per event or link). A span without events has no event values.
    fn any<'a>(&self, trace: &'a Trace, span: &'a Span, mut test: impl FnMut(Val<'a>) -> bool) -> bool {
        let mut in_list =
            |list: &'a [Attribute], key: &str| find_attribute(list, key).is_some_and(|v| test(Val::of(v)));
        match self {
            Field::Event(key) => span.events.iter().any(|e| in_list(&e.attributes, key)),
            Field::Link(key) => span.links.iter().any(|l| in_list(&l.attributes, key)),
            Field::Intrinsic(Intrinsic::EventName) => span.events.iter().any(|e| test(Val::Str(&e.name))),
            Field::Intrinsic(Intrinsic::EventTimeSinceStart) => {
                span.events.iter().any(|e| test(Val::Duration(nanos(e.time_since_start_nano))))
            }
            Field::Intrinsic(Intrinsic::LinkTraceId) => {
                span.links.iter().any(|l| test(Val::Id(&l.trace_id, IdStyle::Trace)))
            }
            Field::Intrinsic(Intrinsic::LinkSpanId) => {
                span.links.iter().any(|l| test(Val::Id(&l.span_id, IdStyle::Span)))
            }
            _ => test(self.get(trace, span)),
        }
    }

    /// The value on `span` as an owned [`Value`], sharing the span's strings where it can.
    pub(crate) fn owned(&self, trace: &Trace, span: &Span) -> Value {
        let attribute = |list: &[Attribute], key: &str| find_attribute(list, key).cloned().unwrap_or(Value::Nil);
        match self {
            Field::Span(key) => attribute(&span.attributes, key),
            Field::Resource(key) => attribute(&span.resource, key),
            Field::Unscoped(key) => {
                find_attribute(&span.attributes, key).cloned().unwrap_or_else(|| attribute(&span.resource, key))
            }
            Field::Event(key) => {
                span.events.iter().find_map(|e| find_attribute(&e.attributes, key)).cloned().unwrap_or(Value::Nil)
            }
            Field::Link(key) => {
                span.links.iter().find_map(|l| find_attribute(&l.attributes, key)).cloned().unwrap_or(Value::Nil)
            }
            Field::Instrumentation(key) => attribute(&span.instrumentation.attributes, key),
            Field::Intrinsic(Intrinsic::Name) => Value::Str(span.name.clone()),
            Field::Intrinsic(Intrinsic::StatusMessage) => Value::Str(span.status_message.clone()),
            Field::Intrinsic(Intrinsic::RootName) => Value::Str(trace.root_span_name.clone()),
            Field::Intrinsic(Intrinsic::RootServiceName) => Value::Str(trace.root_service_name.clone()),
            Field::Intrinsic(Intrinsic::InstrumentationName) => Value::Str(span.instrumentation.name.clone()),
            Field::Intrinsic(Intrinsic::InstrumentationVersion) => Value::Str(span.instrumentation.version.clone()),
            Field::Intrinsic(Intrinsic::EventName) => {
                span.events.first().map_or(Value::Nil, |e| Value::Str(e.name.clone()))
            }
            Field::Intrinsic(_) | Field::Nil => self.get(trace, span).to_value(),
        }
    }
}

/// Durations are stored unsigned; anything past `i64::MAX` nanoseconds (292 years) saturates.
fn nanos(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn intrinsic_value<'a>(intrinsic: Intrinsic, trace: &'a Trace, span: &'a Span) -> Val<'a> {
    match intrinsic {
        Intrinsic::Name => Val::Str(&span.name),
        Intrinsic::Status => Val::Status(span.status),
        Intrinsic::StatusMessage => Val::Str(&span.status_message),
        Intrinsic::Kind => Val::Kind(span.kind),
        Intrinsic::Duration => Val::Duration(nanos(span.duration_nano)),
        Intrinsic::SpanId => Val::Id(&span.span_id, IdStyle::Span),
        Intrinsic::ParentId => Val::Id(&span.parent_span_id, IdStyle::Span),
        Intrinsic::ChildCount => Val::Int(i64::from(span.child_count)),
        Intrinsic::NestedSetLeft => Val::Int(i64::from(span.nested_set_left)),
        Intrinsic::NestedSetRight => Val::Int(i64::from(span.nested_set_right)),
        Intrinsic::NestedSetParent => Val::Int(i64::from(span.nested_set_parent)),
        Intrinsic::Parent => Val::Nil,
        Intrinsic::TraceDuration => Val::Duration(nanos(trace.duration_nano)),
        Intrinsic::RootName => Val::Str(&trace.root_span_name),
        Intrinsic::RootServiceName => Val::Str(&trace.root_service_name),
        Intrinsic::TraceId => Val::Id(&trace.trace_id, IdStyle::Trace),
        Intrinsic::EventName => span.events.first().map_or(Val::Nil, |e| Val::Str(&e.name)),
        Intrinsic::EventTimeSinceStart => {
            span.events.first().map_or(Val::Nil, |e| Val::Duration(nanos(e.time_since_start_nano)))
        }
        Intrinsic::LinkTraceId => span.links.first().map_or(Val::Nil, |l| Val::Id(&l.trace_id, IdStyle::Trace)),
        Intrinsic::LinkSpanId => span.links.first().map_or(Val::Nil, |l| Val::Id(&l.span_id, IdStyle::Span)),
        Intrinsic::InstrumentationName => Val::Str(&span.instrumentation.name),
        Intrinsic::InstrumentationVersion => Val::Str(&span.instrumentation.version),
    }
}

/// A compiled field expression.
#[derive(Debug)]
pub(crate) enum Expr {
    Const(Value),
    Field(Field),
    Compare {
        op: CompareOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        /// The pattern of `=~` / `!~`; `None` (never a match) if it does not compile.
        regex: Option<Regex>,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Arith {
        op: ArithOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Exists(Box<Expr>),
    NotExists(Box<Expr>),
}

impl Expr {
    pub(crate) fn new(expr: &FieldExpr) -> Expr {
        let boxed = |e: &FieldExpr| Box::new(Expr::new(e));
        match expr {
            FieldExpr::Static(value) => Expr::Const(value.to_value()),
            FieldExpr::Field(field) => Expr::Field(Field::new(field)),
            FieldExpr::Compare { op, lhs, rhs } => {
                let regex = match (op, &**rhs) {
                    (CompareOp::Regex | CompareOp::NotRegex, FieldExpr::Static(Static::Str(pattern))) => {
                        compile_regex(pattern).ok()
                    }
                    _ => None,
                };
                Expr::Compare { op: *op, lhs: boxed(lhs), rhs: boxed(rhs), regex }
            }
            FieldExpr::Logical { op: LogicalOp::And, lhs, rhs } => Expr::And(boxed(lhs), boxed(rhs)),
            FieldExpr::Logical { op: LogicalOp::Or, lhs, rhs } => Expr::Or(boxed(lhs), boxed(rhs)),
            FieldExpr::Arith { op, lhs, rhs } => Expr::Arith { op: *op, lhs: boxed(lhs), rhs: boxed(rhs) },
            FieldExpr::Not(e) => Expr::Not(boxed(e)),
            FieldExpr::Neg(e) => Expr::Neg(boxed(e)),
            FieldExpr::Exists(e) => Expr::Exists(boxed(e)),
            FieldExpr::NotExists(e) => Expr::NotExists(boxed(e)),
        }
    }

    /// True for `{ }` and `{ true }`, which keep every span.
    pub(crate) fn is_always_true(&self) -> bool {
        matches!(self, Expr::Const(Value::Bool(true)))
    }

    /// Whether the span passes a filter with this expression.
    pub(crate) fn test(&self, trace: &Trace, span: &Span) -> bool {
        self.eval(trace, span).is_true()
    }

    pub(crate) fn eval<'a>(&'a self, trace: &'a Trace, span: &'a Span) -> Val<'a> {
        match self {
            Expr::Const(value) => Val::of(value),
            Expr::Field(field) => field.get(trace, span),
            Expr::Compare { op, lhs, rhs, regex } => {
                let regex = regex.as_ref();
                Val::Bool(lhs.any(trace, span, |l| rhs.any(trace, span, |r| compare(*op, l, r, regex))))
            }
            // Nil and non-booleans count as false on either side.
            Expr::And(lhs, rhs) => Val::Bool(lhs.test(trace, span) && rhs.test(trace, span)),
            Expr::Or(lhs, rhs) => Val::Bool(lhs.test(trace, span) || rhs.test(trace, span)),
            Expr::Not(e) => match e.eval(trace, span) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Nil,
            },
            Expr::Neg(e) => negate(e.eval(trace, span)),
            Expr::Arith { op, lhs, rhs } => arith(*op, lhs.eval(trace, span), rhs.eval(trace, span)),
            Expr::Exists(e) => Val::Bool(!e.eval(trace, span).is_nil()),
            Expr::NotExists(e) => Val::Bool(e.eval(trace, span).is_nil()),
        }
    }

    /// Whether `test` holds for one of the expression's values: every event or link value of
    /// a per-event or per-link field, the single value of anything else.
    fn any<'a>(&'a self, trace: &'a Trace, span: &'a Span, mut test: impl FnMut(Val<'a>) -> bool) -> bool {
        match self {
            Expr::Field(field) if field.is_multi() => field.any(trace, span, test),
            _ => test(self.eval(trace, span)),
        }
    }
}

/// A field a result shows for each matched span, keyed the way Tempo keys it.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) key: Arc<str>,
    pub(crate) field: Field,
}

impl Output {
    /// Tempo leaves out the fields a result carries elsewhere (name, duration, span ID) and the
    /// trace-level ones; the rest are keyed by attribute name (no scope) or intrinsic name.
    pub(crate) fn new(field: &FieldRef) -> Option<Output> {
        let key = match field {
            FieldRef::Intrinsic(Intrinsic::Name | Intrinsic::Duration | Intrinsic::SpanId | Intrinsic::Parent) => {
                return None;
            }
            FieldRef::Intrinsic(intrinsic) if intrinsic.is_trace_level() => return None,
            FieldRef::Intrinsic(intrinsic) => intrinsic.as_str(),
            FieldRef::Attribute { scope: AttributeScope::Parent, .. } => return None,
            FieldRef::Attribute { name, .. } => name.as_str(),
        };
        Some(Output { key: Arc::from(key), field: Field::new(field) })
    }
}
