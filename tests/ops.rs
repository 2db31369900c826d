//! The endpoints operators and Grafana poke: `/ready`, `/api/echo`, `/api/status/buildinfo`, and
//! `/metrics` with the series the runbooks rely on.

mod common;

use common::otlp::{self, now_nanos};
use common::{StrandConfig, StrandProcess, metric_value};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_and_metrics() {
    let server = StrandProcess::start(StrandConfig::local()).await;
    server.assert_ready().await;

    let response = server.http.get(server.api_url("/api/echo")).send().await.expect("GET /api/echo");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("echo body").trim(), "echo");

    let response = server.http.get(server.api_url("/api/status/buildinfo")).send().await.expect("GET buildinfo");
    assert_eq!(response.status(), StatusCode::OK);
    let info: serde_json::Value = response.json().await.expect("buildinfo is JSON");
    assert!(info["version"].as_str().is_some_and(|v| !v.is_empty()), "buildinfo has a version: {info}");

    // Three traces of four spans over OTLP/HTTP, one over OTLP/gRPC, one refused push.
    let start = now_nanos() - 5_000_000_000;
    for t in 0..3 {
        let id = otlp::trace_id(0x0b5, t);
        server.push_http(&otlp::request("ops", otlp::simple_trace(&id, 4, start)), None).await;
    }
    let mut client = server.grpc_client().await;
    let id = otlp::trace_id(0x0b5, 3);
    server
        .push_grpc(&mut client, otlp::request("ops", otlp::simple_trace(&id, 4, start)), None)
        .await
        .expect("gRPC push");
    let mut bad = otlp::request("ops", otlp::simple_trace(&otlp::trace_id(0x0b5, 4), 1, start));
    bad.resource_spans[0].scope_spans[0].spans[0].span_id = vec![0; 8];
    let response = server.post_otlp_protobuf(&bad, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let metrics = server.metrics().await;
    let live = metric_value(&metrics, "strand_ingester_live_traces", &[]);
    assert!(live.is_some_and(|n| n >= 1.0), "strand_ingester_live_traces counts the traces in memory: {live:?}");

    server.flush().await;
    let metrics = server.metrics().await;
    let value = |name: &str, labels: &[(&str, &str)]| {
        metric_value(&metrics, name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} missing from /metrics:\n{metrics}"))
    };
    let http_spans = value("strand_distributor_spans_received_total", &[("protocol", "http_protobuf")]);
    // The refused span was received too; whether it counts is the only freedom here.
    assert!((12.0..=13.0).contains(&http_spans), "spans received over OTLP/HTTP: {http_spans}");
    assert_eq!(value("strand_distributor_spans_received_total", &[("protocol", "grpc")]), 4.0);
    assert_eq!(value("strand_distributor_spans_rejected_total", &[("reason", "invalid_span_id")]), 1.0);
    assert!(value("strand_ingester_wal_bytes_total", &[]) > 0.0, "the pushes went through the WAL");
    assert_eq!(value("strand_ingester_live_traces", &[]), 0.0, "nothing is live after /flush");
    assert!(value("strand_ingester_blocks_flushed_total", &[]) >= 1.0, "/flush wrote a block");
    assert!(value("strand_ingester_flush_duration_seconds_count", &[]) >= 1.0, "flushes are timed");
    assert!(metrics.contains("# TYPE strand_ingester_flush_duration_seconds histogram"), "a histogram:\n{metrics}");
}
