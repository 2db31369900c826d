//! Liveness between members: the standard `grpc.health.v1` service, so Kubernetes gRPC probes
//! and `grpc_health_probe` see the same answer the ring does.

use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as WireStatus;
use tonic_health::pb::health_client::HealthClient;

pub use tonic_health::ServingStatus;
pub use tonic_health::server::{HealthReporter, health_reporter};

/// The health service name of a member's main service (`strandpb.Ingester`, `strandpb.Querier`).
/// A member reports it `SERVING` only while it takes work.
pub(crate) async fn is_serving(channel: Channel, service: &str) -> bool {
    let request = HealthCheckRequest { service: service.to_string() };
    match HealthClient::new(channel).check(request).await {
        Ok(response) => response.into_inner().status == WireStatus::Serving as i32,
        Err(_) => false,
    }
}

/// The health service name a compactor reports `SERVING` under while it takes compaction work.
/// Compactors split work by the ring of those serving, so one that stops hands its share over.
pub const COMPACTOR_SERVICE: &str = "strand.Compactor";

/// A member known only by its health: what compactors know of each other.
#[derive(Clone)]
pub struct MemberHealth {
    peer: crate::peer::Peer,
}

impl MemberHealth {
    /// Checks the member at `address` (`host:port`); connects on first use.
    pub fn new(address: &str, config: &crate::GrpcClientConfig) -> MemberHealth {
        MemberHealth { peer: crate::peer::Peer::new(address, config) }
    }

    /// Whether the member reports `service` as serving.
    pub async fn is_serving(&self, service: &str) -> bool {
        self.peer.is_serving(service).await
    }
}
