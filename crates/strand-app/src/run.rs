//! Starting and stopping the roles.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use strand_common::{CancellationToken, TaskTracker};
use strand_frontend::BuildInfo;
use tracing_subscriber::EnvFilter;

use crate::cli;
use crate::config::{Config, LogFormat, Target};
use crate::http::{self, AppState};
use crate::roles::{self, Context};
use crate::servers::{bind, serve_http};

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
        // The target decides which settings are required, so check again with the flag applied.
        config.target = target;
        config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
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
/// not ready → stop receivers → flush the ingester → leave the cluster → stop the API.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let ctx = Context {
        tasks: TaskTracker::new(),
        cancel: CancellationToken::new(),
        app: AppState::default(),
        build_info: build_info(),
    };

    // The HTTP API listens first, answering 503 on /ready and the API until the roles are up.
    let api_addr: SocketAddr = format!("{}:{}", config.server.http_listen_address, config.server.http_listen_port)
        .parse()
        .with_context(|| "server.http_listen_address and server.http_listen_port do not form an address")?;
    let api_listener = bind(&api_addr.to_string(), "server.http_listen_port").await?;
    let api_stop = CancellationToken::new();
    ctx.tasks.spawn(serve_http(api_listener, http::router(ctx.app.clone()), api_stop.clone(), "api"));
    tracing::info!(address = %api_addr, "http api listening");

    let started = match config.target {
        Target::All => roles::all(&config, &ctx).await?,
        Target::Distributor => roles::distributor(&config, &ctx).await?,
        Target::Ingester => roles::ingester(&config, &ctx).await?,
        Target::Querier => roles::querier(&config, &ctx).await?,
        Target::QueryFrontend => roles::query_frontend(&config, &ctx).await?,
        Target::Compactor => roles::compactor(&config, &ctx).await?,
    };

    ctx.app.set_ready(true);
    tracing::info!(target = config.target.name(), "strand is ready");
    shutdown.await;

    tracing::info!("shutting down");
    ctx.app.set_ready(false);
    if let Some(internal) = &started.internal {
        internal.leave().await;
    }
    if let Some(receivers) = &started.receivers {
        receivers.cancel();
    }
    let flushed = match &started.ingester {
        Some(ingester) => ingester.shutdown(config.server.graceful_shutdown_timeout.get()).await,
        None => true,
    };
    if let Some(internal) = &started.internal {
        internal.stop();
    }
    api_stop.cancel();
    ctx.cancel.cancel();
    ctx.tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), ctx.tasks.wait()).await.is_err() {
        tracing::warn!("some tasks did not stop in time");
    }
    tracing::info!(all_flushed = flushed, "stopped");
    Ok(())
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
