//! A trace that outgrows `max_bytes_per_trace` keeps its first spans and stays readable: pushes
//! past the limit are partly refused (OTLP `partial_success`), and reads say `PARTIAL`.

mod common;

use std::collections::BTreeSet;

use common::otlp::{self, now_nanos};
use common::{ALL_READS, Api, Format, StrandConfig, StrandProcess};

const BATCHES: u64 = 12;
const SPANS_PER_BATCH: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_trace() {
    let config = StrandConfig { max_bytes_per_trace: Some("20KB"), ..StrandConfig::local() };
    let server = StrandProcess::start(config).await;
    let id = otlp::trace_id(0x1a46e, 0);
    let start = now_nanos() - 10_000_000_000;

    let mut batches: Vec<BTreeSet<Vec<u8>>> = Vec::new();
    let mut rejected_total = 0_i64;
    let mut partial_answers = 0;
    for b in 0..BATCHES {
        let spans: Vec<_> = (0..SPANS_PER_BATCH)
            .map(|n| {
                let index = b * SPANS_PER_BATCH + n;
                let mut span = otlp::span(
                    &id,
                    otlp::span_id(&id, index),
                    None,
                    &format!("span-{index}"),
                    start + index * 1_000,
                    500,
                );
                // About 450 bytes per span: a batch is about 4.5 KB, the limit is hit in the fifth.
                span.attributes.push(otlp::kv_str("padding", &format!("{index:>400}")));
                span
            })
            .collect();
        batches.push(spans.iter().map(|s| s.span_id.clone()).collect());
        let answer = server.push_http(&otlp::request("big-trace", spans), None).await;
        if let Some(partial) = answer.partial_success
            && partial.rejected_spans > 0
        {
            assert!(!partial.error_message.is_empty(), "a partial success says why");
            rejected_total += partial.rejected_spans;
            partial_answers += 1;
        }
    }
    let sent = (BATCHES * SPANS_PER_BATCH) as i64;
    assert!(partial_answers > 0, "pushing {sent} spans of ~450 bytes into one 20 KB trace must be refused in part");
    assert!(rejected_total < sent, "the first spans fit under the limit");
    let accepted = usize::try_from(sent - rejected_total).expect("positive");

    let check = |phase: &'static str| {
        let server = &server;
        let batches = &batches;
        async move {
            let hex_id = hex::encode(id);
            for (api, format) in ALL_READS {
                let fetched = server.fetch(api, format, &hex_id, None).await;
                let spans = common::compare::spans(&fetched.trace);
                let ids: BTreeSet<Vec<u8>> = spans.iter().map(|s| s.span_id.clone()).collect();
                assert_eq!(spans.len(), accepted, "{phase}, {api:?} {format:?}: every accepted span, and only those");
                assert_eq!(ids.len(), accepted, "{phase}, {api:?} {format:?}: no span twice");
                assert!(batches[0].is_subset(&ids), "{phase}, {api:?} {format:?}: the first spans are kept");
                assert!(
                    batches[BATCHES as usize - 1].is_disjoint(&ids),
                    "{phase}, {api:?} {format:?}: the last batch came after the limit"
                );
                if api == Api::V2 && phase == "from memory" {
                    assert!(fetched.partial, "{phase}, {api:?} {format:?}: a truncated trace is PARTIAL");
                }
            }
        }
    };
    check("from memory").await;

    let response = server.get_trace(Api::V2, Format::Json, &hex::encode(id), None, "").await;
    let body: serde_json::Value = response.json().await.expect("v2 JSON");
    assert_eq!(body["status"], "PARTIAL", "v2 JSON of a truncated trace: {}", body["status"]);

    let metrics = server.metrics().await;
    let counted =
        common::metric_value(&metrics, "strand_distributor_spans_rejected_total", &[("reason", "trace_too_large")]);
    assert_eq!(counted, Some(rejected_total as f64), "rejected spans are counted by reason");

    server.flush().await;
    check("after /flush").await;
}
