use serde::{Deserialize, Serialize};
use strand_common::{Duration, Size};

/// `storage.trace.wal`: where the WAL lives and how it trades latency for durability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    /// The folder holding the WAL; the ingester keeps one subfolder per tenant under it.
    pub path: String,
    /// Sync every group of records to disk before acknowledging it. With `false`, records are
    /// handed to the operating system before the acknowledgement: they survive a crash of
    /// strand, not a power loss (Tempo's behaviour).
    pub fsync: bool,
    /// `0` (the default) groups adaptively: everything that queued up while the previous group
    /// was being synced forms the next group, so a lone push pays one sync and a burst shares
    /// one. Above zero, a group waits up to this long after its first record to gather more,
    /// trading push latency for fewer syncs on disks where a sync is slow.
    pub group_commit_interval: Duration,
    /// A new segment file is started once the current one holds this many bytes.
    pub segment_size: Size,
    /// The most record bytes queued for the writer at once; appends beyond it wait, which pushes
    /// back on the clients instead of growing memory when the disk is slower than the ingest.
    pub max_pending_bytes: Size,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            path: "./data/wal".to_string(),
            fsync: true,
            group_commit_interval: Duration::millis(0),
            segment_size: Size::mib(128),
            max_pending_bytes: Size::mib(64),
        }
    }
}

impl WalConfig {
    /// Checks the settings, with messages that name the field to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.path.trim().is_empty() {
            return Err("storage.trace.wal.path must not be empty".to_string());
        }
        if self.segment_size.bytes() == 0 {
            return Err("storage.trace.wal.segment_size must be above zero, for example 128MiB".to_string());
        }
        if self.max_pending_bytes.bytes() == 0 {
            return Err("storage.trace.wal.max_pending_bytes must be above zero, for example 64MiB".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_durable_and_adaptive() {
        let config = WalConfig::default();
        assert_eq!(config.path, "./data/wal");
        assert!(config.fsync);
        assert!(config.group_commit_interval.get().is_zero());
        assert_eq!(config.segment_size, Size(128 * 1024 * 1024));
        assert_eq!(config.max_pending_bytes, Size(64 * 1024 * 1024));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn reads_human_units_and_keeps_defaults_for_missing_fields() {
        let config: WalConfig =
            serde_json::from_str(r#"{"fsync": false, "group_commit_interval": "5ms", "segment_size": "1MiB"}"#)
                .unwrap();
        assert!(!config.fsync);
        assert_eq!(config.group_commit_interval, Duration::millis(5));
        assert_eq!(config.segment_size, Size::mib(1));
        assert_eq!(config.max_pending_bytes, Size::mib(64));
        assert_eq!(config.path, "./data/wal");
    }

    #[test]
    fn rejects_unknown_fields() {
        let err = serde_json::from_str::<WalConfig>(r#"{"fsnyc": false}"#).unwrap_err();
        assert!(err.to_string().contains("fsnyc"), "{err}");
    }

    #[test]
    fn validate_names_the_field() {
        let config = WalConfig { segment_size: Size(0), ..WalConfig::default() };
        assert!(config.validate().unwrap_err().contains("segment_size"));
        let config = WalConfig { max_pending_bytes: Size(0), ..WalConfig::default() };
        assert!(config.validate().unwrap_err().contains("max_pending_bytes"));
        let config = WalConfig { path: " ".to_string(), ..WalConfig::default() };
        assert!(config.validate().unwrap_err().contains("path"));
    }
}
