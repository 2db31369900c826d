//! Compaction's merge: several blocks in, one block out.
//!
//! Every input is sorted by trace ID ([`BlockScan`]), so a k-way merge on (trace ID, then trace
//! start) visits each trace once, with the parts of a trace that several blocks hold side by
//! side, earliest first. Those parts are combined with [`TraceCombiner`], which keeps one copy of
//! each span (by span ID and kind): the copies replication stored in several ingesters' blocks
//! collapse into one. [`BlockWriter`] then rebuilds everything derived from the spans: the
//! trace-ID filter and sparse index, the nesting columns and the tag summary.
//!
//! The inputs are read concurrently by their scans' producers; the merge and the encoding run
//! on one CPU-pool thread, so a compaction uses about one core plus decoding.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;

use strand_backend::{Backend, BlockMeta};
use strand_common::spawn_cpu;
use strand_model::{TraceCombiner, TraceId};

use super::scan::{BlockScan, ScannedTrace};
use super::{BlockConfig, BlockError, BlockReader, BlockWriter, WrittenBlock};

/// Merges the blocks `inputs` describe into one block written to `out`, which should be empty.
///
/// Upload the result with [`upload_block`](super::upload_block) at compaction level
/// `max(input levels) + 1`. Nothing here touches the inputs: marking them compacted is the
/// caller's business, once the output is live.
pub async fn compact_blocks(
    backend: &Backend,
    inputs: &[BlockMeta],
    config: &BlockConfig,
    out: File,
) -> Result<WrittenBlock, BlockError> {
    config.validate().map_err(BlockError::Config)?;
    // A reader of its own: the footers of blocks being compacted away are not worth caching.
    let reader = BlockReader::new(backend.clone(), inputs.len().max(1));
    let mut scans = Vec::with_capacity(inputs.len());
    for meta in inputs {
        scans.push(BlockScan::open(&reader, meta).await?);
    }
    let config = config.clone();
    spawn_cpu(move || merge(scans, BlockWriter::new(out, &config)?)).await?
}

/// The k-way merge. Blocking: runs on the CPU pool.
fn merge(mut scans: Vec<BlockScan>, mut writer: BlockWriter) -> Result<WrittenBlock, BlockError> {
    // The current trace of each input, and a min-heap of (trace ID, start, input) over them.
    let mut heads: Vec<Option<ScannedTrace>> = Vec::with_capacity(scans.len());
    let mut heap = BinaryHeap::with_capacity(scans.len());
    for (input, scan) in scans.iter_mut().enumerate() {
        let head = scan.blocking_next()?;
        if let Some(trace) = &head {
            heap.push(Reverse((trace.id, trace.start_unix_nano, input)));
        }
        heads.push(head);
    }
    let mut parts: Vec<ScannedTrace> = Vec::new();
    while let Some(Reverse((id, _, input))) = heap.pop() {
        take_head(&mut scans, &mut heads, &mut heap, input, &mut parts)?;
        while let Some(Reverse((next, _, other))) = heap.peek().copied()
            && next == id
        {
            heap.pop();
            take_head(&mut scans, &mut heads, &mut heap, other, &mut parts)?;
        }
        write_trace(&mut writer, id, &mut parts)?;
    }
    writer.finish()
}

/// Moves input `input`'s current trace into `parts` and reads its next one.
fn take_head(
    scans: &mut [BlockScan],
    heads: &mut [Option<ScannedTrace>],
    heap: &mut BinaryHeap<Reverse<(TraceId, u64, usize)>>,
    input: usize,
    parts: &mut Vec<ScannedTrace>,
) -> Result<(), BlockError> {
    let (Some(slot), Some(scan)) = (heads.get_mut(input), scans.get_mut(input)) else {
        return Ok(());
    };
    if let Some(part) = slot.take() {
        parts.push(part);
    }
    *slot = scan.blocking_next()?;
    if let Some(next) = slot.as_ref() {
        heap.push(Reverse((next.id, next.start_unix_nano, input)));
    }
    Ok(())
}

/// Writes the parts of one trace (already in (start, input) order) as one trace.
fn write_trace(writer: &mut BlockWriter, id: TraceId, parts: &mut Vec<ScannedTrace>) -> Result<(), BlockError> {
    let truncated = parts.iter().any(|part| part.truncated);
    if parts.len() == 1
        && let Some(part) = parts.pop()
    {
        // Already combined by the scan.
        return writer.add_combined(id, &part.trace, truncated);
    }
    let mut combiner = TraceCombiner::new();
    for part in parts.drain(..) {
        combiner.add(part.trace);
    }
    writer.add_combined(id, &combiner.finish(), truncated)
}
