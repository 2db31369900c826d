//! Every method of both services: the fake receives exactly what the client sent, and the
//! client gets back exactly what the fake answered.

use std::sync::Arc;

use strand_model::{
    IngesterQuerier, PushRequest, PushResponse, Pusher, SearchQuerier, TagScope, TagsRequest, TimeRange,
    TraceByIdQuerier,
};
use strand_rpc::{IngesterClient, QuerierClient};

use crate::support::{
    Call, Fake, block_slice, client_config, found, push_request, push_response, search_request, search_response,
    serve_ingester, serve_querier, tag_values_request, tag_values_response, tags_request, tags_response, tenant,
    trace_id,
};

#[tokio::test]
async fn ingester_push_arrives_byte_for_byte() {
    let fake = Arc::new(Fake::default());
    let server = serve_ingester(fake.clone()).await;
    let client = IngesterClient::new(&server.addr, &client_config());

    let response = client.push(&tenant(), push_request()).await.unwrap();

    assert_eq!(response, push_response());
    assert_eq!(fake.calls(), vec![Call::Push(tenant(), push_request())]);
}

#[tokio::test]
async fn ingester_push_without_rejections_has_no_error_message() {
    let answer = PushResponse { rejected_spans: 0, error_message: None };
    let fake = Arc::new(Fake { push: answer.clone(), ..Fake::default() });
    let server = serve_ingester(fake.clone()).await;
    let client = IngesterClient::new(&server.addr, &client_config());

    let empty = PushRequest { traces: Vec::new() };
    assert_eq!(client.push(&tenant(), empty.clone()).await.unwrap(), answer);
    assert_eq!(fake.calls(), vec![Call::Push(tenant(), empty)]);
}

#[tokio::test]
async fn ingester_reads_round_trip() {
    let fake = Arc::new(Fake::default());
    let server = serve_ingester(fake.clone()).await;
    let client = IngesterClient::new(&server.addr, &client_config());
    let tenant = tenant();

    assert_eq!(client.find_trace_by_id(&tenant, trace_id(1)).await.unwrap(), Some(found()));
    assert_eq!(client.search_recent(&tenant, &search_request()).await.unwrap(), search_response());
    assert_eq!(client.search_tags(&tenant, &tags_request()).await.unwrap(), tags_response());
    let scoped = tag_values_request(Some(TagScope::Resource));
    assert_eq!(client.search_tag_values(&tenant, &scoped).await.unwrap(), tag_values_response());
    let unscoped = tag_values_request(None);
    assert_eq!(client.search_tag_values(&tenant, &unscoped).await.unwrap(), tag_values_response());

    assert_eq!(
        fake.calls(),
        vec![
            Call::FindTraceById(tenant.clone(), trace_id(1)),
            Call::SearchRecent(tenant.clone(), search_request()),
            Call::SearchTags(tenant.clone(), tags_request()),
            Call::SearchTagValues(tenant.clone(), scoped),
            Call::SearchTagValues(tenant, unscoped),
        ]
    );
}

#[tokio::test]
async fn ingester_without_the_trace_answers_none() {
    let fake = Arc::new(Fake { found: None, ..Fake::default() });
    let server = serve_ingester(fake.clone()).await;
    let client = IngesterClient::new(&server.addr, &client_config());

    assert_eq!(client.find_trace_by_id(&tenant(), trace_id(9)).await.unwrap(), None);
    assert_eq!(fake.calls(), vec![Call::FindTraceById(tenant(), trace_id(9))]);
}

#[tokio::test]
async fn querier_calls_round_trip() {
    let fake = Arc::new(Fake::default());
    let server = serve_querier(fake.clone()).await;
    let client = QuerierClient::new(&server.addr, &client_config());
    let tenant = tenant();
    let range = TimeRange { start: Some(1_700_000_000), end: Some(1_700_003_600) };

    assert_eq!(client.trace_by_id(&tenant, trace_id(1), range).await.unwrap(), Some(found()));
    assert_eq!(SearchQuerier::search_recent(&client, &tenant, &search_request()).await.unwrap(), search_response());
    assert_eq!(client.search_block(&tenant, &search_request(), &block_slice()).await.unwrap(), search_response());
    assert_eq!(SearchQuerier::search_tags(&client, &tenant, &tags_request()).await.unwrap(), tags_response());
    let scoped = tag_values_request(Some(TagScope::Span));
    let unscoped = tag_values_request(None);
    assert_eq!(SearchQuerier::search_tag_values(&client, &tenant, &scoped).await.unwrap(), tag_values_response());
    assert_eq!(SearchQuerier::search_tag_values(&client, &tenant, &unscoped).await.unwrap(), tag_values_response());

    assert_eq!(
        fake.calls(),
        vec![
            Call::TraceById(tenant.clone(), trace_id(1), range),
            Call::SearchRecent(tenant.clone(), search_request()),
            Call::SearchBlock(tenant.clone(), search_request(), block_slice()),
            Call::SearchTags(tenant.clone(), tags_request()),
            Call::SearchTagValues(tenant.clone(), scoped),
            Call::SearchTagValues(tenant, unscoped),
        ]
    );
}

#[tokio::test]
async fn querier_unbounded_lookup_of_a_missing_trace() {
    let fake = Arc::new(Fake { found: None, ..Fake::default() });
    let server = serve_querier(fake.clone()).await;
    let client = QuerierClient::new(&server.addr, &client_config());

    assert_eq!(client.trace_by_id(&tenant(), trace_id(7), TimeRange::default()).await.unwrap(), None);
    assert_eq!(fake.calls(), vec![Call::TraceById(tenant(), trace_id(7), TimeRange::default())]);
}

/// An absent filter and an empty one are different requests (`optional string query`).
#[tokio::test]
async fn tags_request_without_scopes_or_filter_stays_that_way() {
    let fake = Arc::new(Fake::default());
    let server = serve_querier(fake.clone()).await;
    let client = QuerierClient::new(&server.addr, &client_config());
    let all = TagsRequest { scopes: Vec::new(), query: None, start_secs: 0, end_secs: 0, limit: 0 };
    let empty_filter = TagsRequest { query: Some(String::new()), ..all.clone() };

    SearchQuerier::search_tags(&client, &tenant(), &all).await.unwrap();
    SearchQuerier::search_tags(&client, &tenant(), &empty_filter).await.unwrap();

    assert_eq!(fake.calls(), vec![Call::SearchTags(tenant(), all), Call::SearchTags(tenant(), empty_filter)]);
}
