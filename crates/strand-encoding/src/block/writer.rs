//! Building a block on local disk, trace by trace.

use std::fs::File;

use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::ParquetMetaData;
use strand_model::{TraceId, combine};
use strand_proto::otlp::trace::{ScopeSpans, Span};
use strand_proto::tempopb::Trace;

use super::filter::{FilterBuilder, RowPosition};
use super::nesting;
use super::rows::{ResourceParts, SpanNesting, SpanRows, TraceSummary};
use super::schema::{self, ROWS_PER_PAGE};
use super::{BlockConfig, BlockError};
use crate::search::TagSummary;

/// Buffered rows are handed to Parquet at the latest at this size, so a few huge spans cannot
/// hold a page-worth of rows in memory.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// What [`BlockWriter::finish`] produced: the `filter` object and the figures for `meta.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenBlock {
    /// The encoded `filter` object.
    pub filter: Bytes,
    /// The encoded tag summary (`tags.json.zst`): attribute keys and values for autocomplete.
    pub tags: Bytes,
    /// Number of traces in the block.
    pub total_traces: u64,
    /// Number of spans (rows).
    pub total_spans: u64,
    /// Number of Parquet row groups.
    pub row_groups: u32,
    /// Size of the data file in bytes.
    pub data_size: u64,
    /// Bytes from the end of the last column chunk to the end of the file: page indexes, footer
    /// metadata and the 8 trailing bytes, so readers fetch all metadata in one ranged read.
    pub footer_size: u64,
    /// Earliest span start, Unix nanoseconds (0 for an empty block).
    pub start_unix_nano: u64,
    /// Latest span end, Unix nanoseconds (0 for an empty block).
    pub end_unix_nano: u64,
}

impl WrittenBlock {
    /// The `meta.json` describing this block.
    pub fn meta(
        &self,
        tenant: &strand_model::TenantId,
        block_id: strand_model::BlockId,
        compaction_level: u32,
        created_at: u64,
    ) -> strand_backend::BlockMeta {
        strand_backend::BlockMeta {
            format: strand_backend::BLOCK_FORMAT_V1.to_string(),
            block_id,
            tenant_id: tenant.as_str().to_string(),
            start_unix_nano: self.start_unix_nano,
            end_unix_nano: self.end_unix_nano,
            total_traces: self.total_traces,
            total_spans: self.total_spans,
            row_groups: self.row_groups,
            data_size: self.data_size,
            footer_size: self.footer_size,
            filter_size: self.filter.len() as u64,
            tags_size: self.tags.len() as u64,
            compaction_level,
            created_at,
        }
    }
}

/// Writes traces, in ascending trace-ID order, into a v1 `data.parquet` and builds its filter.
///
/// Rows go to the file as they come: memory holds at most one row group being encoded (cut at
/// the first trace boundary past `parquet_row_group_size_bytes`), one batch of rows, and 8 bytes
/// per trace for the filter. Blocking IO and CPU work: run it off the async runtime.
pub struct BlockWriter {
    writer: ArrowWriter<File>,
    rows: SpanRows,
    filter: FilterBuilder,
    tags: TagSummary,
    row_group_limit: usize,
    last_id: Option<TraceId>,
    row_groups: u32,
    rows_in_group: u64,
    total_traces: u64,
    total_spans: u64,
    start_unix_nano: u64,
    end_unix_nano: u64,
}

impl BlockWriter {
    /// Starts a block in `file`, which should be empty.
    pub fn new(file: File, config: &BlockConfig) -> Result<BlockWriter, BlockError> {
        config.validate().map_err(BlockError::Config)?;
        let props = schema::writer_properties(config)?;
        Ok(BlockWriter {
            writer: ArrowWriter::try_new(file, schema::block_schema(), Some(props))?,
            rows: SpanRows::new(),
            filter: FilterBuilder::default(),
            tags: TagSummary::default(),
            row_group_limit: config.parquet_row_group_size_bytes.as_usize(),
            last_id: None,
            row_groups: 0,
            rows_in_group: 0,
            total_traces: 0,
            total_spans: 0,
            start_unix_nano: u64::MAX,
            end_unix_nano: 0,
        })
    }

    /// Adds one trace. IDs must come strictly ascending: blocks are sorted by trace ID, which is
    /// what makes a lookup read one contiguous slice.
    ///
    /// Duplicated spans (same span ID and kind) are kept once, as [`combine`] does. The spans'
    /// own `trace_id` fields are not stored: every row carries `id`.
    pub fn add_trace(&mut self, id: TraceId, trace: Trace, truncated: bool) -> Result<(), BlockError> {
        self.check_order(id)?;
        // Combining also gives ties a fixed order (resource, then scope, then arrival), which the
        // reader reproduces when it groups rows back into batches.
        self.write_trace(id, &combine([trace]), truncated)
    }

    /// Adds one trace that is already the output of [`combine`] (or of `TraceCombiner::finish`,
    /// or of a block scan, whose traces were combined when they were written): no span repeats.
    /// Compaction merges its inputs itself, and combining a second time would only cost time.
    pub fn add_combined(&mut self, id: TraceId, trace: &Trace, truncated: bool) -> Result<(), BlockError> {
        self.check_order(id)?;
        self.write_trace(id, trace, truncated)
    }

    fn check_order(&mut self, id: TraceId) -> Result<(), BlockError> {
        if let Some(previous) = self.last_id
            && id <= previous
        {
            return Err(BlockError::OutOfOrder { previous, next: id });
        }
        self.last_id = Some(id);
        Ok(())
    }

    fn write_trace(&mut self, id: TraceId, combined: &Trace, truncated: bool) -> Result<(), BlockError> {
        self.tags.add_trace(combined);
        let resources: Vec<ResourceParts<'_>> = combined.resource_spans.iter().map(ResourceParts::new).collect();
        let mut spans: Vec<(usize, &ScopeSpans, &Span)> = combined
            .resource_spans
            .iter()
            .enumerate()
            .flat_map(|(r, batch)| {
                batch.scope_spans.iter().flat_map(move |scope| scope.spans.iter().map(move |span| (r, scope, span)))
            })
            .collect();
        if spans.is_empty() {
            return Ok(());
        }
        if spans.len() >= (i32::MAX / 2) as usize {
            return Err(BlockError::TooLarge(format!("trace {id} has {} spans", spans.len())));
        }
        // Stable: equal keys keep the combined order.
        spans.sort_by(|a, b| (a.2.start_time_unix_nano, &a.2.span_id).cmp(&(b.2.start_time_unix_nano, &b.2.span_id)));

        let span_ids: Vec<&[u8]> = spans.iter().map(|(_, _, span)| span.span_id.as_slice()).collect();
        let parent_ids: Vec<&[u8]> = spans.iter().map(|(_, _, span)| span.parent_span_id.as_slice()).collect();
        let nesting = nesting::nest(&span_ids, &parent_ids);
        let root = spans.iter().find(|(_, _, span)| span.parent_span_id.is_empty());
        let start = spans.iter().map(|(_, _, s)| s.start_time_unix_nano).min().unwrap_or_default();
        let end =
            spans.iter().map(|(_, _, s)| s.end_time_unix_nano.max(s.start_time_unix_nano)).max().unwrap_or_default();
        let summary = TraceSummary {
            id,
            root_service_name: root
                .and_then(|(r, _, _)| resources.get(*r))
                .and_then(ResourceParts::service_name)
                .unwrap_or_default(),
            root_span_name: root.map(|(_, _, span)| span.name.as_str()).unwrap_or_default(),
            start_unix_nano: start,
            duration_nano: end - start,
            truncated,
        };

        self.filter.add_trace(&id);
        for (row, (resource, scope, span)) in spans.iter().enumerate() {
            if self.rows_in_group.is_multiple_of(ROWS_PER_PAGE as u64) {
                let row_offset =
                    u32::try_from(self.rows_in_group).map_err(|_| BlockError::TooLarge("row group rows".into()))?;
                self.filter.add_entry(id, RowPosition { row_group: self.row_groups, row_offset });
            }
            let nesting =
                SpanNesting { left: nesting.left[row], right: nesting.right[row], parent: nesting.parent[row] };
            let resource =
                resources.get(*resource).ok_or_else(|| BlockError::corrupt("trace", "span without resource"))?;
            self.rows.push(&summary, resource, scope, span, nesting)?;
            self.rows_in_group += 1;
            if self.rows.len() >= ROWS_PER_PAGE || self.rows.estimated_bytes() >= MAX_BATCH_BYTES {
                self.write_rows()?;
            }
        }
        self.total_traces += 1;
        self.total_spans += spans.len() as u64;
        self.start_unix_nano = self.start_unix_nano.min(start);
        self.end_unix_nano = self.end_unix_nano.max(end);

        // Row groups end at trace boundaries, so a search shard (one row group) sees whole traces.
        if self.writer.in_progress_size() + self.rows.estimated_bytes() >= self.row_group_limit {
            self.close_row_group()?;
        }
        Ok(())
    }

    fn write_rows(&mut self) -> Result<(), BlockError> {
        if self.rows.len() > 0 {
            let batch = self.rows.finish()?;
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    fn close_row_group(&mut self) -> Result<(), BlockError> {
        self.write_rows()?;
        if self.rows_in_group > 0 {
            self.writer.flush()?;
            self.row_groups += 1;
            self.rows_in_group = 0;
        }
        Ok(())
    }

    /// Writes the Parquet footer, syncs the file and returns the filter and block figures.
    pub fn finish(mut self) -> Result<WrittenBlock, BlockError> {
        self.close_row_group()?;
        let metadata = self.writer.finish()?;
        self.writer.inner().sync_all()?;
        let data_size = self.writer.bytes_written() as u64;
        check_row_groups(&metadata, self.row_groups, self.total_spans)?;
        let empty = self.total_traces == 0;
        Ok(WrittenBlock {
            filter: self.filter.finish()?,
            tags: self.tags.encode()?,
            total_traces: self.total_traces,
            total_spans: self.total_spans,
            row_groups: self.row_groups,
            data_size,
            footer_size: data_size - end_of_column_data(&metadata).min(data_size),
            start_unix_nano: if empty { 0 } else { self.start_unix_nano },
            end_unix_nano: self.end_unix_nano,
        })
    }
}

/// The sparse index assumes row groups are exactly the ones this writer cut; Parquet must agree.
fn check_row_groups(metadata: &ParquetMetaData, row_groups: u32, spans: u64) -> Result<(), BlockError> {
    let rows: i64 = metadata.row_groups().iter().map(|rg| rg.num_rows()).sum();
    if metadata.num_row_groups() != row_groups as usize || rows != spans as i64 {
        return Err(BlockError::corrupt(
            "data.parquet",
            format!(
                "wrote {} row groups with {rows} rows, expected {row_groups} with {spans}",
                metadata.num_row_groups()
            ),
        ));
    }
    Ok(())
}

/// Where the last column chunk ends: everything after it is metadata.
fn end_of_column_data(metadata: &ParquetMetaData) -> u64 {
    let columns = metadata.row_groups().iter().flat_map(|rg| rg.columns());
    // An empty file is the 4-byte magic followed by the footer.
    columns.map(|c| c.byte_range()).map(|(start, len)| start + len).max().unwrap_or(4)
}
