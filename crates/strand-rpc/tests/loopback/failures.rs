//! Failures as callers see them: a role's error keeps its code and message, and a member that
//! is down, slow or sent too much fails the way the caller's retry logic expects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strand_common::{ErrorCode, ServiceError};
use strand_model::{IngesterQuerier, PushRequest, Pusher, SearchQuerier, TimeRange, TraceByIdQuerier, TraceBytes};
use strand_rpc::{GrpcClientConfig, IngesterClient, QuerierClient};

use crate::support::{
    Call, Fake, SERVER_MAX_MESSAGE, block_slice, client_config, dead_address, push_request, push_response,
    search_request, serve_ingester, serve_querier, tenant, trace_id,
};

const CODES: [ErrorCode; 7] = [
    ErrorCode::BadRequest,
    ErrorCode::PayloadTooLarge,
    ErrorCode::Unauthenticated,
    ErrorCode::NotFound,
    ErrorCode::RateLimited,
    ErrorCode::Unavailable,
    ErrorCode::Internal,
];

/// A message with what HTTP/2 headers cannot carry raw: non-ASCII, `%` and a newline.
fn message(code: ErrorCode) -> String {
    format!("{code:?}: tenant 'team-ä' is at 100% of its limit\nretry later")
}

#[tokio::test]
async fn every_error_code_reaches_the_ingester_client() {
    for code in CODES {
        let fake = Fake::failing(ServiceError::new(code, message(code)));
        let server = serve_ingester(fake.clone()).await;
        let client = IngesterClient::new(&server.addr, &client_config());

        let pushed = client.push(&tenant(), push_request()).await;
        let searched = client.search_recent(&tenant(), &search_request()).await;

        assert_eq!(pushed, Err(ServiceError::new(code, message(code))), "push failing with {code:?}");
        assert_eq!(searched, Err(ServiceError::new(code, message(code))), "search failing with {code:?}");
        assert_eq!(fake.calls().len(), 2);
    }
}

#[tokio::test]
async fn every_error_code_reaches_the_querier_client() {
    for code in CODES {
        let fake = Fake::failing(ServiceError::new(code, message(code)));
        let server = serve_querier(fake.clone()).await;
        let client = QuerierClient::new(&server.addr, &client_config());

        let looked_up = client.trace_by_id(&tenant(), trace_id(1), TimeRange::default()).await;
        let searched = client.search_block(&tenant(), &search_request(), &block_slice()).await;

        assert_eq!(looked_up, Err(ServiceError::new(code, message(code))), "lookup failing with {code:?}");
        assert_eq!(searched, Err(ServiceError::new(code, message(code))), "job failing with {code:?}");
        assert_eq!(fake.calls().len(), 2);
    }
}

#[tokio::test]
async fn member_that_is_down_is_unavailable_at_once_and_named() {
    let address = dead_address().await;
    let ingester = IngesterClient::new(&address, &client_config());
    let querier = QuerierClient::new(&address, &client_config());
    let started = Instant::now();

    let pushed = ingester.push(&tenant(), push_request()).await.unwrap_err();
    let looked_up = querier.trace_by_id(&tenant(), trace_id(1), TimeRange::default()).await.unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    for err in [pushed, looked_up] {
        assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
        assert!(err.message.starts_with(&format!("{address}: ")), "message does not name the member: {err}");
    }
}

#[tokio::test]
async fn call_slower_than_remote_timeout_is_unavailable() {
    let fake = Arc::new(Fake { delay: Duration::from_secs(5), ..Fake::default() });
    let server = serve_ingester(fake.clone()).await;
    let config = GrpcClientConfig { remote_timeout: strand_common::Duration::millis(300), ..client_config() };
    let client = IngesterClient::new(&server.addr, &config);
    let started = Instant::now();

    let err = client.find_trace_by_id(&tenant(), trace_id(1)).await.unwrap_err();

    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.starts_with(&format!("{}: ", server.addr)), "message does not name the member: {err}");
    assert_eq!(fake.calls(), vec![Call::FindTraceById(tenant(), trace_id(1))]);
}

#[tokio::test]
async fn push_over_the_server_limit_is_refused_and_the_next_one_served() {
    let fake = Arc::new(Fake::default());
    let server = serve_ingester(fake.clone()).await;
    let client = IngesterClient::new(&server.addr, &client_config());

    let err = client.push(&tenant(), big_push()).await.unwrap_err();

    // tonic refuses an oversized message with OUT_OF_RANGE before the service sees it: not
    // retryable, since the same push would be refused by every ingester.
    assert_eq!(err.code, ErrorCode::BadRequest, "{err}");
    assert!(err.message.contains("too large"), "{err}");
    assert!(fake.calls().is_empty());

    assert_eq!(client.push(&tenant(), push_request()).await.unwrap(), push_response());
    assert_eq!(fake.calls(), vec![Call::Push(tenant(), push_request())]);
}

/// One trace whose bytes alone are over the servers' message limit.
fn big_push() -> PushRequest {
    let bytes = vec![0x0a; SERVER_MAX_MESSAGE + 1];
    let trace =
        TraceBytes { id: trace_id(3), bytes: bytes.into(), span_count: 1, start_unix_nano: 1, end_unix_nano: 2 };
    PushRequest { traces: vec![trace] }
}
