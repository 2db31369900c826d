//! The v1 columns: a persisted contract, pinned by the schema snapshot test.
//!
//! One row per span. Strings that repeat a lot (names, services, attribute keys) are Arrow
//! dictionaries so readers can compare them by key; Parquet dictionary-encodes them too. IDs,
//! timestamps and URLs are nearly unique per row, so dictionary pages would only cost space and
//! time there: they are plain-encoded and left to zstd.
//!
//! Never edit a v1 column in place: a change means a `v2` schema beside this one.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use super::{BlockConfig, BlockError};

/// Rows per data page, and the stride of the sparse trace-ID index. A lookup decodes about this
/// many rows per column. Not part of the format: the sparse index stores explicit row offsets, so
/// readers never assume this value.
pub(crate) const ROWS_PER_PAGE: usize = 8192;

/// Parquet checks page limits between write batches, so the batch size must divide the page row
/// limit for pages to be cut where the sparse index expects them.
const WRITE_BATCH_SIZE: usize = 1024;

/// Key-value metadata entry naming the block format inside the Parquet file itself.
pub(crate) const FORMAT_KEY: &str = "strand.block.format";

// Identity.
pub(crate) const TRACE_ID: &str = "trace_id";
pub(crate) const SPAN_ID: &str = "span_id";
pub(crate) const PARENT_SPAN_ID: &str = "parent_span_id";
pub(crate) const TRACE_STATE: &str = "trace_state";
pub(crate) const FLAGS: &str = "flags";
// Span intrinsics.
pub(crate) const NAME: &str = "name";
pub(crate) const KIND: &str = "kind";
pub(crate) const START_UNIX_NANO: &str = "start_unix_nano";
pub(crate) const DURATION_NANO: &str = "duration_nano";
pub(crate) const STATUS_CODE: &str = "status_code";
pub(crate) const STATUS_MESSAGE: &str = "status_message";
pub(crate) const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
pub(crate) const DROPPED_EVENTS_COUNT: &str = "dropped_events_count";
pub(crate) const DROPPED_LINKS_COUNT: &str = "dropped_links_count";
// Nesting, computed per trace at write time.
pub(crate) const NESTED_SET_LEFT: &str = "nested_set_left";
pub(crate) const NESTED_SET_RIGHT: &str = "nested_set_right";
pub(crate) const PARENT_INDEX: &str = "parent_index";
// Trace-level, repeated on every row of the trace.
pub(crate) const ROOT_SERVICE_NAME: &str = "root_service_name";
pub(crate) const ROOT_SPAN_NAME: &str = "root_span_name";
pub(crate) const TRACE_START_UNIX_NANO: &str = "trace_start_unix_nano";
pub(crate) const TRACE_DURATION_NANO: &str = "trace_duration_nano";
pub(crate) const TRACE_TRUNCATED: &str = "trace_truncated";
// Resource and scope.
pub(crate) const RESOURCE_ATTRS: &str = "resource_attrs";
pub(crate) const RESOURCE_DROPPED_ATTRIBUTES_COUNT: &str = "resource_dropped_attributes_count";
pub(crate) const RESOURCE_SCHEMA_URL: &str = "resource_schema_url";
pub(crate) const RESOURCE_ENTITY_REFS: &str = "resource_entity_refs";
pub(crate) const SCOPE_NAME: &str = "scope_name";
pub(crate) const SCOPE_VERSION: &str = "scope_version";
pub(crate) const SCOPE_ATTRS: &str = "scope_attrs";
pub(crate) const SCOPE_DROPPED_ATTRIBUTES_COUNT: &str = "scope_dropped_attributes_count";
pub(crate) const SCOPE_SCHEMA_URL: &str = "scope_schema_url";
// Generic lists.
pub(crate) const SPAN_ATTRS: &str = "span_attrs";
pub(crate) const EVENTS: &str = "events";
pub(crate) const LINKS: &str = "links";

/// Fields of an attribute struct (`resource_attrs`, `scope_attrs`, `span_attrs`, event and link
/// `attrs`). Exactly one value field is set, chosen by `type` (see `attrs.rs` for the tags).
pub(crate) mod attr {
    pub(crate) const KEY: &str = "key";
    pub(crate) const TYPE: &str = "type";
    pub(crate) const STR: &str = "str";
    pub(crate) const INT: &str = "int";
    pub(crate) const DOUBLE: &str = "double";
    pub(crate) const BOOL: &str = "bool";
    pub(crate) const BYTES: &str = "bytes";
}

/// Fields of an event struct.
pub(crate) mod event {
    pub(crate) const TIME_UNIX_NANO: &str = "time_unix_nano";
    pub(crate) const NAME: &str = "name";
    pub(crate) const ATTRS: &str = "attrs";
    pub(crate) const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
}

/// Fields of a link struct.
pub(crate) mod link {
    pub(crate) const TRACE_ID: &str = "trace_id";
    pub(crate) const SPAN_ID: &str = "span_id";
    pub(crate) const TRACE_STATE: &str = "trace_state";
    pub(crate) const FLAGS: &str = "flags";
    pub(crate) const ATTRS: &str = "attrs";
    pub(crate) const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
}

/// Well-known resource attributes with their own string column: (attribute key, column).
/// `service.name` comes first and is put back first on read.
pub(crate) const RESOURCE_DEDICATED: [(&str, &str); 10] = [
    ("service.name", "resource_service_name"),
    ("k8s.cluster.name", "resource_k8s_cluster_name"),
    ("k8s.namespace.name", "resource_k8s_namespace_name"),
    ("k8s.pod.name", "resource_k8s_pod_name"),
    ("k8s.container.name", "resource_k8s_container_name"),
    ("deployment.environment", "resource_deployment_environment"),
    ("cluster", "resource_cluster"),
    ("namespace", "resource_namespace"),
    ("pod", "resource_pod"),
    ("container", "resource_container"),
];

/// Well-known string span attributes with their own column: (attribute key, column, dictionary).
/// URLs and paths are nearly unique, so they are plain strings.
pub(crate) const SPAN_DEDICATED_STR: [(&str, &str, bool); 9] = [
    ("http.method", "http_method", true),
    ("http.request.method", "http_request_method", true),
    ("http.url", "http_url", false),
    ("url.full", "url_full", false),
    ("http.route", "http_route", true),
    ("url.path", "url_path", false),
    ("server.address", "server_address", true),
    ("db.system", "db_system", true),
    ("rpc.service", "rpc_service", true),
];

/// Well-known integer span attributes with their own column: (attribute key, column).
pub(crate) const SPAN_DEDICATED_INT: [(&str, &str); 2] =
    [("http.status_code", "http_status_code"), ("http.response.status_code", "http_response_status_code")];

/// Arrow type of low-cardinality strings.
pub(crate) fn dict_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new("element", DataType::Struct(fields), false)))
}

/// The attribute struct's fields.
pub(crate) fn attr_fields() -> Fields {
    Fields::from(vec![
        Field::new(attr::KEY, dict_utf8(), false),
        Field::new(attr::TYPE, DataType::UInt8, false),
        Field::new(attr::STR, DataType::Utf8, true),
        Field::new(attr::INT, DataType::Int64, true),
        Field::new(attr::DOUBLE, DataType::Float64, true),
        Field::new(attr::BOOL, DataType::Boolean, true),
        Field::new(attr::BYTES, DataType::Binary, true),
    ])
}

/// `List<attribute struct>`.
pub(crate) fn attr_list_type() -> DataType {
    list_of(attr_fields())
}

/// The event struct's fields.
pub(crate) fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new(event::TIME_UNIX_NANO, DataType::UInt64, false),
        Field::new(event::NAME, dict_utf8(), false),
        Field::new(event::ATTRS, attr_list_type(), false),
        Field::new(event::DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
    ])
}

/// The link struct's fields.
pub(crate) fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new(link::TRACE_ID, DataType::Binary, false),
        Field::new(link::SPAN_ID, DataType::Binary, false),
        Field::new(link::TRACE_STATE, DataType::Utf8, false),
        Field::new(link::FLAGS, DataType::UInt32, false),
        Field::new(link::ATTRS, attr_list_type(), false),
        Field::new(link::DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
    ])
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(build_schema);

/// The v1 Arrow schema of `data.parquet`.
pub(crate) fn block_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

fn build_schema() -> SchemaRef {
    use DataType::{Binary, Boolean, FixedSizeBinary, Int32, Int64, UInt32, UInt64, Utf8};
    let required = |name: &str, data_type: DataType| Field::new(name, data_type, false);
    let mut fields = vec![
        required(TRACE_ID, FixedSizeBinary(16)),
        required(SPAN_ID, Binary),
        required(PARENT_SPAN_ID, Binary),
        required(TRACE_STATE, Utf8),
        required(FLAGS, UInt32),
        required(NAME, dict_utf8()),
        required(KIND, Int32),
        required(START_UNIX_NANO, UInt64),
        required(DURATION_NANO, UInt64),
        required(STATUS_CODE, Int32),
        required(STATUS_MESSAGE, Utf8),
        required(DROPPED_ATTRIBUTES_COUNT, UInt32),
        required(DROPPED_EVENTS_COUNT, UInt32),
        required(DROPPED_LINKS_COUNT, UInt32),
        required(NESTED_SET_LEFT, Int32),
        required(NESTED_SET_RIGHT, Int32),
        required(PARENT_INDEX, Int32),
        required(ROOT_SERVICE_NAME, dict_utf8()),
        required(ROOT_SPAN_NAME, dict_utf8()),
        required(TRACE_START_UNIX_NANO, UInt64),
        required(TRACE_DURATION_NANO, UInt64),
        required(TRACE_TRUNCATED, Boolean),
    ];
    // Dedicated columns are nullable: null means the attribute is absent, "" means it is empty.
    fields.extend(RESOURCE_DEDICATED.iter().map(|(_, column)| Field::new(*column, dict_utf8(), true)));
    fields.extend([
        required(RESOURCE_ATTRS, attr_list_type()),
        required(RESOURCE_DROPPED_ATTRIBUTES_COUNT, UInt32),
        required(RESOURCE_SCHEMA_URL, Utf8),
        // OTLP's (development) entity references, protobuf-encoded one per element: rare, kept
        // only so that nothing a client sent is lost.
        required(RESOURCE_ENTITY_REFS, DataType::List(Arc::new(Field::new("element", Binary, false)))),
        required(SCOPE_NAME, dict_utf8()),
        required(SCOPE_VERSION, dict_utf8()),
        required(SCOPE_ATTRS, attr_list_type()),
        required(SCOPE_DROPPED_ATTRIBUTES_COUNT, UInt32),
        required(SCOPE_SCHEMA_URL, Utf8),
    ]);
    fields.extend(
        SPAN_DEDICATED_STR
            .iter()
            .map(|(_, column, dict)| Field::new(*column, if *dict { dict_utf8() } else { Utf8 }, true)),
    );
    fields.extend(SPAN_DEDICATED_INT.iter().map(|(_, column)| Field::new(*column, Int64, true)));
    fields.extend([
        required(SPAN_ATTRS, attr_list_type()),
        required(EVENTS, list_of(event_fields())),
        required(LINKS, list_of(link_fields())),
    ]);
    Arc::new(Schema::new(fields))
}

/// Columns that are (nearly) unique per row: dictionary pages would only add work.
fn plain_columns() -> Vec<ColumnPath> {
    let mut plain: Vec<ColumnPath> =
        [SPAN_ID, PARENT_SPAN_ID, START_UNIX_NANO, DURATION_NANO, NESTED_SET_LEFT, NESTED_SET_RIGHT]
            .iter()
            .map(|name| ColumnPath::from(*name))
            .collect();
    plain
        .extend(SPAN_DEDICATED_STR.iter().filter(|(_, _, dict)| !dict).map(|(_, column, _)| ColumnPath::from(*column)));
    plain.push(ColumnPath::new(vec![EVENTS.into(), "list".into(), "element".into(), event::TIME_UNIX_NANO.into()]));
    plain.push(ColumnPath::new(vec![LINKS.into(), "list".into(), "element".into(), link::SPAN_ID.into()]));
    plain
}

/// Parquet writer settings for v1 blocks.
pub(crate) fn writer_properties(config: &BlockConfig) -> Result<WriterProperties, BlockError> {
    let level = ZstdLevel::try_new(config.zstd_level).map_err(|e| BlockError::Config(format!("zstd_level: {e}")))?;
    let schema = block_schema();
    let leaf = |name: &str| schema.index_of(name).map_err(BlockError::from);
    // Leaf column indexes of trace_id and start_unix_nano: every column before them is a
    // primitive, so field index == leaf index.
    let sorting = vec![
        SortingColumn { column_idx: leaf(TRACE_ID)? as i32, descending: false, nulls_first: false },
        SortingColumn { column_idx: leaf(START_UNIX_NANO)? as i32, descending: false, nulls_first: false },
    ];
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_offset_index_disabled(false)
        .set_dictionary_enabled(true)
        .set_data_page_row_count_limit(ROWS_PER_PAGE)
        .set_write_batch_size(WRITE_BATCH_SIZE)
        // Row groups are cut by the block writer, at trace boundaries, by encoded size.
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(vec![KeyValue::new(FORMAT_KEY.to_string(), "v1".to_string())]));
    for column in plain_columns() {
        builder = builder.set_column_dictionary_enabled(column, false);
    }
    Ok(builder.build())
}
