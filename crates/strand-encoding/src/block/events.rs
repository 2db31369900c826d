//! The `events` and `links` columns: per span, a list of structs that carry their own attribute
//! lists, built alongside the span rows.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, StringBuilder, StringDictionaryBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, StructArray};
use strand_proto::otlp::trace::Span;

use super::BlockError;
use super::attrs::{AttrListBuilder, list_array};
use super::schema;

fn offset(len: usize) -> Result<i32, BlockError> {
    i32::try_from(len).map_err(|_| BlockError::TooLarge("events or links in one batch".into()))
}

/// The `events` column: a list of event structs per span.
pub(crate) struct EventRows {
    offsets: Vec<i32>,
    time: UInt64Builder,
    name: StringDictionaryBuilder<Int32Type>,
    attrs: AttrListBuilder,
    dropped: UInt32Builder,
}

impl EventRows {
    pub(crate) fn new() -> Self {
        EventRows {
            offsets: vec![0],
            time: UInt64Builder::new(),
            name: StringDictionaryBuilder::new(),
            attrs: AttrListBuilder::new(),
            dropped: UInt32Builder::new(),
        }
    }

    pub(crate) fn push(&mut self, span: &Span) -> Result<(), BlockError> {
        for event in &span.events {
            self.time.append_value(event.time_unix_nano);
            self.name.append(&event.name)?;
            for kv in &event.attributes {
                self.attrs.push(kv)?;
            }
            self.attrs.close_list()?;
            self.dropped.append_value(event.dropped_attributes_count);
        }
        self.offsets.push(offset(self.time.len())?);
        Ok(())
    }

    pub(crate) fn finish(&mut self) -> Result<ArrayRef, BlockError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.name.finish()),
            self.attrs.finish()?,
            Arc::new(self.dropped.finish()),
        ];
        let values = StructArray::try_new(schema::event_fields(), columns, None)?;
        list_array(values, std::mem::replace(&mut self.offsets, vec![0]))
    }
}

/// The `links` column: a list of link structs per span.
pub(crate) struct LinkRows {
    offsets: Vec<i32>,
    trace_id: BinaryBuilder,
    span_id: BinaryBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    attrs: AttrListBuilder,
    dropped: UInt32Builder,
}

impl LinkRows {
    pub(crate) fn new() -> Self {
        LinkRows {
            offsets: vec![0],
            trace_id: BinaryBuilder::new(),
            span_id: BinaryBuilder::new(),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::new(),
            attrs: AttrListBuilder::new(),
            dropped: UInt32Builder::new(),
        }
    }

    pub(crate) fn push(&mut self, span: &Span) -> Result<(), BlockError> {
        for link in &span.links {
            self.trace_id.append_value(&link.trace_id);
            self.span_id.append_value(&link.span_id);
            self.trace_state.append_value(&link.trace_state);
            self.flags.append_value(link.flags);
            for kv in &link.attributes {
                self.attrs.push(kv)?;
            }
            self.attrs.close_list()?;
            self.dropped.append_value(link.dropped_attributes_count);
        }
        self.offsets.push(offset(self.flags.len())?);
        Ok(())
    }

    pub(crate) fn finish(&mut self) -> Result<ArrayRef, BlockError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            self.attrs.finish()?,
            Arc::new(self.dropped.finish()),
        ];
        let values = StructArray::try_new(schema::link_fields(), columns, None)?;
        list_array(values, std::mem::replace(&mut self.offsets, vec![0]))
    }
}
