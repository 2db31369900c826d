//! Blocks with known traces in a backend, a clock the test moves, and checks of what readers see.
#![allow(dead_code)]

pub mod slow;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use strand_backend::{Backend, BlockMeta};
use strand_compactor::{Clock, CompactionConfig, Compactor, CompactorConfig, Ownership};
use strand_encoding::{BlockConfig, BlockReader, BlockWriter, upload_block};
use strand_model::{BlockId, TenantId, TraceId, count_spans};
use strand_overrides::Overrides;
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value::Value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};
use strand_proto::tempopb::Trace;

pub const HOUR: u64 = 3600;
pub const NANOS: u64 = 1_000_000_000;

/// A clock that stands still until the test moves it.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<SystemTime>>);

impl TestClock {
    /// Starts at the real now, so the objects the store stamps with real times line up.
    pub fn new() -> TestClock {
        TestClock(Arc::new(Mutex::new(SystemTime::now())))
    }

    pub fn now_secs(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
    }

    pub fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    pub fn clock(&self) -> Clock {
        let inner = Arc::clone(&self.0);
        Arc::new(move || *inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

pub fn owns_all() -> Ownership {
    Arc::new(|_, _| true)
}

/// A compactor over `backend` with `config`, the test's clock and `overrides`.
pub fn compactor(
    backend: &Backend,
    config: CompactionConfig,
    overrides: Overrides,
    owns: Ownership,
    clock: &TestClock,
) -> Compactor {
    Compactor::new(
        CompactorConfig { compaction: config, ..CompactorConfig::default() },
        backend.clone(),
        Arc::new(overrides),
        owns,
    )
    .with_clock(clock.clock())
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

pub fn trace_id(n: u64) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    TraceId(bytes)
}

/// Spans `spans` of trace `n` from `service`, starting at `start_secs`.
pub fn trace(n: u64, service: &str, spans: std::ops::Range<u64>, start_secs: u64) -> Trace {
    let id = trace_id(n);
    let start = start_secs * NANOS;
    Trace {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![string_kv("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: spans
                    .map(|i| Span {
                        trace_id: id.0.to_vec(),
                        span_id: (n * 1000 + i + 1).to_be_bytes().to_vec(),
                        parent_span_id: if i == 0 { Vec::new() } else { (n * 1000 + 1).to_be_bytes().to_vec() },
                        name: format!("op-{i}"),
                        kind: 2,
                        start_time_unix_nano: start + i * 1_000,
                        end_time_unix_nano: start + i * 1_000 + 500,
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Writes `traces` as a level-0 block of `tenant`, as an ingester flush does.
pub async fn level_0_block(backend: &Backend, tenant: &TenantId, traces: &[(TraceId, Trace)]) -> Result<BlockMeta> {
    let mut sorted: Vec<&(TraceId, Trace)> = traces.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data.parquet");
    let mut writer = BlockWriter::new(std::fs::File::create(&path)?, &BlockConfig::default())?;
    for (id, trace) in sorted {
        writer.add_trace(*id, trace.clone(), false)?;
    }
    let written = writer.finish()?;
    Ok(upload_block(backend, tenant, BlockId::new_random(), &path, &written, 0).await?)
}

/// The live blocks of `tenant` as the tenant index lists them, oldest first.
pub async fn indexed(backend: &Backend, tenant: &TenantId) -> Result<Vec<BlockMeta>> {
    Ok(backend.read_tenant_index(tenant).await?.map(|index| index.metas).unwrap_or_default())
}

/// How many spans of each trace `blocks` hold, looked up the way a querier does: by ID, in every
/// block, combined.
pub async fn spans_per_trace(
    backend: &Backend,
    blocks: &[BlockMeta],
    ids: impl IntoIterator<Item = TraceId>,
) -> Result<BTreeMap<TraceId, usize>> {
    let reader = BlockReader::new(backend.clone(), 64);
    let mut found = BTreeMap::new();
    for id in ids {
        let mut parts = Vec::new();
        for meta in blocks {
            if let Some(part) =
                reader.find_trace_by_id(meta, id).await.with_context(|| format!("block {}", meta.block_id))?
            {
                parts.push(part.trace);
            }
        }
        found.insert(id, count_spans(&strand_model::combine(parts)));
    }
    Ok(found)
}
