//! The ingester: tenant instances, the sweep loop, flushes, and the service traits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prost::Message;
use strand_backend::{Backend, BlockMeta};
use strand_common::{CancellationToken, ServiceError, TaskTracker};
use strand_encoding::{BlockConfig, WalConfig};
use strand_model::{
    FoundTrace, IngesterQuerier, PushRequest, PushResponse, Pusher, SearchRequest, TagValuesRequest, TagValuesResponse,
    TagsRequest, TagsResponse, TenantId, TraceId,
};
use strand_overrides::Overrides;
use strand_proto::tempopb::{SearchResponse, Trace};
use tokio::sync::{Notify, Semaphore, watch};

use crate::config::IngesterConfig;
use crate::error::IngesterError;
use crate::flush::flush_block;
use crate::head_block::FrozenBlock;
use crate::instance::{Instance, TracePart};
use crate::metrics;

/// Called with each block's meta once it is in object storage, so a querier in the same process
/// can see it before its next blocklist poll.
pub type FlushListener = Arc<dyn Fn(&BlockMeta) + Send + Sync>;

/// The ingester role. Cheap to clone.
#[derive(Clone)]
pub struct Ingester {
    inner: Arc<Inner>,
}

struct Inner {
    config: IngesterConfig,
    wal_config: WalConfig,
    block_config: BlockConfig,
    backend: Backend,
    overrides: Arc<Overrides>,
    wal_root: PathBuf,
    instances: RwLock<HashMap<TenantId, Arc<Instance>>>,
    creating: tokio::sync::Mutex<()>,
    accepting: AtomicBool,
    flush_permits: Semaphore,
    pending_flushes: AtomicUsize,
    flush_done: Notify,
    on_flushed: FlushListener,
    replay: watch::Sender<Replay>,
    tasks: TaskTracker,
    cancel: CancellationToken,
    /// Test hook: each tenant's replay waits for a permit, so tests can watch a replay midway.
    #[cfg(test)]
    replay_gate: Option<Arc<Semaphore>>,
}

/// Where the WAL replay started by `Ingester::start` is.
#[derive(Debug)]
enum Replay {
    Running,
    Done,
    /// Why it did not finish.
    Failed(String),
}

#[cfg(test)]
tokio::task_local! {
    /// Set by tests around `Ingester::start` to install `Inner::replay_gate`.
    static REPLAY_GATE: Arc<Semaphore>;
}

impl Ingester {
    /// Starts replaying every tenant's WAL in the background and returns at once.
    ///
    /// Reads are served during the replay and see each tenant once its WAL is replayed. Pushes
    /// are refused as retryable until the replay is done (`wait_ready`): a push to a tenant whose
    /// WAL is still being replayed would race with it. What the WAL held is queued for flushing,
    /// and the sweep loop starts once the replay is done.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        config: IngesterConfig,
        wal_config: WalConfig,
        block_config: BlockConfig,
        backend: Backend,
        overrides: Arc<Overrides>,
        on_flushed: FlushListener,
        tasks: &TaskTracker,
        cancel: CancellationToken,
    ) -> Result<Ingester, IngesterError> {
        let wal_root = PathBuf::from(&wal_config.path);
        tokio::fs::create_dir_all(&wal_root)
            .await
            .map_err(|e| IngesterError::io(format!("creating wal directory {}", wal_root.display()), e))?;
        let inner = Arc::new(Inner {
            flush_permits: Semaphore::new(config.concurrent_flushes),
            config,
            wal_config,
            block_config,
            backend,
            overrides,
            wal_root,
            instances: RwLock::default(),
            creating: tokio::sync::Mutex::new(()),
            accepting: AtomicBool::new(true),
            pending_flushes: AtomicUsize::new(0),
            flush_done: Notify::new(),
            on_flushed,
            replay: watch::Sender::new(Replay::Running),
            tasks: tasks.clone(),
            cancel,
            #[cfg(test)]
            replay_gate: REPLAY_GATE.try_with(Arc::clone).ok(),
        });
        let ingester = Ingester { inner };
        tasks.spawn(ingester.clone().replay_then_sweep());
        Ok(ingester)
    }

    /// Resolves once the WAL replay is done and pushes are taken, or with why it failed (the
    /// process should not go on without the data in its WAL).
    pub async fn wait_ready(&self) -> Result<(), IngesterError> {
        let mut replay = self.inner.replay.subscribe();
        let state = replay
            .wait_for(|state| !matches!(state, Replay::Running))
            .await
            .map_err(|_| IngesterError::ReplayFailed("the replay task is gone".into()))?;
        match &*state {
            Replay::Failed(reason) => Err(IngesterError::ReplayFailed(reason.clone())),
            Replay::Running | Replay::Done => Ok(()),
        }
    }

    /// Whether the WAL replay is done and pushes are taken.
    pub fn is_ready(&self) -> bool {
        matches!(*self.inner.replay.borrow(), Replay::Done)
    }

    /// Why a push is refused now, if it is.
    fn refusing_pushes(&self) -> Option<&'static str> {
        if !self.inner.accepting.load(Ordering::SeqCst) {
            return Some("shutting down");
        }
        match *self.inner.replay.borrow() {
            Replay::Done => None,
            Replay::Running => Some("replaying the WAL; not taking pushes yet"),
            Replay::Failed(_) => Some("the WAL replay failed"),
        }
    }

    async fn replay_then_sweep(self) {
        let outcome = tokio::select! {
            outcome = self.replay_all() => outcome.map_err(|err| {
                tracing::error!(error = %err, "wal replay failed");
                err.to_string()
            }),
            _ = self.inner.cancel.cancelled() => Err("stopped before it finished".to_string()),
        };
        match outcome {
            Ok(()) => {
                self.inner.replay.send_replace(Replay::Done);
                self.sweep_loop().await;
            }
            Err(reason) => {
                self.inner.replay.send_replace(Replay::Failed(reason));
            }
        }
    }

    async fn replay_all(&self) -> Result<(), IngesterError> {
        let root = self.inner.wal_root.clone();
        let mut entries =
            tokio::fs::read_dir(&root).await.map_err(|e| IngesterError::io("listing wal directory", e))?;
        let started = Instant::now();
        let mut records = 0;
        while let Some(entry) = entries.next_entry().await.map_err(|e| IngesterError::io("listing wal directory", e))? {
            let name = entry.file_name();
            let Some(tenant) = name.to_str().and_then(|n| TenantId::new(n).ok()) else {
                tracing::warn!(entry = ?name, "ignoring unexpected entry in wal directory");
                continue;
            };
            #[cfg(test)]
            if let Some(gate) = &self.inner.replay_gate
                && let Ok(permit) = gate.acquire().await
            {
                permit.forget();
            }
            let (instance, replayed) = self.open_instance(tenant.clone()).await?;
            records += replayed;
            if let Some(block) = instance.cut(true).await? {
                self.enqueue_flush(Arc::clone(&instance), block);
            }
        }
        if records > 0 {
            tracing::info!(records, elapsed = ?started.elapsed(), "wal replay finished");
        }
        Ok(())
    }

    async fn open_instance(&self, tenant: TenantId) -> Result<(Arc<Instance>, u64), IngesterError> {
        let dir = self.inner.wal_root.join(tenant.as_str());
        let wal_config = self.inner.wal_config.clone();
        let (instance, replayed) = strand_common::spawn_cpu(move || Instance::open(tenant, &dir, &wal_config))
            .await
            .map_err(|e| IngesterError::Task(e.to_string()))??;
        let instance = Arc::new(instance);
        self.write_instances().insert(instance.tenant.clone(), Arc::clone(&instance));
        Ok((instance, replayed))
    }

    async fn instance(&self, tenant: &TenantId) -> Result<Arc<Instance>, IngesterError> {
        if let Some(instance) = self.read_instances().get(tenant) {
            return Ok(Arc::clone(instance));
        }
        let _creating = self.inner.creating.lock().await;
        if let Some(instance) = self.read_instances().get(tenant) {
            return Ok(Arc::clone(instance));
        }
        Ok(self.open_instance(tenant.clone()).await?.0)
    }

    fn all_instances(&self) -> Vec<Arc<Instance>> {
        self.read_instances().values().cloned().collect()
    }

    async fn sweep_loop(self) {
        let period = self.inner.config.flush_check_period.get();
        loop {
            tokio::select! {
                _ = self.inner.cancel.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            self.sweep_once().await;
        }
    }

    /// Moves complete traces to head blocks and cuts the head blocks that are due.
    pub async fn sweep_once(&self) {
        let config = &self.inner.config;
        for instance in self.all_instances() {
            let (idle, live) = (config.trace_idle_period.get(), config.trace_live_period.get());
            let sweeping = Arc::clone(&instance);
            if let Err(err) = strand_common::spawn_cpu(move || sweeping.sweep(idle, live)).await {
                tracing::error!(error = %err, "sweep task failed");
            }
            if instance.head_is_due(config.max_block_duration.get(), config.max_block_bytes.bytes()) {
                self.cut_and_flush(&instance, false).await;
            }
            instance.drop_flushed_older_than(config.complete_block_timeout.get());
        }
    }

    async fn cut_and_flush(&self, instance: &Arc<Instance>, everything: bool) {
        match instance.cut(everything).await {
            Ok(Some(block)) => self.enqueue_flush(Arc::clone(instance), block),
            Ok(None) => {}
            Err(err) => tracing::error!(tenant = %instance.tenant, error = %err, "cutting head block failed"),
        }
    }

    fn enqueue_flush(&self, instance: Arc<Instance>, block: Arc<FrozenBlock>) {
        self.inner.pending_flushes.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(&self.inner);
        self.inner.tasks.spawn(async move {
            flush_until_done(&inner, &instance, &block).await;
            inner.pending_flushes.fetch_sub(1, Ordering::SeqCst);
            inner.flush_done.notify_waiters();
        });
    }

    /// Cuts every tenant's live traces and head block and waits, up to `timeout`, until every
    /// cut block is in object storage. Returns whether everything was flushed in time.
    pub async fn flush_all(&self, timeout: Duration) -> bool {
        for instance in self.all_instances() {
            self.cut_and_flush(&instance, true).await;
        }
        self.wait_for_flushes(timeout).await
    }

    async fn wait_for_flushes(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.flush_done.notified();
            if self.inner.pending_flushes.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inner.pending_flushes.load(Ordering::SeqCst) == 0;
            }
        }
    }

    /// Stops taking pushes and flushes what it can before `timeout`. Anything not flushed stays
    /// in the WAL and is replayed at the next start.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.accepting.store(false, Ordering::SeqCst);
        let flushed = self.flush_all(timeout).await;
        if !flushed {
            tracing::warn!("shutdown deadline reached with flushes pending; their data stays in the wal");
        }
        flushed
    }

    fn read_instances(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TenantId, Arc<Instance>>> {
        self.inner.instances.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_instances(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TenantId, Arc<Instance>>> {
        self.inner.instances.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Retries a flush with backoff until it succeeds or the ingester is cancelled. The block's data
/// stays in the WAL until then, so giving up would only lose the chance to free disk.
async fn flush_until_done(inner: &Inner, instance: &Arc<Instance>, block: &Arc<FrozenBlock>) {
    let Ok(_permit) = inner.flush_permits.acquire().await else { return };
    let mut backoff = inner.config.flush_retry_backoff.get().max(Duration::from_millis(10));
    loop {
        let started = Instant::now();
        match flush_block(instance, block, &inner.backend, &inner.block_config).await {
            Ok(meta) => {
                metrics::FLUSH_DURATION.observe(started.elapsed().as_secs_f64());
                metrics::BLOCKS_FLUSHED.inc();
                tracing::info!(tenant = %instance.tenant, block = %meta.block_id, traces = meta.total_traces,
                    spans = meta.total_spans, bytes = meta.data_size, elapsed = ?started.elapsed(), "flushed block");
                (inner.on_flushed)(&meta);
                if let Err(err) = instance.mark_flushed(block.id) {
                    tracing::warn!(tenant = %instance.tenant, error = %err, "could not delete flushed wal segments");
                }
                return;
            }
            Err(err) => {
                metrics::FLUSH_FAILURES.inc();
                tracing::warn!(tenant = %instance.tenant, block = %block.id, error = %err, retry_in = ?backoff, "flush failed");
                tokio::select! {
                    _ = inner.cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

#[async_trait]
impl Pusher for Ingester {
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<PushResponse, ServiceError> {
        if let Some(reason) = self.refusing_pushes() {
            return Err(IngesterError::NotAccepting(reason).into());
        }
        let instance = self.instance(tenant).await?;
        let limits = self.inner.overrides.limits(tenant);
        Ok(instance.push(limits, request).await?)
    }
}

#[async_trait]
impl IngesterQuerier for Ingester {
    async fn find_trace_by_id(&self, tenant: &TenantId, id: TraceId) -> Result<Option<FoundTrace>, ServiceError> {
        let Some(instance) = self.read_instances().get(tenant).cloned() else { return Ok(None) };
        let parts = instance.locate(&id);
        if parts.is_empty() {
            return Ok(None);
        }
        let found = strand_common::spawn_cpu(move || read_parts(parts))
            .await
            .map_err(|e| ServiceError::internal(format!("trace lookup task failed: {e}")))?;
        Ok(found)
    }

    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError> {
        let instance = self.read_instances().get(tenant).cloned();
        crate::search::search_recent(instance, request).await
    }

    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError> {
        let instance = self.read_instances().get(tenant).cloned();
        crate::search::search_tags(instance, request).await
    }

    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError> {
        let instance = self.read_instances().get(tenant).cloned();
        crate::search::search_tag_values(instance, request).await
    }
}

/// Reads and decodes the parts of a trace (blocking IO for parts on disk).
pub(crate) fn read_parts(parts: Vec<TracePart>) -> Option<FoundTrace> {
    let found = parts.into_iter().filter_map(|part| {
        let (bytes, truncated) = match part {
            TracePart::Live { bytes, truncated } => (bytes, truncated),
            TracePart::Disk(location) => match location.read() {
                Ok(bytes) => (bytes, location.entry.truncated),
                Err(err) => {
                    tracing::error!(error = %err, "cannot read head block");
                    return None;
                }
            },
        };
        let inspected_bytes = bytes.len() as u64;
        match Trace::decode(bytes.as_ref()) {
            Ok(trace) => Some(FoundTrace { trace, truncated, inspected_bytes }),
            Err(err) => {
                tracing::error!(error = %err, "cannot decode stored trace bytes");
                None
            }
        }
    });
    FoundTrace::combine(found)
}

#[cfg(test)]
mod tests;
