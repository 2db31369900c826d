//! strand's load generator and read-after-write checker.
//!
//! - [`hotrod`]: HotROD-like traces (frontend, customer, mysql, driver, redis, route), rebuilt byte
//!   for byte from a seed, an index and a start time.
//! - [`write`]: sends them over OTLP/gRPC or OTLP/HTTP from N connections, at a rate or as fast as
//!   accepted, honouring retry codes, and logs every acknowledged trace ([`WriteLog`]).
//! - [`Checker`]: reads logged traces back by ID and by TraceQL search, compares them field by
//!   field, and reports found, missing and mismatched, recent and old, with read-after-write
//!   latency — Tempo's vulture, for strand.
//!
//! It talks to strand only the way users do (OTLP and Tempo's HTTP API), so it works against any
//! running strand, or Tempo. It does not start a server; the `strand-loadgen` binary and
//! `tests/read_after_write.rs` are its two users.
#![warn(missing_docs)]

mod checker;
mod compare;
pub mod hotrod;
mod sender;
mod stats;

use std::sync::Arc;

pub use checker::{CheckReport, Checker, CheckerConfig, Tally};
pub use sender::{Transport, WriteLog, WriteStats, WriterConfig, Written, now_unix_nanos, write};
pub use stats::Histogram;
pub use tokio_util::sync::CancellationToken;

/// Writes with `writer` until its duration passes or `stop` fires while `checker` follows the
/// log (every new trace read back as soon as it is acknowledged, and random old ones); returns
/// once the writer has stopped and every check has ended.
pub async fn run(
    writer: &WriterConfig,
    checker: &Arc<Checker>,
    log: &WriteLog,
    stop: &CancellationToken,
) -> anyhow::Result<WriteStats> {
    let writer_done = CancellationToken::new();
    let follower = {
        let (checker, log, writer_done) = (Arc::clone(checker), log.clone(), writer_done.clone());
        tokio::spawn(async move { checker.follow(&log, &writer_done).await })
    };
    let written = write(writer, log, stop).await;
    writer_done.cancel();
    follower.await?;
    written
}
