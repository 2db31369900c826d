//! One tenant's share of a pass: housekeeping (index repair, retention, deletions), then
//! compaction, the byte budget, and a final index rebuild.

use std::collections::HashSet;

use strand_backend::{BlockFolder, BlockMeta};
use strand_model::{BlockId, TenantId};

use crate::compactor::{CycleReport, Settings};
use crate::error::CompactorError;
use crate::plan::{self, window_of};
use crate::{job, metrics, retention};

/// A folder with neither `meta.json` nor `meta.compacted.json` whose newest object is older than
/// this was left by an upload that died: uploads write `meta.json` seconds after their data
/// object lands (multipart uploads only appear in listings once complete).
const ABANDONED_AFTER_SECS: u64 = 3600;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Why retention retired a block, the `reason` label.
#[derive(Clone, Copy)]
enum Retirement {
    Age,
    Bytes,
}

pub(crate) struct TenantPass<'a> {
    settings: &'a Settings,
    tenant: TenantId,
    /// Fixed for the whole pass, so every decision in it sees the same time.
    now_unix_nano: u64,
    /// Live blocks as this pass left them; `None` when housekeeping could not list them.
    live: Option<Vec<BlockMeta>>,
    /// Something changed which blocks are live: the index needs a rebuild at the end.
    changed: bool,
    report: CycleReport,
}

impl<'a> TenantPass<'a> {
    pub(crate) fn new(settings: &'a Settings, tenant: TenantId) -> TenantPass<'a> {
        let now_unix_nano = settings.now_unix_nano();
        let report = CycleReport { tenants: 1, ..CycleReport::default() };
        TenantPass { settings, tenant, now_unix_nano, live: None, changed: false, report }
    }

    pub(crate) fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub(crate) fn report(&self) -> &CycleReport {
        &self.report
    }

    fn window_secs(&self) -> u64 {
        self.settings.config.compaction_window.get().as_secs().max(1)
    }

    /// Whether this compactor owns the window a block starting at `start_unix_nano` falls in.
    fn owns(&self, start_unix_nano: u64) -> bool {
        (self.settings.owns)(&self.tenant, window_of(start_unix_nano, self.window_secs()))
    }

    fn fail(&mut self, what: &str, err: &CompactorError) {
        self.report.failures += 1;
        metrics::FAILURES.inc();
        tracing::warn!(tenant = %self.tenant.as_str(), error = %err, "{what} failed; retrying next cycle");
    }

    /// Repairs the index, retires blocks past retention, deletes retired blocks past the grace
    /// period and abandoned folders.
    #[tracing::instrument(skip_all, fields(tenant = %self.tenant.as_str()))]
    pub(crate) async fn housekeeping(&mut self) {
        let backend = &self.settings.backend;
        let listed = async {
            Ok::<_, CompactorError>((
                backend.list_block_folders(&self.tenant).await?,
                backend.rebuild_tenant_index(&self.tenant).await?,
            ))
        };
        let (folders, index) = match listed.await {
            Ok(listed) => listed,
            Err(err) => return self.fail("listing blocks", &err),
        };
        let mut live = index.metas;

        let limits = &self.settings.overrides.limits(&self.tenant).compaction;
        let retention = if limits.block_retention.get().is_zero() {
            self.settings.config.block_retention
        } else {
            limits.block_retention
        };
        let retention_nanos = u64::try_from(retention.get().as_nanos()).unwrap_or(u64::MAX);
        let cutoff = self.now_unix_nano.saturating_sub(retention_nanos);
        let mut retired = HashSet::new();
        for meta in retention::expired(&live, cutoff) {
            if self.owns(meta.start_unix_nano) && self.retire(&meta, Retirement::Age).await {
                retired.insert(meta.block_id);
            }
        }
        live.retain(|meta| !retired.contains(&meta.block_id));
        self.live = Some(live);

        for folder in folders.iter().filter(|folder| !folder.live) {
            let result = match folder.compacted_at {
                Some(at) => self.delete_if_past_grace(folder, at).await,
                None => self.delete_if_abandoned(folder).await,
            };
            if let Err(err) = result {
                self.fail("deleting a block folder", &err);
            }
        }
    }

    async fn delete_if_past_grace(&mut self, folder: &BlockFolder, compacted_at: u64) -> Result<(), CompactorError> {
        let grace = u64::try_from(self.settings.config.compacted_block_retention.get().as_nanos()).unwrap_or(u64::MAX);
        if compacted_at.saturating_mul(NANOS_PER_SEC).saturating_add(grace) > self.now_unix_nano {
            return Ok(());
        }
        let backend = &self.settings.backend;
        // Read only now, once per block: the owner is the owner of the block's own window.
        let start = match backend.read_compacted_block_meta(&self.tenant, folder.block_id).await? {
            Some(compacted) => compacted.meta.start_unix_nano,
            None => folder.last_modified.saturating_mul(NANOS_PER_SEC),
        };
        if !self.owns(start) {
            return Ok(());
        }
        backend.delete_block(&self.tenant, folder.block_id).await?;
        self.report.compacted_deleted += 1;
        metrics::DELETED_BLOCKS.with_label_values(&["compacted"]).inc();
        Ok(())
    }

    async fn delete_if_abandoned(&mut self, folder: &BlockFolder) -> Result<(), CompactorError> {
        let abandoned_since = folder.last_modified.saturating_add(ABANDONED_AFTER_SECS);
        // Without a meta there is no block window; the time of the last write picks one owner.
        let last_write = folder.last_modified.saturating_mul(NANOS_PER_SEC);
        if abandoned_since.saturating_mul(NANOS_PER_SEC) > self.now_unix_nano || !self.owns(last_write) {
            return Ok(());
        }
        tracing::info!(tenant = %self.tenant.as_str(), block = %folder.block_id, "deleting a folder an interrupted upload left");
        self.settings.backend.delete_block(&self.tenant, folder.block_id).await?;
        self.report.abandoned_deleted += 1;
        metrics::DELETED_BLOCKS.with_label_values(&["abandoned"]).inc();
        Ok(())
    }

    /// Retires a live block; its data is deleted after the grace period. False if that failed.
    async fn retire(&mut self, meta: &BlockMeta, why: Retirement) -> bool {
        let compacted_time = self.now_unix_nano / NANOS_PER_SEC;
        if let Err(err) = self.settings.backend.mark_block_compacted(meta, compacted_time).await {
            self.fail("retiring a block", &err.into());
            return false;
        }
        self.changed = true;
        let reason = match why {
            Retirement::Age => {
                self.report.retention_deleted += 1;
                "age"
            }
            Retirement::Bytes => {
                self.report.budget_deleted += 1;
                "bytes"
            }
        };
        metrics::RETIRED_BLOCKS.with_label_values(&[reason]).inc();
        tracing::info!(tenant = %self.tenant.as_str(), block = %meta.block_id, reason, "retention retired a block");
        true
    }

    /// Runs the compactions of the windows this compactor owns.
    #[tracing::instrument(skip_all, fields(tenant = %self.tenant.as_str()))]
    pub(crate) async fn compact(&mut self) {
        let Some(live) = self.live.as_ref() else { return };
        let settings = self.settings;
        let now_secs = self.now_unix_nano / NANOS_PER_SEC;
        let jobs = plan::plan(live, &settings.config, now_secs, |window| (settings.owns)(&self.tenant, window));
        for job in jobs {
            match job::run(settings, &self.tenant, &job, self.now_unix_nano).await {
                Ok(Some(outcome)) => {
                    self.changed = true;
                    let inputs: HashSet<BlockId> = job.inputs.iter().map(|m| m.block_id).collect();
                    if let Some(live) = self.live.as_mut() {
                        live.retain(|meta| !inputs.contains(&meta.block_id));
                        live.extend(outcome.output.clone());
                    }
                    self.report.compactions += 1;
                    self.report.input_blocks += job.inputs.len() as u64;
                    self.report.output_blocks += u64::from(outcome.output.is_some());
                    self.report.spans_in += outcome.spans_in;
                    self.report.spans_out += outcome.spans_out;
                }
                Ok(None) => {}
                Err(err) => {
                    // The merged block may have gone live before the failure.
                    self.changed = true;
                    self.fail("compaction", &err);
                }
            }
        }
    }

    /// Retires the tenant's oldest blocks while its live blocks exceed its byte budget.
    pub(crate) async fn enforce_byte_budget(&mut self) {
        let budget = self.settings.overrides.limits(&self.tenant).compaction.max_stored_bytes.bytes();
        let Some(live) = self.live.as_ref() else { return };
        if budget == 0 {
            return;
        }
        let mut retired = HashSet::new();
        for meta in retention::over_budget(live, budget) {
            if self.owns(meta.start_unix_nano) && self.retire(&meta, Retirement::Bytes).await {
                retired.insert(meta.block_id);
            }
        }
        if let Some(live) = self.live.as_mut() {
            live.retain(|meta| !retired.contains(&meta.block_id));
        }
    }

    /// Rebuilds the index if this pass changed which blocks are live, so readers switch over
    /// now rather than at the next pass.
    pub(crate) async fn finish(&mut self) {
        if !self.changed {
            return;
        }
        if let Err(err) = self.settings.backend.rebuild_tenant_index(&self.tenant).await {
            self.fail("rebuilding the tenant index", &err.into());
        }
    }
}
