//! The `filter` object: which trace IDs a block holds, and where.
//!
//! A binary fuse filter with 16-bit fingerprints (about 18 bits per trace, 1 false positive in
//! 65,536) answers "not here" without touching `data.parquet`; a sparse index of (first trace ID, row group, row offset)
//! taken at every row group start and every page-worth of rows then narrows a lookup to one
//! slice of rows. Readers cache the decoded filter per block.
//!
//! Layout, all integers little-endian (a persisted contract, like the Parquet schema):
//!
//! ```text
//! "STFL" u8:version=1  u64:traces
//! u8:fuse [u64:seed u32:segment_length u32:segment_length_mask u32:segment_count_length
//!          u32:fingerprints fingerprints*(u8 | u16)]
//! u32:entries  entries * (16 bytes trace ID, u32 row group, u32 row offset in the row group)
//! u32:crc32 of everything before it
//! ```
//!
//! `fuse` is 0 for an empty block (nothing follows), 1 for 8-bit fingerprints, 2 for 16-bit ones.
//! Blocks are written with 16 bits. 8 bits (about 9 bits per trace) let 1 absent ID in 256
//! through per block, so with 100 blocks a third of the lookups for a trace that is nowhere read
//! a block for nothing; the blocks written that way still read.
//!
//! The filter holds [`trace_hash`] of each trace ID, a fixed function that is part of the format.

use bytes::{BufMut, Bytes, BytesMut};
use strand_model::TraceId;
use xorf::{BinaryFuse8, BinaryFuse16, Descriptor, Filter};

use super::BlockError;

const MAGIC: &[u8; 4] = b"STFL";
const VERSION: u8 = 1;
const OBJECT: &str = "filter";
const NO_FUSE: u8 = 0;
const FUSE_8: u8 = 1;
const FUSE_16: u8 = 2;

/// The membership filter of a block, in either fingerprint width.
#[derive(Debug)]
enum Fuse {
    Eight(BinaryFuse8),
    Sixteen(BinaryFuse16),
}

impl Fuse {
    fn contains(&self, hash: &u64) -> bool {
        match self {
            Fuse::Eight(fuse) => fuse.contains(hash),
            Fuse::Sixteen(fuse) => fuse.contains(hash),
        }
    }
}

/// A row position: row group and row offset within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RowPosition {
    pub(crate) row_group: u32,
    pub(crate) row_offset: u32,
}

/// One sparse index entry: the trace ID at a row position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SparseEntry {
    pub(crate) trace_id: TraceId,
    pub(crate) position: RowPosition,
}

/// The rows that may hold a trace: `start` inclusive, `end` exclusive (`None`: end of block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowRange {
    pub(crate) start: RowPosition,
    pub(crate) end: Option<RowPosition>,
}

/// The 64-bit key of a trace ID in the fuse filter. Both halves go through a strong mixer so
/// 64-bit IDs padded with zeros (Jaeger, Zipkin) spread as well as random 128-bit ones.
pub(crate) fn trace_hash(id: &TraceId) -> u64 {
    let (high, low) = id.as_bytes().split_at(8);
    let high = u64::from_le_bytes(high.try_into().unwrap_or_default());
    let low = u64::from_le_bytes(low.try_into().unwrap_or_default());
    mix64(high ^ mix64(low ^ 0x9e37_79b9_7f4a_7c15))
}

/// The splitmix64 / murmur3 finaliser.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A decoded `filter` object.
///
/// `pub` (with [`BlockFilter::decode`] and [`BlockFilter::may_contain`]) only so that the `filter`
/// criterion benchmark can measure lookups; see `bench_support` in the crate root.
#[derive(Debug)]
pub struct BlockFilter {
    /// Part of the format for tools and checks; lookups only need the fuse filter and entries.
    #[cfg_attr(not(test), allow(dead_code))]
    traces: u64,
    fuse: Option<Fuse>,
    entries: Vec<SparseEntry>,
}

impl BlockFilter {
    /// Whether the block may hold `id`. Never false for a trace it holds.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.fuse.as_ref().is_some_and(|fuse| fuse.contains(&trace_hash(id)))
    }

    /// The rows that hold `id` if the block has it, from the sparse index.
    pub(crate) fn row_range(&self, id: &TraceId) -> Option<RowRange> {
        // Entries before `below` start with a smaller trace: `id` cannot begin before the last
        // of them. Entries from `above` on start with a larger trace: `id` ends before them.
        let below = self.entries.partition_point(|e| e.trace_id < *id);
        let above = self.entries.partition_point(|e| e.trace_id <= *id);
        let start = match below.checked_sub(1) {
            Some(last_smaller) => self.entries.get(last_smaller)?.position,
            // No smaller entry: only the block's very first trace can match.
            None => self.entries.first().filter(|e| e.trace_id == *id)?.position,
        };
        Some(RowRange { start, end: self.entries.get(above).map(|e| e.position) })
    }

    /// Number of traces in the block.
    #[cfg(test)]
    pub(crate) fn traces(&self) -> u64 {
        self.traces
    }

    /// The sparse index entries.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[SparseEntry] {
        &self.entries
    }

    /// Decodes and validates a `filter` object.
    pub fn decode(bytes: &[u8]) -> Result<BlockFilter, BlockError> {
        let corrupt = |reason: &str| BlockError::corrupt(OBJECT, reason);
        let (body, crc) = bytes.split_at_checked(bytes.len().saturating_sub(4)).ok_or_else(|| corrupt("too short"))?;
        let crc = u32::from_le_bytes(crc.try_into().map_err(|_| corrupt("too short"))?);
        if crc32fast::hash(body) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        let mut cursor = Cursor { rest: body };
        if cursor.take(4)? != MAGIC {
            return Err(corrupt("not a strand filter"));
        }
        let version = cursor.u8()?;
        if version != VERSION {
            return Err(BlockError::corrupt(OBJECT, format!("unsupported filter version {version}")));
        }
        let traces = cursor.u64()?;
        let fuse = match cursor.u8()? {
            NO_FUSE => None,
            width @ (FUSE_8 | FUSE_16) => {
                let descriptor = Descriptor {
                    seed: cursor.u64()?,
                    segment_length: cursor.u32()?,
                    segment_length_mask: cursor.u32()?,
                    segment_count_length: cursor.u32()?,
                };
                let len = cursor.u32()? as usize;
                validate_fuse(&descriptor, len)?;
                Some(if width == FUSE_8 {
                    Fuse::Eight(BinaryFuse8 { descriptor, fingerprints: cursor.take(len)?.into() })
                } else {
                    let bytes = cursor.take(len.checked_mul(2).ok_or_else(|| corrupt("truncated"))?)?;
                    let fingerprints =
                        bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
                    Fuse::Sixteen(BinaryFuse16 { descriptor, fingerprints })
                })
            }
            _ => return Err(corrupt("bad fuse flag")),
        };
        let count = cursor.u32()? as usize;
        if cursor.rest.len() != count.saturating_mul(24) {
            return Err(corrupt("sparse index length mismatch"));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let id = TraceId::from_bytes(cursor.take(16)?).map_err(|e| BlockError::corrupt(OBJECT, e))?;
            let position = RowPosition { row_group: cursor.u32()?, row_offset: cursor.u32()? };
            entries.push(SparseEntry { trace_id: id, position });
        }
        let sorted = entries.windows(2).all(|w| w[0].trace_id <= w[1].trace_id && w[0].position < w[1].position);
        if !sorted {
            return Err(corrupt("sparse index out of order"));
        }
        if fuse.is_none() != entries.is_empty() {
            return Err(corrupt("filter and sparse index disagree"));
        }
        Ok(BlockFilter { traces, fuse, entries })
    }
}

/// Rejects descriptors that would index outside the fingerprints.
fn validate_fuse(d: &Descriptor, fingerprints: usize) -> Result<(), BlockError> {
    let length = u64::from(d.segment_length);
    let valid = d.segment_length.is_power_of_two()
        && d.segment_length_mask == d.segment_length - 1
        && u64::from(d.segment_count_length).is_multiple_of(length)
        && u64::from(d.segment_count_length) + 2 * length <= fingerprints as u64;
    if valid { Ok(()) } else { Err(BlockError::corrupt(OBJECT, "invalid fuse filter descriptor")) }
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BlockError> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or_else(|| BlockError::corrupt(OBJECT, "truncated"))?;
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, BlockError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, BlockError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Result<u64, BlockError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
}

/// Collects trace IDs and sparse entries while a block is written.
#[derive(Default)]
pub(crate) struct FilterBuilder {
    hashes: Vec<u64>,
    entries: Vec<SparseEntry>,
}

impl FilterBuilder {
    /// Records a trace of the block.
    pub(crate) fn add_trace(&mut self, id: &TraceId) {
        self.hashes.push(trace_hash(id));
    }

    /// Records the trace ID found at a row position.
    pub(crate) fn add_entry(&mut self, trace_id: TraceId, position: RowPosition) {
        self.entries.push(SparseEntry { trace_id, position });
    }

    /// Encodes the `filter` object.
    pub(crate) fn finish(mut self) -> Result<Bytes, BlockError> {
        let traces = self.hashes.len() as u64;
        // Distinct IDs may share a hash; the fuse construction wants distinct keys.
        self.hashes.sort_unstable();
        self.hashes.dedup();
        let fuse = if self.hashes.is_empty() {
            None
        } else {
            Some(BinaryFuse16::try_from(&self.hashes).map_err(|e| BlockError::Filter(e.to_string()))?)
        };
        let fingerprints = fuse.as_ref().map(|f| f.fingerprints.len()).unwrap_or_default();
        let mut out = BytesMut::with_capacity(64 + 2 * fingerprints + self.entries.len() * 24);
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        out.put_u64_le(traces);
        match &fuse {
            None => out.put_u8(NO_FUSE),
            Some(fuse) => {
                out.put_u8(FUSE_16);
                out.put_u64_le(fuse.descriptor.seed);
                out.put_u32_le(fuse.descriptor.segment_length);
                out.put_u32_le(fuse.descriptor.segment_length_mask);
                out.put_u32_le(fuse.descriptor.segment_count_length);
                let len =
                    u32::try_from(fuse.fingerprints.len()).map_err(|_| BlockError::TooLarge("fuse filter".into()))?;
                out.put_u32_le(len);
                for fingerprint in &fuse.fingerprints {
                    out.put_u16_le(*fingerprint);
                }
            }
        }
        let count = u32::try_from(self.entries.len()).map_err(|_| BlockError::TooLarge("sparse index".into()))?;
        out.put_u32_le(count);
        for entry in &self.entries {
            out.put_slice(entry.trace_id.as_bytes());
            out.put_u32_le(entry.position.row_group);
            out.put_u32_le(entry.position.row_offset);
        }
        let crc = crc32fast::hash(&out);
        out.put_u32_le(crc);
        Ok(out.freeze())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(n: u64) -> TraceId {
        let mut bytes = [0u8; 16];
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        TraceId(bytes)
    }

    fn pos(row_group: u32, row_offset: u32) -> RowPosition {
        RowPosition { row_group, row_offset }
    }

    fn filter_with_entries(entries: &[(u64, RowPosition)]) -> BlockFilter {
        let mut builder = FilterBuilder::default();
        for (n, position) in entries {
            builder.add_trace(&id(*n));
            builder.add_entry(id(*n), *position);
        }
        BlockFilter::decode(&builder.finish().unwrap()).unwrap()
    }

    #[test]
    fn the_sparse_index_brackets_a_trace_including_one_that_straddles_entries() {
        // Trace 5 starts before the entry at (0, 100) and continues past it.
        let filter = filter_with_entries(&[(1, pos(0, 0)), (5, pos(0, 100)), (9, pos(0, 200)), (12, pos(1, 0))]);
        assert_eq!(filter.row_range(&id(0)), None, "before the first row");
        assert_eq!(filter.row_range(&id(1)), Some(RowRange { start: pos(0, 0), end: Some(pos(0, 100)) }));
        assert_eq!(filter.row_range(&id(5)), Some(RowRange { start: pos(0, 0), end: Some(pos(0, 200)) }));
        assert_eq!(filter.row_range(&id(7)), Some(RowRange { start: pos(0, 100), end: Some(pos(0, 200)) }));
        assert_eq!(filter.row_range(&id(12)), Some(RowRange { start: pos(0, 200), end: None }));
        assert_eq!(filter.row_range(&id(99)), Some(RowRange { start: pos(1, 0), end: None }));
    }

    #[test]
    fn an_empty_block_has_an_empty_filter() {
        let filter = BlockFilter::decode(&FilterBuilder::default().finish().unwrap()).unwrap();
        assert_eq!(filter.traces(), 0);
        assert!(!filter.may_contain(&id(1)));
        assert_eq!(filter.row_range(&id(1)), None);
    }

    #[test]
    fn damaged_filters_are_refused_not_trusted() {
        let mut builder = FilterBuilder::default();
        builder.add_trace(&id(1));
        builder.add_entry(id(1), pos(0, 0));
        let bytes = builder.finish().unwrap();
        let filter = BlockFilter::decode(&bytes).unwrap();
        assert!(filter.may_contain(&id(1)));
        assert_eq!(filter.traces(), 1);
        for cut in [0, 3, bytes.len() - 1] {
            assert!(BlockFilter::decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut flipped = bytes.to_vec();
        flipped[10] ^= 0x40;
        assert!(matches!(BlockFilter::decode(&flipped), Err(BlockError::Corrupt { .. })));
    }

    #[test]
    fn no_false_negatives_and_almost_no_false_positives() {
        use rand::Rng;
        let mut rng = rand::rng();
        let mut builder = FilterBuilder::default();
        let present: Vec<TraceId> = (0..20_000).map(|_| TraceId(rng.random())).collect();
        for trace in &present {
            builder.add_trace(trace);
        }
        builder.add_entry(present[0], pos(0, 0));
        let encoded = builder.finish().unwrap();
        let filter = BlockFilter::decode(&encoded).unwrap();
        assert!(present.iter().all(|trace| filter.may_contain(trace)), "a present trace was filtered out");
        // 16-bit fingerprints: about 3 in 200,000 absent IDs pass. 8 bits would let about 780 by.
        let probes = 200_000;
        let false_positives = (0..probes).filter(|_| filter.may_contain(&TraceId(rng.random()))).count();
        assert!(false_positives < 40, "{false_positives} false positives in {probes}");
        // Still the cheap part of a block: about 18 bits per trace.
        let bits_per_trace = encoded.len() as f64 * 8.0 / present.len() as f64;
        assert!(bits_per_trace < 20.0, "{bits_per_trace} bits per trace");
    }

    #[test]
    fn filters_with_8_bit_fingerprints_still_read() {
        // The layout of blocks written before filters moved to 16 bits, built by hand.
        let present: Vec<TraceId> = (1..=1_000).map(id).collect();
        let hashes: Vec<u64> = present.iter().map(trace_hash).collect();
        let fuse = BinaryFuse8::try_from(&hashes).unwrap();
        let mut out = BytesMut::new();
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        out.put_u64_le(present.len() as u64);
        out.put_u8(FUSE_8);
        out.put_u64_le(fuse.descriptor.seed);
        out.put_u32_le(fuse.descriptor.segment_length);
        out.put_u32_le(fuse.descriptor.segment_length_mask);
        out.put_u32_le(fuse.descriptor.segment_count_length);
        out.put_u32_le(fuse.fingerprints.len() as u32);
        out.put_slice(&fuse.fingerprints);
        out.put_u32_le(1);
        out.put_slice(present[0].as_bytes());
        out.put_u32_le(0);
        out.put_u32_le(0);
        let crc = crc32fast::hash(&out);
        out.put_u32_le(crc);

        let filter = BlockFilter::decode(&out).unwrap();
        assert!(matches!(filter.fuse, Some(Fuse::Eight(_))));
        assert!(present.iter().all(|trace| filter.may_contain(trace)));
        let absent = (1_001..=101_000).filter(|n| filter.may_contain(&id(*n))).count();
        assert!(absent < 1_000, "8-bit fingerprints: about 390 of 100,000 absent IDs pass, got {absent}");
    }
}
