//! Turning a cut head block into a Parquet block in object storage.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use prost::Message;
use strand_backend::{Backend, BlockMeta};
use strand_encoding::{BlockConfig, BlockWriter, WrittenBlock, upload_block};
use strand_proto::tempopb::Trace;

use crate::error::IngesterError;
use crate::head_block::FrozenBlock;
use crate::instance::Instance;

/// Builds the block's Parquet file next to its head file. Blocking: call on the blocking pool.
fn build(
    block: &FrozenBlock,
    instance: &Instance,
    config: &BlockConfig,
) -> Result<(PathBuf, WrittenBlock), IngesterError> {
    let path = instance.blocks_dir.join(format!("{}.parquet", block.id));
    let file = File::create(&path).map_err(|e| IngesterError::io("creating block file", e))?;
    let mut writer = BlockWriter::new(file, config)?;
    for id in &block.sorted_ids {
        let Some((bytes, truncated)) = block.read(id).map_err(|e| IngesterError::io("reading head block", e))? else {
            continue;
        };
        match Trace::decode(bytes.as_ref()) {
            Ok(trace) => writer.add_trace(*id, trace, truncated)?,
            // Cannot happen for bytes the distributor encoded; losing one trace beats losing the block.
            Err(err) => {
                tracing::error!(tenant = %instance.tenant, trace_id = %id, error = %err, "dropping undecodable trace")
            }
        }
    }
    Ok((path, writer.finish()?))
}

/// Builds and uploads one block; the local Parquet file is removed either way.
pub(crate) async fn flush_block(
    instance: &Arc<Instance>,
    block: &Arc<FrozenBlock>,
    backend: &Backend,
    config: &BlockConfig,
) -> Result<BlockMeta, IngesterError> {
    let (path, written) = {
        let (instance, block, config) = (Arc::clone(instance), Arc::clone(block), config.clone());
        strand_common::spawn_cpu(move || build(&block, &instance, &config))
            .await
            .map_err(|e| IngesterError::Task(e.to_string()))??
    };
    let result = upload_block(backend, &instance.tenant, block.id, &path, &written, 0).await;
    if let Err(err) = tokio::fs::remove_file(&path).await {
        tracing::warn!(path = %path.display(), error = %err, "could not remove local block file");
    }
    Ok(result?)
}
