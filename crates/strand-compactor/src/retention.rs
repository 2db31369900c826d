//! Which live blocks retention retires: those past the tenant's retention, and, when the tenant
//! has a byte budget, its oldest blocks until the rest fit.
//!
//! Both are computed over every live block of the tenant, owned or not, so that each compactor
//! reaches the same verdict for a block whichever of them owns it; each then retires only the
//! blocks of the windows it owns.

use strand_backend::BlockMeta;

/// Blocks whose end is before `cutoff_unix_nano`: nothing in them is within retention.
pub(crate) fn expired(live: &[BlockMeta], cutoff_unix_nano: u64) -> Vec<BlockMeta> {
    live.iter().filter(|meta| meta.end_unix_nano < cutoff_unix_nano).cloned().collect()
}

/// Bytes a block occupies in object storage.
pub(crate) fn stored_bytes(meta: &BlockMeta) -> u64 {
    meta.data_size.saturating_add(meta.filter_size).saturating_add(meta.tags_size)
}

/// The oldest blocks (by end, then start) to retire so the rest fit in `budget` bytes.
pub(crate) fn over_budget(live: &[BlockMeta], budget: u64) -> Vec<BlockMeta> {
    let mut total: u64 = live.iter().map(stored_bytes).sum();
    let mut oldest_first: Vec<&BlockMeta> = live.iter().collect();
    oldest_first.sort_by_key(|meta| (meta.end_unix_nano, meta.start_unix_nano, meta.block_id));
    let mut retired = Vec::new();
    for meta in oldest_first {
        if total <= budget {
            break;
        }
        total -= stored_bytes(meta);
        retired.push(meta.clone());
    }
    retired
}

#[cfg(test)]
mod tests {
    use strand_backend::BLOCK_FORMAT_V1;
    use strand_model::BlockId;

    use super::*;

    fn block(start: u64, end: u64, bytes: u64) -> BlockMeta {
        BlockMeta {
            format: BLOCK_FORMAT_V1.to_string(),
            block_id: BlockId::new_random(),
            tenant_id: "t".to_string(),
            start_unix_nano: start,
            end_unix_nano: end,
            total_traces: 1,
            total_spans: 1,
            row_groups: 1,
            data_size: bytes,
            footer_size: 1,
            filter_size: 0,
            compaction_level: 0,
            created_at: 0,
            tags_size: 0,
        }
    }

    #[test]
    fn a_block_expires_only_when_its_end_is_past_the_cutoff() {
        let blocks = vec![block(10, 99, 1), block(10, 100, 1), block(50, 150, 1)];
        let expired = expired(&blocks, 100);
        assert_eq!(expired, vec![blocks[0].clone()]);
    }

    #[test]
    fn the_oldest_blocks_go_first_until_the_rest_fit() {
        let blocks = vec![block(30, 40, 10), block(10, 20, 10), block(50, 60, 10), block(0, 30, 10)];
        assert!(over_budget(&blocks, 40).is_empty());
        let retired = over_budget(&blocks, 25);
        assert_eq!(retired, vec![blocks[1].clone(), blocks[3].clone()]);
        assert_eq!(over_budget(&blocks, 0).len(), 4);
    }
}
