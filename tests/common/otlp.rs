//! OTLP requests built by hand, with IDs derived from a seed so a test knows every ID it sent.

use std::time::{SystemTime, UNIX_EPOCH};

use strand_proto::otlp::collector::ExportTraceServiceRequest;
use strand_proto::otlp::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status, span};

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    u64::try_from(since_epoch.as_nanos()).expect("nanoseconds fit in u64")
}

/// SplitMix64: spreads a counter over all 64 bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Trace ID number `n` of the test seeded with `seed`.
pub fn trace_id(seed: u64, n: u64) -> [u8; 16] {
    let high = mix(seed.wrapping_mul(0x1000_0000_01b3) ^ n);
    let low = mix(high ^ n.rotate_left(17));
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    id
}

/// Span ID number `n` of trace `trace`; never all zeros.
pub fn span_id(trace: &[u8; 16], n: u64) -> [u8; 8] {
    let seed = u64::from_be_bytes(trace[8..].try_into().expect("8 bytes"));
    let id = mix(seed ^ mix(n)) | 1;
    id.to_be_bytes()
}

pub fn string_value(value: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }
}

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }
}

pub fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

pub fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

/// A resource naming `service`.
pub fn resource(service: &str) -> Resource {
    Resource { attributes: vec![kv_str("service.name", service)], ..Default::default() }
}

/// A server span of `trace` lasting `duration` nanoseconds from `start`, with a couple of attributes.
pub fn span(trace: &[u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &str, start: u64, duration: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.to_string(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + duration,
        attributes: vec![kv_str("http.method", "GET"), kv_int("http.status_code", 200)],
        status: Some(Status::default()),
        ..Default::default()
    }
}

/// One resource, one scope, these spans.
pub fn batch(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(resource(service)),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "strand-e2e".into(),
                version: "1.0.0".into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// An export request of one batch.
pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest { resource_spans: vec![batch(service, spans)] }
}

/// A trace of `span_count` spans (a root and its children) starting at `start`.
pub fn simple_trace(trace: &[u8; 16], span_count: u64, start: u64) -> Vec<Span> {
    let root = span_id(trace, 0);
    (0..span_count)
        .map(|n| {
            let parent = (n > 0).then_some(root);
            span(trace, span_id(trace, n), parent, &format!("op-{n}"), start + n * 1_000, 500_000)
        })
        .collect()
}
