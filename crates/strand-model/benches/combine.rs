//! Criterion micro-benchmark of `strand_model::combine`: one trace of 400 spans from 4 services,
//! found in 4 parts (live traces, a head block, blocks) that overlap by 10 spans each, as
//! replication leaves them. Combining keeps 400 of the 440 spans, merges the parts' batches by
//! resource and scope, and sorts the spans.
//!
//! Same-run baseline: concatenating the parts' `resource_spans` vectors, which is all a lookup
//! would do without deduplication. Both take the parts by value, cloned outside the timing.
//!
//! ```sh
//! cargo bench -p strand-model --bench combine
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strand_model::{combine, count_spans};
use strand_proto::otlp::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, span};
use strand_proto::tempopb::Trace;

// strand runs on mimalloc, and combining is allocation-heavy; measure with it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERVICES: [&str; 4] = ["frontend", "checkout", "cart", "payment"];
const PARTS: usize = 4;
const SPANS_PER_PART: usize = 100;
/// Spans each part shares with the next one.
const OVERLAP: usize = 10;

fn combine_bench(c: &mut Criterion) {
    let spans: Vec<Span> = (0..PARTS * SPANS_PER_PART).map(make_span).collect();
    let parts: Vec<Trace> = (0..PARTS)
        .map(|p| {
            let own = p * SPANS_PER_PART..(p + 1) * SPANS_PER_PART;
            let next = (p + 1) % PARTS * SPANS_PER_PART;
            part(&spans, own.chain(next..next + OVERLAP))
        })
        .collect();
    let input_spans: usize = parts.iter().map(count_spans).sum();
    assert_eq!(count_spans(&combine(parts.clone())), spans.len(), "duplicates are dropped");

    let mut group = c.benchmark_group("combine_4_parts");
    group.throughput(Throughput::Elements(input_spans as u64));
    group.bench_function("baseline_concat_resource_spans", |b| {
        b.iter_batched(
            || parts.clone(),
            |parts| Trace { resource_spans: parts.into_iter().flat_map(|part| part.resource_spans).collect() },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("combine", |b| b.iter_batched(|| parts.clone(), combine, BatchSize::SmallInput));
    group.finish();
}

/// The part of the trace holding `spans[indexes]`, batched by service with one scope each, as an
/// SDK sends them. Span `i` belongs to service `i % 4`.
fn part(spans: &[Span], indexes: impl Iterator<Item = usize>) -> Trace {
    let mut batches: Vec<ResourceSpans> = SERVICES
        .iter()
        .map(|service| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string("service.name", service),
                    string("service.version", "1.4.2"),
                    string("host.name", &format!("ip-10-0-1-{}.ec2.internal", service.len())),
                    string("k8s.pod.name", &format!("{service}-7d9f8c6b5-x2x4q")),
                    string("telemetry.sdk.language", "go"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp".to_string(),
                    version: "0.49.0".to_string(),
                    ..Default::default()
                }),
                spans: Vec::new(),
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
        })
        .collect();
    for i in indexes {
        batches[i % SERVICES.len()].scope_spans[0].spans.push(spans[i].clone());
    }
    batches.retain(|batch| !batch.scope_spans[0].spans.is_empty());
    Trace { resource_spans: batches }
}

/// Span `i` of the trace: span 0 is the root, every other span a child of an earlier one.
fn make_span(i: usize) -> Span {
    let route = ["/api/cart", "/api/checkout", "/api/products/{id}", "/api/payment"][i % 4];
    let start = 1_700_000_000_000_000_000 + mix(i as u64) % 1_000_000_000;
    let kind = if i.is_multiple_of(2) { span::SpanKind::Server } else { span::SpanKind::Client };
    Span {
        trace_id: vec![0x5b; 16],
        span_id: span_id(i),
        parent_span_id: if i == 0 { Vec::new() } else { span_id(mix(i as u64) as usize % i) },
        name: format!("GET {route}"),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000 + mix(i as u64 + 1) % 50_000_000,
        attributes: vec![
            string("http.request.method", "GET"),
            string("http.route", route),
            string("url.path", &route.replace("{id}", &(i * 7).to_string())),
            int("http.response.status_code", 200),
            string("server.address", SERVICES[i % SERVICES.len()]),
            int("server.port", 8080),
            string("network.protocol.version", "1.1"),
            string("user_agent.original", "Go-http-client/1.1"),
        ],
        ..Default::default()
    }
}

/// Span IDs are the index, scrambled, so they sort in no particular order.
fn span_id(i: usize) -> Vec<u8> {
    mix(i as u64 + 0x1000).to_be_bytes().to_vec()
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_string())) }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..Default::default()
    }
}

criterion_group!(benches, combine_bench);
criterion_main!(benches);
