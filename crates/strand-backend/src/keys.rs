//! Where things live in the bucket.
//!
//! ```text
//! <tenant>/index.json.zst                 tenant index
//! <tenant>/<block>/data.parquet           span rows
//! <tenant>/<block>/filter                 trace-ID filter and sparse index
//! <tenant>/<block>/tags.json.zst          attribute keys and values, for autocomplete
//! <tenant>/<block>/meta.json              written last: the block exists once this exists
//! <tenant>/<block>/meta.compacted.json    replaces meta.json once compacted away
//! ```
//! Tenant IDs are validated (`strand_model::TenantId`) before they get here, so they are always a
//! single safe path segment.

use object_store::path::Path;
use strand_model::{BlockId, TenantId};

/// The Parquet file with the block's span rows.
pub const DATA: &str = "data.parquet";
/// The trace-ID filter and sparse index of a block.
pub const FILTER: &str = "filter";
/// Attribute keys and values of a block, for autocomplete.
pub const TAGS: &str = "tags.json.zst";
/// The block's metadata; written last.
pub const META: &str = "meta.json";
/// The metadata of a block that compaction replaced.
pub const COMPACTED_META: &str = "meta.compacted.json";
/// The tenant index file name.
pub const TENANT_INDEX: &str = "index.json.zst";

/// `<tenant>/<block>/<name>`.
pub fn block_object(tenant: &TenantId, block: BlockId, name: &str) -> Path {
    Path::from_iter([tenant.as_str(), &block.to_string(), name])
}

/// `<tenant>/<block>/`.
pub fn block_folder(tenant: &TenantId, block: BlockId) -> Path {
    Path::from_iter([tenant.as_str(), &block.to_string()])
}

/// `<tenant>/`.
pub fn tenant_folder(tenant: &TenantId) -> Path {
    Path::from(tenant.as_str())
}

/// `<tenant>/index.json.zst`.
pub fn tenant_index(tenant: &TenantId) -> Path {
    Path::from_iter([tenant.as_str(), TENANT_INDEX])
}
