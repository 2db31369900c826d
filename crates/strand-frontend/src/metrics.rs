//! The query frontend's own metrics, registered once in the default Prometheus registry.
// Registration only fails for a duplicate name, which would be a bug caught by the first test.
#![allow(clippy::expect_used)]

use std::sync::LazyLock;

use prometheus::{IntCounterVec, register_int_counter_vec};

/// Requests answered, by route template (`/api/v2/traces/{id}`, or `unmatched`) and HTTP status.
pub(crate) static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_frontend_requests_total",
        "Query API requests answered, by route template and HTTP status code.",
        &["route", "status"]
    )
    .expect("register")
});

/// Search jobs started, by kind: `recent` (the ingesters) or `block` (a slice of a block).
pub(crate) static SEARCH_JOBS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "strand_frontend_search_jobs_total",
        "Search jobs started, by kind: recent (ingesters) or block (a row-group slice of a block).",
        &["kind"]
    )
    .expect("register")
});
