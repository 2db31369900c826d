//! TraceQL search over stored spans: the `SpansetFetcher` implementations for v1 blocks
//! ([`RowGroupFetcher`], through [`BlockReader::search`](crate::BlockReader::search)) and for
//! OTLP traces ([`OtlpFetcher`]), which the ingester uses for its recent data.
//!
//! A block search reads only the columns the query needs (`plan.rs`), skips row groups outside
//! the time window, and builds spans with only the requested fields (`columns.rs`).

mod block;
mod columns;
pub(crate) mod convert;
mod live;
mod plan;
mod prefilter;
mod query;
mod tags;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use block::{BlockSearch, RowGroupFetcher};
pub use convert::trace_from_otlp;
pub use live::OtlpFetcher;
pub use query::{answer_tag_values, answer_tags, compile_search, merge_tag_values, merge_tags, services_in_filter};
pub use tags::TagSummary;
