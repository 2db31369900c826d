use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use strand_backend::Backend;
use strand_common::CancellationToken;
use strand_encoding::BlockConfig;
use strand_model::TenantId;
use strand_overrides::Overrides;

use crate::config::{CompactionConfig, CompactorConfig};
use crate::error::CompactorError;
use crate::metrics;
use crate::tenant::TenantPass;

/// Decides which compactor owns a (tenant, window start in Unix seconds). The single binary
/// passes "always true"; a cluster passes a ring lookup of a hash of the pair, so every window
/// has exactly one owner while the ring is stable.
pub type Ownership = Arc<dyn Fn(&TenantId, u64) -> bool + Send + Sync>;

/// The compactor's idea of now. Tests move it forward instead of sleeping.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// What one pass did, summed over tenants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Tenants visited.
    pub tenants: u64,
    /// Compactions whose merged block went live.
    pub compactions: u64,
    /// Blocks merged and retired by those compactions.
    pub input_blocks: u64,
    /// Merged blocks written.
    pub output_blocks: u64,
    /// Spans in the input blocks.
    pub spans_in: u64,
    /// Spans in the merged blocks: `spans_in` minus the copies replication had stored.
    pub spans_out: u64,
    /// Live blocks retired because their end is past the tenant's retention.
    pub retention_deleted: u64,
    /// Live blocks retired because the tenant was over its byte budget.
    pub budget_deleted: u64,
    /// Retired block folders deleted once `compacted_block_retention` had passed.
    pub compacted_deleted: u64,
    /// Folders an interrupted upload left without any meta, deleted.
    pub abandoned_deleted: u64,
    /// Steps that failed (logged, counted in `strand_compactor_failures_total`, retried next
    /// cycle).
    pub failures: u64,
}

impl CycleReport {
    /// Adds `other`'s counts to this one's.
    pub fn add(&mut self, other: &CycleReport) {
        self.tenants += other.tenants;
        self.compactions += other.compactions;
        self.input_blocks += other.input_blocks;
        self.output_blocks += other.output_blocks;
        self.spans_in += other.spans_in;
        self.spans_out += other.spans_out;
        self.retention_deleted += other.retention_deleted;
        self.budget_deleted += other.budget_deleted;
        self.compacted_deleted += other.compacted_deleted;
        self.abandoned_deleted += other.abandoned_deleted;
        self.failures += other.failures;
    }

    /// Whether the pass changed anything in object storage besides the tenant indexes.
    pub fn changed_anything(&self) -> bool {
        self.compactions
            + self.retention_deleted
            + self.budget_deleted
            + self.compacted_deleted
            + self.abandoned_deleted
            > 0
    }
}

/// Merges blocks, applies retention and deletes retired blocks; see the crate docs.
pub struct Compactor {
    pub(crate) settings: Settings,
}

/// Everything a pass needs, shared by the tenant passes.
pub(crate) struct Settings {
    pub(crate) config: CompactionConfig,
    pub(crate) backend: Backend,
    pub(crate) overrides: Arc<Overrides>,
    pub(crate) owns: Ownership,
    pub(crate) block_config: BlockConfig,
    pub(crate) work_dir: PathBuf,
    pub(crate) clock: Clock,
}

impl Settings {
    /// Now, in Unix nanoseconds by the compactor's clock.
    pub(crate) fn now_unix_nano(&self) -> u64 {
        let since_epoch = (self.clock)().duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Compactor {
    /// A compactor over `backend`. Merged blocks are built with the default block layout in the
    /// system's temporary folder; see [`Compactor::with_block_config`] and
    /// [`Compactor::with_work_dir`].
    pub fn new(config: CompactorConfig, backend: Backend, overrides: Arc<Overrides>, owns: Ownership) -> Compactor {
        Compactor {
            settings: Settings {
                config: config.compaction,
                backend,
                overrides,
                owns,
                block_config: BlockConfig::default(),
                work_dir: std::env::temp_dir(),
                clock: Arc::new(SystemTime::now),
            },
        }
    }

    /// Builds merged blocks with `config` (`storage.trace.block`), as the ingesters build theirs.
    pub fn with_block_config(mut self, config: BlockConfig) -> Compactor {
        self.settings.block_config = config;
        self
    }

    /// Builds merged blocks in `dir` before uploading them. It needs room for the largest
    /// block a compaction may produce (`max_block_bytes`).
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Compactor {
        self.settings.work_dir = dir.into();
        self
    }

    /// Replaces the wall clock, for tests that need time to pass.
    pub fn with_clock(mut self, clock: Clock) -> Compactor {
        self.settings.clock = clock;
        self
    }

    /// One pass over every tenant: rebuild its index (repairing racy ingester updates), retire
    /// blocks past retention, delete retired blocks past the grace period, compact the windows
    /// this compactor owns, enforce the byte budget, and rebuild the index again if anything
    /// changed. A failure in one tenant or one compaction is logged and counted, and the pass
    /// goes on; only failing to list the tenants fails the pass.
    #[tracing::instrument(skip_all)]
    pub async fn run_once(&self) -> Result<CycleReport, CompactorError> {
        let settings = &self.settings;
        let tenants = settings.backend.list_tenants().await?;
        // Retention and deletions are mostly waiting on object storage: run tenants side by side.
        let mut passes: Vec<TenantPass<'_>> = futures::stream::iter(tenants)
            .map(|tenant| async move {
                let mut pass = TenantPass::new(settings, tenant);
                pass.housekeeping().await;
                pass
            })
            .buffer_unordered(settings.config.retention_concurrency.max(1))
            .collect()
            .await;
        // Compactions are CPU-bound and memory-hungry: one at a time.
        passes.sort_by(|a, b| a.tenant().cmp(b.tenant()));
        let mut report = CycleReport::default();
        for mut pass in passes {
            pass.compact().await;
            pass.enforce_byte_budget().await;
            pass.finish().await;
            report.add(pass.report());
        }
        Ok(report)
    }

    /// Runs [`Compactor::run_once`] every `compaction_cycle` until `cancel` fires. Failures are
    /// logged and counted, and retried on the next cycle.
    pub async fn run(self, cancel: CancellationToken) {
        let mut ticks = tokio::time::interval(self.settings.config.compaction_cycle.get());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // Stopping mid-pass is safe: every step leaves storage readable (docs/compaction.md).
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                result = self.run_once() => result,
            };
            match result {
                Ok(report) if report.changed_anything() || report.failures > 0 => {
                    tracing::info!(?report, "compaction cycle done");
                }
                Ok(_) => {}
                Err(err) => {
                    metrics::FAILURES.inc();
                    tracing::warn!(error = %err, "compaction cycle failed");
                }
            }
        }
    }
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor")
            .field("config", &self.settings.config)
            .field("work_dir", &self.settings.work_dir)
            .finish_non_exhaustive()
    }
}
