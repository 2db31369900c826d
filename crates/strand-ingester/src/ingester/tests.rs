//! The WAL replay at start, watched midway through `REPLAY_GATE`: reads are served while it runs,
//! pushes are refused as retryable until it is done, and a failed replay reaches every waiter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use bytes::Bytes;
use strand_common::ErrorCode;
use strand_model::{TraceBytes, count_spans};
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};

use super::*;

const TRACES_PER_TENANT: u8 = 50;
const SPANS_PER_TRACE: usize = 3;

struct Harness {
    ingester: Ingester,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl Harness {
    /// Stops background work without flushing, so everything pushed stays in the WAL.
    async fn crash(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Starts an ingester on `dir`; with a gate, each tenant's replay waits for one of its permits.
async fn start(dir: &Path, backend: &Backend, gate: Option<Arc<Semaphore>>) -> Harness {
    let config =
        IngesterConfig { flush_check_period: strand_common::Duration::secs(3600), ..IngesterConfig::default() };
    let wal = WalConfig { path: dir.join("wal").to_string_lossy().into_owned(), ..WalConfig::default() };
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let starting = Ingester::start(
        config,
        wal,
        BlockConfig::default(),
        backend.clone(),
        Arc::new(Overrides::default()),
        Arc::new(|_| {}),
        &tasks,
        cancel.clone(),
    );
    let ingester = match gate {
        Some(gate) => REPLAY_GATE.scope(gate, starting).await,
        None => starting.await,
    }
    .unwrap();
    Harness { ingester, tasks, cancel }
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

fn push_of(trace: u8) -> PushRequest {
    let spans: Vec<Span> = (0..SPANS_PER_TRACE as u8)
        .map(|id| Span {
            trace_id: vec![trace; 16],
            span_id: vec![id + 1; 8],
            name: format!("op-{id}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_100_000,
            ..Default::default()
        })
        .collect();
    let message = Trace {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    PushRequest {
        traces: vec![TraceBytes {
            id: TraceId([trace; 16]),
            bytes: Bytes::from(message.encode_to_vec()),
            span_count: SPANS_PER_TRACE as u32,
            start_unix_nano: 1_700_000_000_000_000_000,
            end_unix_nano: 1_700_000_000_000_100_000,
        }],
    }
}

async fn spans_of(ingester: &Ingester, tenant: &TenantId, trace: u8) -> usize {
    let found = ingester.find_trace_by_id(tenant, TraceId([trace; 16])).await.unwrap();
    found.map_or(0, |f| count_spans(&f.trace))
}

/// How many of the tenant's pushed traces the ingester returns whole.
async fn whole_traces(ingester: &Ingester, tenant: &TenantId) -> usize {
    let mut whole = 0;
    for trace in 1..=TRACES_PER_TENANT {
        if spans_of(ingester, tenant, trace).await == SPANS_PER_TRACE {
            whole += 1;
        }
    }
    whole
}

async fn assert_push_refused_as_replaying(ingester: &Ingester, tenant: &TenantId) {
    let err = ingester.push(tenant, push_of(200)).await.expect_err("pushes wait for the replay");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    assert!(err.message.contains("replaying the WAL"), "{err:?}");
}

/// Leaves one WAL per tenant, each with a record per trace, as a crash would.
async fn write_wals(dir: &Path, backend: &Backend, tenants: &[TenantId]) {
    let first = start(dir, backend, None).await;
    first.ingester.wait_ready().await.unwrap();
    for tenant in tenants {
        for trace in 1..=TRACES_PER_TENANT {
            first.ingester.push(tenant, push_of(trace)).await.unwrap();
        }
    }
    first.crash().await;
}

#[tokio::test]
async fn reads_are_served_during_the_replay_and_pushes_wait_for_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::in_memory();
    let (a, b) = (tenant("team-a"), tenant("team-b"));
    write_wals(dir.path(), &backend, &[a.clone(), b.clone()]).await;

    let gate = Arc::new(Semaphore::new(0));
    let restarted = start(dir.path(), &backend, Some(Arc::clone(&gate))).await;
    let ingester = &restarted.ingester;
    assert!(!ingester.is_ready());
    assert!(tokio::time::timeout(Duration::from_millis(50), ingester.wait_ready()).await.is_err());
    assert_push_refused_as_replaying(ingester, &a).await;
    assert_eq!(spans_of(ingester, &a, 1).await, 0, "reads answer before any tenant is replayed");

    // Let one tenant's replay through: it becomes readable while the other still waits.
    gate.add_permits(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while spans_of(ingester, &a, 1).await + spans_of(ingester, &b, 1).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no tenant was replayed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (replayed, waiting) = if spans_of(ingester, &a, 1).await > 0 { (&a, &b) } else { (&b, &a) };
    assert_eq!(whole_traces(ingester, replayed).await, usize::from(TRACES_PER_TENANT));
    assert_eq!(whole_traces(ingester, waiting).await, 0);
    assert!(!ingester.is_ready());
    assert_push_refused_as_replaying(ingester, replayed).await;
    assert_push_refused_as_replaying(ingester, waiting).await;

    gate.add_permits(1);
    let waiters = futures::future::join(ingester.wait_ready(), ingester.wait_ready());
    let (first, second) = tokio::time::timeout(Duration::from_secs(30), waiters).await.unwrap();
    first.unwrap();
    second.unwrap();
    assert!(ingester.is_ready());
    for tenant in [&a, &b] {
        assert_eq!(whole_traces(ingester, tenant).await, usize::from(TRACES_PER_TENANT), "{tenant} after the replay");
    }
    ingester.push(&a, push_of(200)).await.unwrap();
    assert_eq!(spans_of(ingester, &a, 200).await, SPANS_PER_TRACE);
    restarted.crash().await;
}

#[tokio::test]
async fn a_failed_replay_reaches_every_waiter_and_refuses_pushes() {
    let dir = tempfile::tempdir().unwrap();
    // A file where a tenant's WAL directory should be: its WAL cannot be opened.
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    std::fs::write(dir.path().join("wal").join("team-a"), b"not a directory").unwrap();
    let harness = start(dir.path(), &Backend::in_memory(), None).await;
    for _ in 0..2 {
        let err = harness.ingester.wait_ready().await.expect_err("the replay cannot succeed");
        assert!(matches!(err, IngesterError::ReplayFailed(_)), "{err:?}");
    }
    assert!(!harness.ingester.is_ready());
    let err = harness.ingester.push(&tenant("team-b"), push_of(1)).await.expect_err("no pushes without a replay");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    harness.crash().await;
}

#[tokio::test]
async fn shutting_down_during_the_replay_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::in_memory();
    write_wals(dir.path(), &backend, &[tenant("team-a")]).await;
    let gate = Arc::new(Semaphore::new(0));
    let harness = start(dir.path(), &backend, Some(gate)).await;
    let ingester = harness.ingester.clone();
    // Returns only if the replay task stops while its gate stays shut.
    tokio::time::timeout(Duration::from_secs(30), harness.crash()).await.unwrap();
    let err = ingester.wait_ready().await.expect_err("a stopped replay is not a finished one");
    assert!(err.to_string().contains("stopped before it finished"), "{err}");
}
