//! Parquet's async reader over the object store, for one lookup.
//!
//! It serves the cached footer instead of fetching it, merges the page ranges Parquet asks for
//! into as few ranged GETs as possible, and counts the bytes it fetched.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ParquetMetaData;

/// Ranges closer than this are fetched together: one request costs far more than reading a
/// few hundred KiB extra from object storage.
const COALESCE_GAP: u64 = 512 * 1024;

/// Reads byte ranges of one `data.parquet`.
pub(crate) struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    metadata: Arc<ParquetMetaData>,
    fetched_bytes: Arc<AtomicU64>,
}

impl ObjectReader {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        metadata: Arc<ParquetMetaData>,
        fetched_bytes: Arc<AtomicU64>,
    ) -> Self {
        ObjectReader { store, path, metadata, fetched_bytes }
    }
}

/// Merges sorted-or-not ranges whose gaps are at most `gap`; returns the merged ranges, sorted.
pub(crate) fn coalesce(ranges: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.start < r.end).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            Some(last) if range.start <= last.end.saturating_add(gap) => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

fn store_error(err: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(err))
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        async move {
            let bytes = self.store.get_range(&self.path, range).await.map_err(store_error)?;
            self.fetched_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(bytes)
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let merged = coalesce(&ranges, COALESCE_GAP);
            let fetched = self.store.get_ranges(&self.path, &merged).await.map_err(store_error)?;
            let total: u64 = fetched.iter().map(|b| b.len() as u64).sum();
            self.fetched_bytes.fetch_add(total, Ordering::Relaxed);
            ranges
                .iter()
                .map(|range| {
                    if range.start >= range.end {
                        return Ok(Bytes::new());
                    }
                    // Every asked range lies inside exactly one merged range.
                    let slot = merged.partition_point(|m| m.end < range.end);
                    let (outer, bytes) = merged.get(slot).zip(fetched.get(slot)).ok_or_else(|| short_read(range))?;
                    let start = range.start.checked_sub(outer.start).ok_or_else(|| short_read(range))? as usize;
                    let end = start + (range.end - range.start) as usize;
                    if end > bytes.len() {
                        return Err(short_read(range));
                    }
                    Ok(bytes.slice(start..end))
                })
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        let metadata = Arc::clone(&self.metadata);
        async move { Ok(metadata) }.boxed()
    }
}

fn short_read(range: &Range<u64>) -> ParquetError {
    ParquetError::General(format!("object store returned too few bytes for range {range:?}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nearby_ranges_merge_and_distant_ones_do_not() {
        assert_eq!(coalesce(&[10..20, 0..5, 25..30, 1000..1001, 19..22], 5), vec![0..30, 1000..1001]);
        assert_eq!(coalesce(&[0..10, 2..3], 0), vec![0..10]);
        let empty = 5..5;
        assert!(coalesce(std::slice::from_ref(&empty), 10).is_empty());
    }
}
