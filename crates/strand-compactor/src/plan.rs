//! Which blocks to merge: grouping by time window and compaction level.
//!
//! A block belongs to the window its start falls in, so a window's blocks never move: merging
//! them yields a block of the same window, and every compactor computes the same window for a
//! block, which is what lets them split windows between them.
//!
//! Within a window, blocks of the same compaction level merge first, lowest level first, as Tempo
//! does: new level-0 blocks keep arriving in a recent window, and merging them with each other
//! rewrites little, where merging each into the window's big block would rewrite all of it every
//! cycle. Once a window is closed (its end is a whole window in the past) and no level has two
//! blocks left, the remaining blocks merge across levels, so a window ends as one block unless
//! the size limits say otherwise.

use std::collections::BTreeMap;

use strand_backend::BlockMeta;

use crate::config::CompactionConfig;

/// One compaction: blocks of one window merged into one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Job {
    /// Start of the inputs' window, Unix seconds.
    pub(crate) window: u64,
    /// The blocks to merge, two or more.
    pub(crate) inputs: Vec<BlockMeta>,
}

/// The start, in Unix seconds, of the window a block starting at `start_unix_nano` belongs to.
pub(crate) fn window_of(start_unix_nano: u64, window_secs: u64) -> u64 {
    let window_secs = window_secs.max(1);
    start_unix_nano / 1_000_000_000 / window_secs * window_secs
}

/// The compactions to run now among `live` blocks, newest windows first, for the windows `owns`
/// accepts.
pub(crate) fn plan(
    live: &[BlockMeta],
    config: &CompactionConfig,
    now_secs: u64,
    owns: impl Fn(u64) -> bool,
) -> Vec<Job> {
    let window_secs = config.compaction_window.get().as_secs().max(1);
    let mut windows: BTreeMap<u64, Vec<&BlockMeta>> = BTreeMap::new();
    for meta in live {
        windows.entry(window_of(meta.start_unix_nano, window_secs)).or_default().push(meta);
    }
    let mut jobs = Vec::new();
    for (window, blocks) in windows.into_iter().rev() {
        if blocks.len() < 2 || !owns(window) {
            continue;
        }
        let mut levels: BTreeMap<u32, Vec<&BlockMeta>> = BTreeMap::new();
        for meta in &blocks {
            levels.entry(meta.compaction_level).or_default().push(meta);
        }
        let mut groups: Vec<Vec<BlockMeta>> = levels.into_values().flat_map(|same| group(same, config)).collect();
        let closed = window.saturating_add(window_secs.saturating_mul(2)) <= now_secs;
        if groups.is_empty() && closed {
            groups = group(blocks, config);
        }
        jobs.extend(groups.into_iter().map(|inputs| Job { window, inputs }));
    }
    jobs
}

/// Splits blocks into groups of two or more that fit the limits, taking blocks in (level, start)
/// order. A block that fits with no other is left alone.
fn group(mut blocks: Vec<&BlockMeta>, config: &CompactionConfig) -> Vec<Vec<BlockMeta>> {
    blocks.sort_by_key(|m| (m.compaction_level, m.start_unix_nano, m.block_id));
    let mut groups = Vec::new();
    let mut rest = blocks;
    while !rest.is_empty() {
        let mut chosen: Vec<&BlockMeta> = Vec::new();
        let (mut traces, mut bytes) = (0u64, 0u64);
        let mut left = Vec::new();
        for meta in rest {
            let fits = chosen.len() < config.max_input_blocks
                && traces.saturating_add(meta.total_traces) <= config.max_compaction_objects
                && bytes.saturating_add(meta.data_size) <= config.max_block_bytes.bytes();
            if fits {
                traces += meta.total_traces;
                bytes += meta.data_size;
                chosen.push(meta);
            } else if chosen.is_empty() {
                // Too big to be merged with anything: it stays as it is.
                continue;
            } else {
                left.push(meta);
            }
        }
        if chosen.len() >= 2 {
            groups.push(chosen.into_iter().cloned().collect());
        }
        // Every round takes at least the first block out, so this ends.
        rest = left;
    }
    groups
}

#[cfg(test)]
mod tests {
    use strand_backend::BLOCK_FORMAT_V1;
    use strand_model::BlockId;

    use super::*;

    const HOUR: u64 = 3600;
    const NOW: u64 = 1_000 * HOUR;

    fn block(start_secs: u64, level: u32, traces: u64, bytes: u64) -> BlockMeta {
        BlockMeta {
            format: BLOCK_FORMAT_V1.to_string(),
            block_id: BlockId::new_random(),
            tenant_id: "t".to_string(),
            start_unix_nano: start_secs * 1_000_000_000,
            end_unix_nano: (start_secs + 60) * 1_000_000_000,
            total_traces: traces,
            total_spans: traces * 10,
            row_groups: 1,
            data_size: bytes,
            footer_size: 1,
            filter_size: 1,
            compaction_level: level,
            created_at: start_secs,
            tags_size: 0,
        }
    }

    fn ids(job: &Job) -> Vec<BlockId> {
        let mut ids: Vec<_> = job.inputs.iter().map(|m| m.block_id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn blocks_starting_in_the_same_window_merge_and_others_do_not() {
        let config = CompactionConfig::default();
        let window = NOW - 5 * HOUR;
        let blocks = vec![
            block(window + 10, 0, 5, 100),
            block(window + 3599, 0, 5, 100),
            block(window + 3600, 0, 5, 100),
            block(window + 1000, 0, 5, 100),
        ];
        let jobs = plan(&blocks, &config, NOW, |_| true);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].window, window);
        let mut expected = vec![blocks[0].block_id, blocks[1].block_id, blocks[3].block_id];
        expected.sort();
        assert_eq!(ids(&jobs[0]), expected);
    }

    #[test]
    fn windows_not_owned_are_left_alone() {
        let config = CompactionConfig::default();
        let (a, b) = (NOW - 10 * HOUR, NOW - 9 * HOUR);
        let blocks = vec![block(a, 0, 1, 1), block(a + 5, 0, 1, 1), block(b, 0, 1, 1), block(b + 5, 0, 1, 1)];
        let jobs = plan(&blocks, &config, NOW, |window| window == b);
        assert_eq!(jobs.iter().map(|j| j.window).collect::<Vec<_>>(), vec![b]);
        assert!(plan(&blocks, &config, NOW, |_| false).is_empty());
    }

    #[test]
    fn limits_split_a_window_into_several_groups() {
        let config = CompactionConfig { max_input_blocks: 3, ..CompactionConfig::default() };
        let window = NOW - 5 * HOUR;
        let blocks: Vec<_> = (0..7).map(|i| block(window + i, 0, 1, 1)).collect();
        let sizes: Vec<usize> = plan(&blocks, &config, NOW, |_| true).iter().map(|j| j.inputs.len()).collect();
        assert_eq!(sizes, vec![3, 3], "the seventh block waits for company");

        let config = CompactionConfig { max_compaction_objects: 10, ..CompactionConfig::default() };
        let blocks = vec![block(window, 0, 6, 1), block(window + 1, 0, 6, 1), block(window + 2, 0, 4, 1)];
        let jobs = plan(&blocks, &config, NOW, |_| true);
        assert_eq!(jobs.len(), 1);
        assert_eq!(ids(&jobs[0]), {
            let mut expected = vec![blocks[0].block_id, blocks[2].block_id];
            expected.sort();
            expected
        });

        let config = CompactionConfig { max_block_bytes: strand_common::Size(100), ..CompactionConfig::default() };
        let blocks = vec![block(window, 0, 1, 150), block(window + 1, 0, 1, 40), block(window + 2, 0, 1, 40)];
        let jobs = plan(&blocks, &config, NOW, |_| true);
        assert_eq!(jobs.len(), 1);
        assert!(!ids(&jobs[0]).contains(&blocks[0].block_id), "a block over the limit is never an input");
    }

    #[test]
    fn levels_merge_separately_until_the_window_is_closed() {
        let config = CompactionConfig::default();
        let open = NOW - HOUR / 2;
        let open_window = window_of(open * 1_000_000_000, HOUR);
        let blocks = vec![block(open, 1, 1, 1), block(open + 1, 0, 1, 1)];
        assert!(plan(&blocks, &config, NOW, |_| true).is_empty(), "an open window keeps levels apart");
        let later = open_window + 2 * HOUR;
        let jobs = plan(&blocks, &config, later, |_| true);
        assert_eq!(jobs.len(), 1, "a closed window merges across levels");

        let blocks =
            vec![block(open, 0, 1, 1), block(open + 1, 0, 1, 1), block(open + 2, 1, 1, 1), block(open + 3, 1, 1, 1)];
        let jobs = plan(&blocks, &config, NOW, |_| true);
        let levels: Vec<Vec<u32>> =
            jobs.iter().map(|j| j.inputs.iter().map(|m| m.compaction_level).collect()).collect();
        assert_eq!(levels, vec![vec![0, 0], vec![1, 1]]);
    }
}
