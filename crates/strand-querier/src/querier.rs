use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use strand_backend::{Backend, BlockMeta, Blocklist};
use strand_common::{ErrorCode, ServiceError};
use strand_encoding::BlockReader;
use strand_model::{FoundTrace, IngesterSource, TenantId, TimeRange, TraceByIdQuerier, TraceId};

use crate::config::QuerierConfig;
use crate::ingesters::ask_all;

/// The querier role. Cheap to clone.
#[derive(Clone)]
pub struct Querier {
    pub(crate) config: QuerierConfig,
    pub(crate) ingesters: Arc<dyn IngesterSource>,
    pub(crate) blocklist: Blocklist,
    pub(crate) backend: Backend,
    pub(crate) reader: BlockReader,
    pub(crate) summaries: Arc<crate::search::SummaryCache>,
}

impl Querier {
    /// A querier that asks `ingesters` for recent data and reads blocks listed in `blocklist`.
    pub fn new(
        config: QuerierConfig,
        ingesters: Arc<dyn IngesterSource>,
        blocklist: Blocklist,
        backend: Backend,
    ) -> Querier {
        let reader = BlockReader::new(backend.clone(), config.block_metadata_cache_entries);
        let summaries = Arc::new(crate::search::summary_cache(config.block_metadata_cache_entries));
        Querier { config, ingesters, blocklist, backend, reader, summaries }
    }

    /// The tenant's blocks that may hold data in `range`.
    pub(crate) fn blocks_overlapping(&self, tenant: &TenantId, range: TimeRange) -> Vec<BlockMeta> {
        let blocks = self.blocklist.blocks(tenant);
        let overlapping = blocks.iter().filter(|meta| {
            let (start, end) = meta.time_range_secs();
            range.overlaps(start, end)
        });
        overlapping.cloned().collect()
    }

    async fn lookup(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, ServiceError> {
        // Owned values only: borrowed closures inside these streams trip the compiler's
        // higher-ranked lifetime checks once the future must be `Send`.
        let from_ingesters = ask_all(self.ingesters.as_ref(), |ingester| {
            let tenant = tenant.clone();
            async move { ingester.find_trace_by_id(&tenant, id).await }
        });

        let candidates = self.blocks_overlapping(tenant, range);
        let reader = self.reader.clone();
        let from_blocks = stream::iter(candidates)
            .map(move |meta| {
                let reader = reader.clone();
                async move { reader.find_trace_by_id(&meta, id).await.map_err(ServiceError::from) }
            })
            .buffer_unordered(self.config.max_concurrent_block_reads)
            .try_collect::<Vec<_>>();

        let (recent, stored) = futures::try_join!(from_ingesters, from_blocks)?;
        Ok(FoundTrace::combine(recent.into_iter().chain(stored).flatten()))
    }
}

#[async_trait]
impl TraceByIdQuerier for Querier {
    #[tracing::instrument(skip_all, fields(tenant = %tenant, trace_id = %id))]
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, ServiceError> {
        let timeout = self.config.trace_by_id.query_timeout.get();
        tokio::time::timeout(timeout, self.lookup(tenant, id, range)).await.map_err(|_| {
            ServiceError::new(ErrorCode::Unavailable, format!("trace lookup timed out after {timeout:?}"))
        })?
    }
}
