//! The ingester's promises, end to end inside one process: pushes are readable at once, complete
//! traces reach object storage as blocks, a crash loses nothing acknowledged, and the WAL is
//! cleaned up only after a flush.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use strand_backend::{Backend, BlockMeta};
use strand_common::{CancellationToken, Size, TaskTracker};
use strand_encoding::{BlockConfig, BlockReader, WalConfig};
use strand_ingester::{FlushListener, Ingester, IngesterConfig};
use strand_model::{IngesterQuerier, PushRequest, Pusher, TenantId, TraceBytes, TraceId, count_spans};
use strand_overrides::Overrides;
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status};
use strand_proto::tempopb::Trace;

struct Harness {
    ingester: Ingester,
    flushed: Arc<Mutex<Vec<BlockMeta>>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

fn config() -> IngesterConfig {
    IngesterConfig {
        trace_idle_period: strand_common::Duration::millis(50),
        flush_check_period: strand_common::Duration::secs(3600),
        ..IngesterConfig::default()
    }
}

async fn start(dir: &Path, backend: &Backend, overrides: Overrides) -> Harness {
    let flushed = Arc::new(Mutex::new(Vec::new()));
    let listener: FlushListener = {
        let flushed = Arc::clone(&flushed);
        Arc::new(move |meta| flushed.lock().unwrap().push(meta.clone()))
    };
    let wal = WalConfig { path: dir.join("wal").to_string_lossy().into_owned(), ..WalConfig::default() };
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let ingester = Ingester::start(
        config(),
        wal,
        BlockConfig::default(),
        backend.clone(),
        Arc::new(overrides),
        listener,
        &tasks,
        cancel.clone(),
    )
    .await
    .unwrap();
    ingester.wait_ready().await.unwrap();
    Harness { ingester, flushed, cancel, tasks }
}

impl Harness {
    /// Stops background work without flushing: what a crash leaves behind, minus torn writes.
    async fn crash(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

fn span(trace: u8, id: u8) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: format!("op-{id}"),
        start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(id),
        end_time_unix_nano: 1_700_000_000_000_100_000 + u64::from(id),
        status: Some(Status::default()),
        ..Default::default()
    }
}

fn trace_bytes(trace: u8, span_ids: std::ops::Range<u8>) -> TraceBytes {
    let spans: Vec<Span> = span_ids.clone().map(|id| span(trace, id)).collect();
    let message = Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue("api".into())) }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { scope: Some(Default::default()), spans, schema_url: String::new() }],
            schema_url: String::new(),
        }],
    };
    TraceBytes {
        id: TraceId([trace; 16]),
        bytes: Bytes::from(message.encode_to_vec()),
        span_count: span_ids.len() as u32,
        start_unix_nano: 1_700_000_000_000_000_000,
        end_unix_nano: 1_700_000_000_000_200_000,
    }
}

async fn spans_in_ingester(ingester: &Ingester, trace: u8) -> usize {
    let found = ingester.find_trace_by_id(&TenantId::single(), TraceId([trace; 16])).await.unwrap();
    found.map_or(0, |f| count_spans(&f.trace))
}

async fn spans_in_blocks(backend: &Backend, metas: &[BlockMeta], trace: u8) -> usize {
    let reader = BlockReader::new(backend.clone(), 16);
    let mut parts = Vec::new();
    for meta in metas {
        if let Some(found) = reader.find_trace_by_id(meta, TraceId([trace; 16])).await.unwrap() {
            parts.push(found);
        }
    }
    strand_model::FoundTrace::combine(parts).map_or(0, |f| count_spans(&f.trace))
}

fn wal_segments(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("wal/single-tenant/wal")).map_or(0, |entries| entries.count())
}

#[tokio::test]
async fn pushed_spans_are_readable_at_once_and_across_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let harness = start(dir.path(), &Backend::in_memory(), Overrides::default()).await;
    let tenant = TenantId::single();
    harness.ingester.push(&tenant, PushRequest { traces: vec![trace_bytes(1, 1..4)] }).await.unwrap();
    harness
        .ingester
        .push(&tenant, PushRequest { traces: vec![trace_bytes(1, 4..6), trace_bytes(2, 1..2)] })
        .await
        .unwrap();
    assert_eq!(spans_in_ingester(&harness.ingester, 1).await, 5);
    assert_eq!(spans_in_ingester(&harness.ingester, 2).await, 1);
    assert_eq!(spans_in_ingester(&harness.ingester, 3).await, 0);
    harness.crash().await;
}

#[tokio::test]
async fn complete_traces_reach_object_storage_and_the_wal_is_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::in_memory();
    let harness = start(dir.path(), &backend, Overrides::default()).await;
    let tenant = TenantId::single();
    for trace in 1..=20u8 {
        harness.ingester.push(&tenant, PushRequest { traces: vec![trace_bytes(trace, 1..6)] }).await.unwrap();
    }
    // A trace split across the block and later live data must still come back whole.
    assert!(harness.ingester.flush_all(Duration::from_secs(30)).await);
    harness.ingester.push(&tenant, PushRequest { traces: vec![trace_bytes(1, 6..9)] }).await.unwrap();

    let metas = harness.flushed.lock().unwrap().clone();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].total_traces, 20);
    assert_eq!(metas[0].total_spans, 100);
    for trace in 1..=20u8 {
        assert_eq!(spans_in_blocks(&backend, &metas, trace).await, 5, "trace {trace} in the block");
    }
    assert_eq!(spans_in_ingester(&harness.ingester, 1).await, 8, "block part and live part combined");
    assert_eq!(backend.read_tenant_index(&tenant).await.unwrap().unwrap().metas.len(), 1);
    assert_eq!(wal_segments(dir.path()), 1, "only the segment written after the cut remains");
    harness.crash().await;
}

#[tokio::test]
async fn a_crash_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::in_memory();
    let harness = start(dir.path(), &backend, Overrides::default()).await;
    let tenant = TenantId::single();
    for trace in 1..=10u8 {
        harness.ingester.push(&tenant, PushRequest { traces: vec![trace_bytes(trace, 1..4)] }).await.unwrap();
    }
    // Cut one block and leave more live data behind, so replay sees a checkpoint and a tail.
    assert!(harness.ingester.flush_all(Duration::from_secs(30)).await);
    for trace in 5..=15u8 {
        harness.ingester.push(&tenant, PushRequest { traces: vec![trace_bytes(trace, 10..12)] }).await.unwrap();
    }
    let before_crash = harness.flushed.lock().unwrap().clone();
    harness.crash().await;

    let restarted = start(dir.path(), &backend, Overrides::default()).await;
    assert!(restarted.ingester.flush_all(Duration::from_secs(30)).await);
    let mut metas = before_crash;
    metas.extend(restarted.flushed.lock().unwrap().clone());
    for trace in 1..=15u8 {
        let expected = match trace {
            1..=4 => 3,
            5..=10 => 5,
            _ => 2,
        };
        assert_eq!(spans_in_blocks(&backend, &metas, trace).await, expected, "trace {trace} after the crash");
    }
    restarted.crash().await;
}

#[tokio::test]
async fn traces_over_the_limit_keep_their_first_spans() {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = Overrides::default();
    let one_push = trace_bytes(9, 1..11).bytes.len() as u64;
    overrides.defaults.global.max_bytes_per_trace = Size(one_push * 2 + one_push / 2);
    let harness = start(dir.path(), &Backend::in_memory(), overrides).await;
    let tenant = TenantId::single();
    let mut rejected = 0;
    for round in 0..5u8 {
        let response = harness
            .ingester
            .push(&tenant, PushRequest { traces: vec![trace_bytes(9, 1 + round * 10..11 + round * 10)] })
            .await
            .unwrap();
        rejected += response.rejected_spans;
        if response.rejected_spans > 0 {
            assert!(response.error_message.unwrap().contains("TRACE_TOO_LARGE"));
        }
    }
    let found = harness.ingester.find_trace_by_id(&tenant, TraceId([9; 16])).await.unwrap().unwrap();
    let kept = count_spans(&found.trace) as u64;
    assert!(found.truncated);
    assert_eq!(kept + rejected, 50);
    assert!((20..30).contains(&kept), "kept {kept} spans");
    let first = &found.trace.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(first.span_id, vec![1; 8], "the first spans are the ones kept");
    harness.crash().await;
}

#[tokio::test]
async fn live_memory_is_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = Overrides::default();
    overrides.defaults.ingestion.max_live_traces_bytes = Size(4096);
    let harness = start(dir.path(), &Backend::in_memory(), overrides).await;
    let tenant = TenantId::single();
    let mut refused = None;
    for trace in 1..=100u8 {
        if let Err(err) = harness.ingester.push(&tenant, PushRequest { traces: vec![trace_bytes(trace, 1..4)] }).await {
            refused = Some(err);
            break;
        }
    }
    let err = refused.expect("pushes past the live-bytes limit are refused");
    assert!(err.code.is_retryable(), "overload must be retryable: {err:?}");
    // Once traces move to the head block on disk, memory frees up and pushes pass again.
    harness.ingester.sweep_once().await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    harness.ingester.sweep_once().await;
    harness.ingester.push(&tenant, PushRequest { traces: vec![trace_bytes(200, 1..2)] }).await.unwrap();
    harness.crash().await;
}
