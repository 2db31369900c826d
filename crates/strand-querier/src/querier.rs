use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use strand_backend::{Backend, Blocklist};
use strand_common::{ServiceError, ErrorCode};
use strand_encoding::BlockReader;
use strand_model::{FoundTrace, IngesterQuerier, TenantId, TimeRange, TraceByIdQuerier, TraceId};

use crate::config::QuerierConfig;

/// The querier role. Cheap to clone.
#[derive(Clone)]
pub struct Querier {
    config: QuerierConfig,
    ingesters: Vec<Arc<dyn IngesterQuerier>>,
    blocklist: Blocklist,
    reader: BlockReader,
}

impl Querier {
    /// A querier that asks `ingesters` for recent data and reads blocks listed in `blocklist`.
    pub fn new(config: QuerierConfig, ingesters: Vec<Arc<dyn IngesterQuerier>>, blocklist: Blocklist, backend: Backend) -> Querier {
        let reader = BlockReader::new(backend, config.block_metadata_cache_entries);
        Querier { config, ingesters, blocklist, reader }
    }

    async fn lookup(&self, tenant: &TenantId, id: TraceId, range: TimeRange) -> Result<Option<FoundTrace>, ServiceError> {
        let from_ingesters = stream::iter(self.ingesters.iter().cloned())
            .map(|ingester| async move { ingester.find_trace_by_id(tenant, id).await })
            .buffer_unordered(self.ingesters.len().max(1))
            .try_collect::<Vec<_>>();

        let blocks = self.blocklist.blocks(tenant);
        let candidates = blocks.iter().filter(|meta| {
            let (start, end) = meta.time_range_secs();
            range.overlaps(start, end)
        });
        let from_blocks = stream::iter(candidates)
            .map(|meta| async move { self.reader.find_trace_by_id(meta, id).await.map_err(ServiceError::from) })
            .buffer_unordered(self.config.max_concurrent_block_reads)
            .try_collect::<Vec<_>>();

        let (recent, stored) = futures::try_join!(from_ingesters, from_blocks)?;
        Ok(FoundTrace::combine(recent.into_iter().chain(stored).flatten()))
    }
}

#[async_trait]
impl TraceByIdQuerier for Querier {
    #[tracing::instrument(skip_all, fields(tenant = %tenant, trace_id = %id))]
    async fn trace_by_id(&self, tenant: &TenantId, id: TraceId, range: TimeRange) -> Result<Option<FoundTrace>, ServiceError> {
        let timeout = self.config.trace_by_id.query_timeout.get();
        tokio::time::timeout(timeout, self.lookup(tenant, id, range))
            .await
            .map_err(|_| ServiceError::new(ErrorCode::Unavailable, format!("trace lookup timed out after {timeout:?}")))?
    }
}
