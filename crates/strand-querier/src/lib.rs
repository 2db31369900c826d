//! strand's querier: finds traces by ID across the ingesters (recent data) and the blocks in
//! object storage, and combines the parts; runs the frontend's search jobs (`search.rs`): the
//! ingesters' recent data, or a slice of one block's row groups; and answers tag lookups from
//! the blocks' tag summaries plus the ingesters' live data.
//!
//! Blocks are chosen from the blocklist by time range; each block's trace-ID filter then rules it
//! in or out without touching its data (`strand_encoding::BlockReader`).

mod config;
mod querier;
mod search;

pub use config::QuerierConfig;
pub use querier::Querier;
