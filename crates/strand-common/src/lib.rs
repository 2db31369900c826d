//! The leaf of the strand workspace: what every other crate needs and nothing more.
//!
//! - [`ErrorCode`] decides, in one place, which gRPC code and HTTP status an error becomes.
//! - [`ServiceError`] carries a code and a client-safe message across role boundaries.
//! - [`Size`] and [`Duration`] read sizes and durations the way humans write them (`500MiB`, `30s`).
//! - [`spawn_cpu`] moves CPU-heavy work off the async runtime.
//!
//! It owns no IO, no protocol and no domain types.
#![warn(missing_docs)]

mod error;
mod task;
mod units;

pub use error::{ErrorCode, ServiceError};
pub use task::spawn_cpu;
pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;
pub use units::{Duration, Size};
