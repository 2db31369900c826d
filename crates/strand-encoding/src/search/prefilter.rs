//! Vectorised checks of simple conditions on whole columns, before any span is built.
//!
//! When a request says every span must satisfy all its conditions (`all_conditions`), the
//! conditions on plain columns (intrinsics, trace-level fields, dedicated attribute columns) are
//! checked column by column: dictionary columns compare each distinct value once and then look
//! rows up by key. Only rows that pass are turned into spans for the engine. The engine still
//! evaluates the whole query, so this only has to be a superset of what it keeps: conditions it
//! cannot check exactly here are left out, never guessed.

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use regex::Regex;
use strand_traceql::{AttributeScope, CompareOp, Condition, FetchSpansRequest, FieldRef, Intrinsic, Value};

use super::convert::span_duration;
use super::plan::ColumnPlan;
use crate::block::attrs::{AttrLists, AttrValue, StrCol};
use crate::block::schema::{self, RESOURCE_DEDICATED, SPAN_DEDICATED_INT, SPAN_DEDICATED_STR};

/// How a column holds the field a condition tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnKind {
    Str,
    Int64,
    UInt64,
    /// `duration_nano`: read the way the engine sees it (see `convert::span_duration`).
    SpanDuration,
    Status,
    Kind,
    /// A key in a generic attribute list (`span_attrs`, `resource_attrs`). A row passes when any
    /// entry under the key passes, or holds a value of a type not checked here.
    Generic,
}

/// One condition, ready to run on a column.
struct ColumnCheck {
    column: &'static str,
    kind: ColumnKind,
    /// The attribute key, for [`ColumnKind::Generic`].
    key: String,
    op: CompareOp,
    operands: Vec<Value>,
    regexes: Vec<Regex>,
}

/// The checks of one request; empty when nothing can be checked on columns.
pub(crate) struct Prefilter {
    checks: Vec<ColumnCheck>,
}

impl Prefilter {
    pub(crate) fn new(request: &FetchSpansRequest, plan: &ColumnPlan) -> Prefilter {
        if !request.all_conditions {
            return Prefilter { checks: Vec::new() };
        }
        let checks = request.conditions.iter().filter_map(|c| ColumnCheck::new(c, plan)).collect();
        Prefilter { checks }
    }

    /// False when a row group's column statistics prove that no span in it can match.
    pub(crate) fn row_group_may_match(&self, group: &RowGroupMetaData) -> bool {
        self.checks.iter().all(|check| {
            let chunk = group.columns().iter().find(|c| c.column_path().string() == check.column);
            chunk.and_then(|c| c.statistics()).is_none_or(|stats| check.may_match(stats))
        })
    }

    /// Which rows of `batch` may hold a matching span; `None` when every row may.
    pub(crate) fn rows(&self, batch: &RecordBatch) -> Option<Vec<bool>> {
        if self.checks.is_empty() {
            return None;
        }
        let mut keep = vec![true; batch.num_rows()];
        for check in &self.checks {
            let array = batch.column_by_name(check.column)?;
            if !check.apply(array.as_ref(), &mut keep) {
                return None;
            }
        }
        Some(keep)
    }
}

impl ColumnCheck {
    fn new(condition: &Condition, plan: &ColumnPlan) -> Option<ColumnCheck> {
        let op = condition.op?;
        // Negations hold for spans without the field too: leave them to the engine.
        if matches!(op, CompareOp::NotEq | CompareOp::NotRegex) || condition.operands.is_empty() {
            return None;
        }
        let (column, kind) = column_of(&condition.field, plan)?;
        let usable = condition.operands.iter().all(|v| match kind {
            ColumnKind::Str => matches!(v, Value::Str(_)),
            ColumnKind::Int64 | ColumnKind::UInt64 | ColumnKind::SpanDuration => {
                matches!(v, Value::Int(_) | Value::Float(_) | Value::Duration(_)) && op != CompareOp::Regex
            }
            ColumnKind::Status => matches!(v, Value::Status(_) | Value::Int(_)) && op == CompareOp::Eq,
            ColumnKind::Kind => matches!(v, Value::Kind(_) | Value::Int(_)) && op == CompareOp::Eq,
            ColumnKind::Generic => match v {
                Value::Str(_) | Value::Int(_) | Value::Float(_) => true,
                Value::Bool(_) => op == CompareOp::Eq,
                _ => false,
            },
        });
        if !usable {
            return None;
        }
        let regexes = if op == CompareOp::Regex {
            let patterns = condition.operands.iter().map(|v| match v {
                Value::Str(s) => strand_traceql::compile_regex(s).ok(),
                _ => None,
            });
            patterns.collect::<Option<Vec<Regex>>>()?
        } else {
            Vec::new()
        };
        let key = match &condition.field {
            FieldRef::Attribute { name, .. } => name.clone(),
            FieldRef::Intrinsic(_) => String::new(),
        };
        Some(ColumnCheck { column, kind, key, op, operands: condition.operands.clone(), regexes })
    }

    /// Whether a column chunk with these statistics may hold a matching value. Truncated string
    /// statistics are still bounds, so they still prove absence.
    fn may_match(&self, stats: &Statistics) -> bool {
        let within = |min: Ordering, max: Ordering| match self.op {
            // `min` is how the chunk's minimum compares with the operand, `max` likewise.
            CompareOp::Eq => min.is_le() && max.is_ge(),
            CompareOp::Lt => min.is_lt(),
            CompareOp::LtEq => min.is_le(),
            CompareOp::Gt => max.is_gt(),
            CompareOp::GtEq => max.is_ge(),
            CompareOp::NotEq | CompareOp::Regex | CompareOp::NotRegex => true,
        };
        match (self.kind, stats) {
            (ColumnKind::Str, Statistics::ByteArray(s)) => {
                let (Some(min), Some(max)) = (s.min_opt(), s.max_opt()) else { return true };
                self.operands.iter().any(|operand| match operand {
                    Value::Str(v) => within(min.data().cmp(v.as_bytes()), max.data().cmp(v.as_bytes())),
                    _ => true,
                })
            }
            (ColumnKind::Int64, Statistics::Int64(s)) => {
                let (Some(min), Some(max)) = (s.min_opt(), s.max_opt()) else { return true };
                self.numbers_within(i128::from(*min), i128::from(*max), within)
            }
            // Unsigned columns keep their statistics as the bit patterns of the u64 values.
            (ColumnKind::UInt64 | ColumnKind::SpanDuration, Statistics::Int64(s)) => {
                let (Some(min), Some(max)) = (s.min_opt(), s.max_opt()) else { return true };
                let (min, max) = (*min as u64, *max as u64);
                // Wrapped durations read as zero: the bounds say nothing then.
                if self.kind == ColumnKind::SpanDuration && max > i64::MAX as u64 {
                    return true;
                }
                self.numbers_within(i128::from(min), i128::from(max), within)
            }
            (ColumnKind::Status | ColumnKind::Kind, Statistics::Int32(s)) => {
                let (Some(min), Some(max)) = (s.min_opt(), s.max_opt()) else { return true };
                self.operands.iter().any(|operand| {
                    let code = match operand {
                        Value::Status(status) => status.otlp_code(),
                        Value::Kind(kind) => kind.otlp_code(),
                        Value::Int(i) => *i,
                        _ => return true,
                    };
                    i64::from(*min) <= code && code <= i64::from(*max)
                })
            }
            _ => true,
        }
    }

    fn numbers_within(&self, min: i128, max: i128, within: impl Fn(Ordering, Ordering) -> bool) -> bool {
        self.operands.iter().any(|operand| {
            let bounds = match operand {
                Value::Int(i) => Some((min.cmp(&i128::from(*i)), max.cmp(&i128::from(*i)))),
                Value::Duration(d) => Some((min.cmp(&i128::from(*d)), max.cmp(&i128::from(*d)))),
                Value::Float(f) => (min as f64).partial_cmp(f).zip((max as f64).partial_cmp(f)),
                _ => None,
            };
            bounds.is_none_or(|(min, max)| within(min, max))
        })
    }

    /// ANDs this check into `keep`; false when the column is not what was expected.
    fn apply(&self, array: &dyn Array, keep: &mut [bool]) -> bool {
        match self.kind {
            ColumnKind::Str => {
                let Ok(column) = StrCol::new(array, self.column) else { return false };
                match column {
                    StrCol::Dict { keys, values } => {
                        let matching: Vec<bool> =
                            (0..values.len()).map(|i| values.is_valid(i) && self.string(values.value(i))).collect();
                        for (row, keep) in keep.iter_mut().enumerate().filter(|(_, k)| **k) {
                            *keep = keys.is_valid(row)
                                && usize::try_from(keys.value(row))
                                    .ok()
                                    .and_then(|k| matching.get(k).copied())
                                    .unwrap_or(false);
                        }
                    }
                    StrCol::Plain(strings) => {
                        for (row, keep) in keep.iter_mut().enumerate().filter(|(_, k)| **k) {
                            *keep = strings.is_valid(row) && self.string(strings.value(row));
                        }
                    }
                }
            }
            ColumnKind::Int64 => {
                let Some(ints) = array.as_primitive_opt::<Int64Type>() else { return false };
                for (row, keep) in keep.iter_mut().enumerate().filter(|(_, k)| **k) {
                    *keep = ints.is_valid(row) && self.number(i128::from(ints.value(row)));
                }
            }
            ColumnKind::UInt64 | ColumnKind::SpanDuration => {
                let Some(ints) = array.as_primitive_opt::<UInt64Type>() else { return false };
                let as_seen = |v: u64| if self.kind == ColumnKind::SpanDuration { span_duration(v) } else { v };
                for (row, keep) in keep.iter_mut().enumerate().filter(|(_, k)| **k) {
                    *keep = ints.is_valid(row) && self.number(i128::from(as_seen(ints.value(row))));
                }
            }
            ColumnKind::Generic => {
                let Ok(lists) = AttrLists::new(array, self.column) else { return false };
                let mut matching = None;
                let value_ok = |value: AttrValue<'_>| match value {
                    AttrValue::Str(s) => self.string(s),
                    AttrValue::Int(i) => self.number(i128::from(i)),
                    AttrValue::Double(f) => self.float(f),
                    AttrValue::Bool(b) => self.operands.contains(&Value::Bool(b)),
                    // Arrays and the like: the engine decides.
                    AttrValue::Other => true,
                };
                for (row, keep) in keep.iter_mut().enumerate().filter(|(_, k)| **k) {
                    *keep = lists.any_entry(row, &self.key, &mut matching, &value_ok);
                }
            }
            ColumnKind::Status | ColumnKind::Kind => {
                let Some(codes) = array.as_primitive_opt::<Int32Type>() else { return false };
                let wanted: Vec<i64> = self
                    .operands
                    .iter()
                    .filter_map(|v| match v {
                        Value::Status(s) => Some(s.otlp_code()),
                        Value::Kind(k) => Some(k.otlp_code()),
                        Value::Int(i) => Some(*i),
                        _ => None,
                    })
                    .collect();
                for (row, keep) in keep.iter_mut().enumerate().filter(|(_, k)| **k) {
                    *keep = wanted.contains(&i64::from(codes.value(row)));
                }
            }
        }
        true
    }

    /// Whether a string satisfies the condition for any operand.
    fn string(&self, value: &str) -> bool {
        if self.op == CompareOp::Regex {
            return self.regexes.iter().any(|re| re.is_match(value));
        }
        self.operands.iter().any(|operand| match operand {
            Value::Str(s) => ordering_holds(self.op, value.cmp(s)),
            _ => false,
        })
    }

    /// Whether a double satisfies the condition for any operand.
    fn float(&self, value: f64) -> bool {
        self.operands.iter().any(|operand| {
            let ordering = match operand {
                Value::Int(i) => value.partial_cmp(&(*i as f64)),
                Value::Float(f) => value.partial_cmp(f),
                Value::Duration(d) => value.partial_cmp(&(*d as f64)),
                _ => None,
            };
            ordering.is_some_and(|o| ordering_holds(self.op, o))
        })
    }

    /// Whether a number satisfies the condition for any operand.
    fn number(&self, value: i128) -> bool {
        self.operands.iter().any(|operand| {
            let ordering = match operand {
                Value::Int(i) => Some(value.cmp(&i128::from(*i))),
                Value::Duration(d) => Some(value.cmp(&i128::from(*d))),
                Value::Float(f) => (value as f64).partial_cmp(f),
                _ => None,
            };
            ordering.is_some_and(|o| ordering_holds(self.op, o))
        })
    }
}

fn ordering_holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering.is_eq(),
        CompareOp::NotEq => ordering.is_ne(),
        CompareOp::Lt => ordering.is_lt(),
        CompareOp::LtEq => ordering.is_le(),
        CompareOp::Gt => ordering.is_gt(),
        CompareOp::GtEq => ordering.is_ge(),
        CompareOp::Regex | CompareOp::NotRegex => false,
    }
}

/// The single column holding `field`, when there is one and the plan reads only it.
fn column_of(field: &FieldRef, plan: &ColumnPlan) -> Option<(&'static str, ColumnKind)> {
    match field {
        FieldRef::Intrinsic(intrinsic) => Some(match intrinsic {
            Intrinsic::Name => (schema::NAME, ColumnKind::Str),
            Intrinsic::StatusMessage => (schema::STATUS_MESSAGE, ColumnKind::Str),
            Intrinsic::Status => (schema::STATUS_CODE, ColumnKind::Status),
            Intrinsic::Kind => (schema::KIND, ColumnKind::Kind),
            Intrinsic::Duration => (schema::DURATION_NANO, ColumnKind::SpanDuration),
            Intrinsic::RootName => (schema::ROOT_SPAN_NAME, ColumnKind::Str),
            Intrinsic::RootServiceName => (schema::ROOT_SERVICE_NAME, ColumnKind::Str),
            Intrinsic::TraceDuration => (schema::TRACE_DURATION_NANO, ColumnKind::UInt64),
            _ => return None,
        }),
        // A dedicated column answers alone only when the plan skipped the generic list, that is
        // when no value of another type could match.
        FieldRef::Attribute { scope: AttributeScope::Span, name } => {
            let dedicated_str = SPAN_DEDICATED_STR.iter().find(|(key, _, _)| key == name).map(|(_, c, _)| *c);
            let dedicated_int = SPAN_DEDICATED_INT.iter().find(|(key, _)| key == name).map(|(_, c)| *c);
            match (dedicated_str, dedicated_int, plan.span_keys.contains(name)) {
                (Some(column), _, false) => Some((column, ColumnKind::Str)),
                (_, Some(column), false) => Some((column, ColumnKind::Int64)),
                // Only in the generic list.
                (None, None, true) => Some((schema::SPAN_ATTRS, ColumnKind::Generic)),
                // In both: neither column alone can rule a span out.
                _ => None,
            }
        }
        FieldRef::Attribute { scope: AttributeScope::Resource, name } => {
            let dedicated = RESOURCE_DEDICATED.iter().find(|(key, _)| key == name).map(|(_, c)| *c);
            match (dedicated, plan.resource_keys.contains(name)) {
                (Some(column), false) => Some((column, ColumnKind::Str)),
                (None, true) => Some((schema::RESOURCE_ATTRS, ColumnKind::Generic)),
                _ => None,
            }
        }
        _ => None,
    }
}
