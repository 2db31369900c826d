//! OTLP/JSON request bodies, decoded as liberally as the OpenTelemetry Collector does.
//!
//! The OTLP spec fixes lowerCamelCase keys, hex trace and span IDs, 64-bit integers as decimal
//! strings and enums as integers. Real senders stray from it (Tempo's own docs post times as JSON
//! numbers), so, like the Collector, this decoder also takes snake_case keys, numbers or strings
//! for every integer, enum names, `"NaN"`/`"Infinity"` doubles, and `null` for "absent"; unknown
//! keys are skipped. ID lengths are not checked here: the distributor's validation does that for
//! the whole request.
//!
//! It streams through serde rather than building a `serde_json::Value` first, so a large body
//! costs roughly its decoded size, not several times its text. Errors name the offending field
//! (`resourceSpans[0].scopeSpans[0].spans[2].traceId: not hex`) and are fit for a 400 body.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use strand_proto::otlp::collector::ExportTraceServiceRequest;
use strand_proto::otlp::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use strand_proto::otlp::resource::Resource;
use strand_proto::otlp::trace::span::{Event, Link, SpanKind};
use strand_proto::otlp::trace::status::StatusCode;
use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span, Status};

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`. The error is a short message for a 400 body.
pub fn decode_export_request(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request =
        MessageSeed::<ExportTraceServiceRequest>::new(&Path::Root).deserialize(&mut deserializer).map_err(describe)?;
    deserializer.end().map_err(describe)?;
    request.ok_or_else(|| "invalid JSON: expected an object, got null".to_string())
}

fn describe(err: serde_json::Error) -> String {
    match err.classify() {
        // Our own messages, which already name the field.
        serde_json::error::Category::Data => err.to_string(),
        _ => format!("invalid JSON: {err}"),
    }
}

/// Where in the request a value sits, rendered only when something is wrong with it.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'static str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'static str) -> Path<'a> {
        Path::Field(self, name)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn error<E: de::Error>(path: &Path<'_>, problem: impl fmt::Display) -> E {
    match path {
        Path::Root => E::custom(format!("invalid JSON: {problem}")),
        _ => E::custom(format!("{path}: {problem}")),
    }
}

// ---- messages -----------------------------------------------------------------------------------

/// A protobuf message read from a JSON object, one known key at a time.
trait Message: Default {
    /// Reads the value of `key` into `self`. Returns false, without reading, for unknown keys.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error>;
}

impl Message for ExportTraceServiceRequest {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "resourceSpans" | "resource_spans" => self.resource_spans = list(map, &path.field("resourceSpans"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for ResourceSpans {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "resource" => self.resource = message(map, &path.field("resource"))?,
            "scopeSpans" | "scope_spans" => self.scope_spans = list(map, &path.field("scopeSpans"))?,
            "schemaUrl" | "schema_url" => self.schema_url = string(map, &path.field("schemaUrl"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for Resource {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "attributes" => self.attributes = list(map, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count = uint32(map, &path.field("droppedAttributesCount"))?;
            }
            "entityRefs" | "entity_refs" => self.entity_refs = list(map, &path.field("entityRefs"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for EntityRef {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "schemaUrl" | "schema_url" => self.schema_url = string(map, &path.field("schemaUrl"))?,
            "type" => self.r#type = string(map, &path.field("type"))?,
            "idKeys" | "id_keys" => self.id_keys = strings(map, &path.field("idKeys"))?,
            "descriptionKeys" | "description_keys" => {
                self.description_keys = strings(map, &path.field("descriptionKeys"))?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for ScopeSpans {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "scope" => self.scope = message(map, &path.field("scope"))?,
            "spans" => self.spans = list(map, &path.field("spans"))?,
            "schemaUrl" | "schema_url" => self.schema_url = string(map, &path.field("schemaUrl"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for InstrumentationScope {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "name" => self.name = string(map, &path.field("name"))?,
            "version" => self.version = string(map, &path.field("version"))?,
            "attributes" => self.attributes = list(map, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count = uint32(map, &path.field("droppedAttributesCount"))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for Span {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "traceId" | "trace_id" => self.trace_id = hex_id(map, &path.field("traceId"))?,
            "spanId" | "span_id" => self.span_id = hex_id(map, &path.field("spanId"))?,
            "traceState" | "trace_state" => self.trace_state = string(map, &path.field("traceState"))?,
            "parentSpanId" | "parent_span_id" => self.parent_span_id = hex_id(map, &path.field("parentSpanId"))?,
            "flags" => self.flags = uint32(map, &path.field("flags"))?,
            "name" => self.name = string(map, &path.field("name"))?,
            "kind" => self.kind = enumeration(map, &path.field("kind"), span_kind)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                self.start_time_unix_nano = uint64(map, &path.field("startTimeUnixNano"))?
            }
            "endTimeUnixNano" | "end_time_unix_nano" => {
                self.end_time_unix_nano = uint64(map, &path.field("endTimeUnixNano"))?
            }
            "attributes" => self.attributes = list(map, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count = uint32(map, &path.field("droppedAttributesCount"))?;
            }
            "events" => self.events = list(map, &path.field("events"))?,
            "droppedEventsCount" | "dropped_events_count" => {
                self.dropped_events_count = uint32(map, &path.field("droppedEventsCount"))?
            }
            "links" => self.links = list(map, &path.field("links"))?,
            "droppedLinksCount" | "dropped_links_count" => {
                self.dropped_links_count = uint32(map, &path.field("droppedLinksCount"))?
            }
            "status" => self.status = message(map, &path.field("status"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for Event {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "timeUnixNano" | "time_unix_nano" => self.time_unix_nano = uint64(map, &path.field("timeUnixNano"))?,
            "name" => self.name = string(map, &path.field("name"))?,
            "attributes" => self.attributes = list(map, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count = uint32(map, &path.field("droppedAttributesCount"))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for Link {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "traceId" | "trace_id" => self.trace_id = hex_id(map, &path.field("traceId"))?,
            "spanId" | "span_id" => self.span_id = hex_id(map, &path.field("spanId"))?,
            "traceState" | "trace_state" => self.trace_state = string(map, &path.field("traceState"))?,
            "attributes" => self.attributes = list(map, &path.field("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count = uint32(map, &path.field("droppedAttributesCount"))?;
            }
            "flags" => self.flags = uint32(map, &path.field("flags"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for Status {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "message" => self.message = string(map, &path.field("message"))?,
            "code" => self.code = enumeration(map, &path.field("code"), status_code)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for KeyValue {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "key" => self.key = string(map, &path.field("key"))?,
            "value" => self.value = message(map, &path.field("value"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for AnyValue {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        use any_value::Value;
        // A member that is null leaves the oneof as it was.
        let value = match key {
            "stringValue" | "string_value" => optional_string(map, &path.field("stringValue"))?.map(Value::StringValue),
            "boolValue" | "bool_value" => optional_bool(map, &path.field("boolValue"))?.map(Value::BoolValue),
            "intValue" | "int_value" => optional_int64(map, &path.field("intValue"))?.map(Value::IntValue),
            "doubleValue" | "double_value" => optional_double(map, &path.field("doubleValue"))?.map(Value::DoubleValue),
            "arrayValue" | "array_value" => {
                message::<ArrayValue, A>(map, &path.field("arrayValue"))?.map(Value::ArrayValue)
            }
            "kvlistValue" | "kvlist_value" => {
                message::<KeyValueList, A>(map, &path.field("kvlistValue"))?.map(Value::KvlistValue)
            }
            "bytesValue" | "bytes_value" => optional_base64(map, &path.field("bytesValue"))?.map(Value::BytesValue),
            _ => return Ok(false),
        };
        if value.is_some() {
            self.value = value;
        }
        Ok(true)
    }
}

impl Message for ArrayValue {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "values" => self.values = list(map, &path.field("values"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Message for KeyValueList {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A, path: &Path<'_>) -> Result<bool, A::Error> {
        match key {
            "values" => self.values = list(map, &path.field("values"))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn span_kind(name: &str) -> Option<i32> {
    SpanKind::from_str_name(name).map(|kind| kind as i32)
}

fn status_code(name: &str) -> Option<i32> {
    StatusCode::from_str_name(name).map(|code| code as i32)
}

// ---- field readers --------------------------------------------------------------------------------

fn message<'de, M: Message, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Option<M>, A::Error> {
    map.next_value_seed(MessageSeed::<M>::new(path))
}

fn list<'de, M: Message, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Vec<M>, A::Error> {
    map.next_value_seed(ListSeed::<M> { path, message: PhantomData })
}

fn strings<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Vec<String>, A::Error> {
    map.next_value_seed(StringsSeed { path })
}

fn scalar<'de, A: MapAccess<'de>>(
    map: &mut A,
    path: &Path<'_>,
    expected: &'static str,
) -> Result<Scalar<'de>, A::Error> {
    map.next_value_seed(ScalarSeed { path, expected })
}

fn optional_string<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Option<String>, A::Error> {
    match scalar(map, path, "a string")? {
        Scalar::Null => Ok(None),
        Scalar::Text(text) => Ok(Some(text.into_owned())),
        other => Err(error(path, format_args!("expected a string, got {other}"))),
    }
}

fn string<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<String, A::Error> {
    optional_string(map, path).map(Option::unwrap_or_default)
}

fn optional_bool<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Option<bool>, A::Error> {
    match scalar(map, path, "a boolean")? {
        Scalar::Null => Ok(None),
        Scalar::Bool(flag) => Ok(Some(flag)),
        other => Err(error(path, format_args!("expected a boolean, got {other}"))),
    }
}

fn optional_uint64<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Option<u64>, A::Error> {
    let value = scalar(map, path, "an unsigned integer")?;
    let number = match &value {
        Scalar::Null => return Ok(None),
        Scalar::Unsigned(number) => Some(*number),
        Scalar::Float(number) if number.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(number) => {
            Some(*number as u64)
        }
        Scalar::Text(text) => text.parse::<u64>().ok(),
        _ => None,
    };
    number.map(Some).ok_or_else(|| error(path, format_args!("expected an unsigned 64-bit integer, got {value}")))
}

fn uint64<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<u64, A::Error> {
    optional_uint64(map, path).map(Option::unwrap_or_default)
}

fn uint32<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<u32, A::Error> {
    let value = scalar(map, path, "an unsigned integer")?;
    let number = match &value {
        Scalar::Null => return Ok(0),
        Scalar::Unsigned(number) => u32::try_from(*number).ok(),
        Scalar::Float(number) if number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(number) => {
            Some(*number as u32)
        }
        Scalar::Text(text) => text.parse::<u32>().ok(),
        _ => None,
    };
    number.ok_or_else(|| error(path, format_args!("expected an unsigned 32-bit integer, got {value}")))
}

fn optional_int64<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Option<i64>, A::Error> {
    let value = scalar(map, path, "an integer")?;
    let number = match &value {
        Scalar::Null => return Ok(None),
        Scalar::Unsigned(number) => i64::try_from(*number).ok(),
        Scalar::Signed(number) => Some(*number),
        Scalar::Float(number)
            if number.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(number) =>
        {
            Some(*number as i64)
        }
        Scalar::Text(text) => text.parse::<i64>().ok(),
        _ => None,
    };
    number.map(Some).ok_or_else(|| error(path, format_args!("expected a signed 64-bit integer, got {value}")))
}

fn optional_double<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Option<f64>, A::Error> {
    let value = scalar(map, path, "a number")?;
    let number = match &value {
        Scalar::Null => return Ok(None),
        Scalar::Unsigned(number) => Some(*number as f64),
        Scalar::Signed(number) => Some(*number as f64),
        Scalar::Float(number) => Some(*number),
        Scalar::Text(text) => match &**text {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse::<f64>().ok(),
        },
        Scalar::Bool(_) => None,
    };
    number.map(Some).ok_or_else(|| error(path, format_args!("expected a number, got {value}")))
}

/// An enum as its number or its proto name (`SPAN_KIND_SERVER`).
fn enumeration<'de, A: MapAccess<'de>>(
    map: &mut A,
    path: &Path<'_>,
    by_name: fn(&str) -> Option<i32>,
) -> Result<i32, A::Error> {
    let value = scalar(map, path, "an enum name or number")?;
    let number = match &value {
        Scalar::Null => return Ok(0),
        Scalar::Unsigned(number) => i32::try_from(*number).ok(),
        Scalar::Signed(number) => i32::try_from(*number).ok(),
        Scalar::Float(number)
            if number.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(number) =>
        {
            Some(*number as i32)
        }
        Scalar::Text(text) => by_name(text).or_else(|| text.parse::<i32>().ok()),
        Scalar::Float(_) | Scalar::Bool(_) => None,
    };
    number.ok_or_else(|| error(path, format_args!("unknown enum value {value}")))
}

/// A trace or span ID: hex in any case, as OTLP/JSON requires (not base64).
fn hex_id<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Vec<u8>, A::Error> {
    match scalar(map, path, "a hex string")? {
        Scalar::Null => Ok(Vec::new()),
        Scalar::Text(text) => hex::decode(text.as_bytes()).map_err(|_| error(path, "not hex")),
        other => Err(error(path, format_args!("expected a hex string, got {other}"))),
    }
}

/// Standard or URL-safe base64, padded or not, as proto3 JSON parsers accept.
fn optional_base64<'de, A: MapAccess<'de>>(map: &mut A, path: &Path<'_>) -> Result<Option<Vec<u8>>, A::Error> {
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);
    match scalar(map, path, "a base64 string")? {
        Scalar::Null => Ok(None),
        Scalar::Text(text) => match STANDARD.decode(text.as_bytes()).or_else(|_| URL_SAFE.decode(text.as_bytes())) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(_) => Err(error(path, "not base64")),
        },
        other => Err(error(path, format_args!("expected a base64 string, got {other}"))),
    }
}

// ---- seeds and visitors ---------------------------------------------------------------------------

/// Any JSON value that is not an object or an array.
enum Scalar<'de> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(Cow<'de, str>),
}

impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            Scalar::Bool(flag) => write!(f, "{flag}"),
            Scalar::Unsigned(number) => write!(f, "{number}"),
            Scalar::Signed(number) => write!(f, "{number}"),
            Scalar::Float(number) => write!(f, "{number}"),
            Scalar::Text(text) => {
                // Quote at most a short prefix: the message ends up in a response body and logs.
                let cut = text.char_indices().nth(40).map_or(text.len(), |(index, _)| index);
                if cut < text.len() { write!(f, "{:?}...", &text[..cut]) } else { write!(f, "{text:?}") }
            }
        }
    }
}

struct ScalarSeed<'p> {
    path: &'p Path<'p>,
    expected: &'static str,
}

impl<'de> DeserializeSeed<'de> for ScalarSeed<'_> {
    type Value = Scalar<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed<'_> {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Unsigned(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(if value >= 0 { Scalar::Unsigned(value.unsigned_abs()) } else { Scalar::Signed(value) })
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(value))
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(error(self.path, format_args!("expected {}, got an array", self.expected)))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(error(self.path, format_args!("expected {}, got an object", self.expected)))
    }
}

/// Reports a wrong JSON type where an object or an array was expected.
fn not_a_container<E: de::Error>(path: &Path<'_>, expected: &str, value: Scalar<'_>) -> E {
    error(path, format_args!("expected {expected}, got {value}"))
}

/// Implements the scalar `visit_*` methods of a container visitor as type errors.
macro_rules! reject_scalars {
    ($expected:literal) => {
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Err(not_a_container(self.path, $expected, Scalar::Bool(value)))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Err(not_a_container(self.path, $expected, Scalar::Unsigned(value)))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Err(not_a_container(self.path, $expected, Scalar::Signed(value)))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            Err(not_a_container(self.path, $expected, Scalar::Float(value)))
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Err(not_a_container(self.path, $expected, Scalar::Text(Cow::Borrowed(value))))
        }
    };
}

/// An object key, borrowed from the input when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value)))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.to_owned())))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// One message; `null` reads as `None`.
struct MessageSeed<'p, M> {
    path: &'p Path<'p>,
    message: PhantomData<M>,
}

impl<'p, M> MessageSeed<'p, M> {
    fn new(path: &'p Path<'p>) -> Self {
        MessageSeed { path, message: PhantomData }
    }
}

impl<'de, M: Message> DeserializeSeed<'de> for MessageSeed<'_, M> {
    type Value = Option<M>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, M: Message> Visitor<'de> for MessageSeed<'_, M> {
    type Value = Option<M>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut message = M::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !message.field(&key, &mut map, self.path)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Some(message))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(error(self.path, "expected an object, got an array"))
    }

    reject_scalars!("an object");
}

/// A repeated message field; `null` reads as empty, and so do `null` items.
struct ListSeed<'p, M> {
    path: &'p Path<'p>,
    message: PhantomData<M>,
}

impl<'de, M: Message> DeserializeSeed<'de> for ListSeed<'_, M> {
    type Value = Vec<M>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, M: Message> Visitor<'de> for ListSeed<'_, M> {
    type Value = Vec<M>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        for index in 0.. {
            let path = Path::Index(self.path, index);
            match seq.next_element_seed(MessageSeed::<M>::new(&path))? {
                Some(Some(item)) => items.push(item),
                Some(None) => {}
                None => break,
            }
        }
        Ok(items)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(error(self.path, "expected an array, got an object"))
    }

    reject_scalars!("an array");
}

/// A repeated string field; `null` reads as empty.
struct StringsSeed<'p> {
    path: &'p Path<'p>,
}

impl<'de> DeserializeSeed<'de> for StringsSeed<'_> {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringsSeed<'_> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        for index in 0.. {
            let path = Path::Index(self.path, index);
            match seq.next_element_seed(ScalarSeed { path: &path, expected: "a string" })? {
                Some(Scalar::Text(text)) => items.push(text.into_owned()),
                Some(Scalar::Null) => {}
                Some(other) => {
                    return Err(error(&path, format_args!("expected a string, got {other}")));
                }
                None => break,
            }
        }
        Ok(items)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(error(self.path, "expected an array, got an object"))
    }

    reject_scalars!("an array of strings");
}

#[cfg(test)]
mod tests;
