//! What the engine found in a trace, and how search results show it.
//!
//! The engine returns a [`TraceMatch`] per matching trace; [`search_metadata`] turns it into
//! Tempo's `TraceSearchMetadata`, the shape `/api/search` answers with.

use strand_proto::otlp::common::{AnyValue, ArrayValue, KeyValue, any_value};
use strand_proto::tempopb::{self, SpanSet, TraceSearchMetadata};

use crate::data::{Attribute, Trace, Value};

/// What Tempo shows as the root service of a trace whose root span has not arrived.
pub const ROOT_SPAN_NOT_YET_RECEIVED: &str = "<root span not yet received>";

/// One span in a matching spanset.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedSpan {
    /// Position of the span in the evaluated [`Trace::spans`].
    pub index: usize,
    /// The fields the query referenced or selected, on this span, keyed without scope prefix
    /// (`http.status_code`), intrinsics by name (`status`).
    pub attributes: Vec<Attribute>,
}

/// One spanset a query produced for a trace (one per `by()` group).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MatchedSpanset {
    /// The spans, in trace order.
    pub spans: Vec<MatchedSpan>,
    /// `by()` group values and aggregate results.
    pub attributes: Vec<Attribute>,
}

/// Everything a query found in one trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceMatch {
    /// The spansets; never empty for a match.
    pub spansets: Vec<MatchedSpanset>,
}

/// The search result for `trace`, with at most `spans_per_span_set` spans per spanset.
pub fn search_metadata(trace: &Trace, found: &TraceMatch, spans_per_span_set: u32) -> TraceSearchMetadata {
    let span_sets: Vec<SpanSet> = found.spansets.iter().map(|set| span_set(trace, set, spans_per_span_set)).collect();
    let root_service_name = if trace.root_service_name.is_empty() && trace.root_span_name.is_empty() {
        ROOT_SPAN_NOT_YET_RECEIVED.to_string()
    } else {
        trace.root_service_name.to_string()
    };
    TraceSearchMetadata {
        trace_id: trace_id_hex(&trace.trace_id),
        root_service_name,
        root_trace_name: trace.root_span_name.to_string(),
        start_time_unix_nano: trace.start_unix_nano,
        duration_ms: u32::try_from(trace.duration_nano / 1_000_000).unwrap_or(u32::MAX),
        span_set: span_sets.first().cloned(),
        span_sets,
        service_stats: Default::default(),
    }
}

fn span_set(trace: &Trace, set: &MatchedSpanset, spans_per_span_set: u32) -> SpanSet {
    let spans = set
        .spans
        .iter()
        .filter_map(|matched| trace.spans.get(matched.index).map(|span| (span, matched)))
        .take(spans_per_span_set as usize)
        .map(|(span, matched)| tempopb::Span {
            span_id: hex(&span.span_id),
            name: span.name.to_string(),
            start_time_unix_nano: span.start_unix_nano,
            duration_nanos: span.duration_nano,
            attributes: matched.attributes.iter().filter_map(key_value).collect(),
        })
        .collect();
    SpanSet {
        spans,
        matched: u32::try_from(set.spans.len()).unwrap_or(u32::MAX),
        attributes: set.attributes.iter().filter_map(key_value).collect(),
    }
}

/// Lowercase hex with leading zeros stripped, as Tempo prints trace IDs in search results.
pub fn trace_id_hex(id: &[u8]) -> String {
    let full = hex(id);
    let trimmed = full.trim_start_matches('0');
    if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() }
}

/// Lowercase hex. Search results print an ID per span, so this avoids the formatting machinery.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn key_value(attribute: &Attribute) -> Option<KeyValue> {
    Some(KeyValue { key: attribute.key.to_string(), value: Some(any_value(&attribute.value)?), ..Default::default() })
}

/// A value as an OTLP `AnyValue`: enums and durations become the strings Tempo shows.
fn any_value(value: &Value) -> Option<AnyValue> {
    use any_value::Value as V;
    let inner = match value {
        Value::Nil => return None,
        Value::Bool(b) => V::BoolValue(*b),
        Value::Int(i) => V::IntValue(*i),
        Value::Float(f) => V::DoubleValue(*f),
        Value::Str(s) => V::StringValue(s.to_string()),
        Value::Duration(nanos) => V::StringValue(go_duration(*nanos)),
        Value::Status(status) => V::StringValue(status.as_str().to_string()),
        Value::Kind(kind) => V::StringValue(kind.as_str().to_string()),
        Value::Array(items) => V::ArrayValue(ArrayValue { values: items.iter().filter_map(any_value).collect() }),
    };
    Some(AnyValue { value: Some(inner) })
}

/// A duration printed the way Go's `time.Duration.String` does (`1h2m3.5s`, `446.979497ms`,
/// `1.5µs`, `0s`), which is what Tempo's search results carry.
pub fn go_duration(nanos: i64) -> String {
    let negative = nanos < 0;
    let n = nanos.unsigned_abs();
    let sign = if negative { "-" } else { "" };
    if n == 0 {
        return "0s".to_string();
    }
    if n < 1_000_000_000 {
        let (unit, scale) = match n {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(n, scale));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = fraction(n % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// `value / scale` with the fraction's trailing zeros removed.
fn fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let digits = scale.ilog10() as usize;
    let text = format!("{whole}.{rest:0digits$}");
    text.trim_end_matches('0').to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::data::{Span, Status};

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(100), "100ns");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(446_979_497), "446.979497ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(60_000_000_000), "1m0s");
        assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(go_duration(-2_000_000), "-2ms");
    }

    #[test]
    fn trace_ids_lose_leading_zeros() {
        let mut id = [0u8; 16];
        id[15] = 0xab;
        id[8] = 0x01;
        assert_eq!(trace_id_hex(&id), "1000000000000ab");
        assert_eq!(trace_id_hex(&[0u8; 16]), "0");
    }

    #[test]
    fn metadata_caps_spans_but_counts_every_match() {
        let span = |i: u8| Span { span_id: vec![0, 0, 0, 0, 0, 0, 0, i], name: Arc::from("op"), ..Span::default() };
        let trace = Trace {
            trace_id: [1; 16],
            root_service_name: Arc::from("frontend"),
            root_span_name: Arc::from("GET /"),
            start_unix_nano: 5,
            duration_nano: 2_500_000,
            spans: (0..5).map(span).collect(),
        };
        let found = TraceMatch {
            spansets: vec![MatchedSpanset {
                spans: (0..5)
                    .map(|index| MatchedSpan {
                        index,
                        attributes: vec![Attribute::new("status", Value::Status(Status::Error))],
                    })
                    .collect(),
                attributes: vec![],
            }],
        };
        let meta = search_metadata(&trace, &found, 3);
        assert_eq!(meta.duration_ms, 2);
        assert_eq!(meta.root_service_name, "frontend");
        assert_eq!(meta.span_sets.len(), 1);
        assert_eq!(meta.span_sets[0].spans.len(), 3);
        assert_eq!(meta.span_sets[0].matched, 5);
        assert_eq!(meta.span_sets[0].spans[1].span_id, "0000000000000001");
        assert_eq!(meta.span_set, meta.span_sets.first().cloned());
        let status = &meta.span_sets[0].spans[0].attributes[0];
        assert_eq!(status.value, Some(AnyValue { value: Some(any_value::Value::StringValue("error".into())) }));
    }

    #[test]
    fn missing_root_is_named_like_tempo() {
        let meta = search_metadata(&Trace::default(), &TraceMatch::default(), 3);
        assert_eq!(meta.root_service_name, ROOT_SPAN_NOT_YET_RECEIVED);
    }
}
