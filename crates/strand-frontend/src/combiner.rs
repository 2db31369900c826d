//! The search combiner: merges the partial answers of a search's jobs into one.
//!
//! A trace can match in several jobs (in the ingesters and in blocks, or in two blocks), so
//! results are merged per trace ID as Tempo does (`pkg/traceql/combine.go`): earliest start,
//! longest duration, first non-empty root names, spansets united by their `by()` identity (the
//! richer one wins), and per-service stats by maximum. The answer is ordered by start time, most
//! recent first. Normally the first `limit` distinct traces found are kept and the search may stop
//! there; with the hint `with(most_recent=true)` the `limit` most recent ones are kept instead,
//! which needs every job.

use std::collections::{BTreeSet, HashMap};

use strand_proto::otlp::common::KeyValue;
use strand_proto::tempopb::{SearchMetrics, SearchResponse, SpanSet, TraceSearchMetadata};

/// Collects job answers for one search.
pub(crate) struct SearchCombiner {
    limit: usize,
    most_recent: bool,
    traces: HashMap<String, TraceSearchMetadata>,
    /// `(start, trace ID)` of every held trace, oldest first: who goes when a more recent one comes.
    by_start: BTreeSet<(u64, String)>,
    metrics: SearchMetrics,
}

impl SearchCombiner {
    /// A combiner keeping at most `limit` traces (0 keeps all): the first found, or with
    /// `most_recent` the most recent.
    pub(crate) fn new(limit: u32, most_recent: bool) -> SearchCombiner {
        SearchCombiner {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            most_recent,
            traces: HashMap::new(),
            by_start: BTreeSet::new(),
            metrics: SearchMetrics::default(),
        }
    }

    /// Merges one job's answer: its traces and its `inspected*` counters.
    pub(crate) fn add(&mut self, response: SearchResponse) {
        if let Some(metrics) = response.metrics {
            let total = &mut self.metrics;
            total.inspected_traces = total.inspected_traces.saturating_add(metrics.inspected_traces);
            total.inspected_bytes = total.inspected_bytes.saturating_add(metrics.inspected_bytes);
            total.inspected_spans = total.inspected_spans.saturating_add(metrics.inspected_spans);
        }
        for trace in response.traces {
            if let Some(existing) = self.traces.get_mut(&trace.trace_id) {
                self.by_start.remove(&(existing.start_time_unix_nano, trace.trace_id.clone()));
                combine(existing, trace);
                self.by_start.insert((existing.start_time_unix_nano, existing.trace_id.clone()));
                continue;
            }
            if self.is_full() {
                match self.by_start.first() {
                    Some((oldest, _)) if self.most_recent && *oldest <= trace.start_time_unix_nano => {
                        if let Some((_, evicted)) = self.by_start.pop_first() {
                            self.traces.remove(&evicted);
                        }
                    }
                    _ => continue,
                }
            }
            self.by_start.insert((trace.start_time_unix_nano, trace.trace_id.clone()));
            self.traces.insert(trace.trace_id.clone(), normalize(trace));
        }
    }

    fn is_full(&self) -> bool {
        self.limit != 0 && self.traces.len() >= self.limit
    }

    /// True once no further job can change the answer's set of traces: `limit` traces are held
    /// and the first ones found are what was asked for.
    pub(crate) fn is_complete(&self) -> bool {
        !self.most_recent && self.is_full()
    }

    /// The merged answer, most recent first. `metrics` carries the summed `inspected*` counters;
    /// the caller fills in the job and block counts.
    pub(crate) fn finish(self) -> SearchResponse {
        let mut traces: Vec<TraceSearchMetadata> = self.traces.into_values().collect();
        traces.sort_by(|a, b| {
            b.start_time_unix_nano.cmp(&a.start_time_unix_nano).then_with(|| a.trace_id.cmp(&b.trace_id))
        });
        if self.limit != 0 {
            traces.truncate(self.limit);
        }
        SearchResponse { traces, metrics: Some(self.metrics) }
    }
}

/// A trace as first seen: `spanSets` holds every spanset and `spanSet` repeats the first.
fn normalize(mut trace: TraceSearchMetadata) -> TraceSearchMetadata {
    if trace.span_sets.is_empty()
        && let Some(only) = trace.span_set.take()
    {
        trace.span_sets.push(only);
    }
    trace.span_set = trace.span_sets.first().cloned();
    trace
}

/// Folds a later partial result for the same trace into `existing`.
fn combine(existing: &mut TraceSearchMetadata, incoming: TraceSearchMetadata) {
    let incoming = normalize(incoming);
    if existing.root_service_name.is_empty() {
        existing.root_service_name = incoming.root_service_name;
    }
    if existing.root_trace_name.is_empty() {
        existing.root_trace_name = incoming.root_trace_name;
    }
    if existing.start_time_unix_nano == 0 || incoming.start_time_unix_nano < existing.start_time_unix_nano {
        existing.start_time_unix_nano = incoming.start_time_unix_nano;
    }
    existing.duration_ms = existing.duration_ms.max(incoming.duration_ms);
    for (service, stats) in incoming.service_stats {
        let held = existing.service_stats.entry(service).or_default();
        held.span_count = held.span_count.max(stats.span_count);
        held.error_count = held.error_count.max(stats.error_count);
    }
    for span_set in incoming.span_sets {
        match existing.span_sets.iter_mut().find(|held| same_group(held, &span_set)) {
            // Spansets cannot really be merged; keep the one that matched more spans.
            Some(held) if held.matched < span_set.matched => *held = span_set,
            Some(_) => {}
            None => existing.span_sets.push(span_set),
        }
    }
    existing.span_set = existing.span_sets.first().cloned();
}

/// Whether two spansets are the same `by()` group: their `by*` attributes are equal.
fn same_group(a: &SpanSet, b: &SpanSet) -> bool {
    let group = |set: &SpanSet| -> Vec<KeyValue> {
        set.attributes.iter().filter(|attribute| attribute.key.starts_with("by")).cloned().collect()
    };
    group(a) == group(b)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strand_proto::otlp::common::{AnyValue, any_value};
    use strand_proto::tempopb::{ServiceStats, Span};

    use super::*;

    fn trace(id: &str, start: u64) -> TraceSearchMetadata {
        TraceSearchMetadata { trace_id: id.into(), start_time_unix_nano: start, ..Default::default() }
    }

    fn span_set(span_id: &str, matched: u32, by: Option<&str>) -> SpanSet {
        SpanSet {
            spans: vec![Span { span_id: span_id.into(), ..Default::default() }],
            matched,
            attributes: by
                .map(|value| KeyValue {
                    key: "by(.x)".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
        }
    }

    fn response(traces: Vec<TraceSearchMetadata>) -> SearchResponse {
        SearchResponse {
            traces,
            metrics: Some(SearchMetrics {
                inspected_traces: 2,
                inspected_bytes: 100,
                inspected_spans: 7,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn partial_results_of_one_trace_merge_like_tempo() {
        let mut first = trace("ab", 2_000);
        first.duration_ms = 5;
        first.root_trace_name = "GET /".into();
        first.span_sets = vec![span_set("1", 1, None)];
        first.service_stats.insert("a".into(), ServiceStats { span_count: 3, error_count: 0 });
        let mut second = trace("ab", 1_000);
        second.duration_ms = 9;
        second.root_service_name = "shop".into();
        second.root_trace_name = "ignored".into();
        second.span_sets = vec![span_set("2", 4, None), span_set("3", 1, Some("x"))];
        second.service_stats.insert("a".into(), ServiceStats { span_count: 2, error_count: 1 });
        second.service_stats.insert("b".into(), ServiceStats { span_count: 1, error_count: 0 });

        let mut combiner = SearchCombiner::new(20, false);
        combiner.add(response(vec![first]));
        combiner.add(response(vec![second]));
        let merged = combiner.finish();
        assert_eq!(
            merged.metrics,
            Some(SearchMetrics {
                inspected_traces: 4,
                inspected_bytes: 200,
                inspected_spans: 14,
                ..Default::default()
            })
        );
        let trace = &merged.traces[0];
        assert_eq!((trace.start_time_unix_nano, trace.duration_ms), (1_000, 9));
        assert_eq!((trace.root_service_name.as_str(), trace.root_trace_name.as_str()), ("shop", "GET /"));
        assert_eq!(trace.service_stats["a"], ServiceStats { span_count: 3, error_count: 1 });
        assert_eq!(trace.service_stats["b"], ServiceStats { span_count: 1, error_count: 0 });
        // The ungrouped spanset kept the richer version; the `by` group was added.
        assert_eq!(trace.span_sets, vec![span_set("2", 4, None), span_set("3", 1, Some("x"))]);
        assert_eq!(trace.span_set.as_ref(), trace.span_sets.first());
    }

    #[test]
    fn a_lone_deprecated_spanset_is_listed_in_span_sets() {
        let mut only_old = trace("1", 1);
        only_old.span_set = Some(span_set("9", 1, None));
        let mut combiner = SearchCombiner::new(20, false);
        combiner.add(response(vec![only_old]));
        let trace = &combiner.finish().traces[0];
        assert_eq!(trace.span_sets, vec![span_set("9", 1, None)]);
        assert_eq!(trace.span_set, Some(span_set("9", 1, None)));
    }

    #[test]
    fn the_first_limit_traces_are_kept_and_ordered_most_recent_first() {
        let mut combiner = SearchCombiner::new(2, false);
        combiner.add(response(vec![trace("a", 10), trace("b", 30)]));
        assert!(combiner.is_complete());
        // A new trace is refused once full, even a more recent one; a known one still merges.
        let mut known = trace("a", 5);
        known.root_service_name = "late".into();
        combiner.add(response(vec![trace("c", 99), known]));
        let merged = combiner.finish();
        let ids: Vec<_> = merged.traces.iter().map(|t| (t.trace_id.as_str(), t.start_time_unix_nano)).collect();
        assert_eq!(ids, [("b", 30), ("a", 5)]);
        assert_eq!(merged.traces[1].root_service_name, "late");
    }

    #[test]
    fn most_recent_keeps_the_newest_and_never_completes_early() {
        let mut combiner = SearchCombiner::new(2, true);
        combiner.add(response(vec![trace("a", 10), trace("b", 30)]));
        assert!(!combiner.is_complete(), "a later job may hold more recent traces");
        combiner.add(response(vec![trace("c", 20), trace("old", 1)]));
        // A known trace that turns out to start earlier becomes the oldest and is evicted next.
        combiner.add(response(vec![trace("b", 5), trace("d", 25)]));
        let merged = combiner.finish();
        let ids: Vec<_> = merged.traces.iter().map(|t| (t.trace_id.as_str(), t.start_time_unix_nano)).collect();
        assert_eq!(ids, [("d", 25), ("c", 20)]);
    }

    #[test]
    fn no_limit_keeps_everything() {
        let mut combiner = SearchCombiner::new(0, false);
        combiner.add(response((0..50).map(|i| trace(&i.to_string(), i)).collect()));
        assert!(!combiner.is_complete());
        assert_eq!(combiner.finish().traces.len(), 50);
    }
}
