//! strand's compactor.
//!
//! Every `compaction_cycle` the [`Compactor`] makes one pass over every tenant in object storage:
//!
//! - it rebuilds the tenant index from a listing, which repairs the updates that ingesters racing
//!   on the index lost;
//! - it groups live blocks by the `compaction_window` their start falls in and merges the blocks
//!   of a window (`plan.rs`, `job.rs`, with `strand_encoding::compact_blocks` doing the merge):
//!   spans that replication stored more than once are kept once, and the filter, index and tag
//!   summary are rebuilt;
//! - it retires blocks past the tenant's retention, and the oldest blocks of a tenant over its
//!   byte budget (`retention.rs`);
//! - it deletes retired blocks once `compacted_block_retention` has passed, and folders an
//!   interrupted upload left behind (`tenant.rs`).
//!
//! Several compactors split the work through an [`Ownership`] predicate over (tenant, window):
//! the single binary owns everything, a cluster asks its ring. docs/compaction.md explains the
//! order of writes that keeps every trace readable through crashes.
//!
//! It does not decide the block format (strand-encoding) or where objects live (strand-backend).
#![warn(missing_docs)]

mod compactor;
mod config;
mod error;
mod job;
mod metrics;
mod plan;
mod retention;
mod tenant;

pub use compactor::{Clock, Compactor, CycleReport, Ownership};
pub use config::{CompactionConfig, CompactorConfig};
pub use error::CompactorError;
