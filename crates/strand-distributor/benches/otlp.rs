//! Criterion micro-benchmark of the distributor's CPU path for one push: decoding an
//! `ExportTraceServiceRequest` of 512 spans and regrouping it by trace (`group_by_trace`), which
//! encodes every span again as part of its trace's `tempopb.Trace` bytes.
//!
//! Same-run baseline: prost-decoding the same bytes and nothing else, the floor of any receiver.
//! The data is the end-to-end benchmarks' synthetic HTTP-server spans (`benches/common/data.rs`
//! at the workspace root), so figures compare with `docs/benchmarks.md`.
//!
//! ```sh
//! cargo bench -p strand-distributor --bench otlp
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../../../benches/common/data.rs"]
mod data;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use strand_distributor::bench_support::group_by_trace;
use strand_proto::otlp::collector::ExportTraceServiceRequest;

// The server runs on mimalloc; decoding and grouping are allocation-heavy, so measure with it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn otlp(c: &mut Criterion) {
    let dataset = data::Dataset::generate(1, data::SEED).expect("generating the request");
    let request = &dataset.requests[0];
    let bytes = request.bytes.clone();
    let grouped = group_by_trace(ExportTraceServiceRequest::decode(bytes.clone()).unwrap().resource_spans).unwrap();
    assert_eq!(grouped.traces.len(), request.traces.len(), "one entry per trace");

    let mut group = c.benchmark_group("otlp_512_spans");
    group.throughput(Throughput::Elements(request.spans as u64));
    group.bench_function("baseline_prost_decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(bytes.clone())).unwrap())
    });
    group.bench_function("decode_and_group_by_trace", |b| {
        b.iter(|| {
            let decoded = ExportTraceServiceRequest::decode(black_box(bytes.clone())).unwrap();
            group_by_trace(decoded.resource_spans).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, otlp);
criterion_main!(benches);
