//! Per-tenant limits ("overrides", in Tempo's words).
//!
//! The `overrides` config section holds `defaults` that apply to every tenant and an optional
//! `per_tenant` map whose entries replace the defaults for one tenant. Roles ask
//! [`Overrides::limits`] for the limits of the tenant at hand; nothing here enforces them.
#![warn(missing_docs)]

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use strand_common::{Duration, Size};
use strand_model::TenantId;

/// The `overrides` config section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overrides {
    /// Limits for every tenant without its own entry.
    pub defaults: Limits,
    /// Whole replacement limits for named tenants.
    pub per_tenant: HashMap<String, Limits>,
}

impl Overrides {
    /// The limits that apply to `tenant`.
    pub fn limits(&self, tenant: &TenantId) -> &Limits {
        self.per_tenant.get(tenant.as_str()).unwrap_or(&self.defaults)
    }

    /// Rejects limits that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        std::iter::once(("defaults", &self.defaults))
            .chain(self.per_tenant.iter().map(|(name, limits)| (name.as_str(), limits)))
            .try_for_each(|(name, limits)| limits.validate().map_err(|e| format!("overrides.{name}: {e}")))
    }
}

/// The limits of one tenant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Ingestion limits, enforced by distributors and ingesters.
    pub ingestion: IngestionLimits,
    /// Limits that apply everywhere.
    pub global: GlobalLimits,
    /// Query limits, enforced by the query frontend.
    pub read: ReadLimits,
    /// Retention, enforced by the compactor.
    pub compaction: CompactionLimits,
}

impl Limits {
    fn validate(&self) -> Result<(), String> {
        if self.global.max_bytes_per_trace.bytes() == 0 {
            return Err("global.max_bytes_per_trace must be above 0".into());
        }
        if self.ingestion.max_live_traces_bytes.bytes() == 0 {
            return Err("ingestion.max_live_traces_bytes must be above 0".into());
        }
        Ok(())
    }
}

/// `overrides.*.ingestion`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestionLimits {
    /// Sustained ingest rate per distributor, in bytes of OTLP per second; 0 disables the limit.
    pub rate_limit_bytes: Size,
    /// Bytes a tenant may send in a burst above the rate.
    pub burst_size_bytes: Size,
    /// Bytes of live (not yet complete) traces an ingester holds for the tenant before it
    /// refuses pushes with a retryable error. strand bounds memory in bytes, not trace counts.
    pub max_live_traces_bytes: Size,
}

impl Default for IngestionLimits {
    fn default() -> Self {
        IngestionLimits {
            rate_limit_bytes: Size(30_000_000),
            burst_size_bytes: Size(30_000_000),
            max_live_traces_bytes: Size::mib(512),
        }
    }
}

/// `overrides.*.global`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalLimits {
    /// Largest trace kept, in encoded bytes. Spans past it are refused (and reported to the
    /// client as rejected), but the trace keeps its first spans and stays readable.
    pub max_bytes_per_trace: Size,
}

impl Default for GlobalLimits {
    fn default() -> Self {
        GlobalLimits { max_bytes_per_trace: Size(5_000_000) }
    }
}

/// `overrides.*.read`. Zero in either field means "use the query frontend's setting".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadLimits {
    /// Longest `end - start` a search may cover; replaces `query_frontend.search.max_duration`.
    pub max_search_duration: Duration,
    /// Bytes of `data.parquet` one block search job reads; replaces
    /// `query_frontend.search.target_bytes_per_job`. Smaller jobs spread a tenant's searches
    /// over more queriers; larger ones cost fewer requests.
    pub max_bytes_per_job: Size,
}

/// `overrides.*.compaction`, with Tempo's key `block_retention`. Zero in either field means
/// "not set": the compactor's `block_retention` applies, and there is no byte budget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionLimits {
    /// How long the tenant's blocks are kept; replaces `compactor.compaction.block_retention`.
    pub block_retention: Duration,
    /// Bytes of live blocks the tenant may keep in object storage. Past it the compactor deletes
    /// the tenant's oldest blocks first, whatever their age, until the rest fit.
    pub max_stored_bytes: Size,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_entry_replaces_the_defaults() {
        let overrides: Overrides = serde_yaml::from_str(
            "defaults: { global: { max_bytes_per_trace: 1MiB } }\nper_tenant: { big: { global: { max_bytes_per_trace: 50MiB } } }",
        )
        .unwrap();
        assert_eq!(overrides.limits(&TenantId::new("big").unwrap()).global.max_bytes_per_trace, Size::mib(50));
        assert_eq!(overrides.limits(&TenantId::new("other").unwrap()).global.max_bytes_per_trace, Size::mib(1));
        assert!(overrides.validate().is_ok());
    }

    #[test]
    fn read_limits_default_to_zero_and_are_set_per_tenant() {
        let overrides: Overrides = serde_yaml::from_str(
            "per_tenant: { slow: { read: { max_search_duration: 24h, max_bytes_per_job: 10MiB } } }",
        )
        .unwrap();
        let other = overrides.limits(&TenantId::new("other").unwrap());
        assert_eq!(other.read, ReadLimits::default());
        assert_eq!(other.read.max_search_duration, Duration::secs(0));
        assert_eq!(other.read.max_bytes_per_job, Size(0));
        let slow = overrides.limits(&TenantId::new("slow").unwrap());
        assert_eq!(slow.read.max_search_duration, Duration::secs(24 * 3600));
        assert_eq!(slow.read.max_bytes_per_job, Size::mib(10));
        assert!(overrides.validate().is_ok());
        // As written in docs/configuration.md.
        let zero: Overrides =
            serde_yaml::from_str("defaults: { read: { max_search_duration: 0, max_bytes_per_job: 0 } }").unwrap();
        assert_eq!(zero, Overrides::default());
        let err = serde_yaml::from_str::<Overrides>("defaults: { read: { max_duration: 1h } }").unwrap_err();
        assert!(err.to_string().contains("max_duration"), "{err}");
    }

    #[test]
    fn compaction_limits_are_unset_by_default_and_set_per_tenant() {
        let overrides: Overrides = serde_yaml::from_str(
            "per_tenant: { audit: { compaction: { block_retention: 2160h, max_stored_bytes: 5TiB } } }",
        )
        .unwrap();
        let other = overrides.limits(&TenantId::new("other").unwrap());
        assert_eq!(other.compaction, CompactionLimits::default());
        assert_eq!(other.compaction.block_retention, Duration::secs(0));
        let audit = overrides.limits(&TenantId::new("audit").unwrap());
        assert_eq!(audit.compaction.block_retention, Duration::secs(90 * 24 * 3600));
        assert_eq!(audit.compaction.max_stored_bytes, Size(5 << 40));
        assert!(overrides.validate().is_ok());
        let err = serde_yaml::from_str::<Overrides>("defaults: { compaction: { retention: 1h } }").unwrap_err();
        assert!(err.to_string().contains("retention"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = serde_yaml::from_str::<Overrides>("defaults: { ingestion: { rate_limit: 5 } }").unwrap_err();
        assert!(err.to_string().contains("rate_limit"), "{err}");
    }
}
