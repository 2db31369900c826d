//! `is_serving` asks the standard health service about the member's own service, so a member
//! counts as up only while it reports that service `SERVING`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strand_proto::strandpb::ingester_server::IngesterServer;
use strand_proto::strandpb::querier_server::QuerierServer;
use strand_rpc::health::ServingStatus;
use strand_rpc::{INGESTER_SERVICE, IngesterClient, IngesterService, QUERIER_SERVICE, QuerierClient, QuerierService};
use tonic::server::NamedService;

use crate::support::{Fake, client_config, dead_address, serve_ingester, serve_querier};

/// The health names are the gRPC service names, which is what `grpc_health_probe -service`
/// and Kubernetes gRPC probes are configured with.
#[test]
fn health_names_are_the_grpc_service_names() {
    assert_eq!(INGESTER_SERVICE, <IngesterServer<IngesterService> as NamedService>::NAME);
    assert_eq!(QUERIER_SERVICE, <QuerierServer<QuerierService> as NamedService>::NAME);
}

#[tokio::test]
async fn ingester_is_serving_while_it_reports_so() {
    let mut server = serve_ingester(Arc::new(Fake::default())).await;
    let client = IngesterClient::new(&server.addr, &client_config());
    assert!(client.is_serving().await);

    server.health.set_service_status(INGESTER_SERVICE, ServingStatus::NotServing).await;
    assert!(!client.is_serving().await);

    server.health.set_service_status(INGESTER_SERVICE, ServingStatus::Serving).await;
    assert!(client.is_serving().await);

    // The server as a whole ("") still reports serving; the ingester service is unknown now.
    server.health.clear_service_status(INGESTER_SERVICE).await;
    assert!(!client.is_serving().await);
}

#[tokio::test]
async fn each_client_asks_about_its_own_service() {
    let server = serve_querier(Arc::new(Fake::default())).await;

    assert!(QuerierClient::new(&server.addr, &client_config()).is_serving().await);
    assert!(!IngesterClient::new(&server.addr, &client_config()).is_serving().await);

    server.health.set_service_status(QUERIER_SERVICE, ServingStatus::NotServing).await;
    assert!(!QuerierClient::new(&server.addr, &client_config()).is_serving().await);
}

#[tokio::test]
async fn member_that_is_down_is_not_serving() {
    let address = dead_address().await;
    let started = Instant::now();

    assert!(!IngesterClient::new(&address, &client_config()).is_serving().await);
    assert!(!QuerierClient::new(&address, &client_config()).is_serving().await);
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}
