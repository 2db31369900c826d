//! Precedence, folding, tree shapes and error messages. Tempo's example corpus is in
//! `tests/conformance.rs`.

use super::*;
use crate::ast::{
    MetricsExpr, MetricsFunction, MetricsPipeline, MetricsQuery, Pipeline, QueryExpr, ScalarExpr, SecondStage,
    SpansetExpr, SpansetOp, Stage,
};
use crate::field::AttributeScope;

fn attr(name: &str) -> FieldExpr {
    FieldExpr::Field(FieldRef::attribute(AttributeScope::Unscoped, name))
}

fn int(i: i64) -> FieldExpr {
    FieldExpr::Static(Static::Int(i))
}

fn b(e: FieldExpr) -> Box<FieldExpr> {
    Box::new(e)
}

fn logical(op: LogicalOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    FieldExpr::Logical { op, lhs: b(lhs), rhs: b(rhs) }
}

fn arith(op: ArithOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    FieldExpr::Arith { op, lhs: b(lhs), rhs: b(rhs) }
}

fn cmp(op: CompareOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    FieldExpr::Compare { op, lhs: b(lhs), rhs: b(rhs) }
}

/// The expression of a query that is a single `{ expr }`.
fn filter(query: &str) -> FieldExpr {
    match parse(query).map(|q| q.expr) {
        Ok(QueryExpr::Search(Pipeline { mut stages })) if stages.len() == 1 => match stages.remove(0) {
            Stage::Spanset(SpansetExpr::Filter(expr)) => expr,
            other => panic!("{query}: not a single filter: {other:?}"),
        },
        other => panic!("{query}: not a single filter: {other:?}"),
    }
}

fn spanset(query: &str) -> SpansetExpr {
    match parse(query).map(|q| q.expr) {
        Ok(QueryExpr::Search(Pipeline { mut stages })) if stages.len() == 1 => match stages.remove(0) {
            Stage::Spanset(expr) => expr,
            other => panic!("{query}: not a spanset expression: {other:?}"),
        },
        other => panic!("{query}: not a spanset expression: {other:?}"),
    }
}

fn f(query: &str) -> SpansetExpr {
    SpansetExpr::Filter(filter(query))
}

fn op(op: SpansetOp, lhs: SpansetExpr, rhs: SpansetExpr) -> SpansetExpr {
    SpansetExpr::Op { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }
}

fn error(query: &str) -> String {
    match parse(query) {
        Ok(q) => panic!("{query} should not parse, got {q}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn and_and_or_have_equal_precedence_and_associate_left_in_filters() {
    use LogicalOp::*;
    assert_eq!(filter("{ .a || .b && .c }"), logical(And, logical(Or, attr("a"), attr("b")), attr("c")));
    assert_eq!(filter("{ .a && .b || .c }"), logical(Or, logical(And, attr("a"), attr("b")), attr("c")));
    assert_eq!(filter("{ .a || (.b && .c) }"), logical(Or, attr("a"), logical(And, attr("b"), attr("c"))));
}

#[test]
fn and_and_or_have_equal_precedence_and_associate_left_between_spansets() {
    use SpansetOp::*;
    assert_eq!(spanset("{ .a } || { .b } && { .c }"), op(And, op(Union, f("{ .a }"), f("{ .b }")), f("{ .c }")));
    assert_eq!(spanset("{ .a } && { .b } || { .c }"), op(Union, op(And, f("{ .a }"), f("{ .b }")), f("{ .c }")));
}

#[test]
fn structural_operators_bind_tighter_than_logical_ones() {
    use SpansetOp::*;
    let (a, b2, c) = (f("{ .a }"), f("{ .b }"), f("{ .c }"));
    assert_eq!(spanset("{ .a } && { .b } >> { .c }"), op(And, a.clone(), op(Descendant, b2.clone(), c.clone())));
    assert_eq!(spanset("{ .a } >> { .b } && { .c }"), op(And, op(Descendant, a.clone(), b2.clone()), c.clone()));
    assert_eq!(spanset("{ .a } >> { .b } ~ { .c }"), op(Sibling, op(Descendant, a.clone(), b2.clone()), c.clone()));
    assert_eq!(spanset("({ .a } >> { .b }) && { .c }"), op(And, op(Descendant, a, b2), c));
}

#[test]
fn arithmetic_precedence_in_filters() {
    use ArithOp::*;
    assert_eq!(filter("{ .a + .b * .c }"), arith(Add, attr("a"), arith(Mul, attr("b"), attr("c"))));
    assert_eq!(filter("{ .a * .b + .c }"), arith(Add, arith(Mul, attr("a"), attr("b")), attr("c")));
    assert_eq!(filter("{ .a - .b - .c }"), arith(Sub, arith(Sub, attr("a"), attr("b")), attr("c")));
    assert_eq!(filter("{ .a ^ .b ^ .c }"), arith(Pow, attr("a"), arith(Pow, attr("b"), attr("c"))));
    assert_eq!(filter("{ .a + .b ^ .c }"), arith(Add, attr("a"), arith(Pow, attr("b"), attr("c"))));
    assert_eq!(filter("{ .a + .b = .c }"), cmp(CompareOp::Eq, arith(Add, attr("a"), attr("b")), attr("c")));
    assert_eq!(
        filter("{ .a = .b && .c }"),
        logical(LogicalOp::And, cmp(CompareOp::Eq, attr("a"), attr("b")), attr("c"))
    );
}

#[test]
fn prefix_operators_bind_like_tempo() {
    // Prefix minus binds like binary minus, prefix not between `+` and `*`.
    let neg = |e| FieldExpr::Neg(b(e));
    let not = |e| FieldExpr::Not(b(e));
    assert_eq!(filter("{ -.a * .b }"), neg(arith(ArithOp::Mul, attr("a"), attr("b"))));
    assert_eq!(filter("{ -.a + .b }"), arith(ArithOp::Add, neg(attr("a")), attr("b")));
    assert_eq!(filter("{ -.a = .b }"), cmp(CompareOp::Eq, neg(attr("a")), attr("b")));
    assert_eq!(filter("{ !.a = .b }"), cmp(CompareOp::Eq, not(attr("a")), attr("b")));
    assert_eq!(filter("{ !.a * .b }"), not(arith(ArithOp::Mul, attr("a"), attr("b"))));
    assert_eq!(
        filter("{ .c - -.a + .b }"),
        arith(ArithOp::Add, arith(ArithOp::Sub, attr("c"), neg(attr("a"))), attr("b"))
    );
}

#[test]
fn nil_comparisons_become_existence_checks() {
    assert_eq!(filter("{ .a = nil }"), FieldExpr::NotExists(b(attr("a"))));
    assert_eq!(filter("{ .a != nil }"), FieldExpr::Exists(b(attr("a"))));
    assert_eq!(filter("{ nil = .a }"), FieldExpr::NotExists(b(attr("a"))));
    assert_eq!(filter("{ nil != .a }"), FieldExpr::Exists(b(attr("a"))));
    assert_eq!(filter("{ nil = nil }"), FieldExpr::Static(Static::Bool(false)));
    assert_eq!(filter("{ nil != nil }"), FieldExpr::Static(Static::Bool(false)));
    assert_eq!(filter("{ .b && .a = nil }"), logical(LogicalOp::And, attr("b"), FieldExpr::NotExists(b(attr("a")))));
    assert!(parse("{ .a > nil }").is_err());
    assert!(parse("{ nil }").is_err());
}

#[test]
fn literal_arithmetic_is_folded_with_int_and_float_rules() {
    let rhs = |q: &str| match filter(q) {
        FieldExpr::Compare { rhs, .. } => *rhs,
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!(rhs("{ .a = 1 / 2 }"), int(0));
    assert_eq!(rhs("{ .a = 7 % 3 }"), int(1));
    assert_eq!(rhs("{ .a = 1.0 / 2 }"), FieldExpr::Static(Static::Float(0.5)));
    assert_eq!(rhs("{ .a = 2 ^ 10 }"), int(1024));
    assert_eq!(rhs("{ .a = maxInt + 1 }"), int(i64::MIN));
    assert_eq!(rhs("{ .a = -(3) }"), int(-3));
    assert_eq!(rhs("{ .a = -1s }"), FieldExpr::Static(Static::Duration(-1_000_000_000)));
    // Durations combine through floats, as in Tempo.
    assert_eq!(rhs("{ .a = 1s + 1s }"), FieldExpr::Static(Static::Float(2e9)));
    // No result: left as written, and rejected or evaluated later.
    assert_eq!(rhs("{ .a = 1 / 0 }"), arith(ArithOp::Div, int(1), int(0)));
    assert_eq!(filter("{ 1 + 1 = 2 }"), FieldExpr::Static(Static::Bool(true)));
    assert_eq!(filter(r#"{ "abc" =~ "a.*" }"#), FieldExpr::Static(Static::Bool(true)));
    assert_eq!(filter(r#"{ "a" < "b" }"#), FieldExpr::Static(Static::Bool(true)));
    assert_eq!(filter("{ 1 = 1.0 }"), FieldExpr::Static(Static::Bool(true)));
    assert_eq!(filter("{ minInt < maxInt }"), FieldExpr::Static(Static::Bool(true)));
}

fn metrics(query: &str) -> MetricsQuery {
    match parse(query).map(|q| q.expr) {
        Ok(QueryExpr::Metrics(m)) => m,
        other => panic!("{query}: not metrics: {other:?}"),
    }
}

#[test]
fn second_stages_attach_to_a_single_pipeline_however_written() {
    let expected = metrics("{ } | rate() | topk(5) > 10");
    assert_eq!(metrics("({ } | rate()) | topk(5) > 10"), expected);
    assert_eq!(metrics("({ } | rate() | topk(5)) > 10"), expected);
    assert_eq!(metrics("({ } | rate() | topk(5) > 10)"), expected);
    let MetricsExpr::Pipeline(leaf) = &expected.expr else { panic!("not a pipeline: {expected:?}") };
    assert_eq!(leaf.second_stage, [SecondStage::TopK(5), SecondStage::Filter { op: CompareOp::Gt, value: 10.0 }]);
    assert!(expected.second_stage.is_empty());
}

#[test]
fn series_arithmetic_has_the_usual_precedence() {
    let m = metrics("5 + ({} | rate()) * 10 > 50 | topk(1)");
    let MetricsExpr::Scalar { op: ArithOp::Add, value, scalar_on_left: true, expr } = &m.expr else { panic!("{m:?}") };
    assert_eq!(*value, 5.0);
    assert!(matches!(**expr, MetricsExpr::Scalar { op: ArithOp::Mul, scalar_on_left: false, .. }));
    assert_eq!(m.second_stage, [SecondStage::Filter { op: CompareOp::Gt, value: 50.0 }, SecondStage::TopK(1)]);

    let m = metrics("({} | rate()) - ({} | rate()) / ({} | count_over_time())");
    let MetricsExpr::Binary { op: ArithOp::Sub, rhs, .. } = &m.expr else { panic!("{m:?}") };
    assert!(matches!(**rhs, MetricsExpr::Binary { op: ArithOp::Div, .. }));

    // Scalars fold first: `3 * 2` is one operand.
    let m = metrics("({} | rate()) + 3 * 2");
    assert!(matches!(m.expr, MetricsExpr::Scalar { op: ArithOp::Add, value: 6.0, .. }));
    // A duration threshold counts in seconds.
    let m = metrics("{} | max_over_time(duration) > 1500ms");
    let MetricsExpr::Pipeline(leaf) = &m.expr else { panic!("{m:?}") };
    assert_eq!(leaf.second_stage, [SecondStage::Filter { op: CompareOp::Gt, value: 1.5 }]);
}

#[test]
fn metrics_functions() {
    let leaf = |q: &str| match metrics(q).expr {
        MetricsExpr::Pipeline(leaf) => *leaf,
        other => panic!("{q}: {other:?}"),
    };
    let MetricsPipeline { function, .. } = leaf("{} | quantile_over_time(duration, 0, .9, 1) by (span.a, name)");
    assert_eq!(
        function,
        MetricsFunction::QuantileOverTime {
            field: FieldRef::Intrinsic(Intrinsic::Duration),
            quantiles: vec![0.0, 0.9, 1.0],
            by: vec![FieldRef::attribute(AttributeScope::Span, "a"), FieldRef::Intrinsic(Intrinsic::Name)],
        }
    );
    let MetricsPipeline { function, .. } = leaf("{} | compare({ status = error }, 5, 100, 200)");
    assert!(matches!(function, MetricsFunction::Compare { top_n: 5, start: 100, end: 200, .. }));
    let MetricsPipeline { function, .. } = leaf("{} | compare({})");
    assert!(matches!(function, MetricsFunction::Compare { top_n: 10, start: 0, end: 0, .. }));
    assert!(parse("{} | compare({}, 1, 2)").is_err());
    assert!(parse("{} | quantile_over_time(duration)").is_err());
    assert!(parse("{} | rate() by ()").is_err());
}

#[test]
fn parenthesized_pipelines_combine_only_with_each_other() {
    let e = spanset("({ .a } | count() > 1) && ({ .b })");
    let SpansetExpr::Op { op: SpansetOp::And, lhs, rhs } = e else { panic!("{e:?}") };
    assert!(matches!(*lhs, SpansetExpr::Pipeline(Pipeline { ref stages }) if stages.len() == 2));
    assert!(matches!(*rhs, SpansetExpr::Pipeline(Pipeline { ref stages }) if stages.len() == 1));
    assert!(error("{ .a } && ({ .b } | { .c })").contains("parenthesize the filter"));
    assert!(parse("({ .a } | { .b }) | { .c }").is_err());
    assert_eq!(spanset("({ .a }) && ({ .b })"), op(SpansetOp::And, f("{ .a }"), f("{ .b }")));
}

#[test]
fn scalar_filters_need_an_aggregate() {
    let q = parse("{ } | avg(duration) > 1s").map(|q| q.expr);
    let Ok(QueryExpr::Search(Pipeline { stages })) = q else { panic!("{q:?}") };
    let Stage::ScalarFilter(sf) = &stages[1] else { panic!("{stages:?}") };
    assert!(matches!(sf.lhs, ScalarExpr::Aggregate(_)));
    assert_eq!(sf.rhs, ScalarExpr::Static(Static::Duration(1_000_000_000)));
    for bad in ["3 = 2", "{ } | 3 > 2", "count()", "{ } | count()", "count() > 1 > 2", "-count() > 1"] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn hints() {
    let q = parse(r#"{ } | rate() with(sample=0.1, most_recent=true, label="x", d=5m, n=minInt)"#);
    let q = q.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.hint("sample"), Some(&Static::Float(0.1)));
    assert_eq!(q.hint("most_recent"), Some(&Static::Bool(true)));
    assert_eq!(q.hint("n"), Some(&Static::Int(i64::MIN)));
    assert_eq!(q.hints.len(), 5);
    // A later with() replaces an earlier one.
    let q = parse("{ } with(a=1) with(b=2)").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.hints.len(), 1);
    assert!(parse("{ } with()").is_err());
    assert!(parse("{ } with(sample=-1)").is_err());
    assert!(parse("{ } with(count=1)").is_err());
    assert!(parse("{ } with(name=1)").is_err());
}

#[test]
fn errors_carry_position_and_expectation() {
    assert_eq!(
        error("{ .a } | { .b"),
        r#"parse error at line 1, col 14: syntax error: unexpected end of query, expected "}""#
    );
    assert_eq!(error("{ .a | .b }"), r#"parse error at line 1, col 6: syntax error: unexpected "|", expected "}""#);
    assert_eq!(
        error(""),
        r#"parse error at line 1, col 1: syntax error: unexpected end of query, expected "{" or "(""#
    );
    assert_eq!(
        error("{ true } &&"),
        r#"parse error at line 1, col 12: syntax error: unexpected end of query, expected "{" or "(""#
    );
    assert_eq!(error("count(avg)"), r#"parse error at line 1, col 7: syntax error: unexpected "avg", expected ")""#);
    assert_eq!(
        error("{ .a = 1 }\n  | { .b = }"),
        r#"parse error at line 2, col 12: syntax error: unexpected "}", expected a field expression"#
    );
    assert_eq!(
        error("{} | rate() | topk(-1)"),
        r#"parse error at line 1, col 20: syntax error: unexpected "-", expected an integer"#
    );
    assert_eq!(error("{ wharblgarbl }"), "parse error at line 1, col 3: syntax error: unknown identifier: wharblgarbl");
    // A lexical error after the point the parser stopped at is not reported.
    assert!(error("{ .a = } \"open").contains("col 8"));
    // A lexical error the parser reaches is reported where it is.
    assert_eq!(
        error(r#"{ ."foo }"#),
        r#"parse error at line 1, col 3: syntax error: unexpected end of query, expected '"'"#
    );
}

#[test]
fn identifiers() {
    use AttributeScope::*;
    let ok = |text: &str| parse_identifier(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(ok("resource.service.name"), FieldRef::attribute(Resource, "service.name"));
    assert_eq!(ok("span.http.method"), FieldRef::attribute(Span, "http.method"));
    assert_eq!(ok(".service.name"), FieldRef::attribute(Unscoped, "service.name"));
    assert_eq!(ok("event.x"), FieldRef::attribute(Event, "x"));
    assert_eq!(ok(r#"span."a b""#), FieldRef::attribute(Span, "a b"));
    assert_eq!(ok("span:name"), FieldRef::Intrinsic(Intrinsic::Name));
    assert_eq!(ok("name"), FieldRef::Intrinsic(Intrinsic::Name));
    assert_eq!(ok("status"), FieldRef::Intrinsic(Intrinsic::Status));
    assert_eq!(ok("trace:rootService"), FieldRef::Intrinsic(Intrinsic::RootServiceName));
    assert_eq!(ok(" kind "), FieldRef::Intrinsic(Intrinsic::Kind));
    assert_eq!(ok("parent.span.x"), FieldRef::attribute(Parent, "span.x"));
    for bad in ["", "span.a b", "name}", "1", "minInt", "trace:name", ".foo .bar", "span:", "span.", "{ .a }"] {
        assert!(parse_identifier(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep_parens = format!("{{ {}.a{} }}", "(".repeat(5000), ")".repeat(5000));
    assert!(error(&deep_parens).contains("too complex"));
    let deep_minus = format!("{{ {}.a }}", "-".repeat(5000));
    assert!(error(&deep_minus).contains("too complex"));
    let deep_pow = format!("{{ .a{} }}", " ^ .a".repeat(5000));
    assert!(error(&deep_pow).contains("too complex"));
    let long_chain = format!("{{ .a{} }}", " || .a".repeat(5000));
    assert!(error(&long_chain).contains("too complex"));
    let long_spanset_chain = format!("{{ }}{}", " && { }".repeat(5000));
    assert!(error(&long_spanset_chain).contains("too complex"));
    let many_stages = format!("{{ }}{}", " | { }".repeat(5000));
    assert!(parse(&many_stages).is_ok());
}

#[test]
fn trees_at_the_depth_limit_can_be_walked_on_a_small_stack() {
    // Just under the limits: parsing, printing, validating, comparing and dropping all recurse.
    let chain = format!("{{ .a = 1{} }}", " || .a = 1".repeat(crate::ast::MAX_DEPTH - 5));
    let nested_spansets = format!("{}{{ .a }}{}", "(".repeat(MAX_NESTING - 2), ")".repeat(MAX_NESTING - 2));
    let nested_fields = format!("{{ {}.a{} }}", "(".repeat(MAX_NESTING - 2), ")".repeat(MAX_NESTING - 2));
    let nested_metrics =
        format!("{}{{ }} | rate(){} * 2", "(".repeat(MAX_NESTING / 2 - 2), ")".repeat(MAX_NESTING / 2 - 2));
    let worker = std::thread::Builder::new().stack_size(1 << 20).spawn(move || {
        for query in [chain, nested_spansets, nested_fields, nested_metrics] {
            let parsed = parse(&query).unwrap_or_else(|e| panic!("{e}"));
            parsed.validate().unwrap_or_else(|e| panic!("{e}"));
            let printed = parsed.to_string();
            assert_eq!(parse(&printed).ok(), Some(parsed));
        }
    });
    assert!(worker.map(|w| w.join().is_ok()).unwrap_or(false));
}

#[test]
fn printing_adds_no_parentheses_the_parser_does_not_need() {
    // Found by fuzzing: printed text that nests deeper than its input can exceed the nesting
    // limit the input stayed within.
    let nots = format!("{{ {}.a = 2 }}", "!".repeat(MAX_NESTING - 5));
    let neg_products = format!("{{ .a{} }}", " * -.a".repeat(MAX_NESTING / 2 - 5));
    for query in [nots, neg_products] {
        let parsed = parse(&query).unwrap_or_else(|e| panic!("{e}"));
        let printed = parsed.to_string();
        assert_eq!(parse(&printed).as_ref().ok(), Some(&parsed), "{printed}");
    }
    for (query, printed) in [
        ("{ .a + -.b + -.c }", "{ .a + -.b + -.c }"),
        ("{ .a * (-.b) * .c }", "{ .a * (-.b) * .c }"),
        ("{ .a * -.b * .c }", "{ .a * -.b * .c }"),
        ("{ (-.a) * .b }", "{ (-.a) * .b }"),
        ("{ !-.a = -1 }", "{ !-.a = -1 }"),
        ("{ .a = (.b != nil) }", "{ .a = (.b != nil) }"),
        ("{ nil = .a || .b }", "{ .a = nil || .b }"),
        ("{ (.a || .b) = nil }", "{ (.a || .b) = nil }"),
    ] {
        let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(parsed.to_string(), printed);
    }
}
