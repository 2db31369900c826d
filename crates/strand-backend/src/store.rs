use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{OBJECT_STORE_COALESCE_DEFAULT, ObjectStore, ObjectStoreExt, PutPayload};
use strand_model::{BlockId, TenantId};

use crate::config::{BackendConfig, BackendKind, S3Config};
use crate::counting::{CountingStore, StoreMetrics};
use crate::error::BackendError;
use crate::keys;
use crate::meta::{BlockMeta, TenantIndex};

/// A bucket with strand's key layout on top.
///
/// Cheap to clone. Correctness never relies on conditional writes (`If-None-Match`), because some
/// S3-compatible stores (Garage, for one) ignore them: every object is written once under a fresh
/// block ID, and `meta.json` is written last.
#[derive(Clone, Debug)]
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    /// Serialises read-modify-write updates of tenant indexes made by this process.
    index_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Backend {
    /// Wraps any object store.
    pub fn new(store: Arc<dyn ObjectStore>) -> Backend {
        Backend { store, index_lock: Arc::default() }
    }

    /// An in-memory bucket, for unit tests.
    pub fn in_memory() -> Backend {
        Backend::new(Arc::new(InMemory::new()))
    }

    /// Opens the configured store. A local folder is created if missing. Every request made
    /// through it is counted in `strand_object_store_requests_total` (see `counting.rs`).
    pub fn open(config: &BackendConfig) -> Result<Backend, BackendError> {
        config.validate().map_err(BackendError::Config)?;
        // The gap within which the store's own `get_ranges` merges ranges into one request.
        let (store, range_coalesce): (Arc<dyn ObjectStore>, u64) = match config.kind {
            BackendKind::Memory => (Arc::new(InMemory::new()), 0),
            BackendKind::Local => {
                std::fs::create_dir_all(&config.local.path).map_err(|e| {
                    BackendError::Config(format!("cannot create storage.trace.local.path {:?}: {e}", config.local.path))
                })?;
                let local = LocalFileSystem::new_with_prefix(&config.local.path)?.with_automatic_cleanup(true);
                (Arc::new(local), 0)
            }
            BackendKind::S3 => (open_s3(&config.s3)?, OBJECT_STORE_COALESCE_DEFAULT),
        };
        Ok(Backend::new(Arc::new(CountingStore::new(store, range_coalesce, StoreMetrics::registered()))))
    }

    /// The raw store, for readers that fetch byte ranges themselves.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Writes a block's `meta.json`. Call it last: once it exists, readers use the block.
    pub async fn write_block_meta(&self, meta: &BlockMeta) -> Result<(), BackendError> {
        let tenant = tenant_of(meta)?;
        let json = serde_json::to_vec(meta).map_err(|e| corrupt(&meta.block_id.to_string(), e))?;
        self.store.put(&keys::block_object(&tenant, meta.block_id, keys::META), PutPayload::from(json)).await?;
        Ok(())
    }

    /// Reads a block's `meta.json`; `None` when the block has none (not finished, or compacted).
    pub async fn read_block_meta(&self, tenant: &TenantId, block: BlockId) -> Result<Option<BlockMeta>, BackendError> {
        let key = keys::block_object(tenant, block, keys::META);
        match self.store.get(&key).await {
            Ok(result) => {
                let bytes = result.bytes().await?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(key.as_ref(), e))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Tenants that have anything stored.
    pub async fn list_tenants(&self) -> Result<Vec<TenantId>, BackendError> {
        let listing = self.store.list_with_delimiter(None).await?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|prefix| prefix.filename().and_then(|name| TenantId::new(name).ok()))
            .collect())
    }

    /// Block folders of a tenant, whether or not they are finished.
    pub async fn list_blocks(&self, tenant: &TenantId) -> Result<Vec<BlockId>, BackendError> {
        let listing = self.store.list_with_delimiter(Some(&keys::tenant_folder(tenant))).await?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|prefix| prefix.filename().and_then(|name| BlockId::parse(name).ok()))
            .collect())
    }

    /// Reads the tenant index; `None` if it was never written.
    pub async fn read_tenant_index(&self, tenant: &TenantId) -> Result<Option<TenantIndex>, BackendError> {
        let key = keys::tenant_index(tenant);
        let bytes = match self.store.get(&key).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let json = zstd::decode_all(bytes.as_ref()).map_err(|e| corrupt(key.as_ref(), e))?;
        serde_json::from_slice(&json).map(Some).map_err(|e| corrupt(key.as_ref(), e))
    }

    /// Replaces the tenant index.
    pub async fn write_tenant_index(&self, tenant: &TenantId, index: &TenantIndex) -> Result<(), BackendError> {
        let key = keys::tenant_index(tenant);
        let json = serde_json::to_vec(index).map_err(|e| corrupt(key.as_ref(), e))?;
        let compressed = zstd::encode_all(json.as_slice(), 3).map_err(|e| corrupt(key.as_ref(), e))?;
        self.store.put(&key, PutPayload::from(Bytes::from(compressed))).await?;
        Ok(())
    }

    /// Adds a freshly flushed block to its tenant's index, so readers see it without waiting for
    /// the next full rebuild. Racing writers in other processes may lose this update; the
    /// periodic rebuild ([`Backend::rebuild_tenant_index`]) repairs that.
    pub async fn add_to_tenant_index(&self, meta: &BlockMeta) -> Result<(), BackendError> {
        let tenant = tenant_of(meta)?;
        let _guard = self.index_lock.lock().await;
        let mut index = self.read_tenant_index(&tenant).await?.unwrap_or_default();
        index.metas.retain(|m| m.block_id != meta.block_id);
        index.metas.push(meta.clone());
        index.created_at = now_secs();
        self.write_tenant_index(&tenant, &index).await
    }

    /// Rebuilds a tenant's index from a listing: a block is live exactly when its `meta.json`
    /// exists (not merely its folder, which may still hold a compacted block's other files).
    /// Costs one paginated LIST, plus one GET for each live block the old index did not know.
    pub async fn rebuild_tenant_index(&self, tenant: &TenantId) -> Result<TenantIndex, BackendError> {
        let _guard = self.index_lock.lock().await;
        let previous = self.read_tenant_index(tenant).await.ok().flatten().unwrap_or_default();
        let live = self.live_blocks(tenant).await?;
        let mut metas: Vec<BlockMeta> = previous.metas.into_iter().filter(|m| live.contains(&m.block_id)).collect();
        let known: HashSet<BlockId> = metas.iter().map(|m| m.block_id).collect();
        for block in live.difference(&known) {
            if let Some(meta) = self.read_block_meta(tenant, *block).await? {
                metas.push(meta);
            }
        }
        metas.sort_by_key(|m| (m.start_unix_nano, m.block_id));
        let index = TenantIndex { created_at: now_secs(), metas };
        self.write_tenant_index(tenant, &index).await?;
        Ok(index)
    }

    /// Blocks of a tenant that have a `meta.json`.
    async fn live_blocks(&self, tenant: &TenantId) -> Result<HashSet<BlockId>, BackendError> {
        let prefix = keys::tenant_folder(tenant);
        let locations: Vec<Path> = self.store.list(Some(&prefix)).map_ok(|m| m.location).try_collect().await?;
        Ok(locations
            .iter()
            .filter(|location| location.filename() == Some(keys::META))
            .filter_map(|location| {
                let mut parts = location.prefix_match(&prefix)?;
                let block = parts.next()?;
                BlockId::parse(block.as_ref()).ok()
            })
            .collect())
    }

    /// Deletes every object under a prefix.
    pub async fn delete_prefix(&self, prefix: &Path) -> Result<(), BackendError> {
        let objects: Vec<_> = self.store.list(Some(prefix)).map_ok(|m| m.location).try_collect().await?;
        for location in objects {
            match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

fn open_s3(config: &S3Config) -> Result<Arc<dyn ObjectStore>, BackendError> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
    if !config.endpoint.is_empty() {
        let endpoint = if config.endpoint.contains("://") {
            config.endpoint.clone()
        } else {
            let scheme = if config.insecure { "http" } else { "https" };
            format!("{scheme}://{}", config.endpoint)
        };
        builder = builder.with_endpoint(endpoint);
    }
    if !config.access_key.is_empty() {
        builder = builder.with_access_key_id(&config.access_key);
    }
    if !config.secret_key.is_empty() {
        builder = builder.with_secret_access_key(&config.secret_key);
    }
    if !config.session_token.is_empty() {
        builder = builder.with_token(&config.session_token);
    }
    if !config.region.is_empty() {
        builder = builder.with_region(&config.region);
    }
    builder = builder.with_allow_http(config.insecure).with_virtual_hosted_style_request(!config.forcepathstyle);
    let store = builder.build()?;
    let prefix = config.prefix.trim_matches('/');
    if prefix.is_empty() { Ok(Arc::new(store)) } else { Ok(Arc::new(PrefixStore::new(store, prefix))) }
}

fn tenant_of(meta: &BlockMeta) -> Result<TenantId, BackendError> {
    TenantId::new(&meta.tenant_id)
        .map_err(|e| BackendError::Corrupt { key: meta.block_id.to_string(), reason: e.to_string() })
}

fn corrupt(key: &str, err: impl std::fmt::Display) -> BackendError {
    BackendError::Corrupt { key: key.to_string(), reason: err.to_string() }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}
