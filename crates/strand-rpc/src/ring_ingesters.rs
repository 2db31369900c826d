//! The querier's view of the ingesters in a cluster: the ring's healthy members.

use std::sync::Arc;

use strand_model::{IngesterQuerier, IngesterSource};
use strand_ring::{RingWatcher, write_quorum};

use crate::ingester::IngesterClient;

/// Every healthy ingester of the ring. A trace may be on any of them after the ring changed
/// (writes move to the next healthy owner while one is down), so reads ask them all.
pub struct RingIngesters {
    ring: Arc<RingWatcher<IngesterClient>>,
    replication_factor: usize,
}

impl RingIngesters {
    /// The ingesters of `ring`, written to with `replication_factor` copies.
    pub fn new(ring: Arc<RingWatcher<IngesterClient>>, replication_factor: usize) -> RingIngesters {
        RingIngesters { ring, replication_factor }
    }
}

impl IngesterSource for RingIngesters {
    fn ingesters(&self) -> Vec<Arc<dyn IngesterQuerier>> {
        let members = self.ring.ring().healthy_members();
        members.iter().map(|member| Arc::new(member.client().clone()) as Arc<dyn IngesterQuerier>).collect()
    }

    fn tolerated_failures(&self) -> usize {
        // A push is acknowledged once a write quorum stored it, so that many copies exist; all
        // but one of them may be missing from the answers. Members already left out as
        // unhealthy count against that too.
        let ring = self.ring.ring();
        let replicas = self.replication_factor.min(ring.len()).max(1);
        let unhealthy = ring.len() - ring.healthy_members().len();
        (write_quorum(replicas) - 1).saturating_sub(unhealthy)
    }
}
