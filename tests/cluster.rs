//! Distributed strand: every role its own `strand` process on loopback, sharing one bucket on the
//! test S3 server. Two distributors, three ingesters at replication factor 2, a querier and a
//! query-frontend (and a compactor for the first test; `cluster_compaction.rs` tests it).
//!
//! - The real OpenTelemetry SDK writes through both distributors; every trace reads back whole
//!   through the frontend, is stored exactly twice, and still reads back from blocks.
//! - Under steady load, `kill -9` of an ingester: pushes keep succeeding, reads keep working
//!   during the outage and after the restart, and no acknowledged trace is lost or changed.
//! - Under steady load, each ingester in turn is stopped with SIGTERM and started again: nothing
//!   acknowledged is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Shape};
use common::sdk::export_with_sdk;
use common::{StrandConfig, metric_value};
use strand_loadgen::{CancellationToken, Checker, CheckerConfig, Transport, WriteLog, WriteStats, WriterConfig};

const SHAPE: Shape = Shape { distributors: 2, ingesters: 3, replication_factor: 2, compactor: None };

/// The whole cluster the issue describes, compactor included: it merges the blocks flushed below
/// while the traces are read back.
fn shape_with_compactor() -> Shape {
    let section = "compactor:\n  compaction:\n    compaction_cycle: 1s\n    compacted_block_retention: 5s\n";
    Shape { compactor: Some(section.into()), ..SHAPE }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_traces_through_two_distributors_read_back_whole_through_the_frontend() {
    let cluster = Cluster::start(StrandConfig::s3("cluster-sdk").await, shape_with_compactor()).await;
    let (grpc_distributor, http_distributor) = (&cluster.distributors[0], &cluster.distributors[1]);
    let sent = export_with_sdk(&grpc_distributor.otlp_grpc_url(), &http_distributor.otlp_http_url()).await;

    for (id, expected) in &sent.traces {
        cluster.frontend.assert_trace_everywhere(&hex::encode(id), expected, "read from the ingesters").await;
    }

    // Replication factor 2: each span is in exactly two ingesters' WALs.
    let spans_sent: usize = sent.traces.values().map(|t| common::compare::spans(t).len()).sum();
    let mut stored = 0.0;
    for ingester in &cluster.ingesters {
        stored += spans_accepted(ingester).await;
    }
    assert_eq!(stored, 2.0 * spans_sent as f64, "every span stored twice\n{}", cluster.logs());

    // Found by search, through the frontend's jobs on the querier.
    let payments = search_trace_ids(&cluster, "{ resource.service.name = \"payments\" }").await;
    let expected: Vec<String> =
        sent.traces.iter().filter(|(_, trace)| has_service(trace, "payments")).map(|(id, _)| hex::encode(id)).collect();
    assert!(!expected.is_empty());
    for id in &expected {
        assert!(
            payments.iter().any(|found| found.trim_start_matches('0') == id.trim_start_matches('0')),
            "search found {payments:?}, missing {id}"
        );
    }

    // Once flushed, the querier reads the blocks (each trace is in two of them) and combines.
    for ingester in &cluster.ingesters {
        ingester.flush().await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (id, expected) in &sent.traces {
        cluster.frontend.assert_trace_everywhere(&hex::encode(id), expected, "read after every ingester flushed").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_ingester_under_load_loses_no_acknowledged_trace() {
    let mut cluster = Cluster::start(StrandConfig::s3("cluster-kill").await, SHAPE).await;
    cluster.wait_for_healthy_ingesters(3).await;
    let load = Load::start(&cluster, 0x6b11_1000);
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert!(spans_accepted(&cluster.ingesters[1]).await > 0.0, "the ingester to kill holds data");
    cluster.ingesters[1].kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Reads during the outage: every trace acknowledged so far, whole, from the other replicas.
    let during = check_all(&cluster, load.log.snapshot()).await;
    assert!(during.all_found(), "during the outage:\n{}\n{}", during.table(), cluster.logs());

    cluster.ingesters[1].restart().await;
    cluster.wait_for_healthy_ingesters(3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (written, log) = load.stop().await;
    let acked = assert_every_push_succeeded(&written);
    assert!(acked >= 100, "steady load: {acked} traces");

    let after = check_all(&cluster, log.snapshot()).await;
    println!("== after the restart\n{}", after.table());
    assert_eq!(after.recent.checked + after.old.checked, acked);
    assert!(after.all_found(), "after the restart:\n{}\n{}", after.table(), cluster.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_the_ingesters_under_load_loses_nothing() {
    let mut cluster = Cluster::start(StrandConfig::s3("cluster-rolling").await, SHAPE).await;
    cluster.wait_for_healthy_ingesters(3).await;
    let load = Load::start(&cluster, 0x6011_1000);
    tokio::time::sleep(Duration::from_secs(2)).await;

    for i in 0..cluster.ingesters.len() {
        assert!(spans_accepted(&cluster.ingesters[i]).await > 0.0, "ingester {i} holds data before its restart");
        let status = cluster.ingesters[i].sigterm_and_wait().await;
        assert!(status.success(), "ingester {i} exited with {status}\n{}", cluster.ingesters[i].log());
        cluster.ingesters[i].restart().await;
        cluster.wait_for_healthy_ingesters(3).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (written, log) = load.stop().await;
    let acked = assert_every_push_succeeded(&written);

    let after = check_all(&cluster, log.snapshot()).await;
    println!("== after the rolling restart\n{}", after.table());
    assert_eq!(after.recent.checked + after.old.checked, acked);
    assert!(after.all_found(), "after the rolling restart:\n{}\n{}", after.table(), cluster.logs());
}

/// Steady writes through both distributors (gRPC to one, HTTP to the other), every
/// acknowledged trace logged.
struct Load {
    log: WriteLog,
    stop: CancellationToken,
    writers: Vec<tokio::task::JoinHandle<WriteStats>>,
}

impl Load {
    fn start(cluster: &Cluster, seed: u64) -> Load {
        let log = WriteLog::new();
        let stop = CancellationToken::new();
        let transports = [Transport::Grpc, Transport::Http];
        let writers = cluster
            .distributors
            .iter()
            .zip(transports)
            .enumerate()
            .map(|(i, (distributor, transport))| {
                let config = WriterConfig {
                    otlp_grpc: distributor.otlp_grpc_url(),
                    otlp_http: distributor.otlp_http_url(),
                    transports: vec![transport],
                    connections: 2,
                    rate: 15.0,
                    // Pushes that fail are retried like an SDK would; one that still fails after
                    // this long is counted as failed.
                    max_retry: Duration::from_secs(10),
                    ..WriterConfig::new(seed + i as u64)
                };
                let (log, stop) = (log.clone(), stop.clone());
                tokio::spawn(async move { strand_loadgen::write(&config, &log, &stop).await.unwrap() })
            })
            .collect();
        Load { log, stop, writers }
    }

    /// Stops writing; returns what each writer did, after printing it.
    async fn stop(self) -> (Vec<WriteStats>, WriteLog) {
        self.stop.cancel();
        let mut stats = Vec::new();
        for writer in self.writers {
            let written = writer.await.unwrap();
            println!("{}", written.table());
            stats.push(written);
        }
        (stats, self.log)
    }
}

/// Every writer's pushes were all acknowledged, without retries; returns the traces written.
fn assert_every_push_succeeded(stats: &[WriteStats]) -> u64 {
    for written in stats {
        assert_eq!(written.failed_requests, 0, "pushes kept succeeding: {:?}", written.failure_samples);
        assert_eq!(written.retries, 0, "no push had to be retried: {:?}", written.failure_samples);
    }
    stats.iter().map(|written| written.acked_traces).sum()
}

/// Reads every logged trace back by ID through the frontend and compares it with what was sent.
async fn check_all(cluster: &Cluster, entries: Vec<strand_loadgen::Written>) -> strand_loadgen::CheckReport {
    let checker = Checker::new(CheckerConfig {
        // Searching hundreds of traces one by one would dominate a debug-build test; the SDK
        // test covers search through the frontend.
        search: false,
        read_timeout: Duration::from_secs(10),
        ..CheckerConfig::new(cluster.frontend.api_url(""))
    })
    .unwrap();
    checker.check_all(entries, &CancellationToken::new()).await;
    checker.report()
}

async fn spans_accepted(ingester: &common::StrandProcess) -> f64 {
    metric_value(&ingester.metrics().await, "strand_ingester_spans_accepted_total", &[]).unwrap_or(0.0)
}

fn has_service(trace: &strand_proto::tempopb::Trace, name: &str) -> bool {
    use strand_proto::otlp::common::any_value::Value;
    let resources = trace.resource_spans.iter().filter_map(|batch| batch.resource.as_ref());
    resources.flat_map(|r| &r.attributes).any(|kv| {
        kv.key == "service.name"
            && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(s)) if s == name)
    })
}

/// The trace IDs a TraceQL search through the frontend finds, over the last hour.
async fn search_trace_ids(cluster: &Cluster, query: &str) -> Vec<String> {
    let now = strand_loadgen::now_unix_nanos() / 1_000_000_000;
    let (start, end) = ((now - 3600).to_string(), (now + 60).to_string());
    let params = [("q", query), ("start", start.as_str()), ("end", end.as_str())];
    let url = reqwest::Url::parse_with_params(&cluster.frontend.api_url("/api/search"), &params).unwrap();
    let response = cluster.frontend.http.get(url).send().await.expect("GET /api/search");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("search JSON");
    body["traces"].as_array().expect("traces").iter().map(|t| t["traceID"].as_str().unwrap().to_string()).collect()
}
