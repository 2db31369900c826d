//! `strand_ring_members`: how many members of each ring this process sees, healthy or not, so an
//! operator (and the cluster tests) can tell when a distributor stopped sending to an ingester.
// Registration only fails for a duplicate name, which would be a bug caught by the first test.
#![allow(clippy::expect_used)]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus::{IntGaugeVec, register_int_gauge_vec};
use strand_common::CancellationToken;
use strand_ring::RingWatcher;

static RING_MEMBERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "strand_ring_members",
        "Members of a ring this process watches, by health (healthy, unhealthy).",
        &["ring", "state"]
    )
    .expect("register")
});

/// Updates the gauges of ring `name` every `period` until `cancel`.
pub(crate) async fn report<C: Clone + Send + Sync + 'static>(
    name: &'static str,
    watcher: Arc<RingWatcher<C>>,
    period: Duration,
    cancel: CancellationToken,
) {
    loop {
        let ring = watcher.ring();
        let healthy = ring.healthy_members().len();
        RING_MEMBERS.with_label_values(&[name, "healthy"]).set(healthy as i64);
        RING_MEMBERS.with_label_values(&[name, "unhealthy"]).set((ring.len() - healthy) as i64);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}
