//! Regrouping an OTLP request by trace ID.
//!
//! Each span is encoded exactly once, and each resource and scope once per request; a trace's
//! bytes are then assembled from those pieces as a `tempopb.Trace` message, so the ingester
//! receives ready-to-store bytes and never decodes on the write path.

use std::collections::HashMap;

use bytes::{BufMut, Bytes};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use strand_model::{IdError, PushRequest, SpanId, TraceBytes, TraceId};
use strand_proto::otlp::trace::ResourceSpans;

// Field numbers of the messages assembled here (OTLP's, which tempopb.Trace shares).
const TRACE_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
const SCOPE_SPANS_SCOPE: u32 = 1;
const SCOPE_SPANS_SPANS: u32 = 2;
const SCOPE_SPANS_SCHEMA_URL: u32 = 3;

/// A resource or scope encoded once per request, with its schema URL.
struct Encoded {
    message: Option<Vec<u8>>,
    schema_url: String,
}

/// The spans of one trace that share one (resource, scope) pair, already framed as repeated
/// `ScopeSpans.spans` fields.
struct Run {
    resource: usize,
    scope: usize,
    spans: Vec<u8>,
}

#[derive(Default)]
struct Group {
    runs: Vec<Run>,
    span_count: u32,
    start: u64,
    end: u64,
}

/// Splits a request into one entry per trace. Any span with a malformed trace or span ID fails
/// the whole request, as in Tempo, so the client learns about its bug.
///
/// `pub` only so that the `otlp` criterion benchmark can measure it (see `bench_support`).
pub fn group_by_trace(resource_spans: Vec<ResourceSpans>) -> Result<PushRequest, IdError> {
    let mut resources: Vec<Encoded> = Vec::new();
    let mut scopes: Vec<Encoded> = Vec::new();
    let mut order: Vec<TraceId> = Vec::new();
    let mut groups: HashMap<TraceId, Group> = HashMap::new();

    for batch in resource_spans {
        let resource = resources.len();
        resources.push(Encoded {
            message: batch.resource.as_ref().map(Message::encode_to_vec),
            schema_url: batch.schema_url,
        });
        for scope_spans in batch.scope_spans {
            let scope = scopes.len();
            scopes.push(Encoded {
                message: scope_spans.scope.as_ref().map(Message::encode_to_vec),
                schema_url: scope_spans.schema_url,
            });
            for span in scope_spans.spans {
                let trace_id = TraceId::from_bytes(&span.trace_id)?;
                SpanId::from_bytes(&span.span_id)?;
                let group = groups.entry(trace_id).or_insert_with(|| {
                    order.push(trace_id);
                    Group { start: u64::MAX, ..Group::default() }
                });
                group.span_count += 1;
                group.start = group.start.min(span.start_time_unix_nano);
                group.end = group.end.max(span.end_time_unix_nano);
                let run = match group.runs.last_mut() {
                    Some(run) if run.resource == resource && run.scope == scope => run,
                    _ => {
                        group.runs.push(Run { resource, scope, spans: Vec::new() });
                        group.runs.last_mut().unwrap_or_else(|| unreachable!("just pushed"))
                    }
                };
                encode_key(SCOPE_SPANS_SPANS, WireType::LengthDelimited, &mut run.spans);
                encode_varint(span.encoded_len() as u64, &mut run.spans);
                span.encode_raw(&mut run.spans);
            }
        }
    }

    let traces = order
        .into_iter()
        .filter_map(|id| groups.remove(&id).map(|group| (id, group)))
        .map(|(id, group)| TraceBytes {
            id,
            bytes: assemble(&group.runs, &resources, &scopes),
            span_count: group.span_count,
            start_unix_nano: if group.start == u64::MAX { 0 } else { group.start },
            end_unix_nano: group.end,
        })
        .collect();
    Ok(PushRequest { traces })
}

/// Writes a `tempopb.Trace` whose `ResourceSpans` hold the runs, one `ResourceSpans` per
/// consecutive stretch of runs with the same resource.
fn assemble(runs: &[Run], resources: &[Encoded], scopes: &[Encoded]) -> Bytes {
    let mut out = Vec::with_capacity(runs.iter().map(|r| r.spans.len() + 64).sum());
    let mut start = 0;
    while start < runs.len() {
        let resource = runs[start].resource;
        let end = runs[start..].iter().position(|r| r.resource != resource).map_or(runs.len(), |n| start + n);
        let batch = &runs[start..end];
        let scope_lens: Vec<usize> = batch.iter().map(|run| scope_spans_len(run, &scopes[run.scope])).collect();
        let resource_len = resource_spans_len(&resources[resource], &scope_lens);

        encode_key(TRACE_RESOURCE_SPANS, WireType::LengthDelimited, &mut out);
        encode_varint(resource_len as u64, &mut out);
        encode_bytes_field(RESOURCE_SPANS_RESOURCE, resources[resource].message.as_deref(), &mut out);
        for (run, len) in batch.iter().zip(&scope_lens) {
            encode_key(RESOURCE_SPANS_SCOPE_SPANS, WireType::LengthDelimited, &mut out);
            encode_varint(*len as u64, &mut out);
            let scope = &scopes[run.scope];
            encode_bytes_field(SCOPE_SPANS_SCOPE, scope.message.as_deref(), &mut out);
            out.put_slice(&run.spans);
            encode_string_field(SCOPE_SPANS_SCHEMA_URL, &scope.schema_url, &mut out);
        }
        encode_string_field(RESOURCE_SPANS_SCHEMA_URL, &resources[resource].schema_url, &mut out);
        start = end;
    }
    Bytes::from(out)
}

fn scope_spans_len(run: &Run, scope: &Encoded) -> usize {
    bytes_field_len(SCOPE_SPANS_SCOPE, scope.message.as_deref())
        + run.spans.len()
        + string_field_len(SCOPE_SPANS_SCHEMA_URL, &scope.schema_url)
}

fn resource_spans_len(resource: &Encoded, scope_lens: &[usize]) -> usize {
    let scopes: usize =
        scope_lens.iter().map(|len| key_len(RESOURCE_SPANS_SCOPE_SPANS) + encoded_len_varint(*len as u64) + len).sum();
    bytes_field_len(RESOURCE_SPANS_RESOURCE, resource.message.as_deref())
        + scopes
        + string_field_len(RESOURCE_SPANS_SCHEMA_URL, &resource.schema_url)
}

fn key_len(field: u32) -> usize {
    prost::encoding::key_len(field)
}

/// An optional sub-message: present (even when empty) if it was present in the request.
fn bytes_field_len(field: u32, message: Option<&[u8]>) -> usize {
    message.map_or(0, |m| key_len(field) + encoded_len_varint(m.len() as u64) + m.len())
}

fn encode_bytes_field(field: u32, message: Option<&[u8]>, out: &mut Vec<u8>) {
    if let Some(message) = message {
        encode_key(field, WireType::LengthDelimited, out);
        encode_varint(message.len() as u64, out);
        out.put_slice(message);
    }
}

fn string_field_len(field: u32, text: &str) -> usize {
    if text.is_empty() { 0 } else { key_len(field) + encoded_len_varint(text.len() as u64) + text.len() }
}

fn encode_string_field(field: u32, text: &str, out: &mut Vec<u8>) {
    if !text.is_empty() {
        encode_key(field, WireType::LengthDelimited, out);
        encode_varint(text.len() as u64, out);
        out.put_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strand_model::combine;
    use strand_proto::otlp::common::InstrumentationScope;
    use strand_proto::otlp::resource::Resource;
    use strand_proto::otlp::trace::{ScopeSpans, Span};
    use strand_proto::tempopb::Trace;

    fn span(trace: u8, id: u8, start: u64) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            name: format!("span-{id}"),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10,
            ..Default::default()
        }
    }

    fn batch(service: &str, scopes: Vec<Vec<Span>>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource { dropped_attributes_count: service.len() as u32, ..Default::default() }),
            scope_spans: scopes
                .into_iter()
                .enumerate()
                .map(|(i, spans)| ScopeSpans {
                    scope: Some(InstrumentationScope { name: format!("scope-{i}"), ..Default::default() }),
                    spans,
                    schema_url: format!("scope-schema-{i}"),
                })
                .collect(),
            schema_url: "resource-schema".into(),
        }
    }

    #[test]
    fn every_span_lands_in_its_trace_with_its_resource_and_scope() {
        let request = vec![
            batch("a", vec![vec![span(1, 1, 5), span(2, 2, 6)], vec![span(1, 3, 7)]]),
            batch("bb", vec![vec![span(2, 4, 8), span(1, 5, 1)]]),
        ];
        let grouped = group_by_trace(request.clone()).unwrap();
        assert_eq!(grouped.traces.len(), 2);
        let first = &grouped.traces[0];
        assert_eq!(first.id, TraceId([1; 16]));
        assert_eq!(first.span_count, 3);
        assert_eq!((first.start_unix_nano, first.end_unix_nano), (1, 17));

        // Decoding each trace's bytes and merging them must give back the request, span for span.
        let decoded: Vec<Trace> = grouped.traces.iter().map(|t| Trace::decode(t.bytes.as_ref()).unwrap()).collect();
        for (entry, trace) in grouped.traces.iter().zip(&decoded) {
            for rs in &trace.resource_spans {
                assert_eq!(rs.schema_url, "resource-schema");
                for ss in &rs.scope_spans {
                    assert!(ss.scope.is_some());
                    for s in &ss.spans {
                        assert_eq!(s.trace_id, entry.id.0.to_vec());
                    }
                }
            }
        }
        assert_eq!(combine(decoded), combine([Trace { resource_spans: request }]));
    }

    #[test]
    fn bad_ids_fail_the_request() {
        let mut bad = span(1, 1, 0);
        bad.trace_id = vec![1; 8];
        assert_eq!(group_by_trace(vec![batch("a", vec![vec![bad]])]).unwrap_err(), IdError::TraceIdLength(64));
        let mut zero = span(1, 1, 0);
        zero.span_id = vec![0; 8];
        assert_eq!(group_by_trace(vec![batch("a", vec![vec![zero]])]).unwrap_err(), IdError::SpanIdInvalid(64));
    }

    #[test]
    fn an_empty_request_is_empty() {
        assert!(group_by_trace(Vec::new()).unwrap().traces.is_empty());
    }
}
