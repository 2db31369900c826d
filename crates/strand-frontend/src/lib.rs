//! strand's query frontend: Grafana Tempo's HTTP query API.
//!
//! - Trace by ID, v1 (`/api/traces/{id}`) and v2 (`/api/v2/traces/{id}`), in binary protobuf or
//!   in the JSON Tempo's gogo `jsonpb` writes (`tempo_json.rs`), which Grafana parses strictly.
//! - Search (`/api/search`): the request is validated as Tempo does (legacy tag searches become
//!   TraceQL), the sharder cuts it into a job over the ingesters plus row-group slices of the
//!   blocks in the window, and the combiner merges the jobs' answers (`search_json.rs` writes
//!   them).
//! - Tag names and values, v1 and v2 (`/api/search/tags`, `/api/v2/search/tags`,
//!   `/api/search/tag/{tag}/values`, `/api/v2/search/tag/{tag}/values`).
//! - `/api/echo` (Grafana's health check) and `/api/status/buildinfo` (its version sniffing).
//! - Tenant resolution from `X-Scope-OrgID`, plain-text errors with Tempo's statuses, gzip.
//!
//! It finds traces through `strand_model::TraceByIdQuerier` and `strand_model::SearchQuerier`,
//! reads block metas from the `strand_backend::Blocklist`, and owns no storage. TraceQL metrics
//! queries are not here yet.
#![warn(missing_docs)]

mod combiner;
mod config;
mod error;
mod http;
mod legacy_search;
mod metrics;
mod params;
mod search;
mod search_json;
#[cfg(test)]
mod search_tests;
mod sharder;
mod tags;
#[cfg(test)]
mod tags_tests;
mod tempo_json;
#[cfg(test)]
mod testing;
mod trace_by_id;
mod traceql;

pub use config::{FrontendConfig, SearchConfig};
pub use http::{BuildInfo, FrontendState, router};
