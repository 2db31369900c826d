//! Scanning blocks back and merging them: what compaction relies on.

use std::collections::{BTreeMap, BTreeSet};

use object_store::ObjectStoreExt;
use proptest::prelude::*;
use prost::Message;
use strand_backend::{Backend, BlockMeta, keys};
use strand_common::Size;
use strand_model::{BlockId, TagScope, TenantId, TraceId, TypedValue, combine, count_spans};
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value::Value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};
use strand_proto::tempopb::Trace;

use super::{normalise, runtime, strategies, truncated, write_block};
use crate::block::{BlockConfig, BlockReader, BlockScan, compact_blocks, upload_block};
use crate::search::TagSummary;

fn small_groups() -> BlockConfig {
    BlockConfig { parquet_row_group_size_bytes: Size(4096), ..BlockConfig::default() }
}

/// Writes `traces` (sorted by ID) as a level-0 block in `backend`.
async fn store(backend: &Backend, traces: &[(TraceId, Trace)], config: &BlockConfig) -> BlockMeta {
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = write_block(&dir, traces, config);
    upload_block(backend, &TenantId::single(), BlockId::new_random(), &path, &written, 0).await.unwrap()
}

/// Compacts `inputs` and uploads the result at level 1.
async fn compact(backend: &Backend, inputs: &[BlockMeta], config: &BlockConfig) -> BlockMeta {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compacted.parquet");
    let written = compact_blocks(backend, inputs, config, std::fs::File::create(&path).unwrap()).await.unwrap();
    upload_block(backend, &TenantId::single(), BlockId::new_random(), &path, &written, 1).await.unwrap()
}

/// Every span of a trace with its resource and scope, encoded, sorted: equal exactly when two
/// traces hold the same spans the same number of times, however they are grouped or ordered.
fn span_set(trace: Trace) -> Vec<Vec<u8>> {
    let mut spans = Vec::new();
    for batch in normalise(trace).resource_spans {
        for scope_spans in &batch.scope_spans {
            for span in &scope_spans.spans {
                let one = ResourceSpans {
                    resource: batch.resource.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: scope_spans.scope.clone(),
                        spans: vec![span.clone()],
                        schema_url: scope_spans.schema_url.clone(),
                    }],
                    schema_url: batch.schema_url.clone(),
                };
                spans.push(one.encode_to_vec());
            }
        }
    }
    spans.sort();
    spans
}

/// Splits a trace's spans over two parts: span `i` goes to the first part, the second, or both
/// (as replication stores it), by `choices[i % len]`. Parts may come out empty.
fn split(trace: &Trace, choices: &[u8]) -> (Trace, Trace) {
    let (mut first, mut second) = (Trace::default(), Trace::default());
    let mut i = 0;
    for batch in &trace.resource_spans {
        let mut parts = [batch.clone(), batch.clone()];
        for (s, scope_spans) in batch.scope_spans.iter().enumerate() {
            for part in &mut parts {
                part.scope_spans[s].spans.clear();
            }
            for span in &scope_spans.spans {
                let choice = choices.get(i % choices.len().max(1)).copied().unwrap_or(2);
                i += 1;
                if choice != 1 {
                    parts[0].scope_spans[s].spans.push(span.clone());
                }
                if choice != 0 {
                    parts[1].scope_spans[s].spans.push(span.clone());
                }
            }
        }
        let [a, b] = parts;
        first.resource_spans.push(a);
        second.resource_spans.push(b);
    }
    (first, second)
}

fn non_empty(parts: Vec<(TraceId, Trace)>) -> Vec<(TraceId, Trace)> {
    parts.into_iter().filter(|(_, trace)| count_spans(trace) > 0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any split of any traces over two blocks, with any spans stored in both, compacts back into
    /// exactly the original traces.
    #[test]
    fn compaction_puts_split_and_replicated_traces_back_together(
        traces in strategies::traces(8),
        choices in prop::collection::vec(0u8..3, 1..16),
        tiny_row_groups in any::<bool>(),
    ) {
        let config = if tiny_row_groups { small_groups() } else { BlockConfig::default() };
        // One copy of each (span ID, kind) to start from, as ingest would have deduplicated.
        let originals: Vec<(TraceId, Trace)> = traces.into_iter().map(|(id, t)| (id, combine([t]))).collect();
        let (first, second): (Vec<_>, Vec<_>) = originals
            .iter()
            .map(|(id, trace)| {
                let (a, b) = split(trace, &choices);
                ((*id, a), (*id, b))
            })
            .unzip();
        let (first, second) = (non_empty(first), non_empty(second));
        runtime().block_on(async {
            let backend = Backend::in_memory();
            let inputs = vec![store(&backend, &first, &config).await, store(&backend, &second, &config).await];
            let output = compact(&backend, &inputs, &config).await;
            let distinct_spans: u64 = originals.iter().map(|(_, t)| count_spans(t) as u64).sum();
            prop_assert_eq!(output.total_traces, originals.len() as u64);
            prop_assert_eq!(output.total_spans, distinct_spans);
            prop_assert_eq!(output.compaction_level, 1);
            let reader = BlockReader::new(backend, 4);
            for (id, trace) in &originals {
                let found = reader.find_trace_by_id(&output, *id).await.unwrap();
                prop_assert!(found.is_some(), "trace {} lost by compaction", id);
                let found = found.unwrap_or_default();
                prop_assert_eq!(found.truncated, truncated(id));
                prop_assert_eq!(span_set(found.trace), span_set(trace.clone()), "trace {}", id);
            }
            Ok(())
        })?;
    }
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn numbered_id(n: u64) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    TraceId(bytes)
}

/// Spans `range` of trace `n`, from service `service`, with a per-service attribute.
fn spans_of(n: u64, service: &str, range: std::ops::Range<u64>) -> Trace {
    let id = numbered_id(n);
    Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![string_kv("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: range
                    .map(|i| Span {
                        trace_id: id.0.to_vec(),
                        span_id: (n * 1000 + i + 1).to_be_bytes().to_vec(),
                        parent_span_id: if i == 0 { Vec::new() } else { (n * 1000 + 1).to_be_bytes().to_vec() },
                        name: format!("op-{}", i % 3),
                        kind: 2,
                        start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000 + i * 10,
                        end_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000 + i * 10 + 5,
                        attributes: vec![string_kv(&format!("{service}.attr"), &format!("v{}", n % 4))],
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn sorted(mut traces: Vec<(TraceId, Trace)>) -> Vec<(TraceId, Trace)> {
    traces.sort_by_key(|(id, _)| *id);
    traces
}

fn names(summary: &TagSummary, scope: TagScope) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    summary.names(scope, None, &mut out);
    out
}

fn values(summary: &TagSummary, key: &str) -> BTreeSet<TypedValue> {
    let mut out = BTreeSet::new();
    summary.values(None, key, None, &mut out);
    out
}

async fn tags(backend: &Backend, meta: &BlockMeta) -> TagSummary {
    let key = keys::block_object(&TenantId::single(), meta.block_id, keys::TAGS);
    TagSummary::decode(&backend.store().get(&key).await.unwrap().bytes().await.unwrap()).unwrap()
}

#[test]
fn three_overlapping_blocks_become_one_with_whole_traces_and_the_union_of_their_tags() {
    // Block A: traces 0..300 from "api" (spans 0..6). Block B: a replica of traces 0..150 of A,
    // plus the "db" spans 6..10 of traces 100..200. Block C: traces 300..400 from "queue" only.
    let api = |n| (numbered_id(n), spans_of(n, "api", 0..6));
    let a = sorted((0..300).map(api).collect());
    let mut b: Vec<_> = (0..150).map(api).collect();
    for n in 100..200 {
        if let Some((_, trace)) = b.iter_mut().find(|(id, _)| *id == numbered_id(n)) {
            trace.resource_spans.extend(spans_of(n, "db", 6..10).resource_spans);
        } else {
            b.push((numbered_id(n), spans_of(n, "db", 6..10)));
        }
    }
    let b = sorted(b);
    let c = sorted((300..400).map(|n| (numbered_id(n), spans_of(n, "queue", 0..3))).collect());
    let config = small_groups();

    runtime().block_on(async {
        let backend = Backend::in_memory();
        let inputs = vec![
            store(&backend, &a, &config).await,
            store(&backend, &b, &config).await,
            store(&backend, &c, &config).await,
        ];
        assert!(inputs.iter().all(|m| m.row_groups >= 2), "each input should have several row groups");
        let output = compact(&backend, &inputs, &config).await;

        assert_eq!(output.total_traces, 400);
        assert_eq!(output.total_spans, 300 * 6 + 100 * 4 + 100 * 3, "replicated spans are stored once");
        assert_eq!(output.start_unix_nano, inputs.iter().map(|m| m.start_unix_nano).min().unwrap());
        assert_eq!(output.end_unix_nano, inputs.iter().map(|m| m.end_unix_nano).max().unwrap());

        let reader = BlockReader::new(backend.clone(), 8);
        for n in 0..400 {
            let mut expected = match n {
                0..300 => spans_of(n, "api", 0..6),
                _ => spans_of(n, "queue", 0..3),
            };
            if (100..200).contains(&n) {
                expected.resource_spans.extend(spans_of(n, "db", 6..10).resource_spans);
            }
            let found = reader.find_trace_by_id(&output, numbered_id(n)).await.unwrap().unwrap();
            assert_eq!(span_set(found.trace), span_set(expected), "trace {n}");
        }
        assert_eq!(reader.find_trace_by_id(&output, numbered_id(400)).await.unwrap(), None);

        let mut union = TagSummary::default();
        for input in &inputs {
            union.merge(&tags(&backend, input).await);
        }
        let merged = tags(&backend, &output).await;
        for scope in [TagScope::Span, TagScope::Resource, TagScope::Intrinsic] {
            assert_eq!(names(&merged, scope), names(&union, scope), "{scope:?}");
        }
        assert!(names(&merged, TagScope::Span).contains("db.attr"));
        for key in ["api.attr", "db.attr", "queue.attr", "service.name"] {
            assert_eq!(values(&merged, key), values(&union, key), "{key}");
        }
    });
}

#[test]
fn a_scan_reads_every_row_group_in_trace_id_order() {
    let traces = sorted((0..500).map(|n| (numbered_id(n), spans_of(n, "api", 0..(n % 9 + 1)))).collect());
    runtime().block_on(async {
        let backend = Backend::in_memory();
        let meta = store(&backend, &traces, &small_groups()).await;
        assert!(meta.row_groups >= 5, "expected several row groups, got {}", meta.row_groups);
        let reader = BlockReader::new(backend, 1);
        let mut scan = BlockScan::open(&reader, &meta).await.unwrap();
        let mut seen = BTreeMap::new();
        let mut previous = None;
        while let Some(scanned) = scan.next().await.unwrap() {
            assert!(previous < Some(scanned.id), "{} came after {:?}", scanned.id, previous);
            previous = Some(scanned.id);
            assert_eq!(scanned.spans, count_spans(&scanned.trace) as u64);
            assert_eq!(scanned.truncated, truncated(&scanned.id));
            seen.insert(scanned.id, scanned);
        }
        assert_eq!(seen.len(), traces.len());
        for (id, trace) in &traces {
            let scanned = &seen[id];
            assert_eq!(span_set(scanned.trace.clone()), span_set(trace.clone()), "trace {id}");
            let first_start = trace.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano;
            assert_eq!(scanned.start_unix_nano, first_start);
        }
    });
}

#[test]
fn a_scan_of_a_missing_block_fails_when_opened() {
    runtime().block_on(async {
        let backend = Backend::in_memory();
        let meta = store(&backend, &[(numbered_id(1), spans_of(1, "api", 0..2))], &BlockConfig::default()).await;
        backend.store().delete(&keys::block_object(&TenantId::single(), meta.block_id, keys::DATA)).await.unwrap();
        let reader = BlockReader::new(backend, 1);
        assert!(BlockScan::open(&reader, &meta).await.is_err());
    });
}
