//! Fetch requests: conditions, `all_conditions`, and a span filter that never drops a span the
//! evaluation would use.

use proptest::prelude::*;

use super::testing::{nesting, s, span, trace};
use crate::data::{Kind, Status, Trace, Value};
use crate::fetch::{CompareOp, Condition, FetchSpansRequest};
use crate::field::{AttributeScope, FieldRef, Intrinsic};
use crate::result::TraceMatch;

fn request(query: &str) -> FetchSpansRequest {
    crate::parse(query).unwrap_or_else(|e| panic!("{query}: {e}")).fetch_request(10, 20)
}

fn attr(scope: AttributeScope, name: &str) -> FieldRef {
    FieldRef::attribute(scope, name)
}

fn cond(field: FieldRef, op: CompareOp, operands: Vec<Value>) -> Condition {
    Condition { field, op: Some(op), operands }
}

#[test]
fn benchmark_queries() {
    use AttributeScope::{Resource, Span};
    let service = attr(Resource, "service.name");
    let cases: Vec<(&str, Vec<Condition>, bool)> = vec![
        (
            r#"{ resource.service.name = "customer" }"#,
            vec![cond(service.clone(), CompareOp::Eq, vec![s("customer")])],
            true,
        ),
        (
            "{ span.http.status_code >= 500 }",
            vec![cond(attr(Span, "http.status_code"), CompareOp::GtEq, vec![Value::Int(500)])],
            true,
        ),
        (
            r#"{ span.customer.tier = "gold" }"#,
            vec![cond(attr(Span, "customer.tier"), CompareOp::Eq, vec![s("gold")])],
            true,
        ),
        (
            r#"{ name =~ "HTTP GET /dispatch.*" }"#,
            vec![cond(FieldRef::Intrinsic(Intrinsic::Name), CompareOp::Regex, vec![s("HTTP GET /dispatch.*")])],
            true,
        ),
        (
            r#"{ resource.service.name = "frontend" } >> { span.db.system = "redis" && status = error }"#,
            vec![
                cond(service.clone(), CompareOp::Eq, vec![s("frontend")]),
                cond(attr(Span, "db.system"), CompareOp::Eq, vec![s("redis")]),
                cond(FieldRef::Intrinsic(Intrinsic::Status), CompareOp::Eq, vec![Value::Status(Status::Error)]),
                Condition::read(FieldRef::Intrinsic(Intrinsic::NestedSetLeft)),
                Condition::read(FieldRef::Intrinsic(Intrinsic::NestedSetRight)),
                Condition::read(FieldRef::Intrinsic(Intrinsic::NestedSetParent)),
            ],
            false,
        ),
        ("{ } | count() > 40", vec![], false),
    ];
    for (query, conditions, all) in cases {
        let request = request(query);
        assert_eq!(request.conditions, conditions, "{query}");
        assert_eq!(request.all_conditions, all, "{query}");
        assert_eq!((request.start_unix_nano, request.end_unix_nano), (10, 20));
    }
    assert!(request("{ } | count() > 40").span_filter.keeps_all());
    assert!(!request("{ span.http.status_code >= 500 }").span_filter.keeps_all());
}

#[test]
fn conditions_carry_simple_comparisons_and_read_the_rest() {
    use AttributeScope::{Span, Unscoped};
    let a = || attr(Unscoped, "a");
    let read = Condition::read;
    let cases: Vec<(&str, Vec<Condition>)> = vec![
        ("{ 1 < .a }", vec![cond(a(), CompareOp::Gt, vec![Value::Int(1)])]),
        ("{ 1 >= .a }", vec![cond(a(), CompareOp::LtEq, vec![Value::Int(1)])]),
        (r#"{ "x" != .a }"#, vec![cond(a(), CompareOp::NotEq, vec![s("x")])]),
        (
            "{ .a = 1 || .a = 2 || .a = 3 }",
            vec![cond(a(), CompareOp::Eq, vec![Value::Int(1), Value::Int(2), Value::Int(3)])],
        ),
        (
            "{ .a = 1 || .b = 2 }",
            vec![
                cond(a(), CompareOp::Eq, vec![Value::Int(1)]),
                cond(attr(Unscoped, "b"), CompareOp::Eq, vec![Value::Int(2)]),
            ],
        ),
        ("{ .a = .b }", vec![read(a()), read(attr(Unscoped, "b"))]),
        ("{ .a + 1 > 2 }", vec![read(a())]),
        ("{ !(.a = 1) }", vec![read(a())]),
        ("{ .a != nil }", vec![read(a())]),
        ("{ .a }", vec![read(a())]),
        ("{ true }", vec![]),
        (
            "{ span.x = 1 } | by(.a) | avg(duration) > 1s | select(span:parentID, event.e)",
            vec![
                cond(attr(Span, "x"), CompareOp::Eq, vec![Value::Int(1)]),
                read(a()),
                read(FieldRef::Intrinsic(Intrinsic::Duration)),
                read(FieldRef::Intrinsic(Intrinsic::ParentId)),
                read(attr(AttributeScope::Event, "e")),
            ],
        ),
        ("{ } | rate() by (resource.service.name)", vec![read(attr(AttributeScope::Resource, "service.name"))]),
        (
            "{ kind = server } | quantile_over_time(duration, .9)",
            vec![
                cond(FieldRef::Intrinsic(Intrinsic::Kind), CompareOp::Eq, vec![Value::Kind(Kind::Server)]),
                read(FieldRef::Intrinsic(Intrinsic::Duration)),
            ],
        ),
    ];
    for (query, conditions) in cases {
        assert_eq!(request(query).conditions, conditions, "{query}");
    }
}

#[test]
fn all_conditions_only_for_one_conjunctive_filter() {
    let cases = [
        ("{ }", true),
        ("{ .a = 1 && span.b =~ `x.*` && 2 > .c }", true),
        ("{ .a = 1 && .b != nil } | select(.c, .d)", true),
        ("{ .a = 1 } | rate()", true),
        ("{ .a = 1 || .a = 2 }", false),
        ("{ .a = 1 || .b = 2 }", false),
        ("{ !(.a = 1) }", false),
        ("{ .a + 1 = 2 }", false),
        ("{ .a = .b }", false),
        ("{ .a }", false),
        ("{ .a = 1 } && { .b = 1 }", false),
        ("{ .a = 1 } > { .b = 1 }", false),
        ("{ .a = 1 } | count() > 1", false),
        ("{ .a = 1 } | by(.b)", false),
        ("{ .a = 1 } | { .b = 1 }", false),
        ("{ .a = 1 } | compare({ .b = 1 })", false),
    ];
    for (query, expected) in cases {
        assert_eq!(request(query).all_conditions, expected, "{query}");
    }
}

#[test]
fn span_filter_keeps_all_when_any_span_may_matter() {
    for query in [
        "{ }",
        "{ true }",
        "{ } >> { .a = 1 }",
        "{ .a = 1 } !< { }",
        "count() > 1",
        "by(.a) | { .b = 1 }",
        "select(.a)",
        "{ } | rate()",
        "{ .a = 1 } | compare({ .b = 1 })",
        "({ .a = 1 } | count() > 1) && ({ })",
    ] {
        assert!(request(query).span_filter.keeps_all(), "{query}");
    }
    let t = trace(vec![span(1).attr("a", Value::Int(1)), span(2).attr("b", Value::Int(1)), span(3)]);
    let kept = |query: &str| {
        let filter = request(query).span_filter;
        t.spans.iter().map(|span| filter.keep(&t, span)).collect::<Vec<_>>()
    };
    assert_eq!(kept("{ .a = 1 }"), [true, false, false]);
    assert_eq!(kept("{ .a = 1 } > { .b = 1 }"), [true, true, false]);
    assert_eq!(kept("({ .a = 1 } | count() > 1) || ({ .b = 1 } | by(.c))"), [true, true, false]);
    assert_eq!(kept("{ .a = 1 } | { .b = 1 }"), [true, false, false]);
    assert_eq!(kept("{ false }"), [false, false, false]);
    assert_eq!(kept("{ rootServiceName = `frontend` }"), [true, true, true]);
    assert_eq!(kept("{ .a = 1 } | rate() by (.b)"), [true, false, false]);
}

/// Per spanset: (span ID, attributes) per span, and the spanset's attributes.
type Shown = Vec<(Vec<(Vec<u8>, String)>, String)>;

/// Span IDs and attributes of everything a match shows, independent of span positions.
fn shown(found: Option<TraceMatch>, t: &Trace) -> Shown {
    let Some(found) = found else { return Vec::new() };
    found
        .spansets
        .iter()
        .map(|set| {
            let spans =
                set.spans.iter().map(|m| (t.spans[m.index].span_id.clone(), format!("{:?}", m.attributes))).collect();
            (spans, format!("{:?}", set.attributes))
        })
        .collect()
}

/// The query's result on `t` equals its result on `t` with only the spans the filter keeps.
fn assert_filter_is_sound(query: &crate::Query, text: &str, t: &Trace) {
    let request = query.fetch_request(0, 0);
    let mut filtered = t.clone();
    filtered.spans.retain(|span| request.span_filter.keep(t, span));
    assert_eq!(shown(query.evaluate(&filtered), &filtered), shown(query.evaluate(t), t), "{text}");
}

const PROPERTY_QUERIES: &[&str] = &[
    "{ .a = 1 }",
    "{ .a = 1 || .b = `x` }",
    "{ .a = 1 } && { .b = `x` }",
    "{ .a = 1 } || { status = error }",
    "{ .a = 1 } > { .b = `x` }",
    "{ .a = 1 } >> { .b != nil }",
    "{ .a = 2 } < { .b = `y` }",
    "{ .a != nil } << { status = error }",
    "{ .a = 1 } ~ { .b = `x` }",
    "{ .a = 1 } !> { .b = `x` }",
    "{ .a = 2 } !>> { .a = 1 }",
    "{ .b = `x` } !< { .a != nil }",
    "{ .a = 1 } !<< { .b = `y` }",
    "{ .a = 2 } !~ { .a = 1 }",
    "{ .a = 1 } &> { .b = `x` }",
    "{ .a = 1 } &>> { .a = 2 }",
    "{ .b = `y` } &< { .a != nil }",
    "{ .a = 1 } &<< { status = error }",
    "{ .a = 1 } &~ { .b = `x` }",
    "{ .a = 1 } >> { .b = `x` } > { status = error }",
    "{ .a = 1 } && { .b = `x` } >> { .a = 2 }",
    "{ resource.service.name = `s1` } >> { .a = 1 } | count() > 1",
    "{ .a != nil } | by(.a) | count() > 1",
    "{ .a != nil } | by(resource.service.name) | avg(duration) > 10ms",
    "{ .b != nil } | max(duration) > 5ms | select(.a, status)",
    "{ .a = 1 } | { .b = `x` } | coalesce()",
    "({ .a = 1 } | count() > 1) && ({ .b = `x` })",
    "({ .a = 2 } | by(.b)) || ({ status = error } | sum(duration) > 20ms)",
    "{ duration > 10ms } | count() = 2",
    "{ !(.a = 1) && status != error }",
    "{ } !< { .a = 1 }",
    "{ } | by(.b)",
];

prop_compose! {
    /// A random trace of up to 9 spans: a forest, each span with optional `.a` (int) and `.b`
    /// (string), a status, a duration and one of two services.
    fn random_trace()(
        parents in prop::collection::vec(any::<prop::sample::Index>(), 1..10),
        roots in prop::collection::vec(any::<bool>(), 10),
        a in prop::collection::vec(0u8..3, 10),
        b in prop::collection::vec(0u8..3, 10),
        error in prop::collection::vec(any::<bool>(), 10),
        ms in prop::collection::vec(1u64..20, 10),
        service in prop::collection::vec(any::<bool>(), 10),
    ) -> Trace {
        let parents: Vec<Option<usize>> = parents
            .iter()
            .enumerate()
            .map(|(i, pick)| (i > 0 && !roots[i]).then(|| pick.index(i)))
            .collect();
        let spans = nesting(&parents)
            .into_iter()
            .enumerate()
            .map(|(i, (p, l, r))| {
                let mut builder = span(i as u8 + 1)
                    .nested(p, l, r)
                    .duration_ms(ms[i])
                    .resource(&[("service.name", s(if service[i] { "s1" } else { "s2" }))]);
                if a[i] > 0 {
                    builder = builder.attr("a", Value::Int(i64::from(a[i])));
                }
                if b[i] > 0 {
                    builder = builder.attr("b", s(if b[i] == 1 { "x" } else { "y" }));
                }
                if error[i] {
                    builder = builder.status(Status::Error);
                }
                builder
            })
            .collect();
        trace(spans)
    }
}

proptest! {
    #[test]
    fn span_filter_never_changes_a_result(t in random_trace()) {
        for text in PROPERTY_QUERIES {
            let query = crate::compile(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_filter_is_sound(&query, text, &t);
        }
    }
}

/// Every valid and unsupported query of Tempo's corpus compiles into a fetch request, and its
/// span filter keeps what its evaluation uses, on a trace with a bit of everything.
#[test]
fn corpus_queries_fetch_and_evaluate() {
    let nest = nesting(&[None, Some(0), Some(1), Some(0), Some(3), Some(3)]);
    let builders = vec![
        span(1).name("root").attr("foo", s("bar")).attr("http.status", Value::Int(200)),
        span(2).attr("a", Value::Int(2)).attr("field", Value::Float(3.5)).status(Status::Error),
        span(3).attr("foo", s("baz")).attr("http.status", Value::Int(500)).kind(Kind::Client).duration_ms(20),
        span(4).attr("a", Value::Int(1)).event("e", 1, &[("foo", s("bar"))]),
        span(5).attr("foo", s("bar")).status(Status::Ok).duration_ms(3),
        span(6).name("foo").link(&[1; 16], &[2; 8], &[("foo", s("bar"))]).attr("bool", Value::Bool(true)),
    ];
    let t = trace(builders.into_iter().zip(nest).map(|(b, (p, l, r))| b.nested(p, l, r)).collect());
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/conformance");
    let mut checked = 0;
    for file in ["valid.txt", "unsupported.txt"] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // A few lines of valid.txt spell control characters as escapes; see its README.
            let Ok(query) = crate::parse(line) else { continue };
            assert_filter_is_sound(&query, line, &t);
            checked += 1;
        }
    }
    assert!(checked > 250, "only {checked} corpus queries parsed");
}
