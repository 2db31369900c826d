//! Spans built from the projected columns of one batch, with only the fields a query reads.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt64Type};
use arrow_array::{Array, BinaryArray, FixedSizeBinaryArray, PrimitiveArray, RecordBatch};
use strand_traceql::{Attribute, Instrumentation, Kind, Span, Status, Trace, Value};

use super::convert::{self, span_duration};
use super::plan::ColumnPlan;
use crate::block::BlockError;
use crate::block::attrs::{AttrLists, StrCol, column, primitive, wrong_type};
use crate::block::rebuild::{Events, Links};
use crate::block::schema::{self, RESOURCE_DEDICATED, SPAN_DEDICATED_INT, SPAN_DEDICATED_STR};

/// A string column whose values are handed out as shared `Arc<str>`: a dictionary value is
/// allocated once per batch, however many rows repeat it.
pub(crate) struct SharedStrings<'a> {
    column: StrCol<'a>,
    cache: Vec<Option<Arc<str>>>,
}

impl<'a> SharedStrings<'a> {
    fn new(array: &'a dyn Array, name: &str) -> Result<SharedStrings<'a>, BlockError> {
        let column = StrCol::new(array, name)?;
        let cache = match &column {
            StrCol::Dict { values, .. } => vec![None; values.len()],
            StrCol::Plain(_) => Vec::new(),
        };
        Ok(SharedStrings { column, cache })
    }

    /// The value at `row`; `None` when null.
    fn get(&mut self, row: usize) -> Option<Arc<str>> {
        match &self.column {
            StrCol::Plain(_) => self.column.get(row).map(Arc::from),
            StrCol::Dict { keys, .. } => {
                let key = usize::try_from(keys.is_valid(row).then(|| keys.value(row))?).ok()?;
                if let Some(Some(cached)) = self.cache.get(key) {
                    return Some(Arc::clone(cached));
                }
                let value: Arc<str> = Arc::from(self.column.get(row)?);
                if let Some(slot) = self.cache.get_mut(key) {
                    *slot = Some(Arc::clone(&value));
                }
                Some(value)
            }
        }
    }

    /// The value at `row`, empty when null.
    fn get_or_empty(&mut self, row: usize) -> Arc<str> {
        self.get(row).unwrap_or_else(|| Arc::from(""))
    }
}

/// Typed views of the columns a [`ColumnPlan`] projected.
pub(crate) struct SpanColumns<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a BinaryArray,
    name: SharedStrings<'a>,
    start: &'a PrimitiveArray<UInt64Type>,
    duration: &'a PrimitiveArray<UInt64Type>,
    root_service: SharedStrings<'a>,
    root_name: SharedStrings<'a>,
    trace_start: &'a PrimitiveArray<UInt64Type>,
    trace_duration: &'a PrimitiveArray<UInt64Type>,
    parent_span_id: Option<&'a BinaryArray>,
    kind: Option<&'a PrimitiveArray<Int32Type>>,
    status: Option<&'a PrimitiveArray<Int32Type>>,
    status_message: Option<SharedStrings<'a>>,
    /// (left, right, parent index within the trace).
    nesting: Option<[&'a PrimitiveArray<Int32Type>; 3]>,
    span_strings: Vec<(&'static str, SharedStrings<'a>)>,
    span_ints: Vec<(&'static str, &'a PrimitiveArray<Int64Type>)>,
    resource_strings: Vec<(&'static str, SharedStrings<'a>)>,
    span_attrs: Option<AttrLists<'a>>,
    resource_attrs: Option<AttrLists<'a>>,
    scope: Option<(SharedStrings<'a>, SharedStrings<'a>, AttrLists<'a>)>,
    events: Option<Events<'a>>,
    links: Option<Links<'a>>,
    span_keys: &'a [String],
    resource_keys: &'a [String],
    empty: Empty,
}

/// Shared empty values, so building a span allocates only for what it holds.
struct Empty {
    text: Arc<str>,
    resource: Arc<Vec<Attribute>>,
    instrumentation: Arc<Instrumentation>,
}

impl Empty {
    fn new() -> Empty {
        let text: Arc<str> = Arc::from("");
        let instrumentation =
            Instrumentation { name: Arc::clone(&text), version: Arc::clone(&text), attributes: Vec::new() };
        Empty { resource: Arc::new(Vec::new()), instrumentation: Arc::new(instrumentation), text }
    }
}

fn binary<'a>(array: &'a dyn Array, name: &str) -> Result<&'a BinaryArray, BlockError> {
    array.as_binary_opt::<i32>().ok_or_else(|| wrong_type(name))
}

impl<'a> SpanColumns<'a> {
    pub(crate) fn new(batch: &'a RecordBatch, plan: &'a ColumnPlan) -> Result<SpanColumns<'a>, BlockError> {
        let col = |name: &str| column(batch, name).map(|c| c.as_ref());
        let strings = |name: &str| SharedStrings::new(col(name)?, name);
        let u64s = |name: &str| primitive::<UInt64Type>(col(name)?, name);
        let i32s = |name: &str| primitive::<Int32Type>(col(name)?, name);
        let wanted = |name: &str| plan.columns.contains(name);
        Ok(SpanColumns {
            trace_id: col(schema::TRACE_ID)?.as_fixed_size_binary_opt().ok_or_else(|| wrong_type(schema::TRACE_ID))?,
            span_id: binary(col(schema::SPAN_ID)?, schema::SPAN_ID)?,
            name: strings(schema::NAME)?,
            start: u64s(schema::START_UNIX_NANO)?,
            duration: u64s(schema::DURATION_NANO)?,
            root_service: strings(schema::ROOT_SERVICE_NAME)?,
            root_name: strings(schema::ROOT_SPAN_NAME)?,
            trace_start: u64s(schema::TRACE_START_UNIX_NANO)?,
            trace_duration: u64s(schema::TRACE_DURATION_NANO)?,
            parent_span_id: wanted(schema::PARENT_SPAN_ID)
                .then(|| binary(col(schema::PARENT_SPAN_ID)?, schema::PARENT_SPAN_ID))
                .transpose()?,
            kind: wanted(schema::KIND).then(|| i32s(schema::KIND)).transpose()?,
            status: wanted(schema::STATUS_CODE).then(|| i32s(schema::STATUS_CODE)).transpose()?,
            status_message: wanted(schema::STATUS_MESSAGE).then(|| strings(schema::STATUS_MESSAGE)).transpose()?,
            nesting: plan
                .nesting
                .then(|| {
                    Ok::<_, BlockError>([
                        i32s(schema::NESTED_SET_LEFT)?,
                        i32s(schema::NESTED_SET_RIGHT)?,
                        i32s(schema::PARENT_INDEX)?,
                    ])
                })
                .transpose()?,
            span_strings: plan
                .span_strings
                .iter()
                .filter_map(|slot| SPAN_DEDICATED_STR.get(*slot))
                .map(|(key, name, _)| Ok((*key, strings(name)?)))
                .collect::<Result<_, BlockError>>()?,
            span_ints: plan
                .span_ints
                .iter()
                .filter_map(|slot| SPAN_DEDICATED_INT.get(*slot))
                .map(|(key, name)| Ok((*key, primitive::<Int64Type>(col(name)?, name)?)))
                .collect::<Result<_, BlockError>>()?,
            resource_strings: plan
                .resource_strings
                .iter()
                .filter_map(|slot| RESOURCE_DEDICATED.get(*slot))
                .map(|(key, name)| Ok((*key, strings(name)?)))
                .collect::<Result<_, BlockError>>()?,
            span_attrs: wanted(schema::SPAN_ATTRS)
                .then(|| AttrLists::new(col(schema::SPAN_ATTRS)?, schema::SPAN_ATTRS))
                .transpose()?,
            resource_attrs: wanted(schema::RESOURCE_ATTRS)
                .then(|| AttrLists::new(col(schema::RESOURCE_ATTRS)?, schema::RESOURCE_ATTRS))
                .transpose()?,
            scope: plan
                .instrumentation
                .then(|| {
                    Ok::<_, BlockError>((
                        strings(schema::SCOPE_NAME)?,
                        strings(schema::SCOPE_VERSION)?,
                        AttrLists::new(col(schema::SCOPE_ATTRS)?, schema::SCOPE_ATTRS)?,
                    ))
                })
                .transpose()?,
            events: plan.events.then(|| Events::new(col(schema::EVENTS)?)).transpose()?,
            links: plan.links.then(|| Links::new(col(schema::LINKS)?)).transpose()?,
            span_keys: &plan.span_keys,
            resource_keys: &plan.resource_keys,
            empty: Empty::new(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.trace_id.len()
    }

    /// The trace ID bytes of `row`.
    pub(crate) fn trace_id(&self, row: usize) -> &'a [u8] {
        self.trace_id.value(row)
    }

    /// The trace-level fields of `row`'s trace, with no spans yet.
    pub(crate) fn trace_header(&mut self, row: usize) -> Trace {
        let mut trace_id = [0u8; 16];
        if let Ok(bytes) = <[u8; 16]>::try_from(self.trace_id.value(row)) {
            trace_id = bytes;
        }
        Trace {
            trace_id,
            root_service_name: self.root_service.get_or_empty(row),
            root_span_name: self.root_name.get_or_empty(row),
            start_unix_nano: self.trace_start.value(row),
            duration_nano: self.trace_duration.value(row),
            spans: Vec::new(),
        }
    }

    /// `(nested_set_left, parent index within the trace)` of `row`, when nesting was read.
    pub(crate) fn nesting(&self, row: usize) -> Option<(i32, i32)> {
        self.nesting.map(|[left, _, parent]| (left.value(row), parent.value(row)))
    }

    /// The span at `row`. Nested set parent and child count are left for the caller, which sees
    /// the whole trace.
    pub(crate) fn span(&mut self, row: usize) -> Result<Span, BlockError> {
        let start = self.start.value(row);
        // Every field spelled out: `..Span::default()` would allocate the empty values anew.
        let mut span = Span {
            span_id: self.span_id.value(row).to_vec(),
            parent_span_id: Vec::new(),
            name: self.name.get(row).unwrap_or_else(|| Arc::clone(&self.empty.text)),
            kind: Kind::default(),
            status: Status::default(),
            status_message: Arc::clone(&self.empty.text),
            start_unix_nano: start,
            duration_nano: span_duration(self.duration.value(row)),
            nested_set_left: 0,
            nested_set_right: 0,
            nested_set_parent: 0,
            child_count: 0,
            attributes: Vec::new(),
            resource: Arc::clone(&self.empty.resource),
            instrumentation: Arc::clone(&self.empty.instrumentation),
            events: Vec::new(),
            links: Vec::new(),
        };
        if let Some(parent) = self.parent_span_id {
            span.parent_span_id = parent.value(row).to_vec();
        }
        if let Some(kind) = self.kind {
            span.kind = Kind::from_otlp(kind.value(row));
        }
        if let Some(status) = self.status {
            span.status = Status::from_otlp(status.value(row));
        }
        if let Some(message) = self.status_message.as_mut()
            && let Some(text) = message.get(row)
        {
            span.status_message = text;
        }
        if let Some([left, right, _]) = self.nesting {
            span.nested_set_left = left.value(row);
            span.nested_set_right = right.value(row);
        }

        for (key, column) in &mut self.span_strings {
            if let Some(value) = column.get(row) {
                span.attributes.push(Attribute { key: Arc::from(*key), value: Value::Str(value) });
            }
        }
        for (key, column) in &self.span_ints {
            if column.is_valid(row) {
                span.attributes.push(Attribute::new(key, Value::Int(column.value(row))));
            }
        }
        if let Some(attrs) = &self.span_attrs {
            attrs.lookup(row, self.span_keys, &mut span.attributes)?;
        }

        let mut resource = Vec::new();
        for (key, column) in &mut self.resource_strings {
            if let Some(value) = column.get(row) {
                resource.push(Attribute { key: Arc::from(*key), value: Value::Str(value) });
            }
        }
        if let Some(attrs) = &self.resource_attrs {
            attrs.lookup(row, self.resource_keys, &mut resource)?;
        }
        if !resource.is_empty() {
            span.resource = Arc::new(resource);
        }

        if let Some((name, version, attrs)) = self.scope.as_mut() {
            let mut scope_attrs = Vec::new();
            for kv in attrs.get(row)? {
                if let Some(value) = kv.value.as_ref().and_then(convert::value) {
                    scope_attrs.push(Attribute::new(&kv.key, value));
                }
            }
            span.instrumentation = Arc::new(Instrumentation {
                name: name.get_or_empty(row),
                version: version.get_or_empty(row),
                attributes: scope_attrs,
            });
        }
        if let Some(events) = &self.events {
            span.events = convert::events(&events.get(row)?, start);
        }
        if let Some(links) = &self.links {
            span.links = convert::links(&links.get(row)?);
        }
        Ok(span)
    }
}
