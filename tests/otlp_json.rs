//! An OTLP/JSON body written by hand, using every liberty the OTLP/JSON spec allows (uppercase
//! hex IDs, 64-bit integers as numbers or strings, enums as numbers or names, kvlist, array and
//! bytes values), must read back through Tempo's v2 JSON with the values written here by hand:
//! base64 IDs, enum names, nanoseconds as strings.

mod common;

use common::compare::assert_same_trace;
use common::{ALL_READS, Api, Format, StrandConfig, StrandProcess, tempo_json};
use serde_json::{Value, json};

const TRACE_ID_HEX: &str = "5b8efff798038103d269b633813fc60c";
const TRACE_ID_B64: &str = "W47/95gDgQPSabYzgT/GDA==";
const SERVER_SPAN_B64: &str = "7uGbfsPBsXQ="; // EEE19B7EC3C1B174
const CLIENT_SPAN_B64: &str = "AAAAAAAAAKo="; // 00000000000000aa
const WORKER_SPAN_B64: &str = "CvdlGRbNQ90="; // 0af7651916cd43dd

const BODY: &str = r#"{
  "resourceSpans": [
    {
      "resource": {
        "attributes": [
          { "key": "service.name", "value": { "stringValue": "hand-built-api" } },
          { "key": "host.cores", "value": { "intValue": 8 } }
        ],
        "droppedAttributesCount": 1
      },
      "schemaUrl": "https://opentelemetry.io/schemas/1.21.0",
      "scopeSpans": [
        {
          "scope": {
            "name": "manual",
            "version": "0.0.1",
            "attributes": [ { "key": "scope.attr", "value": { "boolValue": true } } ]
          },
          "schemaUrl": "https://example.com/scope-schema",
          "spans": [
            {
              "traceId": "5B8EFFF798038103D269B633813FC60C",
              "spanId": "EEE19B7EC3C1B174",
              "traceState": "vendor=value",
              "flags": 257,
              "name": "GET /api/hand",
              "kind": 2,
              "startTimeUnixNano": "1700000000000000000",
              "endTimeUnixNano": 1700000000250000000,
              "attributes": [
                { "key": "str", "value": { "stringValue": "héllo" } },
                { "key": "int_number", "value": { "intValue": 42 } },
                { "key": "int_string", "value": { "intValue": "-9223372036854775808" } },
                { "key": "double", "value": { "doubleValue": 3.25 } },
                { "key": "bool", "value": { "boolValue": false } },
                { "key": "bytes", "value": { "bytesValue": "AQID/w==" } },
                { "key": "array", "value": { "arrayValue": { "values": [
                  { "stringValue": "a" }, { "intValue": "1" }, { "doubleValue": 2.5 }, { "boolValue": true }
                ] } } },
                { "key": "kvlist", "value": { "kvlistValue": { "values": [
                  { "key": "inner", "value": { "stringValue": "x" } },
                  { "key": "nested", "value": { "kvlistValue": { "values": [
                    { "key": "deep", "value": { "intValue": "7" } }
                  ] } } }
                ] } } }
              ],
              "droppedAttributesCount": 2,
              "events": [
                {
                  "timeUnixNano": "1700000000100000000",
                  "name": "cache.miss",
                  "attributes": [ { "key": "key", "value": { "stringValue": "user:42" } } ],
                  "droppedAttributesCount": 1
                }
              ],
              "droppedEventsCount": 3,
              "links": [
                {
                  "traceId": "0102030405060708090a0b0c0d0e0f10",
                  "spanId": "1112131415161718",
                  "traceState": "k=v",
                  "attributes": [ { "key": "link.kind", "value": { "stringValue": "follows" } } ],
                  "flags": 1
                }
              ],
              "droppedLinksCount": 4,
              "status": { "code": "STATUS_CODE_OK" }
            },
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "00000000000000aa",
              "parentSpanId": "eee19b7ec3c1b174",
              "name": "SELECT users",
              "kind": "SPAN_KIND_CLIENT",
              "startTimeUnixNano": 1700000000050000000,
              "endTimeUnixNano": "1700000000150000000",
              "status": { "code": 2, "message": "timeout" }
            }
          ]
        }
      ]
    },
    {
      "resource": {
        "attributes": [ { "key": "service.name", "value": { "stringValue": "hand-built-worker" } } ]
      },
      "scopeSpans": [
        {
          "scope": { "name": "worker" },
          "spans": [
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "0AF7651916CD43DD",
              "parentSpanId": "00000000000000AA",
              "name": "consume",
              "kind": 5,
              "startTimeUnixNano": "1700000000200000000",
              "endTimeUnixNano": "1700000000300000000",
              "attributes": [ { "key": "payload", "value": { "bytesValue": "AP4Q" } } ]
            }
          ]
        }
      ]
    }
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_built_otlp_json() {
    let mut server = StrandProcess::start(StrandConfig::local()).await;
    let response = server
        .http
        .post(server.otlp_http_url())
        .header("content-type", "application/json; charset=utf-8")
        .body(BODY)
        .send()
        .await
        .expect("POST OTLP/JSON");
    let status = response.status();
    let content_type = common::header(&response, "content-type");
    let answer = response.text().await.expect("answer");
    assert_eq!(status, reqwest::StatusCode::OK, "OTLP/JSON push refused: {answer}");
    assert!(content_type.starts_with("application/json"), "a JSON push gets a JSON answer, got {content_type:?}");
    let answer: Value = serde_json::from_str(&answer).expect("the answer is JSON");
    assert!(
        answer.get("partialSuccess").is_none_or(|p| p.get("rejectedSpans").is_none_or(|r| r == "0" || r == 0)),
        "{answer}"
    );

    check_everything(&server, "from memory").await;
    server.flush().await;
    server.kill9();
    std::fs::remove_dir_all(server.wal_dir()).expect("delete the WAL folder");
    server.restart().await;
    check_everything(&server, "from blocks").await;
}

async fn check_everything(server: &StrandProcess, phase: &str) {
    // Lowercase and uppercase IDs name the same trace.
    for id in [TRACE_ID_HEX.to_string(), TRACE_ID_HEX.to_uppercase()] {
        let response = server.get_trace(Api::V2, Format::Json, &id, None, "").await;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{phase}: v2 read of {id}");
        let body: Value = response.json().await.expect("v2 JSON");
        check_v2_json_by_hand(&body, phase);

        // The other three reads hold the same trace.
        let v2 = tempo_json::parse_v2(&body).trace;
        for (api, format) in ALL_READS {
            let fetched = server.fetch(api, format, &id, None).await;
            assert_same_trace(&format!("{phase}: {api:?} {format:?} against v2 JSON"), &v2, &fetched.trace);
        }
    }
}

fn check_v2_json_by_hand(body: &Value, phase: &str) {
    let batches =
        body["trace"]["resourceSpans"].as_array().unwrap_or_else(|| panic!("{phase}: no resourceSpans in {body}"));
    assert_eq!(batches.len(), 2, "{phase}: two resources were sent: {body}");
    let api = batch_of(batches, "hand-built-api");
    let worker = batch_of(batches, "hand-built-worker");

    assert_eq!(attribute(&api["resource"], "host.cores"), json!({ "intValue": "8" }), "{phase}");
    assert_eq!(api["resource"]["droppedAttributesCount"], json!(1), "{phase}");
    assert_eq!(api["schemaUrl"], "https://opentelemetry.io/schemas/1.21.0", "{phase}");
    let scopes = api["scopeSpans"].as_array().expect("scopeSpans");
    assert_eq!(scopes.len(), 1, "{phase}: one scope under the api resource");
    assert_eq!(scopes[0]["scope"]["name"], "manual", "{phase}");
    assert_eq!(scopes[0]["scope"]["version"], "0.0.1", "{phase}");
    assert_eq!(attribute(&scopes[0]["scope"], "scope.attr"), json!({ "boolValue": true }), "{phase}");
    assert_eq!(scopes[0]["schemaUrl"], "https://example.com/scope-schema", "{phase}");
    let spans = scopes[0]["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{phase}: two spans under the api resource");

    let server_span = span_with_id(spans, SERVER_SPAN_B64);
    assert_eq!(server_span["traceId"], TRACE_ID_B64, "{phase}");
    assert!(absent_or(server_span, "parentSpanId", json!("")), "{phase}: a root span has no parent: {server_span}");
    assert_eq!(server_span["traceState"], "vendor=value", "{phase}");
    assert_eq!(server_span["flags"], json!(257), "{phase}");
    assert_eq!(server_span["name"], "GET /api/hand", "{phase}");
    assert_eq!(server_span["kind"], "SPAN_KIND_SERVER", "{phase}");
    assert_eq!(server_span["startTimeUnixNano"], "1700000000000000000", "{phase}");
    assert_eq!(server_span["endTimeUnixNano"], "1700000000250000000", "{phase}");
    let expected_attributes = [
        ("str", json!({ "stringValue": "héllo" })),
        ("int_number", json!({ "intValue": "42" })),
        ("int_string", json!({ "intValue": "-9223372036854775808" })),
        ("double", json!({ "doubleValue": 3.25 })),
        ("bool", json!({ "boolValue": false })),
        ("bytes", json!({ "bytesValue": "AQID/w==" })),
        (
            "array",
            json!({ "arrayValue": { "values": [
                { "stringValue": "a" }, { "intValue": "1" }, { "doubleValue": 2.5 }, { "boolValue": true }
            ] } }),
        ),
        (
            "kvlist",
            json!({ "kvlistValue": { "values": [
                { "key": "inner", "value": { "stringValue": "x" } },
                { "key": "nested", "value": { "kvlistValue": { "values": [
                    { "key": "deep", "value": { "intValue": "7" } }
                ] } } }
            ] } }),
        ),
    ];
    assert_eq!(
        server_span["attributes"].as_array().map(Vec::len),
        Some(expected_attributes.len()),
        "{phase}: {}",
        server_span["attributes"]
    );
    for (key, value) in expected_attributes {
        assert_eq!(attribute(server_span, key), value, "{phase}: attribute {key}");
    }
    assert_eq!(server_span["droppedAttributesCount"], json!(2), "{phase}");
    assert_eq!(
        server_span["events"],
        json!([{
            "timeUnixNano": "1700000000100000000",
            "name": "cache.miss",
            "attributes": [{ "key": "key", "value": { "stringValue": "user:42" } }],
            "droppedAttributesCount": 1
        }]),
        "{phase}"
    );
    assert_eq!(server_span["droppedEventsCount"], json!(3), "{phase}");
    let links = server_span["links"].as_array().expect("links");
    assert_eq!(links.len(), 1, "{phase}");
    assert_eq!(links[0]["traceId"], "AQIDBAUGBwgJCgsMDQ4PEA==", "{phase}");
    assert_eq!(links[0]["spanId"], "ERITFBUWFxg=", "{phase}");
    assert_eq!(links[0]["traceState"], "k=v", "{phase}");
    assert_eq!(links[0]["flags"], json!(1), "{phase}");
    assert_eq!(attribute(&links[0], "link.kind"), json!({ "stringValue": "follows" }), "{phase}");
    assert!(absent_or(&links[0], "droppedAttributesCount", json!(0)), "{phase}: {}", links[0]);
    assert_eq!(server_span["droppedLinksCount"], json!(4), "{phase}");
    assert_eq!(server_span["status"]["code"], "STATUS_CODE_OK", "{phase}");
    assert!(absent_or(&server_span["status"], "message", json!("")), "{phase}");

    let client_span = span_with_id(spans, CLIENT_SPAN_B64);
    assert_eq!(client_span["traceId"], TRACE_ID_B64, "{phase}");
    assert_eq!(client_span["parentSpanId"], SERVER_SPAN_B64, "{phase}");
    assert_eq!(client_span["name"], "SELECT users", "{phase}");
    assert_eq!(client_span["kind"], "SPAN_KIND_CLIENT", "{phase}");
    assert_eq!(client_span["startTimeUnixNano"], "1700000000050000000", "{phase}");
    assert_eq!(client_span["endTimeUnixNano"], "1700000000150000000", "{phase}");
    assert_eq!(client_span["status"], json!({ "code": "STATUS_CODE_ERROR", "message": "timeout" }), "{phase}");
    assert!(absent_or(client_span, "attributes", json!([])), "{phase}: {client_span}");
    assert!(absent_or(client_span, "flags", json!(0)), "{phase}: {client_span}");

    assert!(absent_or(worker, "schemaUrl", json!("")), "{phase}: {worker}");
    let worker_scopes = worker["scopeSpans"].as_array().expect("scopeSpans");
    assert_eq!(worker_scopes.len(), 1, "{phase}");
    assert_eq!(worker_scopes[0]["scope"]["name"], "worker", "{phase}");
    assert!(absent_or(&worker_scopes[0]["scope"], "version", json!("")), "{phase}");
    let worker_spans = worker_scopes[0]["spans"].as_array().expect("spans");
    assert_eq!(worker_spans.len(), 1, "{phase}");
    let consume = span_with_id(worker_spans, WORKER_SPAN_B64);
    assert_eq!(consume["parentSpanId"], CLIENT_SPAN_B64, "{phase}");
    assert_eq!(consume["kind"], "SPAN_KIND_CONSUMER", "{phase}");
    assert_eq!(consume["startTimeUnixNano"], "1700000000200000000", "{phase}");
    assert_eq!(consume["endTimeUnixNano"], "1700000000300000000", "{phase}");
    assert_eq!(attribute(consume, "payload"), json!({ "bytesValue": "AP4Q" }), "{phase}");
    // No status was sent: Tempo still writes an (empty) status object.
    let status = consume.get("status").unwrap_or_else(|| panic!("{phase}: status is always present: {consume}"));
    assert!(absent_or(status, "code", json!("STATUS_CODE_UNSET")), "{phase}: {status}");
}

fn batch_of<'a>(batches: &'a [Value], service: &str) -> &'a Value {
    batches
        .iter()
        .find(|b| attribute(&b["resource"], "service.name") == json!({ "stringValue": service }))
        .unwrap_or_else(|| panic!("no resource with service.name {service:?} in {batches:?}"))
}

fn span_with_id<'a>(spans: &'a [Value], id: &str) -> &'a Value {
    spans.iter().find(|s| s["spanId"] == id).unwrap_or_else(|| panic!("no span with spanId {id} (base64) in {spans:?}"))
}

fn attribute(owner: &Value, key: &str) -> Value {
    owner["attributes"]
        .as_array()
        .and_then(|attributes| attributes.iter().find(|kv| kv["key"] == key))
        .map(|kv| kv["value"].clone())
        .unwrap_or_else(|| panic!("attribute {key:?} missing from {owner}"))
}

/// Tempo leaves fields at their default value out; either form is fine.
fn absent_or(owner: &Value, key: &str, default: Value) -> bool {
    owner.get(key).is_none_or(|v| *v == default)
}
