#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn decode(value: serde_json::Value) -> Result<ExportTraceServiceRequest, String> {
    decode_export_request(value.to_string().as_bytes())
}

fn only_span(request: &ExportTraceServiceRequest) -> &Span {
    &request.resource_spans[0].scope_spans[0].spans[0]
}

fn span_request(span: serde_json::Value) -> serde_json::Value {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
}

fn decode_span(span: serde_json::Value) -> Span {
    let request = decode(span_request(span)).unwrap();
    only_span(&request).clone()
}

fn span_error(span: serde_json::Value) -> String {
    decode(span_request(span)).unwrap_err()
}

fn attr_value(value: serde_json::Value) -> Option<any_value::Value> {
    let span = decode_span(json!({"attributes": [{"key": "k", "value": value}]}));
    span.attributes[0].value.as_ref().and_then(|v| v.value.clone())
}

/// The example of section 2.2 of the API contract: times as JSON numbers, uppercase hex IDs.
#[test]
fn contract_example() {
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
      "scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},
        "spans":[{"traceId":"5B8EFFF798038103D269B633813FC700","spanId":"EEE19B7EC3C1B100",
          "name":"I am a span!","startTimeUnixNano":1689969302000000000,"endTimeUnixNano":1689970000000000000,
          "kind":2,"attributes":[{"key":"my.span.attr","value":{"stringValue":"some value"}}]}]}]}]}"#;
    let request = decode_export_request(body.as_bytes()).unwrap();
    let string_attr = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    };
    let expected = ExportTraceServiceRequest {
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
                spans: vec![Span {
                    trace_id: vec![
                        0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc7, 0x00,
                    ],
                    span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x00],
                    name: "I am a span!".into(),
                    start_time_unix_nano: 1_689_969_302_000_000_000,
                    end_time_unix_nano: 1_689_970_000_000_000_000,
                    kind: SpanKind::Server as i32,
                    attributes: vec![string_attr("my.span.attr", "some value")],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    assert_eq!(request, expected);
}

#[test]
fn snake_case_keys_are_accepted() {
    let request = decode(json!({"resource_spans": [{
        "schema_url": "r",
        "resource": {"attributes": [], "dropped_attributes_count": 1},
        "scope_spans": [{"schema_url": "s", "scope": {"name": "lib", "dropped_attributes_count": 2}, "spans": [{
            "trace_id": "0102030405060708090a0b0c0d0e0f10", "span_id": "0102030405060708", "parent_span_id": "0807060504030201",
            "trace_state": "a=b", "start_time_unix_nano": "5", "end_time_unix_nano": "6",
            "dropped_attributes_count": 3, "dropped_events_count": 4, "dropped_links_count": 5,
            "events": [{"time_unix_nano": "7", "dropped_attributes_count": 6}],
            "links": [{"trace_id": "ff", "span_id": "ee", "trace_state": "x", "dropped_attributes_count": 7}],
            "attributes": [{"key": "i", "value": {"int_value": "9"}}]
        }]}]
    }]}))
    .unwrap();
    let batch = &request.resource_spans[0];
    assert_eq!(batch.schema_url, "r");
    assert_eq!(batch.resource.as_ref().unwrap().dropped_attributes_count, 1);
    assert_eq!(batch.scope_spans[0].schema_url, "s");
    assert_eq!(batch.scope_spans[0].scope.as_ref().unwrap().dropped_attributes_count, 2);
    let span = only_span(&request);
    assert_eq!(span.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(span.span_id, (1..=8).collect::<Vec<u8>>());
    assert_eq!(span.parent_span_id, (1..=8).rev().collect::<Vec<u8>>());
    assert_eq!(span.trace_state, "a=b");
    assert_eq!((span.start_time_unix_nano, span.end_time_unix_nano), (5, 6));
    assert_eq!((span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count), (3, 4, 5));
    assert_eq!(span.events[0].time_unix_nano, 7);
    assert_eq!(span.events[0].dropped_attributes_count, 6);
    assert_eq!(span.links[0].trace_id, [0xff]);
    assert_eq!(span.links[0].span_id, [0xee]);
    assert_eq!(span.links[0].dropped_attributes_count, 7);
    assert_eq!(span.attributes[0].value.as_ref().unwrap().value, Some(any_value::Value::IntValue(9)));
}

#[test]
fn enums_are_numbers_or_names() {
    assert_eq!(decode_span(json!({"kind": 3})).kind, SpanKind::Client as i32);
    assert_eq!(decode_span(json!({"kind": "SPAN_KIND_SERVER"})).kind, SpanKind::Server as i32);
    assert_eq!(decode_span(json!({"kind": "4"})).kind, SpanKind::Producer as i32);
    assert_eq!(decode_span(json!({"kind": 42})).kind, 42, "unknown numbers are kept, as proto3 does");
    assert_eq!(decode_span(json!({"kind": null})).kind, 0);
    let status = decode_span(json!({"status": {"code": "STATUS_CODE_ERROR", "message": "boom"}})).status.unwrap();
    assert_eq!((status.code, status.message.as_str()), (StatusCode::Error as i32, "boom"));
    assert_eq!(decode_span(json!({"status": {"code": 1}})).status.unwrap().code, StatusCode::Ok as i32);
    assert!(
        span_error(json!({"kind": "SERVER"}))
            .starts_with("resourceSpans[0].scopeSpans[0].spans[0].kind: unknown enum value \"SERVER\"")
    );
    assert!(span_error(json!({"status": {"code": true}})).contains("status.code: unknown enum value true"));
}

#[test]
fn sixty_four_bit_integers_are_strings_or_numbers() {
    let span =
        decode_span(json!({"startTimeUnixNano": "18446744073709551615", "endTimeUnixNano": 1689970000000000000u64}));
    assert_eq!(span.start_time_unix_nano, u64::MAX);
    assert_eq!(span.end_time_unix_nano, 1_689_970_000_000_000_000);
    assert_eq!(decode_span(json!({"startTimeUnixNano": 1.0e9})).start_time_unix_nano, 1_000_000_000);
    assert_eq!(attr_value(json!({"intValue": "-42"})), Some(any_value::Value::IntValue(-42)));
    assert_eq!(attr_value(json!({"intValue": -42})), Some(any_value::Value::IntValue(-42)));
    assert_eq!(attr_value(json!({"intValue": 9223372036854775807u64})), Some(any_value::Value::IntValue(i64::MAX)));
    assert_eq!(decode_span(json!({"flags": "257", "droppedAttributesCount": 3})).flags, 257);
    assert!(
        span_error(json!({"startTimeUnixNano": -1}))
            .contains("startTimeUnixNano: expected an unsigned 64-bit integer, got -1")
    );
    assert!(
        span_error(json!({"startTimeUnixNano": "soon"}))
            .contains("startTimeUnixNano: expected an unsigned 64-bit integer")
    );
    assert!(span_error(json!({"startTimeUnixNano": 1.5})).contains("startTimeUnixNano"));
    assert!(span_error(json!({"flags": 4294967296u64})).contains("flags: expected an unsigned 32-bit integer"));
    assert!(
        span_error(json!({"attributes": [{"key": "k", "value": {"intValue": 9223372036854775808u64}}]}))
            .contains("intValue: expected a signed 64-bit integer")
    );
}

#[test]
fn any_values_of_every_type() {
    assert_eq!(attr_value(json!({"stringValue": "s"})), Some(any_value::Value::StringValue("s".into())));
    assert_eq!(attr_value(json!({"stringValue": ""})), Some(any_value::Value::StringValue(String::new())));
    assert_eq!(attr_value(json!({"boolValue": false})), Some(any_value::Value::BoolValue(false)));
    assert_eq!(attr_value(json!({"doubleValue": 1.5})), Some(any_value::Value::DoubleValue(1.5)));
    assert_eq!(attr_value(json!({"doubleValue": 2})), Some(any_value::Value::DoubleValue(2.0)));
    assert_eq!(attr_value(json!({"doubleValue": "Infinity"})), Some(any_value::Value::DoubleValue(f64::INFINITY)));
    assert_eq!(attr_value(json!({"doubleValue": "-Infinity"})), Some(any_value::Value::DoubleValue(f64::NEG_INFINITY)));
    assert_eq!(attr_value(json!({"doubleValue": "0.25"})), Some(any_value::Value::DoubleValue(0.25)));
    // Needs serde_json's `float_roundtrip`: its default parser can be one ulp off.
    assert_eq!(
        attr_value(json!({"doubleValue": 6.240142481570855e-76})),
        Some(any_value::Value::DoubleValue(6.240142481570855e-76))
    );
    assert!(matches!(attr_value(json!({"doubleValue": "NaN"})), Some(any_value::Value::DoubleValue(x)) if x.is_nan()));
    assert_eq!(
        attr_value(json!({"bytesValue": "3q2+7w=="})),
        Some(any_value::Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef]))
    );
    assert_eq!(
        attr_value(json!({"bytesValue": "3q2-7w"})),
        Some(any_value::Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef]))
    );
    assert_eq!(
        attr_value(json!({"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "x"}, {}]}})),
        Some(any_value::Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue { value: Some(any_value::Value::IntValue(1)) },
                AnyValue { value: Some(any_value::Value::StringValue("x".into())) },
                AnyValue { value: None },
            ]
        }))
    );
    assert_eq!(
        attr_value(json!({"kvlistValue": {"values": [{"key": "inner", "value": {"boolValue": true}}]}})),
        Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "inner".into(),
                value: Some(AnyValue { value: Some(any_value::Value::BoolValue(true)) }),
                ..Default::default()
            }]
        }))
    );
    assert_eq!(attr_value(json!({"arrayValue": {}})), Some(any_value::Value::ArrayValue(ArrayValue::default())));
    assert_eq!(attr_value(json!({})), None);
    assert_eq!(attr_value(json!({"stringValue": null})), None);
    assert_eq!(
        attr_value(json!({"stringValue": "a", "intValue": null})),
        Some(any_value::Value::StringValue("a".into()))
    );
    assert!(
        span_error(json!({"attributes": [{"key": "k", "value": {"bytesValue": "***"}}]}))
            .contains("attributes[0].value.bytesValue: not base64")
    );
    assert!(
        span_error(json!({"attributes": [{"key": "k", "value": {"boolValue": "true"}}]}))
            .contains("boolValue: expected a boolean")
    );
}

#[test]
fn events_and_links() {
    let span = decode_span(json!({
        "events": [{"timeUnixNano": "100", "name": "exception", "attributes": [{"key": "exception.message", "value": {"stringValue": "boom"}}], "droppedAttributesCount": 1}],
        "droppedEventsCount": 2,
        "links": [{"traceId": "AABBCCDDEEFF00112233445566778899", "spanId": "0011223344556677", "traceState": "k=v", "flags": 256,
                   "attributes": [{"key": "l", "value": {"intValue": 1}}], "droppedAttributesCount": 3}],
        "droppedLinksCount": 4
    }));
    assert_eq!(span.events.len(), 1);
    let event = &span.events[0];
    assert_eq!((event.time_unix_nano, event.name.as_str(), event.dropped_attributes_count), (100, "exception", 1));
    assert_eq!(event.attributes[0].key, "exception.message");
    assert_eq!((span.dropped_events_count, span.dropped_links_count), (2, 4));
    let link = &span.links[0];
    assert_eq!(hex::encode(&link.trace_id), "aabbccddeeff00112233445566778899");
    assert_eq!(hex::encode(&link.span_id), "0011223344556677");
    assert_eq!((link.trace_state.as_str(), link.flags, link.dropped_attributes_count), ("k=v", 256, 3));
    assert_eq!(link.attributes[0].value.as_ref().unwrap().value, Some(any_value::Value::IntValue(1)));
    assert!(span_error(json!({"links": [{"spanId": "xyz"}]})).contains("spans[0].links[0].spanId: not hex"));
}

#[test]
fn unknown_fields_and_nulls_are_ignored() {
    let request = decode(json!({
        "resourceSpans": [{
            "resource": null,
            "futureField": {"deeply": [{"nested": [1, 2, {"x": null}]}]},
            "scopeSpans": [{"scope": null, "spans": [null, {"name": "kept", "unknown": "x", "status": null, "events": null, "traceId": null}]}]
        }],
        "extra": 1
    }))
    .unwrap();
    let batch = &request.resource_spans[0];
    assert!(batch.resource.is_none());
    assert!(batch.scope_spans[0].scope.is_none());
    assert_eq!(batch.scope_spans[0].spans.len(), 1, "null list items are skipped");
    let span = &batch.scope_spans[0].spans[0];
    assert_eq!(span.name, "kept");
    assert!(span.status.is_none() && span.events.is_empty() && span.trace_id.is_empty());
    assert_eq!(decode(json!({})).unwrap(), ExportTraceServiceRequest::default());
    assert_eq!(decode(json!({"resourceSpans": null})).unwrap(), ExportTraceServiceRequest::default());
}

#[test]
fn ids_are_hex_in_any_case_and_empty_means_absent() {
    let span = decode_span(json!({"traceId": "aBcD", "spanId": "", "parentSpanId": ""}));
    assert_eq!(span.trace_id, [0xab, 0xcd]);
    assert!(span.span_id.is_empty() && span.parent_span_id.is_empty());
    assert_eq!(
        span_error(json!({"traceId": "W47/95gDgQPSabYzgT/HAA=="})).split(" at line").next().unwrap(),
        "resourceSpans[0].scopeSpans[0].spans[0].traceId: not hex"
    );
    assert!(span_error(json!({"spanId": "abc"})).contains("spans[0].spanId: not hex"), "odd length");
    assert!(span_error(json!({"parentSpanId": 12})).contains("parentSpanId: expected a hex string, got 12"));
}

#[test]
fn malformed_bodies_are_reported() {
    for (body, start) in [
        ("", "invalid JSON: EOF"),
        ("{", "invalid JSON: EOF"),
        ("{\"resourceSpans\": [}", "invalid JSON: "),
        ("{} {}", "invalid JSON: trailing characters"),
        ("[]", "invalid JSON: expected an object, got an array"),
        ("\"x\"", "invalid JSON: expected an object, got \"x\""),
        ("null", "invalid JSON: expected an object, got null"),
        ("{\"resourceSpans\": {}}", "resourceSpans: expected an array, got an object"),
        ("{\"resourceSpans\": [5]}", "resourceSpans[0]: expected an object, got 5"),
        ("{\"resourceSpans\": [{\"resource\": []}]}", "resourceSpans[0].resource: expected an object, got an array"),
        (
            "{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"name\": {}}]}]}]}",
            "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string, got an object",
        ),
        ("\u{feff}{}", "invalid JSON: "),
    ] {
        let err = decode_export_request(body.as_bytes()).unwrap_err();
        assert!(err.starts_with(start), "{body:?}: {err}");
    }
    let long = format!(
        "{{\"resourceSpans\": [{{\"schemaUrl\": 1, \"resource\": {{\"attributes\": [{{\"key\": \"{}\", \"value\": 3}}]}}}}]}}",
        "k".repeat(10)
    );
    assert!(
        decode_export_request(long.as_bytes())
            .unwrap_err()
            .starts_with("resourceSpans[0].schemaUrl: expected a string, got 1")
    );
}

#[test]
fn escaped_keys_and_strings_decode() {
    let body = br#"{"resource\u0053pans": [{"scopeSpans": [{"spans": [{"name": "caf\u00e9 \"q\"", "traceId": "\u0061\u0062"}]}]}]}"#;
    let request = decode_export_request(body).unwrap();
    let span = only_span(&request);
    assert_eq!(span.name, "café \"q\"");
    assert_eq!(span.trace_id, [0xab]);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut value = String::from("{}");
    for _ in 0..200 {
        value = format!("{{\"arrayValue\": {{\"values\": [{value}]}}}}");
    }
    let body = format!(
        "{{\"resourceSpans\": [{{\"resource\": {{\"attributes\": [{{\"key\": \"k\", \"value\": {value}}}]}}}}]}}"
    );
    let err = decode_export_request(body.as_bytes()).unwrap_err();
    assert!(err.contains("recursion limit"), "{err}");
}

#[test]
fn long_values_are_quoted_short_in_errors() {
    let err = span_error(json!({"kind": "X".repeat(10_000)}));
    assert!(err.len() < 200, "{err}");
}

/// JSON made of the decoder's own keys and every kind of value, so the random cases reach deep
/// into the decoder instead of stopping at the first unknown key.
fn json_ish() -> impl Strategy<Value = serde_json::Value> {
    const KEYS: &[&str] = &[
        "resourceSpans",
        "resource",
        "scopeSpans",
        "scope",
        "spans",
        "attributes",
        "key",
        "value",
        "traceId",
        "spanId",
        "parentSpanId",
        "kind",
        "startTimeUnixNano",
        "timeUnixNano",
        "flags",
        "status",
        "code",
        "events",
        "links",
        "stringValue",
        "intValue",
        "doubleValue",
        "boolValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
        "values",
        "droppedAttributesCount",
        "entityRefs",
        "idKeys",
        "name",
        "other",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[0-9a-fA-F]{0,34}".prop_map(serde_json::Value::from),
        prop_oneof![Just("NaN"), Just("SPAN_KIND_SERVER"), Just("-1"), Just("18446744073709551616"), Just("3q2+7w==")]
            .prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(|fields| {
                serde_json::Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// How a sender spells its JSON: the canonical OTLP form, or the liberal variants.
#[derive(Clone, Copy, Debug)]
struct Style {
    snake_case: bool,
    numbers_for_64_bit: bool,
    enum_names: bool,
    uppercase_hex: bool,
}

impl Style {
    fn key(self, camel: &'static str) -> String {
        if !self.snake_case {
            return camel.to_string();
        }
        let mut snake = String::new();
        for c in camel.chars() {
            if c.is_ascii_uppercase() {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        snake
    }

    fn id(self, bytes: &[u8]) -> serde_json::Value {
        let text = hex::encode(bytes);
        (if self.uppercase_hex { text.to_uppercase() } else { text }).into()
    }

    fn uint64(self, value: u64) -> serde_json::Value {
        if self.numbers_for_64_bit { value.into() } else { value.to_string().into() }
    }

    fn object(self, fields: Vec<(&'static str, serde_json::Value)>) -> serde_json::Value {
        serde_json::Value::Object(fields.into_iter().map(|(key, value)| (self.key(key), value)).collect())
    }

    fn any_value(self, value: &AnyValue) -> serde_json::Value {
        use any_value::Value;
        let double = |x: f64| -> serde_json::Value {
            if x.is_infinite() { (if x > 0.0 { "Infinity" } else { "-Infinity" }).into() } else { x.into() }
        };
        match &value.value {
            None => json!({}),
            Some(Value::StringValue(s)) => self.object(vec![("stringValue", s.clone().into())]),
            Some(Value::BoolValue(b)) => self.object(vec![("boolValue", (*b).into())]),
            Some(Value::IntValue(i)) => self
                .object(vec![("intValue", if self.numbers_for_64_bit { (*i).into() } else { i.to_string().into() })]),
            Some(Value::DoubleValue(x)) => self.object(vec![("doubleValue", double(*x))]),
            Some(Value::BytesValue(b)) => {
                use base64::engine::general_purpose::STANDARD as BASE64;
                self.object(vec![("bytesValue", BASE64.encode(b).into())])
            }
            Some(Value::ArrayValue(a)) => self.object(vec![(
                "arrayValue",
                json!({"values": a.values.iter().map(|v| self.any_value(v)).collect::<Vec<_>>()}),
            )]),
            Some(Value::KvlistValue(l)) => {
                self.object(vec![("kvlistValue", json!({"values": self.attributes(&l.values)}))])
            }
            Some(Value::StringValueStrindex(_)) => json!({}),
        }
    }

    fn attributes(self, attributes: &[KeyValue]) -> serde_json::Value {
        attributes
            .iter()
            .map(
                |kv| json!({"key": kv.key, "value": self.any_value(kv.value.as_ref().unwrap_or(&AnyValue::default()))}),
            )
            .collect()
    }

    fn span(self, span: &Span) -> serde_json::Value {
        let kind: serde_json::Value = match SpanKind::try_from(span.kind) {
            Ok(kind) if self.enum_names => kind.as_str_name().into(),
            _ => span.kind.into(),
        };
        let status = span.status.as_ref().map(|status| {
            let code: serde_json::Value = match StatusCode::try_from(status.code) {
                Ok(code) if self.enum_names => code.as_str_name().into(),
                _ => status.code.into(),
            };
            json!({"message": status.message, "code": code})
        });
        self.object(vec![
            ("traceId", self.id(&span.trace_id)),
            ("spanId", self.id(&span.span_id)),
            ("traceState", span.trace_state.clone().into()),
            ("parentSpanId", self.id(&span.parent_span_id)),
            ("flags", span.flags.into()),
            ("name", span.name.clone().into()),
            ("kind", kind),
            ("startTimeUnixNano", self.uint64(span.start_time_unix_nano)),
            ("endTimeUnixNano", self.uint64(span.end_time_unix_nano)),
            ("attributes", self.attributes(&span.attributes)),
            ("droppedAttributesCount", span.dropped_attributes_count.into()),
            (
                "events",
                span.events
                    .iter()
                    .map(|e| {
                        self.object(vec![
                            ("timeUnixNano", self.uint64(e.time_unix_nano)),
                            ("name", e.name.clone().into()),
                            ("attributes", self.attributes(&e.attributes)),
                            ("droppedAttributesCount", e.dropped_attributes_count.into()),
                        ])
                    })
                    .collect(),
            ),
            ("droppedEventsCount", span.dropped_events_count.into()),
            (
                "links",
                span.links
                    .iter()
                    .map(|l| {
                        self.object(vec![
                            ("traceId", self.id(&l.trace_id)),
                            ("spanId", self.id(&l.span_id)),
                            ("traceState", l.trace_state.clone().into()),
                            ("attributes", self.attributes(&l.attributes)),
                            ("droppedAttributesCount", l.dropped_attributes_count.into()),
                            ("flags", l.flags.into()),
                        ])
                    })
                    .collect(),
            ),
            ("droppedLinksCount", span.dropped_links_count.into()),
            ("status", status.unwrap_or(serde_json::Value::Null)),
        ])
    }

    fn request(self, request: &ExportTraceServiceRequest) -> serde_json::Value {
        let batches: Vec<serde_json::Value> = request
            .resource_spans
            .iter()
            .map(|batch| {
                let resource = batch.resource.as_ref().map_or(serde_json::Value::Null, |r| {
                    self.object(vec![
                        ("attributes", self.attributes(&r.attributes)),
                        ("droppedAttributesCount", r.dropped_attributes_count.into()),
                    ])
                });
                let scope_spans: Vec<serde_json::Value> = batch
                    .scope_spans
                    .iter()
                    .map(|ss| {
                        let scope = ss.scope.as_ref().map_or(serde_json::Value::Null, |s| {
                            self.object(vec![
                                ("name", s.name.clone().into()),
                                ("version", s.version.clone().into()),
                                ("attributes", self.attributes(&s.attributes)),
                                ("droppedAttributesCount", s.dropped_attributes_count.into()),
                            ])
                        });
                        self.object(vec![
                            ("scope", scope),
                            ("spans", ss.spans.iter().map(|s| self.span(s)).collect()),
                            ("schemaUrl", ss.schema_url.clone().into()),
                        ])
                    })
                    .collect();
                self.object(vec![
                    ("resource", resource),
                    ("scopeSpans", scope_spans.into()),
                    ("schemaUrl", batch.schema_url.clone().into()),
                ])
            })
            .collect();
        self.object(vec![("resourceSpans", batches.into())])
    }
}

fn arb_any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value;
    let leaf = prop_oneof![
        ".{0,6}".prop_map(Value::StringValue),
        any::<bool>().prop_map(Value::BoolValue),
        any::<i64>().prop_map(Value::IntValue),
        prop_oneof![any::<f64>().prop_filter("NaN never equals itself", |x| !x.is_nan()), Just(f64::INFINITY)]
            .prop_map(Value::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Value::BytesValue),
    ]
    .prop_map(|value| AnyValue { value: Some(value) });
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|values| AnyValue { value: Some(Value::ArrayValue(ArrayValue { values })) }),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|pairs| AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: pairs
                        .into_iter()
                        .map(|(key, value)| KeyValue { key, value: Some(value), ..Default::default() })
                        .collect()
                }))
            }),
        ]
    })
}

fn arb_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(("[a-z.]{1,6}", arb_any_value()), 0..3).prop_map(|pairs| {
        pairs.into_iter().map(|(key, value)| KeyValue { key, value: Some(value), ..Default::default() }).collect()
    })
}

fn arb_span() -> impl Strategy<Value = Span> {
    let ids = (
        prop::collection::vec(any::<u8>(), 16),
        prop::collection::vec(any::<u8>(), 8),
        prop::collection::vec(any::<u8>(), 0..=8),
    );
    let numbers = (any::<u32>(), 0..8i32, any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>());
    let events = prop::collection::vec(
        (any::<u64>(), ".{0,4}", arb_attributes(), any::<u32>()).prop_map(
            |(time_unix_nano, name, attributes, dropped_attributes_count)| Event {
                time_unix_nano,
                name,
                attributes,
                dropped_attributes_count,
            },
        ),
        0..2,
    );
    let links = prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 16),
            prop::collection::vec(any::<u8>(), 8),
            "[a-z=]{0,4}",
            arb_attributes(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count,
                flags,
            }),
        0..2,
    );
    let status = prop::option::of((".{0,4}", 0..4i32).prop_map(|(message, code)| Status { message, code }));
    (ids, numbers, ".{0,6}", "[a-z=]{0,4}", arb_attributes(), events, links, status).prop_map(
        |(
            (trace_id, span_id, parent_span_id),
            (flags, kind, start, end, dropped_attributes, dropped_events, dropped_links),
            name,
            trace_state,
            attributes,
            events,
            links,
            status,
        )| Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: dropped_attributes,
            events,
            dropped_events_count: dropped_events,
            links,
            dropped_links_count: dropped_links,
            status,
        },
    )
}

fn arb_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope = prop::option::of(("[a-z]{0,4}", "[0-9.]{0,4}", arb_attributes(), any::<u32>()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ));
    let scope_spans = (scope, prop::collection::vec(arb_span(), 0..3), "[a-z:/]{0,6}")
        .prop_map(|(scope, spans, schema_url)| ScopeSpans { scope, spans, schema_url });
    let resource =
        prop::option::of((arb_attributes(), any::<u32>()).prop_map(|(attributes, dropped_attributes_count)| {
            Resource { attributes, dropped_attributes_count, ..Default::default() }
        }));
    let batch = (resource, prop::collection::vec(scope_spans, 0..3), "[a-z:/]{0,6}")
        .prop_map(|(resource, scope_spans, schema_url)| ResourceSpans { resource, scope_spans, schema_url });
    prop::collection::vec(batch, 0..3).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

fn arb_style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(snake_case, numbers_for_64_bit, enum_names, uppercase_hex)| Style {
            snake_case,
            numbers_for_64_bit,
            enum_names,
            uppercase_hex,
        },
    )
}

proptest! {
    /// Whatever spelling a sender picks, the request decodes to exactly what it encoded.
    #[test]
    fn every_spelling_round_trips(request in arb_request(), style in arb_style()) {
        let body = style.request(&request).to_string();
        let decoded = decode_export_request(body.as_bytes());
        prop_assert_eq!(decoded.as_ref(), Ok(&request), "{}", body);
    }

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_export_request(&body);
    }

    #[test]
    fn random_json_never_panics(value in json_ish()) {
        let _ = decode_export_request(value.to_string().as_bytes());
        let wrapped = json!({"resourceSpans": [{"scopeSpans": [{"spans": [value]}]}]});
        let _ = decode_export_request(wrapped.to_string().as_bytes());
    }

    #[test]
    fn truncated_json_never_panics(value in json_ish(), cut in any::<prop::sample::Index>()) {
        let text = json!({"resourceSpans": [value]}).to_string();
        let _ = decode_export_request(&text.as_bytes()[..cut.index(text.len() + 1)]);
    }
}
