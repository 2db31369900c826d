//! An in-memory trace builder for the engine's tests.

use std::sync::Arc;

use crate::data::{Attribute, Event, Instrumentation, Kind, Link, Span, Status, Trace, Value};
use crate::result::TraceMatch;

/// Builds one span. Its ID is `[0, .., 0, id]`, its name `span-<id>`.
#[derive(Clone)]
pub(crate) struct SpanBuilder(pub(crate) Span);

pub(crate) fn span(id: u8) -> SpanBuilder {
    SpanBuilder(Span {
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        name: Arc::from(format!("span-{id}")),
        start_unix_nano: 1_000 + u64::from(id),
        duration_nano: 1_000_000,
        resource: Arc::new(vec![Attribute::new("service.name", Value::str("svc"))]),
        ..Span::default()
    })
}

pub(crate) fn s(text: &str) -> Value {
    Value::str(text)
}

pub(crate) fn array(items: Vec<Value>) -> Value {
    Value::Array(Arc::from(items))
}

impl SpanBuilder {
    pub(crate) fn name(mut self, name: &str) -> Self {
        self.0.name = Arc::from(name);
        self
    }

    pub(crate) fn attr(mut self, key: &str, value: Value) -> Self {
        self.0.attributes.push(Attribute::new(key, value));
        self
    }

    /// Replaces the resource attributes.
    pub(crate) fn resource(mut self, attributes: &[(&str, Value)]) -> Self {
        self.0.resource = Arc::new(attributes.iter().map(|(k, v)| Attribute::new(k, v.clone())).collect());
        self
    }

    /// `(parent, left, right)`, the order Tempo's mock spans take.
    pub(crate) fn nested(mut self, parent: i32, left: i32, right: i32) -> Self {
        self.0.nested_set_parent = parent;
        self.0.nested_set_left = left;
        self.0.nested_set_right = right;
        self
    }

    pub(crate) fn status(mut self, status: Status) -> Self {
        self.0.status = status;
        self
    }

    pub(crate) fn kind(mut self, kind: Kind) -> Self {
        self.0.kind = kind;
        self
    }

    pub(crate) fn duration_ms(mut self, ms: u64) -> Self {
        self.0.duration_nano = ms * 1_000_000;
        self
    }

    pub(crate) fn parent_id(mut self, id: u8) -> Self {
        self.0.parent_span_id = vec![0, 0, 0, 0, 0, 0, 0, id];
        self
    }

    pub(crate) fn event(mut self, name: &str, since_start_ms: u64, attributes: &[(&str, Value)]) -> Self {
        self.0.events.push(Event {
            name: Arc::from(name),
            time_since_start_nano: since_start_ms * 1_000_000,
            attributes: attributes.iter().map(|(k, v)| Attribute::new(k, v.clone())).collect(),
        });
        self
    }

    pub(crate) fn link(mut self, trace_id: &[u8], span_id: &[u8], attributes: &[(&str, Value)]) -> Self {
        self.0.links.push(Link {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            attributes: attributes.iter().map(|(k, v)| Attribute::new(k, v.clone())).collect(),
        });
        self
    }

    pub(crate) fn scope(mut self, name: &str, version: &str, attributes: &[(&str, Value)]) -> Self {
        self.0.instrumentation = Arc::new(Instrumentation {
            name: Arc::from(name),
            version: Arc::from(version),
            attributes: attributes.iter().map(|(k, v)| Attribute::new(k, v.clone())).collect(),
        });
        self
    }
}

/// A trace of these spans, with ID `[0x11; 16]`, root `frontend` / `GET /`, 5 s long.
pub(crate) fn trace(spans: Vec<SpanBuilder>) -> Trace {
    Trace {
        trace_id: [0x11; 16],
        root_service_name: Arc::from("frontend"),
        root_span_name: Arc::from("GET /"),
        start_unix_nano: 1_000,
        duration_nano: 5_000_000_000,
        spans: spans.into_iter().map(|b| b.0).collect(),
    }
}

/// Nested set numbers `(parent, left, right)` for spans whose parents are given by index (a
/// parent comes before its children), numbered depth first from 1 as the block writer does.
pub(crate) fn nesting(parents: &[Option<usize>]) -> Vec<(i32, i32, i32)> {
    fn visit(node: usize, children: &[Vec<usize>], next: &mut i32, out: &mut [(i32, i32, i32)]) {
        out[node].1 = *next;
        *next += 1;
        for &child in &children[node] {
            visit(child, children, next, out);
            out[child].0 = out[node].1;
        }
        out[node].2 = *next;
        *next += 1;
    }
    let mut children = vec![Vec::new(); parents.len()];
    for (i, parent) in parents.iter().enumerate() {
        if let Some(p) = parent {
            children[*p].push(i);
        }
    }
    let mut out = vec![(-1, 0, 0); parents.len()];
    let mut next = 1;
    for root in (0..parents.len()).filter(|&i| parents[i].is_none()) {
        visit(root, &children, &mut next, &mut out);
    }
    out
}

/// Parses and evaluates `query` (validation is not required).
pub(crate) fn run(query: &str, trace: &Trace) -> Option<TraceMatch> {
    crate::parse(query).unwrap_or_else(|e| panic!("{query}: {e}")).evaluate(trace)
}

/// The last byte of each matched span's ID, per spanset.
pub(crate) fn ids(found: &Option<TraceMatch>, trace: &Trace) -> Vec<Vec<u8>> {
    let Some(found) = found else { return Vec::new() };
    found
        .spansets
        .iter()
        .map(|set| set.spans.iter().map(|m| *trace.spans[m.index].span_id.last().unwrap()).collect())
        .collect()
}

/// Whether `query` keeps the only span of a one-span trace.
pub(crate) fn matches(query: &str, span: SpanBuilder) -> bool {
    run(query, &trace(vec![span])).is_some()
}
