//! Counting what strand asks of object storage: requests by kind and bytes fetched, as
//! `strand_object_store_requests_total{operation}` and `strand_object_store_fetched_bytes_total`.
//!
//! On S3 every request costs money and a round trip, so "how many requests does a trace lookup
//! make" is a figure operators and the benchmarks need. [`CountingStore`] wraps the store
//! [`crate::Backend::open`] builds and counts at the trait boundary, where each call is one
//! request, except for these:
//!
//! - `get_ranges` is counted as the range requests the wrapped store makes for it: ranges that
//!   overlap or lie within the store's coalescing gap are merged first (1 MiB for S3, which
//!   fetches the merged ranges with one GET each; 0 for a local folder, which reads each merged
//!   range once). The bytes counted are those of the merged ranges.
//! - A listing counts as one `list` request, even when S3 pages through more than 1,000 keys.
//! - `delete` counts one per object, even where S3 deletes in bulk.
//! - Every request of a multipart upload (create, each part, complete or abort) counts as `put`.
//!
//! Requests are counted when made, whether they succeed or not; bytes when they arrive (for a
//! GET, the length of the range the store answered with).
// Registration only fails for a duplicate name, which would be a bug caught by the first test.
#![allow(clippy::expect_used)]

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, RenameOptions, Result, UploadPart,
};
use prometheus::{IntCounter, IntCounterVec, register_int_counter, register_int_counter_vec};

/// What a request did, the `operation` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    /// A whole-object GET.
    Get,
    /// A GET of a byte range, including each range request of a `get_ranges`.
    GetRange,
    /// A HEAD (object metadata only).
    Head,
    /// A PUT, or one request of a multipart upload.
    Put,
    /// A LIST, with or without a delimiter.
    List,
    /// A DELETE of one object.
    Delete,
    /// A server-side COPY.
    Copy,
    /// A RENAME (a copy and a delete on S3; one call on a local folder).
    Rename,
}

impl Operation {
    const ALL: [Operation; 8] = [
        Operation::Get,
        Operation::GetRange,
        Operation::Head,
        Operation::Put,
        Operation::List,
        Operation::Delete,
        Operation::Copy,
        Operation::Rename,
    ];

    fn label(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::GetRange => "get_range",
            Operation::Head => "head",
            Operation::Put => "put",
            Operation::List => "list",
            Operation::Delete => "delete",
            Operation::Copy => "copy",
            Operation::Rename => "rename",
        }
    }
}

/// The counters one [`CountingStore`] adds to; clones share them.
#[derive(Clone, Debug)]
pub(crate) struct StoreMetrics {
    /// Indexed like [`Operation::ALL`], resolved once so counting is an atomic add.
    requests: [IntCounter; Operation::ALL.len()],
    fetched_bytes: IntCounter,
}

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_object_store_requests_total",
        "Requests made to object storage, by operation (get, get_range, head, put, list, delete, copy, rename).",
        &["operation"]
    )
    .expect("register")
});

static FETCHED_BYTES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_object_store_fetched_bytes_total", "Bytes fetched from object storage by GETs.")
        .expect("register")
});

impl StoreMetrics {
    /// The process-wide counters in the default registry, which `/metrics` serves.
    pub(crate) fn registered() -> StoreMetrics {
        StoreMetrics::from_parts(&REQUESTS, FETCHED_BYTES.clone())
    }

    /// Counters of their own, in no registry, so a test sees only its own requests.
    #[cfg(test)]
    fn unregistered() -> StoreMetrics {
        let requests =
            IntCounterVec::new(prometheus::Opts::new("requests", "requests"), &["operation"]).expect("valid");
        let bytes = IntCounter::new("bytes", "bytes").expect("valid");
        StoreMetrics::from_parts(&requests, bytes)
    }

    fn from_parts(requests: &IntCounterVec, fetched_bytes: IntCounter) -> StoreMetrics {
        StoreMetrics { requests: Operation::ALL.map(|op| requests.with_label_values(&[op.label()])), fetched_bytes }
    }

    fn count(&self, operation: Operation, requests: u64) {
        if let Some(counter) = self.requests.get(operation as usize) {
            counter.inc_by(requests);
        }
    }

    fn fetched(&self, bytes: u64) {
        self.fetched_bytes.inc_by(bytes);
    }
}

// `Operation as usize` indexes `requests`: keep the declaration order and `ALL` in step.
const _: () = {
    let mut i = 0;
    while i < Operation::ALL.len() {
        assert!(Operation::ALL[i] as usize == i);
        i += 1;
    }
};

/// An object store that counts the requests made through it (see the module docs).
#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    /// Ranges of a `get_ranges` closer than this are fetched with one request by `inner`.
    range_coalesce: u64,
    metrics: StoreMetrics,
}

impl CountingStore {
    /// Wraps `inner`, whose `get_ranges` merges ranges at most `range_coalesce` bytes apart.
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, range_coalesce: u64, metrics: StoreMetrics) -> CountingStore {
        CountingStore { inner, range_coalesce, metrics }
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for CountingStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.metrics.count(Operation::Put, 1);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.metrics.count(Operation::Put, 1);
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload { inner: upload, metrics: self.metrics.clone() }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let operation = if options.head {
            Operation::Head
        } else if options.range.is_some() {
            Operation::GetRange
        } else {
            Operation::Get
        };
        self.metrics.count(operation, 1);
        let result = self.inner.get_opts(location, options).await?;
        if operation != Operation::Head {
            self.metrics.fetched(result.range.end.saturating_sub(result.range.start));
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let merged = merge_ranges(ranges, self.range_coalesce);
        self.metrics.count(Operation::GetRange, merged.len() as u64);
        let fetched = self.inner.get_ranges(location, ranges).await?;
        self.metrics.fetched(merged.iter().map(|r| r.end - r.start).sum());
        Ok(fetched)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        let metrics = self.metrics.clone();
        let counted = locations.inspect(move |location| {
            if location.is_ok() {
                metrics.count(Operation::Delete, 1);
            }
        });
        self.inner.delete_stream(counted.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.metrics.count(Operation::List, 1);
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.metrics.count(Operation::List, 1);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.metrics.count(Operation::List, 1);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.metrics.count(Operation::Copy, 1);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.metrics.count(Operation::Rename, 1);
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload whose every request counts as a `put`.
#[derive(Debug)]
struct CountingUpload {
    inner: Box<dyn MultipartUpload>,
    metrics: StoreMetrics,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.metrics.count(Operation::Put, 1);
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        self.metrics.count(Operation::Put, 1);
        self.inner.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.metrics.count(Operation::Put, 1);
        self.inner.abort().await
    }
}

/// The ranges `object_store` fetches for `ranges` when it merges those at most `gap` apart: the
/// same rule as its `coalesce_ranges`, which S3's `get_ranges` uses.
fn merge_ranges(ranges: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match merged.last_mut() {
            // `checked_sub` fails when the range starts inside the previous one: overlapping.
            Some(last) if range.start.checked_sub(last.end).is_none_or(|distance| distance <= gap) => {
                last.end = last.end.max(range.end)
            }
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::{OBJECT_STORE_COALESCE_DEFAULT, ObjectStoreExt};

    use super::*;

    fn counted(metrics: &StoreMetrics, operation: Operation) -> u64 {
        metrics.requests[operation as usize].get()
    }

    #[test]
    fn ranges_merge_like_object_store_does() {
        assert_eq!(merge_ranges(&[10..20, 0..5, 25..30, 1000..1001, 19..22], 5), vec![0..30, 1000..1001]);
        assert_eq!(merge_ranges(&[0..10, 2..3], 0), vec![0..10]);
        assert_eq!(merge_ranges(&[0..10, 10..20, 21..30], 0), vec![0..20, 21..30]);
        assert!(merge_ranges(&[], 0).is_empty());
    }

    #[tokio::test]
    async fn every_kind_of_request_is_counted() {
        let metrics = StoreMetrics::unregistered();
        let store = CountingStore::new(Arc::new(InMemory::new()), OBJECT_STORE_COALESCE_DEFAULT, metrics.clone());
        let key = Path::from("tenant/block/data.parquet");
        let data: Vec<u8> = (0..4 * 1024 * 1024).map(|i| i as u8).collect();
        store.put(&key, PutPayload::from(data.clone())).await.unwrap();

        assert_eq!(store.get(&key).await.unwrap().bytes().await.unwrap().len(), data.len());
        assert_eq!(store.get_range(&key, 100..200).await.unwrap().as_ref(), &data[100..200]);
        store.head(&key).await.unwrap();
        // Two ranges within 1 MiB of each other are one request; the third is another.
        let ranges = [0..10, 500_000..500_010, 3_000_000..3_000_100];
        let fetched = store.get_ranges(&key, &ranges).await.unwrap();
        assert_eq!(fetched[2].as_ref(), &data[3_000_000..3_000_100]);
        assert!(store.get(&Path::from("missing")).await.is_err());

        let listed: Vec<ObjectMeta> = store.list(Some(&Path::from("tenant"))).try_collect().await.unwrap();
        assert_eq!(listed.len(), 1);
        store.list_with_delimiter(None).await.unwrap();
        store.copy(&key, &Path::from("tenant/copy")).await.unwrap();
        store.delete(&Path::from("tenant/copy")).await.unwrap();

        let mut upload = store.put_multipart(&Path::from("tenant/big")).await.unwrap();
        upload.put_part(PutPayload::from(vec![1u8; 10])).await.unwrap();
        upload.put_part(PutPayload::from(vec![2u8; 10])).await.unwrap();
        upload.complete().await.unwrap();

        assert_eq!(counted(&metrics, Operation::Get), 2, "one found, one missing");
        assert_eq!(counted(&metrics, Operation::GetRange), 1 + 2);
        assert_eq!(counted(&metrics, Operation::Head), 1);
        assert_eq!(counted(&metrics, Operation::Put), 1 + 4, "a put, then create + 2 parts + complete");
        assert_eq!(counted(&metrics, Operation::List), 2);
        assert_eq!(counted(&metrics, Operation::Copy), 1);
        assert_eq!(counted(&metrics, Operation::Delete), 1);
        assert_eq!(counted(&metrics, Operation::Rename), 0);
        assert_eq!(metrics.fetched_bytes.get(), data.len() as u64 + 100 + 500_010 + 100);
    }

    #[test]
    fn the_registered_metrics_carry_the_documented_names() {
        let metrics = StoreMetrics::registered();
        metrics.count(Operation::GetRange, 1);
        let names: Vec<String> = prometheus::gather().iter().map(|family| family.name().to_string()).collect();
        assert!(names.contains(&"strand_object_store_requests_total".to_string()), "{names:?}");
        assert!(names.contains(&"strand_object_store_fetched_bytes_total".to_string()), "{names:?}");
    }
}
