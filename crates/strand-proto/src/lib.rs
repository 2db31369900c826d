//! strand's wire messages.
//!
//! - [`tempopb`]: Grafana Tempo's read-path messages, generated from `proto/tempopb`.
//! - [`strandpb`]: strand's internal services (ingester push and reads, querier jobs).
//! - [`otlp`]: the OpenTelemetry protocol types, re-exported from `opentelemetry-proto`, which
//!   ships them pre-generated.
//!
//! Conversions and domain logic live in `strand-model`; this crate only holds generated code.
#![warn(missing_docs)]

/// Grafana Tempo's `tempopb` messages.
#[allow(missing_docs, clippy::all)]
pub mod tempopb {
    tonic::include_proto!("tempopb");
}

/// strand's internal RPC between roles, generated from `proto/strandpb`.
#[allow(missing_docs, clippy::all)]
pub mod strandpb {
    tonic::include_proto!("strandpb");
}

/// The OpenTelemetry protocol (OTLP) types.
pub mod otlp {
    pub use opentelemetry_proto::tonic::collector::trace::v1 as collector;
    pub use opentelemetry_proto::tonic::common::v1 as common;
    pub use opentelemetry_proto::tonic::resource::v1 as resource;
    pub use opentelemetry_proto::tonic::trace::v1 as trace;
}

pub use prost::Message;
