//! Spanset operators, pipelines and what results show, after Tempo's `ast_execute_test.go`.

use std::convert::Infallible;
use std::ops::ControlFlow;

use super::search;
use super::testing::{SpanBuilder, ids, nesting, run, s, span, trace};
use crate::data::{Attribute, Status, Trace, Value};
use crate::fetch::{FetchSpansRequest, FetchStats, SpansetFetcher};

/// Span IDs per spanset for each query.
fn check(t: &Trace, cases: &[(&str, &[&[u8]])]) {
    for (query, expected) in cases {
        let expected: Vec<Vec<u8>> = expected.iter().map(|set| set.to_vec()).collect();
        assert_eq!(ids(&run(query, t), t), expected, "{query}");
    }
}

#[test]
fn logical_spanset_operators() {
    let t = trace(vec![span(1).attr("foo", s("a")), span(2).attr("foo", s("b")), span(3).attr("foo", s("c"))]);
    check(
        &t,
        &[
            ("{ .foo = `a` } && { .foo = `b` }", &[&[1, 2]]),
            ("{ .foo = `a` } && { .foo = `x` }", &[]),
            ("{ .foo = `a` } || { .foo = `b` }", &[&[1, 2]]),
            ("{ .foo = `x` } || { .foo = `b` }", &[&[2]]),
            ("{ .foo = `x` } || { .foo = `y` }", &[]),
            // Inside one filter, a single span must satisfy both sides.
            ("{ .foo = `a` && .foo = `b` }", &[]),
            ("{ .foo = `a` || .foo = `b` }", &[&[1, 2]]),
            ("{ true } && { true } && { true }", &[&[1, 2, 3]]),
            ("{ true } || { true } || { true }", &[&[1, 2, 3]]),
            ("{ .foo = `a` } && { .foo = `b` } && { .foo = `c` }", &[&[1, 2, 3]]),
            ("{ false }", &[]),
        ],
    );
}

#[test]
fn structural_operators_like_tempo() {
    // Tempo's mock spans: (parent, left, right).
    let pair = trace(vec![
        span(1).attr("parent", Value::Bool(true)).nested(0, 1, 4),
        span(2).attr("child", Value::Bool(true)).nested(1, 2, 3),
    ]);
    check(
        &pair,
        &[
            ("{ .parent } >> { .child }", &[&[2]]),
            ("{ .child } << { .parent }", &[&[1]]),
            ("{ .parent } > { .child }", &[&[2]]),
            ("{ .child } < { .parent }", &[&[1]]),
            ("{ .child } > { .parent }", &[]),
            ("{ .parent } &> { .child }", &[&[1, 2]]),
            ("{ .parent } &>> { .child }", &[&[1, 2]]),
            ("{ .child } &< { .parent }", &[&[1, 2]]),
            ("{ .child } &<< { .parent }", &[&[1, 2]]),
        ],
    );
    let siblings = trace(vec![
        span(1).attr("child1", Value::Bool(true)).nested(1, 2, 3),
        span(2).attr("child2", Value::Bool(true)).nested(1, 4, 5),
    ]);
    check(
        &siblings,
        &[
            ("{ .child1 } ~ { .child2 }", &[&[2]]),
            ("{ .child1 } &~ { .child2 }", &[&[1, 2]]),
            ("{ .child1 } ~ { .child1 }", &[]),
            ("{ } > { } > { } > { }", &[]),
            ("{ } < { } < { } < { }", &[]),
            ("{ } &< { } &< { } &< { }", &[]),
        ],
    );
    let leaves = trace(vec![
        span(1).attr("parent", Value::Bool(true)).nested(0, 1, 4),
        span(2).attr("child", Value::Bool(true)).nested(1, 2, 3),
        span(3).attr("child", Value::Bool(true)).nested(0, 1, 4),
    ]);
    check(&leaves, &[("{ } !< { .child }", &[&[2]]), ("{ } !<< { .child }", &[&[2]])]);
    let roots = trace(vec![
        span(1).attr("parent", Value::Bool(true)).nested(0, 1, 4),
        span(2).attr("parent", Value::Bool(true)).nested(1, 2, 3),
        span(3).attr("child", Value::Bool(true)).nested(1, 2, 3),
    ]);
    check(&roots, &[("{ } !> { .parent }", &[&[1]]), ("{ } !>> { .parent }", &[&[1]])]);
    let not_siblings = trace(vec![
        span(1).attr("child1", Value::Bool(true)).nested(1, 2, 3),
        span(2).attr("child2", Value::Bool(true)).nested(1, 4, 5),
        span(3).attr("child2", Value::Bool(true)).nested(4, 5, 6),
    ]);
    check(&not_siblings, &[("{ .child1 } !~ { .child2 }", &[&[3]])]);
    // An empty left side: every right-hand span has no parent on it.
    let lonely = trace(vec![span(1).name("list-articles").nested(0, 1, 2)]);
    check(&lonely, &[("{ name = `nope` } !< { name = `list-articles` }", &[&[1]]), ("{ name = `nope` } < { }", &[])]);
}

/// root(1) ─┬─ a(2, db) ── c(3, db, error)
///          └─ b(4) ──── d(5, db)
fn tree() -> Trace {
    let nest = nesting(&[None, Some(0), Some(1), Some(0), Some(3)]);
    let spans: Vec<SpanBuilder> = vec![
        span(1).resource(&[("service.name", s("frontend"))]),
        span(2).attr("db", s("redis")).resource(&[("service.name", s("api"))]),
        span(3).attr("db", s("redis")).status(Status::Error).resource(&[("service.name", s("api"))]),
        span(4).resource(&[("service.name", s("auth"))]),
        span(5).attr("db", s("sql")).resource(&[("service.name", s("auth"))]),
    ];
    trace(spans.into_iter().zip(nest).map(|(b, (p, l, r))| b.nested(p, l, r)).collect())
}

#[test]
fn structural_operators_on_a_tree() {
    let t = tree();
    check(
        &t,
        &[
            (r#"{ resource.service.name = "frontend" } >> { .db = "redis" && status = error }"#, &[&[3]]),
            (r#"{ resource.service.name = "frontend" } > { }"#, &[&[2, 4]]),
            ("{ .db != nil } < { }", &[&[1, 2, 4]]),
            ("{ .db = `sql` } << { }", &[&[1, 4]]),
            ("{ .db = `redis` } ~ { }", &[&[4]]),
            ("{ } !< { }", &[&[3, 5]]),
            ("{ } !> { }", &[&[1]]),
            ("{ .db != nil } !>> { .db != nil }", &[&[2, 5]]),
            ("{ .db = `redis` } &>> { .db != nil }", &[&[2, 3]]),
            ("{ } >> { } >> { }", &[&[3, 5]]),
            // Spanset operators bind tighter than && and ||.
            ("{ .db = `sql` } && { status = error } > { }", &[]),
            ("{ .db = `sql` } || { .db = `redis` } > { status = error }", &[&[3, 5]]),
            ("({ .db = `sql` } && { status = error }) > { }", &[]),
        ],
    );
}

#[test]
fn pipelines_with_aggregates() {
    let t = trace(vec![
        span(1).attr("foo", s("a")).duration_ms(2),
        span(2).attr("foo", s("a")).duration_ms(8),
        span(3).attr("foo", s("b")).duration_ms(15).attr("n", Value::Int(4)),
        span(4).attr("foo", s("b")).duration_ms(5).attr("n", Value::Float(1.5)),
    ]);
    check(
        &t,
        &[
            ("{ .foo = `a` } | count() > 1", &[&[1, 2]]),
            ("{ .foo = `a` } | count() > 2", &[]),
            ("{ } | count() > 3", &[&[1, 2, 3, 4]]),
            ("{ .foo = `a` } | avg(duration) >= 5ms", &[&[1, 2]]),
            ("{ .foo = `a` } | avg(duration) > 5ms", &[]),
            ("{ .foo = `b` } | max(duration) >= 15ms", &[&[3, 4]]),
            ("{ .foo = `b` } | min(duration) <= 5ms", &[&[3, 4]]),
            ("{ .foo = `b` } | sum(duration) = 20ms", &[&[3, 4]]),
            ("{ } | sum(.n) = 5.5", &[&[1, 2, 3, 4]]),
            ("{ .foo = `a` } | sum(.n) > 0", &[]),
            ("{ } | count() > 1 | { .foo = `b` }", &[&[3, 4]]),
            ("{ } | { .foo = `b` } | count() = 2", &[&[3, 4]]),
            ("{ } | by(.foo) | count() = 2 | avg(duration) > 6ms", &[&[3, 4]]),
            ("count() > 3", &[&[1, 2, 3, 4]]),
        ],
    );
    let attributes =
        |query: &str| run(query, &t).map(|m| m.spansets.into_iter().map(|s| s.attributes).collect::<Vec<_>>());
    assert_eq!(attributes("{ .foo = `a` } | count() > 1"), Some(vec![vec![Attribute::new("count()", Value::Int(2))]]));
    assert_eq!(
        attributes("{ .foo = `a` } | avg(duration) >= 5ms"),
        Some(vec![vec![Attribute::new("avg(duration)", Value::Duration(5_000_000))]])
    );
    assert_eq!(
        attributes("{ .foo = `b` } | max(duration) > 1ms"),
        Some(vec![vec![Attribute::new("max(duration)", Value::Duration(15_000_000))]])
    );
    assert_eq!(
        attributes("{ .foo = `b` } | min(.n) < 2"),
        Some(vec![vec![Attribute::new("min(.n)", Value::Float(1.5))]])
    );
    assert_eq!(attributes("{ } | avg(.n) > 2"), Some(vec![vec![Attribute::new("avg(.n)", Value::Float(2.75))]]));
    // A later aggregate of the same name replaces the earlier value.
    assert_eq!(
        attributes("{ } | count() > 1 | { .foo = `a` } | count() > 1"),
        Some(vec![vec![Attribute::new("count()", Value::Int(2))]])
    );
}

#[test]
fn by_coalesce_and_select() {
    let t = trace(vec![
        span(1).attr("foo", s("a")).attr("bar", s("1")),
        span(2).attr("foo", s("b")).attr("bar", s("1")),
        span(3).attr("foo", s("b")).attr("bar", s("2")),
        span(4).attr("bar", s("2")),
    ]);
    check(
        &t,
        &[
            ("{ } | by(.foo)", &[&[1], &[2, 3], &[4]]),
            ("{ .foo != nil } | by(.foo) | by(.bar)", &[&[1], &[2], &[3]]),
            ("{ } | by(.foo) | coalesce()", &[&[1, 2, 3, 4]]),
            ("{ } | by(.foo) | count() > 1", &[&[2, 3]]),
            ("{ } | by(.foo) | { .bar = `2` }", &[&[3], &[4]]),
            ("{ .foo != nil } | select(.bar)", &[&[1, 2, 3]]),
        ],
    );
    let found = run("{ .foo != nil } | by(.foo) | by(.bar)", &t).unwrap();
    let groups: Vec<Vec<Attribute>> = found.spansets.into_iter().map(|s| s.attributes).collect();
    assert_eq!(
        groups,
        vec![
            vec![Attribute::new("by(.foo)", s("a")), Attribute::new("by(.bar)", s("1"))],
            vec![Attribute::new("by(.foo)", s("b")), Attribute::new("by(.bar)", s("1"))],
            vec![Attribute::new("by(.foo)", s("b")), Attribute::new("by(.bar)", s("2"))],
        ]
    );
    let nil_group = run("{ } | by(.foo)", &t).unwrap();
    assert_eq!(nil_group.spansets[2].attributes, vec![Attribute::new("by(.foo)", Value::Nil)]);
    let by_service = run("{ } | by(resource.service.name)", &t).unwrap();
    assert_eq!(by_service.spansets[0].attributes, vec![Attribute::new("by(resource.service.name)", s("svc"))]);
    let coalesced = run("{ } | by(.foo) | coalesce()", &t).unwrap();
    assert!(coalesced.spansets[0].attributes.is_empty());
}

#[test]
fn matched_spans_show_the_fields_the_query_reads() {
    let t = trace(vec![
        span(1)
            .attr("http.status_code", Value::Int(500))
            .attr("foo", s("span-foo"))
            .resource(&[("service.name", s("api")), ("foo", s("resource-foo"))])
            .status(Status::Error),
        span(2).attr("http.status_code", Value::Int(200)),
    ]);
    let shown = |query: &str| {
        let found = run(query, &t).unwrap_or_else(|| panic!("{query} matched nothing"));
        found.spansets[0].spans[0].attributes.clone()
    };
    assert_eq!(
        shown(r#"{ span.http.status_code >= 500 && resource.service.name = "api" }"#),
        vec![Attribute::new("http.status_code", Value::Int(500)), Attribute::new("service.name", s("api"))]
    );
    // Intrinsics by name; name, duration and span ID have their own fields; nil is left out.
    assert_eq!(
        shown(r#"{ status = error && name != "x" && duration > 0 && span:id != "0" && .missing = nil }"#),
        vec![Attribute::new("status", Value::Status(Status::Error))]
    );
    // select() adds fields; one key, whatever the scope, the first reference winning.
    assert_eq!(
        shown(r#"{ span.foo = "span-foo" } | select(resource.foo, .foo, kind, traceDuration)"#),
        vec![Attribute::new("foo", s("span-foo")), Attribute::new("kind", Value::Kind(crate::data::Kind::Unspecified))]
    );
    assert_eq!(
        shown(r#"{ resource.foo = "resource-foo" } | select(span.foo)"#),
        vec![Attribute::new("foo", s("resource-foo"))]
    );
    assert_eq!(shown("{ }"), vec![]);
    assert_eq!(shown("{ } | by(.http.status_code)")[0], Attribute::new("http.status_code", Value::Int(500)));
}

#[test]
fn metrics_queries_and_empty_traces_match_nothing() {
    let t = trace(vec![span(1)]);
    assert!(run("{ } | rate()", &t).is_none());
    assert!(run("{ }", &trace(vec![])).is_none());
    assert!(run("{ }", &t).is_some());
}

struct Fetcher(Vec<Trace>);

impl SpansetFetcher for Fetcher {
    type Error = Infallible;

    fn fetch(
        &mut self,
        request: &FetchSpansRequest,
        visit: &mut dyn FnMut(Trace) -> ControlFlow<()>,
    ) -> Result<FetchStats, Infallible> {
        let mut stats = FetchStats::default();
        for mut trace in self.0.clone() {
            stats.inspected_traces += 1;
            stats.inspected_spans += trace.spans.len() as u64;
            let kept: Vec<_> = trace.spans.iter().filter(|s| request.span_filter.keep(&trace, s)).cloned().collect();
            trace.spans = kept;
            if visit(trace).is_break() {
                break;
            }
        }
        Ok(stats)
    }
}

#[test]
fn search_stops_at_the_limit_and_reports_stats() {
    let traces: Vec<Trace> = (0..5u8)
        .map(|i| {
            let mut t = trace(vec![span(1).attr("n", Value::Int(i64::from(i))), span(2).status(Status::Error)]);
            t.trace_id = [0x11 * (i + 1); 16];
            t
        })
        .collect();
    let query = crate::compile("{ .n >= 1 } | select(status)").unwrap();
    let request = query.fetch_request(0, 0);
    let all = search(&query, &request, &mut Fetcher(traces.clone()), 0, 3).unwrap();
    assert_eq!(all.traces.len(), 4);
    assert_eq!(all.stats.inspected_traces, 5);
    assert_eq!(all.stats.inspected_spans, 10);
    let first = &all.traces[0];
    assert_eq!(first.trace_id, "2".repeat(32));
    assert_eq!(first.root_service_name, "frontend");
    assert_eq!(first.span_sets.len(), 1);
    assert_eq!(first.span_sets[0].matched, 1);
    assert_eq!(first.span_sets[0].spans[0].span_id, "0000000000000001");
    let keys: Vec<&str> = first.span_sets[0].spans[0].attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["n", "status"]);

    let limited = search(&query, &request, &mut Fetcher(traces.clone()), 2, 3).unwrap();
    assert_eq!(limited.traces.len(), 2);
    assert_eq!(limited.stats.inspected_traces, 3);

    let metrics = crate::parse("{ } | rate()").unwrap();
    let none = search(&metrics, &metrics.fetch_request(0, 0), &mut Fetcher(traces), 0, 3).unwrap();
    assert!(none.traces.is_empty());
}

#[test]
fn plans_are_shareable_and_cached_per_query() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<super::Plan>();
    send_sync::<super::SearchOutcome>();
    let t = trace((1..=12u8).map(|i| span(i).attr("n", Value::Int(i64::from(i)))).collect());
    // More distinct queries than the cache holds, interleaved, from two threads.
    let work = || {
        for round in 0..3 {
            for n in 1..=12 {
                let query = crate::parse(&format!("{{ .n = {n} }}")).unwrap();
                assert_eq!(ids(&query.evaluate(&t), &t), vec![vec![n as u8]], "round {round}");
            }
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(work);
        work();
    });
}
