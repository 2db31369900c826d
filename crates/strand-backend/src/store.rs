use std::collections::{BTreeMap, HashSet};
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
use crate::meta::{BlockMeta, CompactedBlockMeta, TenantIndex};

/// What one listing says about a block folder (times are the store's, in Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockFolder {
    /// The folder's block.
    pub block_id: BlockId,
    /// `meta.json` exists: readers use the block.
    pub live: bool,
    /// When `meta.compacted.json` was written, if it exists.
    pub compacted_at: Option<u64>,
    /// When the newest object in the folder was written.
    pub last_modified: u64,
    /// Bytes of every object in the folder.
    pub bytes: u64,
}

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
        self.read_json(&keys::block_object(tenant, block, keys::META)).await
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
        let folders = self.list_block_folders(tenant).await?;
        Ok(folders.into_iter().filter(|folder| folder.live).map(|folder| folder.block_id).collect())
    }

    /// Every block folder of a tenant with what its objects say about it, from one paginated
    /// LIST. This is how the compactor finds compacted blocks whose grace period is over and
    /// folders that an interrupted upload left without any meta.
    pub async fn list_block_folders(&self, tenant: &TenantId) -> Result<Vec<BlockFolder>, BackendError> {
        let prefix = keys::tenant_folder(tenant);
        let objects: Vec<object_store::ObjectMeta> = self.store.list(Some(&prefix)).try_collect().await?;
        let mut folders: BTreeMap<BlockId, BlockFolder> = BTreeMap::new();
        for object in &objects {
            let Some(mut parts) = object.location.prefix_match(&prefix) else { continue };
            // `<tenant>/<block>/<name>`: anything shallower (the tenant index) is not a block.
            let (Some(block), Some(name), None) = (parts.next(), parts.next(), parts.next()) else { continue };
            let Ok(block_id) = BlockId::parse(block.as_ref()) else { continue };
            let modified = object.last_modified.timestamp().max(0) as u64;
            let folder = folders.entry(block_id).or_insert(BlockFolder {
                block_id,
                live: false,
                compacted_at: None,
                last_modified: 0,
                bytes: 0,
            });
            folder.last_modified = folder.last_modified.max(modified);
            folder.bytes += object.size;
            match name.as_ref() {
                keys::META => folder.live = true,
                keys::COMPACTED_META => folder.compacted_at = Some(modified),
                _ => {}
            }
        }
        Ok(folders.into_values().collect())
    }

    /// Retires a block: writes its `meta.compacted.json`, then deletes its `meta.json`, after
    /// which listings no longer count it as live. The marker goes first so that a crash in
    /// between leaves a block that is still live (and is retired again later), never a folder
    /// with no meta whose data nobody would know how to age out.
    pub async fn mark_block_compacted(&self, meta: &BlockMeta, compacted_time: u64) -> Result<(), BackendError> {
        let tenant = tenant_of(meta)?;
        let compacted = CompactedBlockMeta { meta: meta.clone(), compacted_time };
        let key = keys::block_object(&tenant, meta.block_id, keys::COMPACTED_META);
        let json = serde_json::to_vec(&compacted).map_err(|e| corrupt(key.as_ref(), e))?;
        self.store.put(&key, PutPayload::from(json)).await?;
        match self.store.delete(&keys::block_object(&tenant, meta.block_id, keys::META)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a block's `meta.compacted.json`; `None` when the block has none.
    pub async fn read_compacted_block_meta(
        &self,
        tenant: &TenantId,
        block: BlockId,
    ) -> Result<Option<CompactedBlockMeta>, BackendError> {
        self.read_json(&keys::block_object(tenant, block, keys::COMPACTED_META)).await
    }

    /// Reads and parses a JSON object; `None` when it does not exist.
    async fn read_json<T: serde::de::DeserializeOwned>(&self, key: &Path) -> Result<Option<T>, BackendError> {
        match self.store.get(key).await {
            Ok(result) => {
                let bytes = result.bytes().await?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(key.as_ref(), e))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a whole block folder, its metas last: a deletion cut short leaves a folder that
    /// still says what it is, so the next attempt finds and finishes it.
    pub async fn delete_block(&self, tenant: &TenantId, block: BlockId) -> Result<(), BackendError> {
        let folder = keys::block_folder(tenant, block);
        let mut objects: Vec<Path> = self.store.list(Some(&folder)).map_ok(|m| m.location).try_collect().await?;
        // Data first, then meta.json, then meta.compacted.json.
        let rank = |location: &Path| match location.filename() {
            Some(keys::META) => 1,
            Some(keys::COMPACTED_META) => 2,
            _ => 0,
        };
        objects.sort_by_key(rank);
        for location in objects {
            match self.store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::meta::BLOCK_FORMAT_V1;

    fn meta(tenant: &TenantId, block: BlockId) -> BlockMeta {
        BlockMeta {
            format: BLOCK_FORMAT_V1.to_string(),
            block_id: block,
            tenant_id: tenant.as_str().to_string(),
            start_unix_nano: 1_000_000_000,
            end_unix_nano: 2_000_000_000,
            total_traces: 1,
            total_spans: 1,
            row_groups: 1,
            data_size: 5,
            footer_size: 1,
            filter_size: 1,
            compaction_level: 0,
            created_at: 1,
            tags_size: 0,
        }
    }

    async fn put(backend: &Backend, tenant: &TenantId, block: BlockId, name: &str) {
        let key = keys::block_object(tenant, block, name);
        backend.store().put(&key, PutPayload::from_static(b"bytes")).await.unwrap();
    }

    #[tokio::test]
    async fn retiring_a_block_swaps_its_meta_and_deleting_it_empties_the_folder() {
        let backend = Backend::in_memory();
        let tenant = TenantId::new("t").unwrap();
        let (live, half_uploaded) = (BlockId::new_random(), BlockId::new_random());
        put(&backend, &tenant, live, keys::DATA).await;
        backend.write_block_meta(&meta(&tenant, live)).await.unwrap();
        put(&backend, &tenant, half_uploaded, keys::DATA).await;
        backend.write_tenant_index(&tenant, &TenantIndex::default()).await.unwrap();

        let folders = backend.list_block_folders(&tenant).await.unwrap();
        assert_eq!(folders.len(), 2, "the tenant index is not a block: {folders:?}");
        let of = |folders: &[BlockFolder], id| folders.iter().find(|f| f.block_id == id).cloned().unwrap();
        assert!(of(&folders, live).live && of(&folders, live).compacted_at.is_none());
        assert!(!of(&folders, half_uploaded).live && of(&folders, half_uploaded).bytes == 5);

        backend.mark_block_compacted(&meta(&tenant, live), 42).await.unwrap();
        assert_eq!(backend.read_block_meta(&tenant, live).await.unwrap(), None);
        let compacted = backend.read_compacted_block_meta(&tenant, live).await.unwrap().unwrap();
        assert_eq!((compacted.meta, compacted.compacted_time), (meta(&tenant, live), 42));
        let folder = of(&backend.list_block_folders(&tenant).await.unwrap(), live);
        assert!(!folder.live && folder.compacted_at.is_some());
        assert!(backend.rebuild_tenant_index(&tenant).await.unwrap().metas.is_empty());

        backend.delete_block(&tenant, live).await.unwrap();
        let left = backend.list_block_folders(&tenant).await.unwrap();
        assert_eq!(left.iter().map(|f| f.block_id).collect::<Vec<_>>(), vec![half_uploaded]);
    }

    #[test]
    fn compacted_meta_is_the_meta_plus_compacted_time() {
        let tenant = TenantId::new("t").unwrap();
        let compacted = CompactedBlockMeta { meta: meta(&tenant, BlockId::new_random()), compacted_time: 7 };
        let json: serde_json::Value = serde_json::to_value(&compacted).unwrap();
        assert_eq!(json["compactedTime"], 7);
        assert_eq!(json["tenantID"], "t");
        assert_eq!(json["compactionLevel"], 0);
        let back: CompactedBlockMeta = serde_json::from_value(json).unwrap();
        assert_eq!(back, compacted);
    }
}
