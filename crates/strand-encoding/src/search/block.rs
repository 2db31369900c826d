//! TraceQL over a v1 block: row groups are fetched on the runtime with only the columns the query
//! reads, then decoded and evaluated on the CPU pool, one row group at a time.

use std::ops::{ControlFlow, Range};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use strand_backend::{BLOCK_FORMAT_V1, BlockMeta, keys};
use strand_common::spawn_cpu;
use strand_model::TenantId;
use strand_traceql::{FetchSpansRequest, FetchStats, Span, SpansetFetcher, Trace};

use super::columns::SpanColumns;
use super::plan::ColumnPlan;
use super::prefilter::Prefilter;
use crate::block::object_reader::ObjectReader;
use crate::block::schema::{self, ROWS_PER_PAGE};
use crate::block::{BlockError, BlockReader};

/// The rows of one fetched row group, handed to the engine trace by trace.
pub struct RowGroupFetcher {
    rows: ParquetRecordBatchReader,
    plan: Arc<ColumnPlan>,
}

/// What a block search returned: one result per row group searched, and what it cost.
#[derive(Debug)]
pub struct BlockSearch<T> {
    /// The results of each searched row group, in row-group order.
    pub results: Vec<T>,
    /// Row groups skipped without reading them.
    pub pruned_row_groups: usize,
    /// Bytes fetched from object storage.
    pub inspected_bytes: u64,
}

impl BlockReader {
    /// Runs `search` over row groups `row_groups` of a block, reading only what `request` needs.
    ///
    /// `search` runs on the CPU pool, once per row group that may hold matches, with a fetcher
    /// over that row group's traces (row groups always end at trace boundaries).
    pub async fn search<T, F>(
        &self,
        meta: &BlockMeta,
        row_groups: Range<usize>,
        request: Arc<FetchSpansRequest>,
        search: F,
    ) -> Result<BlockSearch<T>, BlockError>
    where
        T: Send + 'static,
        F: Fn(&mut RowGroupFetcher, &FetchSpansRequest) -> Result<T, BlockError> + Send + Sync + 'static,
    {
        if meta.format != BLOCK_FORMAT_V1 {
            return Err(BlockError::corrupt("meta.json", format!("unsupported block format {:?}", meta.format)));
        }
        let tenant = TenantId::new(&meta.tenant_id).map_err(|e| BlockError::corrupt("meta.json", e))?;
        let fetched = Arc::new(AtomicU64::new(0));
        let footer = self.footer(meta, &tenant, &fetched).await?;
        let metadata = Arc::clone(footer.metadata());
        let total = metadata.num_row_groups();
        let wanted: Vec<usize> = (row_groups.start.min(total)..row_groups.end.min(total)).collect();
        let plan = Arc::new(ColumnPlan::new(&request));
        let prefilter = Prefilter::new(&request, &plan);
        let selected: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|rg| in_time_range(&metadata, *rg, &request))
            .filter(|rg| metadata.row_groups().get(*rg).is_some_and(|group| prefilter.row_group_may_match(group)))
            .collect();
        let pruned_row_groups = wanted.len() - selected.len();
        if selected.is_empty() {
            return Ok(BlockSearch {
                results: Vec::new(),
                pruned_row_groups,
                inspected_bytes: fetched.load(Ordering::Relaxed),
            });
        }

        let mask = ProjectionMask::roots(metadata.file_metadata().schema_descr(), plan.roots());
        let path = keys::block_object(&tenant, meta.block_id, keys::DATA);
        let input = ObjectReader::new(Arc::clone(self.backend().store()), path, metadata, Arc::clone(&fetched));
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(input, footer)
            .with_projection(mask)
            .with_row_groups(selected)
            .with_batch_size(ROWS_PER_PAGE)
            .build()?;
        let search = Arc::new(search);
        let mut results = Vec::new();
        // Fetching happens here on the runtime; decoding and evaluation move to the CPU pool.
        while let Some(rows) = stream.next_row_group().await? {
            let (search, plan, request) = (Arc::clone(&search), Arc::clone(&plan), Arc::clone(&request));
            let result = spawn_cpu(move || search(&mut RowGroupFetcher { rows, plan }, &request)).await??;
            results.push(result);
        }
        Ok(BlockSearch { results, pruned_row_groups, inspected_bytes: fetched.load(Ordering::Relaxed) })
    }
}

/// False when row group `rg` cannot hold a span in the request's time window.
fn in_time_range(metadata: &ParquetMetaData, rg: usize, request: &FetchSpansRequest) -> bool {
    let Some(group) = metadata.row_groups().get(rg) else { return false };
    let stats = |name: &str| {
        let index = group.columns().iter().position(|c| c.column_path().string() == name)?;
        match group.column(index).statistics()? {
            Statistics::Int64(s) => Some((*s.min_opt()? as u64, *s.max_opt()? as u64)),
            _ => None,
        }
    };
    let (Some((first_start, last_start)), Some((_, longest))) =
        (stats(schema::START_UNIX_NANO), stats(schema::DURATION_NANO))
    else {
        return true;
    };
    let starts_too_late = request.end_unix_nano != 0 && first_start > request.end_unix_nano;
    let ends_too_early = request.start_unix_nano != 0 && last_start.saturating_add(longest) < request.start_unix_nano;
    !(starts_too_late || ends_too_early)
}

/// One trace being assembled from consecutive rows.
struct TraceInProgress {
    id: [u8; 16],
    trace: Trace,
    in_range: bool,
    /// `nested_set_left` of every row of the trace, kept or not, when nesting was read.
    lefts: Vec<i32>,
    /// Parent row (within the trace) of every row, when nesting was read.
    parents: Vec<i32>,
    /// Row within the trace of each kept span.
    kept_rows: Vec<usize>,
}

impl TraceInProgress {
    fn new(trace: Trace, request: &FetchSpansRequest) -> TraceInProgress {
        let end = trace.start_unix_nano.saturating_add(trace.duration_nano);
        let in_range = (request.start_unix_nano == 0 || end >= request.start_unix_nano)
            && (request.end_unix_nano == 0 || trace.start_unix_nano <= request.end_unix_nano);
        TraceInProgress {
            id: trace.trace_id,
            trace,
            in_range,
            lefts: Vec::new(),
            parents: Vec::new(),
            kept_rows: Vec::new(),
        }
    }

    /// The trace with nested set parents and child counts filled in; `None` without spans.
    fn finish(mut self) -> Option<Trace> {
        if self.trace.spans.is_empty() {
            return None;
        }
        if !self.parents.is_empty() {
            let mut children = vec![0u32; self.parents.len()];
            for parent in self.parents.iter().filter_map(|p| usize::try_from(*p).ok()) {
                if let Some(count) = children.get_mut(parent) {
                    *count += 1;
                }
            }
            for (span, row) in self.trace.spans.iter_mut().zip(&self.kept_rows) {
                let parent = self.parents.get(*row).and_then(|p| usize::try_from(*p).ok());
                span.nested_set_parent = parent.and_then(|p| self.lefts.get(p).copied()).unwrap_or(-1);
                span.child_count = children.get(*row).copied().unwrap_or_default();
            }
        }
        Some(self.trace)
    }

    fn keep(&mut self, span: Span) {
        self.kept_rows.push(self.lefts.len().saturating_sub(1));
        self.trace.spans.push(span);
    }
}

impl RowGroupFetcher {
    /// Decodes every batch of the projected columns and counts the rows, building no spans: the
    /// cost of reading the columns alone, which benchmarks compare searches against.
    pub fn decode_only(&mut self) -> Result<u64, BlockError> {
        let mut rows = 0;
        for batch in &mut self.rows {
            rows += batch?.num_rows() as u64;
        }
        Ok(rows)
    }
}

impl SpansetFetcher for RowGroupFetcher {
    type Error = BlockError;

    fn fetch(
        &mut self,
        request: &FetchSpansRequest,
        visit: &mut dyn FnMut(Trace) -> ControlFlow<()>,
    ) -> Result<FetchStats, BlockError> {
        let mut stats = FetchStats::default();
        let mut current: Option<TraceInProgress> = None;
        let prefilter = Prefilter::new(request, &self.plan);
        for batch in &mut self.rows {
            let batch = batch?;
            let candidates = prefilter.rows(&batch);
            if !self.plan.nesting && candidates.as_ref().is_some_and(|rows| !rows.contains(&true)) {
                // No span here can match, and no span's nesting depends on these rows.
                stats.inspected_spans += batch.num_rows() as u64;
                continue;
            }
            let mut columns = SpanColumns::new(&batch, &self.plan)?;
            for row in 0..columns.len() {
                stats.inspected_spans += 1;
                if current.as_ref().is_none_or(|t| t.id != columns.trace_id(row)) {
                    stats.inspected_traces += 1;
                    if let Some(trace) = current.take().and_then(TraceInProgress::finish)
                        && visit(trace).is_break()
                    {
                        return Ok(stats);
                    }
                    current = Some(TraceInProgress::new(columns.trace_header(row), request));
                }
                let Some(trace) = current.as_mut() else { continue };
                if let Some((left, parent)) = columns.nesting(row) {
                    trace.lefts.push(left);
                    trace.parents.push(parent);
                }
                if !trace.in_range || candidates.as_ref().is_some_and(|rows| !rows.get(row).copied().unwrap_or(false)) {
                    continue;
                }
                let span = columns.span(row)?;
                if request.span_filter.keep(&trace.trace, &span) {
                    trace.keep(span);
                }
            }
        }
        if let Some(trace) = current.take().and_then(TraceInProgress::finish) {
            let _ = visit(trace);
        }
        Ok(stats)
    }
}
