//! Finding a trace by ID in a v1 block.
//!
//! A lookup costs, per block: nothing when the cached fuse filter says "not here"; otherwise the
//! sparse index narrows it to about a page of rows, and with the footer (page index included)
//! cached, Parquet fetches only those rows' pages, merged into as few ranged GETs as possible.
//! Cold blocks add one GET for the filter and one for the footer. Decoding runs on the CPU pool.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, RowSelection, RowSelector,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use strand_backend::{BLOCK_FORMAT_V1, Backend, BlockMeta, keys};
use strand_common::spawn_cpu;
use strand_model::{BlockId, FoundTrace, TenantId, TraceCombiner, TraceId};
use strand_proto::otlp::trace::ResourceSpans;

use super::BlockError;
use super::filter::{BlockFilter, RowRange};
use super::object_reader::ObjectReader;
use super::rebuild::BatchView;
use super::schema::ROWS_PER_PAGE;

/// Finds traces in v1 blocks. Cheap to clone: clones share the caches.
#[derive(Clone)]
pub struct BlockReader {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    /// Decoded `filter` objects of recently used blocks.
    filters: Mutex<LruCache<BlockId, Arc<BlockFilter>>>,
    /// Parquet footers (with page indexes) of recently used blocks.
    footers: Mutex<LruCache<BlockId, ArrowReaderMetadata>>,
}

impl BlockReader {
    /// A reader that keeps the filter and footer of up to `cache_capacity` blocks in memory.
    pub fn new(backend: Backend, cache_capacity: usize) -> BlockReader {
        let capacity = NonZeroUsize::new(cache_capacity).unwrap_or(NonZeroUsize::MIN);
        BlockReader {
            inner: Arc::new(Inner {
                backend,
                filters: Mutex::new(LruCache::new(capacity)),
                footers: Mutex::new(LruCache::new(capacity)),
            }),
        }
    }

    /// The part of trace `id` stored in the block, or `None` when the block does not hold it.
    #[tracing::instrument(skip_all, fields(tenant = %meta.tenant_id, block = %meta.block_id))]
    pub async fn find_trace_by_id(&self, meta: &BlockMeta, id: TraceId) -> Result<Option<FoundTrace>, BlockError> {
        if meta.format != BLOCK_FORMAT_V1 {
            return Err(BlockError::corrupt("meta.json", format!("unsupported block format {:?}", meta.format)));
        }
        let tenant = TenantId::new(&meta.tenant_id).map_err(|e| BlockError::corrupt("meta.json", e))?;
        let fetched = Arc::new(AtomicU64::new(0));

        let filter = self.filter(meta, &tenant, &fetched).await?;
        if !filter.may_contain(&id) {
            return Ok(None);
        }
        let Some(range) = filter.row_range(&id) else {
            return Ok(None);
        };
        let footer = self.footer(meta, &tenant, &fetched).await?;
        let (row_groups, selection) = plan(footer.metadata(), range)?;
        if row_groups.is_empty() {
            return Ok(None);
        }

        let path = keys::block_object(&tenant, meta.block_id, keys::DATA);
        let input = ObjectReader::new(
            Arc::clone(self.inner.backend.store()),
            path,
            Arc::clone(footer.metadata()),
            Arc::clone(&fetched),
        );
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(input, footer)
            .with_row_groups(row_groups)
            .with_row_selection(selection)
            .with_batch_size(ROWS_PER_PAGE)
            .build()?;
        let mut parts = Vec::new();
        let mut truncated = false;
        // Fetching happens here on the runtime; decoding each row group moves to the CPU pool.
        while let Some(rows) = stream.next_row_group().await? {
            let (found, cut) = spawn_cpu(move || rows_of_trace(rows, &id)).await??;
            parts.extend(found);
            truncated |= cut;
        }
        if parts.is_empty() {
            return Ok(None);
        }
        let trace = spawn_cpu(move || {
            let mut combiner = TraceCombiner::new();
            for part in parts {
                combiner.add_resource_spans(part);
            }
            combiner.finish()
        })
        .await?;
        Ok(Some(FoundTrace { trace, truncated, inspected_bytes: fetched.load(Ordering::Relaxed) }))
    }

    async fn filter(
        &self,
        meta: &BlockMeta,
        tenant: &TenantId,
        fetched: &AtomicU64,
    ) -> Result<Arc<BlockFilter>, BlockError> {
        if let Some(filter) = lock(&self.inner.filters).get(&meta.block_id) {
            return Ok(Arc::clone(filter));
        }
        let key = keys::block_object(tenant, meta.block_id, keys::FILTER);
        let bytes = self.inner.backend.store().get(&key).await?.bytes().await?;
        fetched.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let filter = Arc::new(spawn_cpu(move || BlockFilter::decode(&bytes)).await??);
        lock(&self.inner.filters).put(meta.block_id, Arc::clone(&filter));
        Ok(filter)
    }

    pub(crate) async fn footer(
        &self,
        meta: &BlockMeta,
        tenant: &TenantId,
        fetched: &AtomicU64,
    ) -> Result<ArrowReaderMetadata, BlockError> {
        if let Some(footer) = lock(&self.inner.footers).get(&meta.block_id) {
            return Ok(footer.clone());
        }
        let path = keys::block_object(tenant, meta.block_id, keys::DATA);
        let size = meta.data_size;
        // `footer_size` covers page indexes and metadata, so this is normally the only request.
        let mut suffix = meta.footer_size.clamp(8, size.max(8));
        let metadata = loop {
            let tail = self.fetch_tail(&path, size, suffix).await?;
            fetched.fetch_add(tail.len() as u64, Ordering::Relaxed);
            match spawn_cpu(move || parse_footer(&tail, size)).await? {
                Ok(metadata) => break metadata,
                Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > suffix && (needed as u64) <= size => {
                    suffix = needed as u64
                }
                Err(ParquetError::NeedMoreDataRange(range)) if range.start < size - suffix => {
                    suffix = size - range.start
                }
                Err(e) => return Err(BlockError::corrupt("data.parquet", format!("footer: {e}"))),
            }
        };
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let footer = ArrowReaderMetadata::try_new(Arc::new(metadata), options)?;
        lock(&self.inner.footers).put(meta.block_id, footer.clone());
        Ok(footer)
    }

    /// The backend blocks are read from.
    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    async fn fetch_tail(&self, path: &Path, size: u64, suffix: u64) -> Result<Bytes, BlockError> {
        let start = size
            .checked_sub(suffix)
            .ok_or_else(|| BlockError::corrupt("meta.json", "footer larger than the data file"))?;
        Ok(self.inner.backend.store().get_range(path, start..size).await?)
    }
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = lock(&self.inner.filters).len();
        f.debug_struct("BlockReader").field("backend", &self.inner.backend).field("cached_blocks", &cached).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a cache lock leaves a valid cache: keep using it.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn parse_footer(tail: &Bytes, file_size: u64) -> Result<ParquetMetaData, ParquetError> {
    let mut reader = ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Required);
    reader.try_parse_sized(tail, file_size)?;
    reader.finish()
}

/// The row groups and the rows within them that `range` covers.
fn plan(metadata: &ParquetMetaData, range: RowRange) -> Result<(Vec<usize>, RowSelection), BlockError> {
    let groups = metadata.num_row_groups();
    let rows_in = |rg: usize| metadata.row_groups().get(rg).map(|g| g.num_rows().max(0) as usize);
    let Some(last) = groups.checked_sub(1) else {
        return Ok((Vec::new(), RowSelection::from(Vec::new())));
    };
    let out_of_range = || BlockError::corrupt("filter", "sparse index points outside data.parquet");
    let first = range.start.row_group as usize;
    let (end_group, end_offset) = match range.end {
        Some(end) => (end.row_group as usize, end.row_offset as usize),
        None => (last, rows_in(last).ok_or_else(out_of_range)?),
    };
    if first > end_group || end_group > last {
        return Err(out_of_range());
    }
    let mut row_groups = Vec::new();
    let mut selectors = Vec::new();
    for rg in first..=end_group {
        let rows = rows_in(rg).ok_or_else(out_of_range)?;
        let from = if rg == first { range.start.row_offset as usize } else { 0 };
        let to = if rg == end_group { end_offset } else { rows };
        if from > rows || to > rows {
            return Err(out_of_range());
        }
        if from >= to {
            continue;
        }
        row_groups.push(rg);
        selectors.extend(
            [RowSelector::skip(from), RowSelector::select(to - from), RowSelector::skip(rows - to)]
                .into_iter()
                .filter(|s| s.row_count > 0),
        );
    }
    Ok((row_groups, RowSelection::from(selectors)))
}

/// The rows of trace `id` in one row group's selected rows, each as its own batch, and whether
/// the trace was marked truncated.
fn rows_of_trace(rows: ParquetRecordBatchReader, id: &TraceId) -> Result<(Vec<ResourceSpans>, bool), BlockError> {
    let mut found = Vec::new();
    let mut truncated = false;
    for batch in rows {
        let batch = batch?;
        let view = BatchView::new(&batch)?;
        for row in (0..view.len()).filter(|row| view.is_trace(*row, id)) {
            truncated |= view.truncated(row);
            found.push(view.resource_spans(row)?);
        }
    }
    Ok((found, truncated))
}
