//! The distributor's own metrics, registered once in the default Prometheus registry.
// Registration only fails for a duplicate name, which would be a bug caught by the first test.
#![allow(clippy::expect_used)]

use std::sync::LazyLock;

use prometheus::{Histogram, IntCounterVec, register_histogram, register_int_counter_vec};

pub(crate) static SPANS_RECEIVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("strand_distributor_spans_received_total", "Spans received, by protocol.", &["protocol"])
        .expect("register")
});

pub(crate) static BYTES_RECEIVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_distributor_bytes_received_total",
        "Bytes of OTLP protobuf received, by protocol.",
        &["protocol"]
    )
    .expect("register")
});

pub(crate) static SPANS_REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_distributor_spans_rejected_total",
        "Spans refused, by reason: invalid_trace_id, invalid_span_id, rate_limited, unavailable, trace_too_large.",
        &["reason"]
    )
    .expect("register")
});

pub(crate) static REQUESTS_REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_distributor_requests_rejected_total",
        "Requests refused before their spans could be counted, by reason: malformed, too_large, unsupported_media_type, tenant.",
        &["reason"]
    )
    .expect("register")
});

pub(crate) static PUSH_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "strand_distributor_push_duration_seconds",
        "Time from a decoded request to its acknowledgement (WAL included).",
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
    )
    .expect("register")
});
