//! The OpenTelemetry SDK, exporting with its own OTLP exporters (gRPC with gzip, HTTP/protobuf,
//! HTTP/JSON with gzip), sends traces that cross three services to the real binary. Every trace
//! must read back through Tempo's API (v1 and v2, JSON and protobuf) exactly as the SDK sent it:
//! first from memory, then after `/flush`, then from blocks alone after `kill -9` and the loss of
//! the whole WAL. Once with local blocks, once with blocks in S3.

mod common;

use std::collections::BTreeMap;

use common::sdk::{Sent, export_with_sdk};
use common::{StrandConfig, StrandProcess};
use serde_json::{Value as Json, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_sdk_round_trip_local() {
    round_trip(StrandConfig::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_sdk_round_trip_s3() {
    round_trip(StrandConfig::s3("otel-sdk").await).await;
}

async fn round_trip(config: StrandConfig) {
    let mut server = StrandProcess::start(config).await;
    let sent = export_with_sdk(&server.otlp_grpc_url(), &server.otlp_http_url()).await;
    // Each exporter spoke the protocol it was built for.
    let metrics = server.metrics().await;
    for (protocol, spans) in &sent.spans_by_protocol {
        let received =
            common::metric_value(&metrics, "strand_distributor_spans_received_total", &[("protocol", protocol)]);
        assert_eq!(received, Some(*spans as f64), "spans received over {protocol}");
    }

    read_everything(&server, &sent, "read from memory right after the export").await;
    check_checkout_by_hand(&server, &sent).await;

    server.flush().await;
    if matches!(server.config.storage, common::Storage::Local) {
        assert!(server.local_block_count() >= 1, "/flush wrote a block");
    }
    read_everything(&server, &sent, "read after POST /flush").await;

    server.kill9();
    std::fs::remove_dir_all(server.wal_dir()).expect("delete the WAL folder");
    server.restart().await;
    read_everything(&server, &sent, "read from blocks alone, after kill -9 and losing the WAL").await;
    check_checkout_by_hand(&server, &sent).await;
}

async fn read_everything(server: &StrandProcess, sent: &Sent, phase: &str) {
    for (id, expected) in &sent.traces {
        server.assert_trace_everywhere(&hex::encode(id), expected, phase).await;
    }
}

/// Checks the v2 JSON of the first checkout trace against values written here, independent of
/// the SDK's encoding: kinds and status by name, IDs in base64, 64-bit integers as strings.
async fn check_checkout_by_hand(server: &StrandProcess, sent: &Sent) {
    let id = hex::encode(sent.checkout);
    let response = server.get_trace(common::Api::V2, common::Format::Json, &id, None, "").await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Json = response.json().await.expect("v2 JSON");
    let batches = body["trace"]["resourceSpans"].as_array().expect("resourceSpans");
    let mut by_name: BTreeMap<String, (String, Json)> = BTreeMap::new();
    for batch in batches {
        let service =
            attribute(&batch["resource"], "service.name")["stringValue"].as_str().expect("service.name").to_string();
        for scope_spans in batch["scopeSpans"].as_array().expect("scopeSpans") {
            assert!(scope_spans.get("scope").is_some(), "scope is always present: {scope_spans}");
            for span in scope_spans["spans"].as_array().expect("spans") {
                by_name.insert(span["name"].as_str().expect("name").to_string(), (service.clone(), span.clone()));
            }
        }
    }
    let names: Vec<&str> = by_name.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["GET /checkout", "SELECT stock", "charge card", "publish reservation", "render cart", "reserve items"],
        "spans of the checkout trace"
    );
    let (service, root) = &by_name["GET /checkout"];
    assert_eq!(service, "frontend");
    assert_eq!(root["kind"], "SPAN_KIND_SERVER");
    assert_eq!(root["traceId"], base64_of(&sent.checkout));
    assert!(root.get("parentSpanId").is_none_or(|p| p == ""), "the root has no parent: {root}");
    assert_eq!(attribute(root, "attr.int.min"), json!({ "intValue": "-9223372036854775808" }));
    assert_eq!(attribute(root, "http.status_code"), json!({ "intValue": "402" }));
    assert_eq!(attribute(root, "attr.bool.false"), json!({ "boolValue": false }));
    assert_eq!(attribute(root, "attr.double"), json!({ "doubleValue": 3.25 }));
    assert_eq!(
        attribute(root, "attr.array.bool"),
        json!({ "arrayValue": { "values": [{ "boolValue": true }, { "boolValue": false }] } })
    );
    assert_eq!(root["events"][0]["name"], "request.received");
    assert_eq!(root["events"][1]["name"], "no.attributes");
    assert!(root.get("status").is_some(), "status is always present: {root}");

    let (service, charge) = &by_name["charge card"];
    assert_eq!(service, "payments");
    assert_eq!(charge["kind"], "SPAN_KIND_CONSUMER");
    assert_eq!(charge["status"], json!({ "code": "STATUS_CODE_ERROR", "message": "card declined" }));
    assert_eq!(charge["parentSpanId"], root["spanId"]);
    assert_eq!(charge["events"][0]["name"], "exception");
    assert_eq!(attribute(&charge["events"][0], "exception.type"), json!({ "stringValue": "CardDeclined" }));

    let (service, reserve) = &by_name["reserve items"];
    assert_eq!(service, "inventory");
    assert_eq!(reserve["parentSpanId"], root["spanId"]);
    let (_, query) = &by_name["SELECT stock"];
    assert_eq!(query["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(query["parentSpanId"], reserve["spanId"]);
    assert_eq!(query["status"]["code"], "STATUS_CODE_OK");
    assert_eq!(by_name["publish reservation"].1["kind"], "SPAN_KIND_PRODUCER");
    assert_eq!(by_name["render cart"].1["kind"], "SPAN_KIND_INTERNAL");
    let start: u64 = root["startTimeUnixNano"].as_str().expect("start as a string").parse().expect("digits");
    let end: u64 = root["endTimeUnixNano"].as_str().expect("end as a string").parse().expect("digits");
    assert_eq!(end - start, 300_000 + 300 % 7, "root duration in nanoseconds");
}

fn attribute(owner: &Json, key: &str) -> Json {
    owner["attributes"]
        .as_array()
        .and_then(|attributes| attributes.iter().find(|kv| kv["key"] == key))
        .map(|kv| kv["value"].clone())
        .unwrap_or_else(|| panic!("attribute {key:?} missing from {owner}"))
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
