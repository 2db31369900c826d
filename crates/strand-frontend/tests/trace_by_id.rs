//! The trace-by-ID HTTP API as clients see it: status codes, content negotiation, the exact JSON
//! and protobuf shapes Grafana decodes, tenancy and compression. The querier is a fake: what is
//! under test is the HTTP layer.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use serde_json::{Value, json};
use strand_backend::{Backend, Blocklist};
use strand_common::{ErrorCode, ServiceError};
use strand_frontend::{BuildInfo, FrontendConfig, FrontendState, router};
use strand_model::{
    BlockSlice, FoundTrace, SearchQuerier, SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest,
    TagsResponse, TenantId, TimeRange, TraceByIdQuerier, TraceId,
};
use strand_overrides::Overrides;
use strand_proto::otlp::common::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::span::{Event, Link};
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status};
use strand_proto::tempopb::{PartialStatus, SearchResponse, Trace, TraceByIdResponse};
use tower::ServiceExt;

const TRACE_HEX: &str = "5b8efff798038103d269b633813fc700";

type Call = (TenantId, TraceId, TimeRange);

/// Answers every lookup with the same result and remembers what it was asked.
struct FakeQuerier {
    answer: Result<Option<FoundTrace>, ServiceError>,
    calls: Mutex<Vec<Call>>,
}

#[async_trait]
impl TraceByIdQuerier for FakeQuerier {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, ServiceError> {
        self.calls.lock().unwrap().push((tenant.clone(), id, range));
        self.answer.clone()
    }
}

/// Search is not what these tests are about.
struct NoSearch;

#[async_trait]
impl SearchQuerier for NoSearch {
    async fn search_recent(&self, _: &TenantId, _: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        Ok(SearchResponse::default())
    }

    async fn search_block(
        &self,
        _: &TenantId,
        _: &SearchRequest,
        _: &BlockSlice,
    ) -> Result<SearchResponse, ServiceError> {
        Ok(SearchResponse::default())
    }

    async fn search_tags(&self, _: &TenantId, _: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        Ok(TagsResponse::default())
    }

    async fn search_tag_values(&self, _: &TenantId, _: &TagValuesRequest) -> Result<TagValuesResponse, ServiceError> {
        Ok(TagValuesResponse::default())
    }
}

struct Harness {
    querier: Arc<FakeQuerier>,
    router: axum::Router,
}

impl Harness {
    fn new(answer: Result<Option<FoundTrace>, ServiceError>, multitenancy_enabled: bool) -> Harness {
        let querier = Arc::new(FakeQuerier { answer, calls: Mutex::new(Vec::new()) });
        let router = router(FrontendState {
            querier: querier.clone(),
            search: Arc::new(NoSearch),
            blocklist: Blocklist::new(Backend::in_memory(), false),
            overrides: Arc::new(Overrides::default()),
            config: FrontendConfig::default(),
            multitenancy_enabled,
            build_info: BuildInfo {
                version: "2.9.0-strand.0.1.0".into(),
                revision: "abc123".into(),
                branch: "main".into(),
                build_date: "2026-01-02T03:04:05Z".into(),
            },
        });
        Harness { querier, router }
    }

    fn found(trace: Trace) -> Harness {
        Harness::new(Ok(Some(FoundTrace { trace, truncated: false, inspected_bytes: 1234 })), false)
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut request = Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response: Response = self.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        (status, headers, body)
    }

    fn calls(&self) -> Vec<Call> {
        self.querier.calls.lock().unwrap().clone()
    }
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    attr(key, any_value::Value::StringValue(value.into()))
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// A trace that uses every field, plus a second batch whose resource, scope and status are unset.
fn sample_trace() -> Trace {
    let trace_id = hex::decode(TRACE_HEX).unwrap();
    let server = Span {
        trace_id: trace_id.clone(),
        span_id: hex::decode("eee19b7ec3c1b100").unwrap(),
        trace_state: "vendor=1".into(),
        flags: 0x301,
        name: "GET /".into(),
        kind: 2,
        start_time_unix_nano: 1_689_969_302_000_000_000,
        end_time_unix_nano: 1_689_970_000_000_000_000,
        attributes: vec![
            string_attr("http.method", "GET"),
            attr("http.status_code", any_value::Value::IntValue(500)),
            attr("ratio", any_value::Value::DoubleValue(0.25)),
            attr("nan", any_value::Value::DoubleValue(f64::NAN)),
            attr("cached", any_value::Value::BoolValue(false)),
            attr("blob", any_value::Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef])),
            attr(
                "list",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue { value: Some(any_value::Value::IntValue(0)) },
                        AnyValue { value: Some(any_value::Value::StringValue("x".into())) },
                    ],
                }),
            ),
            attr("map", any_value::Value::KvlistValue(KeyValueList { values: vec![string_attr("inner", "v")] })),
        ],
        dropped_attributes_count: 1,
        events: vec![Event {
            time_unix_nano: 1_689_969_302_500_000_000,
            name: "exception".into(),
            attributes: vec![string_attr("exception.message", "boom")],
            dropped_attributes_count: 2,
        }],
        dropped_events_count: 3,
        links: vec![Link {
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            trace_state: "t=1".into(),
            attributes: vec![string_attr("link", "yes")],
            dropped_attributes_count: 4,
            flags: 1,
        }],
        dropped_links_count: 5,
        status: Some(Status { message: "boom".into(), code: 2 }),
        ..Default::default()
    };
    let client = Span {
        trace_id: trace_id.clone(),
        span_id: hex::decode("eee19b7ec3c1b101").unwrap(),
        parent_span_id: hex::decode("eee19b7ec3c1b100").unwrap(),
        name: "SELECT".into(),
        kind: 3,
        start_time_unix_nano: 1_689_969_302_100_000_000,
        end_time_unix_nano: 1_689_969_302_200_000_000,
        status: None,
        ..Default::default()
    };
    Trace {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attr("service.name", "my.service")],
                    dropped_attributes_count: 1,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "my.library".into(),
                        version: "1.0.0".into(),
                        attributes: vec![string_attr("s", "t")],
                        dropped_attributes_count: 1,
                    }),
                    spans: vec![server],
                    schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            },
            ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans { scope: None, spans: vec![client], schema_url: String::new() }],
                schema_url: String::new(),
            },
        ],
    }
}

/// `sample_trace` as the API must return it: every resource, scope and status present.
fn sample_trace_filled() -> Trace {
    let mut trace = sample_trace();
    let batch = &mut trace.resource_spans[1];
    batch.resource = Some(Resource::default());
    batch.scope_spans[0].scope = Some(InstrumentationScope::default());
    batch.scope_spans[0].spans[0].status = Some(Status::default());
    trace
}

fn json_body(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(body)))
}

fn b64(hex_text: &str) -> String {
    STANDARD.encode(hex::decode(hex_text).unwrap())
}

// ---- JSON shape -------------------------------------------------------------------------------

fn assert_batches_shape(batches: &Value) {
    let first = &batches[0];
    assert_eq!(
        first["resource"],
        json!({"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}], "droppedAttributesCount": 1})
    );
    assert_eq!(first["schemaUrl"], "https://opentelemetry.io/schemas/1.21.0");
    let scope_spans = &first["scopeSpans"][0];
    assert_eq!(
        scope_spans["scope"],
        json!({"name": "my.library", "version": "1.0.0", "attributes": [{"key": "s", "value": {"stringValue": "t"}}], "droppedAttributesCount": 1})
    );
    let span = &scope_spans["spans"][0];
    assert_eq!(span["traceId"], b64(TRACE_HEX));
    assert_eq!(span["traceId"], "W47/95gDgQPSabYzgT/HAA==");
    assert_eq!(span["spanId"], "7uGbfsPBsQA=");
    assert!(span.get("parentSpanId").is_none(), "empty parent is omitted");
    assert_eq!(span["traceState"], "vendor=1");
    assert_eq!(span["flags"], 0x301);
    assert_eq!(span["name"], "GET /");
    assert_eq!(span["kind"], "SPAN_KIND_SERVER");
    assert_eq!(span["startTimeUnixNano"], "1689969302000000000");
    assert_eq!(span["endTimeUnixNano"], "1689970000000000000");
    assert_eq!(
        span["attributes"],
        json!([
            {"key": "http.method", "value": {"stringValue": "GET"}},
            {"key": "http.status_code", "value": {"intValue": "500"}},
            {"key": "ratio", "value": {"doubleValue": 0.25}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "cached", "value": {"boolValue": false}},
            {"key": "blob", "value": {"bytesValue": "3q2+7w=="}},
            {"key": "list", "value": {"arrayValue": {"values": [{"intValue": "0"}, {"stringValue": "x"}]}}},
            {"key": "map", "value": {"kvlistValue": {"values": [{"key": "inner", "value": {"stringValue": "v"}}]}}},
        ])
    );
    assert_eq!(span["droppedAttributesCount"], 1);
    assert_eq!(
        span["events"],
        json!([{"timeUnixNano": "1689969302500000000", "name": "exception", "attributes": [{"key": "exception.message", "value": {"stringValue": "boom"}}], "droppedAttributesCount": 2}])
    );
    assert_eq!(span["droppedEventsCount"], 3);
    assert_eq!(
        span["links"],
        json!([{"traceId": STANDARD.encode([7u8; 16]), "spanId": STANDARD.encode([8u8; 8]), "traceState": "t=1", "attributes": [{"key": "link", "value": {"stringValue": "yes"}}], "droppedAttributesCount": 4, "flags": 1}])
    );
    assert_eq!(span["droppedLinksCount"], 5);
    assert_eq!(span["status"], json!({"message": "boom", "code": "STATUS_CODE_ERROR"}));

    // The second batch had no resource, scope or status: they are present and empty.
    let second = &batches[1];
    assert_eq!(second["resource"], json!({}));
    assert_eq!(second["scopeSpans"][0]["scope"], json!({}));
    let client = &second["scopeSpans"][0]["spans"][0];
    assert_eq!(client["status"], json!({}));
    assert_eq!(client["parentSpanId"], "7uGbfsPBsQA=");
    assert_eq!(client["kind"], "SPAN_KIND_CLIENT");
}

#[tokio::test]
async fn v1_json_has_tempo_shape() {
    let harness = Harness::found(sample_trace());
    let (status, headers, body) = harness.get(&format!("/api/traces/{TRACE_HEX}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let value = json_body(&body);
    let object = value.as_object().unwrap();
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["batches"],
        "v1 renames resourceSpans to batches and has nothing else"
    );
    assert_batches_shape(&value["batches"]);
}

#[tokio::test]
async fn v2_json_has_tempo_shape() {
    let harness = Harness::found(sample_trace());
    let (status, headers, body) =
        harness.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[("Accept", "application/json")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let value = json_body(&body);
    assert_eq!(value["metrics"], json!({"inspectedBytes": "1234"}));
    assert!(value.get("status").is_none(), "COMPLETE is the zero value and is omitted");
    assert!(value.get("message").is_none());
    assert!(value["trace"].get("batches").is_none());
    assert_batches_shape(&value["trace"]["resourceSpans"]);
}

// ---- strict parsing, as Grafana's jsonpb does ---------------------------------------------------

#[derive(Clone, Copy)]
enum Expect {
    Text,
    Uint64,
    Int64,
    Uint32,
    Double,
    Bool,
    Base64,
    Enum(&'static [&'static str]),
    Object(fn(&Value, &str)),
    List(fn(&Value, &str)),
}

/// Fails on any key not in `allowed`, and on any value of the wrong JSON type.
fn check_object(value: &Value, path: &str, allowed: &[(&str, Expect)]) {
    let object = value.as_object().unwrap_or_else(|| panic!("{path}: expected an object, got {value}"));
    for (key, field) in object {
        let here = format!("{path}.{key}");
        let Some((_, expect)) = allowed.iter().find(|(name, _)| name == key) else {
            panic!("{here}: unknown field (a strict jsonpb parser rejects it)");
        };
        match *expect {
            Expect::Text => assert!(
                field.as_str().is_some_and(|s| !s.is_empty()),
                "{here}: expected a non-empty string, got {field}"
            ),
            Expect::Uint64 => assert!(
                field.as_str().is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n != 0)),
                "{here}: expected a non-zero uint64 string, got {field}"
            ),
            Expect::Int64 => assert!(
                field.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
                "{here}: expected an int64 string, got {field}"
            ),
            Expect::Uint32 => assert!(
                field.as_u64().is_some_and(|n| n != 0 && n <= u64::from(u32::MAX)),
                "{here}: expected a non-zero uint32 number, got {field}"
            ),
            Expect::Double => assert!(
                field.is_number() || matches!(field.as_str(), Some("NaN" | "Infinity" | "-Infinity")),
                "{here}: expected a double, got {field}"
            ),
            Expect::Bool => assert!(field.is_boolean(), "{here}: expected a bool, got {field}"),
            Expect::Base64 => assert!(
                field.as_str().is_some_and(|s| STANDARD.decode(s).is_ok()),
                "{here}: expected standard base64, got {field}"
            ),
            Expect::Enum(names) => assert!(
                field.as_str().is_some_and(|s| names.contains(&s)),
                "{here}: expected one of {names:?}, got {field}"
            ),
            Expect::Object(check) => check(field, &here),
            Expect::List(check) => {
                let items = field.as_array().unwrap_or_else(|| panic!("{here}: expected an array, got {field}"));
                assert!(!items.is_empty(), "{here}: empty lists are omitted");
                for (index, item) in items.iter().enumerate() {
                    check(item, &format!("{here}[{index}]"));
                }
            }
        }
    }
}

fn check_response(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[
            ("trace", Expect::Object(check_trace)),
            ("metrics", Expect::Object(check_metrics)),
            ("status", Expect::Enum(&["PARTIAL"])),
            ("message", Expect::Text),
        ],
    );
    assert!(value.get("trace").is_some(), "{path}.trace is always present");
}

fn check_metrics(value: &Value, path: &str) {
    check_object(value, path, &[("inspectedBytes", Expect::Uint64)]);
}

fn check_trace(value: &Value, path: &str) {
    check_object(value, path, &[("resourceSpans", Expect::List(check_resource_spans))]);
}

fn check_resource_spans(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[
            ("resource", Expect::Object(check_resource)),
            ("scopeSpans", Expect::List(check_scope_spans)),
            ("schemaUrl", Expect::Text),
        ],
    );
    assert!(value.get("resource").is_some(), "{path}.resource is always present");
}

fn check_resource(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[("attributes", Expect::List(check_key_value)), ("droppedAttributesCount", Expect::Uint32)],
    );
}

fn check_scope_spans(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[("scope", Expect::Object(check_scope)), ("spans", Expect::List(check_span)), ("schemaUrl", Expect::Text)],
    );
    assert!(value.get("scope").is_some(), "{path}.scope is always present");
}

fn check_scope(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[
            ("name", Expect::Text),
            ("version", Expect::Text),
            ("attributes", Expect::List(check_key_value)),
            ("droppedAttributesCount", Expect::Uint32),
        ],
    );
}

const SPAN_KINDS: &[&str] =
    &["SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"];

fn check_span(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[
            ("traceId", Expect::Base64),
            ("spanId", Expect::Base64),
            ("traceState", Expect::Text),
            ("parentSpanId", Expect::Base64),
            ("flags", Expect::Uint32),
            ("name", Expect::Text),
            ("kind", Expect::Enum(SPAN_KINDS)),
            ("startTimeUnixNano", Expect::Uint64),
            ("endTimeUnixNano", Expect::Uint64),
            ("attributes", Expect::List(check_key_value)),
            ("droppedAttributesCount", Expect::Uint32),
            ("events", Expect::List(check_event)),
            ("droppedEventsCount", Expect::Uint32),
            ("links", Expect::List(check_link)),
            ("droppedLinksCount", Expect::Uint32),
            ("status", Expect::Object(check_status)),
        ],
    );
    assert!(value.get("status").is_some(), "{path}.status is always present");
}

fn check_event(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[
            ("timeUnixNano", Expect::Uint64),
            ("name", Expect::Text),
            ("attributes", Expect::List(check_key_value)),
            ("droppedAttributesCount", Expect::Uint32),
        ],
    );
}

fn check_link(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[
            ("traceId", Expect::Base64),
            ("spanId", Expect::Base64),
            ("traceState", Expect::Text),
            ("attributes", Expect::List(check_key_value)),
            ("droppedAttributesCount", Expect::Uint32),
            ("flags", Expect::Uint32),
        ],
    );
}

fn check_status(value: &Value, path: &str) {
    check_object(
        value,
        path,
        &[("message", Expect::Text), ("code", Expect::Enum(&["STATUS_CODE_OK", "STATUS_CODE_ERROR"]))],
    );
}

fn check_key_value(value: &Value, path: &str) {
    check_object(value, path, &[("key", Expect::Text), ("value", Expect::Object(check_any_value))]);
}

fn check_any_value(value: &Value, path: &str) {
    // Oneof members are written even when zero, so strings may be empty here.
    if let Some(text) = value.get("stringValue") {
        assert!(text.is_string(), "{path}.stringValue: expected a string, got {text}");
    }
    let rest: serde_json::Map<String, Value> = value
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "stringValue")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let members = value.as_object().map_or(0, |o| o.len());
    assert!(members <= 1, "{path}: an AnyValue holds at most one member, got {value}");
    check_object(
        &Value::Object(rest),
        path,
        &[
            ("boolValue", Expect::Bool),
            ("intValue", Expect::Int64),
            ("doubleValue", Expect::Double),
            ("arrayValue", Expect::Object(check_array_value)),
            ("kvlistValue", Expect::Object(check_kvlist_value)),
            ("bytesValue", Expect::Base64),
        ],
    );
}

fn check_array_value(value: &Value, path: &str) {
    check_object(value, path, &[("values", Expect::List(check_any_value))]);
}

fn check_kvlist_value(value: &Value, path: &str) {
    check_object(value, path, &[("values", Expect::List(check_key_value))]);
}

#[tokio::test]
async fn v2_json_passes_a_strict_parser() {
    let harness = Harness::found(sample_trace());
    let (_, _, body) = harness.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[]).await;
    check_response(&json_body(&body), "$");

    let truncated =
        Harness::new(Ok(Some(FoundTrace { trace: sample_trace(), truncated: true, inspected_bytes: 1 })), false);
    let (_, _, body) = truncated.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[]).await;
    check_response(&json_body(&body), "$");
}

#[test]
#[should_panic(expected = "unknown field")]
fn strict_parser_rejects_unknown_keys() {
    check_response(
        &json!({"trace": {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": [{"status": {}, "debug": 1}]}]}]}}),
        "$",
    );
}

#[test]
#[should_panic(expected = "uint64 string")]
fn strict_parser_rejects_numeric_64_bit_integers() {
    check_response(&json!({"trace": {}, "metrics": {"inspectedBytes": 5}}), "$");
}

// ---- protobuf ---------------------------------------------------------------------------------

#[tokio::test]
async fn v1_protobuf_decodes_to_the_trace() {
    let harness = Harness::found(sample_trace());
    let (status, headers, body) =
        harness.get(&format!("/api/traces/{TRACE_HEX}"), &[("Accept", "application/protobuf")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/protobuf");
    let trace = Trace::decode(body.as_slice()).unwrap();
    assert_eq!(
        trace.encode_to_vec(),
        sample_trace_filled().encode_to_vec(),
        "NaN attributes defeat ==, so compare bytes"
    );
    assert!(trace.resource_spans[1].resource.is_some());
    assert!(trace.resource_spans[1].scope_spans[0].scope.is_some());
    assert!(trace.resource_spans[1].scope_spans[0].spans[0].status.is_some());
}

#[tokio::test]
async fn v2_protobuf_decodes_to_the_response() {
    let harness = Harness::found(sample_trace());
    let (status, headers, body) =
        harness.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[("Accept", "application/protobuf")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/protobuf");
    let response = TraceByIdResponse::decode(body.as_slice()).unwrap();
    assert_eq!(response.trace.unwrap().encode_to_vec(), sample_trace_filled().encode_to_vec());
    assert_eq!(response.metrics.unwrap().inspected_bytes, 1234);
    assert_eq!(response.status, PartialStatus::Complete as i32);
    assert_eq!(body[0], 0x0a, "field 1 (trace) comes first");
}

#[tokio::test]
async fn truncated_traces_are_returned_and_flagged() {
    let harness =
        Harness::new(Ok(Some(FoundTrace { trace: sample_trace(), truncated: true, inspected_bytes: 9 })), false);
    let (status, _, body) =
        harness.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[("Accept", "application/protobuf")]).await;
    assert_eq!(status, StatusCode::OK);
    let response = TraceByIdResponse::decode(body.as_slice()).unwrap();
    assert_eq!(response.status, PartialStatus::Partial as i32);
    assert_eq!(response.message, "Trace exceeds maximum size, a partial trace is returned");
    assert_eq!(response.trace.unwrap().resource_spans.len(), 2);

    let (status, _, body) = harness.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let value = json_body(&body);
    assert_eq!(value["status"], "PARTIAL");
    assert_eq!(value["message"], "Trace exceeds maximum size, a partial trace is returned");

    let (status, _, body) = harness.get(&format!("/api/traces/{TRACE_HEX}"), &[]).await;
    assert_eq!(status, StatusCode::OK, "v1 also serves over-limit traces");
    assert_eq!(json_body(&body)["batches"].as_array().unwrap().len(), 2);
}

// ---- lookups and errors -----------------------------------------------------------------------

#[tokio::test]
async fn unknown_traces_are_404_with_an_empty_body() {
    let harness = Harness::new(Ok(None), false);
    for uri in [format!("/api/traces/{TRACE_HEX}"), format!("/api/v2/traces/{TRACE_HEX}")] {
        for accept in ["application/json", "application/protobuf"] {
            let (status, _, body) = harness.get(&uri, &[("Accept", accept)]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert!(body.is_empty());
        }
    }
    let empty = Harness::found(Trace::default());
    let (status, _, _) = empty.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a found trace without spans is not found");
}

#[tokio::test]
async fn bad_trace_ids_are_400_with_tempos_message() {
    let harness = Harness::found(sample_trace());
    for prefix in ["/api/traces/", "/api/v2/traces/"] {
        let (status, headers, body) = harness.get(&format!("{prefix}xyz"), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "trace IDs can only contain hex characters: invalid character 'z' at position 3"
        );

        let (status, _, body) = harness.get(&format!("{prefix}{}", "a".repeat(33)), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(String::from_utf8(body).unwrap(), "trace IDs can't be larger than 128 bits");

        let (status, _, _) = harness.get(&format!("{prefix}%FF"), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert!(harness.calls().is_empty(), "bad IDs never reach the querier");
}

#[tokio::test]
async fn short_and_uppercase_ids_are_padded() {
    let harness = Harness::found(sample_trace());
    let (status, _, _) = harness.get("/api/v2/traces/ABC", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = harness.get("/api/traces/d269b633813fc700", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let calls = harness.calls();
    assert_eq!(calls[0].1.to_hex(), "00000000000000000000000000000abc");
    assert_eq!(calls[1].1.to_hex(), "0000000000000000d269b633813fc700");
}

#[tokio::test]
async fn start_and_end_narrow_the_lookup() {
    let harness = Harness::found(sample_trace());
    let (status, _, _) = harness.get(&format!("/api/v2/traces/{TRACE_HEX}?start=100&end=200"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = harness.get(&format!("/api/traces/{TRACE_HEX}?start=100&other=x"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = harness.get(&format!("/api/traces/{TRACE_HEX}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let ranges: Vec<TimeRange> = harness.calls().into_iter().map(|call| call.2).collect();
    assert_eq!(
        ranges,
        [
            TimeRange { start: Some(100), end: Some(200) },
            TimeRange { start: Some(100), end: None },
            TimeRange::default()
        ]
    );
}

#[tokio::test]
async fn bad_start_and_end_are_400() {
    let harness = Harness::found(sample_trace());
    for prefix in ["/api/traces/", "/api/v2/traces/"] {
        for query in ["start=200&end=100", "start=100&end=100"] {
            let (status, _, body) = harness.get(&format!("{prefix}{TRACE_HEX}?{query}"), &[]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert!(String::from_utf8(body).unwrap().starts_with("http parameter start must be before end"));
        }
        for (query, name) in [("start=yesterday", "start"), ("end=1.5", "end"), ("end=-1", "end")] {
            let (status, _, body) = harness.get(&format!("{prefix}{TRACE_HEX}?{query}"), &[]).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert!(String::from_utf8(body).unwrap().starts_with(&format!("invalid {name}: ")));
        }
    }
    assert!(harness.calls().is_empty());
}

#[tokio::test]
async fn querier_errors_keep_their_status_and_message() {
    let overloaded = Harness::new(Err(ServiceError::unavailable("too many queries, retry later")), false);
    let (status, headers, body) = overloaded.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(body, b"too many queries, retry later");
    let limited = Harness::new(Err(ServiceError::new(ErrorCode::RateLimited, "slow down")), false);
    let (status, _, _) = limited.get(&format!("/api/traces/{TRACE_HEX}"), &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn any_method_is_served() {
    let harness = Harness::found(sample_trace());
    let request =
        Request::builder().method("POST").uri(format!("/api/v2/traces/{TRACE_HEX}")).body(Body::empty()).unwrap();
    let response = harness.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// ---- tenancy ----------------------------------------------------------------------------------

#[tokio::test]
async fn multitenancy_requires_a_valid_org_id() {
    let harness =
        Harness::new(Ok(Some(FoundTrace { trace: sample_trace(), truncated: false, inspected_bytes: 0 })), true);
    let uri = format!("/api/v2/traces/{TRACE_HEX}");

    let (status, _, body) = harness.get(&uri, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, b"no org id");

    let (status, _, body) = harness.get(&uri, &[("X-Scope-OrgID", "bad/tenant")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(String::from_utf8(body).unwrap(), "tenant ID 'bad/tenant' contains unsupported character '/'");

    let (status, _, _) = harness.get(&uri, &[("X-Scope-OrgID", "tenant-1|tenant-2")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _, _) = harness.get(&format!("/api/traces/{TRACE_HEX}"), &[("X-Scope-OrgID", "tenant-1")]).await;
    assert_eq!(status, StatusCode::OK);
    let calls = harness.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0.as_str(), "tenant-1");
}

#[tokio::test]
async fn single_tenant_mode_ignores_the_header() {
    let harness = Harness::found(sample_trace());
    let (status, _, _) = harness.get(&format!("/api/traces/{TRACE_HEX}"), &[("X-Scope-OrgID", "bad/tenant")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.calls()[0].0.as_str(), "single-tenant");
}

// ---- misc routes ------------------------------------------------------------------------------

#[tokio::test]
async fn echo_answers_without_a_tenant() {
    let harness = Harness::new(Ok(None), true);
    let (status, headers, body) = harness.get("/api/echo", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(body, b"echo\n");
}

#[tokio::test]
async fn buildinfo_has_prometheus_shape() {
    let harness = Harness::new(Ok(None), true);
    let (status, headers, body) = harness.get("/api/status/buildinfo", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        json_body(&body),
        json!({
            "version": "2.9.0-strand.0.1.0",
            "revision": "abc123",
            "branch": "main",
            "buildUser": "",
            "buildDate": "2026-01-02T03:04:05Z",
            "goVersion": "",
        })
    );
}

#[tokio::test]
async fn responses_are_gzipped_on_request() {
    let harness = Harness::found(sample_trace());
    let uri = format!("/api/v2/traces/{TRACE_HEX}");
    let (_, plain_headers, plain) = harness.get(&uri, &[]).await;
    assert!(plain_headers.get(header::CONTENT_ENCODING).is_none());

    let (status, headers, compressed) = harness.get(&uri, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut inflated).unwrap();
    assert_eq!(inflated, plain);

    let (_, headers, compressed) =
        harness.get(&uri, &[("Accept-Encoding", "gzip"), ("Accept", "application/protobuf")]).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice()).read_to_end(&mut inflated).unwrap();
    assert!(TraceByIdResponse::decode(inflated.as_slice()).is_ok());
}

#[tokio::test]
async fn requests_are_counted_by_route_and_status() {
    fn count(route: &str, status: &str) -> u64 {
        prometheus::gather()
            .iter()
            .filter(|family| family.name() == "strand_frontend_requests_total")
            .flat_map(|family| family.get_metric())
            .filter(|metric| {
                let labels: Vec<(&str, &str)> = metric.get_label().iter().map(|l| (l.name(), l.value())).collect();
                labels.contains(&("route", route)) && labels.contains(&("status", status))
            })
            .map(|metric| metric.get_counter().get_value() as u64)
            .sum()
    }
    let harness = Harness::new(Ok(None), false);
    let before = count("/api/v2/traces/{id}", "404");
    let before_unmatched = count("unmatched", "404");
    harness.get(&format!("/api/v2/traces/{TRACE_HEX}"), &[]).await;
    harness.get("/api/nothing-here", &[]).await;
    assert_eq!(count("/api/v2/traces/{id}", "404"), before + 1);
    assert_eq!(count("unmatched", "404"), before_unmatched + 1);
}
