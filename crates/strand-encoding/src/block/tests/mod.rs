//! Block v1 round trips: write → upload → find, against `combine` of what went in.

mod compaction;
mod fixture;
mod lookups;
mod schema_snapshot;
pub(crate) mod strategies;

use std::path::PathBuf;

use strand_backend::{Backend, BlockMeta};
use strand_model::{BlockId, TenantId, TraceId, combine};
use strand_proto::otlp::common::InstrumentationScope;
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::Status;
use strand_proto::tempopb::Trace;

use super::{BlockConfig, BlockWriter, WrittenBlock, upload_block};

/// Writes `traces` (sorted by ID) into a block file in `dir`.
pub(crate) fn write_block(
    dir: &tempfile::TempDir,
    traces: &[(TraceId, Trace)],
    config: &BlockConfig,
) -> (PathBuf, WrittenBlock) {
    let path = dir.path().join("data.parquet");
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = BlockWriter::new(file, config).unwrap();
    for (id, trace) in traces {
        writer.add_trace(*id, trace.clone(), truncated(id)).unwrap();
    }
    (path, writer.finish().unwrap())
}

/// Which test traces are written as truncated: a fixed function of the ID, so tests can check
/// the flag comes back.
pub(crate) fn truncated(id: &TraceId) -> bool {
    id.0[15] & 1 == 1
}

/// Writes and uploads a block to a fresh in-memory backend.
pub(crate) async fn stored_block(traces: &[(TraceId, Trace)], config: &BlockConfig) -> (Backend, BlockMeta) {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = write_block(&dir, traces, config);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), written.data_size);
    let backend = Backend::in_memory();
    // Spawned, as the ingester does: the upload future must be Send.
    let upload = {
        let backend = backend.clone();
        tokio::spawn(async move {
            upload_block(&backend, &TenantId::single(), BlockId::new_random(), &path, &written, 0).await
        })
    };
    let meta = upload.await.unwrap().unwrap();
    (backend, meta)
}

/// What the block does not promise to keep, applied to BOTH sides before comparing:
///
/// 1. Absent `resource`, `scope` and `status` messages come back present and empty (readers
///    always get them), so `None` becomes `Some(default)`.
/// 2. Resource and span attributes are stably sorted by key: dedicated columns put well-known
///    keys (`service.name`, `http.method`…) in front of the generic list. Stable sorting keeps
///    duplicated keys in their original relative order, which the block also keeps. Scope,
///    event, link and nested attributes are not touched: the block keeps their order exactly.
/// 3. The result is combined again: two resources (or scopes) that differed only by attribute
///    order are now equal, and the block stores them as one.
///
/// Everything else — IDs, trace state, flags, kind, times (including ends before starts),
/// status, every attribute value type, events, links, dropped counts, schema URLs, entity
/// references — must come back exactly.
pub(crate) fn normalise(trace: Trace) -> Trace {
    let mut trace = trace;
    for batch in &mut trace.resource_spans {
        let resource = batch.resource.get_or_insert_with(Resource::default);
        resource.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        for scope_spans in &mut batch.scope_spans {
            scope_spans.scope.get_or_insert_with(InstrumentationScope::default);
            for span in &mut scope_spans.spans {
                span.status.get_or_insert_with(Status::default);
                span.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
    }
    combine([trace])
}

/// The expected answer of a lookup: the trace as `combine` gives it, normalised.
pub(crate) fn expected(trace: &Trace) -> Trace {
    normalise(combine([trace.clone()]))
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}
