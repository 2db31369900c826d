use serde::{Deserialize, Serialize};
use strand_common::{Duration, Size};
use strand_ring::RingConfig;

/// The `query_frontend` config section.
///
/// Trace-by-ID lookups have no frontend settings of their own (their timeout and read concurrency
/// live under `querier`). Unknown keys (such as Tempo-only ones) are reported instead of silently
/// ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {
    /// `query_frontend.search`: how searches are sharded and what they may ask for.
    pub search: SearchConfig,
    /// `query_frontend.queriers`: in a cluster, the queriers this frontend sends lookups and
    /// search jobs to (`members`, health checks; the replication factor is unused). The single
    /// binary ignores it and calls its own querier.
    pub queriers: RingConfig,
}

impl FrontendConfig {
    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        self.search.validate().map_err(|e| format!("query_frontend.search.{e}"))?;
        self.queriers.validate("query_frontend.queriers")
    }
}

/// `query_frontend.search`, with Tempo's key names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Jobs of one search in flight at once.
    pub concurrent_jobs: usize,
    /// Bytes of `data.parquet` one block job reads; blocks are cut into row-group slices of
    /// about this size. The tenant override `read.max_bytes_per_job` wins when set.
    pub target_bytes_per_job: Size,
    /// Traces returned when the request has no `limit`.
    pub default_result_limit: u32,
    /// Largest `limit` accepted; 0 means no maximum.
    pub max_result_limit: u32,
    /// Spans per spanset when the request has no `spss`.
    pub default_spans_per_span_set: u32,
    /// Largest `spss` accepted; 0 means no maximum.
    pub max_spans_per_span_set: u32,
    /// Longest `end - start` a search may cover; 0 means no maximum. The tenant override
    /// `read.max_search_duration` wins when set.
    pub max_duration: Duration,
    /// How long one search may run before it fails with a retryable 503, so a query over far
    /// too much data gives up instead of holding queriers busy.
    pub query_timeout: Duration,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            concurrent_jobs: 8,
            target_bytes_per_job: Size::mib(100),
            default_result_limit: 20,
            max_result_limit: 262_144,
            default_spans_per_span_set: 3,
            max_spans_per_span_set: 100,
            max_duration: Duration::secs(168 * 3600),
            query_timeout: Duration::secs(30),
        }
    }
}

impl SearchConfig {
    fn validate(&self) -> Result<(), String> {
        if self.concurrent_jobs == 0 {
            return Err("concurrent_jobs must be above 0".into());
        }
        if self.target_bytes_per_job.bytes() == 0 {
            return Err("target_bytes_per_job must be above 0".into());
        }
        if self.query_timeout.get().is_zero() {
            return Err("query_timeout must be above 0".into());
        }
        if self.default_result_limit == 0 {
            return Err("default_result_limit must be above 0".into());
        }
        if self.max_result_limit != 0 && self.default_result_limit > self.max_result_limit {
            return Err(format!(
                "default_result_limit ({}) must not exceed max_result_limit ({})",
                self.default_result_limit, self.max_result_limit
            ));
        }
        if self.default_spans_per_span_set == 0 {
            return Err("default_spans_per_span_set must be above 0".into());
        }
        if self.max_spans_per_span_set != 0 && self.default_spans_per_span_set > self.max_spans_per_span_set {
            return Err(format!(
                "default_spans_per_span_set ({}) must not exceed max_spans_per_span_set ({})",
                self.default_spans_per_span_set, self.max_spans_per_span_set
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_parses_and_unknown_keys_are_refused() {
        let config: FrontendConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, FrontendConfig::default());
        assert!(config.validate().is_ok());
        let err = serde_json::from_str::<FrontendConfig>(r#"{"max_outstanding_per_tenant": 10}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `max_outstanding_per_tenant`"), "{err}");
        let err = serde_json::from_str::<FrontendConfig>(r#"{"search": {"query_backend_after": "15m"}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `query_backend_after`"), "{err}");
    }

    #[test]
    fn defaults_are_tempos() {
        let search = SearchConfig::default();
        assert_eq!(search.concurrent_jobs, 8);
        assert_eq!(search.target_bytes_per_job, Size(100 * 1024 * 1024));
        assert_eq!((search.default_result_limit, search.max_result_limit), (20, 262_144));
        assert_eq!((search.default_spans_per_span_set, search.max_spans_per_span_set), (3, 100));
        assert_eq!(search.max_duration.get(), std::time::Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn search_keys_parse_as_written() {
        let config: FrontendConfig = serde_json::from_str(
            r#"{"search": {"concurrent_jobs": 2, "target_bytes_per_job": "10MiB", "default_result_limit": 5,
                "max_result_limit": 0, "default_spans_per_span_set": 1, "max_spans_per_span_set": 0,
                "max_duration": "24h"}}"#,
        )
        .unwrap();
        let search = &config.search;
        assert_eq!(search.concurrent_jobs, 2);
        assert_eq!(search.target_bytes_per_job, Size::mib(10));
        assert_eq!(search.max_duration, Duration::secs(24 * 3600));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unworkable_settings_are_named() {
        type Change = fn(&mut SearchConfig);
        let cases: [(Change, &str); 5] = [
            (|s| s.concurrent_jobs = 0, "query_frontend.search.concurrent_jobs must be above 0"),
            (|s| s.target_bytes_per_job = Size(0), "query_frontend.search.target_bytes_per_job must be above 0"),
            (|s| s.default_result_limit = 0, "query_frontend.search.default_result_limit must be above 0"),
            (
                |s| s.max_result_limit = 10,
                "query_frontend.search.default_result_limit (20) must not exceed max_result_limit (10)",
            ),
            (
                |s| s.max_spans_per_span_set = 2,
                "query_frontend.search.default_spans_per_span_set (3) must not exceed max_spans_per_span_set (2)",
            ),
        ];
        for (change, message) in cases {
            let mut config = FrontendConfig::default();
            change(&mut config.search);
            assert_eq!(config.validate().unwrap_err(), message);
        }
    }
}
