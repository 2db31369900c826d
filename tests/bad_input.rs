//! Bad requests get the status codes OTel clients and Grafana expect, with Tempo's messages, and
//! never hurt the server: after each batch of bad requests, `/ready` is 200 and a trace pushed
//! before them reads back intact.

mod common;

use std::io::Write;

use common::otlp::{self, now_nanos};
use common::{ALL_READS, Api, Format, StrandConfig, StrandProcess};
use prost::Message;
use reqwest::StatusCode;
use strand_proto::otlp::collector::ExportTraceServiceRequest;
use strand_proto::tempopb::Trace;

/// `google.rpc.Status`, the body of an OTLP/HTTP protobuf error.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

const INVALID_ARGUMENT: i32 = 3;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// A valid trace, pushed before the bad requests, that must read back intact after them.
struct Witness {
    id: String,
    trace: Trace,
}

async fn push_witness(server: &StrandProcess, seed: u64, tenant: Option<&str>) -> Witness {
    let id = otlp::trace_id(seed, 0);
    let request = otlp::request("witness", otlp::simple_trace(&id, 4, now_nanos() - 5_000_000_000));
    server.push_http(&request, tenant).await;
    Witness { id: hex::encode(id), trace: Trace { resource_spans: request.resource_spans } }
}

async fn assert_still_serving(server: &StrandProcess, witness: &Witness, tenant: Option<&str>) {
    server.assert_ready().await;
    for (api, format) in ALL_READS {
        let fetched = server.fetch(api, format, &witness.id, tenant).await;
        common::compare::assert_same_trace(
            &format!("witness trace after bad requests, {api:?} {format:?}"),
            &witness.trace,
            &fetched.trace,
        );
    }
}

/// A request whose only span has a trace ID of `trace_id_len` bytes and the given span ID.
fn request_with_ids(trace_id: Vec<u8>, span_id: Vec<u8>) -> ExportTraceServiceRequest {
    let mut span = otlp::span(&[7; 16], [1; 8], None, "bad ids", now_nanos(), 1_000);
    span.trace_id = trace_id;
    span.span_id = span_id;
    otlp::request("bad-ids", vec![span])
}

/// A request of about `bytes` bytes of protobuf, in one attribute.
fn request_of_size(seed: u64, bytes: usize) -> ExportTraceServiceRequest {
    let id = otlp::trace_id(seed, 1);
    let mut span = otlp::span(&id, otlp::span_id(&id, 0), None, "big", now_nanos(), 1_000);
    span.attributes.push(otlp::kv_str("blob", &"x".repeat(bytes)));
    otlp::request("big", vec![span])
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

async fn post(server: &StrandProcess, content_type: Option<&str>, encoding: Option<&str>, body: Vec<u8>) -> Answer {
    let mut builder = server.http.post(server.otlp_http_url()).body(body);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    if let Some(encoding) = encoding {
        builder = builder.header("content-encoding", encoding);
    }
    let response = builder.send().await.expect("POST /v1/traces");
    let status = response.status();
    let content_type = common::header(&response, "content-type");
    let body = response.bytes().await.expect("answer body").to_vec();
    Answer { status, content_type, body }
}

impl Answer {
    fn rpc_status(&self) -> RpcStatus {
        assert_eq!(self.content_type, "application/x-protobuf", "a protobuf error answer");
        RpcStatus::decode(self.body.as_slice()).expect("the error body is a google.rpc.Status")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_otlp_http_input() {
    let config = StrandConfig { http_max_request_body_size: Some("64KiB"), ..StrandConfig::local() };
    let server = StrandProcess::start(config).await;
    let witness = push_witness(&server, 0xbad1, None).await;
    const PROTOBUF: Option<&str> = Some("application/x-protobuf");
    const JSON: Option<&str> = Some("application/json");

    // Field 1 (resource_spans), length-delimited, promising far more bytes than there are.
    let answer = post(&server, PROTOBUF, None, vec![0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "malformed protobuf: {}", answer.text());
    let status = answer.rpc_status();
    assert_eq!(status.code, INVALID_ARGUMENT);
    assert!(!status.message.is_empty());

    let answer = post(&server, JSON, None, br#"{"resourceSpans": [ {"#.to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "malformed JSON: {}", answer.text());
    let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("a JSON error answer to a JSON request");
    assert_eq!(body["code"], INVALID_ARGUMENT, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");

    let valid = otlp::request("x", otlp::simple_trace(&otlp::trace_id(0xbad1, 9), 1, now_nanos())).encode_to_vec();
    let answer = post(&server, Some("text/plain"), None, valid.clone()).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "wrong Content-Type: {}", answer.text());
    let answer = post(&server, None, None, valid.clone()).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "no Content-Type: {}", answer.text());

    let response = server.http.get(server.otlp_http_url()).send().await.expect("GET /v1/traces");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "GET /v1/traces");

    let answer = post(&server, PROTOBUF, Some("gzip"), valid.clone()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "gzip header, plain body: {}", answer.text());
    // The same body, really compressed, is fine.
    let answer = post(&server, PROTOBUF, Some("gzip"), gzip(&valid)).await;
    assert_eq!(answer.status, StatusCode::OK, "a gzip body: {}", answer.text());

    let too_big = request_of_size(0xbad2, 100 * 1024).encode_to_vec();
    let answer = post(&server, PROTOBUF, None, too_big.clone()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "100 KiB body, 64 KiB limit: {}", answer.text());
    // Small on the wire, too big once decompressed.
    let compressed = gzip(&too_big);
    assert!(compressed.len() < 64 * 1024);
    let answer = post(&server, PROTOBUF, Some("gzip"), compressed).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "gzip body over the limit once decompressed: {}",
        answer.text()
    );

    let answer = post(&server, PROTOBUF, None, request_with_ids(vec![1; 8], vec![1; 8]).encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "8-byte trace ID: {}", answer.text());
    let status = answer.rpc_status();
    assert_eq!(status.code, INVALID_ARGUMENT);
    assert!(status.message.contains("trace ids must be 128 bit"), "{status:?}");

    let answer = post(&server, PROTOBUF, None, request_with_ids(vec![2; 16], vec![0; 8]).encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "all-zero span ID: {}", answer.text());
    let status = answer.rpc_status();
    assert_eq!(status.code, INVALID_ARGUMENT);
    assert!(status.message.contains("span ids must be 64 bit"), "{status:?}");

    let short_id_json = br#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[
        {"traceId":"0102030405060708","spanId":"0102030405060708","name":"short","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
    let answer = post(&server, JSON, None, short_id_json.to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "8-byte trace ID in JSON: {}", answer.text());
    assert!(answer.text().contains("trace ids must be 128 bit"), "{}", answer.text());

    assert_still_serving(&server, &witness, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_otlp_grpc_input() {
    let config = StrandConfig { grpc_max_recv_msg_size_mib: Some(1), ..StrandConfig::local() };
    let server = StrandProcess::start(config).await;
    let mut client = server.grpc_client().await;
    let witness = push_witness(&server, 0xbad3, None).await;

    let status = server
        .push_grpc(&mut client, request_with_ids(vec![1; 8], vec![1; 8]), None)
        .await
        .expect_err("8-byte trace ID");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("trace ids must be 128 bit"), "{status:?}");

    let status =
        server.push_grpc(&mut client, request_with_ids(vec![2; 16], vec![0; 8]), None).await.expect_err("zero span ID");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("span ids must be 64 bit"), "{status:?}");

    let status = server
        .push_grpc(&mut client, request_of_size(0xbad4, 2 * 1024 * 1024), None)
        .await
        .expect_err("2 MiB message, 1 MiB limit");
    assert!(
        matches!(status.code(), tonic::Code::ResourceExhausted | tonic::Code::OutOfRange),
        "an oversized message is refused as too large: {status:?}"
    );

    // The server still takes pushes, on a fresh connection.
    let mut client = server.grpc_client().await;
    let id = otlp::trace_id(0xbad5, 0);
    let request = otlp::request("after", otlp::simple_trace(&id, 2, now_nanos()));
    server.push_grpc(&mut client, request, None).await.expect("a valid push after the bad ones");
    assert_eq!(
        common::compare::spans(&server.fetch(Api::V2, Format::Protobuf, &hex::encode(id), None).await.trace).len(),
        2
    );

    assert_still_serving(&server, &witness, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_input() {
    let server = StrandProcess::start(StrandConfig::local()).await;
    let witness = push_witness(&server, 0xbad6, None).await;

    // A trace ID with leading zero bytes, looked up by its zero-stripped form.
    let mut leading_zeros = otlp::trace_id(0xbad7, 0);
    leading_zeros[..5].fill(0);
    leading_zeros[5] = 0x0c;
    let request = otlp::request("zeros", otlp::simple_trace(&leading_zeros, 3, now_nanos()));
    server.push_http(&request, None).await;
    let short = hex::encode(leading_zeros).trim_start_matches('0').to_string();
    assert_eq!(short.len(), 21);
    for (api, format) in ALL_READS {
        let fetched = server.fetch(api, format, &short, None).await;
        common::compare::assert_same_trace(
            &format!("zero-stripped ID {short}, {api:?} {format:?}"),
            &Trace { resource_spans: request.resource_spans.clone() },
            &fetched.trace,
        );
    }

    let unknown = hex::encode(otlp::trace_id(0xbad8, 0));
    for (api, format) in ALL_READS {
        let response = server.get_trace(api, format, "xyz123", None, "").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "non-hex ID, {api:?} {format:?}");
        let body = response.text().await.unwrap_or_default();
        assert!(body.to_lowercase().contains("hex"), "the message says what is wrong: {body:?}");

        let response = server.get_trace(api, format, &"a".repeat(33), None, "").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "33 hex digits, {api:?} {format:?}");
        let body = response.text().await.unwrap_or_default();
        assert!(body.contains("128"), "the message says what is wrong: {body:?}");

        let response = server.get_trace(api, format, &unknown, None, "").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "unknown ID, {api:?} {format:?}");

        let response = server.get_trace(api, format, &witness.id, None, "?start=2000000000&end=1000000000").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "start after end, {api:?} {format:?}");

        let now = now_nanos() / 1_000_000_000;
        let window = format!("?start={}&end={}", now - 3600, now + 3600);
        let response = server.get_trace(api, format, &witness.id, None, &window).await;
        assert_eq!(response.status(), StatusCode::OK, "a window around the trace, {api:?} {format:?}");
    }

    assert_still_serving(&server, &witness, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multitenancy() {
    let config = StrandConfig { multitenancy_enabled: true, ..StrandConfig::local() };
    let server = StrandProcess::start(config).await;
    let witness_a = push_witness(&server, 0x7e1a, Some("tenant-a")).await;
    let mut client = server.grpc_client().await;
    let id_b = otlp::trace_id(0x7e1b, 0);
    let request_b = otlp::request("tenant-b-service", otlp::simple_trace(&id_b, 3, now_nanos()));
    server.push_grpc(&mut client, request_b.clone(), Some("tenant-b")).await.expect("tenant-b push over gRPC");
    let witness_b = Witness { id: hex::encode(id_b), trace: Trace { resource_spans: request_b.resource_spans } };

    let request = otlp::request("anonymous", otlp::simple_trace(&otlp::trace_id(0x7e1c, 0), 1, now_nanos()));
    let response = server.post_otlp_protobuf(&request, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "HTTP push without X-Scope-OrgID");
    let status =
        server.push_grpc(&mut client, request.clone(), None).await.expect_err("gRPC push without X-Scope-OrgID");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    let response = server.post_otlp_protobuf(&request, Some("../x")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "tenant ../x over HTTP");
    let status = server.push_grpc(&mut client, request, Some("../x")).await.expect_err("tenant ../x over gRPC");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    for phase in ["from memory", "after /flush"] {
        if phase == "after /flush" {
            server.flush().await;
        }
        for (api, format) in ALL_READS {
            let response = server.get_trace(api, format, &witness_a.id, Some("tenant-b"), "").await;
            assert_eq!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{phase}: tenant-b reads tenant-a's trace, {api:?} {format:?}"
            );
            let response = server.get_trace(api, format, &witness_b.id, Some("tenant-a"), "").await;
            assert_eq!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{phase}: tenant-a reads tenant-b's trace, {api:?} {format:?}"
            );
            let response = server.get_trace(api, format, &witness_a.id, None, "").await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{phase}: a read without X-Scope-OrgID, {api:?} {format:?}"
            );
        }
        assert_still_serving(&server, &witness_a, Some("tenant-a")).await;
        assert_still_serving(&server, &witness_b, Some("tenant-b")).await;
    }
}
