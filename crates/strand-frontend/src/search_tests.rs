//! `/api/search` through the router, against an in-memory querier: parameter errors, the queries
//! and jobs the querier receives, merging and limits, and the exact JSON shape Grafana accepts.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use prost::Message;
use serde::Deserialize;
use strand_common::{Duration, ServiceError, Size};
use strand_model::{BlockSlice, SearchRequest, TenantId};
use strand_overrides::{Limits, Overrides};
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value};
use strand_proto::tempopb::{SearchMetrics, SearchResponse, ServiceStats, Span, SpanSet, TraceSearchMetadata};

use crate::testing::{Call, FakeSearch, block, error, get, state};

fn trace(id: &str, start: u64) -> TraceSearchMetadata {
    TraceSearchMetadata { trace_id: id.into(), start_time_unix_nano: start, duration_ms: 3, ..Default::default() }
}

fn found(traces: Vec<TraceSearchMetadata>) -> SearchResponse {
    SearchResponse {
        traces,
        metrics: Some(SearchMetrics {
            inspected_traces: 1,
            inspected_bytes: 10,
            inspected_spans: 2,
            ..Default::default()
        }),
    }
}

fn recent_query(fake: &FakeSearch) -> SearchRequest {
    match fake.calls().first() {
        Some(Call::Recent(request)) => request.clone(),
        other => panic!("expected the recent job first, got {other:?}"),
    }
}

#[tokio::test]
async fn parameter_errors_are_tempos() {
    let cases = [
        ("q={}&tags=a%3Db", "invalid request: can't specify tags and q in the same query"),
        ("limit=0", "invalid limit: must be a positive number"),
        ("limit=262145", "limit 262145 exceeds max limit 262144"),
        ("limit=x", r#"invalid limit: strconv.ParseUint: parsing "x": invalid syntax"#),
        ("start=abc&end=10", r#"invalid start: strconv.ParseUint: parsing "abc": invalid syntax"#),
        ("start=20&end=10", "http parameter start must be before end. received start=20 end=10"),
        ("start=20", "http parameter start must be before end. received start=20 end=0"),
        ("start=1&end=700000", "range specified by start and end exceeds 168h0m0s. received start=1 end=700000"),
        ("spss=101", "spans per span set exceeds 100. received 101"),
        ("tags=a%3D1+a%3D2", "invalid tags: tag a has been set twice"),
        ("tags=%3Dx", "invalid tags: unexpected '=' at pos 1"),
        ("minDuration=abc", r#"invalid minDuration: time: invalid duration "abc""#),
        ("tags=a%3Db&minDuration=2s&maxDuration=1s", "invalid maxDuration: must be greater than minDuration"),
        (
            "q=%7B%7D+%7C+rate()",
            "invalid TraceQL query: metrics queries are answered by /api/metrics/query_range and /api/metrics/query, not /api/search",
        ),
    ];
    for (query, message) in cases {
        let fake = Arc::new(FakeSearch::default());
        let body = error(state(fake.clone(), &[]), &format!("/api/search?{query}"), StatusCode::BAD_REQUEST).await;
        assert_eq!(body, message, "{query}");
        assert!(fake.calls().is_empty(), "{query}: a rejected search must not reach the querier");
    }
    let body = error(state(Arc::default(), &[]), "/api/search?q=not+traceql", StatusCode::BAD_REQUEST).await;
    assert!(body.starts_with("invalid TraceQL query: "), "{body}");
}

#[tokio::test]
async fn a_missing_tenant_is_401_with_multitenancy() {
    let mut frontend = state(Arc::default(), &[]);
    frontend.multitenancy_enabled = true;
    assert_eq!(error(frontend, "/api/search?q=%7B%7D", StatusCode::UNAUTHORIZED).await, "no org id");
}

#[tokio::test]
async fn tenant_overrides_replace_the_frontend_limits() {
    let mut limits = Limits::default();
    limits.read.max_search_duration = Duration::secs(3600);
    limits.read.max_bytes_per_job = Size(100);
    let overrides =
        Overrides { per_tenant: [(TenantId::single().as_str().to_string(), limits)].into(), ..Default::default() };
    let big = block(1000, 2000, 4, 400);

    let mut frontend = state(Arc::default(), std::slice::from_ref(&big));
    frontend.overrides = Arc::new(overrides.clone());
    let body = error(frontend, "/api/search?start=1000&end=8200", StatusCode::BAD_REQUEST).await;
    assert_eq!(body, "range specified by start and end exceeds 1h0m0s. received start=1000 end=8200");

    let fake = Arc::new(FakeSearch::default());
    let mut frontend = state(fake.clone(), &[big]);
    frontend.overrides = Arc::new(overrides);
    let (status, _, _) = get(frontend, "/api/search?start=1000&end=2000", None).await;
    assert_eq!(status, StatusCode::OK);
    let slices: Vec<_> = fake.calls().into_iter().filter(|c| matches!(c, Call::Block(..))).collect();
    assert_eq!(slices.len(), 4, "100 bytes per job over 100-byte row groups: one row group each");
}

#[tokio::test]
async fn no_query_searches_everything_recent_with_the_defaults() {
    let fake = Arc::new(FakeSearch::default());
    let (status, content_type, body) = get(state(fake.clone(), &[block(1, 2, 1, 1)]), "/api/search", None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(String::from_utf8(body).unwrap(), r#"{"metrics":{"completedJobs":1,"totalJobs":1}}"#);
    assert_eq!(
        fake.calls(),
        [Call::Recent(SearchRequest {
            query: "{}".into(),
            start_secs: 0,
            end_secs: 0,
            limit: 20,
            spans_per_span_set: 3
        })]
    );
}

#[tokio::test]
async fn q_limit_spss_and_window_reach_every_job() {
    let fake = Arc::new(FakeSearch::default());
    let blocks = [block(100, 200, 1, 10)];
    let uri = "/api/search?q=%7B+span.a+%3D+1+%7D&limit=7&spss=0&start=150&end=300&minDuration=1s";
    let (status, _, _) = get(state(fake.clone(), &blocks), uri, None).await;
    assert_eq!(status, StatusCode::OK);
    let expected = SearchRequest {
        query: "{ span.a = 1 }".into(),
        start_secs: 150,
        end_secs: 300,
        limit: 7,
        spans_per_span_set: 3,
    };
    let slice = BlockSlice { block_id: blocks[0].block_id, first_row_group: 0, row_groups: 1 };
    let mut calls = fake.calls();
    calls.sort_by_key(|call| matches!(call, Call::Block(..)));
    assert_eq!(calls, [Call::Recent(expected.clone()), Call::Block(expected, slice)]);
}

#[tokio::test]
async fn legacy_tag_searches_become_traceql() {
    let fake = Arc::new(FakeSearch::default());
    let uri = "/api/search?tags=service.name%3Dcart+team%3D%22a+b%22&minDuration=100ms&maxDuration=1.5s";
    get(state(fake.clone(), &[]), uri, None).await;
    assert_eq!(
        recent_query(&fake).query,
        r#"{ resource.service.name =~ ".*cart.*" } && { .team = "a b" } && { traceDuration >= 100ms && traceDuration <= 1500ms }"#
    );

    // Grafana's first search UI sent each tag as its own parameter.
    let fake = Arc::new(FakeSearch::default());
    get(state(fake.clone(), &[]), "/api/search?service.name=cart&limit=5&foo=&service.name=ignored", None).await;
    let request = recent_query(&fake);
    assert_eq!((request.query.as_str(), request.limit), (r#"{ resource.service.name =~ ".*cart.*" }"#, 5));
}

#[tokio::test]
async fn jobs_merge_newest_blocks_first_and_stop_at_the_limit() {
    let old = block(100, 200, 1, 10);
    let new = block(150, 250, 1, 10);
    let mut fake = FakeSearch { recent: found(vec![trace("a", 50)]), ..Default::default() };
    fake.blocks.insert(new.block_id, found(vec![trace("b", 70), trace("a", 40)]));
    fake.blocks.insert(old.block_id, found(vec![trace("c", 90)]));
    let fake = Arc::new(fake);
    let mut frontend = state(fake.clone(), &[old.clone(), new.clone()]);
    frontend.config.search.concurrent_jobs = 1;
    let (_, _, body) = get(frontend, "/api/search?start=100&end=300&limit=2", None).await;
    let response: serde_json::Value = serde_json::from_slice(&body).unwrap();
    // The recent job and the newer block gave 2 traces: the older block was never searched.
    let searched: Vec<_> = fake
        .calls()
        .into_iter()
        .map(|call| match call {
            Call::Block(_, slice) => Some(slice.block_id),
            _ => None,
        })
        .collect();
    assert_eq!(searched, [None, Some(new.block_id)]);
    assert_eq!(response["traces"][0]["traceID"], "b");
    assert_eq!(response["traces"][1]["traceID"], "a");
    assert_eq!(response["traces"][1]["startTimeUnixNano"], "40", "earliest start of the two parts");
    assert_eq!(
        response["metrics"],
        serde_json::json!({"inspectedTraces": 2, "inspectedBytes": "20", "totalBlocks": 2, "completedJobs": 2,
                           "totalJobs": 3, "totalBlockBytes": "20", "inspectedSpans": "4"})
    );
}

#[tokio::test]
async fn most_recent_searches_every_job_and_keeps_the_newest() {
    let older = block(100, 200, 1, 10);
    let newer = block(150, 250, 1, 10);
    let mut fake = FakeSearch { recent: found(vec![trace("recent-but-old", 10)]), ..Default::default() };
    fake.blocks.insert(newer.block_id, found(vec![trace("b", 20)]));
    fake.blocks.insert(older.block_id, found(vec![trace("newest", 30)]));
    let fake = Arc::new(fake);
    let mut frontend = state(fake.clone(), &[older, newer]);
    frontend.config.search.concurrent_jobs = 1;
    let uri = "/api/search?q=%7B%7D+with(most_recent%3Dtrue)&start=100&end=300&limit=1";
    let (_, _, body) = get(frontend, uri, None).await;
    let response: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(fake.calls().len(), 3);
    assert_eq!(response["traces"].as_array().unwrap().len(), 1);
    assert_eq!(response["traces"][0]["traceID"], "newest");
    assert_eq!(response["metrics"]["completedJobs"], 3);
}

#[tokio::test]
async fn a_failed_job_fails_the_search_with_its_status() {
    let failing = block(100, 200, 1, 10);
    let mut fake = FakeSearch::default();
    fake.block_failures.insert(failing.block_id, ServiceError::unavailable("querier overloaded"));
    let body =
        error(state(Arc::new(fake), &[failing]), "/api/search?start=100&end=200", StatusCode::SERVICE_UNAVAILABLE)
            .await;
    assert_eq!(body, "querier overloaded");

    let fake = FakeSearch { recent_failure: Some(ServiceError::bad_request("cannot evaluate")), ..Default::default() };
    assert_eq!(error(state(Arc::new(fake), &[]), "/api/search", StatusCode::BAD_REQUEST).await, "cannot evaluate");
}

#[tokio::test]
async fn a_search_past_its_timeout_fails_with_a_retryable_503() {
    let fake = FakeSearch { recent_delay: std::time::Duration::from_secs(5), ..Default::default() };
    let mut state = state(Arc::new(fake), &[]);
    state.config.search.query_timeout = strand_common::Duration::millis(50);
    let body = error(state, "/api/search", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body, "search timed out after 50ms; narrow the time range or the query");
}

#[tokio::test]
async fn protobuf_is_answered_to_clients_that_ask() {
    let fake = Arc::new(FakeSearch { recent: found(vec![trace("ab", 5)]), ..Default::default() });
    let (status, content_type, body) =
        get(state(fake, &[]), "/api/search?q=%7B%7D", Some("application/protobuf, */*")).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/protobuf"));
    let response = SearchResponse::decode(body.as_slice()).unwrap();
    assert_eq!(response.traces[0].trace_id, "ab");
    assert_eq!(response.metrics.unwrap().total_jobs, 1);
}

/// Grafana's pinned `tempopb.SearchResponse`, as its strict jsonpb parser knows it. Every field
/// that jsonpb may omit is optional; 64-bit integers are `String` so a JSON number fails to parse,
/// 32-bit ones are `u32` so a JSON string fails; any key not listed fails.
mod pinned {
    // Every field of the pinned proto is declared so that its key is accepted, read or not.
    #![allow(dead_code)]

    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub(super) struct SearchResponse {
        pub traces: Option<Vec<Trace>>,
        pub metrics: Metrics,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct Trace {
        #[serde(rename = "traceID")]
        pub trace_id: String,
        pub root_service_name: Option<String>,
        pub root_trace_name: Option<String>,
        pub start_time_unix_nano: String,
        pub duration_ms: Option<u32>,
        pub span_set: Option<SpanSet>,
        pub span_sets: Option<Vec<SpanSet>>,
        pub service_stats: Option<HashMap<String, ServiceStats>>,
    }

    #[derive(Deserialize, PartialEq, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct ServiceStats {
        pub span_count: Option<u32>,
        pub error_count: Option<u32>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub(super) struct SpanSet {
        pub spans: Option<Vec<Span>>,
        pub matched: Option<u32>,
        pub attributes: Option<Vec<KeyValue>>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct Span {
        #[serde(rename = "spanID")]
        pub span_id: String,
        pub name: Option<String>,
        pub start_time_unix_nano: String,
        pub duration_nanos: String,
        pub attributes: Option<Vec<KeyValue>>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub(super) struct KeyValue {
        pub key: String,
        pub value: AnyValue,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct AnyValue {
        pub string_value: Option<String>,
        pub int_value: Option<String>,
        pub double_value: Option<f64>,
        pub bool_value: Option<bool>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    pub(super) struct Metrics {
        pub inspected_traces: Option<u32>,
        pub inspected_bytes: Option<String>,
        pub total_blocks: Option<u32>,
        pub completed_jobs: Option<u32>,
        pub total_jobs: Option<u32>,
        pub total_block_bytes: Option<String>,
        pub inspected_spans: Option<String>,
    }
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

#[tokio::test]
async fn search_json_is_exactly_what_grafanas_pinned_proto_accepts() {
    let span_set = SpanSet {
        spans: vec![Span {
            span_id: "00000000000000ff".into(),
            name: "GET /".into(),
            start_time_unix_nano: 1_700_000_000_123_456_789,
            duration_nanos: 446_979_497,
            attributes: vec![
                attribute("http.status_code", any_value::Value::IntValue(500)),
                attribute("status", any_value::Value::StringValue("error".into())),
            ],
        }],
        matched: 4,
        attributes: vec![attribute("by(resource.service.name)", any_value::Value::StringValue("shop".into()))],
    };
    let mut rich = trace("2f3e0cee77ae5dc9c17ade3689eb2e54", 1_700_000_000_000_000_000);
    rich.root_service_name = "shop".into();
    rich.root_trace_name = "GET /".into();
    rich.span_sets = vec![span_set];
    rich.service_stats.insert("shop".into(), ServiceStats { span_count: 4, error_count: 1 });
    let blocks = [block(1_699_999_000, 1_700_000_100, 2, 1 << 20)];
    let mut fake = FakeSearch { recent: found(vec![rich]), ..Default::default() };
    fake.blocks.insert(blocks[0].block_id, found(vec![trace("1", 9)]));
    let (_, _, body) =
        get(state(Arc::new(fake), &blocks), "/api/search?q=%7B%7D&start=1699999000&end=1700000200", None).await;
    let text = String::from_utf8(body).unwrap();

    let parsed: pinned::SearchResponse = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let traces = parsed.traces.unwrap();
    let first = &traces[0];
    assert_eq!(first.start_time_unix_nano, "1700000000000000000");
    assert_eq!(first.duration_ms, Some(3));
    assert_eq!((first.root_service_name.as_deref(), first.root_trace_name.as_deref()), (Some("shop"), Some("GET /")));
    assert_eq!(
        first.service_stats.as_ref().unwrap()["shop"],
        pinned::ServiceStats { span_count: Some(4), error_count: Some(1) }
    );
    let span_set = first.span_set.as_ref().unwrap();
    assert_eq!(span_set.matched, Some(4));
    assert_eq!(first.span_sets.as_ref().unwrap().len(), 1);
    let span = &span_set.spans.as_ref().unwrap()[0];
    assert_eq!((span.span_id.as_str(), span.name.as_deref()), ("00000000000000ff", Some("GET /")));
    assert_eq!(
        (span.start_time_unix_nano.as_str(), span.duration_nanos.as_str()),
        ("1700000000123456789", "446979497")
    );
    let attributes = span.attributes.as_ref().unwrap();
    assert_eq!(attributes[0].value.int_value.as_deref(), Some("500"));
    assert_eq!(attributes[1].value.string_value.as_deref(), Some("error"));
    assert_eq!(span_set.attributes.as_ref().unwrap()[0].key, "by(resource.service.name)");
    assert_eq!(traces[1].trace_id, "1");
    assert!(traces[1].span_set.is_none() && traces[1].root_service_name.is_none());
    let metrics = parsed.metrics;
    assert_eq!((metrics.inspected_traces, metrics.inspected_bytes.as_deref()), (Some(2), Some("20")));
    assert_eq!((metrics.total_blocks, metrics.total_jobs, metrics.completed_jobs), (Some(1), Some(2), Some(2)));
    assert_eq!(
        (metrics.total_block_bytes.as_deref(), metrics.inspected_spans.as_deref()),
        (Some("1048576"), Some("4"))
    );

    // The mirror is as strict as Grafana: one unknown key, or a 64-bit number, is refused.
    let extra = text.replacen(r#""metrics":{"#, r#""metrics":{"backendReads":"1","#, 1);
    assert!(serde_json::from_str::<pinned::SearchResponse>(&extra).unwrap_err().to_string().contains("backendReads"));
    let numeric =
        text.replacen(r#""startTimeUnixNano":"1700000000000000000""#, r#""startTimeUnixNano":1700000000000000000"#, 1);
    assert!(serde_json::from_str::<pinned::SearchResponse>(&numeric).is_err());
}
