use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use strand_common::CancellationToken;
use strand_model::TenantId;

use crate::error::BackendError;
use crate::meta::BlockMeta;
use crate::store::Backend;

/// The live blocks of every tenant, as readers see them.
///
/// A poller refreshes it from the tenant indexes. When `builds_index` is set (the single binary,
/// or the compactor in a cluster) the poller also rebuilds each tenant index from a listing, which
/// repairs any index update lost to a crash or a concurrent writer.
#[derive(Clone)]
pub struct Blocklist {
    backend: Backend,
    builds_index: bool,
    blocks: Arc<RwLock<HashMap<TenantId, Arc<Vec<BlockMeta>>>>>,
}

impl Blocklist {
    /// An empty blocklist over `backend`; call [`Blocklist::poll`] to fill it.
    pub fn new(backend: Backend, builds_index: bool) -> Blocklist {
        Blocklist { backend, builds_index, blocks: Arc::default() }
    }

    /// The live blocks of a tenant.
    pub fn blocks(&self, tenant: &TenantId) -> Arc<Vec<BlockMeta>> {
        self.read_map().get(tenant).cloned().unwrap_or_default()
    }

    /// Makes a block visible at once, ahead of the next poll.
    pub fn add(&self, meta: BlockMeta) {
        let Ok(tenant) = TenantId::new(&meta.tenant_id) else { return };
        let mut map = self.blocks.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut list = map.get(&tenant).map(|l| l.as_ref().clone()).unwrap_or_default();
        if !list.iter().any(|m| m.block_id == meta.block_id) {
            list.push(meta);
            map.insert(tenant, Arc::new(list));
        }
    }

    /// Refreshes every tenant once.
    pub async fn poll(&self) -> Result<(), BackendError> {
        let tenants = self.backend.list_tenants().await?;
        let mut fresh = HashMap::with_capacity(tenants.len());
        for tenant in tenants {
            let index = if self.builds_index {
                self.backend.rebuild_tenant_index(&tenant).await?
            } else {
                match self.backend.read_tenant_index(&tenant).await? {
                    Some(index) => index,
                    None => self.backend.rebuild_tenant_index(&tenant).await?,
                }
            };
            fresh.insert(tenant, Arc::new(index.metas));
        }
        *self.blocks.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    /// Polls every `interval` until cancelled. Failures are logged and retried on the next tick.
    pub async fn run(self, interval: Duration, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(err) = self.poll().await {
                tracing::warn!(error = %err, "blocklist poll failed");
            }
        }
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TenantId, Arc<Vec<BlockMeta>>>> {
        self.blocks.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
