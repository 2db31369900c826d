use serde::{Deserialize, Serialize};
use strand_model::BlockId;

/// The block format this build writes.
pub const BLOCK_FORMAT_V1: &str = "v1";

/// A block's `meta.json`. A persisted contract: add fields with defaults, never change one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// Block format version; selects the reader.
    pub format: String,
    /// The block's ID, also its folder name.
    #[serde(rename = "blockID")]
    pub block_id: BlockId,
    /// The tenant that owns the block.
    #[serde(rename = "tenantID")]
    pub tenant_id: String,
    /// Earliest span start in the block, Unix nanoseconds.
    pub start_unix_nano: u64,
    /// Latest span end in the block, Unix nanoseconds.
    pub end_unix_nano: u64,
    /// Number of distinct traces.
    pub total_traces: u64,
    /// Number of spans (Parquet rows).
    pub total_spans: u64,
    /// Number of Parquet row groups; the unit of search sharding.
    pub row_groups: u32,
    /// Size of `data.parquet` in bytes.
    pub data_size: u64,
    /// Bytes after the last column chunk of `data.parquet`: the page index, the footer metadata
    /// and the 8 trailing bytes, so readers fetch all the metadata in one ranged read.
    pub footer_size: u64,
    /// Size of the `filter` object in bytes.
    pub filter_size: u64,
    /// 0 for blocks cut by an ingester; compaction raises it.
    #[serde(default)]
    pub compaction_level: u32,
    /// When the block was completed, Unix seconds.
    #[serde(default)]
    pub created_at: u64,
    /// Size of the `tags.json.zst` summary; 0 for blocks written before summaries existed.
    #[serde(default)]
    pub tags_size: u64,
}

impl BlockMeta {
    /// The block's time span in Unix seconds, rounded outwards.
    pub fn time_range_secs(&self) -> (u64, u64) {
        (self.start_unix_nano / 1_000_000_000, self.end_unix_nano.div_ceil(1_000_000_000))
    }
}

/// A block's `meta.compacted.json`: its `meta.json` plus when it stopped being live.
///
/// Written when compaction replaces the block or retention expires it, just before `meta.json`
/// is deleted. The block's other objects stay readable until `compacted_block_retention` has
/// passed, so readers holding an older blocklist still find its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactedBlockMeta {
    /// The block's `meta.json`, unchanged.
    #[serde(flatten)]
    pub meta: BlockMeta,
    /// When the block was retired, Unix seconds.
    pub compacted_time: u64,
}

/// `<tenant>/index.json.zst`: every live block's meta, so readers need one GET instead of a
/// LIST plus one GET per block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantIndex {
    /// When the index was written, Unix seconds.
    pub created_at: u64,
    /// Live blocks.
    pub metas: Vec<BlockMeta>,
}
