//! The network servers a process runs: the HTTP API, the OTLP receivers, and internal gRPC.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use strand_common::CancellationToken;
use strand_distributor::Distributor;
use strand_rpc::health::{HealthReporter, ServingStatus, health_reporter};
use tokio::net::TcpListener;
use tonic::transport::server::{Router, TcpIncoming};

use crate::config::Config;
use crate::roles::Context;

pub(crate) async fn bind(endpoint: &str, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(endpoint).await.with_context(|| format!("cannot listen on {endpoint} ({key})"))
}

pub(crate) async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    stop: CancellationToken,
    name: &'static str,
) {
    let result = axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    if let Err(err) = result {
        tracing::error!(server = name, error = %err, "http server failed");
    }
}

/// Starts the OTLP gRPC and HTTP receivers that are configured, until `stop`.
pub(crate) async fn serve_otlp(
    config: &Config,
    ctx: &Context,
    distributor: Arc<Distributor>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let protocols = &config.distributor.receivers.otlp.protocols;
    if let Some(grpc) = &protocols.grpc {
        let listener = bind(&grpc.endpoint, "distributor.receivers.otlp.protocols.grpc.endpoint").await?;
        tracing::info!(address = %grpc.endpoint, "otlp grpc listening");
        let routes = tonic::transport::Server::builder().add_service(distributor.grpc_service());
        ctx.tasks.spawn(serve_grpc(listener, routes, stop.clone(), "otlp-grpc"));
    }
    if let Some(http) = &protocols.http {
        let listener = bind(&http.endpoint, "distributor.receivers.otlp.protocols.http.endpoint").await?;
        tracing::info!(address = %http.endpoint, "otlp http listening");
        ctx.tasks.spawn(serve_http(listener, distributor.http_router(), stop, "otlp-http"));
    }
    Ok(())
}

async fn serve_grpc(listener: TcpListener, routes: Router, stop: CancellationToken, name: &'static str) {
    // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs stall every unary call ~40 ms.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = routes.serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await }).await;
    if let Err(err) = result {
        tracing::error!(server = name, error = %err, "grpc server failed");
    }
}

/// The internal gRPC server of a cluster role, with the standard health service on it.
pub(crate) struct InternalServer {
    stop: CancellationToken,
    health: HealthReporter,
}

impl InternalServer {
    /// Listens on `server.grpc_listen_address:grpc_listen_port` and serves the health service
    /// plus whatever `add_services` adds.
    pub async fn start(
        config: &Config,
        ctx: &Context,
        add_services: impl FnOnce(Router) -> Router,
    ) -> anyhow::Result<InternalServer> {
        let address = format!("{}:{}", config.server.grpc_listen_address, config.server.grpc_listen_port);
        let address: SocketAddr = address
            .parse()
            .with_context(|| "server.grpc_listen_address and server.grpc_listen_port do not form an address")?;
        let listener = bind(&address.to_string(), "server.grpc_listen_port").await?;
        let (health, health_service) = health_reporter();
        let routes = add_services(tonic::transport::Server::builder().add_service(health_service));
        let stop = CancellationToken::new();
        ctx.tasks.spawn(serve_grpc(listener, routes, stop.clone(), "internal-grpc"));
        tracing::info!(%address, "internal grpc listening");
        Ok(InternalServer { stop, health })
    }

    /// Reports `service` as serving or not in the health service, which is what the other
    /// roles' rings check.
    pub async fn set_serving(&self, service: &str, serving: bool) {
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.health.set_service_status(service, status).await;
    }

    /// Reports the services that take work as not serving, so the rest of the cluster stops
    /// sending it here while this process finishes what it has. Reads of an ingester go on
    /// until the server stops, so its data stays readable while it flushes.
    pub async fn leave(&self) {
        for service in
            [strand_rpc::INGESTER_SERVICE, strand_rpc::QUERIER_SERVICE, strand_rpc::health::COMPACTOR_SERVICE]
        {
            self.set_serving(service, false).await;
        }
    }

    /// Stops the server.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}
