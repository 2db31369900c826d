//! strand's composition root.
//!
//! - `config.rs`: the one YAML config, layered defaults → file → `STRAND_…` env → flags.
//! - `cli.rs`: command-line flags, in Tempo's spelling too.
//! - `run.rs`: which roles start for a target, in what order, wired through in-process calls;
//!   the servers; readiness; graceful shutdown on SIGTERM.
//! - `http.rs`: `/ready`, `/metrics`, `/flush`, and serving the API before the roles are ready.

mod cli;
mod config;
mod http;
mod run;

pub use config::{Config, ConfigError, ServerConfig, StorageConfig, Target, TraceStorageConfig};
pub use run::{main, run};
