//! A strict reader of Tempo's JSON trace format, written for the tests.
//!
//! Tempo marshals its protobuf messages with `jsonpb`: camelCase field names, trace and span IDs
//! and bytes in base64, enums by name, 64-bit integers as strings, 32-bit integers as numbers,
//! fields at their default value left out, and `resource`, `scope` and `status` always present.
//! Anything else (hex IDs, enum numbers, unknown fields, numeric 64-bit values) fails the test with
//! the path of the offending value, because Grafana and Tempo's own clients would misread it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use strand_proto::otlp::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status, span};
use strand_proto::tempopb::Trace;

/// The answer of `GET /api/v2/traces/{id}` in JSON.
#[derive(Clone, Debug)]
pub struct V2Answer {
    pub trace: Trace,
    /// `COMPLETE` (also when left out, it being the default) or `PARTIAL`.
    pub status: String,
    pub message: String,
}

/// Parses `{"batches": [...]}`.
pub fn parse_v1(value: &Value) -> Trace {
    let object = object(value, "$", &["batches"]);
    let batches = array(required(object, "$", "batches"), "$.batches");
    Trace {
        resource_spans: batches
            .iter()
            .enumerate()
            .map(|(i, b)| resource_spans(b, &format!("$.batches[{i}]")))
            .collect(),
    }
}

/// Parses `{"trace": {"resourceSpans": [...]}, "metrics": {...}, "status": ..., "message": ...}`.
pub fn parse_v2(value: &Value) -> V2Answer {
    let top = object(value, "$", &["trace", "metrics", "status", "message"]);
    let trace_object = object(required(top, "$", "trace"), "$.trace", &["resourceSpans"]);
    let batches = array(required(trace_object, "$.trace", "resourceSpans"), "$.trace.resourceSpans");
    let trace = Trace {
        resource_spans: batches
            .iter()
            .enumerate()
            .map(|(i, b)| resource_spans(b, &format!("$.trace.resourceSpans[{i}]")))
            .collect(),
    };
    let metrics = object(required(top, "$", "metrics"), "$.metrics", &["inspectedBytes"]);
    if let Some(bytes) = metrics.get("inspectedBytes") {
        uint64(bytes, "$.metrics.inspectedBytes");
    }
    let status = match top.get("status") {
        None => "COMPLETE".to_string(),
        Some(Value::String(s)) if s == "COMPLETE" || s == "PARTIAL" => s.clone(),
        Some(other) => panic!("$.status: expected \"COMPLETE\" or \"PARTIAL\", got {other}"),
    };
    let message = top.get("message").map(|m| string(m, "$.message")).unwrap_or_default();
    V2Answer { trace, status, message }
}

fn resource_spans(value: &Value, path: &str) -> ResourceSpans {
    let object = object(value, path, &["resource", "scopeSpans", "schemaUrl"]);
    let resource = resource(required(object, path, "resource"), &format!("{path}.resource"));
    let scope_spans = optional_array(object, path, "scopeSpans")
        .iter()
        .enumerate()
        .map(|(i, s)| scope_spans(s, &format!("{path}.scopeSpans[{i}]")))
        .collect();
    ResourceSpans { resource: Some(resource), scope_spans, schema_url: optional_string(object, path, "schemaUrl") }
}

fn resource(value: &Value, path: &str) -> Resource {
    let object = object(value, path, &["attributes", "droppedAttributesCount", "entityRefs"]);
    Resource {
        attributes: attributes(object, path),
        dropped_attributes_count: optional_uint32(object, path, "droppedAttributesCount"),
        entity_refs: optional_array(object, path, "entityRefs")
            .iter()
            .enumerate()
            .map(|(i, e)| entity_ref(e, &format!("{path}.entityRefs[{i}]")))
            .collect(),
    }
}

fn entity_ref(value: &Value, path: &str) -> EntityRef {
    let object = object(value, path, &["schemaUrl", "type", "idKeys", "descriptionKeys"]);
    let strings = |key: &str| -> Vec<String> {
        optional_array(object, path, key)
            .iter()
            .enumerate()
            .map(|(i, s)| string(s, &format!("{path}.{key}[{i}]")))
            .collect()
    };
    EntityRef {
        schema_url: optional_string(object, path, "schemaUrl"),
        r#type: optional_string(object, path, "type"),
        id_keys: strings("idKeys"),
        description_keys: strings("descriptionKeys"),
    }
}

fn scope_spans(value: &Value, path: &str) -> ScopeSpans {
    let object = object(value, path, &["scope", "spans", "schemaUrl"]);
    let scope_path = format!("{path}.scope");
    let scope_object = object_of(
        required(object, path, "scope"),
        &scope_path,
        &["name", "version", "attributes", "droppedAttributesCount"],
    );
    let scope = InstrumentationScope {
        name: optional_string(scope_object, &scope_path, "name"),
        version: optional_string(scope_object, &scope_path, "version"),
        attributes: attributes(scope_object, &scope_path),
        dropped_attributes_count: optional_uint32(scope_object, &scope_path, "droppedAttributesCount"),
    };
    let spans = optional_array(object, path, "spans")
        .iter()
        .enumerate()
        .map(|(i, s)| parse_span(s, &format!("{path}.spans[{i}]")))
        .collect();
    ScopeSpans { scope: Some(scope), spans, schema_url: optional_string(object, path, "schemaUrl") }
}

const SPAN_KEYS: [&str; 16] = [
    "traceId",
    "spanId",
    "traceState",
    "parentSpanId",
    "flags",
    "name",
    "kind",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "attributes",
    "droppedAttributesCount",
    "events",
    "droppedEventsCount",
    "links",
    "droppedLinksCount",
    "status",
];

/// Parses one span object.
pub fn parse_span(value: &Value, path: &str) -> Span {
    let object = object(value, path, &SPAN_KEYS);
    let kind = match object.get("kind") {
        None => span::SpanKind::Unspecified,
        Some(Value::String(name)) => span::SpanKind::from_str_name(name)
            .unwrap_or_else(|| panic!("{path}.kind: {name:?} is not a SpanKind name")),
        Some(other) => {
            panic!("{path}.kind: expected an enum name such as \"SPAN_KIND_SERVER\", got {other}")
        }
    };
    let status_path = format!("{path}.status");
    let status_object = object_of(required(object, path, "status"), &status_path, &["code", "message"]);
    let code = match status_object.get("code") {
        None => 0,
        Some(Value::String(name)) => status_code(name, &status_path),
        Some(other) => panic!("{status_path}.code: expected an enum name such as \"STATUS_CODE_ERROR\", got {other}"),
    };
    Span {
        trace_id: id(required(object, path, "traceId"), &format!("{path}.traceId"), 16),
        span_id: id(required(object, path, "spanId"), &format!("{path}.spanId"), 8),
        trace_state: optional_string(object, path, "traceState"),
        parent_span_id: object
            .get("parentSpanId")
            .map(|p| id(p, &format!("{path}.parentSpanId"), 8))
            .unwrap_or_default(),
        flags: optional_uint32(object, path, "flags"),
        name: optional_string(object, path, "name"),
        kind: kind as i32,
        start_time_unix_nano: object
            .get("startTimeUnixNano")
            .map(|t| uint64(t, &format!("{path}.startTimeUnixNano")))
            .unwrap_or(0),
        end_time_unix_nano: object
            .get("endTimeUnixNano")
            .map(|t| uint64(t, &format!("{path}.endTimeUnixNano")))
            .unwrap_or(0),
        attributes: attributes(object, path),
        dropped_attributes_count: optional_uint32(object, path, "droppedAttributesCount"),
        events: optional_array(object, path, "events")
            .iter()
            .enumerate()
            .map(|(i, e)| event(e, &format!("{path}.events[{i}]")))
            .collect(),
        dropped_events_count: optional_uint32(object, path, "droppedEventsCount"),
        links: optional_array(object, path, "links")
            .iter()
            .enumerate()
            .map(|(i, l)| link(l, &format!("{path}.links[{i}]")))
            .collect(),
        dropped_links_count: optional_uint32(object, path, "droppedLinksCount"),
        status: Some(Status { message: optional_string(status_object, &status_path, "message"), code }),
    }
}

fn status_code(name: &str, path: &str) -> i32 {
    match name {
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        other => panic!("{path}.code: {other:?} is not a StatusCode name"),
    }
}

fn event(value: &Value, path: &str) -> span::Event {
    let object = object(value, path, &["timeUnixNano", "name", "attributes", "droppedAttributesCount"]);
    span::Event {
        time_unix_nano: object.get("timeUnixNano").map(|t| uint64(t, &format!("{path}.timeUnixNano"))).unwrap_or(0),
        name: optional_string(object, path, "name"),
        attributes: attributes(object, path),
        dropped_attributes_count: optional_uint32(object, path, "droppedAttributesCount"),
    }
}

fn link(value: &Value, path: &str) -> span::Link {
    let object =
        object(value, path, &["traceId", "spanId", "traceState", "attributes", "droppedAttributesCount", "flags"]);
    span::Link {
        trace_id: id(required(object, path, "traceId"), &format!("{path}.traceId"), 16),
        span_id: id(required(object, path, "spanId"), &format!("{path}.spanId"), 8),
        trace_state: optional_string(object, path, "traceState"),
        attributes: attributes(object, path),
        dropped_attributes_count: optional_uint32(object, path, "droppedAttributesCount"),
        flags: optional_uint32(object, path, "flags"),
    }
}

fn attributes(object: &Map<String, Value>, path: &str) -> Vec<KeyValue> {
    optional_array(object, path, "attributes")
        .iter()
        .enumerate()
        .map(|(i, kv)| key_value(kv, &format!("{path}.attributes[{i}]")))
        .collect()
}

fn key_value(value: &Value, path: &str) -> KeyValue {
    let object = object(value, path, &["key", "value"]);
    KeyValue {
        key: optional_string(object, path, "key"),
        value: object.get("value").map(|v| any_value(v, &format!("{path}.value"))),
        key_strindex: 0,
    }
}

/// Parses an `AnyValue` object.
pub fn any_value(value: &Value, path: &str) -> AnyValue {
    let object = object(
        value,
        path,
        &["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"],
    );
    assert!(object.len() <= 1, "{path}: an AnyValue holds at most one value, got {value}");
    let Some((key, inner)) = object.iter().next() else {
        return AnyValue { value: None };
    };
    let inner_path = format!("{path}.{key}");
    let parsed = match key.as_str() {
        "stringValue" => any_value::Value::StringValue(string(inner, &inner_path)),
        "boolValue" => any_value::Value::BoolValue(
            inner.as_bool().unwrap_or_else(|| panic!("{inner_path}: expected a boolean, got {inner}")),
        ),
        "intValue" => any_value::Value::IntValue(int64(inner, &inner_path)),
        "doubleValue" => any_value::Value::DoubleValue(double(inner, &inner_path)),
        "bytesValue" => any_value::Value::BytesValue(base64(inner, &inner_path)),
        "arrayValue" => {
            let array_object = object_of(inner, &inner_path, &["values"]);
            let values = optional_array(array_object, &inner_path, "values")
                .iter()
                .enumerate()
                .map(|(i, v)| any_value(v, &format!("{inner_path}.values[{i}]")))
                .collect();
            any_value::Value::ArrayValue(ArrayValue { values })
        }
        "kvlistValue" => {
            let list_object = object_of(inner, &inner_path, &["values"]);
            let values = optional_array(list_object, &inner_path, "values")
                .iter()
                .enumerate()
                .map(|(i, v)| key_value(v, &format!("{inner_path}.values[{i}]")))
                .collect();
            any_value::Value::KvlistValue(KeyValueList { values })
        }
        _ => unreachable!("keys were checked"),
    };
    AnyValue { value: Some(parsed) }
}

fn object<'a>(value: &'a Value, path: &str, allowed: &[&str]) -> &'a Map<String, Value> {
    object_of(value, path, allowed)
}

fn object_of<'a>(value: &'a Value, path: &str, allowed: &[&str]) -> &'a Map<String, Value> {
    let Value::Object(map) = value else { panic!("{path}: expected an object, got {value}") };
    for key in map.keys() {
        assert!(allowed.contains(&key.as_str()), "{path}: unexpected field {key:?} (Tempo's fields here: {allowed:?})");
    }
    map
}

fn required<'a>(object: &'a Map<String, Value>, path: &str, key: &str) -> &'a Value {
    object.get(key).unwrap_or_else(|| panic!("{path}: field {key:?} is missing"))
}

fn array<'a>(value: &'a Value, path: &str) -> &'a Vec<Value> {
    value.as_array().unwrap_or_else(|| panic!("{path}: expected an array, got {value}"))
}

fn optional_array<'a>(object: &'a Map<String, Value>, path: &str, key: &str) -> &'a [Value] {
    match object.get(key) {
        None => &[],
        Some(value) => array(value, &format!("{path}.{key}")),
    }
}

fn string(value: &Value, path: &str) -> String {
    value.as_str().unwrap_or_else(|| panic!("{path}: expected a string, got {value}")).to_string()
}

fn optional_string(object: &Map<String, Value>, path: &str, key: &str) -> String {
    object.get(key).map(|v| string(v, &format!("{path}.{key}"))).unwrap_or_default()
}

fn optional_uint32(object: &Map<String, Value>, path: &str, key: &str) -> u32 {
    match object.get(key) {
        None => 0,
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_else(|| panic!("{path}.{key}: expected a 32-bit unsigned number, got {value}")),
    }
}

/// 64-bit integers are strings in proto3 JSON, because JavaScript numbers cannot hold them.
fn uint64(value: &Value, path: &str) -> u64 {
    let Value::String(text) = value else { panic!("{path}: expected a 64-bit integer as a string, got {value}") };
    text.parse().unwrap_or_else(|_| panic!("{path}: {text:?} is not an unsigned 64-bit integer"))
}

fn int64(value: &Value, path: &str) -> i64 {
    let Value::String(text) = value else { panic!("{path}: expected a 64-bit integer as a string, got {value}") };
    text.parse().unwrap_or_else(|_| panic!("{path}: {text:?} is not a 64-bit integer"))
}

fn double(value: &Value, path: &str) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().unwrap_or_else(|| panic!("{path}: {n} is not a double")),
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        other => panic!("{path}: expected a number, got {other}"),
    }
}

fn base64(value: &Value, path: &str) -> Vec<u8> {
    let text = string(value, path);
    BASE64.decode(&text).unwrap_or_else(|e| panic!("{path}: {text:?} is not standard base64: {e}"))
}

fn id(value: &Value, path: &str, len: usize) -> Vec<u8> {
    let bytes = base64(value, path);
    assert_eq!(
        bytes.len(),
        len,
        "{path}: {value} decodes from base64 to {} bytes, expected {len} (Tempo's JSON carries IDs in base64, not hex)",
        bytes.len()
    );
    bytes
}
