//! Criterion micro-benchmark of the block's trace-ID filter (`filter` object, a binary fuse
//! filter): `may_contain` for IDs the block holds and for IDs it does not, which is what a
//! trace-by-ID lookup asks every block before it reads anything.
//!
//! Same-run baseline: `std::collections::HashSet<[u8; 16]>::contains` over the same IDs: the
//! exact answer, for at least 17 bytes a trace against the filter's 1.
//!
//! The block holds 100,000 random trace IDs of one small span each; only the IDs matter to the
//! filter. It is built by `BlockWriter` and decoded from its `filter` object, as a reader does.
//!
//! ```sh
//! cargo bench -p strand-encoding --bench filter
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::fs::File;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strand_encoding::bench_support::BlockFilter;
use strand_encoding::{BlockConfig, BlockWriter};
use strand_model::TraceId;
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};
use strand_proto::tempopb::Trace;

/// Trace IDs in the block.
const TRACES: usize = 100_000;
/// IDs looked up per iteration, in each of the present and absent sets.
const LOOKUPS: usize = 1024;

fn filter(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0x5354_5241_4e44);
    let mut ids: Vec<[u8; 16]> = (0..TRACES).map(|_| rng.random()).collect();
    ids.sort_unstable();
    ids.dedup();
    let filter = block_filter(&ids);
    let set: HashSet<[u8; 16]> = ids.iter().copied().collect();

    let present: Vec<[u8; 16]> = (0..LOOKUPS).map(|_| ids[rng.random_range(0..ids.len())]).collect();
    let absent: Vec<[u8; 16]> =
        std::iter::repeat_with(|| rng.random()).filter(|id| !set.contains(id)).take(LOOKUPS).collect();
    let false_positives = absent.iter().filter(|id| filter.may_contain(&TraceId(**id))).count();
    assert!(present.iter().all(|id| filter.may_contain(&TraceId(*id))), "no false negatives");
    eprintln!("{} traces; {false_positives} of {LOOKUPS} absent IDs pass the filter", ids.len());

    let mut group = c.benchmark_group("filter_1024_lookups");
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    for (name, lookups) in [("present", &present), ("absent", &absent)] {
        group.bench_function(format!("baseline_hashset_{name}"), |b| {
            b.iter(|| lookups.iter().filter(|id| set.contains(black_box(*id))).count())
        });
        group.bench_function(format!("fuse_filter_{name}"), |b| {
            b.iter(|| lookups.iter().filter(|id| filter.may_contain(&TraceId(*black_box(*id)))).count())
        });
    }
    group.finish();
}

/// Writes a block of one span per ID (`ids` sorted) and decodes its `filter` object.
fn block_filter(ids: &[[u8; 16]]) -> BlockFilter {
    let dir = tempfile::tempdir().unwrap();
    let file = File::create(dir.path().join("data.parquet")).unwrap();
    let mut writer = BlockWriter::new(file, &BlockConfig::default()).unwrap();
    let resource = Resource {
        attributes: vec![KeyValue {
            key: "service.name".to_string(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue("frontend".to_string())) }),
            ..Default::default()
        }],
        ..Default::default()
    };
    for (n, id) in ids.iter().enumerate() {
        let start = 1_700_000_000_000_000_000 + n as u64 * 1_000;
        let span = Span {
            trace_id: id.to_vec(),
            span_id: (n as u64 + 1).to_be_bytes().to_vec(),
            name: "GET /api/products".to_string(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 500,
            ..Default::default()
        };
        let trace = Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
                schema_url: String::new(),
            }],
        };
        writer.add_trace(TraceId(*id), trace, false).unwrap();
    }
    BlockFilter::decode(&writer.finish().unwrap().filter).unwrap()
}

criterion_group!(benches, filter);
criterion_main!(benches);
