//! Merging partial traces into one.
//!
//! A trace can be split across live memory, the ingester's head block and several blocks in
//! object storage, and with replication the same span can appear in more than one part. The
//! combiner unions the parts, keeps one copy of each span (keyed by span ID and kind, as Tempo
//! does, so a client and a server span that share an ID both survive), merges batches that share
//! a resource and scope, and sorts the result.

use foldhash::{HashMap, HashSet};

use prost::Message;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};
use strand_proto::tempopb::Trace;

/// Accumulates partial traces; call [`TraceCombiner::finish`] for the merged, sorted trace.
#[derive(Default)]
pub struct TraceCombiner {
    resource_spans: Vec<ResourceSpans>,
    /// Encoded resource + schema URL → index in `resource_spans`.
    resource_index: HashMap<Vec<u8>, usize>,
    /// (resource index, encoded scope + schema URL) → index in that resource's `scope_spans`.
    scope_index: HashMap<(usize, Vec<u8>), usize>,
    seen_spans: SeenSpans,
    span_count: usize,
}

impl TraceCombiner {
    /// An empty combiner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a partial trace. Spans already seen (same span ID and kind) are dropped.
    pub fn add(&mut self, part: Trace) {
        for batch in part.resource_spans {
            self.add_resource_spans(batch);
        }
    }

    /// Adds one batch of spans that share a resource.
    pub fn add_resource_spans(&mut self, batch: ResourceSpans) {
        let resource_key = resource_key(&batch);
        let resource_slot = match self.resource_index.get(&resource_key) {
            Some(slot) => *slot,
            None => {
                let slot = self.resource_spans.len();
                self.resource_spans.push(ResourceSpans {
                    resource: batch.resource.clone(),
                    scope_spans: Vec::new(),
                    schema_url: batch.schema_url.clone(),
                });
                self.resource_index.insert(resource_key, slot);
                slot
            }
        };
        for scope_spans in batch.scope_spans {
            let scope_key = (resource_slot, scope_key(&scope_spans));
            let ScopeSpans { scope, spans, schema_url } = scope_spans;
            let fresh: Vec<Span> =
                spans.into_iter().filter(|span| self.seen_spans.insert(&span.span_id, span.kind)).collect();
            if fresh.is_empty() {
                continue;
            }
            self.span_count += fresh.len();
            let scopes = &mut self.resource_spans[resource_slot].scope_spans;
            match self.scope_index.get(&scope_key) {
                Some(slot) => scopes[*slot].spans.extend(fresh),
                None => {
                    self.scope_index.insert(scope_key, scopes.len());
                    scopes.push(ScopeSpans { scope, spans: fresh, schema_url });
                }
            }
        }
    }

    /// How many distinct spans have been added so far.
    pub fn span_count(&self) -> usize {
        self.span_count
    }

    /// The merged trace, sorted with [`sort_trace`]. Batches left without spans are dropped.
    pub fn finish(self) -> Trace {
        let mut trace =
            Trace { resource_spans: self.resource_spans.into_iter().filter(|rs| !rs.scope_spans.is_empty()).collect() };
        sort_trace(&mut trace);
        trace
    }
}

/// The (span ID, kind) pairs added so far. Span IDs are 8 bytes in every valid span; keeping
/// those inline avoids an allocation per span, and combining runs for every span of every block
/// written. Any other length (the protocol does not stop a client from sending one) is kept too.
#[derive(Default)]
struct SeenSpans {
    valid: HashSet<([u8; 8], i32)>,
    other: HashSet<(Vec<u8>, i32)>,
}

impl SeenSpans {
    /// Records the span; `false` when it was already seen.
    fn insert(&mut self, span_id: &[u8], kind: i32) -> bool {
        match <[u8; 8]>::try_from(span_id) {
            Ok(id) => self.valid.insert((id, kind)),
            Err(_) => self.other.insert((span_id.to_vec(), kind)),
        }
    }
}

fn resource_key(batch: &ResourceSpans) -> Vec<u8> {
    let mut key = batch.resource.as_ref().map(Message::encode_to_vec).unwrap_or_default();
    key.push(0xff);
    key.extend_from_slice(batch.schema_url.as_bytes());
    key
}

fn scope_key(scope_spans: &ScopeSpans) -> Vec<u8> {
    let mut key = scope_spans.scope.as_ref().map(Message::encode_to_vec).unwrap_or_default();
    key.push(0xff);
    key.extend_from_slice(scope_spans.schema_url.as_bytes());
    key
}

/// Merges partial traces into one, dropping duplicated spans; see [`TraceCombiner`].
pub fn combine(parts: impl IntoIterator<Item = Trace>) -> Trace {
    let mut combiner = TraceCombiner::new();
    for part in parts {
        combiner.add(part);
    }
    combiner.finish()
}

/// Sorts spans by start time then span ID, and scopes and resources by their first span, so the
/// same set of spans always comes out in the same order.
pub fn sort_trace(trace: &mut Trace) {
    for batch in &mut trace.resource_spans {
        for scope in &mut batch.scope_spans {
            scope.spans.sort_by(|a, b| (a.start_time_unix_nano, &a.span_id).cmp(&(b.start_time_unix_nano, &b.span_id)));
        }
        batch.scope_spans.sort_by_key(first_start_of_scope);
    }
    trace.resource_spans.sort_by_key(|batch| batch.scope_spans.first().map(first_start_of_scope));
}

fn first_start_of_scope(scope: &ScopeSpans) -> (u64, Vec<u8>) {
    scope.spans.first().map(|s| (s.start_time_unix_nano, s.span_id.clone())).unwrap_or_default()
}

/// Counts the spans in a trace.
pub fn count_spans(trace: &Trace) -> usize {
    trace.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strand_proto::otlp::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
    use strand_proto::otlp::resource::Resource;

    fn resource(service: &str) -> Resource {
        Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue { value: Some(any_value::Value::StringValue(service.into())) }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn span(id: u8, kind: i32, start: u64) -> Span {
        Span { trace_id: vec![1; 16], span_id: vec![id; 8], kind, start_time_unix_nano: start, ..Default::default() }
    }

    fn part(service: &str, spans: Vec<Span>) -> Trace {
        Trace {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource(service)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "lib".into(), ..Default::default() }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn duplicates_are_dropped_but_client_and_server_halves_are_kept() {
        let a = part("api", vec![span(1, 2, 10), span(2, 3, 20)]);
        let b = part("api", vec![span(2, 3, 20), span(2, 2, 21), span(3, 1, 5)]);
        let merged = combine([a, b]);
        assert_eq!(count_spans(&merged), 4);
        assert_eq!(merged.resource_spans.len(), 1, "same resource merges into one batch");
        let starts: Vec<u64> =
            merged.resource_spans[0].scope_spans[0].spans.iter().map(|s| s.start_time_unix_nano).collect();
        assert_eq!(starts, vec![5, 10, 20, 21]);
    }

    #[test]
    fn different_resources_stay_apart_and_are_ordered_by_first_span() {
        let merged = combine([part("late", vec![span(1, 1, 50)]), part("early", vec![span(2, 1, 5)])]);
        assert_eq!(merged.resource_spans.len(), 2);
        assert_eq!(merged.resource_spans[0].resource, Some(resource("early")));
    }

    proptest! {
        #[test]
        fn combining_is_idempotent_and_order_independent(
            spans in proptest::collection::vec((1u8..20, 0i32..6, 0u64..1000), 0..40),
            split in 0usize..40,
        ) {
            let all: Vec<Span> = spans.iter().map(|(id, kind, start)| span(*id, *kind, *start)).collect();
            let split = split.min(all.len());
            let (left, right) = all.split_at(split);
            let one = combine([part("s", all.clone())]);
            let two = combine([part("s", right.to_vec()), part("s", left.to_vec())]);
            let again = combine([one.clone(), two.clone()]);
            let distinct: HashSet<(u8, i32)> = spans.iter().map(|(id, kind, _)| (*id, *kind)).collect();
            prop_assert_eq!(count_spans(&one), distinct.len());
            prop_assert_eq!(count_spans(&two), distinct.len());
            prop_assert_eq!(count_spans(&again), distinct.len());
            prop_assert_eq!(again.clone(), combine([again]));
        }
    }
}
