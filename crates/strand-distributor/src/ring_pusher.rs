//! Pushing to a cluster: each trace goes to `replication_factor` ingesters chosen by the ring,
//! and the client is answered once a write quorum of them made it durable.

use std::sync::Arc;

use async_trait::async_trait;
use strand_common::{ErrorCode, ServiceError};
use strand_model::{PushRequest, PushResponse, Pusher, TenantId};
use strand_ring::{ReplicateError, RingWatcher, replicate, trace_key};

/// A [`Pusher`] over the ingesters of a ring. `C` is the client of one ingester.
pub struct RingPusher<C> {
    ring: Arc<RingWatcher<C>>,
    replication_factor: usize,
}

impl<C> RingPusher<C> {
    /// Pushes to `replication_factor` ingesters of `ring` per trace.
    pub fn new(ring: Arc<RingWatcher<C>>, replication_factor: usize) -> RingPusher<C> {
        RingPusher { ring, replication_factor: replication_factor.max(1) }
    }
}

#[async_trait]
impl<C: Pusher + Clone> Pusher for RingPusher<C> {
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<PushResponse, ServiceError> {
        let ring = self.ring.ring();
        let keys: Vec<u32> = request.traces.iter().map(|trace| trace_key(tenant, &trace.id)).collect();
        let traces = Arc::new(request.traces);
        let replied = replicate(&ring, &keys, self.replication_factor, |member, items| {
            let ingester = member.client().clone();
            let tenant = tenant.clone();
            // Trace bytes are reference-counted: a batch shares them with the request.
            let batch = PushRequest { traces: items.iter().map(|&i| traces[i].clone()).collect() };
            async move { ingester.push(&tenant, batch).await }
        })
        .await
        .map_err(quorum_failure)?;

        // Every replica applies the same per-trace limits, so each rejected span is reported once
        // per copy; dividing by the copies per trace counts it once.
        let rejected: u64 = replied.iter().map(|reply| reply.response.rejected_spans).sum();
        let copies: usize = replied.iter().map(|reply| reply.items.len()).sum();
        let copies_per_trace = (copies as u64).checked_div(keys.len() as u64).unwrap_or(1).max(1);
        let error_message = replied.into_iter().find_map(|reply| reply.response.error_message);
        Ok(PushResponse { rejected_spans: rejected.div_ceil(copies_per_trace), error_message })
    }
}

fn quorum_failure(err: ReplicateError<ServiceError>) -> ServiceError {
    match err.error {
        // A limit or a bad request fails alike everywhere: the client should see it as it is.
        Some(cause) if !cause.code.is_retryable() && cause.code != ErrorCode::Internal => cause,
        Some(cause) => ServiceError::unavailable(format!(
            "{} trace(s) could not be stored on a quorum of ingesters: {cause}",
            err.failed_items
        )),
        None => ServiceError::unavailable(format!(
            "{} trace(s) could not be stored: not enough healthy ingesters in the ring",
            err.failed_items
        )),
    }
}
