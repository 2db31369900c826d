//! strand's distributor: the front door for spans.
//!
//! - Receivers for OTLP over gRPC (`grpc.rs`) and HTTP with protobuf or JSON (`http.rs`,
//!   `otlp_json.rs`), with gzip, size limits and the status codes OTel clients expect.
//! - Per-tenant ingestion rate limits in bytes (`rate_limit.rs`).
//! - Validation of trace and span IDs, and regrouping of spans by trace (`grouping.rs`), so each
//!   trace reaches the ingester as ready-to-store bytes.
//!
//! It hands pushes to a `strand_model::Pusher` and never stores anything itself: the ingester
//! in the single binary, or a [`RingPusher`] that replicates each trace to several ingesters of
//! a cluster (`ring_pusher.rs`).

mod config;
mod distributor;
mod grouping;
mod grpc;
mod http;
mod metrics;
mod otlp_json;
mod rate_limit;
mod ring_pusher;

pub use config::{
    DistributorConfig, OtlpGrpcConfig, OtlpHttpConfig, OtlpProtocols, OtlpReceiverConfig, ReceiversConfig, RetryAfter,
};
pub use distributor::Distributor;
pub use otlp_json::decode_export_request;
pub use ring_pusher::RingPusher;

/// What the criterion benchmarks in `benches/` measure directly. Not part of the API.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::grouping::group_by_trace;
}
