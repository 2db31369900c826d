use serde::{Deserialize, Serialize};

/// The `query_frontend` config section.
///
/// Trace-by-ID lookups have no frontend settings of their own yet (their timeout and read
/// concurrency live under `querier`); search settings will land here. The section exists now so
/// that configs written for strand keep parsing, and unknown keys (such as Tempo-only ones) are
/// reported instead of silently ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {}

impl FrontendConfig {
    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
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
        let err = serde_json::from_str::<FrontendConfig>(r#"{"max_outstanding_per_tenant": 10}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `max_outstanding_per_tenant`"), "{err}");
    }
}
