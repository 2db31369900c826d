//! Turning v1 rows back into OTLP: every field a client sent comes back.
//!
//! Each row becomes a single-span `ResourceSpans`; the reader feeds them to a
//! [`strand_model::TraceCombiner`], which groups rows with identical resource and scope back into
//! one batch. Dedicated columns are put back as attributes in front of the generic list
//! (`service.name` first), which is the one way a rebuilt attribute list can differ from the
//! original: by the position of those well-known keys.
//!
//! Struct literals below deliberately list every field (no `..Default::default()`), so a new
//! OTLP field fails to compile here instead of being silently dropped.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, BinaryArray, BooleanArray, FixedSizeBinaryArray, ListArray, PrimitiveArray, RecordBatch, StructArray,
};
use prost::Message;
use strand_model::TraceId;
use strand_proto::otlp::common::{AnyValue, EntityRef, InstrumentationScope, KeyValue, any_value::Value};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status, span};

use super::BlockError;
use super::attrs::{AttrLists, DATA_OBJECT, StrCol, column, field, primitive, struct_list, wrong_type};
use super::schema::{self, RESOURCE_DEDICATED, SPAN_DEDICATED_INT, SPAN_DEDICATED_STR, event, link};

fn binary<'a>(array: &'a dyn Array, name: &str) -> Result<&'a BinaryArray, BlockError> {
    array.as_binary_opt::<i32>().ok_or_else(|| wrong_type(name))
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(Value::StringValue(value.to_string())) }),
        ..Default::default()
    }
}

/// Typed views of the columns of one batch.
pub(crate) struct BatchView<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a BinaryArray,
    parent_span_id: &'a BinaryArray,
    trace_state: StrCol<'a>,
    flags: &'a PrimitiveArray<UInt32Type>,
    name: StrCol<'a>,
    kind: &'a PrimitiveArray<Int32Type>,
    start: &'a PrimitiveArray<UInt64Type>,
    duration: &'a PrimitiveArray<UInt64Type>,
    status_code: &'a PrimitiveArray<Int32Type>,
    status_message: StrCol<'a>,
    dropped_attributes: &'a PrimitiveArray<UInt32Type>,
    dropped_events: &'a PrimitiveArray<UInt32Type>,
    dropped_links: &'a PrimitiveArray<UInt32Type>,
    truncated: &'a BooleanArray,
    resource_dedicated: Vec<StrCol<'a>>,
    resource_attrs: AttrLists<'a>,
    resource_dropped: &'a PrimitiveArray<UInt32Type>,
    resource_schema_url: StrCol<'a>,
    entity_refs: (&'a ListArray, &'a BinaryArray),
    scope_name: StrCol<'a>,
    scope_version: StrCol<'a>,
    scope_attrs: AttrLists<'a>,
    scope_dropped: &'a PrimitiveArray<UInt32Type>,
    scope_schema_url: StrCol<'a>,
    span_strings: Vec<StrCol<'a>>,
    span_ints: Vec<&'a PrimitiveArray<Int64Type>>,
    span_attrs: AttrLists<'a>,
    events: Events<'a>,
    links: Links<'a>,
}

impl<'a> BatchView<'a> {
    pub(crate) fn new(batch: &'a RecordBatch) -> Result<BatchView<'a>, BlockError> {
        let col = |name: &str| column(batch, name).map(|c| c.as_ref());
        let str_col = |name: &str| StrCol::new(col(name)?, name);
        let u32_col = |name: &str| primitive::<UInt32Type>(col(name)?, name);
        let entity_refs = col(schema::RESOURCE_ENTITY_REFS)?
            .as_list_opt::<i32>()
            .ok_or_else(|| wrong_type(schema::RESOURCE_ENTITY_REFS))?;
        Ok(BatchView {
            trace_id: col(schema::TRACE_ID)?.as_fixed_size_binary_opt().ok_or_else(|| wrong_type(schema::TRACE_ID))?,
            span_id: binary(col(schema::SPAN_ID)?, schema::SPAN_ID)?,
            parent_span_id: binary(col(schema::PARENT_SPAN_ID)?, schema::PARENT_SPAN_ID)?,
            trace_state: str_col(schema::TRACE_STATE)?,
            flags: u32_col(schema::FLAGS)?,
            name: str_col(schema::NAME)?,
            kind: primitive::<Int32Type>(col(schema::KIND)?, schema::KIND)?,
            start: primitive::<UInt64Type>(col(schema::START_UNIX_NANO)?, schema::START_UNIX_NANO)?,
            duration: primitive::<UInt64Type>(col(schema::DURATION_NANO)?, schema::DURATION_NANO)?,
            status_code: primitive::<Int32Type>(col(schema::STATUS_CODE)?, schema::STATUS_CODE)?,
            status_message: str_col(schema::STATUS_MESSAGE)?,
            dropped_attributes: u32_col(schema::DROPPED_ATTRIBUTES_COUNT)?,
            dropped_events: u32_col(schema::DROPPED_EVENTS_COUNT)?,
            dropped_links: u32_col(schema::DROPPED_LINKS_COUNT)?,
            truncated: col(schema::TRACE_TRUNCATED)?
                .as_boolean_opt()
                .ok_or_else(|| wrong_type(schema::TRACE_TRUNCATED))?,
            resource_dedicated: RESOURCE_DEDICATED.iter().map(|(_, name)| str_col(name)).collect::<Result<_, _>>()?,
            resource_attrs: AttrLists::new(col(schema::RESOURCE_ATTRS)?, schema::RESOURCE_ATTRS)?,
            resource_dropped: u32_col(schema::RESOURCE_DROPPED_ATTRIBUTES_COUNT)?,
            resource_schema_url: str_col(schema::RESOURCE_SCHEMA_URL)?,
            entity_refs: (entity_refs, binary(entity_refs.values().as_ref(), schema::RESOURCE_ENTITY_REFS)?),
            scope_name: str_col(schema::SCOPE_NAME)?,
            scope_version: str_col(schema::SCOPE_VERSION)?,
            scope_attrs: AttrLists::new(col(schema::SCOPE_ATTRS)?, schema::SCOPE_ATTRS)?,
            scope_dropped: u32_col(schema::SCOPE_DROPPED_ATTRIBUTES_COUNT)?,
            scope_schema_url: str_col(schema::SCOPE_SCHEMA_URL)?,
            span_strings: SPAN_DEDICATED_STR.iter().map(|(_, name, _)| str_col(name)).collect::<Result<_, _>>()?,
            span_ints: SPAN_DEDICATED_INT
                .iter()
                .map(|(_, name)| primitive::<Int64Type>(col(name)?, name))
                .collect::<Result<_, _>>()?,
            span_attrs: AttrLists::new(col(schema::SPAN_ATTRS)?, schema::SPAN_ATTRS)?,
            events: Events::new(col(schema::EVENTS)?)?,
            links: Links::new(col(schema::LINKS)?)?,
        })
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.trace_id.len()
    }

    /// Whether `row` belongs to trace `id`.
    pub(crate) fn is_trace(&self, row: usize, id: &TraceId) -> bool {
        self.trace_id.is_valid(row) && self.trace_id.value(row) == id.as_bytes()
    }

    /// Whether the trace of `row` was cut by the per-trace size limit.
    pub(crate) fn truncated(&self, row: usize) -> bool {
        self.truncated.is_valid(row) && self.truncated.value(row)
    }

    /// The row as a batch holding one scope holding one span.
    pub(crate) fn resource_spans(&self, row: usize) -> Result<ResourceSpans, BlockError> {
        let scope = InstrumentationScope {
            name: self.scope_name.string(row),
            version: self.scope_version.string(row),
            attributes: self.scope_attrs.get(row)?,
            dropped_attributes_count: self.scope_dropped.value(row),
        };
        Ok(ResourceSpans {
            resource: Some(self.resource(row)?),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope),
                spans: vec![self.span(row)?],
                schema_url: self.scope_schema_url.string(row),
            }],
            schema_url: self.resource_schema_url.string(row),
        })
    }

    fn resource(&self, row: usize) -> Result<Resource, BlockError> {
        let mut attributes: Vec<KeyValue> = RESOURCE_DEDICATED
            .iter()
            .zip(&self.resource_dedicated)
            .filter_map(|((key, _), col)| col.get(row).map(|value| string_kv(key, value)))
            .collect();
        attributes.extend(self.resource_attrs.get(row)?);
        let (list, values) = self.entity_refs;
        let entity_refs = items(list, row)
            .map(|i| EntityRef::decode(values.value(i)).map_err(|e| BlockError::corrupt(DATA_OBJECT, e)))
            .collect::<Result<_, _>>()?;
        Ok(Resource { attributes, dropped_attributes_count: self.resource_dropped.value(row), entity_refs })
    }

    fn span(&self, row: usize) -> Result<Span, BlockError> {
        let mut attributes: Vec<KeyValue> = SPAN_DEDICATED_STR
            .iter()
            .zip(&self.span_strings)
            .filter_map(|((key, _, _), col)| col.get(row).map(|value| string_kv(key, value)))
            .collect();
        for ((key, _), col) in SPAN_DEDICATED_INT.iter().zip(&self.span_ints) {
            if col.is_valid(row) {
                let value = Some(AnyValue { value: Some(Value::IntValue(col.value(row))) });
                attributes.push(KeyValue { key: key.to_string(), value, ..Default::default() });
            }
        }
        attributes.extend(self.span_attrs.get(row)?);
        let start = self.start.value(row);
        Ok(Span {
            trace_id: self.trace_id.value(row).to_vec(),
            span_id: self.span_id.value(row).to_vec(),
            trace_state: self.trace_state.string(row),
            parent_span_id: self.parent_span_id.value(row).to_vec(),
            flags: self.flags.value(row),
            name: self.name.string(row),
            kind: self.kind.value(row),
            start_time_unix_nano: start,
            // The writer stored end - start with wrapping, so this restores any end exactly.
            end_time_unix_nano: start.wrapping_add(self.duration.value(row)),
            attributes,
            dropped_attributes_count: self.dropped_attributes.value(row),
            events: self.events.get(row)?,
            dropped_events_count: self.dropped_events.value(row),
            links: self.links.get(row)?,
            dropped_links_count: self.dropped_links.value(row),
            status: Some(Status { message: self.status_message.string(row), code: self.status_code.value(row) }),
        })
    }
}

/// Item range of list `row`.
fn items(list: &ListArray, row: usize) -> std::ops::Range<usize> {
    if list.is_null(row) {
        return 0..0;
    }
    let offsets = list.value_offsets();
    offsets[row] as usize..offsets[row + 1] as usize
}

pub(crate) struct Events<'a> {
    list: &'a ListArray,
    time: &'a PrimitiveArray<UInt64Type>,
    name: StrCol<'a>,
    attrs: AttrLists<'a>,
    dropped: &'a PrimitiveArray<UInt32Type>,
}

impl<'a> Events<'a> {
    pub(crate) fn new(array: &'a dyn Array) -> Result<Events<'a>, BlockError> {
        let (list, items): (&ListArray, &StructArray) = struct_list(array, schema::EVENTS)?;
        Ok(Events {
            list,
            time: primitive::<UInt64Type>(field(items, event::TIME_UNIX_NANO)?.as_ref(), event::TIME_UNIX_NANO)?,
            name: StrCol::new(field(items, event::NAME)?.as_ref(), event::NAME)?,
            attrs: AttrLists::new(field(items, event::ATTRS)?.as_ref(), event::ATTRS)?,
            dropped: primitive::<UInt32Type>(
                field(items, event::DROPPED_ATTRIBUTES_COUNT)?.as_ref(),
                event::DROPPED_ATTRIBUTES_COUNT,
            )?,
        })
    }

    pub(crate) fn get(&self, row: usize) -> Result<Vec<span::Event>, BlockError> {
        items(self.list, row)
            .map(|i| {
                Ok(span::Event {
                    time_unix_nano: self.time.value(i),
                    name: self.name.string(i),
                    attributes: self.attrs.get(i)?,
                    dropped_attributes_count: self.dropped.value(i),
                })
            })
            .collect()
    }
}

pub(crate) struct Links<'a> {
    list: &'a ListArray,
    trace_id: &'a BinaryArray,
    span_id: &'a BinaryArray,
    trace_state: StrCol<'a>,
    flags: &'a PrimitiveArray<UInt32Type>,
    attrs: AttrLists<'a>,
    dropped: &'a PrimitiveArray<UInt32Type>,
}

impl<'a> Links<'a> {
    pub(crate) fn new(array: &'a dyn Array) -> Result<Links<'a>, BlockError> {
        let (list, items): (&ListArray, &StructArray) = struct_list(array, schema::LINKS)?;
        Ok(Links {
            list,
            trace_id: binary(field(items, link::TRACE_ID)?.as_ref(), link::TRACE_ID)?,
            span_id: binary(field(items, link::SPAN_ID)?.as_ref(), link::SPAN_ID)?,
            trace_state: StrCol::new(field(items, link::TRACE_STATE)?.as_ref(), link::TRACE_STATE)?,
            flags: primitive::<UInt32Type>(field(items, link::FLAGS)?.as_ref(), link::FLAGS)?,
            attrs: AttrLists::new(field(items, link::ATTRS)?.as_ref(), link::ATTRS)?,
            dropped: primitive::<UInt32Type>(
                field(items, link::DROPPED_ATTRIBUTES_COUNT)?.as_ref(),
                link::DROPPED_ATTRIBUTES_COUNT,
            )?,
        })
    }

    pub(crate) fn get(&self, row: usize) -> Result<Vec<span::Link>, BlockError> {
        items(self.list, row)
            .map(|i| {
                Ok(span::Link {
                    trace_id: self.trace_id.value(i).to_vec(),
                    span_id: self.span_id.value(i).to_vec(),
                    trace_state: self.trace_state.string(i),
                    attributes: self.attrs.get(i)?,
                    dropped_attributes_count: self.dropped.value(i),
                    flags: self.flags.value(i),
                })
            })
            .collect()
    }
}
