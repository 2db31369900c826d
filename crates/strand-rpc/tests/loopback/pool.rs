//! The frontend's pool of queriers over real servers: it spreads jobs over the healthy ones and
//! moves a job that found its querier unavailable to another.

use std::sync::Arc;

use futures::FutureExt;
use strand_common::{ErrorCode, ServiceError};
use strand_model::{SearchQuerier, TimeRange, TraceByIdQuerier};
use strand_ring::{Connect, Probe, RingConfig, RingWatcher};
use strand_rpc::health::ServingStatus;
use strand_rpc::{QUERIER_SERVICE, QuerierClient, QuerierPool};

use crate::support::{
    Fake, block_slice, client_config, dead_address, found, search_request, search_response, serve_querier,
    tag_values_request, tag_values_response, tags_request, tags_response, tenant, trace_id,
};

async fn pool(members: Vec<String>) -> QuerierPool {
    let config = client_config();
    let connect: Connect<QuerierClient> = Arc::new(move |address: &str| QuerierClient::new(address, &config));
    let probe: Probe<QuerierClient> =
        Arc::new(|client: QuerierClient| async move { client.is_serving().await }.boxed());
    let ring = RingConfig { members, ..RingConfig::default() };
    QuerierPool::new(RingWatcher::start(&ring, connect, probe).await)
}

fn unavailable() -> ServiceError {
    ServiceError::unavailable("querier is shutting down")
}

#[tokio::test]
async fn unavailable_querier_is_skipped_for_every_call() {
    let down = Fake::failing(unavailable());
    let up = Arc::new(Fake::default());
    let down_server = serve_querier(down.clone()).await;
    let up_server = serve_querier(up.clone()).await;
    let pool = pool(vec![down_server.addr.clone(), up_server.addr.clone()]).await;
    let tenant = tenant();

    // Six calls: three start on each querier, and the three on the failing one move over.
    assert_eq!(pool.trace_by_id(&tenant, trace_id(1), TimeRange::default()).await, Ok(Some(found())));
    assert_eq!(pool.search_recent(&tenant, &search_request()).await, Ok(search_response()));
    assert_eq!(pool.search_block(&tenant, &search_request(), &block_slice()).await, Ok(search_response()));
    assert_eq!(pool.search_tags(&tenant, &tags_request()).await, Ok(tags_response()));
    assert_eq!(pool.search_tag_values(&tenant, &tag_values_request(None)).await, Ok(tag_values_response()));
    assert_eq!(pool.search_block(&tenant, &search_request(), &block_slice()).await, Ok(search_response()));

    assert_eq!(down.calls().len(), 3);
    assert_eq!(up.calls().len(), 6);
}

#[tokio::test]
async fn calls_alternate_between_healthy_queriers() {
    let a = Arc::new(Fake::default());
    let b = Arc::new(Fake::default());
    let a_server = serve_querier(a.clone()).await;
    let b_server = serve_querier(b.clone()).await;
    let pool = pool(vec![a_server.addr.clone(), b_server.addr.clone()]).await;

    for _ in 0..4 {
        assert_eq!(pool.search_block(&tenant(), &search_request(), &block_slice()).await, Ok(search_response()));
    }

    assert_eq!((a.calls().len(), b.calls().len()), (2, 2));
}

#[tokio::test]
async fn querier_not_serving_gets_no_calls() {
    let idle = Arc::new(Fake::default());
    let busy = Arc::new(Fake::default());
    let idle_server = serve_querier(idle.clone()).await;
    let busy_server = serve_querier(busy.clone()).await;
    idle_server.health.set_service_status(QUERIER_SERVICE, ServingStatus::NotServing).await;
    let pool = pool(vec![idle_server.addr.clone(), busy_server.addr.clone()]).await;

    for _ in 0..3 {
        assert_eq!(pool.search_recent(&tenant(), &search_request()).await, Ok(search_response()));
    }

    assert!(idle.calls().is_empty());
    assert_eq!(busy.calls().len(), 3);
}

/// Only "unavailable" is worth another querier: a bad job would fail the same everywhere.
#[tokio::test]
async fn other_errors_are_not_retried() {
    let refusing = Fake::failing(ServiceError::bad_request("parse error at line 1, col 3"));
    let fine = Arc::new(Fake::default());
    let refusing_server = serve_querier(refusing.clone()).await;
    let fine_server = serve_querier(fine.clone()).await;
    let pool = pool(vec![refusing_server.addr.clone(), fine_server.addr.clone()]).await;

    let first = pool.search_recent(&tenant(), &search_request()).await;
    let second = pool.search_recent(&tenant(), &search_request()).await;

    let mut answers = [first, second];
    answers.sort_by_key(Result::is_ok);
    assert_eq!(answers, [Err(ServiceError::bad_request("parse error at line 1, col 3")), Ok(search_response())]);
    assert_eq!((refusing.calls().len(), fine.calls().len()), (1, 1));
}

#[tokio::test]
async fn all_queriers_unavailable_is_unavailable() {
    let a = Fake::failing(unavailable());
    let b = Fake::failing(unavailable());
    let a_server = serve_querier(a.clone()).await;
    let b_server = serve_querier(b.clone()).await;
    let pool = pool(vec![a_server.addr.clone(), b_server.addr.clone()]).await;

    assert_eq!(pool.search_tags(&tenant(), &tags_request()).await, Err(unavailable()));
    assert_eq!((a.calls().len(), b.calls().len()), (1, 1));
}

#[tokio::test]
async fn no_healthy_querier_is_unavailable() {
    let pool = pool(vec![dead_address().await, dead_address().await]).await;

    let err = pool.search_recent(&tenant(), &search_request()).await.unwrap_err();

    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("no healthy querier"), "{err}");
}
