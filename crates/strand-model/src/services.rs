//! The calls roles make to each other.
//!
//! Roles never depend on each other's crates. The distributor pushes through [`Pusher`], the
//! querier reads recent data through [`IngesterQuerier`], and the frontend looks traces up through
//! [`TraceByIdQuerier`]. In the single binary these are plain method calls on the other role's
//! handle; between processes they are gRPC clients.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use strand_common::ServiceError;
use strand_proto::tempopb::{SearchResponse, Trace};

use crate::{SearchRequest, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse, TenantId, TraceId};

/// The spans of one trace from one push, encoded as a `tempopb.Trace` message.
///
/// Encoded `Trace` messages concatenate into a valid `Trace` (repeated fields append), so an
/// ingester can keep a live trace as one growing byte buffer and never decode it on the hot path.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceBytes {
    /// The trace these spans belong to.
    pub id: TraceId,
    /// A `tempopb.Trace`, protobuf-encoded.
    pub bytes: Bytes,
    /// How many spans `bytes` holds, so rejections can be counted without decoding.
    pub span_count: u32,
    /// Earliest span start in `bytes`, in Unix nanoseconds.
    pub start_unix_nano: u64,
    /// Latest span end in `bytes`, in Unix nanoseconds.
    pub end_unix_nano: u64,
}

/// One push from a distributor to an ingester: spans already grouped by trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PushRequest {
    /// One entry per trace.
    pub traces: Vec<TraceBytes>,
}

impl PushRequest {
    /// Total encoded size of the push.
    pub fn size_bytes(&self) -> usize {
        self.traces.iter().map(|t| t.bytes.len()).sum()
    }

    /// Total spans in the push.
    pub fn span_count(&self) -> u64 {
        self.traces.iter().map(|t| u64::from(t.span_count)).sum()
    }
}

/// What an ingester did with a push it acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushResponse {
    /// Spans the ingester refused (for example because their trace is over the size limit).
    /// Everything else is durable.
    pub rejected_spans: u64,
    /// Why spans were refused, for OTLP `partial_success.error_message`.
    pub error_message: Option<String>,
}

/// Accepts pushes. The ingester implements it; a push returns only once it is durable.
#[async_trait]
pub trait Pusher: Send + Sync + 'static {
    /// Makes the push durable and visible to reads, or fails without acknowledging any of it.
    async fn push(&self, tenant: &TenantId, request: PushRequest) -> Result<PushResponse, ServiceError>;
}

/// A trace (or part of one) found by ID.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FoundTrace {
    /// The spans found, combined and sorted.
    pub trace: Trace,
    /// True when the trace hit the per-trace size limit and some of its spans were not kept.
    pub truncated: bool,
    /// Bytes read to find it.
    pub inspected_bytes: u64,
}

impl FoundTrace {
    /// Merges several partial answers for the same trace.
    pub fn combine(parts: impl IntoIterator<Item = FoundTrace>) -> Option<FoundTrace> {
        let mut combiner = crate::TraceCombiner::new();
        let mut truncated = false;
        let mut inspected_bytes = 0;
        let mut any = false;
        for part in parts {
            any = true;
            truncated |= part.truncated;
            inspected_bytes += part.inspected_bytes;
            combiner.add(part.trace);
        }
        (any && combiner.span_count() > 0).then(|| FoundTrace { trace: combiner.finish(), truncated, inspected_bytes })
    }
}

/// Looks up recent data (live traces, head and unflushed blocks) held by ingesters.
#[async_trait]
pub trait IngesterQuerier: Send + Sync + 'static {
    /// The part of the trace this ingester holds, if any.
    async fn find_trace_by_id(&self, tenant: &TenantId, id: TraceId) -> Result<Option<FoundTrace>, ServiceError>;

    /// Searches everything this ingester holds for the tenant.
    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError>;

    /// Tag names in data not yet in object storage.
    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError>;

    /// One attribute's values in data not yet in object storage.
    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError>;
}

/// The ingesters a querier asks for recent data.
///
/// The single binary has exactly one; in a cluster it is the ring's healthy members, which
/// change as ingesters come and go, so the querier asks for the current list on every request.
pub trait IngesterSource: Send + Sync + 'static {
    /// The ingesters to ask now.
    fn ingesters(&self) -> Vec<Arc<dyn IngesterQuerier>>;

    /// How many of them may fail to answer while the answer is still complete: with a
    /// replication factor of 3 and a write quorum of 2, every acknowledged trace is on at least
    /// two ingesters, so one may fail.
    fn tolerated_failures(&self) -> usize;
}

/// A fixed list of ingesters that must all answer: the single binary's.
pub struct FixedIngesters(pub Vec<Arc<dyn IngesterQuerier>>);

impl IngesterSource for FixedIngesters {
    fn ingesters(&self) -> Vec<Arc<dyn IngesterQuerier>> {
        self.0.clone()
    }

    fn tolerated_failures(&self) -> usize {
        0
    }
}

/// An optional time window, in Unix seconds, that narrows which blocks are searched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start, in Unix seconds.
    pub start: Option<u64>,
    /// Inclusive end, in Unix seconds.
    pub end: Option<u64>,
}

impl TimeRange {
    /// Whether a block covering `[block_start, block_end]` (Unix seconds) may hold data in range.
    pub fn overlaps(&self, block_start: u64, block_end: u64) -> bool {
        self.start.is_none_or(|start| block_end >= start) && self.end.is_none_or(|end| block_start <= end)
    }
}

/// Finds whole traces by ID across ingesters and object storage. The querier implements it.
#[async_trait]
pub trait TraceByIdQuerier: Send + Sync + 'static {
    /// The combined trace, or `None` if no part of it exists.
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        range: TimeRange,
    ) -> Result<Option<FoundTrace>, ServiceError>;
}
