//! strand's composition root.
//!
//! - `config.rs`: the one YAML config, layered defaults → file → `STRAND_…` env → flags.
//! - `cli.rs`: command-line flags, in Tempo's spelling too.
//! - `run.rs`: the process: start the target's roles, readiness, graceful shutdown on SIGTERM.
//! - `roles.rs`: what each target starts: `all` wired through in-process calls, the others
//!   through internal gRPC and the rings.
//! - `servers.rs`: the HTTP API, OTLP receivers and internal gRPC (with health) servers.
//! - `http.rs`: `/ready`, `/metrics`, `/flush`, and serving the API before the roles are ready.

mod cli;
mod config;
mod http;
mod ring_metrics;
mod roles;
mod run;
mod servers;

pub use config::{Config, ConfigError, ServerConfig, StorageConfig, Target, TraceStorageConfig};
pub use run::{main, run};
