//! Parses arbitrary text; whatever parses must print to text that parses back to the same tree
//! and validates the same way. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = strand_traceql::parse_identifier(text);
    let compiled = strand_traceql::compile(text);
    let Ok(query) = strand_traceql::parse(text) else {
        assert!(compiled.is_err(), "{text:?} compiles but does not parse");
        return;
    };
    let validated = query.validate();
    assert_eq!(compiled.is_ok(), validated.is_ok(), "{text:?}: compile and parse+validate disagree");
    let printed = query.to_string();
    let again = match strand_traceql::parse(&printed) {
        Ok(again) => again,
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    };
    assert_eq!(again, query, "{text:?} printed as {printed:?}, which parses to a different tree");
    assert_eq!(again.validate(), validated, "{text:?} printed as {printed:?}, which validates differently");
    assert_eq!(again.to_string(), printed, "{text:?}: printing is not stable");
});
