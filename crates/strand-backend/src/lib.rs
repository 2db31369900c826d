//! Object storage for strand.
//!
//! - [`Backend`]: a bucket (local folder, S3-compatible, or in memory for unit tests) with strand's
//!   key layout on top: `<tenant>/<block>/{data.parquet, filter, meta.json}` and
//!   `<tenant>/index.json.zst`.
//! - [`BlockMeta`] and [`TenantIndex`]: the persisted descriptions of blocks.
//! - [`Blocklist`]: the per-tenant list of live blocks that readers consult, kept fresh by polling.
//! - Request counting: every store [`Backend::open`] builds counts its requests by kind and the
//!   bytes it fetched, as `strand_object_store_*` metrics.
//!
//! Block contents (Parquet, filters) are `strand-encoding`'s business, not this crate's.
#![warn(missing_docs)]

mod blocklist;
mod config;
mod counting;
mod error;
pub mod keys;
mod meta;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use blocklist::Blocklist;
pub use config::{BackendConfig, BackendKind, LocalConfig, S3Config};
pub use error::BackendError;
pub use meta::{BLOCK_FORMAT_V1, BlockMeta, CompactedBlockMeta, TenantIndex};
pub use object_store::{ObjectStore, ObjectStoreExt, path::Path as ObjectPath};
pub use store::{Backend, BlockFolder};
