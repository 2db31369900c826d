//! Attribute lists (`List<Struct{key, type, str, int, double, bool, bytes}>`) and the typed
//! column access the rest of the reader shares.
//!
//! Scalars live in their own typed field so engines can compare them without decoding. Arrays and
//! key-value lists are stored as the protobuf-encoded `AnyValue` in `bytes`, tagged with their
//! own type, so nothing a client sent is lost and readers that do not care skip them cheaply.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, StringDictionaryBuilder,
    UInt8Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt8Type};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BinaryArray, BooleanArray, Int32Array, ListArray, PrimitiveArray, RecordBatch,
    StringArray, StructArray,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;
use prost::Message;
use strand_proto::otlp::common::{AnyValue, KeyValue, any_value::Value};

use super::BlockError;
use super::schema::{self, attr};

/// The object name used in corruption errors about row data.
pub(crate) const DATA_OBJECT: &str = "data.parquet";

// Type tags of the `type` field. 1 to 8 follow the `AnyValue.value` oneof field numbers.
/// `KeyValue.value` is absent.
pub(crate) const TYPE_MISSING: u8 = 0;
/// `str` holds the value.
pub(crate) const TYPE_STRING: u8 = 1;
/// `bool` holds the value.
pub(crate) const TYPE_BOOL: u8 = 2;
/// `int` holds the value.
pub(crate) const TYPE_INT: u8 = 3;
/// `double` holds the value.
pub(crate) const TYPE_DOUBLE: u8 = 4;
/// `bytes` holds the protobuf-encoded `AnyValue` (an array).
pub(crate) const TYPE_ARRAY: u8 = 5;
/// `bytes` holds the protobuf-encoded `AnyValue` (a key-value list).
pub(crate) const TYPE_KVLIST: u8 = 6;
/// `bytes` holds the raw bytes value.
pub(crate) const TYPE_BYTES: u8 = 7;
/// `int` holds a profiles string-table index (`string_value_strindex`).
pub(crate) const TYPE_STRINDEX: u8 = 8;
/// An `AnyValue` with no value set.
pub(crate) const TYPE_EMPTY: u8 = 9;

/// Accumulates one attribute-list column, one list per row.
pub(crate) struct AttrListBuilder {
    offsets: Vec<i32>,
    keys: StringDictionaryBuilder<Int32Type>,
    types: UInt8Builder,
    strs: StringBuilder,
    ints: Int64Builder,
    doubles: Float64Builder,
    bools: BooleanBuilder,
    bytes: BinaryBuilder,
}

impl AttrListBuilder {
    pub(crate) fn new() -> Self {
        AttrListBuilder {
            offsets: vec![0],
            keys: StringDictionaryBuilder::new(),
            types: UInt8Builder::new(),
            strs: StringBuilder::new(),
            ints: Int64Builder::new(),
            doubles: Float64Builder::new(),
            bools: BooleanBuilder::new(),
            bytes: BinaryBuilder::new(),
        }
    }

    /// Adds one attribute to the current list.
    pub(crate) fn push(&mut self, kv: &KeyValue) -> Result<(), BlockError> {
        self.keys.append(&kv.key)?;
        let (mut string, mut int, mut double, mut boolean, mut bytes) = (None, None, None, None, None);
        let tag = match kv.value.as_ref().map(|v| &v.value) {
            None => TYPE_MISSING,
            Some(None) => TYPE_EMPTY,
            Some(Some(value)) => match value {
                Value::StringValue(s) => {
                    string = Some(s.as_str());
                    TYPE_STRING
                }
                Value::BoolValue(b) => {
                    boolean = Some(*b);
                    TYPE_BOOL
                }
                Value::IntValue(i) => {
                    int = Some(*i);
                    TYPE_INT
                }
                Value::DoubleValue(d) => {
                    double = Some(*d);
                    TYPE_DOUBLE
                }
                Value::ArrayValue(_) | Value::KvlistValue(_) => {
                    let encoded = kv.value.as_ref().map(Message::encode_to_vec).unwrap_or_default();
                    self.bytes.append_value(&encoded);
                    if matches!(value, Value::ArrayValue(_)) { TYPE_ARRAY } else { TYPE_KVLIST }
                }
                Value::BytesValue(b) => {
                    bytes = Some(b.as_slice());
                    TYPE_BYTES
                }
                Value::StringValueStrindex(i) => {
                    int = Some(i64::from(*i));
                    TYPE_STRINDEX
                }
            },
        };
        self.types.append_value(tag);
        self.strs.append_option(string);
        self.ints.append_option(int);
        self.doubles.append_option(double);
        self.bools.append_option(boolean);
        if !matches!(tag, TYPE_ARRAY | TYPE_KVLIST) {
            self.bytes.append_option(bytes);
        }
        Ok(())
    }

    /// Ends the current row's list.
    pub(crate) fn close_list(&mut self) -> Result<(), BlockError> {
        let len =
            i32::try_from(self.types.len()).map_err(|_| BlockError::TooLarge("attributes in one batch".into()))?;
        self.offsets.push(len);
        Ok(())
    }

    /// The list array of all rows so far; the builder starts over empty.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, BlockError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.keys.finish()),
            Arc::new(self.types.finish()),
            Arc::new(self.strs.finish()),
            Arc::new(self.ints.finish()),
            Arc::new(self.doubles.finish()),
            Arc::new(self.bools.finish()),
            Arc::new(self.bytes.finish()),
        ];
        let values = StructArray::try_new(schema::attr_fields(), columns, None)?;
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        list_array(values, offsets)
    }
}

/// Wraps `values` in a non-null `List` with the item field name the schema uses.
pub(crate) fn list_array(values: StructArray, offsets: Vec<i32>) -> Result<ArrayRef, BlockError> {
    let field = Arc::new(Field::new("element", values.data_type().clone(), false));
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(Arc::new(ListArray::try_new(field, offsets, Arc::new(values), None)?))
}

/// A string column read back either as a dictionary or as plain strings.
pub(crate) enum StrCol<'a> {
    Plain(&'a StringArray),
    Dict { keys: &'a Int32Array, values: &'a StringArray },
}

impl<'a> StrCol<'a> {
    pub(crate) fn new(array: &'a dyn Array, name: &str) -> Result<StrCol<'a>, BlockError> {
        if let Some(plain) = array.as_string_opt::<i32>() {
            return Ok(StrCol::Plain(plain));
        }
        let dict = array.as_dictionary_opt::<Int32Type>().ok_or_else(|| wrong_type(name))?;
        let values = dict.values().as_string_opt::<i32>().ok_or_else(|| wrong_type(name))?;
        Ok(StrCol::Dict { keys: dict.keys(), values })
    }

    /// The value at `row`, `None` when null (or when a dictionary key points nowhere).
    pub(crate) fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            StrCol::Plain(array) => array.is_valid(row).then(|| array.value(row)),
            StrCol::Dict { keys, values } => {
                let key = usize::try_from(keys.is_valid(row).then(|| keys.value(row))?).ok()?;
                (key < values.len() && values.is_valid(key)).then(|| values.value(key))
            }
        }
    }

    /// The value at `row` as an owned string; nulls in required columns read as empty.
    pub(crate) fn string(&self, row: usize) -> String {
        self.get(row).unwrap_or_default().to_string()
    }
}

/// A top-level column by name.
pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, BlockError> {
    batch.column_by_name(name).ok_or_else(|| BlockError::corrupt(DATA_OBJECT, format!("missing column {name}")))
}

/// A field of a struct array by name.
pub(crate) fn field<'a>(array: &'a StructArray, name: &str) -> Result<&'a ArrayRef, BlockError> {
    array.column_by_name(name).ok_or_else(|| BlockError::corrupt(DATA_OBJECT, format!("missing field {name}")))
}

/// `array` as a primitive array of `T`.
pub(crate) fn primitive<'a, T: ArrowPrimitiveType>(
    array: &'a dyn Array,
    name: &str,
) -> Result<&'a PrimitiveArray<T>, BlockError> {
    array.as_primitive_opt::<T>().ok_or_else(|| wrong_type(name))
}

/// `array` as a list whose items are structs: (list, items).
pub(crate) fn struct_list<'a>(
    array: &'a dyn Array,
    name: &str,
) -> Result<(&'a ListArray, &'a StructArray), BlockError> {
    let list = array.as_list_opt::<i32>().ok_or_else(|| wrong_type(name))?;
    let items = list.values().as_struct_opt().ok_or_else(|| wrong_type(name))?;
    Ok((list, items))
}

pub(crate) fn wrong_type(name: &str) -> BlockError {
    BlockError::corrupt(DATA_OBJECT, format!("column {name} has an unexpected type"))
}

/// An attribute value as stored, borrowed; `Other` for types a column check does not look at
/// (arrays, maps, bytes, missing values).
#[derive(Clone, Copy, Debug)]
pub(crate) enum AttrValue<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    Other,
}

/// Reads attribute lists back into OTLP key-values.
pub(crate) struct AttrLists<'a> {
    list: &'a ListArray,
    keys: StrCol<'a>,
    types: &'a PrimitiveArray<UInt8Type>,
    strs: StrCol<'a>,
    ints: &'a PrimitiveArray<Int64Type>,
    doubles: &'a PrimitiveArray<Float64Type>,
    bools: &'a BooleanArray,
    bytes: &'a BinaryArray,
}

impl<'a> AttrLists<'a> {
    pub(crate) fn new(array: &'a dyn Array, name: &str) -> Result<AttrLists<'a>, BlockError> {
        let (list, items) = struct_list(array, name)?;
        Ok(AttrLists {
            list,
            keys: StrCol::new(field(items, attr::KEY)?.as_ref(), attr::KEY)?,
            types: primitive::<UInt8Type>(field(items, attr::TYPE)?.as_ref(), attr::TYPE)?,
            strs: StrCol::new(field(items, attr::STR)?.as_ref(), attr::STR)?,
            ints: primitive::<Int64Type>(field(items, attr::INT)?.as_ref(), attr::INT)?,
            doubles: primitive::<Float64Type>(field(items, attr::DOUBLE)?.as_ref(), attr::DOUBLE)?,
            bools: field(items, attr::BOOL)?.as_boolean_opt().ok_or_else(|| wrong_type(attr::BOOL))?,
            bytes: field(items, attr::BYTES)?.as_binary_opt::<i32>().ok_or_else(|| wrong_type(attr::BYTES))?,
        })
    }

    /// The attributes of list `row`, in stored order.
    pub(crate) fn get(&self, row: usize) -> Result<Vec<KeyValue>, BlockError> {
        if self.list.is_null(row) {
            return Ok(Vec::new());
        }
        let offsets = self.list.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        (start..end)
            .map(|i| Ok(KeyValue { key: self.keys.string(i), value: self.value(i)?, ..Default::default() }))
            .collect()
    }

    /// Whether list `row` has an entry under `key` whose value passes `value_ok`. Keys are
    /// compared by dictionary index when the key column is a dictionary (`matching` caches which
    /// indexes hold `key`, filled on first use for this batch).
    pub(crate) fn any_entry(
        &self,
        row: usize,
        key: &str,
        matching: &mut Option<Vec<bool>>,
        value_ok: &dyn Fn(AttrValue<'_>) -> bool,
    ) -> bool {
        if self.list.is_null(row) {
            return false;
        }
        let offsets = self.list.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        (start..end).any(|i| {
            let key_matches = match &self.keys {
                StrCol::Dict { keys, values } => {
                    let index = matching.get_or_insert_with(|| {
                        (0..values.len()).map(|v| values.is_valid(v) && values.value(v) == key).collect()
                    });
                    keys.is_valid(i)
                        && usize::try_from(keys.value(i)).ok().and_then(|k| index.get(k).copied()).unwrap_or(false)
                }
                StrCol::Plain(_) => self.keys.get(i) == Some(key),
            };
            key_matches && value_ok(self.value_ref(i))
        })
    }

    fn value_ref(&self, i: usize) -> AttrValue<'_> {
        match self.types.value(i) {
            TYPE_STRING => self.strs.get(i).map_or(AttrValue::Other, AttrValue::Str),
            TYPE_INT if self.ints.is_valid(i) => AttrValue::Int(self.ints.value(i)),
            TYPE_DOUBLE if self.doubles.is_valid(i) => AttrValue::Double(self.doubles.value(i)),
            TYPE_BOOL if self.bools.is_valid(i) => AttrValue::Bool(self.bools.value(i)),
            _ => AttrValue::Other,
        }
    }

    /// Appends to `out` the attributes of list `row` whose key is one of `keys`, as TraceQL
    /// values (the first occurrence of each key; values TraceQL cannot compare are left out).
    pub(crate) fn lookup(
        &self,
        row: usize,
        keys: &[String],
        out: &mut Vec<strand_traceql::Attribute>,
    ) -> Result<(), BlockError> {
        if keys.is_empty() || self.list.is_null(row) {
            return Ok(());
        }
        let offsets = self.list.value_offsets();
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        for i in start..end {
            let Some(key) = self.keys.get(i) else { continue };
            if !keys.iter().any(|k| k == key) || out.iter().any(|a| &*a.key == key) {
                continue;
            }
            if let Some(value) = self.value(i)?.as_ref().and_then(crate::search::convert::value) {
                out.push(strand_traceql::Attribute::new(key, value));
            }
        }
        Ok(())
    }

    fn value(&self, i: usize) -> Result<Option<AnyValue>, BlockError> {
        let missing = |what: &str| BlockError::corrupt(DATA_OBJECT, format!("attribute of type {what} has no value"));
        let value = match self.types.value(i) {
            TYPE_MISSING => return Ok(None),
            TYPE_EMPTY => None,
            TYPE_STRING => Some(Value::StringValue(self.strs.get(i).ok_or_else(|| missing("string"))?.to_string())),
            TYPE_BOOL => Some(Value::BoolValue(
                self.bools.is_valid(i).then(|| self.bools.value(i)).ok_or_else(|| missing("bool"))?,
            )),
            TYPE_INT => {
                Some(Value::IntValue(self.ints.is_valid(i).then(|| self.ints.value(i)).ok_or_else(|| missing("int"))?))
            }
            TYPE_DOUBLE => Some(Value::DoubleValue(
                self.doubles.is_valid(i).then(|| self.doubles.value(i)).ok_or_else(|| missing("double"))?,
            )),
            TYPE_BYTES => Some(Value::BytesValue(
                self.bytes.is_valid(i).then(|| self.bytes.value(i).to_vec()).ok_or_else(|| missing("bytes"))?,
            )),
            TYPE_STRINDEX => {
                let index = self.ints.is_valid(i).then(|| self.ints.value(i)).ok_or_else(|| missing("strindex"))?;
                Some(Value::StringValueStrindex(i32::try_from(index).map_err(|e| BlockError::corrupt(DATA_OBJECT, e))?))
            }
            tag @ (TYPE_ARRAY | TYPE_KVLIST) => {
                let encoded =
                    self.bytes.is_valid(i).then(|| self.bytes.value(i)).ok_or_else(|| missing("array or kvlist"))?;
                let decoded = AnyValue::decode(encoded).map_err(|e| BlockError::corrupt(DATA_OBJECT, e))?;
                match (tag, &decoded.value) {
                    (TYPE_ARRAY, Some(Value::ArrayValue(_))) | (TYPE_KVLIST, Some(Value::KvlistValue(_))) => {
                        return Ok(Some(decoded));
                    }
                    _ => {
                        return Err(BlockError::corrupt(
                            DATA_OBJECT,
                            "encoded attribute value does not match its type tag",
                        ));
                    }
                }
            }
            other => {
                return Err(BlockError::corrupt(DATA_OBJECT, format!("unknown attribute type tag {other}")));
            }
        };
        Ok(Some(AnyValue { value }))
    }
}
