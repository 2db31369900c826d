//! The query-frontend's view of the queriers: a round-robin over the healthy ones.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use strand_common::{ErrorCode, ServiceError};
use strand_model::{
    BlockSlice, FoundTrace, SearchQuerier, SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest,
    TagsResponse, TenantId, TimeRange, TraceByIdQuerier, TraceId,
};
use strand_proto::tempopb::SearchResponse;
use strand_ring::RingWatcher;

use crate::querier::QuerierClient;

/// A job that failed as "unavailable" is tried on up to this many queriers in all: the next one
/// is likely fine, and the frontend's own retries cost a whole job.
const MAX_ATTEMPTS: usize = 3;

/// Sends each call to the next healthy querier, and retries unavailable ones elsewhere.
pub struct QuerierPool {
    queriers: Arc<RingWatcher<QuerierClient>>,
    next: AtomicUsize,
}

impl QuerierPool {
    /// A pool over the queriers the watcher knows.
    pub fn new(queriers: Arc<RingWatcher<QuerierClient>>) -> QuerierPool {
        QuerierPool { queriers, next: AtomicUsize::new(0) }
    }

    async fn call<T, F, Fut>(&self, call: F) -> Result<T, ServiceError>
    where
        F: Fn(QuerierClient) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let members = self.queriers.ring().healthy_members();
        if members.is_empty() {
            return Err(ServiceError::unavailable("no healthy querier (check query_frontend.queriers.members)"));
        }
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last_error = None;
        for attempt in 0..members.len().min(MAX_ATTEMPTS) {
            let member = &members[(first + attempt) % members.len()];
            match call(member.client().clone()).await {
                Err(err) if err.code == ErrorCode::Unavailable => {
                    tracing::debug!(querier = member.id(), error = %err, "querier unavailable; trying another");
                    last_error = Some(err);
                }
                answer => return answer,
            }
        }
        Err(last_error.unwrap_or_else(|| ServiceError::unavailable("no querier answered")))
    }
}

#[async_trait]
impl TraceByIdQuerier for QuerierPool {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, ServiceError> {
        self.call(|querier| async move { querier.trace_by_id(tenant, id, range).await }).await
    }
}

#[async_trait]
impl SearchQuerier for QuerierPool {
    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        self.call(|querier| async move { querier.search_recent(tenant, request).await }).await
    }

    async fn search_block(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
        slice: &BlockSlice,
    ) -> Result<SearchResponse, ServiceError> {
        self.call(|querier| async move { querier.search_block(tenant, request, slice).await }).await
    }

    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        self.call(|querier| async move { querier.search_tags(tenant, request).await }).await
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError> {
        self.call(|querier| async move { querier.search_tag_values(tenant, request).await }).await
    }
}
