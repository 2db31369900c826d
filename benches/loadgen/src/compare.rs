//! A trace read back against the trace regenerated from its seed, field by field.
//!
//! Both sides are normalised first, since storage may legitimately change the layout but not the
//! content: every span is placed with its resource and scope (so batches may be split or merged
//! any way), spans are keyed by span ID, attributes are sorted by key (strand puts well-known
//! attributes first), and absent `resource`, `scope` and `status` count as empty ones. After that
//! every field must be equal: IDs, names, kinds, times, flags, trace state, status, attributes,
//! events, links, dropped counts and schema URLs.

use std::collections::BTreeMap;
use std::fmt::Debug;

use strand_proto::otlp::common::{InstrumentationScope, KeyValue};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, Span, Status};

/// A span with the resource and scope it came under, all normalised.
#[derive(Debug, PartialEq)]
struct Placed {
    resource: Resource,
    resource_schema_url: String,
    scope: InstrumentationScope,
    scope_schema_url: String,
    span: Span,
}

fn sort_attributes(attributes: &mut [KeyValue]) {
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
}

/// Every span by span ID; `Err` names a span ID that appears twice.
fn place(batches: &[ResourceSpans]) -> Result<BTreeMap<Vec<u8>, Placed>, String> {
    let mut placed = BTreeMap::new();
    for batch in batches {
        let mut resource = batch.resource.clone().unwrap_or_default();
        sort_attributes(&mut resource.attributes);
        for scope_spans in &batch.scope_spans {
            let mut scope = scope_spans.scope.clone().unwrap_or_default();
            sort_attributes(&mut scope.attributes);
            for span in &scope_spans.spans {
                let mut span = span.clone();
                sort_attributes(&mut span.attributes);
                span.status.get_or_insert_with(Status::default);
                for event in &mut span.events {
                    sort_attributes(&mut event.attributes);
                }
                for link in &mut span.links {
                    sort_attributes(&mut link.attributes);
                }
                let id = span.span_id.clone();
                let entry = Placed {
                    resource: resource.clone(),
                    resource_schema_url: batch.schema_url.clone(),
                    scope: scope.clone(),
                    scope_schema_url: scope_spans.schema_url.clone(),
                    span,
                };
                if placed.insert(id.clone(), entry).is_some() {
                    return Err(format!("span {} appears more than once", hex::encode(&id)));
                }
            }
        }
    }
    Ok(placed)
}

/// `None` when `actual` holds exactly the spans of `expected`, field for field; otherwise the
/// first difference, in words.
pub(crate) fn first_difference(expected: &[ResourceSpans], actual: &[ResourceSpans]) -> Option<String> {
    let want = match place(expected) {
        Ok(want) => want,
        Err(problem) => return Some(format!("the regenerated trace is invalid: {problem}")),
    };
    let got = match place(actual) {
        Ok(got) => got,
        Err(problem) => return Some(problem),
    };
    for (id, want_span) in &want {
        let Some(got_span) = got.get(id) else {
            return Some(format!(
                "span {} {:?} missing ({} of {} spans read back)",
                hex::encode(id),
                want_span.span.name,
                got.len(),
                want.len()
            ));
        };
        if want_span != got_span {
            let label = format!("span {} {:?}", hex::encode(id), want_span.span.name);
            return Some(format!("{label}: {}", describe(want_span, got_span)));
        }
    }
    got.iter()
        .find(|(id, _)| !want.contains_key(*id))
        .map(|(id, extra)| format!("span {} {:?} read back but never sent", hex::encode(id), extra.span.name))
}

/// Names the first field of two placed spans that differs.
fn describe(want: &Placed, got: &Placed) -> String {
    fn field<T: PartialEq + Debug>(name: &str, want: &T, got: &T) -> Option<String> {
        (want != got).then(|| format!("{name}: sent {}, read back {}", short(want), short(got)))
    }
    let (w, g) = (&want.span, &got.span);
    let checks = [
        attributes("resource.attributes", &want.resource.attributes, &got.resource.attributes),
        field(
            "resource.droppedAttributesCount",
            &want.resource.dropped_attributes_count,
            &got.resource.dropped_attributes_count,
        ),
        field("resource.entityRefs", &want.resource.entity_refs, &got.resource.entity_refs),
        field("resourceSpans.schemaUrl", &want.resource_schema_url, &got.resource_schema_url),
        field("scope.name", &want.scope.name, &got.scope.name),
        field("scope.version", &want.scope.version, &got.scope.version),
        attributes("scope.attributes", &want.scope.attributes, &got.scope.attributes),
        field(
            "scope.droppedAttributesCount",
            &want.scope.dropped_attributes_count,
            &got.scope.dropped_attributes_count,
        ),
        field("scopeSpans.schemaUrl", &want.scope_schema_url, &got.scope_schema_url),
        field("traceId", &hex::encode(&w.trace_id), &hex::encode(&g.trace_id)),
        field("parentSpanId", &hex::encode(&w.parent_span_id), &hex::encode(&g.parent_span_id)),
        field("traceState", &w.trace_state, &g.trace_state),
        field("flags", &w.flags, &g.flags),
        field("name", &w.name, &g.name),
        field("kind", &w.kind, &g.kind),
        field("startTimeUnixNano", &w.start_time_unix_nano, &g.start_time_unix_nano),
        field("endTimeUnixNano", &w.end_time_unix_nano, &g.end_time_unix_nano),
        attributes("attributes", &w.attributes, &g.attributes),
        field("droppedAttributesCount", &w.dropped_attributes_count, &g.dropped_attributes_count),
        field("status", &w.status, &g.status),
        field("events.len", &w.events.len(), &g.events.len()),
        w.events.iter().zip(&g.events).enumerate().find_map(|(n, (we, ge))| {
            field(&format!("events[{n}].timeUnixNano"), &we.time_unix_nano, &ge.time_unix_nano)
                .or_else(|| field(&format!("events[{n}].name"), &we.name, &ge.name))
                .or_else(|| attributes(&format!("events[{n}].attributes"), &we.attributes, &ge.attributes))
                .or_else(|| field(&format!("events[{n}]"), we, ge))
        }),
        field("droppedEventsCount", &w.dropped_events_count, &g.dropped_events_count),
        field("links.len", &w.links.len(), &g.links.len()),
        w.links.iter().zip(&g.links).enumerate().find_map(|(n, (wl, gl))| {
            field(&format!("links[{n}].traceId"), &hex::encode(&wl.trace_id), &hex::encode(&gl.trace_id))
                .or_else(|| field(&format!("links[{n}].spanId"), &hex::encode(&wl.span_id), &hex::encode(&gl.span_id)))
                .or_else(|| attributes(&format!("links[{n}].attributes"), &wl.attributes, &gl.attributes))
                .or_else(|| field(&format!("links[{n}]"), wl, gl))
        }),
        field("droppedLinksCount", &w.dropped_links_count, &g.dropped_links_count),
    ];
    checks.into_iter().flatten().next().unwrap_or_else(|| {
        format!("differs outside the compared fields: sent {}, read back {}", short(want), short(got))
    })
}

/// The first attribute that is missing, extra or different.
fn attributes(name: &str, want: &[KeyValue], got: &[KeyValue]) -> Option<String> {
    if want == got {
        return None;
    }
    for kv in want {
        match got.iter().find(|g| g.key == kv.key) {
            None => return Some(format!("{name}[{:?}]: missing (sent {})", kv.key, short(&kv.value))),
            Some(g) if g != kv => {
                return Some(format!("{name}[{:?}]: sent {}, read back {}", kv.key, short(&kv.value), short(&g.value)));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = got.iter().find(|g| !want.iter().any(|w| w.key == g.key)) {
        return Some(format!("{name}[{:?}]: never sent, read back {}", extra.key, short(&extra.value)));
    }
    Some(format!("{name}: sent {}, read back {} (a key repeats)", short(&want), short(&got)))
}

/// `Debug` output cut to a readable length.
fn short<T: Debug + ?Sized>(value: &T) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotrod;
    use strand_proto::otlp::common::{AnyValue, any_value};
    use strand_proto::otlp::trace::ScopeSpans;

    #[test]
    fn layout_and_attribute_order_do_not_matter() {
        let (_, sent) = hotrod::trace(3, 9, 1_000_000_000);
        // One batch per span, attributes reversed, empty statuses left out.
        let mut read: Vec<ResourceSpans> = Vec::new();
        for batch in sent.iter().rev() {
            for scope_spans in &batch.scope_spans {
                for span in &scope_spans.spans {
                    let mut span = span.clone();
                    span.attributes.reverse();
                    if span.status == Some(Status::default()) {
                        span.status = None;
                    }
                    let mut resource = batch.resource.clone();
                    if let Some(r) = resource.as_mut() {
                        r.attributes.reverse();
                    }
                    read.push(ResourceSpans {
                        resource,
                        scope_spans: vec![ScopeSpans { spans: vec![span], ..scope_spans.clone() }],
                        schema_url: batch.schema_url.clone(),
                    });
                }
            }
        }
        assert_eq!(first_difference(&sent, &read), None);
    }

    #[test]
    fn the_first_difference_is_named() {
        let (_, sent) = hotrod::trace(3, 9, 1_000_000_000);
        let mut read = sent.clone();
        let span = &mut read[0].scope_spans[0].spans[0];
        span.attributes[0].value = Some(AnyValue { value: Some(any_value::Value::StringValue("POST".into())) });
        let difference = first_difference(&sent, &read).unwrap_or_default();
        assert!(difference.contains("attributes[\"http.request.method\"]: sent"), "{difference}");

        let mut read = sent.clone();
        read[2].scope_spans[0].spans.clear();
        let difference = first_difference(&sent, &read).unwrap_or_default();
        assert!(difference.contains("missing"), "{difference}");

        let mut read = sent.clone();
        read[1].scope_spans[0].spans[0].end_time_unix_nano += 1;
        let difference = first_difference(&sent, &read).unwrap_or_default();
        assert!(difference.contains("endTimeUnixNano"), "{difference}");

        let mut read = sent.clone();
        let duplicate = read[1].scope_spans[0].spans[0].clone();
        read[1].scope_spans[0].spans.push(duplicate);
        let difference = first_difference(&sent, &read).unwrap_or_default();
        assert!(difference.contains("more than once"), "{difference}");
    }
}
