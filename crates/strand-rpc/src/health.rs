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
