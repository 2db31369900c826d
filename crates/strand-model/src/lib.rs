//! strand's domain model, shared by every role.
//!
//! - Identifiers: [`TraceId`], [`SpanId`], [`TenantId`], [`BlockId`], validated at the edge.
//! - Traces: [`combine`] merges partial traces, removes duplicated spans and sorts them.
//! - Service traits: [`Pusher`], [`IngesterQuerier`], [`TraceByIdQuerier`] and [`SearchQuerier`]
//!   are how roles call each other; `strand-app` wires an in-process or a remote implementation behind them.
//!
//! It owns no IO and no storage format.
#![warn(missing_docs)]

mod combine;
mod ids;
mod search;
mod services;
mod tenant;

pub use combine::{TraceCombiner, combine, count_spans, sort_trace};
pub use ids::{BlockId, IdError, SpanId, TraceId};
pub use search::{
    BlockSlice, SearchQuerier, SearchRequest, TagScope, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse,
    TypedValue,
};
pub use services::{
    FixedIngesters, FoundTrace, IngesterQuerier, IngesterSource, PushRequest, PushResponse, Pusher, TimeRange,
    TraceByIdQuerier, TraceBytes,
};
pub use tenant::{SINGLE_TENANT, TenantError, TenantId};
