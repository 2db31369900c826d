//! The calls behind TraceQL search, tag names and tag values.
//!
//! The frontend shards a search into jobs and runs them through [`SearchQuerier`]: one job over
//! the ingesters' recent data, and row-group slices of the blocks in the time range. Each job
//! answers a partial `tempopb.SearchResponse`; the frontend merges them. Tags and tag values are
//! cheap (they come from per-block summaries and the ingesters' live data), so they are one call.

use async_trait::async_trait;
use strand_common::ServiceError;
use strand_proto::tempopb::SearchResponse;

use crate::{BlockId, TenantId};

/// A search, validated by the frontend. Every job of one search carries the same request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// The TraceQL query. The legacy `tags`/`minDuration`/`maxDuration` form is turned into
    /// TraceQL by the frontend, so jobs only ever see TraceQL.
    pub query: String,
    /// Inclusive start of the searched window, Unix seconds; 0 when unbounded.
    pub start_secs: u32,
    /// Inclusive end of the searched window, Unix seconds; 0 when unbounded.
    pub end_secs: u32,
    /// How many traces the whole search returns. A job may stop once it has this many.
    pub limit: u32,
    /// At most this many spans are returned per spanset.
    pub spans_per_span_set: u32,
}

/// A slice of a block's row groups: the unit of block search work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSlice {
    /// The block to search.
    pub block_id: BlockId,
    /// First row group of the slice.
    pub first_row_group: u32,
    /// Number of row groups in the slice.
    pub row_groups: u32,
}

/// The scopes tag names are listed under (`/api/v2/search/tags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TagScope {
    /// Resource attributes.
    Resource,
    /// Span attributes.
    Span,
    /// Event attributes.
    Event,
    /// Link attributes.
    Link,
    /// Instrumentation scope attributes.
    Instrumentation,
    /// TraceQL intrinsics (`name`, `status`, …): a fixed list.
    Intrinsic,
}

impl TagScope {
    /// Every scope, in the order `/api/v2/search/tags` lists them.
    pub const ALL: [TagScope; 6] = [
        TagScope::Resource,
        TagScope::Span,
        TagScope::Intrinsic,
        TagScope::Event,
        TagScope::Link,
        TagScope::Instrumentation,
    ];

    /// The scope's name in Tempo's API and in TraceQL.
    pub fn as_str(self) -> &'static str {
        match self {
            TagScope::Resource => "resource",
            TagScope::Span => "span",
            TagScope::Event => "event",
            TagScope::Link => "link",
            TagScope::Instrumentation => "instrumentation",
            TagScope::Intrinsic => "intrinsic",
        }
    }

    /// The scope named `name` in Tempo's API, if there is one.
    pub fn parse(name: &str) -> Option<TagScope> {
        TagScope::ALL.into_iter().find(|scope| scope.as_str() == name)
    }
}

/// Which tag names to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagsRequest {
    /// Only these attribute scopes; empty means all of them.
    pub scopes: Vec<TagScope>,
    /// An optional TraceQL filter; unparseable filters are ignored.
    pub query: Option<String>,
    /// Inclusive start, Unix seconds; 0 means recent data only (with `end_secs` 0).
    pub start_secs: u32,
    /// Inclusive end, Unix seconds.
    pub end_secs: u32,
    /// At most this many names per scope; 0 means no limit.
    pub limit: u32,
}

/// Tag names per scope, each list sorted and de-duplicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagsResponse {
    /// `(scope, names)` for every scope asked for that has names.
    pub scopes: Vec<(TagScope, Vec<String>)>,
    /// Bytes read to answer.
    pub inspected_bytes: u64,
}

/// Which attribute's values to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagValuesRequest {
    /// The attribute's scope; `None` for an unscoped name (span and resource both count).
    pub scope: Option<TagScope>,
    /// The attribute name, without its scope (`service.name`).
    pub name: String,
    /// An optional TraceQL filter narrowing the values; unparseable filters are ignored.
    pub query: Option<String>,
    /// Inclusive start, Unix seconds; 0 means recent data only (with `end_secs` 0).
    pub start_secs: u32,
    /// Inclusive end, Unix seconds.
    pub end_secs: u32,
    /// At most this many values; 0 means no limit.
    pub limit: u32,
}

/// A value of an attribute, typed the way `/api/v2/search/tag/{tag}/values` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypedValue {
    /// `string`, `int`, `float`, `bool`, `duration` or `keyword`.
    pub value_type: String,
    /// The value, printed.
    pub value: String,
}

/// The values of one attribute, sorted and de-duplicated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagValuesResponse {
    /// The values found.
    pub values: Vec<TypedValue>,
    /// Bytes read to answer.
    pub inspected_bytes: u64,
}

/// Runs search jobs and answers tag queries. The querier implements it.
#[async_trait]
pub trait SearchQuerier: Send + Sync + 'static {
    /// Searches the ingesters' recent data: live traces, head and unflushed blocks.
    async fn search_recent(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, ServiceError>;

    /// Searches a slice of one block's row groups.
    async fn search_block(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
        slice: &BlockSlice,
    ) -> Result<SearchResponse, ServiceError>;

    /// Lists tag names from block summaries in the window and the ingesters' live data.
    async fn search_tags(&self, tenant: &TenantId, request: &TagsRequest) -> Result<TagsResponse, ServiceError>;

    /// Lists one attribute's values from block summaries in the window and the live data.
    async fn search_tag_values(
        &self,
        tenant: &TenantId,
        request: &TagValuesRequest,
    ) -> Result<TagValuesResponse, ServiceError>;
}
