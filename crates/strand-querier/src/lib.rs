//! strand's querier: finds traces by ID across the ingesters (recent data) and the blocks in
//! object storage, and combines the parts; runs the frontend's search jobs (`search.rs`): the
//! ingesters' recent data, or a slice of one block's row groups; and answers tag lookups from
//! the blocks' tag summaries plus the ingesters' live data.
//!
//! Ingesters come from an [`strand_model::IngesterSource`]: one fixed ingester in the single
//! binary, the ring's healthy members in a cluster, where a few may fail without losing data.
//!
//! Blocks are chosen from the blocklist by time range; each block's trace-ID filter then rules it
//! in or out without touching its data (`strand_encoding::BlockReader`).

mod config;
mod ingesters;
mod querier;
mod search;

pub use config::QuerierConfig;
pub use querier::Querier;
