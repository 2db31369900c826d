//! The search sharder: splits one search into jobs, runs them with bounded concurrency and feeds
//! their answers to the combiner.
//!
//! There is always one job over the ingesters' recent data, whatever the window: unlike Tempo,
//! strand does not guess from `query_backend_after` which data has reached object storage. When
//! the request has a window, every block of the tenant that overlaps it is cut into row-group
//! slices of about `target_bytes_per_job` bytes of `data.parquet`, most recent blocks first, so a
//! search that fills its limit early has looked at the newest data.

use futures::StreamExt;
use strand_backend::BlockMeta;
use strand_common::ServiceError;
use strand_model::{BlockSlice, SearchQuerier, SearchRequest, TenantId};
use strand_proto::tempopb::{SearchMetrics, SearchResponse};

use crate::combiner::SearchCombiner;
use crate::metrics;

/// One unit of search work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Job {
    /// The ingesters' live traces and not-yet-flushed blocks.
    Recent,
    /// A slice of one block's row groups.
    Block(BlockSlice),
}

/// The jobs of one search, in the order they start, and what they cover.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) jobs: Vec<Job>,
    /// Blocks overlapping the window.
    pub(crate) total_blocks: u32,
    /// Their `data.parquet` bytes.
    pub(crate) total_block_bytes: u64,
}

/// Plans a search over `[start, end]` (Unix seconds; both 0 for recent data only).
pub(crate) fn plan(blocks: &[BlockMeta], start: u32, end: u32, target_bytes_per_job: u64) -> Plan {
    let mut plan = Plan { jobs: vec![Job::Recent], total_blocks: 0, total_block_bytes: 0 };
    if start == 0 && end == 0 {
        return plan;
    }
    let (start, end) = (u64::from(start), u64::from(end));
    let mut overlapping: Vec<&BlockMeta> = blocks
        .iter()
        .filter(|meta| {
            let (block_start, block_end) = meta.time_range_secs();
            block_start <= end && block_end >= start
        })
        .collect();
    overlapping.sort_by(|a, b| {
        (b.end_unix_nano, b.start_unix_nano)
            .cmp(&(a.end_unix_nano, a.start_unix_nano))
            .then(a.block_id.cmp(&b.block_id))
    });
    for meta in overlapping {
        plan.total_blocks = plan.total_blocks.saturating_add(1);
        plan.total_block_bytes = plan.total_block_bytes.saturating_add(meta.data_size);
        plan.jobs.extend(slices(meta, target_bytes_per_job).map(Job::Block));
    }
    plan
}

/// Cuts a block into runs of row groups holding about `target` bytes each (at least one row
/// group per slice). Row groups are assumed to be of equal size: `data_size / row_groups`.
fn slices(meta: &BlockMeta, target: u64) -> impl Iterator<Item = BlockSlice> + '_ {
    let row_groups = meta.row_groups;
    let per_slice = if meta.data_size <= target {
        row_groups
    } else {
        let bytes_per_row_group = (meta.data_size / u64::from(row_groups.max(1))).max(1);
        u32::try_from(target / bytes_per_row_group).unwrap_or(u32::MAX).clamp(1, row_groups.max(1))
    };
    (0..row_groups).step_by(usize::try_from(per_slice.max(1)).unwrap_or(usize::MAX)).map(move |first| BlockSlice {
        block_id: meta.block_id,
        first_row_group: first,
        row_groups: per_slice.min(row_groups - first),
    })
}

/// Runs the plan: at most `concurrent_jobs` jobs in flight, started in plan order. No new job
/// starts once `request.limit` traces are collected (jobs still running are dropped), unless
/// `most_recent` asks for the most recent traces, which takes every job. A failed job fails the
/// whole search with its error.
#[tracing::instrument(skip_all, fields(tenant = %tenant, jobs = plan.jobs.len()))]
pub(crate) async fn run(
    querier: &dyn SearchQuerier,
    tenant: &TenantId,
    request: &SearchRequest,
    most_recent: bool,
    plan: Plan,
    concurrent_jobs: usize,
) -> Result<SearchResponse, ServiceError> {
    let total_jobs = u32::try_from(plan.jobs.len()).unwrap_or(u32::MAX);
    let mut combiner = SearchCombiner::new(request.limit, most_recent);
    let mut completed_jobs = 0u32;
    let (total_blocks, total_block_bytes) = (plan.total_blocks, plan.total_block_bytes);
    let mut answers = futures::stream::iter(plan.jobs.into_iter().map(|job| async move {
        match &job {
            Job::Recent => {
                metrics::SEARCH_JOBS.with_label_values(&["recent"]).inc();
                querier.search_recent(tenant, request).await
            }
            Job::Block(slice) => {
                metrics::SEARCH_JOBS.with_label_values(&["block"]).inc();
                querier.search_block(tenant, request, slice).await
            }
        }
    }))
    .buffer_unordered(concurrent_jobs.max(1));
    while let Some(answer) = answers.next().await {
        combiner.add(answer?);
        completed_jobs += 1;
        if combiner.is_complete() {
            break;
        }
    }
    let mut response = combiner.finish();
    let metrics = response.metrics.get_or_insert_with(SearchMetrics::default);
    metrics.total_jobs = total_jobs;
    metrics.completed_jobs = completed_jobs;
    metrics.total_blocks = total_blocks;
    metrics.total_block_bytes = total_block_bytes;
    Ok(response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strand_model::BlockId;

    use super::*;
    use crate::testing::block;

    fn slice_shapes(plan: &Plan) -> Vec<(BlockId, u32, u32)> {
        plan.jobs
            .iter()
            .filter_map(|job| match job {
                Job::Block(slice) => Some((slice.block_id, slice.first_row_group, slice.row_groups)),
                Job::Recent => None,
            })
            .collect()
    }

    #[test]
    fn without_a_window_only_recent_data_is_searched() {
        let blocks = [block(100, 200, 4, 400)];
        assert_eq!(plan(&blocks, 0, 0, 100), Plan { jobs: vec![Job::Recent], total_blocks: 0, total_block_bytes: 0 });
    }

    #[test]
    fn overlapping_blocks_are_sliced_most_recent_first_after_the_recent_job() {
        let old = block(100, 200, 4, 400);
        let new = block(150, 300, 2, 50);
        let outside = block(400, 500, 1, 10);
        let before = block(10, 99, 1, 10);
        let plan = plan(&[old.clone(), outside, new.clone(), before], 100, 350, 200);
        assert_eq!(plan.jobs[0], Job::Recent);
        assert_eq!(
            slice_shapes(&plan),
            [(new.block_id, 0, 2), (old.block_id, 0, 2), (old.block_id, 2, 2)],
            "the newer block first, whole (it is under target); the older one in 2-row-group slices"
        );
        assert_eq!((plan.total_blocks, plan.total_block_bytes), (2, 450));
    }

    #[test]
    fn block_edges_touching_the_window_count_as_overlap() {
        let ends_at_start = block(50, 100, 1, 1);
        let starts_at_end = block(200, 300, 1, 1);
        assert_eq!(plan(&[ends_at_start, starts_at_end], 100, 200, 10).total_blocks, 2);
    }

    #[test]
    fn slices_cover_every_row_group_once() {
        for (row_groups, data_size, target) in [(10, 1000, 300), (7, 700, 100), (3, 3000, 1), (5, 0, 10), (1, 10, 1)] {
            let meta = block(1, 2, row_groups, data_size);
            let slices: Vec<_> = slices(&meta, target).collect();
            let mut next = 0;
            for slice in &slices {
                assert_eq!(slice.first_row_group, next);
                assert!(slice.row_groups >= 1);
                next += slice.row_groups;
            }
            assert_eq!(next, row_groups, "{row_groups} row groups, {data_size} bytes, target {target}");
        }
        // 1000 bytes over 10 row groups is 100 per row group: 3 per slice for a 300-byte target.
        let shapes: Vec<_> = slices(&block(1, 2, 10, 1000), 300).map(|s| (s.first_row_group, s.row_groups)).collect();
        assert_eq!(shapes, [(0, 3), (3, 3), (6, 3), (9, 1)]);
        assert_eq!(slices(&block(1, 2, 0, 1000), 300).count(), 0);
    }
}
