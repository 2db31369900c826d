//! Properties over arbitrary input: parsing and compiling never panic, and whatever parses prints
//! to text that parses back to the same tree (and validates the same way).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use strand_traceql::{compile, parse};

fn check(text: &str) -> Result<(), TestCaseError> {
    let parsed = parse(text);
    let compiled = compile(text);
    prop_assert_eq!(
        parsed.is_ok(),
        compiled.is_ok() || matches!(compiled, Err(strand_traceql::TraceqlError::Validate(_)))
    );
    if let Ok(query) = parsed {
        let printed = query.to_string();
        let again = parse(&printed);
        prop_assert!(again.is_ok(), "{:?} printed as {:?}, which does not parse: {:?}", text, printed, again);
        let again = again.unwrap();
        prop_assert_eq!(&again, &query, "{:?} printed as {:?}", text, printed);
        prop_assert_eq!(again.validate(), query.validate());
        prop_assert_eq!(again.to_string(), printed);
    }
    Ok(())
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    ",",
    "|",
    "&&",
    "||",
    "!",
    "=",
    "!=",
    "=~",
    "!~",
    "<",
    "<=",
    ">",
    ">=",
    ">>",
    "<<",
    "~",
    "!>",
    "!<",
    "!>>",
    "!<<",
    "&>",
    "&<",
    "&>>",
    "&<<",
    "&~",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "nil",
    "true",
    "false",
    "ok",
    "error",
    "unset",
    "server",
    "client",
    "0",
    "1",
    "2",
    "-1",
    "3.5",
    ".5",
    "1e3",
    "1s",
    "1h30m",
    "1.5ms",
    "10us",
    "\"a\"",
    "\"\"",
    "`b`",
    ".a",
    ".b.c",
    "span.a",
    "resource.service.name",
    "event.e",
    "link.l",
    "instrumentation.i",
    "parent.p",
    "parent.span.s",
    "parent.resource.r",
    ".\"q r\"",
    "name",
    "status",
    "kind",
    "duration",
    "statusMessage",
    "rootName",
    "rootServiceName",
    "traceDuration",
    "parent",
    "nestedSetLeft",
    "span:id",
    "span:parentID",
    "span:childCount",
    "trace:id",
    "trace:rootService",
    "trace:duration",
    "event:name",
    "event:timeSinceStart",
    "link:traceID",
    "link:spanID",
    "instrumentation:name",
    "count()",
    "count",
    "avg",
    "min",
    "max",
    "sum",
    "by",
    "coalesce()",
    "select",
    "rate()",
    "count_over_time()",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
    "with",
    "sample",
    "minInt",
    "maxInt",
    "x",
];

fn token_soup() -> impl Strategy<Value = String> {
    (prop::collection::vec(prop::sample::select(TOKENS), 0..30), prop::bool::ANY)
        .prop_map(|(tokens, spaced)| tokens.join(if spaced { " " } else { "" }))
}

const LEAVES: &[&str] = &[
    ".a",
    "span.b",
    "resource.service.name",
    ".\"x y\"",
    ".\"q\\\"t\"",
    "parent.c",
    "parent.span.d",
    "name",
    "status",
    "kind",
    "duration",
    "span:id",
    "trace:rootService",
    "event:name",
    "link:traceID",
    "instrumentation:version",
    "nestedSetLeft",
    "span:childCount",
    "parent",
    "1",
    "0",
    "7",
    "-3",
    "2.5",
    "1e3",
    "1e300",
    "0.1",
    "1s",
    "-1ms",
    "1h30m",
    "250us",
    "\"str\"",
    "\"\\n\\t\\u00e9\"",
    "`raw`",
    "true",
    "false",
    "ok",
    "error",
    "server",
    "minInt",
    "maxInt",
    "nil",
    "\".*\"",
    "\"[\"",
];

const FIELD_OPS: &[&str] = &["+", "-", "*", "/", "%", "^", "=", "!=", "<", "<=", ">", ">=", "=~", "!~", "&&", "||"];

fn field_expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(LEAVES).prop_map(str::to_string);
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(FIELD_OPS), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

const SPANSET_OPS: &[&str] =
    &["&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>", "&<<", "&~"];

fn spanset_expr() -> impl Strategy<Value = String> {
    let filter = prop_oneof![Just("{}".to_string()), field_expr().prop_map(|e| format!("{{ {e} }}"))];
    filter.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(SPANSET_OPS), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

fn number() -> impl Strategy<Value = String> {
    prop::sample::select(&["1", "0", "-2", "2.5", "3s", "1 + 2", "7 / 2", "-1.5 * 2", "1e3"][..])
        .prop_map(str::to_string)
}

fn stage() -> impl Strategy<Value = String> {
    let cmp = prop::sample::select(&["=", "!=", "<", "<=", ">", ">="][..]);
    prop_oneof![
        4 => spanset_expr(),
        1 => (cmp.clone(), number()).prop_map(|(op, n)| format!("count() {op} {n}")),
        1 => (prop::sample::select(&["avg", "min", "max", "sum"][..]), field_expr(), cmp, number())
            .prop_map(|(agg, e, op, n)| format!("{agg}({e}) {op} {n}")),
        1 => field_expr().prop_map(|e| format!("by({e})")),
        1 => Just("coalesce()".to_string()),
        1 => Just("select(.a, name, span:id)".to_string()),
    ]
}

fn pipeline() -> impl Strategy<Value = String> {
    prop::collection::vec(stage(), 1..4).prop_map(|stages| stages.join(" | "))
}

fn metrics_function() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "rate()",
            "count_over_time() by (name)",
            "min_over_time(duration)",
            "avg_over_time(span.x) by (.a, resource.b)",
            "quantile_over_time(duration, 0, 0.5, 1) by (name)",
            "histogram_over_time(duration)",
            "compare({ status = error })",
            "compare({}, 5, 1, 2)",
        ][..],
    )
    .prop_map(str::to_string)
}

fn second_stages() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(&[" | topk(5)", " | bottomk(0)", " > 10", " <= -2.5", " != 1s", " = 1 + 2"][..]),
        0..3,
    )
    .prop_map(|parts| parts.concat())
}

fn metrics_query() -> impl Strategy<Value = String> {
    let leaf = (pipeline(), metrics_function(), second_stages()).prop_map(|(p, f, s)| format!("{p} | {f}{s}"));
    let operand = leaf.prop_map(|l| format!("({l})")).prop_recursive(3, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(&["+", "-", "*", "/", "%"][..]), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (inner.clone(), prop::sample::select(&["+", "-", "*", "/"][..]), number())
                .prop_map(|(a, op, n)| format!("{a} {op} {n}")),
            (number(), prop::sample::select(&["+", "-", "*", "/"][..]), inner.clone())
                .prop_map(|(n, op, a)| format!("{n} {op} {a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    });
    (operand, second_stages()).prop_map(|(m, s)| format!("{m}{s}"))
}

fn query() -> impl Strategy<Value = String> {
    let hints = prop::sample::select(&["", " with(sample=0.1)", " with(most_recent=true, x=\"y\", d=1m)"][..]);
    let body = prop_oneof![
        4 => pipeline(),
        1 => (pipeline(), prop::sample::select(SPANSET_OPS), pipeline()).prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
        1 => (pipeline(), prop::sample::select(&["=", ">", "<="][..]), pipeline())
            .prop_map(|(a, op, b)| format!("({a} | count()) {op} ({b} | avg(duration))")),
        2 => (pipeline(), metrics_function(), second_stages()).prop_map(|(p, f, s)| format!("{p} | {f}{s}")),
        2 => metrics_query(),
    ];
    (body, hints).prop_map(|(b, h)| format!("{b}{h}"))
}

proptest! {
    // 2000 cases each by default; PROPTEST_CASES raises it for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn token_soups_round_trip(text in token_soup()) {
        check(&text)?;
    }

    #[test]
    fn generated_queries_round_trip(text in query()) {
        check(&text)?;
    }
}

#[test]
fn generated_queries_mostly_parse() {
    // The generator is only useful if much of what it makes parses; guard against it drifting.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = query();
    let total = 500;
    let parsed = (0..total).filter(|_| parse(&strategy.new_tree(&mut runner).unwrap().current()).is_ok()).count();
    assert!(parsed * 4 >= total, "only {parsed} of {total} generated queries parse");
}
