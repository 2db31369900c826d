//! Pins the v1 schema and its encodings. If this snapshot changes, blocks already written would
//! no longer match what readers expect: add a `v2` instead of accepting the new snapshot.

use std::fmt::Write;

use parquet::arrow::ArrowSchemaConverter;
use parquet::schema::printer::print_schema;

use crate::block::BlockConfig;
use crate::block::schema::{block_schema, writer_properties};

fn schema_text() -> String {
    let schema = block_schema();
    let mut out = String::from("# Arrow fields\n");
    for field in schema.fields() {
        let nullable = if field.is_nullable() { " (nullable)" } else { "" };
        writeln!(out, "{}: {}{nullable}", field.name(), field.data_type()).unwrap();
    }

    let descriptor = ArrowSchemaConverter::new().convert(&schema).unwrap();
    let mut printed = Vec::new();
    print_schema(&mut printed, descriptor.root_schema());
    out.push_str("\n# Parquet schema\n");
    out.push_str(&String::from_utf8(printed).unwrap());

    let props = writer_properties(&BlockConfig::default()).unwrap();
    out.push_str("\n# Leaf columns: path, dictionary, statistics\n");
    for column in descriptor.columns() {
        let path = column.path();
        writeln!(
            out,
            "{path} dictionary={} statistics={:?}",
            props.dictionary_enabled(path),
            props.statistics_enabled(path)
        )
        .unwrap();
    }
    let sorting: Vec<String> = props
        .sorting_columns()
        .into_iter()
        .flatten()
        .map(|c| descriptor.column(c.column_idx as usize).path().string())
        .collect();
    writeln!(out, "\nsorted by: {}", sorting.join(", ")).unwrap();
    out
}

#[test]
fn the_v1_schema_is_pinned() {
    insta::assert_snapshot!("block_v1_schema", schema_text());
}
