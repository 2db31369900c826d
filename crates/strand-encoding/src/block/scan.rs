//! Reading a whole block back, trace by trace, in trace-ID order, in bounded memory.
//!
//! Blocks are sorted by trace ID (the writer refuses anything else, see
//! [`BlockError::OutOfOrder`]), and within a trace by span start, so every trace is one contiguous
//! run of rows and a scan needs to hold only the trace it is assembling.
//!
//! A scan is a producer task and a bounded channel. The task fetches one row group at a time on
//! the runtime (ranged reads of that row group's column chunks), then decodes it on the CPU pool,
//! sending finished traces in chunks of about [`CHUNK_SPANS`] spans. Memory per scan is therefore
//! one fetched row group (compressed), one decoded Arrow batch, and up to [`CHUNK_CAPACITY`] + 2
//! chunks of traces: never the whole block.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use strand_backend::{BLOCK_FORMAT_V1, BlockMeta, keys};
use strand_common::spawn_cpu;
use strand_model::{TenantId, TraceId, sort_trace};
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans};
use strand_proto::tempopb::Trace;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::object_reader::ObjectReader;
use super::rebuild::BatchView;
use super::schema::ROWS_PER_PAGE;
use super::{BlockError, BlockReader};

/// Finished traces are handed over in chunks of about this many spans: large enough that the
/// channel costs nothing per span, small enough that a chunk of decoded spans stays a few MiB.
const CHUNK_SPANS: usize = 1024;
/// Chunks waiting in the channel per scan. Two keep the consumer busy while the producer
/// decodes the next one.
const CHUNK_CAPACITY: usize = 2;

/// One trace as a block stores it: all of its rows as one trace.
#[derive(Clone, Debug, PartialEq)]
pub struct ScannedTrace {
    /// The trace's ID.
    pub id: TraceId,
    /// The trace's spans, grouped by resource and scope and sorted as
    /// [`sort_trace`](strand_model::sort_trace) sorts them.
    pub trace: Trace,
    /// Whether the block marked the trace truncated (cut by the per-trace size limit).
    pub truncated: bool,
    /// The earliest span start in this part of the trace, Unix nanoseconds.
    pub start_unix_nano: u64,
    /// Rows (spans) the block held for the trace.
    pub spans: u64,
}

type Chunk = Result<Vec<ScannedTrace>, BlockError>;

/// Streams every trace of one block in ascending trace-ID order; see the module docs.
///
/// Dropping the scan stops its producer.
pub struct BlockScan {
    receiver: mpsc::Receiver<Chunk>,
    ready: VecDeque<ScannedTrace>,
    producer: JoinHandle<()>,
}

impl BlockScan {
    /// Starts scanning the block `meta` describes. Fetches the footer before returning, so a
    /// missing or damaged block fails here rather than on the first trace.
    pub async fn open(reader: &BlockReader, meta: &BlockMeta) -> Result<BlockScan, BlockError> {
        let stream = row_groups(reader, meta).await?;
        let (sender, receiver) = mpsc::channel(CHUNK_CAPACITY);
        let producer = tokio::spawn(produce(stream, sender));
        Ok(BlockScan { receiver, ready: VecDeque::new(), producer })
    }

    /// The next trace, or `None` after the last one.
    pub async fn next(&mut self) -> Result<Option<ScannedTrace>, BlockError> {
        loop {
            if let Some(trace) = self.ready.pop_front() {
                return Ok(Some(trace));
            }
            match self.receiver.recv().await {
                Some(chunk) => self.ready.extend(chunk?),
                None => return Ok(None),
            }
        }
    }

    /// [`BlockScan::next`] for code running on the CPU pool (never on a runtime thread: it blocks).
    pub fn blocking_next(&mut self) -> Result<Option<ScannedTrace>, BlockError> {
        loop {
            if let Some(trace) = self.ready.pop_front() {
                return Ok(Some(trace));
            }
            match self.receiver.blocking_recv() {
                Some(chunk) => self.ready.extend(chunk?),
                None => return Ok(None),
            }
        }
    }
}

impl Drop for BlockScan {
    fn drop(&mut self) {
        // A decode already running on the CPU pool stops at its next send, which now fails.
        self.producer.abort();
    }
}

impl std::fmt::Debug for BlockScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockScan").field("ready", &self.ready.len()).finish_non_exhaustive()
    }
}

/// Every column of every row group of a block, fetched one row group at a time (the footer,
/// and with it the check that the block exists, comes first).
async fn row_groups(
    reader: &BlockReader,
    meta: &BlockMeta,
) -> Result<ParquetRecordBatchStream<ObjectReader>, BlockError> {
    if meta.format != BLOCK_FORMAT_V1 {
        return Err(BlockError::corrupt("meta.json", format!("unsupported block format {:?}", meta.format)));
    }
    let tenant = TenantId::new(&meta.tenant_id).map_err(|e| BlockError::corrupt("meta.json", e))?;
    let fetched = Arc::new(AtomicU64::new(0));
    let footer = reader.footer(meta, &tenant, &fetched).await?;
    let path = keys::block_object(&tenant, meta.block_id, keys::DATA);
    let input = ObjectReader::new(Arc::clone(reader.backend().store()), path, Arc::clone(footer.metadata()), fetched);
    Ok(ParquetRecordBatchStreamBuilder::new_with_metadata(input, footer).with_batch_size(ROWS_PER_PAGE).build()?)
}

/// Reads every row group of a block and decodes all its columns into Arrow arrays, building no
/// trace: the Parquet part of a scan alone, which the compaction benchmark reads its figures
/// against. Returns the rows decoded.
pub async fn decode_columns(reader: &BlockReader, meta: &BlockMeta) -> Result<u64, BlockError> {
    let mut stream = row_groups(reader, meta).await?;
    let mut rows = 0;
    while let Some(group) = stream.next_row_group().await? {
        rows +=
            spawn_cpu(move || group.map(|batch| batch.map(|b| b.num_rows() as u64)).sum::<Result<u64, _>>()).await??;
    }
    Ok(rows)
}

/// Fetches row groups one after the other and decodes each on the CPU pool.
async fn produce(mut stream: ParquetRecordBatchStream<ObjectReader>, sender: mpsc::Sender<Chunk>) {
    let mut state = Some(Assembler::new(sender.clone()));
    let result = async {
        loop {
            let Some(rows) = stream.next_row_group().await? else { break };
            let Some(assembler) = state.take() else { break };
            let assembler = spawn_cpu(move || assembler.decode_row_group(rows)).await??;
            if assembler.closed {
                return Ok(());
            }
            state = Some(assembler);
        }
        if let Some(assembler) = state.take() {
            spawn_cpu(move || assembler.finish()).await?;
        }
        Ok::<_, BlockError>(())
    }
    .await;
    if let Err(err) = result {
        // Nobody listening any more is fine: the consumer gave up first.
        let _ = sender.send(Err(err)).await;
    }
}

/// One trace being assembled from its consecutive rows.
///
/// Rows of one block hold each span once (the writer combined the trace), so rows only need
/// grouping back into batches of the same resource and scope. Equality does that without the
/// encoding, hashing and span-ID set a [`TraceCombiner`](strand_model::TraceCombiner) pays for:
/// that would be most of a scan's cost. Values that never equal themselves (a NaN attribute)
/// only leave a batch ungrouped; whoever combines the trace next groups it.
struct Assembly {
    id: TraceId,
    batches: Vec<ResourceSpans>,
    /// The batch the last row went to: neighbouring rows often share a resource.
    last_batch: usize,
    truncated: bool,
    start_unix_nano: u64,
    spans: u64,
}

impl Assembly {
    fn new(id: TraceId) -> Assembly {
        Assembly { id, batches: Vec::new(), last_batch: 0, truncated: false, start_unix_nano: u64::MAX, spans: 0 }
    }

    /// Adds one row: a batch of one scope holding one span.
    fn add(&mut self, row: ResourceSpans) {
        let ResourceSpans { resource, scope_spans, schema_url } = row;
        let same = |batch: &ResourceSpans| batch.resource == resource && batch.schema_url == schema_url;
        let slot = match self.batches.get(self.last_batch).filter(|batch| same(batch)) {
            Some(_) => self.last_batch,
            None => match self.batches.iter().position(same) {
                Some(slot) => slot,
                None => {
                    self.batches.push(ResourceSpans { resource, scope_spans: Vec::new(), schema_url });
                    self.batches.len() - 1
                }
            },
        };
        self.last_batch = slot;
        let Some(batch) = self.batches.get_mut(slot) else { return };
        for scope_spans in scope_spans {
            let same_scope =
                |s: &&mut ScopeSpans| s.scope == scope_spans.scope && s.schema_url == scope_spans.schema_url;
            match batch.scope_spans.iter_mut().rev().find(same_scope) {
                Some(existing) => existing.spans.extend(scope_spans.spans),
                None => batch.scope_spans.push(scope_spans),
            }
        }
    }

    fn finish(self) -> ScannedTrace {
        let mut trace = Trace { resource_spans: self.batches };
        sort_trace(&mut trace);
        ScannedTrace {
            id: self.id,
            trace,
            truncated: self.truncated,
            start_unix_nano: self.start_unix_nano,
            spans: self.spans,
        }
    }
}

/// Turns rows into traces across row groups (a trace cut by a row-group boundary, which the v1
/// writer never produces, would still come out whole) and sends them in chunks.
struct Assembler {
    sender: mpsc::Sender<Chunk>,
    current: Option<Assembly>,
    previous: Option<TraceId>,
    chunk: Vec<ScannedTrace>,
    chunk_spans: usize,
    /// The consumer is gone: stop decoding.
    closed: bool,
}

impl Assembler {
    fn new(sender: mpsc::Sender<Chunk>) -> Assembler {
        Assembler { sender, current: None, previous: None, chunk: Vec::new(), chunk_spans: 0, closed: false }
    }

    /// Decodes one fetched row group. Blocking: runs on the CPU pool.
    fn decode_row_group(mut self, rows: ParquetRecordBatchReader) -> Result<Assembler, BlockError> {
        for batch in rows {
            let batch = batch?;
            let view = BatchView::new(&batch)?;
            for row in 0..view.len() {
                let resource_spans = view.resource_spans(row)?;
                let span = resource_spans.scope_spans.first().and_then(|scope| scope.spans.first());
                let (id, start) = match span {
                    Some(span) => (
                        TraceId::from_bytes(&span.trace_id).map_err(|e| BlockError::corrupt("data.parquet", e))?,
                        span.start_time_unix_nano,
                    ),
                    None => return Err(BlockError::corrupt("data.parquet", "row without a span")),
                };
                if self.current.as_ref().is_none_or(|current| current.id != id) {
                    self.start_trace(id)?;
                    if self.closed {
                        return Ok(self);
                    }
                }
                if let Some(current) = self.current.as_mut() {
                    current.truncated |= view.truncated(row);
                    current.start_unix_nano = current.start_unix_nano.min(start);
                    current.spans += 1;
                    current.add(resource_spans);
                }
            }
        }
        // Hand over what is done so the consumer is not kept waiting for the next fetch.
        self.send_chunk();
        Ok(self)
    }

    /// Ends the trace being assembled and starts `id`, which must sort after every earlier one.
    fn start_trace(&mut self, id: TraceId) -> Result<(), BlockError> {
        if let Some(previous) = self.previous
            && id <= previous
        {
            return Err(BlockError::corrupt("data.parquet", format!("trace {id} stored after {previous}")));
        }
        self.previous = Some(id);
        if let Some(done) = self.current.take() {
            self.chunk_spans += done.spans as usize;
            self.chunk.push(done.finish());
            if self.chunk_spans >= CHUNK_SPANS {
                self.send_chunk();
            }
        }
        self.current = Some(Assembly::new(id));
        Ok(())
    }

    fn send_chunk(&mut self) {
        if self.chunk.is_empty() || self.closed {
            return;
        }
        self.chunk_spans = 0;
        let chunk = std::mem::take(&mut self.chunk);
        self.closed = self.sender.blocking_send(Ok(chunk)).is_err();
    }

    /// Sends the last trace. Blocking: runs on the CPU pool.
    fn finish(mut self) {
        if let Some(done) = self.current.take() {
            self.chunk.push(done.finish());
        }
        self.send_chunk();
    }
}
