//! The spans a fetcher hands the engine, one trace at a time.
//!
//! A fetcher fills only what the [`FetchSpansRequest`](crate::FetchSpansRequest) asks for; the
//! other fields keep their defaults. Strings are `Arc<str>` so that values repeated across spans
//! (resource attributes, service names) are shared rather than copied.

use std::sync::Arc;

/// A span's status code, as TraceQL names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// `unset` (OTLP 0).
    #[default]
    Unset,
    /// `ok` (OTLP 1).
    Ok,
    /// `error` (OTLP 2).
    Error,
}

impl Status {
    /// From the OTLP status code; unknown codes read as `unset`.
    pub fn from_otlp(code: i32) -> Status {
        match code {
            1 => Status::Ok,
            2 => Status::Error,
            _ => Status::Unset,
        }
    }

    /// The OTLP status code. TraceQL compares statuses with integers by this number.
    pub fn otlp_code(self) -> i64 {
        match self {
            Status::Unset => 0,
            Status::Ok => 1,
            Status::Error => 2,
        }
    }

    /// The TraceQL keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unset => "unset",
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// A span's kind, as TraceQL names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `unspecified` (OTLP 0).
    #[default]
    Unspecified,
    /// `internal` (OTLP 1).
    Internal,
    /// `server` (OTLP 2).
    Server,
    /// `client` (OTLP 3).
    Client,
    /// `producer` (OTLP 4).
    Producer,
    /// `consumer` (OTLP 5).
    Consumer,
}

impl Kind {
    /// From the OTLP span kind; unknown kinds read as `unspecified`.
    pub fn from_otlp(kind: i32) -> Kind {
        match kind {
            1 => Kind::Internal,
            2 => Kind::Server,
            3 => Kind::Client,
            4 => Kind::Producer,
            5 => Kind::Consumer,
            _ => Kind::Unspecified,
        }
    }

    /// The OTLP span kind number. TraceQL compares kinds with integers by this number.
    pub fn otlp_code(self) -> i64 {
        match self {
            Kind::Unspecified => 0,
            Kind::Internal => 1,
            Kind::Server => 2,
            Kind::Client => 3,
            Kind::Producer => 4,
            Kind::Consumer => 5,
        }
    }

    /// The TraceQL keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }
}

/// A value at query time: an attribute's value, an intrinsic, a literal or a computed result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value: a missing attribute, or `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// A string.
    Str(Arc<str>),
    /// A duration in nanoseconds.
    Duration(i64),
    /// A span status.
    Status(Status),
    /// A span kind.
    Kind(Kind),
    /// An array attribute; comparisons match if any element matches.
    Array(Arc<[Value]>),
}

impl Value {
    /// A string value.
    pub fn str(text: &str) -> Value {
        Value::Str(Arc::from(text))
    }
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The attribute key.
    pub key: Arc<str>,
    /// Its value.
    pub value: Value,
}

impl Attribute {
    /// An attribute.
    pub fn new(key: &str, value: Value) -> Attribute {
        Attribute { key: Arc::from(key), value }
    }
}

/// Looks a key up in an attribute list.
pub fn find_attribute<'a>(attributes: &'a [Attribute], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|a| &*a.key == key).map(|a| &a.value)
}

/// A span event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    /// The event name.
    pub name: Arc<str>,
    /// Nanoseconds from the span's start to the event.
    pub time_since_start_nano: u64,
    /// The event's attributes.
    pub attributes: Vec<Attribute>,
}

/// A span link.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    /// The linked trace's ID bytes.
    pub trace_id: Vec<u8>,
    /// The linked span's ID bytes.
    pub span_id: Vec<u8>,
    /// The link's attributes.
    pub attributes: Vec<Attribute>,
}

/// The instrumentation scope that produced a span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Instrumentation {
    /// Scope name.
    pub name: Arc<str>,
    /// Scope version.
    pub version: Arc<str>,
    /// Scope attributes.
    pub attributes: Vec<Attribute>,
}

/// One span, with the fields the query asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Span {
    /// Span ID bytes (8 for valid OTLP).
    pub span_id: Vec<u8>,
    /// Parent span ID bytes; empty for roots.
    pub parent_span_id: Vec<u8>,
    /// Span name.
    pub name: Arc<str>,
    /// Span kind.
    pub kind: Kind,
    /// Status code.
    pub status: Status,
    /// Status message.
    pub status_message: Arc<str>,
    /// Start, Unix nanoseconds.
    pub start_unix_nano: u64,
    /// Duration in nanoseconds.
    pub duration_nano: u64,
    /// Nested set left bound: encloses the bounds of every descendant.
    pub nested_set_left: i32,
    /// Nested set right bound.
    pub nested_set_right: i32,
    /// The parent's `nested_set_left`, or -1 for roots.
    pub nested_set_parent: i32,
    /// Number of direct children in the trace.
    pub child_count: u32,
    /// Span attributes.
    pub attributes: Vec<Attribute>,
    /// Resource attributes, shared by the spans of one resource.
    pub resource: Arc<Vec<Attribute>>,
    /// Instrumentation scope, shared by the spans of one scope.
    pub instrumentation: Arc<Instrumentation>,
    /// Events.
    pub events: Vec<Event>,
    /// Links.
    pub links: Vec<Link>,
}

/// One trace, with the spans the fetcher kept.
///
/// The trace-level fields describe the whole stored trace, even when the fetcher dropped spans
/// that cannot match (see [`FetchSpansRequest`](crate::FetchSpansRequest)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// Trace ID bytes.
    pub trace_id: [u8; 16],
    /// Service of the root span; empty when the root has not been received.
    pub root_service_name: Arc<str>,
    /// Name of the root span; empty when the root has not been received.
    pub root_span_name: Arc<str>,
    /// Earliest span start, Unix nanoseconds.
    pub start_unix_nano: u64,
    /// Latest span end minus earliest start, in nanoseconds.
    pub duration_nano: u64,
    /// The spans, ordered by start time.
    pub spans: Vec<Span>,
}
