//! Search jobs and tag lookups: the querier's `SearchQuerier`.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use lru::LruCache;
use object_store::ObjectStoreExt;
use strand_backend::{BlockMeta, keys};
use strand_common::{ErrorCode, ServiceError};
use strand_encoding::BlockError;
use strand_encoding::search::{
    TagSummary, answer_tag_values, answer_tags, compile_search, merge_tag_values, merge_tags,
};
use strand_model::{
    BlockId, BlockSlice, SearchQuerier, SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse,
    TenantId, TimeRange,
};
use strand_proto::tempopb::{SearchMetrics, SearchResponse};

use crate::ingesters::ask_all;
use crate::querier::Querier;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Tag summaries of recently used blocks.
pub(crate) type SummaryCache = Mutex<LruCache<BlockId, Arc<TagSummary>>>;

pub(crate) fn summary_cache(entries: usize) -> SummaryCache {
    Mutex::new(LruCache::new(NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN)))
}

/// The search window in nanoseconds: whole seconds, `end` inclusive; 0 means unbounded.
fn window(start_secs: u32, end_secs: u32) -> (u64, u64) {
    let start = u64::from(start_secs) * NANOS_PER_SECOND;
    let end = if end_secs == 0 { 0 } else { (u64::from(end_secs) + 1) * NANOS_PER_SECOND - 1 };
    (start, end)
}

fn time_range(start_secs: u32, end_secs: u32) -> TimeRange {
    TimeRange {
        start: (start_secs != 0).then_some(u64::from(start_secs)),
        end: (end_secs != 0).then_some(u64::from(end_secs)),
    }
}

impl Querier {
    /// The meta of a block: from the blocklist, or from storage when this querier's blocklist
    /// has not caught up with the frontend's. `None` when the block is gone (compacted away).
    async fn block_meta(&self, tenant: &TenantId, block: BlockId) -> Result<Option<BlockMeta>, ServiceError> {
        if let Some(meta) = self.blocklist.blocks(tenant).iter().find(|m| m.block_id == block) {
            return Ok(Some(meta.clone()));
        }
        Ok(self.backend.read_block_meta(tenant, block).await?)
    }

    /// Blocks of the tenant overlapping the window; none when the window is unset (recent only).
    fn blocks_in(&self, tenant: &TenantId, start_secs: u32, end_secs: u32) -> Vec<BlockMeta> {
        if start_secs == 0 && end_secs == 0 {
            return Vec::new();
        }
        self.blocks_overlapping(tenant, time_range(start_secs, end_secs))
    }

    async fn tag_summary(&self, meta: &BlockMeta) -> Result<Arc<TagSummary>, ServiceError> {
        if let Some(summary) = lock(&self.summaries).get(&meta.block_id) {
            return Ok(Arc::clone(summary));
        }
        let tenant = TenantId::new(&meta.tenant_id)
            .map_err(|e| ServiceError::internal(format!("block meta names an invalid tenant: {e}")))?;
        let key = keys::block_object(&tenant, meta.block_id, keys::TAGS);
        let summary = match self.backend.store().get(&key).await {
            Ok(object) => {
                let bytes = object.bytes().await.map_err(BlockError::from)?;
                let summary = strand_common::spawn_cpu(move || TagSummary::decode(&bytes))
                    .await
                    .map_err(|e| ServiceError::internal(format!("tag summary task failed: {e}")))??;
                Arc::new(summary)
            }
            // Blocks written before summaries existed simply have none.
            Err(object_store::Error::NotFound { .. }) => Arc::new(TagSummary::default()),
            Err(err) => return Err(BlockError::from(err).into()),
        };
        lock(&self.summaries).put(meta.block_id, Arc::clone(&summary));
        Ok(summary)
    }

    /// The merged summary of the blocks in the window, and the bytes it took.
    async fn stored_summary(
        &self,
        tenant: &TenantId,
        start_secs: u32,
        end_secs: u32,
    ) -> Result<(TagSummary, u64), ServiceError> {
        let metas = self.blocks_in(tenant, start_secs, end_secs);
        let bytes = metas.iter().map(|m| m.tags_size).sum();
        let summaries: Vec<Arc<TagSummary>> = stream::iter(metas)
            .map(|meta| async move { self.tag_summary(&meta).await })
            .buffer_unordered(self.config.max_concurrent_block_reads)
            .try_collect()
            .await?;
        let mut merged = TagSummary::default();
        for summary in &summaries {
            merged.merge(summary);
        }
        Ok((merged, bytes))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl SearchQuerier for Querier {
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        compile_search(&request.query)?;
        let answers =
            ask_all(self.ingesters.as_ref(), |ingester| async move { ingester.search_recent(tenant, request).await })
                .await?;
        let mut merged = SearchResponse { traces: Vec::new(), metrics: Some(SearchMetrics::default()) };
        for answer in answers {
            merged.traces.extend(answer.traces);
            if let (Some(total), Some(part)) = (merged.metrics.as_mut(), answer.metrics) {
                total.inspected_traces = total.inspected_traces.saturating_add(part.inspected_traces);
                total.inspected_bytes += part.inspected_bytes;
                total.inspected_spans += part.inspected_spans;
            }
        }
        Ok(merged)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, block = %slice.block_id))]
    async fn search_block(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
        slice: &BlockSlice,
    ) -> Result<SearchResponse, ServiceError> {
        let query = Arc::new(compile_search(&request.query)?);
        let empty = SearchResponse { traces: Vec::new(), metrics: Some(SearchMetrics::default()) };
        let Some(meta) = self.block_meta(tenant, slice.block_id).await? else { return Ok(empty) };
        if meta.tenant_id != tenant.as_str() {
            return Err(ServiceError::new(ErrorCode::NotFound, "no such block"));
        }
        let (start, end) = window(request.start_secs, request.end_secs);
        let fetch = Arc::new(query.fetch_request(start, end));
        let first = slice.first_row_group as usize;
        let row_groups = first..first.saturating_add(slice.row_groups as usize);
        let (limit, spss) = (request.limit as usize, request.spans_per_span_set);
        let searched = self
            .reader
            .search(&meta, row_groups, fetch, move |fetcher, fetch| {
                strand_traceql::search(&query, fetch, fetcher, limit, spss)
            })
            .await?;
        let mut response = empty;
        let mut metrics = SearchMetrics { inspected_bytes: searched.inspected_bytes, ..SearchMetrics::default() };
        for outcome in searched.results {
            metrics.inspected_traces = metrics.inspected_traces.saturating_add(outcome.stats.inspected_traces as u32);
            metrics.inspected_spans += outcome.stats.inspected_spans;
            response.traces.extend(outcome.traces);
        }
        response.metrics = Some(metrics);
        Ok(response)
    }

    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        let recent =
            ask_all(self.ingesters.as_ref(), |ingester| async move { ingester.search_tags(tenant, request).await });
        let stored = self.stored_summary(tenant, request.start_secs, request.end_secs);
        let (recent, (summary, bytes)) = futures::try_join!(recent, stored)?;
        let from_blocks = TagsResponse { inspected_bytes: bytes, ..answer_tags(&summary, request) };
        Ok(merge_tags(recent.into_iter().chain([from_blocks]), request.limit))
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError> {
        let recent =
            ask_all(
                self.ingesters.as_ref(),
                |ingester| async move { ingester.search_tag_values(tenant, request).await },
            );
        let stored = self.stored_summary(tenant, request.start_secs, request.end_secs);
        let (recent, (summary, bytes)) = futures::try_join!(recent, stored)?;
        let from_blocks = TagValuesResponse { inspected_bytes: bytes, ..answer_tag_values(&summary, request) };
        Ok(merge_tag_values(recent.into_iter().chain([from_blocks]), request.limit))
    }
}
