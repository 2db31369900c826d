//! Starting and stopping the roles.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use strand_backend::{Backend, Blocklist};
use strand_common::{CancellationToken, TaskTracker};
use strand_distributor::Distributor;
use strand_frontend::{BuildInfo, FrontendState};
use strand_ingester::{FlushListener, Ingester};
use strand_model::{IngesterQuerier, Pusher, SearchQuerier, TraceByIdQuerier};
use strand_querier::Querier;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::cli;
use crate::config::{Config, LogFormat, Target};
use crate::http::{self, AppState};

/// The process entry point: parse flags, load config, run until SIGTERM/SIGINT.
pub fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args()) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("strand: {err:#}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", config.to_yaml());
        return ExitCode::SUCCESS;
    }
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("strand: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "strand stopped with an error");
            eprintln!("strand: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &cli::Cli) -> anyhow::Result<Config> {
    let yaml = match &cli.config_file {
        Some(path) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?)
        }
        None => None,
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut config = Config::load(yaml.as_deref(), &env).map_err(|e| match &cli.config_file {
        Some(path) => anyhow::anyhow!("{}: {e}", path.display()),
        None => anyhow::anyhow!("{e}"),
    })?;
    if let Some(target) = cli.target {
        config.target = target;
    }
    Ok(config)
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.server.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(std::io::stdout().is_terminal());
    let _ = match config.server.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Logfmt => builder.try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs the configured target until `shutdown` resolves, then shuts down in reverse start order:
/// not ready → stop receivers → flush the ingester → stop the API.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    if config.target != Target::All {
        bail!(
            "target {:?} needs strand's distributed mode, which this build does not have yet; use target: all",
            config.target
        );
    }
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let app = AppState::default();

    // The HTTP API listens first, answering 503 on /ready and the API until the roles are up.
    let api_addr: SocketAddr = format!("{}:{}", config.server.http_listen_address, config.server.http_listen_port)
        .parse()
        .with_context(|| "server.http_listen_address and server.http_listen_port do not form an address")?;
    let api_listener = TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("cannot listen on {api_addr} (server.http_listen_port)"))?;
    let api_stop = CancellationToken::new();
    tasks.spawn(serve_http(api_listener, http::router(app.clone()), api_stop.clone(), "api"));
    tracing::info!(address = %api_addr, "http api listening");

    let backend = Backend::open(&config.storage.trace.backend_config()).context("cannot open object storage")?;
    let blocklist = Blocklist::new(backend.clone(), true);
    blocklist.poll().await.context("cannot list blocks in object storage (check storage.trace)")?;
    tasks.spawn(blocklist.clone().run(config.storage.trace.blocklist_poll.get(), cancel.child_token()));

    let overrides = Arc::new(config.overrides.clone());
    let on_flushed: FlushListener = {
        let blocklist = blocklist.clone();
        Arc::new(move |meta| blocklist.add(meta.clone()))
    };
    let ingester = Ingester::start(
        config.ingester.clone(),
        config.storage.trace.wal.clone(),
        config.storage.trace.block.clone(),
        backend.clone(),
        Arc::clone(&overrides),
        on_flushed,
        &tasks,
        cancel.child_token(),
    )
    .await
    .context("cannot start the ingester")?;
    app.install_ingester(ingester.clone());

    let ingesters: Vec<Arc<dyn IngesterQuerier>> = vec![Arc::new(ingester.clone())];
    let querier = Querier::new(config.querier.clone(), ingesters, blocklist.clone(), backend.clone());
    let querier = Arc::new(querier);
    let frontend = strand_frontend::router(FrontendState {
        querier: Arc::clone(&querier) as Arc<dyn TraceByIdQuerier>,
        search: querier as Arc<dyn SearchQuerier>,
        blocklist: blocklist.clone(),
        overrides: Arc::clone(&overrides),
        config: config.query_frontend.clone(),
        multitenancy_enabled: config.multitenancy_enabled,
        build_info: build_info(),
    });
    app.install_api(frontend);

    let pusher: Arc<dyn Pusher> = Arc::new(ingester.clone());
    let distributor = Distributor::new(config.distributor.clone(), pusher, overrides, config.multitenancy_enabled);
    let receivers_stop = CancellationToken::new();
    let protocols = &config.distributor.receivers.otlp.protocols;
    if let Some(grpc) = &protocols.grpc {
        let listener = bind(&grpc.endpoint, "distributor.receivers.otlp.protocols.grpc.endpoint").await?;
        tracing::info!(address = %grpc.endpoint, "otlp grpc listening");
        tasks.spawn(serve_grpc(listener, Arc::clone(&distributor), receivers_stop.clone()));
    }
    if let Some(http) = &protocols.http {
        let listener = bind(&http.endpoint, "distributor.receivers.otlp.protocols.http.endpoint").await?;
        tracing::info!(address = %http.endpoint, "otlp http listening");
        tasks.spawn(serve_http(listener, distributor.http_router(), receivers_stop.clone(), "otlp-http"));
    }

    app.set_ready(true);
    tracing::info!(target = ?config.target, "strand is ready");
    shutdown.await;

    tracing::info!("shutting down");
    app.set_ready(false);
    receivers_stop.cancel();
    let flushed = ingester.shutdown(config.server.graceful_shutdown_timeout.get()).await;
    api_stop.cancel();
    cancel.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait()).await.is_err() {
        tracing::warn!("some tasks did not stop in time");
    }
    tracing::info!(all_flushed = flushed, "stopped");
    Ok(())
}

async fn bind(endpoint: &str, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(endpoint).await.with_context(|| format!("cannot listen on {endpoint} ({key})"))
}

async fn serve_http(listener: TcpListener, router: axum::Router, stop: CancellationToken, name: &'static str) {
    let result = axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    if let Err(err) = result {
        tracing::error!(server = name, error = %err, "http server failed");
    }
}

async fn serve_grpc(listener: TcpListener, distributor: Arc<Distributor>, stop: CancellationToken) {
    // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs stall every unary call ~40 ms.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder()
        .add_service(distributor.grpc_service())
        .serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await })
        .await;
    if let Err(err) = result {
        tracing::error!(error = %err, "otlp grpc server failed");
    }
}

fn build_info() -> BuildInfo {
    BuildInfo {
        // Grafana versions 10 to 12 gate features on a Tempo 2.x version string.
        version: format!("2.9.0-strand.{}", env!("CARGO_PKG_VERSION")),
        revision: option_env!("STRAND_GIT_REVISION").unwrap_or("unknown").to_string(),
        branch: option_env!("STRAND_GIT_BRANCH").unwrap_or("unknown").to_string(),
        build_date: option_env!("STRAND_BUILD_DATE").unwrap_or("unknown").to_string(),
    }
}
