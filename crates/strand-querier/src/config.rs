use serde::{Deserialize, Serialize};
use strand_common::Duration;

/// The `querier` config section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// Trace-by-ID settings.
    pub trace_by_id: TraceByIdConfig,
    /// Blocks read at the same time for one request.
    pub max_concurrent_block_reads: usize,
    /// Blocks whose filter and Parquet metadata are cached in memory.
    pub block_metadata_cache_entries: usize,
}

impl Default for QuerierConfig {
    fn default() -> Self {
        QuerierConfig {
            trace_by_id: TraceByIdConfig::default(),
            max_concurrent_block_reads: 32,
            block_metadata_cache_entries: 4096,
        }
    }
}

/// `querier.trace_by_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceByIdConfig {
    /// How long one lookup may take before it fails with a retryable error.
    pub query_timeout: Duration,
}

impl Default for TraceByIdConfig {
    fn default() -> Self {
        TraceByIdConfig { query_timeout: Duration::secs(10) }
    }
}

impl QuerierConfig {
    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent_block_reads == 0 {
            return Err("querier.max_concurrent_block_reads must be at least 1".into());
        }
        Ok(())
    }
}
