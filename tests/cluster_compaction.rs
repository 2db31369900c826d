//! The compactor of a cluster, as its own process on the test S3 server: two distributors, three
//! ingesters at replication factor 2 (so every span reaches storage twice), a querier, a
//! query-frontend and a compactor with a 2 h retention.
//!
//! Traces written three hours ago and traces written now are flushed into many level-0 blocks.
//! Then the compactor must leave fewer blocks, each holding its traces once with each span once,
//! every recent trace whole, and delete the old traces, which are past retention, and nothing
//! else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Shape};
use common::otlp::{now_nanos, request, simple_trace, trace_id};
use common::{Api, Format, StrandConfig, metric_value};
use strand_backend::{Backend, BlockMeta};
use strand_model::TenantId;
use strand_proto::tempopb::Trace;

const SPANS_PER_TRACE: u64 = 5;
const TRACES_PER_ROUND: u64 = 10;
const RECENT_ROUNDS: u64 = 3;
const HOUR_NANOS: u64 = 3_600_000_000_000;

const COMPACTOR: &str = "compactor:\n  compaction:\n    block_retention: 2h\n    compacted_block_retention: 2s\n    \
                         compaction_cycle: 1s\n    compaction_window: 1h\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_deduplicates_and_applies_retention() {
    let base = StrandConfig {
        // Flushed blocks leave the ingesters at once, so reads below come from object storage.
        complete_block_timeout: Some("1s"),
        ..StrandConfig::s3("cluster-compaction").await
    };
    let shape = Shape { distributors: 2, ingesters: 3, replication_factor: 2, compactor: Some(COMPACTOR.into()) };
    let cluster = Cluster::start(base.clone(), shape).await;
    cluster.wait_for_healthy_ingesters(3).await;
    let backend = base.open_backend(cluster.querier.dir());

    let old = write_round(&cluster, 0, now_nanos() - 3 * HOUR_NANOS).await;
    for (id, expected) in &old {
        cluster.frontend.assert_trace_everywhere(&hex::encode(id), expected, "an old trace, just written").await;
    }
    flush_ingesters(&cluster).await;
    let mut recent = BTreeMap::new();
    for round in 1..=RECENT_ROUNDS {
        recent.extend(write_round(&cluster, round, now_nanos()).await);
        flush_ingesters(&cluster).await;
    }
    let mut flushed = 0.0;
    for ingester in &cluster.ingesters {
        flushed += metric_value(&ingester.metrics().await, "strand_ingester_blocks_flushed_total", &[]).unwrap_or(0.0);
    }
    // Four rounds, each flushed by the ingesters holding a copy of its traces.
    assert!(flushed >= 8.0, "level-0 blocks flushed: {flushed}");

    let live = wait_for_compaction(&backend).await;
    println!("{flushed} level-0 blocks flushed; live after compaction: {}", describe(&live));
    assert!((live.len() as f64) < flushed, "compaction left {} of {flushed} blocks", live.len());
    assert!(live.iter().any(|meta| meta.compaction_level >= 1), "blocks were merged: {}", describe(&live));
    // Replication stored each recent trace twice. A merged block holds each of its traces once,
    // with every span once (5, not 10). The two copies of a trace may sit in blocks of different
    // levels until the window closes (blocks merge across levels only then), but merging has
    // already dropped most copies.
    for meta in &live {
        assert_eq!(meta.total_spans, meta.total_traces * SPANS_PER_TRACE, "spans once per block: {}", describe(&live));
    }
    let distinct = RECENT_ROUNDS * TRACES_PER_ROUND;
    let traces: u64 = live.iter().map(|meta| meta.total_traces).sum();
    assert!(traces >= distinct && traces < 2 * distinct, "{traces} traces stored for {distinct}: {}", describe(&live));

    // Every recent trace whole through the frontend; every old one gone, with its blocks.
    for (id, expected) in &recent {
        cluster.frontend.assert_trace_everywhere(&hex::encode(id), expected, "after compaction").await;
    }
    for id in old.keys() {
        let response = cluster.frontend.get_trace(Api::V2, Format::Json, &hex::encode(id), None, "").await;
        assert_eq!(response.status(), 404, "a trace past retention is deleted\n{}", cluster.logs());
    }
    let folders = backend.list_block_folders(&TenantId::single()).await.unwrap();
    assert_eq!(folders.len(), live.len(), "only the live blocks' folders remain once the grace period passed");
}

/// Writes one round of traces starting at `start`, alternating between the distributors, and
/// returns them as sent.
async fn write_round(cluster: &Cluster, round: u64, start: u64) -> BTreeMap<[u8; 16], Trace> {
    let mut sent = BTreeMap::new();
    for n in 0..TRACES_PER_ROUND {
        let id = trace_id(round, n);
        let distributor = &cluster.distributors[(n % 2) as usize];
        let export = request("compaction", simple_trace(&id, SPANS_PER_TRACE, start + n * 1_000_000));
        let trace = Trace { resource_spans: export.resource_spans.clone() };
        let mut client = distributor.grpc_client().await;
        distributor.push_grpc(&mut client, export, None).await.expect("push acknowledged");
        sent.insert(id, trace);
    }
    sent
}

/// `/flush` on each ingester in turn, then a pause so the trace idle period passes first.
async fn flush_ingesters(cluster: &Cluster) {
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for ingester in &cluster.ingesters {
        ingester.flush().await;
    }
}

/// Waits until compaction and retention settled: no block past retention is live, no folder but
/// the live blocks' is left, and no merge is due: an open window merges only blocks of the same
/// level, so once each (window, level) holds one block the compactor waits, for instance with a
/// lone level-0 block from the last flush, until more blocks arrive or the window closes.
/// Returns the live blocks.
async fn wait_for_compaction(backend: &Backend) -> Vec<BlockMeta> {
    let tenant = TenantId::single();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        // Read from a listing, not the tenant index: the test must not be a second index writer.
        let folders = backend.list_block_folders(&tenant).await.unwrap();
        let mut live = Vec::new();
        for folder in folders.iter().filter(|folder| folder.live) {
            // A block may go between the listing and this read; the next round sees it gone.
            if let Some(meta) = backend.read_block_meta(&tenant, folder.block_id).await.unwrap() {
                live.push(meta);
            }
        }
        let past_retention = now_nanos() - 2 * HOUR_NANOS;
        let mut window_levels = BTreeSet::new();
        let one_per_window_level =
            live.iter().all(|m| window_levels.insert((m.start_unix_nano / HOUR_NANOS, m.compaction_level)));
        let settled = one_per_window_level
            && live.iter().all(|m| m.end_unix_nano > past_retention)
            && folders.len() == live.len();
        if settled && !live.is_empty() {
            return live;
        }
        assert!(Instant::now() < deadline, "compaction did not settle: {}", describe(&live));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn describe(metas: &[BlockMeta]) -> String {
    let blocks: Vec<String> = metas
        .iter()
        .map(|m| format!("level {} ({} traces, {} spans)", m.compaction_level, m.total_traces, m.total_spans))
        .collect();
    format!("{} blocks: [{}]", metas.len(), blocks.join(", "))
}
