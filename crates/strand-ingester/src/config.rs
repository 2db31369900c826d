use serde::{Deserialize, Serialize};
use strand_common::{Duration, Size};
use strand_ring::RingConfig;

/// The `ingester` config section, with Tempo's key names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// A trace with no new spans for this long is complete and moves to the head block.
    pub trace_idle_period: Duration,
    /// A trace still receiving spans after this long is moved to the head block anyway, so
    /// long-running traces reach storage; later spans start a new part, merged at read time.
    pub trace_live_period: Duration,
    /// How often live traces are swept and head blocks checked for cutting.
    pub flush_check_period: Duration,
    /// A head block older than this is cut and flushed.
    pub max_block_duration: Duration,
    /// A head block larger than this (encoded trace bytes) is cut and flushed.
    pub max_block_bytes: Size,
    /// How long a flushed block stays readable in the ingester, covering queriers whose
    /// blocklist has not caught up yet. Keep it above twice the blocklist poll period.
    pub complete_block_timeout: Duration,
    /// Blocks built and uploaded at the same time.
    pub concurrent_flushes: usize,
    /// Delay before retrying a failed flush; doubles up to a minute. Failed flushes are retried
    /// forever: their data stays in the WAL until they succeed.
    pub flush_retry_backoff: Duration,
    /// Where this ingester sits in a cluster: the ring the distributors write through. Ignored
    /// by the single binary, whose only ingester takes every trace.
    pub lifecycler: LifecyclerConfig,
}

/// `ingester.lifecycler`, with Tempo's key names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclerConfig {
    /// The ingesters' ring: members and replication factor. Distributors and queriers read it.
    pub ring: RingConfig,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            trace_idle_period: Duration::secs(5),
            trace_live_period: Duration::secs(30),
            flush_check_period: Duration::secs(10),
            max_block_duration: Duration::secs(30 * 60),
            max_block_bytes: Size::mib(500),
            complete_block_timeout: Duration::secs(15 * 60),
            concurrent_flushes: 2,
            flush_retry_backoff: Duration::secs(1),
            lifecycler: LifecyclerConfig::default(),
        }
    }
}

impl IngesterConfig {
    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_check_period.get().is_zero() {
            return Err("ingester.flush_check_period must be above 0".into());
        }
        if self.concurrent_flushes == 0 {
            return Err("ingester.concurrent_flushes must be at least 1".into());
        }
        if self.max_block_bytes.bytes() == 0 {
            return Err("ingester.max_block_bytes must be above 0".into());
        }
        self.lifecycler.ring.validate("ingester.lifecycler.ring")
    }
}
