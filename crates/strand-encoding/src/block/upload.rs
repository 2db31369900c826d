//! Shipping a finished block to object storage, `meta.json` last.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use strand_backend::{Backend, BlockMeta, keys};
use strand_model::{BlockId, TenantId};
use tokio::io::AsyncReadExt;

use super::{BlockError, WrittenBlock};

/// Part size of multipart uploads; files up to this size go in a single PUT.
const PART_SIZE: usize = 8 << 20;
/// Parts in flight at once: memory stays around `PART_SIZE * (MAX_PARTS_IN_FLIGHT + 1)`.
const MAX_PARTS_IN_FLIGHT: usize = 2;

/// Uploads `data.parquet` from `data_path`, the filter and the tag summary, then writes `meta.json` (which makes
/// the block visible) and adds the block to the tenant index.
///
/// Every object goes under a fresh block ID and `meta.json` is written last, so a crash at any
/// point leaves either an invisible, garbage-collectable folder or a complete block; nothing
/// relies on conditional puts. A failed tenant-index update is only logged: the periodic rebuild
/// finds the block by listing.
#[tracing::instrument(skip_all, fields(tenant = %tenant.as_str(), block = %block_id))]
pub async fn upload_block(
    backend: &Backend,
    tenant: &TenantId,
    block_id: BlockId,
    data_path: &Path,
    written: &WrittenBlock,
    compaction_level: u32,
) -> Result<BlockMeta, BlockError> {
    upload_data(backend, tenant, block_id, data_path, written.data_size, PART_SIZE).await?;
    let filter_key = keys::block_object(tenant, block_id, keys::FILTER);
    backend.store().put(&filter_key, PutPayload::from(written.filter.clone())).await?;
    let tags_key = keys::block_object(tenant, block_id, keys::TAGS);
    backend.store().put(&tags_key, PutPayload::from(written.tags.clone())).await?;

    let created_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let meta = written.meta(tenant, block_id, compaction_level, created_at);
    backend.write_block_meta(&meta).await?;
    if let Err(err) = backend.add_to_tenant_index(&meta).await {
        tracing::warn!(tenant = %tenant.as_str(), block = %block_id, error = %err, "adding block to tenant index failed; the next rebuild will add it");
    }
    Ok(meta)
}

/// Streams the data file: one PUT when small, a multipart upload with bounded memory otherwise.
async fn upload_data(
    backend: &Backend,
    tenant: &TenantId,
    block_id: BlockId,
    data_path: &Path,
    expected: u64,
    part_size: usize,
) -> Result<(), BlockError> {
    let key = keys::block_object(tenant, block_id, keys::DATA);
    let mut file = tokio::fs::File::open(data_path).await?;
    let size = file.metadata().await?.len();
    if size != expected {
        // meta.json would describe a different file: readers would fetch wrong footers.
        return Err(BlockError::corrupt(
            "data.parquet",
            format!("local file has {size} bytes, the writer reported {expected}"),
        ));
    }
    if size <= part_size as u64 {
        let mut buffer = Vec::with_capacity(size as usize);
        file.read_to_end(&mut buffer).await?;
        backend.store().put(&key, PutPayload::from(buffer)).await?;
        return Ok(());
    }
    let upload = backend.store().put_multipart(&key).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
    let result = async {
        let mut buffer = vec![0u8; part_size.min(1 << 20)];
        loop {
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<_, BlockError>(());
            }
            writer.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
            writer.write(&buffer[..n]);
        }
    }
    .await;
    match result {
        Ok(()) => {
            writer.finish().await?;
            Ok(())
        }
        Err(err) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, "aborting a failed block upload failed");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_files_go_up_in_parts_and_arrive_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.parquet");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let backend = Backend::in_memory();
        let (tenant, block) = (TenantId::single(), BlockId::new_random());
        upload_data(&backend, &tenant, block, &path, content.len() as u64, 16 * 1024).await.unwrap();
        let key = keys::block_object(&tenant, block, keys::DATA);
        let stored = backend.store().get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(stored.as_ref(), content.as_slice());

        let wrong_size = upload_data(&backend, &tenant, BlockId::new_random(), &path, 5, 16 * 1024).await;
        assert!(matches!(wrong_size, Err(BlockError::Corrupt { .. })));
    }
}
