//! strand's query frontend: Grafana Tempo's HTTP query API.
//!
//! - Trace by ID, v1 (`/api/traces/{id}`) and v2 (`/api/v2/traces/{id}`), in binary protobuf or
//!   in the JSON Tempo's gogo `jsonpb` writes (`tempo_json.rs`), which Grafana parses strictly.
//! - `/api/echo` (Grafana's health check) and `/api/status/buildinfo` (its version sniffing).
//! - Tenant resolution from `X-Scope-OrgID`, plain-text errors with Tempo's statuses, gzip.
//!
//! It finds traces through a `strand_model::TraceByIdQuerier` and owns no storage. Search, tags
//! and metrics queries are not here yet.
#![warn(missing_docs)]

mod config;
mod error;
mod http;
mod metrics;
mod tempo_json;
mod trace_by_id;

pub use config::FrontendConfig;
pub use http::{BuildInfo, FrontendState, router};
