//! The ingester's own metrics, registered once in the default Prometheus registry.
// Registration only fails for a duplicate name, which would be a bug caught by the first test.
#![allow(clippy::expect_used)]

use std::sync::LazyLock;

use prometheus::{
    Histogram, IntCounter, IntCounterVec, IntGauge, register_histogram, register_int_counter, register_int_counter_vec,
    register_int_gauge,
};

pub(crate) static LIVE_TRACES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!("strand_ingester_live_traces", "Traces held in memory waiting to complete.").expect("register")
});

pub(crate) static LIVE_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!("strand_ingester_live_traces_bytes", "Encoded bytes of live traces held in memory.")
        .expect("register")
});

pub(crate) static WAL_BYTES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_ingester_wal_bytes_total", "Bytes appended to the write-ahead log.")
        .expect("register")
});

pub(crate) static SPANS_ACCEPTED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_ingester_spans_accepted_total", "Spans made durable in the WAL.").expect("register")
});

pub(crate) static SPANS_DISCARDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_ingester_discarded_spans_total",
        "Spans the ingester refused, by reason.",
        &["reason"]
    )
    .expect("register")
});

pub(crate) static BLOCKS_FLUSHED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_ingester_blocks_flushed_total", "Blocks written to object storage.")
        .expect("register")
});

pub(crate) static FLUSH_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_ingester_flush_failures_total", "Block flushes that failed and will be retried.")
        .expect("register")
});

pub(crate) static FLUSH_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "strand_ingester_flush_duration_seconds",
        "Time to build and upload one block.",
        vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]
    )
    .expect("register")
});

pub(crate) static REPLAYED_RECORDS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_ingester_wal_replayed_records_total", "WAL records replayed at start-up.")
        .expect("register")
});
