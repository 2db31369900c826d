//! Field expressions on one span, after Tempo's `ast_execute_test.go` (filter matching,
//! existence, arrays, number types, arithmetic) and `tempodb_search_test.go` (intrinsics).

use super::testing::{array, matches, s, span};
use crate::data::{Kind, Status, Value};

fn check(cases: &[(&str, bool)], make: impl Fn() -> super::testing::SpanBuilder) {
    for (query, expected) in cases {
        assert_eq!(matches(query, make()), *expected, "{query}");
    }
}

#[test]
fn scopes_and_unscoped_precedence() {
    let both =
        || span(1).attr("foo", s("scope_span")).resource(&[("foo", s("scope_resource")), ("service.name", s("api"))]);
    check(
        &[
            (r#"{ .foo = "scope_span" }"#, true),
            (r#"{ .foo = "scope_resource" }"#, false),
            (r#"{ span.foo = "scope_span" }"#, true),
            (r#"{ resource.foo = "scope_resource" }"#, true),
            (r#"{ resource.foo = "scope_span" }"#, false),
            (r#"{ .service.name = "api" }"#, true),
            (r#"{ span.service.name = "api" }"#, false),
        ],
        both,
    );
    let resource_only = || span(1).resource(&[("foo", s("scope_resource"))]);
    check(&[(r#"{ .foo = "scope_resource" }"#, true), (r#"{ span.foo != "x" }"#, false)], resource_only);
}

#[test]
fn literals_and_attributes_compare_like_tempo() {
    check(
        &[
            (r#"{ ("foo" != "bar") && !("foo" = "bar") }"#, true),
            ("{ .foo = .bar }", false),
            (r#"{ .missing = "bar" }"#, false),
            (r#"{ .missing != "bar" }"#, false),
            (r#"{ !(.missing = "bar") }"#, true),
            (r#"{ .str = .num }"#, false),
            (r#"{ .str != .num }"#, false),
            (r#"{ .num =~ .num }"#, false),
            (r#"{ .str > "bzy" && .str < "c" && .str >= "bzz" && .str <= "bzz" }"#, true),
        ],
        || span(1).attr("foo", s("bzz")).attr("bar", s("bzy")).attr("str", s("bzz")).attr("num", Value::Int(5)),
    );
    check(&[("{ .foo = .bar }", true)], || span(1).attr("foo", s("bzz")).attr("bar", s("bzz")));
}

#[test]
fn existence_and_nil() {
    let make = || {
        span(1)
            .attr("bar", s("bzz"))
            .attr("int", Value::Int(1))
            .attr("duration", Value::Duration(60_000_000_000))
            .attr("float", Value::Float(2.0))
    };
    check(
        &[
            ("{ .foo != nil }", false),
            ("{ .foo = nil }", true),
            ("{ .bar != nil }", true),
            ("{ .bar = nil }", false),
            ("{ .int != nil }", true),
            ("{ .duration != nil }", true),
            ("{ .float != nil }", true),
            ("{ nil = nil }", false),
            ("{ nil != nil }", false),
            // Nil in a boolean context is false; `!` of a non-boolean is nil.
            ("{ .foo }", false),
            ("{ .foo || .int = 1 }", true),
            ("{ .foo && true }", false),
            ("{ !.foo }", false),
            ("{ .bar }", false),
        ],
        make,
    );
    check(&[("{ .flag }", true), ("{ !.flag }", false), ("{ .flag && .flag }", true)], || {
        span(1).attr("flag", Value::Bool(true))
    });
}

#[test]
fn numbers_mix_across_types() {
    let queries = [
        ("{ .foo > 0 }", true),
        ("{ .foo < 2 }", true),
        ("{ .foo = 1 }", true),
        ("{ .foo > 0. }", true),
        ("{ .foo < 2. }", true),
        ("{ .foo = 1. }", true),
        ("{ .foo > 0ns }", true),
        ("{ .foo < 2ns }", true),
        ("{ .foo = 1ns }", true),
        ("{ .foo != 1 }", false),
        ("{ .foo = 2 }", false),
    ];
    for value in [Value::Int(1), Value::Float(1.0), Value::Duration(1)] {
        check(&queries, || span(1).attr("foo", value.clone()));
    }
    check(&[("{ .foo < .bar }", true), ("{ .bar > .foo }", true), ("{ .foo = .bar }", false)], || {
        span(1).attr("foo", Value::Int(1)).attr("bar", Value::Float(2.0))
    });
    check(&[("{ .foo = .bar }", true)], || span(1).attr("foo", Value::Int(1)).attr("bar", Value::Float(1.0)));
    check(&[("{ 1 > 0. }", true), ("{ 0 < 2. }", true), ("{ 1 = 1. }", true), ("{ 1ns = 1 }", true)], || span(1));
}

#[test]
fn status_and_kind_compare_with_keywords_and_codes() {
    let make = || span(1).status(Status::Error).kind(Kind::Server).attr("code", Value::Int(2));
    check(
        &[
            ("{ status = error }", true),
            ("{ status != ok }", true),
            ("{ status = unset }", false),
            ("{ kind = server }", true),
            ("{ kind != client }", true),
            ("{ status = 2 }", true),
            ("{ kind = 2 }", true),
            ("{ kind = 3 }", false),
            ("{ .code = error }", true),
            ("{ .code = ok }", false),
            ("{ .code = server }", true),
            ("{ status > ok }", false),
        ],
        make,
    );
}

#[test]
fn regexes_are_anchored() {
    let make = || span(1).name("HTTP GET /dispatch?customer=123").attr("multi", s("a\nb"));
    check(
        &[
            (r#"{ name =~ "HTTP GET /dispatch.*" }"#, true),
            (r#"{ name =~ "HTTP GET" }"#, false),
            (r#"{ name =~ "GET.*" }"#, false),
            (r#"{ name =~ ".*GET.*" }"#, true),
            (r#"{ name !~ "HTTP GET" }"#, true),
            (r#"{ name !~ "HTTP.*" }"#, false),
            (r#"{ .multi =~ "a.b" }"#, true),
            (r#"{ .missing !~ "x" }"#, false),
            (r#"{ .field1 =~ "hello w.*" && .field2 !~ "bye b.*" }"#, false),
        ],
        make,
    );
    check(&[(r#"{ .field1 =~ "hello w.*" && .field2 !~ "bye b.*" }"#, true)], || {
        span(1).attr("field1", s("hello world")).attr("field2", s("bye world"))
    });
}

#[test]
fn arrays_match_any_element_and_not_equal_means_none() {
    let strings = || span(1).attr("foo", array(vec![s("bar"), s("baz")]));
    check(
        &[
            ("{ .foo = `bar` }", true),
            ("{ .foo = `bat` }", false),
            ("{ .foo != `bar` }", false),
            ("{ .foo != `bat` }", true),
            ("{ .foo =~ `ba.*` }", true),
            ("{ .foo !~ `ba.*` }", false),
            ("{ .foo !~ `bar` }", false),
            ("{ .foo !~ `q.*` }", true),
            ("{ `bar` = .foo }", true),
            ("{ `baz` != .foo }", false),
            ("{ .foo = 1 }", false),
            ("{ .foo != 1 }", false),
            ("{ .foo = `bar` || .bat = `baz` }", true),
        ],
        strings,
    );
    let ints = || span(1).attr("foo", array(vec![Value::Int(1), Value::Int(2)]));
    check(
        &[
            ("{ .foo = 2 }", true),
            ("{ .foo != 3 }", true),
            ("{ .foo != 2 }", false),
            ("{ .foo > 1 }", true),
            ("{ .foo >= 2 }", true),
            ("{ .foo < 2 }", true),
            ("{ .foo < 1 }", false),
            ("{ .foo <= 1 }", true),
            ("{ .foo > 2 }", false),
            ("{ 2 = .foo }", true),
            ("{ 3 != .foo }", true),
            ("{ 2 < .foo }", false),
            ("{ 1 < .foo }", true),
            ("{ 3 > .foo }", true),
            ("{ 1 >= .foo }", true),
            ("{ .foo = 2.0 }", true),
            ("{ .foo + 3 = 4 }", false),
            ("{ 4 = .foo + 3 }", false),
            ("{ .foo = `1` }", false),
        ],
        ints,
    );
    let floats = || span(1).attr("foo", array(vec![Value::Float(2.5), Value::Float(3.25)]));
    check(
        &[
            ("{ .foo = 2.5 }", true),
            ("{ .foo = 3.25 }", true),
            ("{ .foo != 2.5 }", false),
            ("{ .foo < 2.0 }", false),
            ("{ .foo > 3.0 }", true),
            ("{ 3.5 <= .foo }", false),
            ("{ 2.0 > .foo }", false),
        ],
        floats,
    );
    let bools = || span(1).attr("foo", array(vec![Value::Bool(true), Value::Bool(true)]));
    check(
        &[
            ("{ .foo = true }", true),
            ("{ .foo = false }", false),
            ("{ .foo != false }", true),
            ("{ .foo != true }", false),
            ("{ true = .foo && false != .foo }", true),
        ],
        bools,
    );
    check(&[("{ .foo != 1 }", true), ("{ .foo = 1 }", false)], || span(1).attr("foo", array(vec![])));
}

#[test]
fn arithmetic() {
    let make = || span(1).attr("foo", Value::Int(1)).attr("bar", Value::Float(1.0));
    check(
        &[
            ("{ 1 + 1 = 2 }", true),
            ("{ 2 - 2 > -1 }", true),
            ("{ 1 / 10. = .1 }", true),
            ("{ 1 / 10 = 0 }", true),
            ("{ 3 * 2 = 6 }", true),
            ("{ 10 % 3 = 1 }", true),
            ("{ 2 ^ 2 = 4 }", true),
            ("{ 2m + 2m = 4m }", true),
            ("{ 2m * 2 = 4m }", true),
            ("{ .foo + .bar = 2 }", true),
            ("{ .foo - 2 = -1 }", true),
            ("{ .foo / .bar != 3 }", true),
            ("{ .foo * .bar = 1 }", true),
            ("{ .foo % .bar = 0 }", true),
            ("{ .foo ^ .bar < 3 }", true),
            ("{ .foo * 3ms = 3ms }", true),
            ("{ -.foo = -1 }", true),
            ("{ .missing + 1 = 1 }", false),
            ("{ 5 / 0 = 1 }", false),
            ("{ 5 % 0 = 1 }", false),
            ("{ .foo / 0 = 1 }", false),
            ("{ .foo / 0 != 1 }", false),
            ("{ 5.0 / 0.0 = 1.0 }", false),
            ("{ 5.0 % 0.0 = 1.0 }", false),
            ("{ duration * 2 = 2ms }", true),
        ],
        make,
    );
    let complex = || span(1).attr("foo", Value::Int(3)).attr("bar", Value::Float(7.0));
    check(
        &[
            ("{ (2 - .bar) * .foo = -15 }", true),
            ("{ 2 - .bar * .foo = -19 }", true),
            ("{ 2 ^ (.bar * .foo) = 2097152 }", true),
            ("{ .bar % 2 = .foo - 2 }", true),
            ("{ (2 - .bar) * .foo < -15 }", false),
            ("{ 2 - .bar * .foo > -19 }", false),
            ("{ 2 ^ (.bar * .foo) != 2097152 }", false),
            ("{ .bar % 2 < .foo - 2 }", false),
            ("{ .foo ^ 2 = 9 }", true),
        ],
        complex,
    );
}

#[test]
fn logical_operators_inside_a_filter() {
    let make = || span(1).attr("a", Value::Int(1)).attr("b", Value::Int(2));
    check(
        &[
            ("{ .a = 1 && .b = 2 }", true),
            ("{ .a = 1 && .b = 3 }", false),
            ("{ .a = 0 || .b = 2 }", true),
            ("{ .a = 0 || .b = 3 }", false),
            // Equal precedence, left to right: (false || true) && false.
            ("{ .a = 0 || .b = 2 && .a = 0 }", false),
            ("{ !(.a = 1 && .b = 3) }", true),
            ("{ true && !false }", true),
        ],
        make,
    );
}

#[test]
fn intrinsics() {
    let make = || {
        span(0xab)
            .name("GET /users")
            .status(Status::Error)
            .parent_id(0x0c)
            .duration_ms(250)
            .nested(1, 2, 3)
            .event("exception", 5, &[("exception.type", s("Timeout"))])
            .event("retry", 9, &[("attempt", Value::Int(2))])
            .link(
                &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34],
                &[0, 0, 0, 0, 0, 0, 0, 0x56],
                &[("link.kind", s("follows"))],
            )
            .scope("otel-go", "1.2.0", &[("lib", s("net/http"))])
    };
    let mut with_message = make();
    with_message.0.status_message = "upstream timed out".into();
    with_message.0.child_count = 2;
    let make = || with_message.clone();
    check(
        &[
            (r#"{ name = "GET /users" }"#, true),
            (r#"{ span:name = "GET /users" }"#, true),
            ("{ duration > 200ms && duration <= 250ms }", true),
            ("{ span:duration = 250ms }", true),
            (r#"{ statusMessage = "upstream timed out" }"#, true),
            (r#"{ span:id = "00000000000000ab" }"#, true),
            (r#"{ span:id = "AB" }"#, true),
            (r#"{ span:id =~ "0+ab" }"#, true),
            (r#"{ span:id = "ac" }"#, false),
            (r#"{ span:parentID = "000000000000000c" }"#, true),
            (r#"{ trace:id = "11111111111111111111111111111111" }"#, true),
            ("{ traceDuration = 5s }", true),
            (r#"{ rootName = "GET /" && rootServiceName = "frontend" }"#, true),
            (r#"{ trace:rootService = "backend" }"#, false),
            ("{ span:childCount = 2 }", true),
            ("{ nestedSetLeft = 2 && nestedSetRight = 3 && nestedSetParent = 1 }", true),
            (r#"{ event:name = "retry" }"#, true),
            (r#"{ event:name = "exception" }"#, true),
            (r#"{ event:name = "other" }"#, false),
            (r#"{ event:name != "retry" }"#, true),
            ("{ event:timeSinceStart > 8ms }", true),
            ("{ event:timeSinceStart > 10ms }", false),
            (r#"{ event.exception.type = "Timeout" }"#, true),
            ("{ event.attempt = 2 }", true),
            (r#"{ event.exception.type = "Timeout" && event.attempt = 2 }"#, true),
            ("{ event.attempt = 3 }", false),
            (r#"{ link:traceID = "1234" }"#, true),
            (r#"{ link:spanID = "0000000000000056" }"#, true),
            (r#"{ link.link.kind = "follows" }"#, true),
            (r#"{ instrumentation:name = "otel-go" && instrumentation:version = "1.2.0" }"#, true),
            (r#"{ instrumentation.lib = "net/http" }"#, true),
        ],
        make,
    );
    // A span without events or links has no event or link values: nothing compares true.
    check(
        &[
            (r#"{ event:name != "x" }"#, false),
            ("{ event.a != nil }", false),
            ("{ event.a = nil }", true),
            (r#"{ link:spanID != "1" }"#, false),
            (r#"{ span:parentID = "0000000000000000" }"#, true),
        ],
        || span(1),
    );
}
