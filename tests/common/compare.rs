//! Checks a trace read back against the trace sent, field by field.
//!
//! Both sides are normalised first: attributes sorted by key (storage may reorder them), missing
//! `resource`/`scope`/`status` treated as empty ones, then merged with `strand_model::combine` so
//! batches that share a resource and scope are one. The comparison then goes span by span (keyed
//! by span ID and kind), and names every field that differs, with its resource and scope.

use std::collections::BTreeMap;
use std::fmt::Debug;

use strand_proto::otlp::common::{InstrumentationScope, KeyValue};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status, span};
use strand_proto::tempopb::Trace;

/// `trace` with attributes sorted by key and empty optional messages filled in, combined.
pub fn normalise(trace: &Trace) -> Trace {
    let parts = trace.resource_spans.iter().map(|batch| {
        let mut batch = batch.clone();
        let resource = batch.resource.get_or_insert_with(Resource::default);
        sort_attributes(&mut resource.attributes);
        for scope_spans in &mut batch.scope_spans {
            let scope = scope_spans.scope.get_or_insert_with(InstrumentationScope::default);
            sort_attributes(&mut scope.attributes);
            for span in &mut scope_spans.spans {
                normalise_span(span);
            }
        }
        Trace { resource_spans: vec![batch] }
    });
    strand_model::combine(parts)
}

fn normalise_span(span: &mut Span) {
    sort_attributes(&mut span.attributes);
    span.status.get_or_insert_with(Status::default);
    for event in &mut span.events {
        sort_attributes(&mut event.attributes);
    }
    for link in &mut span.links {
        sort_attributes(&mut link.attributes);
    }
}

fn sort_attributes(attributes: &mut [KeyValue]) {
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
}

/// A span with the resource and scope it was found under.
struct Placed {
    resource: Resource,
    resource_schema_url: String,
    scope: InstrumentationScope,
    scope_schema_url: String,
    span: Span,
}

type SpanKey = (Vec<u8>, i32);

fn place(trace: &Trace) -> BTreeMap<SpanKey, Placed> {
    let mut placed = BTreeMap::new();
    for ResourceSpans { resource, scope_spans, schema_url } in &normalise(trace).resource_spans {
        for scope_spans in scope_spans {
            for span in &scope_spans.spans {
                placed.insert(
                    (span.span_id.clone(), span.kind),
                    Placed {
                        resource: resource.clone().unwrap_or_default(),
                        resource_schema_url: schema_url.clone(),
                        scope: scope_spans.scope.clone().unwrap_or_default(),
                        scope_schema_url: scope_spans.schema_url.clone(),
                        span: span.clone(),
                    },
                );
            }
        }
    }
    placed
}

/// Every span of `trace`, in the order it came.
pub fn spans(trace: &Trace) -> Vec<&Span> {
    trace.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans).collect()
}

/// Panics, listing every difference, unless `actual` holds exactly the spans of `expected` with the
/// same fields, resources and scopes. `actual` must not hold a span twice.
pub fn assert_same_trace(context: &str, expected: &Trace, actual: &Trace) {
    let mut problems = Vec::new();
    let raw_count = spans(actual).len();
    let actual_placed = place(actual);
    if raw_count != actual_placed.len() {
        problems.push(format!("the answer holds {raw_count} spans but only {} distinct ones", actual_placed.len()));
    }
    let expected_placed = place(expected);
    for (key, want) in &expected_placed {
        let label = format!("span {} {:?}", hex::encode(&key.0), want.span.name);
        match actual_placed.get(key) {
            None => problems.push(format!("{label}: missing")),
            Some(got) => compare_placed(&label, want, got, &mut problems),
        }
    }
    for (key, got) in &actual_placed {
        if !expected_placed.contains_key(key) {
            problems.push(format!("span {} {:?}: not sent, but returned", hex::encode(&key.0), got.span.name));
        }
    }
    if !problems.is_empty() {
        panic!(
            "{context}: the trace read back differs from the trace sent ({} differences):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
}

fn check<T: PartialEq + Debug>(problems: &mut Vec<String>, label: &str, field: &str, want: &T, got: &T) {
    if want != got {
        problems.push(format!("{label}: {field}: sent {want:?}, read back {got:?}"));
    }
}

fn check_attributes(problems: &mut Vec<String>, label: &str, field: &str, want: &[KeyValue], got: &[KeyValue]) {
    let want_map: BTreeMap<&str, &KeyValue> = want.iter().map(|kv| (kv.key.as_str(), kv)).collect();
    let got_map: BTreeMap<&str, &KeyValue> = got.iter().map(|kv| (kv.key.as_str(), kv)).collect();
    if got_map.len() != got.len() {
        problems.push(format!("{label}: {field}: a key appears more than once in {got:?}"));
    }
    for (key, kv) in &want_map {
        match got_map.get(key) {
            None => problems.push(format!("{label}: {field}[{key:?}]: missing (sent {:?})", kv.value)),
            Some(got) => check(problems, label, &format!("{field}[{key:?}]"), &kv.value, &got.value),
        }
    }
    for (key, kv) in &got_map {
        if !want_map.contains_key(key) {
            problems.push(format!("{label}: {field}[{key:?}]: not sent, read back {:?}", kv.value));
        }
    }
}

fn compare_placed(label: &str, want: &Placed, got: &Placed, problems: &mut Vec<String>) {
    let p = problems;
    check_attributes(p, label, "resource.attributes", &want.resource.attributes, &got.resource.attributes);
    check(
        p,
        label,
        "resource.droppedAttributesCount",
        &want.resource.dropped_attributes_count,
        &got.resource.dropped_attributes_count,
    );
    check(p, label, "resource.entityRefs", &want.resource.entity_refs, &got.resource.entity_refs);
    check(p, label, "resourceSpans.schemaUrl", &want.resource_schema_url, &got.resource_schema_url);
    check(p, label, "scope.name", &want.scope.name, &got.scope.name);
    check(p, label, "scope.version", &want.scope.version, &got.scope.version);
    check_attributes(p, label, "scope.attributes", &want.scope.attributes, &got.scope.attributes);
    check(
        p,
        label,
        "scope.droppedAttributesCount",
        &want.scope.dropped_attributes_count,
        &got.scope.dropped_attributes_count,
    );
    check(p, label, "scopeSpans.schemaUrl", &want.scope_schema_url, &got.scope_schema_url);

    let (w, g) = (&want.span, &got.span);
    check(p, label, "traceId", &hex::encode(&w.trace_id), &hex::encode(&g.trace_id));
    check(p, label, "parentSpanId", &hex::encode(&w.parent_span_id), &hex::encode(&g.parent_span_id));
    check(p, label, "traceState", &w.trace_state, &g.trace_state);
    check(p, label, "flags", &w.flags, &g.flags);
    check(p, label, "name", &w.name, &g.name);
    check(p, label, "kind", &w.kind, &g.kind);
    check(p, label, "startTimeUnixNano", &w.start_time_unix_nano, &g.start_time_unix_nano);
    check(p, label, "endTimeUnixNano", &w.end_time_unix_nano, &g.end_time_unix_nano);
    check_attributes(p, label, "attributes", &w.attributes, &g.attributes);
    check(p, label, "droppedAttributesCount", &w.dropped_attributes_count, &g.dropped_attributes_count);
    check(p, label, "droppedEventsCount", &w.dropped_events_count, &g.dropped_events_count);
    check(p, label, "droppedLinksCount", &w.dropped_links_count, &g.dropped_links_count);
    check(p, label, "status", &w.status, &g.status);
    check(p, label, "events.len", &w.events.len(), &g.events.len());
    for (i, (we, ge)) in w.events.iter().zip(&g.events).enumerate() {
        compare_event(p, &format!("{label}: events[{i}]"), we, ge);
    }
    check(p, label, "links.len", &w.links.len(), &g.links.len());
    for (i, (wl, gl)) in w.links.iter().zip(&g.links).enumerate() {
        let l = format!("{label}: links[{i}]");
        check(p, &l, "traceId", &hex::encode(&wl.trace_id), &hex::encode(&gl.trace_id));
        check(p, &l, "spanId", &hex::encode(&wl.span_id), &hex::encode(&gl.span_id));
        check(p, &l, "traceState", &wl.trace_state, &gl.trace_state);
        check(p, &l, "flags", &wl.flags, &gl.flags);
        check_attributes(p, &l, "attributes", &wl.attributes, &gl.attributes);
        check(p, &l, "droppedAttributesCount", &wl.dropped_attributes_count, &gl.dropped_attributes_count);
    }
}

fn compare_event(p: &mut Vec<String>, label: &str, want: &span::Event, got: &span::Event) {
    check(p, label, "timeUnixNano", &want.time_unix_nano, &got.time_unix_nano);
    check(p, label, "name", &want.name, &got.name);
    check_attributes(p, label, "attributes", &want.attributes, &got.attributes);
    check(p, label, "droppedAttributesCount", &want.dropped_attributes_count, &got.dropped_attributes_count);
}

/// Splits batches into one trace per trace ID, keeping each span's resource and scope.
pub fn split_by_trace(batches: &[ResourceSpans]) -> BTreeMap<[u8; 16], Trace> {
    let mut traces: BTreeMap<[u8; 16], Trace> = BTreeMap::new();
    for batch in batches {
        for scope_spans in &batch.scope_spans {
            for span in &scope_spans.spans {
                let id: [u8; 16] = span.trace_id.as_slice().try_into().expect("16-byte trace ID");
                traces.entry(id).or_default().resource_spans.push(ResourceSpans {
                    resource: batch.resource.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: scope_spans.scope.clone(),
                        spans: vec![span.clone()],
                        schema_url: scope_spans.schema_url.clone(),
                    }],
                    schema_url: batch.schema_url.clone(),
                });
            }
        }
    }
    traces
}
