//! strand's storage formats. The only crate that uses `parquet` and `arrow`.
//!
//! - [`block`]: the versioned Parquet block (schema `v1`): the writer that turns traces into
//!   `data.parquet` plus a `filter` object (trace-ID membership filter and sparse index), the
//!   upload that writes `meta.json` last, the reader that finds a trace by ID, and the scan and
//!   k-way merge that compaction uses.
//! - [`search`]: TraceQL over blocks and over OTLP traces: the engine's fetchers.
//! - [`wal`]: the ingester's write-ahead log: length-prefixed, checksummed records in numbered
//!   segment files, group-committed with fsync, replayed with torn tails truncated.
//!
//! It does not decide when blocks are cut or flushed; that is the ingester's job.
#![warn(missing_docs)]

pub mod block;
pub mod search;
pub mod wal;

pub use block::{
    BlockConfig, BlockError, BlockReader, BlockScan, BlockWriter, ScannedTrace, WrittenBlock, compact_blocks,
    upload_block,
};
pub use wal::{ReplayStats, Wal, WalConfig, WalError, decode_push_record, encode_push_record, replay};

/// What the criterion benchmarks in `benches/` measure directly. Not part of the API.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::block::filter::BlockFilter;
    pub use crate::block::scan::decode_columns;
}
