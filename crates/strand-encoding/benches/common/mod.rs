//! What the storage micro-benchmarks share: the end-to-end benchmarks' synthetic HTTP-server
//! spans (`benches/common/data.rs` at the workspace root), regrouped by trace the way the
//! ingester receives them.
#![allow(dead_code)]

#[path = "../../../../benches/common/data.rs"]
pub mod data;

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use strand_model::{TraceBytes, TraceId};
use strand_proto::otlp::collector::ExportTraceServiceRequest;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};
use strand_proto::tempopb::Trace;
use tempfile::TempDir;

/// A scratch folder on tmpfs (`/dev/shm`) when the machine has one, so that what a benchmark
/// measures is CPU and memory, not a shared disk's latency; else the system's temporary folder.
pub fn scratch_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    let dir = dir.expect("creating a scratch folder");
    eprintln!("writing to {}", dir.path().display());
    dir
}

/// The traces in `requests`, by ID: each holds its spans under their own resource and scope.
pub fn traces(requests: &[data::EncodedRequest]) -> BTreeMap<TraceId, Trace> {
    // (trace, request, resource, scope) → spans, so resources and scopes keep their order.
    let mut runs: BTreeMap<(TraceId, usize, usize, usize), Vec<Span>> = BTreeMap::new();
    let mut batches = Vec::new();
    for (r, request) in requests.iter().enumerate() {
        let decoded = ExportTraceServiceRequest::decode(request.bytes.clone()).expect("decoding a generated request");
        for (b, batch) in decoded.resource_spans.into_iter().enumerate() {
            let mut scopes = Vec::new();
            for (s, scope_spans) in batch.scope_spans.into_iter().enumerate() {
                for span in scope_spans.spans {
                    let id = TraceId::from_bytes(&span.trace_id).expect("generated IDs are 16 bytes");
                    runs.entry((id, r, b, s)).or_default().push(span);
                }
                scopes.push(ScopeSpans { spans: Vec::new(), ..scope_spans });
            }
            batches.push(((r, b), ResourceSpans { scope_spans: scopes, ..batch }));
        }
    }
    let batches: BTreeMap<(usize, usize), ResourceSpans> = batches.into_iter().collect();
    let mut traces: BTreeMap<TraceId, Trace> = BTreeMap::new();
    for ((id, r, b, s), spans) in runs {
        let batch = &batches[&(r, b)];
        let scope = &batch.scope_spans[s];
        traces.entry(id).or_default().resource_spans.push(ResourceSpans {
            resource: batch.resource.clone(),
            scope_spans: vec![ScopeSpans { scope: scope.scope.clone(), spans, schema_url: scope.schema_url.clone() }],
            schema_url: batch.schema_url.clone(),
        });
    }
    traces
}

/// The traces of one push as the distributor hands them to the ingester: encoded once each.
pub fn trace_bytes(traces: &BTreeMap<TraceId, Trace>) -> Vec<TraceBytes> {
    traces
        .iter()
        .map(|(id, trace)| {
            let spans = trace.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans);
            let (start, end) = spans.fold((u64::MAX, 0), |(start, end), span| {
                (start.min(span.start_time_unix_nano), end.max(span.end_time_unix_nano))
            });
            TraceBytes {
                id: *id,
                bytes: trace.encode_to_vec().into(),
                span_count: strand_model::count_spans(trace) as u32,
                start_unix_nano: start,
                end_unix_nano: end,
            }
        })
        .collect()
}
