//! Per-tenant ingestion rate limits: a token bucket in bytes, as Tempo's `local` strategy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use strand_model::TenantId;
use strand_overrides::IngestionLimits;

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// Token buckets for every tenant seen so far.
#[derive(Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<TenantId, Bucket>>,
}

/// Why a push was refused by the rate limiter.
pub(crate) enum Refusal {
    /// The batch alone is larger than the burst: it can never pass.
    BatchTooLarge,
    /// The tenant is sending faster than its rate.
    RateExceeded,
}

impl RateLimiter {
    /// Takes `bytes` from the tenant's bucket, or says why not.
    pub fn admit(&self, tenant: &TenantId, limits: &IngestionLimits, bytes: u64) -> Result<(), Refusal> {
        let rate = limits.rate_limit_bytes.bytes() as f64;
        if rate <= 0.0 {
            return Ok(());
        }
        let burst = (limits.burst_size_bytes.bytes() as f64).max(rate);
        if bytes as f64 > burst {
            return Err(Refusal::BatchTooLarge);
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(tenant.clone()).or_insert(Bucket { tokens: burst, refilled: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.refilled).as_secs_f64() * rate).min(burst);
        bucket.refilled = now;
        if bucket.tokens < bytes as f64 {
            return Err(Refusal::RateExceeded);
        }
        bucket.tokens -= bytes as f64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strand_common::Size;

    #[test]
    fn bursts_pass_then_the_rate_applies() {
        let limiter = RateLimiter::default();
        let limits =
            IngestionLimits { rate_limit_bytes: Size(1000), burst_size_bytes: Size(5000), ..Default::default() };
        let tenant = TenantId::single();
        assert!(limiter.admit(&tenant, &limits, 4000).is_ok());
        assert!(matches!(limiter.admit(&tenant, &limits, 4000), Err(Refusal::RateExceeded)));
        assert!(matches!(limiter.admit(&tenant, &limits, 6000), Err(Refusal::BatchTooLarge)));
        let other = TenantId::new("other").unwrap();
        assert!(limiter.admit(&other, &limits, 4000).is_ok(), "tenants have their own buckets");
    }
}
