//! Values while a query runs, and the operators on them.
//!
//! [`Val`] borrows from the span, the trace or the compiled query, so evaluating a filter on a
//! span allocates nothing. The operator rules are Tempo's (`BinaryOperation.execute` in
//! `pkg/traceql/ast_execute.go`): ints, floats and durations mix; int with int stays int; any
//! other arithmetic goes through floats; a comparison between types that do not go together, or
//! with nil, is false; arrays match element-wise.

use std::cmp::Ordering;
use std::sync::Arc;

use regex::Regex;

use crate::ast::ArithOp;
use crate::data::{Kind, Status, Value};
use crate::fetch::CompareOp;

/// How an ID prints, following Tempo's `util` helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdStyle {
    /// Span IDs: leading zeros dropped, then padded back to at least 16 digits.
    Span,
    /// Trace IDs: leading zeros dropped.
    Trace,
}

/// A value during evaluation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    /// An ID, compared and shown as lowercase hex text.
    Id(&'a [u8], IdStyle),
    Duration(i64),
    Status(Status),
    Kind(Kind),
    Array(&'a [Value]),
}

impl<'a> Val<'a> {
    pub(crate) fn of(value: &'a Value) -> Val<'a> {
        match value {
            Value::Nil => Val::Nil,
            Value::Bool(b) => Val::Bool(*b),
            Value::Int(i) => Val::Int(*i),
            Value::Float(f) => Val::Float(*f),
            Value::Str(s) => Val::Str(s),
            Value::Duration(d) => Val::Duration(*d),
            Value::Status(s) => Val::Status(*s),
            Value::Kind(k) => Val::Kind(*k),
            Value::Array(items) => Val::Array(items),
        }
    }

    /// An owned copy, for results.
    pub(crate) fn to_value(self) -> Value {
        match self {
            Val::Nil => Value::Nil,
            Val::Bool(b) => Value::Bool(b),
            Val::Int(i) => Value::Int(i),
            Val::Float(f) => Value::Float(f),
            Val::Str(s) => Value::str(s),
            Val::Id(bytes, style) => with_id_text(bytes, style, Value::str),
            Val::Duration(d) => Value::Duration(d),
            Val::Status(s) => Value::Status(s),
            Val::Kind(k) => Value::Kind(k),
            Val::Array(items) => Value::Array(Arc::from(items)),
        }
    }

    /// What a filter keeps: only `true`. Nil and non-booleans count as false.
    pub(crate) fn is_true(self) -> bool {
        matches!(self, Val::Bool(true))
    }

    pub(crate) fn is_nil(self) -> bool {
        matches!(self, Val::Nil)
    }

    /// Ints, floats and durations as a float (durations in nanoseconds).
    pub(crate) fn number(self) -> Option<f64> {
        match self {
            Val::Int(i) | Val::Duration(i) => Some(i as f64),
            Val::Float(f) => Some(f),
            _ => None,
        }
    }

    /// Ints and durations, which compare exactly with each other.
    fn integer(self) -> Option<i64> {
        match self {
            Val::Int(i) | Val::Duration(i) => Some(i),
            _ => None,
        }
    }
}

/// `lhs op rhs`. `regex` is the compiled right-hand pattern of `=~` and `!~`.
pub(crate) fn compare(op: CompareOp, lhs: Val<'_>, rhs: Val<'_>, regex: Option<&Regex>) -> bool {
    match (lhs, rhs) {
        (Val::Nil, _) | (_, Val::Nil) | (Val::Array(_), Val::Array(_)) => false,
        (Val::Array(items), scalar) => each_element(op, items, |e| compare_scalar(op, e, scalar, regex)),
        (scalar, Val::Array(items)) => each_element(op, items, |e| compare_scalar(op, scalar, e, regex)),
        _ => compare_scalar(op, lhs, rhs, regex),
    }
}

/// `=` and `=~` hold when some element matches; `!=` and `!~` when every element does (no
/// element is equal), so an empty array is `!=` to anything, as in Tempo.
fn each_element(op: CompareOp, items: &[Value], mut test: impl FnMut(Val<'_>) -> bool) -> bool {
    if matches!(op, CompareOp::NotEq | CompareOp::NotRegex) {
        items.iter().all(|item| test(Val::of(item)))
    } else {
        items.iter().any(|item| test(Val::of(item)))
    }
}

fn compare_scalar(op: CompareOp, lhs: Val<'_>, rhs: Val<'_>, regex: Option<&Regex>) -> bool {
    match op {
        CompareOp::Regex | CompareOp::NotRegex => {
            let Some(regex) = regex else { return false };
            with_text(lhs, |text| regex.is_match(text) == (op == CompareOp::Regex)).unwrap_or(false)
        }
        CompareOp::Eq => equal(lhs, rhs).unwrap_or(false),
        CompareOp::NotEq => equal(lhs, rhs).is_some_and(|eq| !eq),
        CompareOp::Lt => order(lhs, rhs).is_some_and(Ordering::is_lt),
        CompareOp::LtEq => order(lhs, rhs).is_some_and(Ordering::is_le),
        CompareOp::Gt => order(lhs, rhs).is_some_and(Ordering::is_gt),
        CompareOp::GtEq => order(lhs, rhs).is_some_and(Ordering::is_ge),
    }
}

/// Equality, or `None` when the two types do not compare (so `!=` is false too).
fn equal(lhs: Val<'_>, rhs: Val<'_>) -> Option<bool> {
    match (lhs, rhs) {
        (Val::Str(a), Val::Str(b)) => Some(a == b),
        (Val::Id(id, _), Val::Str(text)) | (Val::Str(text), Val::Id(id, _)) => Some(id_equals_text(id, text)),
        (Val::Id(a, _), Val::Id(b, _)) => Some(strip_zero_bytes(a) == strip_zero_bytes(b)),
        (Val::Bool(a), Val::Bool(b)) => Some(a == b),
        (Val::Status(a), Val::Status(b)) => Some(a == b),
        (Val::Kind(a), Val::Kind(b)) => Some(a == b),
        (Val::Status(s), Val::Int(i)) | (Val::Int(i), Val::Status(s)) => Some(s.otlp_code() == i),
        (Val::Kind(k), Val::Int(i)) | (Val::Int(i), Val::Kind(k)) => Some(k.otlp_code() == i),
        _ => {
            if let (Some(a), Some(b)) = (lhs.integer(), rhs.integer()) {
                return Some(a == b);
            }
            Some(lhs.number()? == rhs.number()?)
        }
    }
}

/// Ordering of numbers (mixed freely) and of strings (bytewise); `None` otherwise.
fn order(lhs: Val<'_>, rhs: Val<'_>) -> Option<Ordering> {
    match (lhs, rhs) {
        (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
        (Val::Id(..), Val::Str(_) | Val::Id(..)) | (Val::Str(_), Val::Id(..)) => {
            with_text(lhs, |a| with_text(rhs, |b| a.cmp(b))).flatten()
        }
        _ => {
            if let (Some(a), Some(b)) = (lhs.integer(), rhs.integer()) {
                return Some(a.cmp(&b));
            }
            lhs.number()?.partial_cmp(&rhs.number()?)
        }
    }
}

/// `lhs op rhs` on numbers: int with int stays int (wrapping, as Go does; division by zero is
/// nil where Tempo fails the query), anything else numeric is a float. Nil for other types.
pub(crate) fn arith(op: ArithOp, lhs: Val<'_>, rhs: Val<'_>) -> Val<'static> {
    if let (Val::Int(a), Val::Int(b)) = (lhs, rhs) {
        return match op {
            ArithOp::Add => Val::Int(a.wrapping_add(b)),
            ArithOp::Sub => Val::Int(a.wrapping_sub(b)),
            ArithOp::Mul => Val::Int(a.wrapping_mul(b)),
            ArithOp::Div if b == 0 => Val::Nil,
            ArithOp::Div => Val::Int(a.wrapping_div(b)),
            ArithOp::Mod if b == 0 => Val::Nil,
            ArithOp::Mod => Val::Int(a.wrapping_rem(b)),
            ArithOp::Pow => Val::Int(int_pow(a, b)),
        };
    }
    let (Some(a), Some(b)) = (lhs.number(), rhs.number()) else { return Val::Nil };
    Val::Float(match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::Mod => a % b,
        ArithOp::Pow => a.powf(b),
    })
}

/// `-value` for numbers; nil otherwise.
pub(crate) fn negate(value: Val<'_>) -> Val<'static> {
    match value {
        Val::Int(i) => Val::Int(i.wrapping_neg()),
        Val::Float(f) => Val::Float(-f),
        Val::Duration(d) => Val::Duration(d.wrapping_neg()),
        _ => Val::Nil,
    }
}

/// `base ^ exp` on integers: a negative exponent rounds toward zero, overflow saturates.
fn int_pow(base: i64, exp: i64) -> i64 {
    let odd = exp % 2 != 0;
    match base {
        0 if exp < 0 => return i64::MAX,
        1 => return 1,
        -1 => return if odd { -1 } else { 1 },
        _ if exp < 0 => return 0,
        _ => {}
    }
    let saturated = if base < 0 && odd { i64::MIN } else { i64::MAX };
    u32::try_from(exp).ok().and_then(|exp| base.checked_pow(exp)).unwrap_or(if base == 0 { 0 } else { saturated })
}

/// Calls `f` with the text of a string or ID; `None` for other types.
pub(crate) fn with_text<R>(value: Val<'_>, f: impl FnOnce(&str) -> R) -> Option<R> {
    match value {
        Val::Str(text) => Some(f(text)),
        Val::Id(bytes, style) => Some(with_id_text(bytes, style, f)),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
/// IDs up to this many bytes print without allocating.
const STACK_ID_BYTES: usize = 32;
const PAD: usize = 16;

/// Calls `f` with the ID's hex text in Tempo's style, built on the stack for IDs up to 32 bytes.
fn with_id_text<R>(bytes: &[u8], style: IdStyle, f: impl FnOnce(&str) -> R) -> R {
    let mut stack = [b'0'; PAD + 2 * STACK_ID_BYTES];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if bytes.len() <= STACK_ID_BYTES {
        &mut stack[..PAD + 2 * bytes.len()]
    } else {
        heap.resize(PAD + 2 * bytes.len(), b'0');
        &mut heap
    };
    for (pair, byte) in buf[PAD..].chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    let first_digit = buf.iter().position(|&c| c != b'0').unwrap_or(buf.len());
    let start = match style {
        // At least 16 digits: the padding covers IDs shorter than 8 bytes.
        IdStyle::Span => first_digit.min(buf.len() - PAD),
        // At least one digit.
        IdStyle::Trace => first_digit.min(buf.len() - 1),
    };
    f(std::str::from_utf8(&buf[start..]).unwrap_or_default())
}

fn strip_zero_bytes(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Whether `text` spells `id` in hex: any case, any number of leading zeros (storage compares
/// IDs as bytes, so `00ab` and `ab` name the same span).
fn id_equals_text(id: &[u8], text: &str) -> bool {
    let digits = text.trim_start_matches('0').as_bytes();
    let id = strip_zero_bytes(id);
    let Some(first) = id.first() else { return digits.is_empty() };
    // The first byte may print as one digit once its leading zero is dropped.
    let first_len = if *first < 0x10 { 1 } else { 2 };
    if digits.len() != first_len + 2 * (id.len() - 1) {
        return false;
    }
    let nibbles = id.iter().flat_map(|byte| [byte >> 4, byte & 0xf]).skip(2 - first_len);
    digits.iter().zip(nibbles).all(|(digit, nibble)| digit.to_ascii_lowercase() == HEX[usize::from(nibble)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8], style: IdStyle) -> String {
        with_id_text(bytes, style, str::to_string)
    }

    #[test]
    fn ids_print_like_tempo() {
        assert_eq!(text(&[0, 0, 0, 0, 0, 0, 0x0a, 0xbc], IdStyle::Span), "0000000000000abc");
        assert_eq!(text(&[0xab; 8], IdStyle::Span), "abababababababab");
        assert_eq!(text(&[], IdStyle::Span), "0000000000000000");
        assert_eq!(text(&[0x0a, 0xbc], IdStyle::Span), "0000000000000abc");
        let mut trace = [0u8; 16];
        trace[14] = 0x01;
        trace[15] = 0xff;
        assert_eq!(text(&trace, IdStyle::Trace), "1ff");
        assert_eq!(text(&[0; 16], IdStyle::Trace), "0");
        assert_eq!(text(&[0x12; 40], IdStyle::Trace).len(), 80);
    }

    #[test]
    fn ids_equal_their_hex_in_any_case_and_padding() {
        let id = [0, 0, 0, 0, 0, 0, 0x0a, 0xbc];
        assert!(id_equals_text(&id, "0000000000000abc"));
        assert!(id_equals_text(&id, "ABC"));
        assert!(!id_equals_text(&id, "abd"));
        assert!(!id_equals_text(&id, "0abcd"));
        assert!(id_equals_text(&[0, 0], "0"));
        assert!(id_equals_text(&[0xab, 0xcd], "abcd"));
    }

    #[test]
    fn numbers_mix_and_other_types_do_not() {
        use CompareOp::*;
        assert!(compare(Eq, Val::Int(1), Val::Float(1.0), None));
        assert!(compare(Eq, Val::Duration(5), Val::Int(5), None));
        assert!(compare(Lt, Val::Duration(5), Val::Float(5.5), None));
        assert!(!compare(Eq, Val::Str("1"), Val::Int(1), None));
        assert!(!compare(NotEq, Val::Str("1"), Val::Int(1), None));
        assert!(!compare(NotEq, Val::Nil, Val::Int(1), None));
        assert!(compare(Gt, Val::Str("b"), Val::Str("a"), None));
        assert!(compare(Gt, Val::Str("123"), Val::Str(""), None));
        assert!(!compare(Gt, Val::Status(Status::Error), Val::Status(Status::Ok), None));
        assert!(compare(Eq, Val::Status(Status::Error), Val::Int(2), None));
        assert!(compare(Eq, Val::Int(3), Val::Kind(Kind::Client), None));
        assert!(!compare(Eq, Val::Bool(true), Val::Int(1), None));
    }

    #[test]
    fn arithmetic_follows_go() {
        assert!(matches!(arith(ArithOp::Div, Val::Int(1), Val::Int(10)), Val::Int(0)));
        assert!(matches!(arith(ArithOp::Div, Val::Int(1), Val::Int(0)), Val::Nil));
        assert!(matches!(arith(ArithOp::Mod, Val::Int(1), Val::Int(0)), Val::Nil));
        assert!(matches!(arith(ArithOp::Div, Val::Int(1), Val::Float(10.0)), Val::Float(f) if f == 0.1));
        assert!(matches!(arith(ArithOp::Add, Val::Str("a"), Val::Int(1)), Val::Nil));
        assert!(matches!(arith(ArithOp::Add, Val::Int(i64::MAX), Val::Int(1)), Val::Int(i64::MIN)));
        assert_eq!(int_pow(2, 10), 1024);
        assert_eq!(int_pow(-2, 3), -8);
        assert_eq!(int_pow(10, -1), 0);
        assert_eq!(int_pow(-1, -3), -1);
        assert_eq!(int_pow(2, 62), 1 << 62);
        assert_eq!(int_pow(100, 100), i64::MAX);
        assert_eq!(int_pow(-3, i64::MAX), i64::MIN);
        assert_eq!(int_pow(0, 0), 1);
    }
}
