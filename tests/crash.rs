//! What a push acknowledges survives a crash: `kill -9` right after the last acknowledgement,
//! before any trace went idle, and a restart on the same folders must read back every span of
//! every acknowledged push, exactly once. A WAL whose tail was torn or followed by garbage must
//! not stop the process from starting. SIGTERM flushes everything to object storage and exits 0.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use common::otlp::{self, now_nanos};
use common::{Api, Format, StrandConfig, StrandProcess};
use strand_proto::otlp::collector::ExportTraceServiceRequest;
use strand_proto::otlp::trace::Span;

const TRACES: u64 = 200;
const SPANS_PER_TRACE: u64 = 5;
const PUSHES: u64 = 10;

type TraceKey = [u8; 16];
type SpanSet = BTreeSet<Vec<u8>>;

/// Long idle and live periods: at the kill, everything is still live (in memory and the WAL).
fn crash_config() -> StrandConfig {
    StrandConfig { trace_idle_period: "60s", ..StrandConfig::local() }
}

/// `PUSHES` requests over raw OTLP/gRPC; span `n` of trace `t` goes in push `(t + n) % PUSHES`,
/// so each trace is spread over several pushes and each push holds many traces. Returns the
/// spans of every push, by trace, once each push is acknowledged.
async fn push_many(server: &StrandProcess, seed: u64) -> Vec<BTreeMap<TraceKey, SpanSet>> {
    let start = now_nanos() - 60_000_000_000;
    let mut pushes: Vec<Vec<Span>> = vec![Vec::new(); PUSHES as usize];
    for t in 0..TRACES {
        let id = otlp::trace_id(seed, t);
        for (n, span) in otlp::simple_trace(&id, SPANS_PER_TRACE, start + t * 1_000_000).into_iter().enumerate() {
            pushes[((t + n as u64) % PUSHES) as usize].push(span);
        }
    }
    let mut client = server.grpc_client().await;
    let mut acknowledged = Vec::new();
    for (i, spans) in pushes.into_iter().enumerate() {
        let mut by_trace: BTreeMap<TraceKey, SpanSet> = BTreeMap::new();
        for span in &spans {
            let id: TraceKey = span.trace_id.as_slice().try_into().expect("16 bytes");
            by_trace.entry(id).or_default().insert(span.span_id.clone());
        }
        let request = ExportTraceServiceRequest { resource_spans: vec![otlp::batch("crash-test", spans)] };
        let response = server
            .push_grpc(&mut client, request, None)
            .await
            .unwrap_or_else(|status| panic!("push {i} refused: {status:?}"));
        assert!(response.partial_success.is_none_or(|p| p.rejected_spans == 0), "push {i} was only partly accepted");
        acknowledged.push(by_trace);
    }
    acknowledged
}

fn union(pushes: &[BTreeMap<TraceKey, SpanSet>]) -> BTreeMap<TraceKey, SpanSet> {
    let mut all: BTreeMap<TraceKey, SpanSet> = BTreeMap::new();
    for push in pushes {
        for (id, spans) in push {
            all.entry(*id).or_default().extend(spans.iter().cloned());
        }
    }
    all
}

/// The span IDs of trace `id` as read back through v2 protobuf (empty on 404), checking that no
/// span comes back twice.
async fn read_span_ids(server: &StrandProcess, id: &TraceKey) -> SpanSet {
    let hex_id = hex::encode(id);
    let response = server.get_trace(Api::V2, Format::Protobuf, &hex_id, None, "").await;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return SpanSet::new();
    }
    let fetched = server.fetch(Api::V2, Format::Protobuf, &hex_id, None).await;
    let spans = common::compare::spans(&fetched.trace);
    let ids: SpanSet = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ids.len(), spans.len(), "trace {hex_id}: a span came back more than once");
    for span in &spans {
        assert_eq!(span.trace_id, id.to_vec(), "trace {hex_id}: a span of another trace came back");
    }
    ids
}

/// Every trace of `expected` reads back with exactly these spans.
async fn assert_exactly(server: &StrandProcess, expected: &BTreeMap<TraceKey, SpanSet>, phase: &str) {
    let mut problems = Vec::new();
    for (id, want) in expected {
        let got = read_span_ids(server, id).await;
        if &got != want {
            problems.push(format!(
                "trace {}: sent {} spans, read back {} ({} missing, {} unexpected)",
                hex::encode(id),
                want.len(),
                got.len(),
                want.difference(&got).count(),
                got.difference(want).count()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{phase}: {} of {} traces differ:\n  {}",
        problems.len(),
        expected.len(),
        problems.join("\n  ")
    );
}

/// The newest WAL segment of the single tenant.
fn last_wal_segment(server: &StrandProcess) -> PathBuf {
    let dir = server.wal_dir().join("single-tenant").join("wal");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list the WAL folder {}: {e}", dir.display()))
        .map(|entry| entry.expect("WAL folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    segments.sort();
    segments.pop().unwrap_or_else(|| panic!("no *.wal segment in {}", dir.display()))
}

fn append_garbage(path: &PathBuf) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).expect("open WAL segment");
    // Looks like a record header promising far more bytes than follow, then noise.
    file.write_all(&[0x00, 0x10, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef]).expect("append");
    file.write_all(&[0xa5; 61]).expect("append");
    file.sync_all().expect("sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_kill9() {
    let mut server = StrandProcess::start(crash_config()).await;
    let pushes = push_many(&server, 0xc4a5).await;
    server.kill9();
    assert_eq!(server.local_block_count(), 0, "nothing was flushed before the kill: the WAL is all there is");
    let expected = union(&pushes);
    assert_eq!(expected.len(), TRACES as usize);
    assert_eq!(expected.values().map(BTreeSet::len).sum::<usize>(), (TRACES * SPANS_PER_TRACE) as usize);

    server.restart().await;
    assert_exactly(&server, &expected, "after kill -9 and a restart (WAL replay)").await;

    // What was replayed reaches object storage too.
    server.flush().await;
    assert!(server.local_block_count() >= 1, "/flush wrote the replayed traces to a block");
    server.kill9();
    std::fs::remove_dir_all(server.wal_dir()).expect("delete the WAL folder");
    server.restart().await;
    assert_exactly(&server, &expected, "from blocks, after flushing the replayed traces").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_garbage_after_wal_tail() {
    let mut server = StrandProcess::start(crash_config()).await;
    let pushes = push_many(&server, 0x6a4b).await;
    server.kill9();
    assert_eq!(server.local_block_count(), 0, "nothing was flushed before the kill");
    append_garbage(&last_wal_segment(&server));

    server.restart().await;
    assert_exactly(&server, &union(&pushes), "after garbage was appended to the WAL").await;
    server.assert_ready().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_torn_wal_tail() {
    let mut server = StrandProcess::start(crash_config()).await;
    let pushes = push_many(&server, 0x7041).await;
    server.kill9();
    assert_eq!(server.local_block_count(), 0, "nothing was flushed before the kill");
    let segment = last_wal_segment(&server);
    let length = std::fs::metadata(&segment).expect("segment size").len();
    let file = std::fs::OpenOptions::new().write(true).open(&segment).expect("open WAL segment");
    file.set_len(length - 3).expect("tear the last record");
    drop(file);
    append_garbage(&segment);

    server.restart().await;
    server.assert_ready().await;
    // Every push but the last is intact; the last one's record is torn, so each of its traces
    // comes back with all of that push's spans or none of them, and nothing that was not sent.
    let (last, earlier) = pushes.split_last().expect("pushes");
    let intact = union(earlier);
    let all = union(&pushes);
    let mut problems = Vec::new();
    for (id, sent) in &all {
        let got = read_span_ids(&server, id).await;
        let before = intact.get(id).cloned().unwrap_or_default();
        let in_last = last.get(id).cloned().unwrap_or_default();
        let with_last: SpanSet = before.union(&in_last).cloned().collect();
        if got != before && got != with_last {
            problems.push(format!(
                "trace {}: {} spans sent, {} before the torn push, read back {}",
                hex::encode(id),
                sent.len(),
                before.len(),
                got.len()
            ));
        }
    }
    assert!(problems.is_empty(), "after tearing the WAL tail:\n  {}", problems.join("\n  "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_and_exits_zero() {
    let mut server = StrandProcess::start(crash_config()).await;
    let start = now_nanos() - 10_000_000_000;
    let mut expected = BTreeMap::new();
    for t in 0..20 {
        let id = otlp::trace_id(0x5167, t);
        let request = otlp::request("sigterm-test", otlp::simple_trace(&id, 3, start + t * 1_000));
        server.push_http(&request, None).await;
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        expected.insert(id, spans.iter().map(|s| s.span_id.clone()).collect::<SpanSet>());
    }
    let status = server.sigterm_and_wait().await;
    assert!(status.success(), "SIGTERM must flush and exit 0, got {status}\n{}", server.log());
    assert!(server.local_block_count() >= 1, "SIGTERM wrote the live traces to a block");
    // Everything is in object storage: the WAL is not needed any more.
    std::fs::remove_dir_all(server.wal_dir()).expect("delete the WAL folder");
    server.restart().await;
    assert_exactly(&server, &expected, "after SIGTERM, from blocks alone").await;
}
