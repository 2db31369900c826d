//! Traces as JSON, byte for byte the way Tempo's gogo `jsonpb.Marshaler{}` writes them.
//!
//! Grafana and other clients parse these answers with strict proto3-JSON decoders, so the rules
//! are exact: lowerCamelCase keys in declaration order; 64-bit integers as strings, 32-bit ones and
//! doubles as numbers (non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`); enums by name;
//! bytes (IDs included) in standard base64; zero and empty fields left out, except that a set
//! `AnyValue` member is always written, even when zero. On top of that, `resource`, `scope` and
//! span `status` are always written (`{}` when empty), as Tempo's block reader always fills them
//! and Grafana dereferences them unchecked. Fields Tempo's proto does not know (`entityRefs`,
//! `keyStrindex`, `stringValueStrindex`) are never written: a strict parser would reject them.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use strand_proto::otlp::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::span::{Event, Link, SpanKind};
use strand_proto::otlp::trace::status::StatusCode;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status};
use strand_proto::tempopb::{PartialStatus, Trace, TraceByIdMetrics, TraceByIdResponse};

/// The v1 answer, `{"batches":[...]}`: Tempo renames `resourceSpans` for backward compatibility.
pub(crate) fn trace_v1(trace: &Trace) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_trace(&mut out, trace, "batches");
    out
}

/// The v2 answer: a `tempopb.TraceByIDResponse`. `trace` is always written.
pub(crate) fn trace_by_id_response(response: &TraceByIdResponse) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let mut object = Object::open(&mut out);
    let empty = Trace::default();
    write_trace(object.key("trace"), response.trace.as_ref().unwrap_or(&empty), "resourceSpans");
    if let Some(metrics) = &response.metrics {
        write_metrics(object.key("metrics"), metrics);
    }
    object.enumeration(
        "status",
        response.status,
        PartialStatus::try_from(response.status).ok().map(|s| s.as_str_name()),
    );
    object.string("message", &response.message);
    object.close();
    out
}

fn write_trace(out: &mut Vec<u8>, trace: &Trace, key: &str) {
    let mut object = Object::open(out);
    object.list(key, &trace.resource_spans, write_resource_spans);
    object.close();
}

fn write_metrics(out: &mut Vec<u8>, metrics: &TraceByIdMetrics) {
    let mut object = Object::open(out);
    object.uint64("inspectedBytes", metrics.inspected_bytes);
    object.close();
}

fn write_resource_spans(out: &mut Vec<u8>, batch: &ResourceSpans) {
    let mut object = Object::open(out);
    write_resource(object.key("resource"), batch.resource.as_ref());
    object.list("scopeSpans", &batch.scope_spans, write_scope_spans);
    object.string("schemaUrl", &batch.schema_url);
    object.close();
}

fn write_resource(out: &mut Vec<u8>, resource: Option<&Resource>) {
    let mut object = Object::open(out);
    if let Some(resource) = resource {
        object.list("attributes", &resource.attributes, write_key_value);
        object.uint32("droppedAttributesCount", resource.dropped_attributes_count);
    }
    object.close();
}

fn write_scope_spans(out: &mut Vec<u8>, scope_spans: &ScopeSpans) {
    let mut object = Object::open(out);
    write_scope(object.key("scope"), scope_spans.scope.as_ref());
    object.list("spans", &scope_spans.spans, write_span);
    object.string("schemaUrl", &scope_spans.schema_url);
    object.close();
}

fn write_scope(out: &mut Vec<u8>, scope: Option<&InstrumentationScope>) {
    let mut object = Object::open(out);
    if let Some(scope) = scope {
        object.string("name", &scope.name);
        object.string("version", &scope.version);
        object.list("attributes", &scope.attributes, write_key_value);
        object.uint32("droppedAttributesCount", scope.dropped_attributes_count);
    }
    object.close();
}

fn write_span(out: &mut Vec<u8>, span: &Span) {
    let mut object = Object::open(out);
    object.bytes("traceId", &span.trace_id);
    object.bytes("spanId", &span.span_id);
    object.string("traceState", &span.trace_state);
    object.bytes("parentSpanId", &span.parent_span_id);
    object.uint32("flags", span.flags);
    object.string("name", &span.name);
    object.enumeration("kind", span.kind, SpanKind::try_from(span.kind).ok().map(|k| k.as_str_name()));
    object.uint64("startTimeUnixNano", span.start_time_unix_nano);
    object.uint64("endTimeUnixNano", span.end_time_unix_nano);
    object.list("attributes", &span.attributes, write_key_value);
    object.uint32("droppedAttributesCount", span.dropped_attributes_count);
    object.list("events", &span.events, write_event);
    object.uint32("droppedEventsCount", span.dropped_events_count);
    object.list("links", &span.links, write_link);
    object.uint32("droppedLinksCount", span.dropped_links_count);
    write_status(object.key("status"), span.status.as_ref());
    object.close();
}

fn write_event(out: &mut Vec<u8>, event: &Event) {
    let mut object = Object::open(out);
    object.uint64("timeUnixNano", event.time_unix_nano);
    object.string("name", &event.name);
    object.list("attributes", &event.attributes, write_key_value);
    object.uint32("droppedAttributesCount", event.dropped_attributes_count);
    object.close();
}

fn write_link(out: &mut Vec<u8>, link: &Link) {
    let mut object = Object::open(out);
    object.bytes("traceId", &link.trace_id);
    object.bytes("spanId", &link.span_id);
    object.string("traceState", &link.trace_state);
    object.list("attributes", &link.attributes, write_key_value);
    object.uint32("droppedAttributesCount", link.dropped_attributes_count);
    object.uint32("flags", link.flags);
    object.close();
}

fn write_status(out: &mut Vec<u8>, status: Option<&Status>) {
    let mut object = Object::open(out);
    if let Some(status) = status {
        object.string("message", &status.message);
        object.enumeration("code", status.code, StatusCode::try_from(status.code).ok().map(|c| c.as_str_name()));
    }
    object.close();
}

pub(crate) fn write_key_value(out: &mut Vec<u8>, pair: &KeyValue) {
    let mut object = Object::open(out);
    object.string("key", &pair.key);
    if let Some(value) = &pair.value {
        write_any_value(object.key("value"), value);
    }
    object.close();
}

fn write_any_value(out: &mut Vec<u8>, value: &AnyValue) {
    let mut object = Object::open(out);
    // A oneof member that is set is written even when it holds its zero value.
    match &value.value {
        Some(any_value::Value::StringValue(text)) => write_string(object.key("stringValue"), text),
        Some(any_value::Value::BoolValue(flag)) => {
            object.key("boolValue").extend_from_slice(if *flag { b"true" } else { b"false" })
        }
        Some(any_value::Value::IntValue(number)) => write_quoted(object.key("intValue"), number),
        Some(any_value::Value::DoubleValue(number)) => write_double(object.key("doubleValue"), *number),
        Some(any_value::Value::ArrayValue(array)) => {
            let mut inner = Object::open(object.key("arrayValue"));
            inner.list("values", &array.values, write_any_value);
            inner.close();
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let mut inner = Object::open(object.key("kvlistValue"));
            inner.list("values", &list.values, write_key_value);
            inner.close();
        }
        Some(any_value::Value::BytesValue(bytes)) => write_base64(object.key("bytesValue"), bytes),
        // Profiles-only, unknown to Tempo's proto.
        Some(any_value::Value::StringValueStrindex(_)) | None => {}
    }
    object.close();
}

/// Writes one JSON object, leaving out zero-valued fields as jsonpb does.
pub(crate) struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    pub(crate) fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Starts a field and returns the buffer its value goes to.
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        write_string(self.out, key);
        self.out.push(b':');
        self.out
    }

    pub(crate) fn string(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            write_string(self.key(key), value);
        }
    }

    pub(crate) fn uint64(&mut self, key: &str, value: u64) {
        if value != 0 {
            write_quoted(self.key(key), value);
        }
    }

    pub(crate) fn uint32(&mut self, key: &str, value: u32) {
        if value != 0 {
            let out = self.key(key);
            let _ = write!(Adapter(out), "{value}");
        }
    }

    fn bytes(&mut self, key: &str, value: &[u8]) {
        if !value.is_empty() {
            write_base64(self.key(key), value);
        }
    }

    /// An enum by name; values the proto does not name are written as numbers, as jsonpb does.
    fn enumeration(&mut self, key: &str, value: i32, name: Option<&'static str>) {
        if value == 0 {
            return;
        }
        let out = self.key(key);
        match name {
            Some(name) => write_string(out, name),
            None => {
                let _ = write!(Adapter(out), "{value}");
            }
        }
    }

    pub(crate) fn list<T>(&mut self, key: &str, items: &[T], write_item: fn(&mut Vec<u8>, &T)) {
        if items.is_empty() {
            return;
        }
        let out = self.key(key);
        out.push(b'[');
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_item(out, item);
        }
        out.push(b']');
    }

    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}

/// Lets `write!` format numbers straight into the byte buffer.
struct Adapter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Adapter<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// A 64-bit integer: a JSON string, so JavaScript clients keep every digit.
fn write_quoted(out: &mut Vec<u8>, value: impl std::fmt::Display) {
    out.push(b'"');
    let _ = write!(Adapter(out), "{value}");
    out.push(b'"');
}

fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    // The buffer was sized for exactly this encoding, so it cannot run out.
    let written = STANDARD.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// A double as Go's `encoding/json` prints it: shortest round-trip digits, plain notation for
/// magnitudes in [1e-6, 1e21), exponent notation (`1e+21`, `1e-7`) outside it.
fn write_double(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"\"Infinity\"" } else { b"\"-Infinity\"" });
    } else {
        let magnitude = value.abs();
        if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
            let text = format!("{value:e}");
            match text.split_once('e') {
                Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                    let _ = write!(Adapter(out), "{mantissa}e+{exponent}");
                }
                _ => out.extend_from_slice(text.as_bytes()),
            }
        } else {
            let _ = write!(Adapter(out), "{value}");
        }
    }
}

/// A string as Go's `encoding/json` escapes it, HTML-safe characters included.
pub(crate) fn write_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut plain_from = 0;
    for (index, character) in text.char_indices() {
        let short: Option<&[u8]> = match character {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            '\u{8}' => Some(b"\\b"),
            '\u{c}' => Some(b"\\f"),
            _ => None,
        };
        let needs_unicode_escape = matches!(character, '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        if short.is_none() && !needs_unicode_escape {
            continue;
        }
        out.extend_from_slice(&text.as_bytes()[plain_from..index]);
        plain_from = index + character.len_utf8();
        match short {
            Some(escape) => out.extend_from_slice(escape),
            None => {
                let code = character as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((code >> shift) & 0xf) as usize]);
                }
            }
        }
    }
    out.extend_from_slice(&text.as_bytes()[plain_from..]);
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};
    use strand_proto::otlp::common::{ArrayValue, KeyValueList};

    use super::*;

    fn string_attr(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
            ..Default::default()
        }
    }

    fn attr(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn one_span(span: Span) -> Trace {
        Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![string_attr("service.name", "svc")], ..Default::default() }),
                scope_spans: vec![ScopeSpans { scope: None, spans: vec![span], schema_url: String::new() }],
                schema_url: String::new(),
            }],
        }
    }

    fn v1_text(trace: &Trace) -> String {
        String::from_utf8(trace_v1(trace)).unwrap()
    }

    fn v1_span(span: Span) -> Value {
        let value: Value = serde_json::from_slice(&trace_v1(&one_span(span))).unwrap();
        value["batches"][0]["scopeSpans"][0]["spans"][0].clone()
    }

    fn any(value: any_value::Value) -> String {
        let mut out = Vec::new();
        write_any_value(&mut out, &AnyValue { value: Some(value) });
        String::from_utf8(out).unwrap()
    }

    fn double(value: f64) -> String {
        let mut out = Vec::new();
        write_double(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn quoted(text: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    /// The trace-by-ID example of section 7 of the API contract, built field by field.
    #[test]
    fn contract_example_v1() {
        let span = Span {
            trace_id: hex::decode("5B8EFFF798038103D269B633813FC700").unwrap(),
            span_id: hex::decode("EEE19B7EC3C1B100").unwrap(),
            parent_span_id: hex::decode("EEE19B7EC3C1B101").unwrap(),
            name: "GET /".into(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_689_969_302_000_000_000,
            end_time_unix_nano: 1_689_970_000_000_000_000,
            status: Some(Status { message: "boom".into(), code: StatusCode::Error as i32 }),
            ..Default::default()
        };
        let trace = Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attr("service.name", "my.service")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "my.library".into(), ..Default::default() }),
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        // Verbatim from the contract, whose hand-written example puts `code` before `message`;
        // jsonpb writes them in declaration order (see `every_field_is_written_in_declaration_order`).
        let expected = r#"{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
          "scopeSpans":[{"scope":{"name":"my.library"},"spans":[{"traceId":"W47/95gDgQPSabYzgT/HAA==",
          "spanId":"7uGbfsPBsQA=","parentSpanId":"7uGbfsPBsQE=","name":"GET /","kind":"SPAN_KIND_SERVER",
          "startTimeUnixNano":"1689969302000000000","endTimeUnixNano":"1689970000000000000",
          "status":{"code":"STATUS_CODE_ERROR","message":"boom"}}]}]}]}"#;
        let expected: Value = serde_json::from_str(expected).unwrap();
        let actual: Value = serde_json::from_slice(&trace_v1(&trace)).unwrap();
        assert_eq!(actual, expected);
    }

    /// The v2 example of section 3.2 of the API contract.
    #[test]
    fn contract_example_v2() {
        let span = Span {
            trace_id: hex::decode("5B8EFFF798038103D269B633813FC700").unwrap(),
            span_id: hex::decode("EEE19B7EC3C1B100").unwrap(),
            name: "I am a span!".into(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_689_969_302_000_000_000,
            end_time_unix_nano: 1_689_970_000_000_000_000,
            attributes: vec![string_attr("my.span.attr", "some value")],
            ..Default::default()
        };
        let trace = Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attr("service.name", "my.service")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "my.library".into(),
                        version: "1.0.0".into(),
                        ..Default::default()
                    }),
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let response = TraceByIdResponse {
            trace: Some(trace),
            metrics: Some(TraceByIdMetrics { inspected_bytes: 1234 }),
            ..Default::default()
        };
        let expected = r#"{"trace":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},"scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},"spans":[{"traceId":"W47/95gDgQPSabYzgT/HAA==","spanId":"7uGbfsPBsQA=","name":"I am a span!","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1689969302000000000","endTimeUnixNano":"1689970000000000000","attributes":[{"key":"my.span.attr","value":{"stringValue":"some value"}}],"status":{}}]}]}]},"metrics":{"inspectedBytes":"1234"}}"#;
        assert_eq!(String::from_utf8(trace_by_id_response(&response)).unwrap(), expected);
    }

    #[test]
    fn ids_and_bytes_are_standard_base64() {
        let span = v1_span(Span {
            trace_id: vec![0xfb; 16],
            span_id: vec![0xff; 8],
            parent_span_id: vec![0x3e; 8],
            ..Default::default()
        });
        assert_eq!(span["traceId"], "+/v7+/v7+/v7+/v7+/v7+w==");
        assert_eq!(span["spanId"], "//////////8=");
        assert_eq!(span["parentSpanId"], "Pj4+Pj4+Pj4=");
        assert_eq!(any(any_value::Value::BytesValue(vec![1, 2, 3, 4])), r#"{"bytesValue":"AQIDBA=="}"#);
    }

    #[test]
    fn sixty_four_bit_integers_are_strings_and_thirty_two_bit_ones_numbers() {
        let span = v1_span(Span {
            start_time_unix_nano: u64::MAX,
            end_time_unix_nano: 1,
            flags: 257,
            dropped_attributes_count: 3,
            dropped_events_count: 4,
            dropped_links_count: 5,
            events: vec![Event { time_unix_nano: 42, dropped_attributes_count: 6, ..Default::default() }],
            links: vec![Link { flags: 1, dropped_attributes_count: 7, ..Default::default() }],
            ..Default::default()
        });
        assert_eq!(span["startTimeUnixNano"], "18446744073709551615");
        assert_eq!(span["endTimeUnixNano"], "1");
        assert_eq!(span["flags"], 257);
        assert_eq!(span["droppedAttributesCount"], 3);
        assert_eq!(span["droppedEventsCount"], 4);
        assert_eq!(span["droppedLinksCount"], 5);
        assert_eq!(span["events"][0]["timeUnixNano"], "42");
        assert_eq!(span["events"][0]["droppedAttributesCount"], 6);
        assert_eq!(span["links"][0], json!({"droppedAttributesCount": 7, "flags": 1}));
        assert_eq!(any(any_value::Value::IntValue(i64::MIN)), r#"{"intValue":"-9223372036854775808"}"#);
        let metrics =
            TraceByIdResponse { metrics: Some(TraceByIdMetrics { inspected_bytes: 7 }), ..Default::default() };
        assert_eq!(
            String::from_utf8(trace_by_id_response(&metrics)).unwrap(),
            r#"{"trace":{},"metrics":{"inspectedBytes":"7"}}"#
        );
    }

    #[test]
    fn enums_are_names_and_unnamed_values_numbers() {
        for (kind, name) in [
            (1, "SPAN_KIND_INTERNAL"),
            (2, "SPAN_KIND_SERVER"),
            (3, "SPAN_KIND_CLIENT"),
            (4, "SPAN_KIND_PRODUCER"),
            (5, "SPAN_KIND_CONSUMER"),
        ] {
            assert_eq!(v1_span(Span { kind, ..Default::default() })["kind"], name);
        }
        assert_eq!(v1_span(Span { kind: 9, ..Default::default() })["kind"], 9);
        let ok = v1_span(Span { status: Some(Status { code: 1, message: String::new() }), ..Default::default() });
        assert_eq!(ok["status"], json!({"code": "STATUS_CODE_OK"}));
        let error = v1_span(Span { status: Some(Status { code: 2, message: String::new() }), ..Default::default() });
        assert_eq!(error["status"], json!({"code": "STATUS_CODE_ERROR"}));
        let partial =
            TraceByIdResponse { status: PartialStatus::Partial as i32, message: "cut".into(), ..Default::default() };
        assert_eq!(
            String::from_utf8(trace_by_id_response(&partial)).unwrap(),
            r#"{"trace":{},"status":"PARTIAL","message":"cut"}"#
        );
    }

    #[test]
    fn zero_and_empty_fields_are_left_out() {
        let span =
            v1_span(Span { kind: 0, status: Some(Status { code: 0, message: String::new() }), ..Default::default() });
        assert_eq!(span, json!({"status": {}}));
        let pair = KeyValue { key: String::new(), value: None, ..Default::default() };
        let mut out = Vec::new();
        write_key_value(&mut out, &pair);
        assert_eq!(out, b"{}");
        let empty = Event::default();
        let mut out = Vec::new();
        write_event(&mut out, &empty);
        assert_eq!(out, b"{}");
        assert_eq!(v1_text(&Trace::default()), "{}");
        let complete = TraceByIdResponse {
            trace: Some(Trace::default()),
            status: PartialStatus::Complete as i32,
            ..Default::default()
        };
        assert_eq!(String::from_utf8(trace_by_id_response(&complete)).unwrap(), r#"{"trace":{}}"#);
    }

    #[test]
    fn set_any_value_members_are_written_even_when_zero() {
        assert_eq!(any(any_value::Value::StringValue(String::new())), r#"{"stringValue":""}"#);
        assert_eq!(any(any_value::Value::BoolValue(false)), r#"{"boolValue":false}"#);
        assert_eq!(any(any_value::Value::IntValue(0)), r#"{"intValue":"0"}"#);
        assert_eq!(any(any_value::Value::DoubleValue(0.0)), r#"{"doubleValue":0}"#);
        assert_eq!(any(any_value::Value::BytesValue(Vec::new())), r#"{"bytesValue":""}"#);
        assert_eq!(any(any_value::Value::ArrayValue(ArrayValue::default())), r#"{"arrayValue":{}}"#);
        assert_eq!(any(any_value::Value::KvlistValue(KeyValueList::default())), r#"{"kvlistValue":{}}"#);
        let mut out = Vec::new();
        write_any_value(&mut out, &AnyValue { value: None });
        assert_eq!(out, b"{}");
        assert_eq!(any(any_value::Value::StringValueStrindex(3)), "{}");
    }

    #[test]
    fn arrays_and_kvlists_nest() {
        let nested = any_value::Value::KvlistValue(KeyValueList {
            values: vec![
                attr("b", any_value::Value::BoolValue(true)),
                attr(
                    "list",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![
                            AnyValue { value: Some(any_value::Value::IntValue(7)) },
                            AnyValue { value: Some(any_value::Value::DoubleValue(1.5)) },
                            AnyValue { value: Some(any_value::Value::StringValue("x".into())) },
                        ],
                    }),
                ),
            ],
        });
        assert_eq!(
            any(nested),
            r#"{"kvlistValue":{"values":[{"key":"b","value":{"boolValue":true}},{"key":"list","value":{"arrayValue":{"values":[{"intValue":"7"},{"doubleValue":1.5},{"stringValue":"x"}]}}}]}}"#
        );
    }

    #[test]
    fn doubles_print_like_go() {
        assert_eq!(double(f64::NAN), r#""NaN""#);
        assert_eq!(double(f64::INFINITY), r#""Infinity""#);
        assert_eq!(double(f64::NEG_INFINITY), r#""-Infinity""#);
        assert_eq!(double(1.0), "1");
        assert_eq!(double(-2.5), "-2.5");
        assert_eq!(double(0.1), "0.1");
        assert_eq!(double(0.000001), "0.000001");
        assert_eq!(double(1e20), "100000000000000000000");
        assert_eq!(double(1e21), "1e+21");
        assert_eq!(double(-1.5e300), "-1.5e+300");
        assert_eq!(double(1e-7), "1e-7");
        assert_eq!(double(2.5e-10), "2.5e-10");
        assert_eq!(double(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        for value in [1.0, 0.1, 1e21, 1e-7, 123456.789, -1.5e300, f64::MAX] {
            let parsed: f64 = serde_json::from_str(&double(value)).unwrap();
            assert_eq!(parsed, value);
        }
    }

    #[test]
    fn strings_are_escaped_like_go() {
        assert_eq!(quoted("plain"), r#""plain""#);
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted("line\nfeed\ttab\r"), r#""line\nfeed\ttab\r""#);
        assert_eq!(quoted("<a href=\"x\">&</a>"), r#""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e""#);
        assert_eq!(quoted("\u{0}\u{1f}\u{2028}é☃"), "\"\\u0000\\u001f\\u2028é☃\"");
        let tricky = "ü<\u{7}>\"\u{2029}";
        assert_eq!(serde_json::from_str::<String>(&quoted(tricky)).unwrap(), tricky);
    }

    #[test]
    fn resource_scope_and_status_are_always_written() {
        let trace = Trace {
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans { scope: None, spans: vec![Span::default()], schema_url: String::new() }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(
            v1_text(&trace),
            r#"{"batches":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"status":{}}]}]}]}"#
        );
    }

    #[test]
    fn every_field_is_written_in_declaration_order() {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            trace_state: "k=v".into(),
            parent_span_id: vec![3; 8],
            flags: 1,
            name: "n".into(),
            kind: 3,
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            attributes: vec![attr("a", any_value::Value::IntValue(1))],
            dropped_attributes_count: 1,
            events: vec![Event {
                time_unix_nano: 15,
                name: "e".into(),
                attributes: vec![string_attr("x", "y")],
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![Link {
                trace_id: vec![4; 16],
                span_id: vec![5; 8],
                trace_state: "t".into(),
                attributes: vec![string_attr("l", "m")],
                dropped_attributes_count: 4,
                flags: 256,
            }],
            dropped_links_count: 5,
            status: Some(Status { message: "m".into(), code: 1 }),
        };
        let trace = Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attr("service.name", "s")],
                    dropped_attributes_count: 1,
                    entity_refs: Vec::new(),
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "sc".into(),
                        version: "1".into(),
                        attributes: vec![string_attr("q", "r")],
                        dropped_attributes_count: 2,
                    }),
                    spans: vec![span],
                    schema_url: "https://scope".into(),
                }],
                schema_url: "https://resource".into(),
            }],
        };
        let expected = concat!(
            r#"{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}],"droppedAttributesCount":1},"#,
            r#""scopeSpans":[{"scope":{"name":"sc","version":"1","attributes":[{"key":"q","value":{"stringValue":"r"}}],"droppedAttributesCount":2},"#,
            r#""spans":[{"traceId":"AQEBAQEBAQEBAQEBAQEBAQ==","spanId":"AgICAgICAgI=","traceState":"k=v","parentSpanId":"AwMDAwMDAwM=","flags":1,"#,
            r#""name":"n","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"10","endTimeUnixNano":"20","#,
            r#""attributes":[{"key":"a","value":{"intValue":"1"}}],"droppedAttributesCount":1,"#,
            r#""events":[{"timeUnixNano":"15","name":"e","attributes":[{"key":"x","value":{"stringValue":"y"}}],"droppedAttributesCount":2}],"#,
            r#""droppedEventsCount":3,"#,
            r#""links":[{"traceId":"BAQEBAQEBAQEBAQEBAQEBA==","spanId":"BQUFBQUFBQU=","traceState":"t","attributes":[{"key":"l","value":{"stringValue":"m"}}],"droppedAttributesCount":4,"flags":256}],"#,
            r#""droppedLinksCount":5,"status":{"message":"m","code":"STATUS_CODE_OK"}}],"schemaUrl":"https://scope"}],"schemaUrl":"https://resource"}]}"#
        );
        assert_eq!(v1_text(&trace), expected);
    }
}
