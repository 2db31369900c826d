//! What a query can refer to on a span: intrinsics and scoped attributes.
//!
//! These are shared by the AST (what was written), the fetch request (what storage must read)
//! and the data model (what storage hands back).

use std::fmt;

/// Where an attribute is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeScope {
    /// `.name`: the span's attribute if it has one, else the resource's.
    Unscoped,
    /// `span.name`.
    Span,
    /// `resource.name`.
    Resource,
    /// `event.name`: any of the span's events.
    Event,
    /// `link.name`: any of the span's links.
    Link,
    /// `instrumentation.name`: the instrumentation scope's attributes.
    Instrumentation,
    /// `parent.name` (and `parent.span.` / `parent.resource.`): parses, but is unsupported.
    Parent,
}

impl AttributeScope {
    /// The prefix written before the attribute name (`span.`, `.` for unscoped).
    pub fn prefix(self) -> &'static str {
        match self {
            AttributeScope::Unscoped => ".",
            AttributeScope::Span => "span.",
            AttributeScope::Resource => "resource.",
            AttributeScope::Event => "event.",
            AttributeScope::Link => "link.",
            AttributeScope::Instrumentation => "instrumentation.",
            AttributeScope::Parent => "parent.",
        }
    }
}

/// A built-in field of spans and traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Intrinsic {
    /// `name`, `span:name`.
    Name,
    /// `status`, `span:status`.
    Status,
    /// `statusMessage`, `span:statusMessage`.
    StatusMessage,
    /// `kind`, `span:kind`.
    Kind,
    /// `duration`, `span:duration`.
    Duration,
    /// `span:id`, as lowercase hex.
    SpanId,
    /// `span:parentID`, as lowercase hex.
    ParentId,
    /// `span:childCount`.
    ChildCount,
    /// `nestedSetLeft`.
    NestedSetLeft,
    /// `nestedSetRight`.
    NestedSetRight,
    /// `nestedSetParent`: the parent's `nestedSetLeft`, or -1 for roots.
    NestedSetParent,
    /// `parent`: parses, but is unsupported.
    Parent,
    /// `traceDuration`, `trace:duration`.
    TraceDuration,
    /// `rootName`, `trace:rootName`.
    RootName,
    /// `rootServiceName`, `trace:rootService`.
    RootServiceName,
    /// `trace:id`, as lowercase hex.
    TraceId,
    /// `event:name`.
    EventName,
    /// `event:timeSinceStart`.
    EventTimeSinceStart,
    /// `link:traceID`.
    LinkTraceId,
    /// `link:spanID`.
    LinkSpanId,
    /// `instrumentation:name`.
    InstrumentationName,
    /// `instrumentation:version`.
    InstrumentationVersion,
}

impl Intrinsic {
    /// Every intrinsic.
    pub const ALL: [Intrinsic; 22] = [
        Intrinsic::Name,
        Intrinsic::Status,
        Intrinsic::StatusMessage,
        Intrinsic::Kind,
        Intrinsic::Duration,
        Intrinsic::SpanId,
        Intrinsic::ParentId,
        Intrinsic::ChildCount,
        Intrinsic::NestedSetLeft,
        Intrinsic::NestedSetRight,
        Intrinsic::NestedSetParent,
        Intrinsic::Parent,
        Intrinsic::TraceDuration,
        Intrinsic::RootName,
        Intrinsic::RootServiceName,
        Intrinsic::TraceId,
        Intrinsic::EventName,
        Intrinsic::EventTimeSinceStart,
        Intrinsic::LinkTraceId,
        Intrinsic::LinkSpanId,
        Intrinsic::InstrumentationName,
        Intrinsic::InstrumentationVersion,
    ];

    /// The canonical spelling, as printed and as search results name the attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::ChildCount => "span:childCount",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
            Intrinsic::Parent => "parent",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::RootName => "rootName",
            Intrinsic::RootServiceName => "rootServiceName",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }

    /// True for fields stored once per trace (cheap to filter on in storage).
    pub fn is_trace_level(self) -> bool {
        matches!(self, Intrinsic::TraceDuration | Intrinsic::RootName | Intrinsic::RootServiceName | Intrinsic::TraceId)
    }
}

impl fmt::Display for Intrinsic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field a query reads: an intrinsic or a scoped attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldRef {
    /// A built-in field.
    Intrinsic(Intrinsic),
    /// An attribute by scope and name (the name without its scope prefix).
    Attribute {
        /// Where to look it up.
        scope: AttributeScope,
        /// The attribute key, e.g. `http.status_code`.
        name: String,
    },
}

impl FieldRef {
    /// An attribute reference.
    pub fn attribute(scope: AttributeScope, name: impl Into<String>) -> FieldRef {
        FieldRef::Attribute { scope, name: name.into() }
    }
}
