//! Turning spans into v1 rows: one builder per column, finished into a `RecordBatch` every
//! page-worth of rows (or earlier when the rows get large), so the writer's memory stays bounded.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    StringDictionaryBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field};
use prost::Message;
use strand_model::TraceId;
use strand_proto::otlp::common::{KeyValue, any_value::Value};
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};

use super::BlockError;
use super::attrs::AttrListBuilder;
use super::events::{EventRows, LinkRows};
use super::schema::{self, RESOURCE_DEDICATED, SPAN_DEDICATED_INT, SPAN_DEDICATED_STR};

/// Trace-level values, repeated on every row of the trace.
pub(crate) struct TraceSummary<'a> {
    pub(crate) id: TraceId,
    pub(crate) root_service_name: &'a str,
    pub(crate) root_span_name: &'a str,
    pub(crate) start_unix_nano: u64,
    pub(crate) duration_nano: u64,
    pub(crate) truncated: bool,
}

/// Where a span sits in the trace's nested set model (see `nesting.rs`).
pub(crate) struct SpanNesting {
    pub(crate) left: i32,
    pub(crate) right: i32,
    pub(crate) parent: i32,
}

/// Attributes split into dedicated columns and the generic rest.
///
/// Only the first occurrence of a dedicated key is eligible, and only when its value has the
/// column's type; everything else stays in the generic list in its original order. That way the
/// rebuilt list differs from the original only by where dedicated values sit.
pub(crate) struct SplitAttrs<'a> {
    pub(crate) strings: Vec<Option<&'a str>>,
    pub(crate) ints: Vec<Option<i64>>,
    pub(crate) rest: Vec<&'a KeyValue>,
}

pub(crate) fn split_attrs<'a>(attrs: &'a [KeyValue], string_keys: &[&str], int_keys: &[&str]) -> SplitAttrs<'a> {
    let mut split =
        SplitAttrs { strings: vec![None; string_keys.len()], ints: vec![None; int_keys.len()], rest: Vec::new() };
    let mut seen_strings = vec![false; string_keys.len()];
    let mut seen_ints = vec![false; int_keys.len()];
    for kv in attrs {
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        if let Some(slot) = string_keys.iter().position(|key| *key == kv.key)
            && !std::mem::replace(&mut seen_strings[slot], true)
            && let Some(Value::StringValue(s)) = value
        {
            split.strings[slot] = Some(s.as_str());
            continue;
        }
        if let Some(slot) = int_keys.iter().position(|key| *key == kv.key)
            && !std::mem::replace(&mut seen_ints[slot], true)
            && let Some(Value::IntValue(i)) = value
        {
            split.ints[slot] = Some(*i);
            continue;
        }
        split.rest.push(kv);
    }
    split
}

/// A resource prepared once for all rows of its spans.
pub(crate) struct ResourceParts<'a> {
    pub(crate) batch: &'a ResourceSpans,
    pub(crate) attrs: SplitAttrs<'a>,
    /// Rough in-memory cost of repeating this resource on a row.
    pub(crate) encoded_len: usize,
}

impl<'a> ResourceParts<'a> {
    pub(crate) fn new(batch: &'a ResourceSpans) -> Self {
        let keys: Vec<&str> = RESOURCE_DEDICATED.iter().map(|(key, _)| *key).collect();
        let attrs = batch.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
        ResourceParts {
            batch,
            attrs: split_attrs(attrs, &keys, &[]),
            encoded_len: batch.resource.as_ref().map(Message::encoded_len).unwrap_or_default() + batch.schema_url.len(),
        }
    }

    /// The `service.name` the resource carries, if any.
    pub(crate) fn service_name(&self) -> Option<&'a str> {
        self.attrs.strings.first().copied().flatten()
    }
}

/// A string column that is either a dictionary or plain.
enum StrBuilder {
    Dict(StringDictionaryBuilder<Int32Type>),
    Plain(StringBuilder),
}

impl StrBuilder {
    fn new(dict: bool) -> Self {
        if dict { StrBuilder::Dict(StringDictionaryBuilder::new()) } else { StrBuilder::Plain(StringBuilder::new()) }
    }

    fn append(&mut self, value: Option<&str>) -> Result<(), BlockError> {
        match (self, value) {
            (StrBuilder::Dict(b), Some(v)) => b.append(v).map(drop)?,
            (StrBuilder::Dict(b), None) => b.append_null(),
            (StrBuilder::Plain(b), v) => b.append_option(v),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            StrBuilder::Dict(b) => Arc::new(b.finish()),
            StrBuilder::Plain(b) => Arc::new(b.finish()),
        }
    }
}

fn dict() -> StringDictionaryBuilder<Int32Type> {
    StringDictionaryBuilder::new()
}

/// Buffered rows of the next `RecordBatch`.
pub(crate) struct SpanRows {
    span_string_keys: Vec<&'static str>,
    span_int_keys: Vec<&'static str>,
    len: usize,
    bytes: usize,
    trace_id: FixedSizeBinaryBuilder,
    span_id: BinaryBuilder,
    parent_span_id: BinaryBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    name: StringDictionaryBuilder<Int32Type>,
    kind: Int32Builder,
    start: UInt64Builder,
    duration: UInt64Builder,
    status_code: Int32Builder,
    status_message: StringBuilder,
    dropped_attributes: UInt32Builder,
    dropped_events: UInt32Builder,
    dropped_links: UInt32Builder,
    nested_left: Int32Builder,
    nested_right: Int32Builder,
    parent_index: Int32Builder,
    root_service_name: StringDictionaryBuilder<Int32Type>,
    root_span_name: StringDictionaryBuilder<Int32Type>,
    trace_start: UInt64Builder,
    trace_duration: UInt64Builder,
    truncated: BooleanBuilder,
    resource_dedicated: Vec<StrBuilder>,
    resource_attrs: AttrListBuilder,
    resource_dropped: UInt32Builder,
    resource_schema_url: StringBuilder,
    resource_entity_refs: ListBuilder<BinaryBuilder>,
    scope_name: StringDictionaryBuilder<Int32Type>,
    scope_version: StringDictionaryBuilder<Int32Type>,
    scope_attrs: AttrListBuilder,
    scope_dropped: UInt32Builder,
    scope_schema_url: StringBuilder,
    span_strings: Vec<StrBuilder>,
    span_ints: Vec<Int64Builder>,
    span_attrs: AttrListBuilder,
    events: EventRows,
    links: LinkRows,
}

impl SpanRows {
    pub(crate) fn new() -> Self {
        SpanRows {
            span_string_keys: SPAN_DEDICATED_STR.iter().map(|(key, _, _)| *key).collect(),
            span_int_keys: SPAN_DEDICATED_INT.iter().map(|(key, _)| *key).collect(),
            len: 0,
            bytes: 0,
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: BinaryBuilder::new(),
            parent_span_id: BinaryBuilder::new(),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::new(),
            name: dict(),
            kind: Int32Builder::new(),
            start: UInt64Builder::new(),
            duration: UInt64Builder::new(),
            status_code: Int32Builder::new(),
            status_message: StringBuilder::new(),
            dropped_attributes: UInt32Builder::new(),
            dropped_events: UInt32Builder::new(),
            dropped_links: UInt32Builder::new(),
            nested_left: Int32Builder::new(),
            nested_right: Int32Builder::new(),
            parent_index: Int32Builder::new(),
            root_service_name: dict(),
            root_span_name: dict(),
            trace_start: UInt64Builder::new(),
            trace_duration: UInt64Builder::new(),
            truncated: BooleanBuilder::new(),
            resource_dedicated: RESOURCE_DEDICATED.iter().map(|_| StrBuilder::new(true)).collect(),
            resource_attrs: AttrListBuilder::new(),
            resource_dropped: UInt32Builder::new(),
            resource_schema_url: StringBuilder::new(),
            resource_entity_refs: ListBuilder::new(BinaryBuilder::new()).with_field(Field::new(
                "element",
                DataType::Binary,
                false,
            )),
            scope_name: dict(),
            scope_version: dict(),
            scope_attrs: AttrListBuilder::new(),
            scope_dropped: UInt32Builder::new(),
            scope_schema_url: StringBuilder::new(),
            span_strings: SPAN_DEDICATED_STR.iter().map(|(_, _, dict)| StrBuilder::new(*dict)).collect(),
            span_ints: SPAN_DEDICATED_INT.iter().map(|_| Int64Builder::new()).collect(),
            span_attrs: AttrListBuilder::new(),
            events: EventRows::new(),
            links: LinkRows::new(),
        }
    }

    /// Rows buffered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A rough size of the buffered rows (protobuf sizes of what they hold).
    pub(crate) fn estimated_bytes(&self) -> usize {
        self.bytes
    }

    /// Adds one span as a row.
    pub(crate) fn push(
        &mut self,
        trace: &TraceSummary<'_>,
        resource: &ResourceParts<'_>,
        scope: &ScopeSpans,
        span: &Span,
        nesting: SpanNesting,
    ) -> Result<(), BlockError> {
        self.len += 1;
        self.bytes += span.encoded_len()
            + resource.encoded_len
            + scope.scope.as_ref().map(Message::encoded_len).unwrap_or_default();

        self.trace_id.append_value(trace.id.as_bytes())?;
        self.span_id.append_value(&span.span_id);
        self.parent_span_id.append_value(&span.parent_span_id);
        self.trace_state.append_value(&span.trace_state);
        self.flags.append_value(span.flags);
        self.name.append(&span.name)?;
        self.kind.append_value(span.kind);
        self.start.append_value(span.start_time_unix_nano);
        // Wrapping keeps malformed spans (end before start) lossless: start + duration wraps back.
        self.duration.append_value(span.end_time_unix_nano.wrapping_sub(span.start_time_unix_nano));
        let status = span.status.as_ref();
        self.status_code.append_value(status.map(|s| s.code).unwrap_or_default());
        self.status_message.append_value(status.map(|s| s.message.as_str()).unwrap_or_default());
        self.dropped_attributes.append_value(span.dropped_attributes_count);
        self.dropped_events.append_value(span.dropped_events_count);
        self.dropped_links.append_value(span.dropped_links_count);

        self.nested_left.append_value(nesting.left);
        self.nested_right.append_value(nesting.right);
        self.parent_index.append_value(nesting.parent);

        self.root_service_name.append(trace.root_service_name)?;
        self.root_span_name.append(trace.root_span_name)?;
        self.trace_start.append_value(trace.start_unix_nano);
        self.trace_duration.append_value(trace.duration_nano);
        self.truncated.append_value(trace.truncated);

        for (builder, value) in self.resource_dedicated.iter_mut().zip(&resource.attrs.strings) {
            builder.append(*value)?;
        }
        for kv in &resource.attrs.rest {
            self.resource_attrs.push(kv)?;
        }
        self.resource_attrs.close_list()?;
        let res = resource.batch.resource.as_ref();
        self.resource_dropped.append_value(res.map(|r| r.dropped_attributes_count).unwrap_or_default());
        self.resource_schema_url.append_value(&resource.batch.schema_url);
        for entity in res.map(|r| r.entity_refs.as_slice()).unwrap_or_default() {
            self.resource_entity_refs.values().append_value(entity.encode_to_vec());
        }
        self.resource_entity_refs.append(true);

        let scope_message = scope.scope.as_ref();
        self.scope_name.append(scope_message.map(|s| s.name.as_str()).unwrap_or_default())?;
        self.scope_version.append(scope_message.map(|s| s.version.as_str()).unwrap_or_default())?;
        for kv in scope_message.map(|s| s.attributes.as_slice()).unwrap_or_default() {
            self.scope_attrs.push(kv)?;
        }
        self.scope_attrs.close_list()?;
        self.scope_dropped.append_value(scope_message.map(|s| s.dropped_attributes_count).unwrap_or_default());
        self.scope_schema_url.append_value(&scope.schema_url);

        let split = split_attrs(&span.attributes, &self.span_string_keys, &self.span_int_keys);
        for (builder, value) in self.span_strings.iter_mut().zip(&split.strings) {
            builder.append(*value)?;
        }
        for (builder, value) in self.span_ints.iter_mut().zip(&split.ints) {
            builder.append_option(*value);
        }
        for kv in &split.rest {
            self.span_attrs.push(kv)?;
        }
        self.span_attrs.close_list()?;

        self.events.push(span)?;
        self.links.push(span)
    }

    /// The buffered rows as a batch in v1 column order; the buffer starts over empty.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, BlockError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.dropped_attributes.finish()),
            Arc::new(self.dropped_events.finish()),
            Arc::new(self.dropped_links.finish()),
            Arc::new(self.nested_left.finish()),
            Arc::new(self.nested_right.finish()),
            Arc::new(self.parent_index.finish()),
            Arc::new(self.root_service_name.finish()),
            Arc::new(self.root_span_name.finish()),
            Arc::new(self.trace_start.finish()),
            Arc::new(self.trace_duration.finish()),
            Arc::new(self.truncated.finish()),
        ];
        columns.extend(self.resource_dedicated.iter_mut().map(StrBuilder::finish));
        columns.extend([
            self.resource_attrs.finish()?,
            Arc::new(self.resource_dropped.finish()),
            Arc::new(self.resource_schema_url.finish()),
            Arc::new(self.resource_entity_refs.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            self.scope_attrs.finish()?,
            Arc::new(self.scope_dropped.finish()),
            Arc::new(self.scope_schema_url.finish()),
        ]);
        columns.extend(self.span_strings.iter_mut().map(StrBuilder::finish));
        columns.extend(self.span_ints.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend([self.span_attrs.finish()?, self.events.finish()?, self.links.finish()?]);
        self.len = 0;
        self.bytes = 0;
        Ok(RecordBatch::try_new(schema::block_schema(), columns)?)
    }
}
