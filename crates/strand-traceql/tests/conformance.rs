//! Tempo's own TraceQL example corpus (`pkg/traceql/test_examples.yaml`, see
//! `testdata/conformance/README.md`): every query must land in the same category as in Tempo,
//! and valid and unsupported queries must print to text that parses back to the same tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use strand_traceql::{Query, parse};

fn cases() -> BTreeMap<String, Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/conformance/test_examples.cases.yaml");
    let text = std::fs::read_to_string(path).expect("read the conformance cases");
    serde_yaml::from_str(&text).expect("parse the conformance cases")
}

fn category(name: &str) -> Vec<String> {
    let mut all = cases();
    all.remove(name).unwrap_or_else(|| panic!("no {name} list in the cases file"))
}

/// Why printing `query` and parsing the text back does not give `query`, if it does not.
fn round_trip_failure(query: &Query) -> Option<String> {
    let printed = query.to_string();
    match parse(&printed) {
        Ok(again) if again == *query => None,
        Ok(again) => Some(format!("printed as {printed:?}, which parses to a different tree: {again:?}")),
        Err(e) => Some(format!("printed as {printed:?}, which does not parse: {e}")),
    }
}

fn assert_no_failures(what: &str, expected_count: usize, checked: usize, failures: Vec<String>) {
    assert_eq!(checked, expected_count, "{what}: the corpus should hold {expected_count} queries");
    assert!(failures.is_empty(), "{} of {checked} {what} queries failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn valid_queries_parse_validate_and_round_trip() {
    let queries = category("valid");
    let mut failures = Vec::new();
    for q in &queries {
        match parse(q) {
            Err(e) => failures.push(format!("{q:?}: {e}")),
            Ok(query) => {
                if let Err(e) = query.validate() {
                    failures.push(format!("{q:?}: validation failed: {e}"));
                }
                if let Some(why) = round_trip_failure(&query) {
                    failures.push(format!("{q:?}: {why}"));
                }
            }
        }
    }
    assert_no_failures("valid", 284, queries.len(), failures);
}

#[test]
fn parse_fails_queries_do_not_parse() {
    let queries = category("parse_fails");
    let failures =
        queries.iter().filter_map(|q| parse(q).ok().map(|query| format!("{q:?} parsed as {query}"))).collect();
    assert_no_failures("parse_fails", 87, queries.len(), failures);
}

#[test]
fn validate_fails_queries_parse_then_fail_validation() {
    let queries = category("validate_fails");
    let mut failures = Vec::new();
    for q in &queries {
        match parse(q).map(|query| query.validate()) {
            Err(e) => failures.push(format!("{q:?}: does not parse: {e}")),
            Ok(Ok(())) => failures.push(format!("{q:?}: validates")),
            Ok(Err(e)) if e.is_unsupported() => failures.push(format!("{q:?}: reported as unsupported: {e}")),
            Ok(Err(_)) => {}
        }
    }
    assert_no_failures("validate_fails", 70, queries.len(), failures);
}

#[test]
fn unsupported_queries_parse_then_are_unsupported_and_round_trip() {
    let queries = category("unsupported");
    let mut failures = Vec::new();
    for q in &queries {
        match parse(q) {
            Err(e) => failures.push(format!("{q:?}: does not parse: {e}")),
            Ok(query) => {
                match query.validate() {
                    Ok(()) => failures.push(format!("{q:?}: validates")),
                    Err(e) if !e.is_unsupported() => failures.push(format!("{q:?}: invalid, not unsupported: {e}")),
                    Err(_) => {}
                }
                if let Some(why) = round_trip_failure(&query) {
                    failures.push(format!("{q:?}: {why}"));
                }
            }
        }
    }
    assert_no_failures("unsupported", 22, queries.len(), failures);
}

#[test]
fn the_text_files_hold_the_same_queries() {
    // The one-per-line files write three control characters as escapes (see the README); the
    // YAML is authoritative, and the files must otherwise agree with it.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/conformance");
    for (name, queries) in cases() {
        let text = std::fs::read_to_string(format!("{dir}/{name}.txt")).expect("read the text file");
        let lines: Vec<String> = text.lines().map(|l| l.replace("\\t", "\t").replace("\\r", "\r")).collect();
        let yaml: Vec<String> = queries.iter().map(|q| q.replace('\n', "\\n")).collect();
        assert_eq!(lines, yaml, "{name}.txt");
    }
}
