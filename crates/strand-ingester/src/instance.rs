//! A tenant instance: one tenant's WAL, live traces, head block and cut blocks.
//!
//! Ordering rules that keep acknowledged spans safe:
//! - A push is appended to the WAL before it touches memory, and acknowledged after both.
//! - Pushes hold `cut_lock` for reading across WAL append and apply; a cut holds it for writing
//!   only while it swaps the head block, snapshots the live traces and rotates the WAL, so every
//!   push applied after the snapshot lands in a segment after the rotation. The snapshot is then
//!   written into the new segment as a checkpoint while pushes flow again. So every segment before
//!   the rotation holds only data that is in the cut block or in the checkpoint, and may be deleted
//!   once that block and every block cut before it is flushed (the block is queued for flushing
//!   only after its checkpoint is durable).
//! - Cuts of one instance run one at a time (`cut_serial`), and a cut block joins the list of cut
//!   blocks before the exclusive section ends, so the list stays in cut order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use strand_encoding::{Wal, WalConfig, decode_push_record, encode_push_record, replay};
use strand_model::{PushRequest, PushResponse, TenantId, TraceBytes, TraceId};
use strand_overrides::Limits;

use crate::error::IngesterError;
use crate::head_block::{FrozenBlock, HeadBlock, TraceLocation};
use crate::live::{LiveTraces, join_segments};
use crate::metrics;
use crate::truncate::truncate_to_budget;

/// WAL record kind for pushes; the codec lives in strand-encoding and writes this tag first.
const RECORD_PUSH: u8 = 1;
/// WAL record kind marking traces as truncated by the per-trace size limit.
const RECORD_TRUNCATED: u8 = 2;
/// Checkpoint records are split so no single record gets huge.
const CHECKPOINT_RECORD_BYTES: usize = 4 << 20;
/// During replay, live traces beyond this many bytes are moved to the head block on disk, so
/// replaying a large WAL runs in bounded memory.
const REPLAY_LIVE_BYTES: usize = 64 << 20;

/// A block cut from the head, from the cut until it is dropped after its flush.
pub(crate) struct CutBlock {
    pub block: Arc<FrozenBlock>,
    /// The WAL segment started at the cut: segments before it hold only this block's data,
    /// earlier blocks' data, and data re-written into the checkpoint.
    wal_bound: u64,
    flushed_at: Option<Instant>,
}

struct State {
    live: LiveTraces,
    head: HeadBlock,
    cut: Vec<CutBlock>,
}

/// One tenant's ingest state.
pub(crate) struct Instance {
    pub tenant: TenantId,
    pub blocks_dir: PathBuf,
    wal: Wal,
    cut_lock: tokio::sync::RwLock<()>,
    cut_serial: tokio::sync::Mutex<()>,
    state: std::sync::Mutex<State>,
}

/// A part of a trace found in an instance, read outside the lock.
pub(crate) enum TracePart {
    Live { bytes: Bytes, truncated: bool },
    Disk(TraceLocation),
}

impl Instance {
    /// Replays the tenant's WAL, then opens it for appends. Blocking: call on the blocking pool.
    ///
    /// Everything replayed is treated as complete and lands in the head block, which the caller
    /// should cut and flush at once.
    pub fn open(tenant: TenantId, dir: &Path, wal_config: &WalConfig) -> Result<(Instance, u64), IngesterError> {
        let wal_dir = dir.join("wal");
        let blocks_dir = dir.join("blocks");
        // Head files and half-built blocks are rebuildable from the WAL segments, which are only
        // deleted after their blocks are flushed.
        if blocks_dir.exists() {
            std::fs::remove_dir_all(&blocks_dir).map_err(|e| IngesterError::io("clearing old head blocks", e))?;
        }
        let mut live = LiveTraces::default();
        let mut head = HeadBlock::create(&blocks_dir).map_err(|e| IngesterError::io("creating head block", e))?;
        let mut failure = None;
        let mut replayed_spans = 0u64;
        let stats = replay(&wal_dir, |_segment, payload| {
            if failure.is_some() {
                return;
            }
            replayed_spans += apply_replayed(&mut live, payload);
            if live.bytes() > REPLAY_LIVE_BYTES {
                failure = move_to_head(&mut live, &mut head).err();
            }
        })?;
        if let Some(err) = failure.or_else(|| move_to_head(&mut live, &mut head).err()) {
            return Err(IngesterError::io("writing replayed traces to the head block", err));
        }
        metrics::REPLAYED_RECORDS.inc_by(stats.records);
        if stats.records > 0 {
            tracing::info!(tenant = %tenant, records = stats.records, bytes = stats.bytes, spans = replayed_spans,
                truncated_bytes = stats.truncated_bytes, "replayed wal");
        }
        let wal = Wal::open(&wal_dir, wal_config)?;
        let state = State { live, head, cut: Vec::new() };
        let instance = Instance {
            tenant,
            blocks_dir,
            wal,
            cut_lock: tokio::sync::RwLock::new(()),
            cut_serial: tokio::sync::Mutex::new(()),
            state: std::sync::Mutex::new(state),
        };
        Ok((instance, stats.records))
    }

    /// Makes a push durable, then visible. Spans past the per-trace size limit are refused and
    /// counted in the response; the trace keeps its first spans and is marked truncated.
    pub async fn push(&self, limits: &Limits, request: PushRequest) -> Result<PushResponse, IngesterError> {
        let _no_cut = self.cut_lock.read().await;
        let max_trace = limits.global.max_bytes_per_trace.bytes();
        let budgets = {
            let state = self.lock();
            let max_live = limits.ingestion.max_live_traces_bytes.bytes();
            if state.live.bytes() as u64 + request.size_bytes() as u64 > max_live {
                return Err(IngesterError::LiveTracesExceeded {
                    tenant: self.tenant.to_string(),
                    live_bytes: state.live.bytes(),
                    limit: max_live,
                });
            }
            request
                .traces
                .iter()
                .map(|entry| {
                    let held =
                        state.live.get(&entry.id).map_or(0, |t| t.bytes as u64) + state.head.trace_bytes(&entry.id);
                    max_trace.saturating_sub(held)
                })
                .collect::<Vec<u64>>()
        };

        let mut accepted = Vec::with_capacity(request.traces.len());
        let mut newly_truncated = Vec::new();
        let mut rejected_spans = 0u64;
        let mut used_in_request: std::collections::HashMap<TraceId, u64> = std::collections::HashMap::new();
        for (entry, budget) in request.traces.into_iter().zip(budgets) {
            let used = used_in_request.entry(entry.id).or_default();
            let budget = budget.saturating_sub(*used);
            if (entry.bytes.len() as u64) <= budget {
                *used += entry.bytes.len() as u64;
                accepted.push(entry);
                continue;
            }
            let id = entry.id;
            let total_spans = u64::from(entry.span_count);
            match truncate_to_budget(entry, budget) {
                Some(kept) => {
                    rejected_spans += total_spans - u64::from(kept.span_count);
                    *used += kept.bytes.len() as u64;
                    accepted.push(kept);
                }
                None => rejected_spans += total_spans,
            }
            newly_truncated.push(id);
        }

        if !accepted.is_empty() {
            let payload = encode_push_record(&accepted);
            metrics::WAL_BYTES.inc_by(payload.len() as u64);
            self.wal.append(payload).await?;
        }
        if !newly_truncated.is_empty() {
            self.wal.append(encode_truncated_record(&newly_truncated)).await?;
        }

        let accepted_spans: u64 = accepted.iter().map(|t| u64::from(t.span_count)).sum();
        {
            let mut state = self.lock();
            let now = Instant::now();
            let before = (state.live.len(), state.live.bytes());
            for entry in accepted {
                state.live.append(entry, now);
            }
            for id in &newly_truncated {
                state.live.mark_truncated(id);
            }
            update_live_gauges(before, (state.live.len(), state.live.bytes()));
        }
        metrics::SPANS_ACCEPTED.inc_by(accepted_spans);
        if rejected_spans > 0 {
            metrics::SPANS_DISCARDED.with_label_values(&["trace_too_large"]).inc_by(rejected_spans);
            return Ok(PushResponse {
                rejected_spans,
                error_message: Some(format!(
                    "TRACE_TOO_LARGE: {rejected_spans} spans refused: their traces exceed the maximum of {max_trace} bytes per trace; \
                     the first spans of those traces are kept"
                )),
            });
        }
        Ok(PushResponse::default())
    }

    /// Moves complete traces into the head block. Blocking IO: call on the blocking pool.
    ///
    /// The traces move in chunks, each under the lock (so a read finds every trace in the live
    /// set or in the head block, never in neither) but with the lock released in between: a
    /// sweep moves seconds of traffic at once, and holding the lock through all of it stalls
    /// every push, and with them the runtime threads that answer health checks.
    pub fn sweep(&self, idle: Duration, max_live: Duration) {
        let due = self.lock().live.complete_ids(Instant::now(), idle, max_live);
        for chunk in due.chunks(SWEEP_CHUNK_TRACES) {
            let mut state = self.lock();
            let before = (state.live.len(), state.live.bytes());
            let complete = state.live.take(chunk);
            let State { live, head, .. } = &mut *state;
            append_or_restore(complete, live, head, &self.tenant);
            update_live_gauges(before, (state.live.len(), state.live.bytes()));
        }
    }

    /// Whether the head block is due to be cut.
    pub fn head_is_due(&self, max_age: Duration, max_bytes: u64) -> bool {
        let state = self.lock();
        !state.head.is_empty() && (state.head.created.elapsed() >= max_age || state.head.bytes() >= max_bytes)
    }

    /// Cuts the head block (first moving every live trace into it when `everything` is set), and
    /// returns it for flushing; `None` when there is nothing to flush.
    pub async fn cut(self: &Arc<Self>, everything: bool) -> Result<Option<Arc<FrozenBlock>>, IngesterError> {
        let _one_cut_at_a_time = self.cut_serial.lock().await;
        if everything {
            // Move the bulk of the live traces first, in chunks on the blocking pool, so only
            // those pushed meanwhile are left to move while pushes are paused below.
            let instance = Arc::clone(self);
            strand_common::spawn_cpu(move || instance.sweep(Duration::ZERO, Duration::ZERO))
                .await
                .map_err(|e| IngesterError::Task(e.to_string()))?;
        }
        let (frozen, checkpoint) = {
            let _exclusive = self.cut_lock.write().await;
            let (frozen, checkpoint) = {
                let mut state = self.lock();
                if everything {
                    let before = (state.live.len(), state.live.bytes());
                    let all = state.live.take_all();
                    let State { live, head, .. } = &mut *state;
                    append_or_restore(all, live, head, &self.tenant);
                    update_live_gauges(before, (state.live.len(), state.live.bytes()));
                }
                if state.head.is_empty() {
                    return Ok(None);
                }
                let fresh =
                    HeadBlock::create(&self.blocks_dir).map_err(|e| IngesterError::io("creating head block", e))?;
                let old = std::mem::replace(&mut state.head, fresh);
                (Arc::new(old.freeze()), state.live.snapshot())
            };
            let wal_bound = self.wal.rotate().await?;
            self.lock().cut.push(CutBlock { block: Arc::clone(&frozen), wal_bound, flushed_at: None });
            (frozen, checkpoint)
        };
        // Pushes flow again; the checkpoint goes into the new segment beside them.
        self.write_checkpoint(checkpoint).await?;
        Ok(Some(frozen))
    }

    async fn write_checkpoint(&self, live: Vec<(TraceId, crate::live::LiveTrace)>) -> Result<(), IngesterError> {
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut truncated = Vec::new();
        for (id, trace) in live {
            if trace.truncated {
                truncated.push(id);
            }
            let bytes = join_segments(&trace.segments);
            batch_bytes += bytes.len();
            batch.push(TraceBytes { id, bytes, span_count: 0, start_unix_nano: 0, end_unix_nano: 0 });
            if batch_bytes >= CHECKPOINT_RECORD_BYTES {
                self.wal.append(encode_push_record(&std::mem::take(&mut batch))).await?;
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.wal.append(encode_push_record(&batch)).await?;
        }
        if !truncated.is_empty() {
            self.wal.append(encode_truncated_record(&truncated)).await?;
        }
        Ok(())
    }

    /// Records a successful flush and deletes the WAL segments no unflushed block still needs.
    pub fn mark_flushed(&self, block: strand_model::BlockId) -> Result<(), IngesterError> {
        let bound = {
            let mut state = self.lock();
            if let Some(cut) = state.cut.iter_mut().find(|c| c.block.id == block) {
                cut.flushed_at = Some(Instant::now());
            }
            // Blocks are kept in cut order; only a flushed prefix frees WAL segments.
            state.cut.iter().take_while(|c| c.flushed_at.is_some()).map(|c| c.wal_bound).last()
        };
        if let Some(bound) = bound {
            self.wal.delete_segments_before(bound)?;
        }
        Ok(())
    }

    /// Drops flushed blocks older than `keep`, deleting their head files.
    pub fn drop_flushed_older_than(&self, keep: Duration) {
        let expired: Vec<Arc<FrozenBlock>> = {
            let mut state = self.lock();
            let (expired, kept): (Vec<CutBlock>, Vec<CutBlock>) = std::mem::take(&mut state.cut)
                .into_iter()
                .partition(|c| c.flushed_at.is_some_and(|at| at.elapsed() >= keep));
            state.cut = kept;
            expired.into_iter().map(|c| c.block).collect()
        };
        for block in expired {
            block.remove_file();
        }
    }

    /// Where the parts of a trace are, in memory and on local disk.
    pub fn locate(&self, id: &TraceId) -> Vec<TracePart> {
        let state = self.lock();
        let mut parts = Vec::new();
        if let Some(live) = state.live.get(id) {
            parts.push(TracePart::Live { bytes: join_segments(&live.segments), truncated: live.truncated });
        }
        if let Some(location) = state.head.locate(id) {
            parts.push(TracePart::Disk(location));
        }
        parts.extend(state.cut.iter().filter_map(|c| c.block.locate(id)).map(TracePart::Disk));
        parts
    }

    /// Where the parts of every trace are: live traces, the head block and cut blocks (flushed
    /// ones only if their flush finished less than `flushed_within` ago), grouped by trace ID.
    pub fn locate_all(&self, flushed_within: Duration) -> HashMap<TraceId, Vec<TracePart>> {
        let state = self.lock();
        let mut parts: HashMap<TraceId, Vec<TracePart>> = HashMap::with_capacity(state.live.len());
        for (id, live) in state.live.iter() {
            let part = TracePart::Live { bytes: join_segments(&live.segments), truncated: live.truncated };
            parts.entry(*id).or_default().push(part);
        }
        let cut =
            state.cut.iter().filter(|c| c.flushed_at.is_none_or(|at| at.elapsed() < flushed_within)).map(|c| &c.block);
        let on_disk = state.head.locate_all().chain(cut.flat_map(|block| block.locate_all()));
        for (id, location) in on_disk {
            parts.entry(id).or_default().push(TracePart::Disk(location));
        }
        parts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving rather than cascade.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Appends traces to the head block. If the disk fails, the traces go back to the live map
/// (they are still in the WAL) and the failure is logged; the next sweep tries again.
/// Traces moved to the head block per hold of the instance lock during a sweep: about a
/// millisecond of appends, so pushes wait at most that long.
const SWEEP_CHUNK_TRACES: usize = 256;

fn append_or_restore(
    traces: Vec<(TraceId, crate::live::LiveTrace)>,
    live: &mut LiveTraces,
    head: &mut HeadBlock,
    tenant: &TenantId,
) {
    let mut remaining = traces.into_iter();
    for (id, trace) in remaining.by_ref() {
        if let Err(err) = head.append(id, &trace.segments, trace.truncated) {
            tracing::error!(tenant = %tenant, error = %err, "cannot write to head block; keeping traces in memory");
            restore(live, id, trace);
            for (id, trace) in remaining {
                restore(live, id, trace);
            }
            return;
        }
    }
}

fn restore(live: &mut LiveTraces, id: TraceId, trace: crate::live::LiveTrace) {
    let truncated = trace.truncated;
    let now = Instant::now();
    for segment in trace.segments {
        live.append(TraceBytes { id, bytes: segment, span_count: 0, start_unix_nano: 0, end_unix_nano: 0 }, now);
    }
    if truncated {
        live.mark_truncated(&id);
    }
}

fn move_to_head(live: &mut LiveTraces, head: &mut HeadBlock) -> std::io::Result<()> {
    for (id, trace) in live.take_all() {
        head.append(id, &trace.segments, trace.truncated)?;
    }
    Ok(())
}

/// Applies one replayed WAL record; returns the spans it held.
fn apply_replayed(live: &mut LiveTraces, payload: Bytes) -> u64 {
    let now = Instant::now();
    match payload.first() {
        Some(&RECORD_PUSH) => match decode_push_record(payload) {
            Ok(traces) => traces
                .into_iter()
                .map(|entry| {
                    let spans = u64::from(entry.span_count);
                    live.append(entry, now);
                    spans
                })
                .sum(),
            Err(err) => {
                tracing::warn!(error = %err, "skipping undecodable wal record");
                0
            }
        },
        Some(&RECORD_TRUNCATED) => {
            for id in decode_truncated_record(payload) {
                live.mark_truncated(&id);
            }
            0
        }
        other => {
            tracing::warn!(kind = ?other, "skipping wal record of unknown kind");
            0
        }
    }
}

fn encode_truncated_record(ids: &[TraceId]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + ids.len() * 16);
    out.put_u8(RECORD_TRUNCATED);
    out.put_u32_le(ids.len() as u32);
    for id in ids {
        out.put_slice(id.as_bytes());
    }
    out.freeze()
}

fn decode_truncated_record(mut payload: Bytes) -> Vec<TraceId> {
    if payload.len() < 5 {
        return Vec::new();
    }
    payload.advance(1);
    let count = payload.get_u32_le() as usize;
    payload.chunks_exact(16).take(count).filter_map(|chunk| TraceId::from_bytes(chunk).ok()).collect()
}

fn update_live_gauges(before: (usize, usize), after: (usize, usize)) {
    metrics::LIVE_TRACES.add(after.0 as i64 - before.0 as i64);
    metrics::LIVE_BYTES.add(after.1 as i64 - before.1 as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_markers_round_trip() {
        let ids = vec![TraceId([1; 16]), TraceId([2; 16])];
        assert_eq!(decode_truncated_record(encode_truncated_record(&ids)), ids);
        assert!(decode_truncated_record(Bytes::from_static(&[2, 9])).is_empty());
    }
}
