use serde::{Deserialize, Serialize};
use strand_common::{Duration, Size};
use strand_ring::RingConfig;

/// The `compactor` config section, shaped like Tempo's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// Runs no compaction and no retention in this process. For the single binary when blocks
    /// must stay as flushed (benchmarks of the block layout); a `compactor` target ignores it.
    pub disabled: bool,
    /// What to merge, when, and how long to keep blocks.
    pub compaction: CompactionConfig,
    /// With several compactors: all of them (their internal gRPC addresses, or a `dns+`
    /// headless service). Each (tenant, window) belongs to one healthy member of this ring.
    /// Empty: this compactor does all the work.
    pub ring: RingConfig,
    /// This compactor's own entry in `ring.members` (for a `dns+` entry: its `ip:port`, e.g.
    /// `$(POD_IP):9095` from the environment). Required when `ring.members` is set.
    pub instance_id: String,
}

impl CompactorConfig {
    /// Rejects settings that cannot work, with the key to fix.
    pub fn validate(&self) -> Result<(), String> {
        self.compaction.validate()?;
        self.ring.validate("compactor.ring")?;
        if !self.ring.members.is_empty() && self.instance_id.trim().is_empty() {
            return Err("compactor.instance_id must name this compactor's entry in compactor.ring.members".into());
        }
        Ok(())
    }
}

/// `compactor.compaction`, with Tempo's key names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionConfig {
    /// How long blocks are kept, unless a tenant's `compaction.block_retention` override says
    /// otherwise. A block goes once its end is older than this.
    pub block_retention: Duration,
    /// How long a compacted (or expired) block's data stays after it stopped being live, for
    /// queriers whose blocklist predates the change. Keep it above twice
    /// `storage.trace.blocklist_poll`.
    pub compacted_block_retention: Duration,
    /// Blocks are grouped by the window their start falls in; only blocks of one window are
    /// merged together, so a window is also the unit that compactors split between them.
    pub compaction_window: Duration,
    /// Most traces in a block compaction produces (estimated as the inputs' sum).
    pub max_compaction_objects: u64,
    /// Largest `data.parquet` compaction produces (estimated as the inputs' sum).
    pub max_block_bytes: Size,
    /// Most blocks merged in one compaction.
    pub max_input_blocks: usize,
    /// How often the compactor makes a pass over every tenant.
    pub compaction_cycle: Duration,
    /// Tenants whose retention and deletions run at the same time.
    pub retention_concurrency: usize,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            block_retention: Duration::secs(14 * 24 * 3600),
            compacted_block_retention: Duration::secs(3600),
            compaction_window: Duration::secs(3600),
            max_compaction_objects: 6_000_000,
            max_block_bytes: Size(100 << 30),
            max_input_blocks: 8,
            compaction_cycle: Duration::secs(30),
            retention_concurrency: 10,
        }
    }
}

impl CompactionConfig {
    /// Rejects settings that cannot work, with the key to fix.
    pub fn validate(&self) -> Result<(), String> {
        let key = |name: &str| format!("compactor.compaction.{name}");
        if self.block_retention.get().is_zero() {
            return Err(format!("{} must be above 0", key("block_retention")));
        }
        if self.compacted_block_retention.get().is_zero() {
            // Zero would delete data that queriers with a slightly stale blocklist still read.
            return Err(format!(
                "{} must be above 0 (keep it above twice storage.trace.blocklist_poll)",
                key("compacted_block_retention")
            ));
        }
        if self.compaction_window.get().as_secs() == 0 {
            return Err(format!("{} must be at least 1s", key("compaction_window")));
        }
        if self.max_compaction_objects == 0 {
            return Err(format!("{} must be above 0", key("max_compaction_objects")));
        }
        if self.max_block_bytes.bytes() == 0 {
            return Err(format!("{} must be above 0", key("max_block_bytes")));
        }
        if self.max_input_blocks < 2 {
            return Err(format!("{} must be at least 2: compaction merges blocks", key("max_input_blocks")));
        }
        if self.compaction_cycle.get().is_zero() {
            return Err(format!("{} must be above 0", key("compaction_cycle")));
        }
        if self.retention_concurrency == 0 {
            return Err(format!("{} must be at least 1", key("retention_concurrency")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_tempos_and_valid() {
        let config = CompactorConfig::default();
        assert_eq!(config.compaction.block_retention, "336h".parse().unwrap());
        assert_eq!(config.compaction.compacted_block_retention, Duration::secs(3600));
        assert_eq!(config.compaction.max_block_bytes, "100GiB".parse().unwrap());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn tempos_keys_parse_and_unknown_ones_are_named() {
        let yaml = "compaction:\n  block_retention: 48h\n  compacted_block_retention: 10m\n  compaction_window: 30m\n  \
                    max_compaction_objects: 1000\n  max_block_bytes: 1GiB\n  max_input_blocks: 4\n  \
                    compaction_cycle: 10s\n  retention_concurrency: 2\n";
        let config: CompactorConfig = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(config.compaction.block_retention, Duration::secs(48 * 3600));
        assert_eq!(config.compaction.compaction_window, Duration::secs(1800));
        assert_eq!(config.compaction.max_input_blocks, 4);
        assert!(config.validate().is_ok());
        let err = serde_yaml::from_str::<CompactorConfig>("compaction: { v2_in_buffer_bytes: 5 }").unwrap_err();
        assert!(err.to_string().contains("v2_in_buffer_bytes"), "{err}");
    }

    #[test]
    fn impossible_values_name_their_key() {
        let with = |change: fn(&mut CompactionConfig)| {
            let mut config = CompactionConfig::default();
            change(&mut config);
            config.validate().unwrap_err()
        };
        assert!(with(|c| c.max_input_blocks = 1).contains("max_input_blocks"));
        assert!(with(|c| c.compaction_window = Duration::millis(500)).contains("compaction_window"));
        assert!(with(|c| c.compacted_block_retention = Duration::secs(0)).contains("blocklist_poll"));
        assert!(with(|c| c.retention_concurrency = 0).contains("retention_concurrency"));
    }
}
