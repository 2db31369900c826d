//! OTLP values and traces as the TraceQL engine sees them.

use std::sync::Arc;

use strand_model::{TraceId, combine};
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value};
use strand_proto::otlp::trace::span;
use strand_proto::tempopb::Trace as OtlpTrace;
use strand_traceql::{Attribute, Event, Instrumentation, Kind, Link, Span, Status, Trace, Value};

use crate::block::nesting;

/// An OTLP value as a TraceQL value. Bytes and key-value lists have no TraceQL type: `None`.
pub(crate) fn value(value: &AnyValue) -> Option<Value> {
    use any_value::Value as V;
    Some(match value.value.as_ref()? {
        V::StringValue(s) => Value::str(s),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => Value::Int(*i),
        V::DoubleValue(f) => Value::Float(*f),
        V::ArrayValue(array) => {
            let items: Vec<Value> = array.values.iter().filter_map(self::value).collect();
            Value::Array(items.into())
        }
        V::KvlistValue(_) | V::BytesValue(_) | V::StringValueStrindex(_) => return None,
    })
}

/// The attributes of `list` TraceQL can compare, all of them or only those `keep` accepts.
pub(crate) fn attributes(list: &[KeyValue], keep: impl Fn(&str) -> bool) -> Vec<Attribute> {
    list.iter()
        .filter(|kv| keep(&kv.key))
        .filter_map(|kv| Some(Attribute { key: Arc::from(kv.key.as_str()), value: value(kv.value.as_ref()?)? }))
        .collect()
}

pub(crate) fn events(events: &[span::Event], span_start: u64) -> Vec<Event> {
    events
        .iter()
        .map(|event| Event {
            name: Arc::from(event.name.as_str()),
            time_since_start_nano: event.time_unix_nano.saturating_sub(span_start),
            attributes: attributes(&event.attributes, |_| true),
        })
        .collect()
}

pub(crate) fn links(links: &[span::Link]) -> Vec<Link> {
    links
        .iter()
        .map(|link| Link {
            trace_id: link.trace_id.clone(),
            span_id: link.span_id.clone(),
            attributes: attributes(&link.attributes, |_| true),
        })
        .collect()
}

/// A whole OTLP trace as the engine sees it: every field filled, spans sorted by start, nested
/// set numbers and trace-level fields computed the way the block writer computes them.
pub fn trace_from_otlp(id: TraceId, trace: &OtlpTrace) -> Trace {
    let combined = combine([trace.clone()]);
    let mut spans = Vec::new();
    // As the block writer computes it, from the raw span ends.
    let mut end = 0;
    for batch in &combined.resource_spans {
        let resource_attrs = batch.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
        let resource = Arc::new(attributes(resource_attrs, |_| true));
        for scope_spans in &batch.scope_spans {
            let scope = scope_spans.scope.as_ref();
            let instrumentation = Arc::new(Instrumentation {
                name: Arc::from(scope.map(|s| s.name.as_str()).unwrap_or_default()),
                version: Arc::from(scope.map(|s| s.version.as_str()).unwrap_or_default()),
                attributes: attributes(scope.map(|s| s.attributes.as_slice()).unwrap_or_default(), |_| true),
            });
            for otlp in &scope_spans.spans {
                let status = otlp.status.as_ref();
                end = end.max(otlp.end_time_unix_nano.max(otlp.start_time_unix_nano));
                spans.push(Span {
                    span_id: otlp.span_id.clone(),
                    parent_span_id: otlp.parent_span_id.clone(),
                    name: Arc::from(otlp.name.as_str()),
                    kind: Kind::from_otlp(otlp.kind),
                    status: Status::from_otlp(status.map(|s| s.code).unwrap_or_default()),
                    status_message: Arc::from(status.map(|s| s.message.as_str()).unwrap_or_default()),
                    start_unix_nano: otlp.start_time_unix_nano,
                    duration_nano: span_duration(otlp.end_time_unix_nano.wrapping_sub(otlp.start_time_unix_nano)),
                    attributes: attributes(&otlp.attributes, |_| true),
                    resource: Arc::clone(&resource),
                    instrumentation: Arc::clone(&instrumentation),
                    events: events(&otlp.events, otlp.start_time_unix_nano),
                    links: links(&otlp.links),
                    ..Span::default()
                });
            }
        }
    }
    // The block writer's row order, so nested set numbers agree between live data and blocks.
    spans.sort_by(|a, b| (a.start_unix_nano, &a.span_id).cmp(&(b.start_unix_nano, &b.span_id)));
    let span_ids: Vec<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
    let parent_ids: Vec<&[u8]> = spans.iter().map(|s| s.parent_span_id.as_slice()).collect();
    let nesting = nesting::nest(&span_ids, &parent_ids);
    let mut child_counts = vec![0u32; spans.len()];
    for parent in nesting.parent.iter().filter_map(|p| usize::try_from(*p).ok()) {
        if let Some(count) = child_counts.get_mut(parent) {
            *count += 1;
        }
    }
    for (row, span) in spans.iter_mut().enumerate() {
        span.nested_set_left = nesting.left[row];
        span.nested_set_right = nesting.right[row];
        span.nested_set_parent = parent_left(&nesting, row);
        span.child_count = child_counts[row];
    }

    let root = spans.iter().find(|s| s.parent_span_id.is_empty());
    let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or_default();
    Trace {
        trace_id: *id.as_bytes(),
        root_service_name: root
            .and_then(|r| strand_traceql::find_attribute(&r.resource, "service.name"))
            .and_then(|v| match v {
                Value::Str(s) => Some(Arc::clone(s)),
                _ => None,
            })
            .unwrap_or_else(|| Arc::from("")),
        root_span_name: root.map(|r| Arc::clone(&r.name)).unwrap_or_else(|| Arc::from("")),
        start_unix_nano: start,
        duration_nano: end.saturating_sub(start),
        spans,
    }
}

/// A span's duration from `end - start` computed with wrap-around, as blocks store it (so that
/// a span ending before it starts comes back exactly). TraceQL durations are signed 64-bit:
/// anything past that, wrapped or absurd, reads as no time at all, on every path.
pub(crate) fn span_duration(wrapped: u64) -> u64 {
    if wrapped > i64::MAX as u64 { 0 } else { wrapped }
}

/// The parent's `nested_set_left` of `row`, or -1 for roots.
pub(crate) fn parent_left(nesting: &nesting::Nesting, row: usize) -> i32 {
    usize::try_from(nesting.parent[row]).ok().and_then(|parent| nesting.left.get(parent).copied()).unwrap_or(-1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strand_proto::otlp::common::KeyValue;
    use strand_proto::otlp::resource::Resource;
    use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span as OtlpSpan};

    use super::*;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    #[test]
    fn a_trace_keeps_structure_and_root_fields() {
        let span = |id: u8, parent: Option<u8>, start: u64, name: &str| OtlpSpan {
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: name.into(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10,
            attributes: vec![kv("http.status_code", any_value::Value::IntValue(500))],
            ..Default::default()
        };
        let trace = OtlpTrace {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", any_value::Value::StringValue("shop".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(2, Some(1), 110, "child"), span(1, None, 100, "root")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let converted = trace_from_otlp(TraceId::from_bytes(&[7; 16]).unwrap(), &trace);
        assert_eq!(&*converted.root_service_name, "shop");
        assert_eq!(&*converted.root_span_name, "root");
        assert_eq!((converted.start_unix_nano, converted.duration_nano), (100, 20));
        let [root, child] = converted.spans.as_slice() else { panic!("two spans") };
        assert_eq!(&*root.name, "root");
        assert_eq!(root.nested_set_parent, -1);
        assert_eq!(child.nested_set_parent, root.nested_set_left);
        assert!(root.nested_set_left < child.nested_set_left && child.nested_set_right < root.nested_set_right);
        assert_eq!(root.child_count, 1);
        assert_eq!(child.attributes, vec![Attribute::new("http.status_code", Value::Int(500))]);
    }
}
