//! Starting each target's roles, and what shutting them down needs.
//!
//! `all` wires the roles to each other with in-process calls. Every other target runs one role
//! and reaches the others over internal gRPC (`strand-rpc`), finding ingesters and queriers
//! through their rings (`strand-ring`).

use std::sync::Arc;

use anyhow::Context as _;
use strand_backend::{Backend, Blocklist};
use strand_common::{CancellationToken, TaskTracker};
use strand_compactor::{Compactor, Ownership};
use strand_distributor::{Distributor, RingPusher};
use strand_frontend::{BuildInfo, FrontendState};
use strand_ingester::{FlushListener, Ingester};
use strand_model::{
    FixedIngesters, IngesterQuerier, IngesterSource, Pusher, SearchQuerier, TenantId, TraceByIdQuerier,
};
use strand_querier::Querier;
use strand_ring::{Connect, Probe, RingConfig, RingWatcher, compaction_key};
use strand_rpc::health::MemberHealth;
use strand_rpc::{IngesterClient, QuerierClient, QuerierPool, RingIngesters};

use crate::config::Config;
use crate::http::AppState;
use crate::servers::{InternalServer, serve_otlp};

/// What every role starts with.
pub(crate) struct Context {
    pub tasks: TaskTracker,
    pub cancel: CancellationToken,
    pub app: AppState,
    pub build_info: BuildInfo,
}

/// The parts of the started roles that shutdown deals with, in the order it does.
#[derive(Default)]
pub(crate) struct Started {
    /// Stops the OTLP receivers, so no new spans arrive.
    pub receivers: Option<CancellationToken>,
    /// Flushed before the process leaves the ring.
    pub ingester: Option<Ingester>,
    /// Internal gRPC: reports not-serving first, stops last.
    pub internal: Option<InternalServer>,
}

/// Every role in one process. The API answers reads while the ingester replays its WAL; the
/// receivers open, and the process turns ready, once the replay is done.
pub(crate) async fn all(config: &Config, ctx: &Context) -> anyhow::Result<Started> {
    let backend = open_backend(config)?;
    let blocklist = start_blocklist(config, &backend, true, ctx).await?;
    let on_flushed: FlushListener = {
        let blocklist = blocklist.clone();
        Arc::new(move |meta| blocklist.add(meta.clone()))
    };
    let ingester = start_ingester(config, backend.clone(), on_flushed, ctx).await?;

    let ingesters = FixedIngesters(vec![Arc::new(ingester.clone()) as Arc<dyn IngesterQuerier>]);
    let querier =
        Arc::new(Querier::new(config.querier.clone(), Arc::new(ingesters), blocklist.clone(), backend.clone()));
    install_frontend(config, ctx, querier.clone(), querier, blocklist);

    if !config.compactor.disabled {
        start_compactor(config, ctx, backend, Arc::new(|_: &TenantId, _| true));
    }

    ingester.wait_ready().await.context("cannot start the ingester")?;
    let receivers = start_distributor(config, ctx, Arc::new(ingester.clone())).await?;
    Ok(Started { receivers: Some(receivers), ingester: Some(ingester), internal: None })
}

/// OTLP receivers that replicate each trace to the ingesters' ring.
pub(crate) async fn distributor(config: &Config, ctx: &Context) -> anyhow::Result<Started> {
    let ring = config.ingester.lifecycler.ring.clone();
    let ingesters = ingester_ring(config, ctx, Access::Write).await;
    let pusher = RingPusher::new(ingesters, ring.replication_factor);
    let receivers = start_distributor(config, ctx, Arc::new(pusher)).await?;
    let internal = InternalServer::start(config, ctx, |routes| routes).await?;
    Ok(Started { receivers: Some(receivers), ingester: None, internal: Some(internal) })
}

/// The WAL, live traces and block flushes, served to distributors and queriers over gRPC. Reads
/// are served during the WAL replay; the health service reports serving, which is what sends
/// distributors' pushes here, only once the replay is done.
pub(crate) async fn ingester(config: &Config, ctx: &Context) -> anyhow::Result<Started> {
    let backend = open_backend(config)?;
    // Queriers learn of flushed blocks from the tenant index, which the ingester updates itself.
    let on_flushed: FlushListener = Arc::new(|_| {});
    let ingester = start_ingester(config, backend, on_flushed, ctx).await?;
    let service = strand_rpc::ingester_server(
        Arc::new(ingester.clone()) as Arc<dyn Pusher>,
        Arc::new(ingester.clone()) as Arc<dyn IngesterQuerier>,
        config.server.grpc_server_max_recv_msg_size.as_usize(),
        config.server.grpc_server_max_send_msg_size.as_usize(),
    );
    let internal = InternalServer::start(config, ctx, |routes| routes.add_service(service)).await?;
    internal.set_serving(strand_rpc::INGESTER_READS, true).await;
    ingester.wait_ready().await.context("cannot start the ingester")?;
    internal.set_serving(strand_rpc::INGESTER_SERVICE, true).await;
    Ok(Started { receivers: None, ingester: Some(ingester), internal: Some(internal) })
}

/// Trace lookups and search jobs for the query-frontend, over the ingesters and the blocks.
pub(crate) async fn querier(config: &Config, ctx: &Context) -> anyhow::Result<Started> {
    let backend = open_backend(config)?;
    let blocklist = start_blocklist(config, &backend, false, ctx).await?;
    let ring = ingester_ring(config, ctx, Access::Read).await;
    let rf = config.ingester.lifecycler.ring.replication_factor;
    let ingesters: Arc<dyn IngesterSource> = Arc::new(RingIngesters::new(ring, rf));
    let querier = Arc::new(Querier::new(config.querier.clone(), ingesters, blocklist, backend));
    let service = strand_rpc::querier_server(
        querier.clone() as Arc<dyn TraceByIdQuerier>,
        querier as Arc<dyn SearchQuerier>,
        config.server.grpc_server_max_recv_msg_size.as_usize(),
        config.server.grpc_server_max_send_msg_size.as_usize(),
    );
    let internal = InternalServer::start(config, ctx, |routes| routes.add_service(service)).await?;
    internal.set_serving(strand_rpc::QUERIER_SERVICE, true).await;
    Ok(Started { receivers: None, ingester: None, internal: Some(internal) })
}

/// Tempo's HTTP API, sharding searches into jobs for the queriers.
pub(crate) async fn query_frontend(config: &Config, ctx: &Context) -> anyhow::Result<Started> {
    let backend = open_backend(config)?;
    // The frontend reads the blocklist only to cut searches into block jobs.
    let blocklist = start_blocklist(config, &backend, false, ctx).await?;
    let client_config = config.querier_client.clone();
    let connect: Connect<QuerierClient> = Arc::new(move |address| QuerierClient::new(address, &client_config));
    let probe: Probe<QuerierClient> = Arc::new(|querier| Box::pin(async move { querier.is_serving().await }));
    let queriers = watch_ring("querier", &config.query_frontend.queriers, connect, probe, ctx).await;
    let pool = Arc::new(QuerierPool::new(queriers));
    install_frontend(config, ctx, pool.clone(), pool, blocklist);
    let internal = InternalServer::start(config, ctx, |routes| routes).await?;
    Ok(Started { receivers: None, ingester: None, internal: Some(internal) })
}

/// Block merging and retention. With `compactor.ring.members`, this compactor takes only the
/// (tenant, window) jobs the ring gives it; the others take the rest.
pub(crate) async fn compactor(config: &Config, ctx: &Context) -> anyhow::Result<Started> {
    let backend = open_backend(config)?;
    let internal = InternalServer::start(config, ctx, |routes| routes).await?;
    internal.set_serving(strand_rpc::health::COMPACTOR_SERVICE, true).await;
    let owns: Ownership = if config.compactor.ring.members.is_empty() {
        Arc::new(|_: &TenantId, _| true)
    } else {
        let client_config = config.ingester_client.clone();
        let connect: Connect<MemberHealth> = Arc::new(move |address| MemberHealth::new(address, &client_config));
        let probe: Probe<MemberHealth> =
            Arc::new(|member| Box::pin(async move { member.is_serving(strand_rpc::health::COMPACTOR_SERVICE).await }));
        let ring = watch_ring("compactor", &config.compactor.ring, connect, probe, ctx).await;
        let me = config.compactor.instance_id.clone();
        if ring.ring().member(&me).is_none() {
            tracing::warn!(instance_id = %me, "compactor.instance_id is not in compactor.ring.members: this compactor owns no work");
        }
        Arc::new(move |tenant: &TenantId, window: u64| {
            ring.ring().owner(compaction_key(tenant, window)).is_some_and(|owner| owner.id() == me)
        })
    };
    start_compactor(config, ctx, backend, owns);
    Ok(Started { receivers: None, ingester: None, internal: Some(internal) })
}

fn start_compactor(config: &Config, ctx: &Context, backend: Backend, owns: Ownership) {
    let compactor = Compactor::new(config.compactor.clone(), backend, Arc::new(config.overrides.clone()), owns)
        .with_block_config(config.storage.trace.block.clone());
    ctx.tasks.spawn(compactor.run(ctx.cancel.child_token()));
}

fn open_backend(config: &Config) -> anyhow::Result<Backend> {
    Backend::open(&config.storage.trace.backend_config()).context("cannot open object storage")
}

/// Lists the blocks once, then keeps polling. `builds_index`: whether this process also
/// rebuilds the tenant indexes from listings (the single binary and the compactor).
async fn start_blocklist(
    config: &Config,
    backend: &Backend,
    builds_index: bool,
    ctx: &Context,
) -> anyhow::Result<Blocklist> {
    let blocklist = Blocklist::new(backend.clone(), builds_index);
    blocklist.poll().await.context("cannot list blocks in object storage (check storage.trace)")?;
    ctx.tasks.spawn(blocklist.clone().run(config.storage.trace.blocklist_poll.get(), ctx.cancel.child_token()));
    Ok(blocklist)
}

/// Starts the ingester, whose WAL replay goes on in the background: see `Ingester::wait_ready`.
async fn start_ingester(
    config: &Config,
    backend: Backend,
    on_flushed: FlushListener,
    ctx: &Context,
) -> anyhow::Result<Ingester> {
    let ingester = Ingester::start(
        config.ingester.clone(),
        config.storage.trace.wal.clone(),
        config.storage.trace.block.clone(),
        backend,
        Arc::new(config.overrides.clone()),
        on_flushed,
        &ctx.tasks,
        ctx.cancel.child_token(),
    )
    .await
    .context("cannot start the ingester")?;
    ctx.app.install_ingester(ingester.clone());
    Ok(ingester)
}

fn install_frontend(
    config: &Config,
    ctx: &Context,
    traces: Arc<dyn TraceByIdQuerier>,
    search: Arc<dyn SearchQuerier>,
    blocklist: Blocklist,
) {
    ctx.app.install_api(strand_frontend::router(FrontendState {
        querier: traces,
        search,
        blocklist,
        overrides: Arc::new(config.overrides.clone()),
        config: config.query_frontend.clone(),
        multitenancy_enabled: config.multitenancy_enabled,
        build_info: ctx.build_info.clone(),
    }));
}

/// Starts the OTLP receivers in front of `pusher`; the returned token stops them.
async fn start_distributor(
    config: &Config,
    ctx: &Context,
    pusher: Arc<dyn Pusher>,
) -> anyhow::Result<CancellationToken> {
    let overrides = Arc::new(config.overrides.clone());
    let distributor = Distributor::new(config.distributor.clone(), pusher, overrides, config.multitenancy_enabled);
    let stop = CancellationToken::new();
    serve_otlp(config, ctx, distributor, stop.clone()).await?;
    Ok(stop)
}

/// What a ring of ingesters is used for, which decides who counts as healthy in it.
enum Access {
    /// Distributors push only to ingesters that take pushes (replay done, not shutting down).
    Write,
    /// Queriers also read from ingesters still replaying or already flushing for shutdown.
    Read,
}

/// The ingesters' ring, as distributors and queriers see it: health-checked over gRPC.
async fn ingester_ring(config: &Config, ctx: &Context, access: Access) -> Arc<RingWatcher<IngesterClient>> {
    let client_config = config.ingester_client.clone();
    let connect: Connect<IngesterClient> = Arc::new(move |address| IngesterClient::new(address, &client_config));
    let probe: Probe<IngesterClient> = match access {
        Access::Write => Arc::new(|ingester| Box::pin(async move { ingester.is_serving().await })),
        Access::Read => Arc::new(|ingester| Box::pin(async move { ingester.is_readable().await })),
    };
    watch_ring("ingester", &config.ingester.lifecycler.ring, connect, probe, ctx).await
}

async fn watch_ring<C: Clone + Send + Sync + 'static>(
    name: &'static str,
    ring: &RingConfig,
    connect: Connect<C>,
    probe: Probe<C>,
    ctx: &Context,
) -> Arc<RingWatcher<C>> {
    let watcher = RingWatcher::start(ring, connect, probe).await;
    let healthy = watcher.ring().healthy_members().len();
    tracing::info!(ring = name, members = watcher.ring().len(), healthy, "ring ready");
    ctx.tasks.spawn(watcher.clone().run(ctx.cancel.child_token()));
    let period = ring.health_check_period.get();
    ctx.tasks.spawn(crate::ring_metrics::report(name, watcher.clone(), period, ctx.cancel.child_token()));
    watcher
}
