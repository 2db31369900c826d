//! strand's ingester.
//!
//! Each tenant gets an instance (`instance.rs`) holding:
//! - a **WAL** (`strand_encoding::Wal`): every push is appended and fsynced (group commit) before
//!   it is acknowledged;
//! - **live traces** (`live.rs`): traces still receiving spans, kept as the encoded bytes they
//!   arrived in, bounded in bytes per tenant;
//! - a **head block** (`head_block.rs`): complete traces (idle for `trace_idle_period`), appended
//!   to a local file with only an index in memory;
//! - **cut blocks**: head blocks cut by age or size, built into Parquet and uploaded by background
//!   flushes (`flush.rs`), then kept readable for `complete_block_timeout`.
//!
//! WAL segments are deleted only when every block cut before them is in object storage. On start
//! the WAL is replayed, everything in it is cut into a block and flushed.
//!
//! The ingester serves reads of everything it holds through `IngesterQuerier`; it never reads
//! object storage.

mod config;
mod error;
mod flush;
mod head_block;
mod ingester;
mod instance;
mod live;
mod metrics;
mod search;
mod truncate;

pub use config::{IngesterConfig, LifecyclerConfig};
pub use error::IngesterError;
pub use ingester::{FlushListener, Ingester};
