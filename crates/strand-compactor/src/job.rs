//! Running one compaction, in the order that keeps every trace readable.
//!
//! 1. Merge the inputs into a local file and upload it as a new block, `meta.json` last
//!    (`upload_block`). From here on readers that see the new block find every trace in it.
//! 2. Retire each input: `meta.compacted.json`, then delete `meta.json`. Listings stop counting
//!    it as live, but its data stays for `compacted_block_retention`.
//! 3. (The tenant pass) rebuild the tenant index: the new block in, the inputs out.
//!
//! A crash (or cancellation) after any step leaves storage readable:
//! - during 1: a folder without `meta.json`, invisible to readers; the inputs are untouched. The
//!   folder is deleted as abandoned an hour later.
//! - between 1 and 2, or part-way through 2: the merged block and some inputs are both live.
//!   Readers combine and deduplicate what they read twice; the next cycle merges the merged
//!   block with the remaining inputs (their windows are the same), which is correct, only
//!   wasted work.
//! - between 2 and 3: the index still lists the inputs, whose data is still there; the next
//!   index rebuild (this compactor's or a blocklist poller's) swaps them for the merged block.
//!
//! So a trace is at every moment in a block that readers' blocklists list and whose data exists,
//! as long as readers refresh their blocklist within `compacted_block_retention`.

use std::path::Path;
use std::time::Instant;

use strand_backend::BlockMeta;
use strand_common::spawn_cpu;
use strand_encoding::{compact_blocks, upload_block};
use strand_model::{BlockId, TenantId};

use crate::compactor::Settings;
use crate::error::CompactorError;
use crate::metrics;
use crate::plan::Job;

/// What a compaction committed.
pub(crate) struct Outcome {
    /// The merged block; `None` when the inputs held no trace at all.
    pub(crate) output: Option<BlockMeta>,
    /// Spans read from the inputs.
    pub(crate) spans_in: u64,
    /// Spans written.
    pub(crate) spans_out: u64,
}

/// Runs `job`. `Ok(None)` means the window moved to another compactor before the commit, and
/// nothing was changed.
#[tracing::instrument(skip_all, fields(tenant = %tenant.as_str(), window = job.window, inputs = job.inputs.len()))]
pub(crate) async fn run(
    settings: &Settings,
    tenant: &TenantId,
    job: &Job,
    now_unix_nano: u64,
) -> Result<Option<Outcome>, CompactorError> {
    let started = Instant::now();
    let work_dir = settings.work_dir.clone();
    let (local, file) = spawn_cpu(move || {
        let local = tempfile::Builder::new().prefix("strand-compaction-").suffix(".parquet").tempfile_in(work_dir)?;
        let file = local.reopen()?;
        Ok::<_, std::io::Error>((local, file))
    })
    .await??;
    let result = merge_and_commit(settings, tenant, job, local.path(), file, now_unix_nano).await;
    // The local copy goes whatever happened; removing it is file IO, so off the runtime.
    if let Err(err) = spawn_cpu(move || local.close()).await? {
        tracing::warn!(error = %err, "could not remove the local compaction file");
    }
    if let Ok(Some(_)) = &result {
        metrics::COMPACTION_DURATION.observe(started.elapsed().as_secs_f64());
    }
    result
}

async fn merge_and_commit(
    settings: &Settings,
    tenant: &TenantId,
    job: &Job,
    path: &Path,
    file: std::fs::File,
    now_unix_nano: u64,
) -> Result<Option<Outcome>, CompactorError> {
    let backend = &settings.backend;
    let written = compact_blocks(backend, &job.inputs, &settings.block_config, file).await?;
    // A ring change may have handed the window to another compactor while this one merged. The
    // new owner merges the same inputs; committing both would only store the traces twice.
    if !(settings.owns)(tenant, job.window) {
        tracing::info!("window changed owner during compaction; dropping the merged block");
        return Ok(None);
    }
    let output = if written.total_traces > 0 {
        let level = job.inputs.iter().map(|m| m.compaction_level).max().unwrap_or_default() + 1;
        Some(upload_block(backend, tenant, BlockId::new_random(), path, &written, level).await?)
    } else {
        None
    };
    // Only once the merged block is live may the inputs stop being live.
    let compacted_time = now_unix_nano / 1_000_000_000;
    for input in &job.inputs {
        backend.mark_block_compacted(input, compacted_time).await?;
    }
    let spans_in: u64 = job.inputs.iter().map(|m| m.total_spans).sum();
    metrics::COMPACTIONS.inc();
    metrics::COMPACTED_BLOCKS.inc_by(job.inputs.len() as u64);
    metrics::SPANS.with_label_values(&["in"]).inc_by(spans_in);
    metrics::SPANS.with_label_values(&["out"]).inc_by(written.total_spans);
    tracing::info!(
        block = ?output.as_ref().map(|m| m.block_id),
        spans_in,
        spans_out = written.total_spans,
        "compacted"
    );
    Ok(Some(Outcome { output, spans_in, spans_out: written.total_spans }))
}
