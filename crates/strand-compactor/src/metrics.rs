//! The compactor's own metrics, registered once in the default Prometheus registry.
// Registration only fails for a duplicate name, which would be a bug caught by the first test.
#![allow(clippy::expect_used)]

use std::sync::LazyLock;

use prometheus::{
    Histogram, IntCounter, IntCounterVec, register_histogram, register_int_counter, register_int_counter_vec,
};

pub(crate) static COMPACTIONS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_compactor_compactions_total", "Compactions whose merged block went live.")
        .expect("register")
});

pub(crate) static COMPACTED_BLOCKS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!("strand_compactor_input_blocks_total", "Blocks merged into larger ones and retired.")
        .expect("register")
});

/// `stage="in"`: spans read from input blocks; `stage="out"`: spans written. The difference is
/// the copies replication stored more than once.
pub(crate) static SPANS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_compactor_spans_total",
        "Spans read from compaction inputs (stage=in) and written to merged blocks (stage=out).",
        &["stage"]
    )
    .expect("register")
});

/// `reason="age"`: past the tenant's retention; `reason="bytes"`: over the tenant's byte budget.
pub(crate) static RETIRED_BLOCKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_compactor_retention_blocks_total",
        "Live blocks retired by retention, by reason (age or bytes).",
        &["reason"]
    )
    .expect("register")
});

/// `reason="compacted"`: retired blocks past `compacted_block_retention`; `reason="abandoned"`:
/// folders an interrupted upload left without any meta.
pub(crate) static DELETED_BLOCKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_compactor_deleted_blocks_total",
        "Block folders deleted from object storage, by reason (compacted or abandoned).",
        &["reason"]
    )
    .expect("register")
});

pub(crate) static FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "strand_compactor_failures_total",
        "Compactions, retention steps and passes that failed; retried on the next cycle."
    )
    .expect("register")
});

pub(crate) static COMPACTION_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "strand_compactor_compaction_duration_seconds",
        "Time to merge, upload and commit one compaction.",
        vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0]
    )
    .expect("register")
});
