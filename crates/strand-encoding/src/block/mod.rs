//! The Parquet block, format `v1`: one row per span, rows sorted by (trace ID, span start).
//!
//! A block is three objects under `<tenant>/<block>/`:
//!
//! - `data.parquet`: the span rows (`schema.rs` pins the columns);
//! - `filter`: a binary fuse filter over the block's trace IDs plus a sparse trace-ID index
//!   (`filter.rs`), so a lookup in a block that lacks the trace costs no request once the filter is
//!   cached, and a lookup in the block that has it reads only one slice of rows;
//! - `meta.json`: written last by [`upload_block`]; a block exists for readers once it exists.
//!
//! [`BlockWriter`] builds `data.parquet` on local disk plus the filter in memory; [`upload_block`]
//! ships them; [`BlockReader`] finds a trace by ID; [`BlockScan`] reads a whole block back in
//! trace-ID order, and [`compact_blocks`] merges several blocks into one with it. The schema is a
//! persisted contract: a change means a `v2` module beside this one, never an edit of `v1` in
//! place, and the fixture block in `testdata/v1/` must keep reading.

pub(crate) mod attrs;
mod compact;
mod events;
pub(crate) mod filter;
pub(crate) mod nesting;
pub(crate) mod object_reader;
mod reader;
pub(crate) mod rebuild;
mod rows;
pub(crate) mod scan;
pub(crate) mod schema;
mod upload;
mod writer;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests;

use serde::{Deserialize, Serialize};
use strand_common::{ErrorCode, ServiceError, Size};
use strand_model::TraceId;

pub use compact::compact_blocks;
pub use reader::BlockReader;
pub use scan::{BlockScan, ScannedTrace};
pub use upload::upload_block;
pub use writer::{BlockWriter, WrittenBlock};

/// The `storage.trace.block` configuration section: how blocks are laid out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockConfig {
    /// Target encoded size of a Parquet row group. Row groups are the unit of search sharding and
    /// bound the writer's memory; they are cut at trace boundaries once this size is reached.
    pub parquet_row_group_size_bytes: Size,
    /// zstd level for Parquet pages. Low levels keep block building cheap for the ingester;
    /// compaction may raise it.
    pub zstd_level: i32,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig { parquet_row_group_size_bytes: Size::mib(32), zstd_level: 1 }
    }
}

impl BlockConfig {
    /// Checks the values once at startup, with messages a user can act on.
    pub fn validate(&self) -> Result<(), String> {
        if self.parquet_row_group_size_bytes.bytes() == 0 {
            return Err("storage.trace.block.parquet_row_group_size_bytes must be larger than 0".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(format!("storage.trace.block.zstd_level must be between 1 and 22, got {}", self.zstd_level));
        }
        Ok(())
    }
}

/// What went wrong writing, uploading or reading a block.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building or reading Arrow arrays failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Writing `meta.json` or another backend operation failed.
    #[error(transparent)]
    Backend(#[from] strand_backend::BackendError),
    /// Local file IO failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A stored object does not decode as a v1 block.
    #[error("corrupt block object {object}: {reason}")]
    Corrupt {
        /// Which object (`data.parquet`, `filter`…) of which block.
        object: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The writer was given trace IDs out of ascending order; blocks must be sorted.
    #[error("traces must be added in ascending ID order: {next} came after {previous}")]
    OutOfOrder {
        /// The last trace ID added.
        previous: TraceId,
        /// The trace ID that broke the order.
        next: TraceId,
    },
    /// A single batch or block outgrew what the format can address.
    #[error("block too large: {0}")]
    TooLarge(String),
    /// The configuration cannot produce a block.
    #[error("block configuration: {0}")]
    Config(String),
    /// The trace-ID filter could not be built.
    #[error("building the trace-ID filter: {0}")]
    Filter(String),
    /// A CPU task running block work panicked or was cancelled.
    #[error("block task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl BlockError {
    /// A [`BlockError::Corrupt`] for `object`.
    pub(crate) fn corrupt(object: impl Into<String>, reason: impl std::fmt::Display) -> BlockError {
        BlockError::Corrupt { object: object.into(), reason: reason.to_string() }
    }

    /// The client-facing kind of this error: storage trouble is retryable, the rest is a bug or
    /// a damaged block.
    pub fn code(&self) -> ErrorCode {
        match self {
            BlockError::ObjectStore(_) => ErrorCode::Unavailable,
            BlockError::Backend(err) => err.code(),
            _ => ErrorCode::Internal,
        }
    }
}

impl From<BlockError> for ServiceError {
    fn from(err: BlockError) -> Self {
        // Details (keys, offsets, storage messages) stay in the logs; clients learn only the kind.
        tracing::warn!(error = %err, "block error");
        let message = match err.code() {
            ErrorCode::Unavailable => "object storage unavailable",
            _ => "internal error reading or writing a block",
        };
        ServiceError::new(err.code(), message)
    }
}
