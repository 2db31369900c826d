//! Random traces for property tests: every OTLP field set, every attribute value type, and keys
//! that hit the dedicated columns with matching and mismatching types.

use proptest::prelude::*;
use strand_model::TraceId;
use strand_proto::otlp::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status, span};
use strand_proto::tempopb::Trace;

/// Keys with dedicated columns (string and int ones), plus ordinary keys.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "service.name", "k8s.pod.name", "deployment.environment", "cluster", "container",
            "http.method", "http.request.method", "url.full", "http.route", "db.system",
            "http.status_code", "http.response.status_code",
        ])
        .prop_map(str::to_string),
        2 => "[a-z]{1,3}(\\.[a-z]{1,3})?",
    ]
}

fn scalar() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => "[a-zA-Z0-9 é/]{0,8}".prop_map(|s| Some(Value::StringValue(s))),
        1 => any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
        2 => prop_oneof![any::<i64>(), 100i64..600].prop_map(|i| Some(Value::IntValue(i))),
        1 => prop::num::f64::NORMAL.prop_map(|d| Some(Value::DoubleValue(d))),
        1 => prop::collection::vec(any::<u8>(), 0..6).prop_map(|b| Some(Value::BytesValue(b))),
        1 => any::<i32>().prop_map(|i| Some(Value::StringValueStrindex(i))),
        1 => Just(None),
    ]
}

fn any_value() -> impl Strategy<Value = AnyValue> {
    let scalar_value = scalar().prop_map(|value| AnyValue { value }).boxed();
    prop_oneof![
        6 => scalar_value.clone(),
        1 => prop::collection::vec(scalar_value.clone(), 0..3)
            .prop_map(|values| AnyValue { value: Some(Value::ArrayValue(ArrayValue { values })) }),
        1 => prop::collection::vec(("[a-z]{1,3}", scalar_value), 0..3).prop_map(|pairs| AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: pairs.into_iter().map(|(key, value)| KeyValue { key, value: Some(value), ..Default::default() }).collect(),
            })),
        }),
    ]
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    let kv = (key(), prop::option::weighted(0.95, any_value())).prop_map(|(key, value)| KeyValue {
        key,
        value,
        ..Default::default()
    });
    prop::collection::vec(kv, 0..max)
}

fn small() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(0u32), 1 => any::<u32>()]
}

fn resource() -> impl Strategy<Value = (Option<Resource>, String)> {
    let entity = ("[a-z]{0,4}", "[a-z]{0,4}", prop::collection::vec("[a-z]{1,3}", 0..2)).prop_map(
        |(schema_url, r#type, id_keys)| EntityRef { schema_url, r#type, id_keys, description_keys: vec!["d".into()] },
    );
    let resource = (attributes(6), small(), prop::collection::vec(entity, 0..2)).prop_map(
        |(attributes, dropped_attributes_count, entity_refs)| Resource {
            attributes,
            dropped_attributes_count,
            entity_refs,
        },
    );
    (
        prop::option::weighted(0.9, resource),
        prop::sample::select(vec!["", "https://opentelemetry.io/schemas/1.21.0"]).prop_map(str::to_string),
    )
}

fn scope() -> impl Strategy<Value = (Option<InstrumentationScope>, String)> {
    let scope = ("[a-z]{0,5}", "[0-9.]{0,4}", attributes(3), small()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    );
    (prop::option::weighted(0.9, scope), prop::sample::select(vec!["", "s1"]).prop_map(str::to_string))
}

/// Span IDs come from a small pool so that duplicates (dropped by combine) and parent links
/// happen often; 0 means "no parent".
fn span() -> impl Strategy<Value = Span> {
    let event = (any::<u64>(), "[a-z ]{0,6}", attributes(3), small()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    );
    let link = (any::<[u8; 16]>(), any::<[u8; 8]>(), "[a-z=,]{0,6}", attributes(2), small(), any::<u32>()).prop_map(
        |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| span::Link {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            trace_state,
            attributes,
            dropped_attributes_count,
            flags,
        },
    );
    let status =
        prop::option::weighted(0.9, (0i32..3, "[a-z ]{0,6}").prop_map(|(code, message)| Status { message, code }));
    let identity = (1u8..25, 0u8..25, "[a-z=,]{0,6}", any::<u32>(), "[a-zA-Z /]{0,8}", 0i32..6);
    let times = (0u64..1_000, prop_oneof![4 => 0u64..500, 1 => any::<u64>()]);
    let lists = (
        attributes(8),
        small(),
        prop::collection::vec(event, 0..3),
        small(),
        prop::collection::vec(link, 0..2),
        small(),
        status,
    );
    (identity, times, lists).prop_map(
        |(
            (id, parent, trace_state, flags, name, kind),
            (start, duration),
            (attributes, dropped_attributes_count, events, dropped_events_count, links, dropped_links_count, status),
        )| {
            let start = 1_700_000_000_000_000_000 + start * 1_000;
            Span {
                trace_id: Vec::new(),
                span_id: vec![id; 8],
                trace_state,
                parent_span_id: if parent == 0 { Vec::new() } else { vec![parent; 8] },
                flags,
                name,
                kind,
                start_time_unix_nano: start,
                // Sometimes wraps: malformed ends must survive too.
                end_time_unix_nano: start.wrapping_add(duration),
                attributes,
                dropped_attributes_count,
                events,
                dropped_events_count,
                links,
                dropped_links_count,
                status,
            }
        },
    )
}

/// One trace: a few batches of a few scopes of a few spans. Span `trace_id`s are set by
/// [`traces`], to the trace's ID, as ingest guarantees.
pub(crate) fn trace() -> impl Strategy<Value = Trace> {
    let scope_spans = (scope(), prop::collection::vec(span(), 1..5))
        .prop_map(|((scope, schema_url), spans)| ScopeSpans { scope, spans, schema_url });
    let batch = (resource(), prop::collection::vec(scope_spans, 1..3))
        .prop_map(|((resource, schema_url), scope_spans)| ResourceSpans { resource, scope_spans, schema_url });
    prop::collection::vec(batch, 1..4).prop_map(|resource_spans| Trace { resource_spans })
}

/// Several traces with distinct random IDs, sorted by ID.
pub(crate) fn traces(max: usize) -> impl Strategy<Value = Vec<(TraceId, Trace)>> {
    prop::collection::btree_map(any::<[u8; 16]>(), trace(), 1..max).prop_map(|map| {
        map.into_iter()
            .map(|(id, mut trace)| {
                for span in
                    trace.resource_spans.iter_mut().flat_map(|rs| &mut rs.scope_spans).flat_map(|ss| &mut ss.spans)
                {
                    span.trace_id = id.to_vec();
                }
                (TraceId(id), trace)
            })
            .collect()
    })
}
