//! Malformed requests from the generated clients, which skip the domain types' validation:
//! the server refuses each as `INVALID_ARGUMENT` and never calls the role behind it.

use std::sync::Arc;

use strand_common::ErrorCode;
use strand_proto::strandpb as pb;
use strand_proto::strandpb::ingester_client::IngesterClient as RawIngester;
use strand_proto::strandpb::querier_client::QuerierClient as RawQuerier;
use strand_rpc::status::from_status;
use tonic::{Code, Status};

use crate::support::{Fake, block_slice, serve_ingester, serve_querier, trace_id};

/// Asserts `result` is a bad request whose message contains `names`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, names: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let err = from_status(&status, "peer");
    assert_eq!(err.code, ErrorCode::BadRequest);
    assert!(err.message.contains(names), "{:?} does not contain {names:?}", err.message);
}

fn trace_bytes(id: Vec<u8>) -> pb::TraceBytes {
    pb::TraceBytes { trace_id: id, trace: Vec::new().into(), span_count: 0, start_unix_nano: 0, end_unix_nano: 0 }
}

fn search(tenant: &str) -> pb::SearchRequest {
    pb::SearchRequest { tenant: tenant.to_string(), query: "{ }".to_string(), ..Default::default() }
}

#[tokio::test]
async fn ingester_refuses_malformed_requests_before_the_role_sees_them() {
    let fake = Arc::new(Fake::default());
    let server = serve_ingester(fake.clone()).await;
    let mut raw = RawIngester::connect(format!("http://{}", server.addr)).await.unwrap();
    let good_id = trace_id(1).as_bytes().to_vec();

    let short_id = pb::PushRequest { tenant: "team-a".to_string(), traces: vec![trace_bytes(vec![1, 2, 3])] };
    assert_refused(raw.push(short_id).await, "24 bits");
    // One bad trace refuses the whole push: an acknowledged push is durable as a whole.
    let one_bad = pb::PushRequest {
        tenant: "team-a".to_string(),
        traces: vec![trace_bytes(good_id.clone()), trace_bytes(vec![0; 17])],
    };
    assert_refused(raw.push(one_bad).await, "136 bits");
    let no_tenant = pb::PushRequest { tenant: String::new(), traces: vec![trace_bytes(good_id.clone())] };
    assert_refused(raw.push(no_tenant).await, "tenant");
    let escaping = pb::PushRequest { tenant: "..".to_string(), traces: vec![trace_bytes(good_id.clone())] };
    assert_refused(raw.push(escaping).await, "tenant");

    let lookup = pb::TraceByIdRequest { tenant: "team-a".to_string(), trace_id: vec![1, 2, 3], ..Default::default() };
    assert_refused(raw.find_trace_by_id(lookup).await, "trace ID");
    assert_refused(raw.search_recent(search("team/a")).await, "unsupported character '/'");

    let tags = pb::TagsRequest {
        tenant: "team-a".to_string(),
        scopes: vec!["span".to_string(), "spam".to_string()],
        ..Default::default()
    };
    assert_refused(raw.search_tags(tags).await, "unknown tag scope \"spam\"");
    let values = pb::TagValuesRequest {
        tenant: "team-a".to_string(),
        scope: "spam".to_string(),
        name: "http.method".to_string(),
        ..Default::default()
    };
    assert_refused(raw.search_tag_values(values).await, "unknown tag scope \"spam\"");

    assert_eq!(fake.calls(), Vec::new());
}

#[tokio::test]
async fn querier_refuses_malformed_requests_before_the_role_sees_them() {
    let fake = Arc::new(Fake::default());
    let server = serve_querier(fake.clone()).await;
    let mut raw = RawQuerier::connect(format!("http://{}", server.addr)).await.unwrap();

    let lookup = pb::TraceByIdRequest { tenant: "team-a".to_string(), trace_id: vec![7; 3], ..Default::default() };
    assert_refused(raw.trace_by_id(lookup).await, "trace ID");
    let lookup =
        pb::TraceByIdRequest { tenant: String::new(), trace_id: trace_id(1).as_bytes().to_vec(), ..Default::default() };
    assert_refused(raw.trace_by_id(lookup).await, "tenant");

    let slice = block_slice();
    let bad_block = pb::SearchBlockRequest {
        search: Some(search("team-a")),
        block_id: "not-a-uuid".to_string(),
        first_row_group: slice.first_row_group,
        row_groups: slice.row_groups,
    };
    assert_refused(raw.search_block(bad_block).await, "not-a-uuid");
    let no_search = pb::SearchBlockRequest { search: None, block_id: slice.block_id.to_string(), ..Default::default() };
    assert_refused(raw.search_block(no_search).await, "without a search");
    let bad_tenant =
        pb::SearchBlockRequest { search: Some(search("")), block_id: slice.block_id.to_string(), ..Default::default() };
    assert_refused(raw.search_block(bad_tenant).await, "tenant");

    let values = pb::TagValuesRequest { tenant: "team-a".to_string(), scope: "Span".to_string(), ..Default::default() };
    assert_refused(raw.search_tag_values(values).await, "unknown tag scope \"Span\"");

    assert_eq!(fake.calls(), Vec::new());
}
