//! Search and tag lookups over everything an instance holds: live traces, the head block and cut
//! blocks. Each trace's parts are read and combined first, so the query sees the whole trace
//! as far as this ingester knows it.

use std::sync::Arc;
use std::time::Duration;

use strand_common::{ServiceError, spawn_cpu};
use strand_encoding::search::{OtlpFetcher, TagSummary, answer_tag_values, answer_tags, compile_search};
use strand_model::{SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse};
use strand_proto::tempopb::{SearchMetrics, SearchResponse};

use crate::ingester::read_parts;
use crate::instance::Instance;

const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// How long after its flush a block's local copy is still searched alongside object storage:
/// far longer than a frontend takes from planning a search to running its ingester job.
const JUST_FLUSHED: Duration = Duration::from_secs(60);

/// Runs a search over `instance`, or answers empty when the tenant has sent nothing here.
pub(crate) async fn search_recent(
    instance: Option<Arc<Instance>>,
    request: &SearchRequest,
) -> Result<SearchResponse, ServiceError> {
    let query = compile_search(&request.query)?;
    let Some(instance) = instance else {
        return Ok(SearchResponse { traces: Vec::new(), metrics: Some(SearchMetrics::default()) });
    };
    let request = request.clone();
    let task = move || {
        let start = u64::from(request.start_secs) * NANOS_PER_SECOND;
        let end = if request.end_secs == 0 { 0 } else { (u64::from(request.end_secs) + 1) * NANOS_PER_SECOND - 1 };
        let fetch = query.fetch_request(start, end);
        // With a window, the frontend also searches the blocks in object storage, and a flushed
        // block joins the blocklist when its flush completes: searching its local copy again
        // would only cost time, except for blocks flushed while the frontend was planning.
        // Without a window, this is the only search, so it covers them all.
        let recent_only = request.start_secs == 0 && request.end_secs == 0;
        let parts = instance.locate_all(if recent_only { Duration::MAX } else { JUST_FLUSHED });
        let traces = parts
            .into_iter()
            .filter_map(|(id, parts)| read_parts(parts).map(|found| (id, found.trace, found.inspected_bytes)));
        let mut fetcher = OtlpFetcher::new(traces);
        let Ok(outcome) =
            strand_traceql::search(&query, &fetch, &mut fetcher, request.limit as usize, request.spans_per_span_set);
        let metrics = SearchMetrics {
            inspected_traces: u32::try_from(outcome.stats.inspected_traces).unwrap_or(u32::MAX),
            inspected_bytes: outcome.stats.inspected_bytes,
            inspected_spans: outcome.stats.inspected_spans,
            ..SearchMetrics::default()
        };
        SearchResponse { traces: outcome.traces, metrics: Some(metrics) }
    };
    spawn_cpu(task).await.map_err(|e| ServiceError::internal(format!("search task failed: {e}")))
}

/// The tag summary of everything not yet in object storage (flushed blocks have their own).
async fn summary(instance: Arc<Instance>) -> Result<(TagSummary, u64), ServiceError> {
    let task = move || {
        let mut summary = TagSummary::default();
        let mut inspected = 0;
        for (_, parts) in instance.locate_all(Duration::ZERO) {
            if let Some(found) = read_parts(parts) {
                inspected += found.inspected_bytes;
                summary.add_trace(&found.trace);
            }
        }
        (summary, inspected)
    };
    spawn_cpu(task).await.map_err(|e| ServiceError::internal(format!("tag summary task failed: {e}")))
}

pub(crate) async fn search_tags(
    instance: Option<Arc<Instance>>,
    request: &TagsRequest,
) -> Result<TagsResponse, ServiceError> {
    let Some(instance) = instance else { return Ok(TagsResponse::default()) };
    let (summary, inspected_bytes) = summary(instance).await?;
    Ok(TagsResponse { inspected_bytes, ..answer_tags(&summary, request) })
}

pub(crate) async fn search_tag_values(
    instance: Option<Arc<Instance>>,
    request: &TagValuesRequest,
) -> Result<TagValuesResponse, ServiceError> {
    let Some(instance) = instance else { return Ok(TagValuesResponse::default()) };
    let (summary, inspected_bytes) = summary(instance).await?;
    Ok(TagValuesResponse { inspected_bytes, ..answer_tag_values(&summary, request) })
}
