//! Read after write, checked the way Tempo's vulture checks it, through the real binary.
//!
//! The load generator writes HotROD-like traces over OTLP/gRPC and OTLP/HTTP (alternate
//! connections) at 20 traces/s for 40 s, while its checker reads each trace back by ID as soon as
//! it is acknowledged and compares it field by field with the trace rebuilt from its seed; one
//! trace in 50 is also looked for by TraceQL search (a search over the ingester's recent data
//! costs seconds of CPU in a debug build), and random older traces are read back too. Then
//! strand flushes and restarts, so only blocks can answer, and every trace written is read back
//! again by ID and found by search (range searches over 50 traces each). Every one must be found
//! and equal, both while recent and once old.
//!
//! The test takes about a minute. Most of what is not writing is the second pass: in a debug
//! build a lookup in the flushed block costs 0.1–0.2 s of CPU (it decodes the block's one row
//! group), so that pass grows with the square of the traces written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{StrandConfig, StrandProcess};
use strand_loadgen::{CancellationToken, Checker, CheckerConfig, Transport, WriteLog, WriterConfig};

const SEED: u64 = 0x0005_ead0_a17e;
const RATE: f64 = 20.0;
const WRITE_FOR: Duration = Duration::from_secs(40);
/// Traces acknowledged longer ago than this count as old.
const RECENT_AGE: Duration = Duration::from_secs(10);
/// While writing, one trace in this many is also looked for by search.
const SEARCH_EVERY: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trace_is_read_back_while_recent_and_after_flush_and_restart() {
    let started = Instant::now();
    let mut server = StrandProcess::start(StrandConfig::local()).await;
    let writer = WriterConfig {
        otlp_grpc: server.otlp_grpc_url(),
        otlp_http: server.otlp_http_url(),
        transports: vec![Transport::Grpc, Transport::Http],
        connections: 4,
        rate: RATE,
        duration: Some(WRITE_FOR),
        ..WriterConfig::new(SEED)
    };
    let checker = Checker::new(CheckerConfig {
        search_every: SEARCH_EVERY,
        search_batch: 50,
        recent_age: RECENT_AGE,
        old_checks_per_second: 2.0,
        ..CheckerConfig::new(server.api_url(""))
    })
    .unwrap();
    let log = WriteLog::new();

    // Write for 40 s, reading each trace back as soon as it is acknowledged.
    let written = strand_loadgen::run(&writer, &checker, &log, &CancellationToken::new()).await.unwrap();
    let followed = checker.report();
    println!("{}\n== read after write\n{}", written.table(), followed.table());
    assert_eq!(written.failed_requests, 0, "every push is accepted: {:?}", written.failure_samples);
    let expected = RATE * WRITE_FOR.as_secs_f64();
    assert!(
        written.acked_traces as f64 >= 0.9 * expected,
        "{} traces acknowledged in {WRITE_FOR:?} at {RATE}/s",
        written.acked_traces
    );
    assert_eq!(log.len() as u64, written.acked_traces);
    assert!(followed.all_found(), "every trace is read back intact while recent:\n{}", followed.table());
    assert_eq!(followed.read_after_write.count(), written.acked_traces, "each trace was read as it was written");
    let sampled = log.snapshot().iter().filter(|w| w.index % SEARCH_EVERY == 0).count() as u64;
    // A sampled search is skipped when the search slots are still busy with earlier ones.
    let searched_as_written = followed.search_after_write.count();
    assert!(
        searched_as_written + followed.searches_skipped >= sampled && searched_as_written >= sampled / 2,
        "one trace in {SEARCH_EVERY} ({sampled}) was searched as it was written:\n{}",
        followed.table()
    );
    assert!(followed.recent.checked >= written.acked_traces, "{}", followed.table());
    assert!(followed.old.checked > 0, "random old traces are checked while writing:\n{}", followed.table());

    // Only blocks can answer now.
    let phase = Instant::now();
    server.flush().await;
    println!("/flush took {:.1} s", phase.elapsed().as_secs_f64());
    let status = server.sigterm_and_wait().await;
    assert!(status.success(), "strand exited with {status}\n{}", server.log());
    server.restart().await;
    println!("flush, stop and restart took {:.1} s", phase.elapsed().as_secs_f64());
    let phase = Instant::now();
    checker.reset();
    checker.check_all(log.snapshot(), &CancellationToken::new()).await;
    let again = checker.report();
    println!("checking every trace again took {:.1} s", phase.elapsed().as_secs_f64());
    println!("== every trace, after /flush and a restart\n{}", again.table());
    assert_eq!(again.recent.checked + again.old.checked, written.acked_traces);
    let searched =
        again.recent.search_found + again.recent.search_missing + again.old.search_found + again.old.search_missing;
    assert_eq!(searched, written.acked_traces, "every trace was looked for by search");
    assert!(again.old.checked > 0, "{}", again.table());
    assert!(again.all_found(), "every trace is read back intact from blocks:\n{}", again.table());
    println!("read_after_write took {:.1} s", started.elapsed().as_secs_f64());
}
