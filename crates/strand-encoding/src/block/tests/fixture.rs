//! The committed v1 fixture block (`testdata/v1/`): whatever the current writer does, blocks
//! written by the v1 writer must keep reading.
//!
//! The fixture was written once by `write_fixture`, which a test still runs into a temporary
//! folder so the writer and the committed files keep agreeing. `fixture_traces` is what went in:
//! do not edit it, the committed files are built from it.

use std::path::PathBuf;

use object_store::{ObjectStoreExt, PutPayload};
use strand_backend::{Backend, BlockMeta, keys};
use strand_model::{BlockId, TenantId, TraceId};
use strand_proto::otlp::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status, span};
use strand_proto::tempopb::Trace;

use super::{expected, normalise, runtime, truncated};
use crate::block::{BlockConfig, BlockReader, BlockWriter};

const BLOCK_ID: &str = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join("v1")
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn s(text: &str) -> Value {
    Value::StringValue(text.into())
}

fn trace_id(last: u8) -> TraceId {
    let mut id = [0x5a; 16];
    id[15] = last;
    TraceId(id)
}

/// The traces of the fixture block, sorted by ID. Frozen: the committed files come from this.
fn fixture_traces() -> Vec<(TraceId, Trace)> {
    let base = 1_717_000_000_000_000_000u64;
    let checkout = Resource {
        attributes: vec![
            kv("service.name", s("checkout")),
            kv("k8s.namespace.name", s("shop")),
            kv("k8s.pod.name", s("checkout-7d9f")),
            kv("deployment.environment", s("prod")),
            kv("host.cpus", Value::IntValue(8)),
            kv("service.name", s("duplicate-key-stays-generic")),
        ],
        dropped_attributes_count: 1,
        entity_refs: vec![EntityRef {
            schema_url: String::new(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into()],
            description_keys: vec![],
        }],
    };
    let payments = Resource {
        attributes: vec![kv("service.name", s("payments")), kv("cluster", Value::IntValue(3))],
        ..Default::default()
    };
    let scope = InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        attributes: vec![kv("lib.flag", Value::BoolValue(true))],
        dropped_attributes_count: 0,
    };
    let span = |id: TraceId, n: u8, parent: u8, name: &str, kind: i32, start: u64, end: u64| Span {
        trace_id: id.0.to_vec(),
        span_id: vec![0x10, 0, 0, 0, 0, 0, 0, n],
        trace_state: if n == 1 { "vendor=a".into() } else { String::new() },
        parent_span_id: if parent == 0 { Vec::new() } else { vec![0x10, 0, 0, 0, 0, 0, 0, parent] },
        flags: 0x101,
        name: name.into(),
        kind,
        start_time_unix_nano: base + start,
        end_time_unix_nano: base + end,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Some(Status::default()),
    };

    let first = trace_id(1);
    let mut root = span(first, 1, 0, "POST /checkout", 2, 0, 9_000);
    root.attributes = vec![
        kv("http.request.method", s("POST")),
        kv("http.response.status_code", Value::IntValue(201)),
        kv("url.full", s("https://shop.example/checkout?id=42")),
        kv("ratio", Value::DoubleValue(0.25)),
        kv("payload", Value::BytesValue(vec![0, 1, 2, 255])),
        kv(
            "tags",
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(s("a")) }, AnyValue { value: Some(Value::IntValue(2)) }],
            }),
        ),
        kv("nested", Value::KvlistValue(KeyValueList { values: vec![kv("inner", Value::BoolValue(false))] })),
        KeyValue { key: "no.value".into(), value: None, ..Default::default() },
        KeyValue { key: "empty.value".into(), value: Some(AnyValue { value: None }), ..Default::default() },
    ];
    root.events = vec![span::Event {
        time_unix_nano: base + 100,
        name: "cache miss".into(),
        attributes: vec![kv("key", s("cart:42"))],
        dropped_attributes_count: 2,
    }];
    root.dropped_events_count = 1;
    let mut child = span(first, 2, 1, "charge", 3, 1_000, 8_000);
    child.attributes = vec![kv("rpc.service", s("Payments")), kv("http.status_code", s("not-an-int"))];
    child.links = vec![span::Link {
        trace_id: vec![7; 16],
        span_id: vec![8; 8],
        trace_state: "k=v".into(),
        attributes: vec![kv("link.kind", s("follows"))],
        dropped_attributes_count: 0,
        flags: 1,
    }];
    child.status = Some(Status { message: "card declined".into(), code: 2 });
    child.dropped_attributes_count = 3;
    let mut db = span(first, 3, 2, "SELECT", 3, 2_000, 2_500);
    db.attributes = vec![kv("db.system", s("postgresql"))];

    let second = trace_id(2);
    // No root received yet, and an end before its start.
    let orphan = span(second, 9, 8, "orphan", 1, 50_000, 40_000);

    let batch = |resource: &Resource, schema_url: &str, spans: Vec<Span>| ResourceSpans {
        resource: Some(resource.clone()),
        scope_spans: vec![ScopeSpans {
            scope: Some(scope.clone()),
            spans,
            schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
        }],
        schema_url: schema_url.into(),
    };
    vec![
        (
            first,
            Trace {
                resource_spans: vec![
                    batch(&checkout, "https://opentelemetry.io/schemas/1.21.0", vec![root, db]),
                    batch(&payments, "", vec![child]),
                ],
            },
        ),
        (second, Trace { resource_spans: vec![batch(&payments, "", vec![orphan])] }),
    ]
}

/// Writes the fixture block into `dir`. It made `testdata/v1` once; point it at a new version's
/// folder only when creating that version's fixture, never to refresh v1.
fn write_fixture(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let data = dir.join(keys::DATA);
    let mut writer = BlockWriter::new(std::fs::File::create(&data).unwrap(), &BlockConfig::default()).unwrap();
    for (id, trace) in fixture_traces() {
        writer.add_trace(id, trace, truncated(&id)).unwrap();
    }
    let written = writer.finish().unwrap();
    std::fs::write(dir.join(keys::FILTER), &written.filter).unwrap();
    let meta = written.meta(&TenantId::single(), BlockId::parse(BLOCK_ID).unwrap(), 0, 0);
    std::fs::write(dir.join(keys::META), serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
}

#[test]
fn the_committed_v1_fixture_block_still_reads() {
    check_fixture(&fixture_dir());
}

#[test]
fn a_freshly_written_fixture_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    check_fixture(dir.path());
}

fn check_fixture(dir: &std::path::Path) {
    let meta: BlockMeta = serde_json::from_slice(&std::fs::read(dir.join(keys::META)).unwrap()).unwrap();
    assert_eq!(meta.format, "v1");
    let backend = Backend::in_memory();
    let tenant = TenantId::single();
    runtime().block_on(async {
        for name in [keys::DATA, keys::FILTER, keys::META] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            backend
                .store()
                .put(&keys::block_object(&tenant, meta.block_id, name), PutPayload::from(bytes))
                .await
                .unwrap();
        }
        let reader = BlockReader::new(backend, 1);
        for (id, trace) in fixture_traces() {
            let found = reader
                .find_trace_by_id(&meta, id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("fixture trace {id} not found"));
            assert_eq!(found.truncated, truncated(&id));
            assert_eq!(normalise(found.trace), expected(&trace), "fixture trace {id}");
        }
        assert_eq!(reader.find_trace_by_id(&meta, trace_id(3)).await.unwrap(), None);
    });
}
