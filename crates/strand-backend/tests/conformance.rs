//! Backend conformance: every object store strand can be configured with must behave the same
//! for the calls strand makes.
//!
//! One suite, [`conformance_suite`], runs against process memory, a local folder and a real
//! S3-compatible server. The S3 run needs `STRAND_TEST_S3_ENDPOINT` (set by `bash .ci/run`) and
//! fails, rather than skips, without it.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, path::Path};
use strand_backend::testing::TestBucket;
use strand_backend::{BLOCK_FORMAT_V1, Backend, BackendConfig, BackendKind, BlockMeta, LocalConfig, TenantIndex, keys};
use strand_model::{BlockId, TenantId};

/// S3's smallest allowed size for every multipart part but the last.
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

#[tokio::test]
async fn in_memory_store_conforms() -> Result<()> {
    let backend = Backend::open(&BackendConfig { kind: BackendKind::Memory, ..BackendConfig::default() })?;
    conformance_suite(backend.store().clone()).await
}

#[tokio::test]
async fn local_folder_store_conforms() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // A folder that does not exist yet, as on a fresh install: opening must create it.
    let path = dir.path().join("blocks");
    let config = BackendConfig {
        kind: BackendKind::Local,
        local: LocalConfig { path: path.to_string_lossy().into_owned() },
        ..BackendConfig::default()
    };
    let backend = Backend::open(&config)?;
    conformance_suite(backend.store().clone()).await
}

#[tokio::test]
async fn s3_store_conforms() -> Result<()> {
    let bucket = TestBucket::create("conformance").await?;
    // A prefix, as when several clusters share a bucket: every key below must land under it.
    let backend = Backend::open(&bucket.backend_config("some/prefix"))?;
    conformance_suite(backend.store().clone()).await
}

/// Everything strand relies on, first on the raw store, then through [`Backend`].
///
/// Expects an empty store. The raw checks clean up after themselves, so the backend checks can
/// assert exact listings.
async fn conformance_suite(store: Arc<dyn ObjectStore>) -> Result<()> {
    put_get_head(&store).await.context("put, get and head")?;
    ranged_reads(&store).await.context("ranged reads")?;
    listing(&store).await.context("listing")?;
    multipart_upload(&store).await.context("multipart upload")?;
    let leftovers: Vec<_> = store.list(None).map_ok(|m| m.location).try_collect().await?;
    ensure!(leftovers.is_empty(), "raw checks left objects behind: {leftovers:?}");

    let backend = Backend::new(store);
    block_metas(&backend).await.context("block metas")?;
    tenant_index(&backend).await.context("tenant index")?;
    rebuild_index(&backend).await.context("tenant index rebuild")?;
    listings_through_backend(&backend).await.context("backend listings")?;
    Ok(())
}

async fn put_get_head(store: &Arc<dyn ObjectStore>) -> Result<()> {
    let key = Path::from("raw/put-get/object.bin");
    let data = pattern(4096, 1);
    store.put(&key, PutPayload::from(data.clone())).await?;
    ensure!(store.get(&key).await?.bytes().await? == data, "get returned different bytes than were put");
    ensure!(store.head(&key).await?.size == 4096, "head reports the wrong size");

    // Last write wins, including when the new object is shorter.
    store.put(&key, PutPayload::from_static(b"second version")).await?;
    ensure!(store.get(&key).await?.bytes().await? == "second version", "overwrite did not replace the object");
    ensure!(store.head(&key).await?.size == 14, "head reports the size of the old object");

    store.delete(&key).await?;
    expect_not_found(store, &key).await?;
    expect_not_found(store, &Path::from("raw/never/written")).await
}

async fn ranged_reads(store: &Arc<dyn ObjectStore>) -> Result<()> {
    let key = Path::from("raw/ranges/object.bin");
    let data = pattern(1000, 2);
    store.put(&key, PutPayload::from(data.clone())).await?;

    ensure!(store.get_range(&key, 100..200).await? == data.slice(100..200), "middle range");
    ensure!(store.get_range(&key, 990..1000).await? == data.slice(990..1000), "range reaching the end");
    // Parquet readers fetch the footer with a suffix range, without knowing the size first.
    let suffix = GetOptions { range: Some(GetRange::Suffix(8)), ..GetOptions::default() };
    ensure!(store.get_opts(&key, suffix).await?.bytes().await? == data.slice(992..1000), "suffix range");
    let ranges = store.get_ranges(&key, &[0..10, 500..600]).await?;
    ensure!(ranges == [data.slice(0..10), data.slice(500..600)], "several ranges at once");

    store.delete(&key).await?;
    Ok(())
}

async fn listing(store: &Arc<dyn ObjectStore>) -> Result<()> {
    let keys = ["raw/list/a/1", "raw/list/a/2", "raw/list/b/deep/3", "raw/list/top", "raw/listing-not-under/x"];
    for key in keys {
        store.put(&Path::from(key), PutPayload::from_static(b"x")).await?;
    }

    // A prefix is a whole folder: `raw/list` must not match `raw/listing-not-under`.
    let listed = locations(store.list(Some(&Path::from("raw/list"))).try_collect().await?);
    ensure!(listed == set(&keys[..4]), "list under raw/list gave {listed:?}");
    let listed = locations(store.list(Some(&Path::from("raw/list/a"))).try_collect().await?);
    ensure!(listed == set(&keys[..2]), "list under raw/list/a gave {listed:?}");

    let level = store.list_with_delimiter(Some(&Path::from("raw/list"))).await?;
    let folders: BTreeSet<String> = level.common_prefixes.iter().map(|p| p.to_string()).collect();
    ensure!(folders == set(&["raw/list/a", "raw/list/b"]), "common prefixes {folders:?}");
    let files = locations(level.objects);
    ensure!(files == set(&["raw/list/top"]), "objects at the level {files:?}");

    let root = store.list_with_delimiter(None).await?;
    let folders: BTreeSet<String> = root.common_prefixes.iter().map(|p| p.to_string()).collect();
    ensure!(folders == set(&["raw"]), "common prefixes at the root {folders:?}");
    ensure!(root.objects.is_empty(), "objects at the root {:?}", root.objects);

    for key in keys {
        store.delete(&Path::from(key)).await?;
    }
    Ok(())
}

async fn multipart_upload(store: &Arc<dyn ObjectStore>) -> Result<()> {
    let key = Path::from("raw/multipart/data.parquet");
    let parts = [pattern(MIN_PART_SIZE, 3), pattern(MIN_PART_SIZE, 4), pattern(512 * 1024 + 17, 5)];
    let mut upload = store.put_multipart(&key).await?;
    for part in &parts {
        upload.put_part(PutPayload::from(part.clone())).await?;
    }
    upload.complete().await?;

    let whole: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    ensure!(whole.len() > 10 * 1024 * 1024, "the test object should be over 10 MiB");
    ensure!(store.head(&key).await?.size == whole.len() as u64, "head size after multipart upload");
    ensure!(store.get(&key).await?.bytes().await? == whole, "whole multipart object");
    // Across the first part boundary, and across the second into the short last part.
    for boundary in [MIN_PART_SIZE, 2 * MIN_PART_SIZE] {
        let range = (boundary - 100) as u64..(boundary + 100) as u64;
        let got = store.get_range(&key, range.clone()).await?;
        ensure!(got == whole[boundary - 100..boundary + 100], "range {range:?} across a part boundary");
    }

    store.delete(&key).await?;
    expect_not_found(store, &key).await
}

async fn block_metas(backend: &Backend) -> Result<()> {
    let tenant = TenantId::new("meta-tenant")?;
    let meta = block_meta(&tenant, 1_700_000_000);
    backend.write_block_meta(&meta).await?;
    let read = backend.read_block_meta(&tenant, meta.block_id).await?;
    ensure!(read.as_ref() == Some(&meta), "meta.json round trip gave {read:?}");
    ensure!(backend.read_block_meta(&tenant, BlockId::new_random()).await?.is_none(), "a missing meta.json is None");

    // meta.json sits where Tempo-style tooling looks for it, with Tempo's field names.
    let key = keys::block_object(&tenant, meta.block_id, keys::META);
    let json: serde_json::Value = serde_json::from_slice(&backend.store().get(&key).await?.bytes().await?)?;
    ensure!(json["blockID"] == meta.block_id.to_string() && json["tenantID"] == "meta-tenant", "meta.json: {json}");
    Ok(())
}

async fn tenant_index(backend: &Backend) -> Result<()> {
    let tenant = TenantId::new("index-tenant")?;
    ensure!(backend.read_tenant_index(&tenant).await?.is_none(), "an index that was never written is None");

    let first = block_meta(&tenant, 1_700_000_000);
    let index = TenantIndex { created_at: 1_700_000_100, metas: vec![first.clone()] };
    backend.write_tenant_index(&tenant, &index).await?;
    ensure!(backend.read_tenant_index(&tenant).await? == Some(index), "tenant index round trip");

    // The persisted form is zstd-compressed JSON, readable without strand.
    let raw = backend.store().get(&keys::tenant_index(&tenant)).await?.bytes().await?;
    let json: serde_json::Value = serde_json::from_slice(&zstd::decode_all(raw.as_ref())?)?;
    ensure!(json["metas"][0]["blockID"] == first.block_id.to_string(), "index.json.zst: {json}");

    let second = block_meta(&tenant, 1_700_000_500);
    backend.add_to_tenant_index(&second).await?;
    // Adding a block again replaces its entry rather than duplicating it.
    let first_compacted = BlockMeta { compaction_level: 1, ..first.clone() };
    backend.add_to_tenant_index(&first_compacted).await?;
    let index = backend.read_tenant_index(&tenant).await?.context("index disappeared")?;
    let mut metas = index.metas;
    metas.sort_by_key(|m| m.start_unix_nano);
    ensure!(metas == [first_compacted, second], "index after add_to_tenant_index: {metas:?}");
    Ok(())
}

async fn rebuild_index(backend: &Backend) -> Result<()> {
    let tenant = TenantId::new("rebuild-tenant")?;
    let finished_late = block_meta(&tenant, 1_700_000_900);
    let finished_early = block_meta(&tenant, 1_700_000_000);
    for meta in [&finished_late, &finished_early] {
        backend.store().put(&keys::block_object(&tenant, meta.block_id, keys::DATA), payload("rows")).await?;
        backend.write_block_meta(meta).await?;
    }
    // Still being written: data but no meta.json, so readers must not see it yet.
    let unfinished = BlockId::new_random();
    backend.store().put(&keys::block_object(&tenant, unfinished, keys::DATA), payload("partial")).await?;
    // Listed in a stale index but gone from the bucket (compacted and deleted).
    let deleted = block_meta(&tenant, 1_600_000_000);
    backend.write_tenant_index(&tenant, &TenantIndex { created_at: 1, metas: vec![deleted] }).await?;

    let rebuilt = backend.rebuild_tenant_index(&tenant).await?;
    let expected = vec![finished_early.clone(), finished_late.clone()];
    ensure!(rebuilt.metas == expected, "rebuilt index, sorted by start time: {:?}", rebuilt.metas);
    ensure!(rebuilt.created_at > 1, "rebuilt index keeps the stale creation time");
    ensure!(backend.read_tenant_index(&tenant).await? == Some(rebuilt), "rebuilt index was not written");

    // Deleting a block's folder (as retention does) removes it from the next rebuild.
    backend.delete_prefix(&keys::block_folder(&tenant, finished_late.block_id)).await?;
    let rebuilt = backend.rebuild_tenant_index(&tenant).await?;
    ensure!(rebuilt.metas == [finished_early], "index after deleting a block: {:?}", rebuilt.metas);
    let blocks: BTreeSet<BlockId> = backend.list_blocks(&tenant).await?.into_iter().collect();
    ensure!(!blocks.contains(&finished_late.block_id), "a deleted block folder is still listed: {blocks:?}");
    Ok(())
}

async fn listings_through_backend(backend: &Backend) -> Result<()> {
    let tenants: BTreeSet<String> = backend.list_tenants().await?.iter().map(|t| t.to_string()).collect();
    ensure!(tenants == set(&["index-tenant", "meta-tenant", "rebuild-tenant"]), "tenants {tenants:?}");

    // The index tenant has an index file but no block folders; those are not blocks.
    let tenant = TenantId::new("index-tenant")?;
    ensure!(backend.list_blocks(&tenant).await?.is_empty(), "index-tenant has no block folders");

    let tenant = TenantId::new("rebuild-tenant")?;
    let blocks = backend.list_blocks(&tenant).await?;
    ensure!(blocks.len() == 2, "rebuild-tenant: one finished and one unfinished block, got {blocks:?}");
    let mut with_meta = 0;
    for block in blocks {
        if backend.read_block_meta(&tenant, block).await?.is_some() {
            with_meta += 1;
        }
    }
    ensure!(with_meta == 1, "rebuild-tenant: {with_meta} blocks with meta.json, expected 1");
    Ok(())
}

async fn expect_not_found(store: &Arc<dyn ObjectStore>, key: &Path) -> Result<()> {
    match store.get(key).await {
        Err(object_store::Error::NotFound { .. }) => {}
        Err(other) => bail!("get {key}: expected NotFound, got {other}"),
        Ok(_) => bail!("get {key}: expected NotFound, but the object exists"),
    }
    match store.head(key).await {
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(other) => bail!("head {key}: expected NotFound, got {other}"),
        Ok(_) => bail!("head {key}: expected NotFound, but the object exists"),
    }
}

fn block_meta(tenant: &TenantId, start_secs: u64) -> BlockMeta {
    let start_unix_nano = start_secs * 1_000_000_000;
    BlockMeta {
        format: BLOCK_FORMAT_V1.to_string(),
        block_id: BlockId::new_random(),
        tenant_id: tenant.to_string(),
        start_unix_nano,
        end_unix_nano: start_unix_nano + 300 * 1_000_000_000,
        total_traces: 120,
        total_spans: 1_450,
        row_groups: 3,
        data_size: 182_344,
        footer_size: 4_210,
        filter_size: 2_048,
        tags_size: 0,
        compaction_level: 0,
        created_at: start_secs + 310,
    }
}

/// Bytes that differ at every offset near a part boundary, so a misplaced range cannot match.
fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64: cheap, deterministic, no repeating short cycle.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn payload(text: &'static str) -> PutPayload {
    PutPayload::from_static(text.as_bytes())
}

fn locations(metas: Vec<object_store::ObjectMeta>) -> BTreeSet<String> {
    metas.into_iter().map(|m| m.location.to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}
