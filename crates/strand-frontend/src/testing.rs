//! Test helpers: an in-memory `SearchQuerier` that answers from fixed data and records what it
//! was asked, a block meta builder, and a router to send requests to.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use strand_backend::{Backend, BlockMeta, Blocklist};
use strand_common::ServiceError;
use strand_model::{
    BlockId, BlockSlice, FoundTrace, SearchQuerier, SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest,
    TagsResponse, TenantId, TimeRange, TraceByIdQuerier, TraceId,
};
use strand_overrides::Overrides;
use strand_proto::tempopb::SearchResponse;
use tower::ServiceExt;

use crate::{BuildInfo, FrontendConfig, FrontendState, router};

/// One call the fake received.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Call {
    Recent(SearchRequest),
    Block(SearchRequest, BlockSlice),
    Tags(TagsRequest),
    Values(TagValuesRequest),
}

/// Answers searches from fixed responses: `recent` for the ingester job, `blocks` per block (the
/// same answer for each slice), and fails the jobs listed in `failures`.
#[derive(Default)]
pub(crate) struct FakeSearch {
    pub(crate) recent: SearchResponse,
    pub(crate) blocks: HashMap<BlockId, SearchResponse>,
    pub(crate) recent_failure: Option<ServiceError>,
    pub(crate) block_failures: HashMap<BlockId, ServiceError>,
    pub(crate) tags: TagsResponse,
    pub(crate) values: TagValuesResponse,
    pub(crate) calls: Mutex<Vec<Call>>,
    /// How long the recent-data job takes.
    pub(crate) recent_delay: std::time::Duration,
}

impl FakeSearch {
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait]
impl SearchQuerier for FakeSearch {
    async fn search_recent(&self, _: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        self.record(Call::Recent(request.clone()));
        tokio::time::sleep(self.recent_delay).await;
        match &self.recent_failure {
            Some(err) => Err(err.clone()),
            None => Ok(self.recent.clone()),
        }
    }

    async fn search_block(
        &self,
        _: &TenantId,
        request: &SearchRequest,
        slice: &BlockSlice,
    ) -> Result<SearchResponse, ServiceError> {
        self.record(Call::Block(request.clone(), slice.clone()));
        if let Some(err) = self.block_failures.get(&slice.block_id) {
            return Err(err.clone());
        }
        Ok(self.blocks.get(&slice.block_id).cloned().unwrap_or_default())
    }

    async fn search_tags(&self, _: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        self.record(Call::Tags(request.clone()));
        Ok(self.tags.clone())
    }

    async fn search_tag_values(
        &self,
        _: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError> {
        self.record(Call::Values(request.clone()));
        Ok(self.values.clone())
    }
}

/// Trace-by-ID is not what these tests are about.
struct NoTraces;

#[async_trait]
impl TraceByIdQuerier for NoTraces {
    async fn trace_by_id(&self, _: &TenantId, _: TraceId, _: TimeRange) -> Result<Option<FoundTrace>, ServiceError> {
        Ok(None)
    }
}

const SECOND: u64 = 1_000_000_000;

/// A block of the single tenant spanning `[start_secs, end_secs]`.
pub(crate) fn block(start_secs: u64, end_secs: u64, row_groups: u32, data_size: u64) -> BlockMeta {
    BlockMeta {
        format: "v1".into(),
        block_id: BlockId::new_random(),
        tenant_id: TenantId::single().as_str().to_string(),
        start_unix_nano: start_secs * SECOND,
        end_unix_nano: end_secs * SECOND,
        total_traces: 1,
        total_spans: 1,
        row_groups,
        data_size,
        footer_size: 0,
        filter_size: 0,
        compaction_level: 0,
        created_at: 0,
        tags_size: 0,
    }
}

/// A frontend over `search`, with `blocks` in its blocklist.
pub(crate) fn state(search: Arc<FakeSearch>, blocks: &[BlockMeta]) -> FrontendState {
    let blocklist = Blocklist::new(Backend::in_memory(), false);
    for meta in blocks {
        blocklist.add(meta.clone());
    }
    FrontendState {
        querier: Arc::new(NoTraces),
        search,
        blocklist,
        overrides: Arc::new(Overrides::default()),
        config: FrontendConfig::default(),
        multitenancy_enabled: false,
        build_info: BuildInfo::default(),
    }
}

/// Sends a GET to the router; returns the status, the `Content-Type` and the body.
pub(crate) async fn get(state: FrontendState, uri: &str, accept: Option<&str>) -> (StatusCode, String, Vec<u8>) {
    let mut request = Request::get(uri);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = router(state).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|value| value.to_str().unwrap().to_string()).unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, content_type, body.to_vec())
}

/// The body of an error answer, checking it is the given status.
pub(crate) async fn error(state: FrontendState, uri: &str, status: StatusCode) -> String {
    let (actual, _, body) = get(state, uri, None).await;
    let body = String::from_utf8(body).unwrap();
    assert_eq!(actual, status, "{uri}: {body}");
    body
}
