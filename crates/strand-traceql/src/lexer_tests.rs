use super::*;

fn toks(input: &str) -> Vec<Tok> {
    let (tokens, end) = tokenize(input);
    assert!(end.is_ok(), "{input:?} should lex: {end:?}");
    tokens.into_iter().map(|t| t.tok).collect()
}

fn lex_error(input: &str) -> ParseError {
    match tokenize(input).1 {
        Err(e) => e,
        Ok(_) => panic!("{input:?} should not lex"),
    }
}

fn attr(scope: AttributeScope, name: &str) -> Tok {
    Tok::Attribute { scope, name: name.to_string() }
}

const S: i64 = 1_000_000_000;

#[test]
fn attribute_names_run_to_a_terminator() {
    use AttributeScope::*;
    assert_eq!(toks(".foo+bar"), [attr(Unscoped, "foo+bar")]);
    assert_eq!(toks(".foo-bar"), [attr(Unscoped, "foo-bar")]);
    assert_eq!(toks(".http.status_code"), [attr(Unscoped, "http.status_code")]);
    assert_eq!(toks("span.http.method"), [attr(Span, "http.method")]);
    assert_eq!(toks("resource.service.name"), [attr(Resource, "service.name")]);
    assert_eq!(toks("span.resource.foo"), [attr(Span, "resource.foo")]);
    assert_eq!(
        toks("event.x link.y instrumentation.z"),
        [attr(Event, "x"), attr(Link, "y"), attr(Instrumentation, "z")]
    );
    assert_eq!(toks(".count"), [attr(Unscoped, "count")]);
    assert_eq!(toks(".😝"), [attr(Unscoped, "😝")]);
    assert_eq!(toks(".foo/bar"), [attr(Unscoped, "foo/bar")]);
    assert_eq!(toks(".a\\b"), [attr(Unscoped, "a\\b")]);
    // Each of these ends the name.
    for (text, end) in [
        ("}", Punct::RBrace),
        ("{", Punct::LBrace),
        (")", Punct::RParen),
        ("(", Punct::LParen),
        (",", Punct::Comma),
        ("=", Punct::Eq),
        ("!=", Punct::NotEq),
        ("=~", Punct::Regex),
        ("<", Punct::Lt),
        (">", Punct::Gt),
        ("&&", Punct::And),
        ("||", Punct::Or),
        ("^", Punct::Pow),
        ("~", Punct::Tilde),
    ] {
        assert_eq!(toks(&format!(".foo{text}.bar")), [attr(Unscoped, "foo"), Tok::Punct(end), attr(Unscoped, "bar")]);
    }
    assert_eq!(toks(".foo .bar"), [attr(Unscoped, "foo"), attr(Unscoped, "bar")]);
}

#[test]
fn quoted_attribute_parts() {
    use AttributeScope::*;
    assert_eq!(toks(r#"."foo bar""#), [attr(Unscoped, "foo bar")]);
    assert_eq!(toks(r#"."bar z".foo."bar""#), [attr(Unscoped, "bar z.foo.bar")]);
    assert_eq!(toks(r#".foo."bar \" baz""#), [attr(Unscoped, r#"foo.bar " baz"#)]);
    assert_eq!(toks(r#".foo."bar \\ baz""#), [attr(Unscoped, r"foo.bar \ baz")]);
    assert_eq!(toks(r#"span."a}b""#), [attr(Span, "a}b")]);
    assert_eq!(toks(".\"tab\there\""), [attr(Unscoped, "tab\there")]);
    assert_eq!(toks(r#"."""#), [attr(Unscoped, "")]);
    assert!(lex_error(r#"."a\nb""#).message().contains("invalid escape"));
    assert!(lex_error(r#"{ ."foo }"#).message().contains("unexpected end of query"));
}

#[test]
fn empty_attribute_names_are_errors() {
    for text in [". foo", "{ . }", "span. ", "parent.", "parent.span. "] {
        let error = lex_error(text);
        assert!(error.message().contains("expected an attribute name"), "{text}: {error}");
    }
}

#[test]
fn parent_scopes() {
    use AttributeScope::*;
    assert_eq!(toks("parent.foo"), [attr(Parent, "foo")]);
    assert_eq!(toks("parent.span.foo"), [attr(Parent, "span.foo")]);
    assert_eq!(toks("parent.resource.foo.bar"), [attr(Parent, "resource.foo.bar")]);
    assert_eq!(toks("parent.span.resource.id"), [attr(Parent, "span.resource.id")]);
    assert_eq!(toks("parent"), [Tok::Keyword(Keyword::Parent)]);
}

#[test]
fn a_dot_before_a_digit_starts_a_number() {
    assert_eq!(toks(".3"), [Tok::Float(0.3)]);
    assert_eq!(toks(".24h"), [Tok::Duration(24 * 36 * S)]);
    assert_eq!(toks(".foo.3"), [attr(AttributeScope::Unscoped, "foo.3")]);
}

#[test]
fn scoped_intrinsics() {
    assert_eq!(toks("span:name"), [Tok::Colon(ColonScope::Span), Tok::Keyword(Keyword::Name)]);
    assert_eq!(toks("trace:rootService"), [Tok::Colon(ColonScope::Trace), Tok::Keyword(Keyword::RootService)]);
    assert_eq!(toks("link:traceID"), [Tok::Colon(ColonScope::Link), Tok::Keyword(Keyword::TraceId)]);
    assert_eq!(toks("event: name"), [Tok::Colon(ColonScope::Event), Tok::Keyword(Keyword::Name)]);
}

#[test]
fn durations() {
    let cases = [
        ("1ns", 1),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("1ms", 1_000_000),
        ("1s", S),
        ("1m", 60 * S),
        ("1h", 3600 * S),
        ("1d", 86_400 * S),
        ("1w", 7 * 86_400 * S),
        ("1y", 365 * 86_400 * S),
        ("1h30m", 5400 * S),
        ("1.5s", 3 * S / 2),
        ("1.5m", 90 * S),
        ("1h15m30.918273645s", 4530 * S + 918_273_645),
    ];
    for (text, nanos) in cases {
        assert_eq!(toks(text), [Tok::Duration(nanos)], "{text}");
    }
    assert_eq!(toks("1t"), [Tok::Int(1), Tok::Ident("t".into())]);
    assert_eq!(toks("10s*2"), [Tok::Duration(10 * S), Tok::Punct(Punct::Mul), Tok::Int(2)]);
    assert_eq!(toks("1s)"), [Tok::Duration(S), Tok::Punct(Punct::RParen)]);
    // Units must read as one duration, or the number stands alone.
    assert_eq!(toks("1s2"), [Tok::Int(1), Tok::Ident("s2".into())]);
}

#[test]
fn numbers() {
    assert_eq!(
        toks("42 1.5 1. 1e3 2.5E-2"),
        [Tok::Int(42), Tok::Float(1.5), Tok::Float(1.0), Tok::Float(1000.0), Tok::Float(0.025)]
    );
    assert_eq!(toks("9223372036854775807"), [Tok::Int(i64::MAX)]);
    assert_eq!(toks("007"), [Tok::Int(7)]);
    for bad in ["9223372036854775808", "0x10", "08", "1e", "1e999"] {
        assert!(tokenize(bad).1.is_err(), "{bad}");
    }
}

#[test]
fn strings() {
    assert_eq!(toks(r#""a\tb\x41\u00e9\101\"\\""#), [Tok::Str("a\tbAéA\"\\".into())]);
    assert_eq!(toks("`raw \\n\r\nline`"), [Tok::Str("raw \\n\nline".into())]);
    assert_eq!(toks("\"tab\tinside\""), [Tok::Str("tab\tinside".into())]);
    for bad in ["\"open", "\"new\nline\"", r#""\q""#, r#""\'""#, r#""\xff""#, r#""\ud800""#, "`open"] {
        assert!(tokenize(bad).1.is_err(), "{bad}");
    }
}

#[test]
fn longest_operator_wins() {
    let punct = |text: &str| toks(text).into_iter().collect::<Vec<_>>();
    use Punct::*;
    for (text, expected) in [
        ("&&", And),
        (">>", Desc),
        ("<<", Ance),
        ("!<<", NotAnce),
        ("!>>", NotDesc),
        ("!<", NotParent),
        ("!>", NotChild),
        ("!", Not),
        ("!~", NotRegex),
        ("&>>", UnionDesc),
        ("&<<", UnionAnce),
        ("&>", UnionChild),
        ("&<", UnionParent),
        ("&~", UnionSibl),
        ("=~", Regex),
        ("!=", NotEq),
        ("<=", Lte),
        (">=", Gte),
        ("||", Or),
        ("|", Pipe),
    ] {
        assert_eq!(punct(text), [Tok::Punct(expected)], "{text}");
    }
    assert_eq!(punct("=="), [Tok::Punct(Eq), Tok::Punct(Eq)]);
    assert_eq!(punct(">>="), [Tok::Punct(Desc), Tok::Punct(Eq)]);
    assert!(tokenize("&").1.is_err());
}

#[test]
fn comments_are_skipped() {
    assert_eq!(
        toks("{ /* x */ true } // trailing"),
        [Tok::Punct(Punct::LBrace), Tok::Keyword(Keyword::True), Tok::Punct(Punct::RBrace)]
    );
    assert!(lex_error("{ /* open").message().contains("comment"));
}

#[test]
fn positions_are_one_based_lines_and_character_columns() {
    let (tokens, end) = tokenize("{ .é = 1 }\n  | rate()");
    let positions: Vec<(u32, u32)> = tokens.iter().map(|t| (t.pos.line, t.pos.col)).collect();
    assert_eq!(positions, [(1, 1), (1, 3), (1, 6), (1, 8), (1, 10), (2, 3), (2, 5), (2, 9), (2, 10)]);
    assert_eq!(end.ok(), Some(Pos { line: 2, col: 11 }));
}
