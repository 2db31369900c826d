//! Cutting a push down to what fits under the per-trace size limit.
//!
//! This is the only place the ingester decodes spans on the write path, and it only runs for
//! traces that hit the limit.

use bytes::Bytes;
use prost::Message;
use strand_model::TraceBytes;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans};
use strand_proto::tempopb::Trace;

/// Keeps the first spans of `entry` (in the order they were sent) whose encoded size fits in
/// `budget` bytes. `None` when not even one span fits, or the bytes do not decode.
pub(crate) fn truncate_to_budget(entry: TraceBytes, budget: u64) -> Option<TraceBytes> {
    let trace = Trace::decode(entry.bytes.as_ref()).ok()?;
    let mut used = 0u64;
    let mut kept_spans = 0u32;
    let mut kept = Trace::default();
    'batches: for batch in trace.resource_spans {
        let mut kept_batch =
            ResourceSpans { resource: batch.resource, scope_spans: Vec::new(), schema_url: batch.schema_url };
        let batch_overhead = kept_batch.encoded_len() as u64 + 8;
        for scope in batch.scope_spans {
            let mut kept_scope = ScopeSpans { scope: scope.scope, spans: Vec::new(), schema_url: scope.schema_url };
            let scope_overhead = kept_scope.encoded_len() as u64 + 8;
            for span in scope.spans {
                let mut cost = span.encoded_len() as u64 + 8;
                if kept_scope.spans.is_empty() {
                    cost += scope_overhead;
                }
                if kept_batch.scope_spans.is_empty() && kept_scope.spans.is_empty() {
                    cost += batch_overhead;
                }
                if used + cost > budget {
                    push_scope(&mut kept_batch, kept_scope);
                    push_batch(&mut kept, kept_batch);
                    break 'batches;
                }
                used += cost;
                kept_spans += 1;
                kept_scope.spans.push(span);
            }
            push_scope(&mut kept_batch, kept_scope);
        }
        push_batch(&mut kept, kept_batch);
    }
    (kept_spans > 0).then(|| TraceBytes { bytes: Bytes::from(kept.encode_to_vec()), span_count: kept_spans, ..entry })
}

fn push_scope(batch: &mut ResourceSpans, scope: ScopeSpans) {
    if !scope.spans.is_empty() {
        batch.scope_spans.push(scope);
    }
}

fn push_batch(trace: &mut Trace, batch: ResourceSpans) {
    if !batch.scope_spans.is_empty() {
        trace.resource_spans.push(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strand_model::{TraceId, count_spans};
    use strand_proto::otlp::trace::Span;

    fn entry(spans: usize) -> TraceBytes {
        let trace = Trace {
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![ScopeSpans {
                    scope: None,
                    spans: (0..spans)
                        .map(|i| Span { span_id: vec![i as u8 + 1; 8], name: "x".repeat(100), ..Default::default() })
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let bytes = Bytes::from(trace.encode_to_vec());
        TraceBytes { id: TraceId([7; 16]), bytes, span_count: spans as u32, start_unix_nano: 0, end_unix_nano: 0 }
    }

    #[test]
    fn keeps_the_first_spans_that_fit() {
        let original = entry(10);
        let kept = truncate_to_budget(original.clone(), original.bytes.len() as u64 / 2).unwrap();
        assert!(kept.bytes.len() <= original.bytes.len() / 2);
        assert!(kept.span_count >= 3 && kept.span_count < 10, "kept {}", kept.span_count);
        let decoded = Trace::decode(kept.bytes.as_ref()).unwrap();
        assert_eq!(count_spans(&decoded) as u32, kept.span_count);
        assert_eq!(decoded.resource_spans[0].scope_spans[0].spans[0].span_id, vec![1; 8]);
    }

    #[test]
    fn nothing_fits_in_a_tiny_budget() {
        assert!(truncate_to_budget(entry(3), 10).is_none());
    }
}
