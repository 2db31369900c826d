//! strand's querier: finds traces by ID across the ingesters (recent data) and the blocks in
//! object storage, and combines the parts.
//!
//! Blocks are chosen from the blocklist by time range; each block's trace-ID filter then rules it
//! in or out without touching its data (`strand_encoding::BlockReader`).

mod config;
mod querier;

pub use config::QuerierConfig;
pub use querier::Querier;
