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
        // A limit (a tenant over its live-traces budget) or a bad request fails alike on every
        // replica: the client should see it as it is, with its own status and retry advice.
        Some(cause) if !matches!(cause.code, ErrorCode::Unavailable | ErrorCode::Internal) => cause,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use bytes::Bytes;
    use strand_model::{TraceBytes, TraceId};
    use strand_ring::{Connect, Probe, RingConfig};

    use super::*;

    /// An ingester that records the traces it stored, or fails every push with `fails`.
    #[derive(Clone)]
    struct FakeIngester {
        id: String,
        stored: Arc<Mutex<HashMap<TraceId, Vec<String>>>>,
        fails: Option<ServiceError>,
        /// Spans it reports rejected per trace stored.
        rejects_per_trace: u64,
    }

    #[async_trait]
    impl Pusher for FakeIngester {
        async fn push(&self, _: &TenantId, request: PushRequest) -> Result<PushResponse, ServiceError> {
            if let Some(err) = &self.fails {
                return Err(err.clone());
            }
            let mut stored = self.stored.lock().unwrap();
            for trace in &request.traces {
                stored.entry(trace.id).or_default().push(self.id.clone());
            }
            let rejected_spans = self.rejects_per_trace * request.traces.len() as u64;
            Ok(PushResponse { rejected_spans, error_message: None })
        }
    }

    struct Cluster {
        pusher: RingPusher<FakeIngester>,
        stored: Arc<Mutex<HashMap<TraceId, Vec<String>>>>,
    }

    /// Three ingesters `a`, `b`, `c`; `failing` ones fail every push with `error`.
    async fn cluster(failing: &[&str], error: ServiceError, rejects_per_trace: u64) -> Cluster {
        let stored = Arc::new(Mutex::new(HashMap::new()));
        let connect: Connect<FakeIngester> = {
            let (stored, failing, error) =
                (Arc::clone(&stored), failing.iter().map(|s| s.to_string()).collect::<Vec<_>>(), error);
            Arc::new(move |id: &str| FakeIngester {
                id: id.to_string(),
                stored: Arc::clone(&stored),
                fails: failing.iter().any(|f| f == id).then(|| error.clone()),
                rejects_per_trace,
            })
        };
        // Every probe passes: the failures below are only seen by the pushes themselves.
        let probe: Probe<FakeIngester> = Arc::new(|_| Box::pin(async { true }));
        let members = ["a:1", "b:1", "c:1"].map(String::from).to_vec();
        let ring = RingWatcher::start(&RingConfig { members, ..RingConfig::default() }, connect, probe).await;
        Cluster { pusher: RingPusher::new(ring, 2), stored }
    }

    fn push(traces: u8) -> PushRequest {
        let traces = (1..=traces)
            .map(|n| TraceBytes {
                id: TraceId([n; 16]),
                bytes: Bytes::from_static(b"spans"),
                span_count: 1,
                start_unix_nano: 0,
                end_unix_nano: 0,
            })
            .collect();
        PushRequest { traces }
    }

    fn copies(cluster: &Cluster) -> Vec<usize> {
        let stored = cluster.stored.lock().unwrap();
        let mut copies: Vec<usize> = stored
            .values()
            .map(|ids| {
                let mut distinct = ids.clone();
                distinct.sort();
                distinct.dedup();
                assert_eq!(distinct.len(), ids.len(), "a trace was stored twice on one ingester: {ids:?}");
                ids.len()
            })
            .collect();
        copies.sort();
        copies
    }

    #[tokio::test]
    async fn every_trace_is_stored_on_two_distinct_ingesters() {
        let cluster = cluster(&[], ServiceError::internal("unused"), 0).await;
        let response = cluster.pusher.push(&TenantId::single(), push(60)).await.unwrap();
        assert_eq!(response, PushResponse::default());
        assert_eq!(copies(&cluster), vec![2; 60]);
        let per_ingester = {
            let stored = cluster.stored.lock().unwrap();
            ["a:1", "b:1", "c:1"].map(|id| stored.values().filter(|ids| ids.iter().any(|i| i == id)).count())
        };
        assert!(per_ingester.iter().all(|&n| n > 0), "the ring spreads traces over every ingester: {per_ingester:?}");
    }

    #[tokio::test]
    async fn a_down_ingester_is_replaced_by_the_next_owner() {
        let cluster = cluster(&["b:1"], ServiceError::unavailable("connection refused"), 0).await;
        cluster.pusher.push(&TenantId::single(), push(60)).await.unwrap();
        assert_eq!(copies(&cluster), vec![2; 60], "still two copies, on a and c");
    }

    #[tokio::test]
    async fn a_limit_reaches_the_client_as_it_is() {
        let limit = ServiceError::new(ErrorCode::RateLimited, "live traces exceeded");
        let cluster = cluster(&["a:1", "b:1", "c:1"], limit.clone(), 0).await;
        let err = cluster.pusher.push(&TenantId::single(), push(10)).await.unwrap_err();
        assert_eq!(err, limit);
    }

    #[tokio::test]
    async fn two_ingesters_down_fail_the_push_as_retryable() {
        let cluster = cluster(&["a:1", "b:1"], ServiceError::unavailable("connection refused"), 0).await;
        let err = cluster.pusher.push(&TenantId::single(), push(10)).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.message.contains("quorum"), "{err}");
    }

    #[tokio::test]
    async fn rejected_spans_are_counted_once_per_trace_not_per_copy() {
        let cluster = cluster(&[], ServiceError::internal("unused"), 1).await;
        let response = cluster.pusher.push(&TenantId::single(), push(60)).await.unwrap();
        assert_eq!(response.rejected_spans, 60);
    }
}
