//! A search: fetch traces, evaluate the query on each, turn matches into search results.

use std::ops::ControlFlow;

use strand_proto::tempopb::TraceSearchMetadata;

use super::Plan;
use crate::ast::Query;
use crate::data::Trace;
use crate::fetch::{FetchSpansRequest, FetchStats, SpansetFetcher};
use crate::result::search_metadata;

/// What a search found in one fetcher's data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchOutcome {
    /// One entry per matching trace, in the order the fetcher produced them.
    pub traces: Vec<TraceSearchMetadata>,
    /// What the fetch inspected.
    pub stats: FetchStats,
}

/// Runs `query` over what `fetcher` holds, with `request` (from [`Query::fetch_request`]).
/// Stops after `limit` matching traces (0 for no limit); each spanset shows at most
/// `spans_per_span_set` spans. Metrics queries match nothing.
pub fn search<F: SpansetFetcher>(
    query: &Query,
    request: &FetchSpansRequest,
    fetcher: &mut F,
    limit: usize,
    spans_per_span_set: u32,
) -> Result<SearchOutcome, F::Error> {
    let plan = Plan::new(query);
    let mut traces = Vec::new();
    let mut visit = |trace: Trace| {
        if let Some(found) = plan.evaluate(&trace) {
            traces.push(search_metadata(&trace, &found, spans_per_span_set));
            if limit > 0 && traces.len() >= limit {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    };
    let stats = fetcher.fetch(request, &mut visit)?;
    Ok(SearchOutcome { traces, stats })
}
