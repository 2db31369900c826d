//! The protocol-independent part of a push: tenant, rate limit, validation, grouping, hand-off.

use std::sync::Arc;
use std::time::Instant;

use strand_common::{ErrorCode, ServiceError};
use strand_model::{IdError, PushResponse, Pusher, TenantError, TenantId};
use strand_overrides::Overrides;
use strand_proto::otlp::collector::ExportTraceServiceRequest;

use crate::config::DistributorConfig;
use crate::grouping::group_by_trace;
use crate::metrics;
use crate::rate_limit::{RateLimiter, Refusal};

/// The distributor role: validates pushes and forwards them, grouped by trace, to the ingester.
pub struct Distributor {
    pub(crate) config: DistributorConfig,
    pusher: Arc<dyn Pusher>,
    overrides: Arc<Overrides>,
    limiter: RateLimiter,
    multitenancy_enabled: bool,
}

impl Distributor {
    /// A distributor that pushes through `pusher` (the ingester, in process or remote).
    pub fn new(
        config: DistributorConfig,
        pusher: Arc<dyn Pusher>,
        overrides: Arc<Overrides>,
        multitenancy_enabled: bool,
    ) -> Arc<Distributor> {
        Arc::new(Distributor { config, pusher, overrides, limiter: RateLimiter::default(), multitenancy_enabled })
    }

    /// The tenant of a request, from its `X-Scope-OrgID` value when multi-tenancy is on.
    pub fn resolve_tenant(&self, header: Option<&str>) -> Result<TenantId, ServiceError> {
        if !self.multitenancy_enabled {
            return Ok(TenantId::single());
        }
        TenantId::new(header.unwrap_or_default()).map_err(|err| {
            metrics::REQUESTS_REJECTED.with_label_values(&["tenant"]).inc();
            match err {
                TenantError::Missing => ServiceError::new(ErrorCode::Unauthenticated, err.to_string()),
                other => ServiceError::bad_request(other.to_string()),
            }
        })
    }

    /// Handles one decoded OTLP request of `size` protobuf bytes.
    pub async fn push(
        &self,
        protocol: &'static str,
        tenant: &TenantId,
        request: ExportTraceServiceRequest,
        size: usize,
    ) -> Result<PushResponse, ServiceError> {
        let started = Instant::now();
        let span_count: u64 =
            request.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len() as u64).sum();
        metrics::SPANS_RECEIVED.with_label_values(&[protocol]).inc_by(span_count);
        metrics::BYTES_RECEIVED.with_label_values(&[protocol]).inc_by(size as u64);
        if span_count == 0 {
            return Ok(PushResponse::default());
        }

        let limits = &self.overrides.limits(tenant).ingestion;
        if let Err(refusal) = self.limiter.admit(tenant, limits, size as u64) {
            metrics::SPANS_REJECTED.with_label_values(&["rate_limited"]).inc_by(span_count);
            let (local, burst) = (limits.rate_limit_bytes.bytes(), limits.burst_size_bytes.bytes());
            let message = match refusal {
                Refusal::BatchTooLarge => format!(
                    "RATE_LIMITED: batch size ({size} bytes) exceeds ingestion limit (local: {local} bytes/s, burst: {burst} bytes) \
                     for user {tenant}. consider reducing batch size or increasing rate limit."
                ),
                Refusal::RateExceeded => format!(
                    "RATE_LIMITED: ingestion rate limit (local: {local} bytes/s, burst: {burst} bytes) exceeded while adding \
                     {size} bytes for user {tenant}. consider increasing the limit or reducing ingestion rate."
                ),
            };
            return Err(ServiceError::new(ErrorCode::RateLimited, message));
        }

        let grouped = group_by_trace(request.resource_spans).map_err(|err| {
            let reason = match err {
                IdError::SpanIdInvalid(_) => "invalid_span_id",
                _ => "invalid_trace_id",
            };
            metrics::SPANS_REJECTED.with_label_values(&[reason]).inc_by(span_count);
            ServiceError::bad_request(err.to_string())
        })?;

        let result = self.pusher.push(tenant, grouped).await;
        metrics::PUSH_DURATION.observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(response) if response.rejected_spans > 0 => {
                metrics::SPANS_REJECTED.with_label_values(&["trace_too_large"]).inc_by(response.rejected_spans);
            }
            Ok(_) => {}
            Err(err) => {
                let reason = if err.code.is_retryable() { "unavailable" } else { "error" };
                metrics::SPANS_REJECTED.with_label_values(&[reason]).inc_by(span_count);
            }
        }
        result
    }
}
