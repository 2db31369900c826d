use std::collections::BTreeSet;

use object_store::ObjectStoreExt;
use proptest::prelude::*;
use strand_backend::{Backend, BlockMeta, keys};
use strand_common::{ErrorCode, ServiceError, Size};
use strand_model::{TenantId, TraceId, count_spans};
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value::Value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};
use strand_proto::tempopb::Trace;

use super::{expected, normalise, runtime, stored_block, strategies, truncated, write_block};
use crate::block::filter::BlockFilter;
use crate::block::{BlockConfig, BlockError, BlockReader, BlockWriter};

fn small_groups() -> BlockConfig {
    BlockConfig { parquet_row_group_size_bytes: Size(2048), ..BlockConfig::default() }
}

async fn read_filter(backend: &Backend, meta: &BlockMeta) -> BlockFilter {
    let key = keys::block_object(&TenantId::single(), meta.block_id, keys::FILTER);
    let bytes = backend.store().get(&key).await.unwrap().bytes().await.unwrap();
    BlockFilter::decode(&bytes).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn every_trace_comes_back_as_written(
        traces in strategies::traces(6),
        absent in prop::collection::vec(any::<[u8; 16]>(), 8),
        tiny_row_groups in any::<bool>(),
    ) {
        let config = if tiny_row_groups { small_groups() } else { BlockConfig::default() };
        runtime().block_on(async {
            let (backend, meta) = stored_block(&traces, &config).await;
            prop_assert_eq!(meta.total_traces, traces.len() as u64);
            let reader = BlockReader::new(backend, 4);
            for (id, trace) in &traces {
                let found = reader.find_trace_by_id(&meta, *id).await.unwrap();
                prop_assert!(found.is_some(), "trace {} was written but not found", id);
                let found = found.unwrap_or_default();
                prop_assert_eq!(found.truncated, truncated(id));
                prop_assert!(found.inspected_bytes > 0);
                prop_assert_eq!(normalise(found.trace), expected(trace));
            }
            let written: BTreeSet<TraceId> = traces.iter().map(|(id, _)| *id).collect();
            for id in absent.into_iter().map(TraceId).filter(|id| !written.contains(id)) {
                prop_assert_eq!(reader.find_trace_by_id(&meta, id).await.unwrap(), None);
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

/// A trace of `spans` spans: a root and children, over two services.
fn simple_trace(id: TraceId, n: u64, spans: u64) -> Trace {
    let batch = |service: &str, range: std::ops::Range<u64>| ResourceSpans {
        resource: Some(Resource { attributes: vec![string_kv("service.name", service)], ..Default::default() }),
        scope_spans: vec![ScopeSpans {
            scope: None,
            spans: range
                .map(|i| Span {
                    trace_id: id.0.to_vec(),
                    span_id: (i + 1).to_be_bytes().to_vec(),
                    parent_span_id: if i == 0 { Vec::new() } else { 1u64.to_be_bytes().to_vec() },
                    name: format!("op-{}", i % 5),
                    kind: (i % 5) as i32 + 1,
                    start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000 + i,
                    end_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000 + i + 500,
                    attributes: vec![
                        string_kv("http.method", "GET"),
                        string_kv("note", &format!("span {i} of trace {n}")),
                    ],
                    ..Default::default()
                })
                .collect(),
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };
    let half = spans / 2;
    Trace { resource_spans: vec![batch("api", 0..half.max(1)), batch("db", half.max(1)..spans)] }
}

#[test]
fn many_traces_across_row_groups_and_pages_are_all_found() {
    // Mostly small traces, plus a few bigger than a page so they straddle sparse-index entries.
    let mut traces: Vec<(TraceId, Trace)> = (0..1500u64)
        .map(|n| {
            let spans = match n {
                100 => 9_000,
                700 => 20_000,
                _ => n % 7 + 1,
            };
            let id = numbered_id(n);
            (id, simple_trace(id, n, spans))
        })
        .collect();
    traces.sort_by_key(|(id, _)| *id);
    let config = BlockConfig { parquet_row_group_size_bytes: Size(256 * 1024), ..BlockConfig::default() };

    runtime().block_on(async {
        let (backend, meta) = stored_block(&traces, &config).await;
        assert!(meta.row_groups >= 3, "expected several row groups, got {}", meta.row_groups);
        assert_eq!(meta.total_spans, traces.iter().map(|(_, t)| count_spans(t) as u64).sum::<u64>());

        let filter = read_filter(&backend, &meta).await;
        let entries = filter.entries();
        assert_eq!(filter.traces(), traces.len() as u64);
        // Row groups are cut between traces: a row group's first trace is new.
        for pair in entries.windows(2) {
            if pair[1].position.row_offset == 0 {
                assert!(pair[0].trace_id < pair[1].trace_id, "a trace straddles row groups at {:?}", pair[1].position);
            }
        }
        let big = numbered_id(700);
        assert!(
            entries.iter().filter(|e| e.trace_id == big).count() >= 2,
            "the big trace should span several index entries"
        );

        let reader = BlockReader::new(backend.clone(), 2);
        let mut inspected = Vec::new();
        for (id, trace) in &traces {
            let found =
                reader.find_trace_by_id(&meta, *id).await.unwrap().unwrap_or_else(|| panic!("trace {id} not found"));
            assert_eq!(count_spans(&found.trace), count_spans(trace), "trace {id}");
            assert_eq!(normalise(found.trace), expected(trace), "trace {id}");
            inspected.push(found.inspected_bytes);
        }
        // A warm lookup of a small trace reads a slice of the block, not the block.
        inspected.sort_unstable();
        let median = inspected[inspected.len() / 2];
        assert!(median < meta.data_size / 3, "median lookup read {median} of {} bytes", meta.data_size);
    });
}

#[test]
fn warm_lookups_need_no_filter_or_footer_requests_and_absent_traces_none_at_all() {
    let traces: Vec<(TraceId, Trace)> = {
        let mut t: Vec<_> = (0..50u64).map(|n| (numbered_id(n), simple_trace(numbered_id(n), n, 3))).collect();
        t.sort_by_key(|(id, _)| *id);
        t
    };
    runtime().block_on(async {
        let (backend, meta) = stored_block(&traces, &BlockConfig::default()).await;
        let filter = read_filter(&backend, &meta).await;
        let reader = BlockReader::new(backend.clone(), 8);
        let (first, _) = &traces[0];
        // Spawned, as the querier does: the lookup future must be Send.
        let cold = {
            let (reader, meta, id) = (reader.clone(), meta.clone(), *first);
            tokio::spawn(async move { reader.find_trace_by_id(&meta, id).await }).await.unwrap().unwrap().unwrap()
        };
        let tenant = TenantId::single();
        // Filter cached: the object can go.
        backend.store().delete(&keys::block_object(&tenant, meta.block_id, keys::FILTER)).await.unwrap();
        let warm = reader.find_trace_by_id(&meta, *first).await.unwrap().unwrap();
        assert!(warm.inspected_bytes < cold.inspected_bytes, "warm lookups skip filter and footer");
        // Absent traces are answered from the cached filter alone: the data can go too.
        backend.store().delete(&keys::block_object(&tenant, meta.block_id, keys::DATA)).await.unwrap();
        let mut asked = 0;
        for n in 10_000..10_200u64 {
            let id = numbered_id(n);
            if !filter.may_contain(&id) {
                asked += 1;
                assert_eq!(reader.find_trace_by_id(&meta, id).await.unwrap(), None);
            }
        }
        assert!(asked > 150);
    });
}

#[test]
fn the_writer_refuses_out_of_order_ids() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("data.parquet")).unwrap();
    let mut writer = BlockWriter::new(file, &BlockConfig::default()).unwrap();
    let (a, b) = (numbered_id(1), numbered_id(2));
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    writer.add_trace(high, simple_trace(high, 1, 2), false).unwrap();
    let err = writer.add_trace(low, simple_trace(low, 2, 2), false).unwrap_err();
    assert!(matches!(err, BlockError::OutOfOrder { previous, next } if previous == high && next == low), "{err}");
    assert!(
        matches!(writer.add_trace(high, simple_trace(high, 1, 2), false), Err(BlockError::OutOfOrder { .. })),
        "same ID twice"
    );
}

#[test]
fn an_empty_block_is_a_valid_block() {
    runtime().block_on(async {
        let (backend, meta) = stored_block(&[], &BlockConfig::default()).await;
        assert_eq!((meta.total_traces, meta.total_spans, meta.row_groups), (0, 0, 0));
        assert_eq!((meta.start_unix_nano, meta.end_unix_nano), (0, 0));
        let reader = BlockReader::new(backend, 1);
        assert_eq!(reader.find_trace_by_id(&meta, numbered_id(1)).await.unwrap(), None);
    });
}

#[test]
fn the_block_meta_describes_the_block() {
    let traces: Vec<(TraceId, Trace)> = {
        let mut t: Vec<_> = (0..20u64).map(|n| (numbered_id(n), simple_trace(numbered_id(n), n, 4))).collect();
        t.sort_by_key(|(id, _)| *id);
        t
    };
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_, written) = write_block(&dir, &traces, &BlockConfig::default());
        let (backend, meta) = stored_block(&traces, &BlockConfig::default()).await;
        assert_eq!(meta.format, "v1");
        assert_eq!(meta.total_traces, 20);
        assert_eq!(meta.total_spans, 80);
        assert_eq!(meta.start_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(meta.end_unix_nano, 1_700_000_000_000_000_000 + 19 * 1_000_000 + 3 + 500);
        assert_eq!(meta.filter_size, written.filter.len() as u64);
        assert_eq!(backend.read_block_meta(&TenantId::single(), meta.block_id).await.unwrap(), Some(meta.clone()));
        let index = backend.read_tenant_index(&TenantId::single()).await.unwrap().unwrap();
        assert_eq!(index.metas, vec![meta]);
    });
}

#[test]
fn errors_reach_clients_without_internal_details() {
    let store =
        BlockError::ObjectStore(object_store::Error::Generic { store: "s3", source: "secret-bucket timed out".into() });
    let service: ServiceError = store.into();
    assert_eq!(service.code, ErrorCode::Unavailable);
    assert!(!service.message.contains("secret-bucket"));
    let corrupt: ServiceError = BlockError::corrupt("tenant-a/block/filter", "checksum mismatch").into();
    assert_eq!(corrupt.code, ErrorCode::Internal);
    assert!(!corrupt.message.contains("tenant-a"));
}

#[test]
fn the_block_config_section_has_defaults_and_rejects_unknown_fields() {
    let config: BlockConfig = serde_json::from_str(r#"{"parquet_row_group_size_bytes": "64MiB"}"#).unwrap();
    assert_eq!(config.parquet_row_group_size_bytes, Size::mib(64));
    assert_eq!(config.zstd_level, 1);
    assert!(serde_json::from_str::<BlockConfig>(r#"{"row_group_size": 1}"#).is_err());
    assert!(BlockConfig { zstd_level: 30, ..BlockConfig::default() }.validate().is_err());
}

#[test]
fn the_footer_size_covers_page_indexes_so_one_ranged_read_suffices() {
    let traces: Vec<(TraceId, Trace)> = {
        let mut t: Vec<_> = (0..500u64).map(|n| (numbered_id(n), simple_trace(numbered_id(n), n, 40))).collect();
        t.sort_by_key(|(id, _)| *id);
        t
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, written) = write_block(&dir, &traces, &BlockConfig::default());
    let file = bytes::Bytes::from(std::fs::read(path).unwrap());
    let tail = file.slice((written.data_size - written.footer_size) as usize..);
    let metadata =
        crate::block::reader::parse_footer(&tail, written.data_size).expect("footer_size bytes hold all metadata");
    assert_eq!((metadata.num_row_groups(), written.row_groups), (1, 1));
    // Pages are cut by row count too, so a lookup decodes a page-worth of rows, not a row group.
    let start_column = crate::block::schema::block_schema().index_of("start_unix_nano").unwrap();
    let pages = metadata.page_index_for_row_group(0).page_locations(start_column).expect("offset index present").len();
    assert_eq!(metadata.row_group(0).num_rows(), 20_000);
    assert!(pages >= 3, "{pages} pages for 20000 rows");
}
