//! The frontend's two questions to TraceQL: is this query valid (and is it a metrics query), and
//! which field does this tag name refer to. Both answers come from `strand_traceql`; this file
//! only words its errors the way Tempo's API does.

use strand_traceql::{FieldRef, Static};

/// What a valid query is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// Finds spansets: `/api/search`. `most_recent` is the hint `with(most_recent=true)`: the
    /// answer must be the most recent matching traces, not the first found.
    Search { most_recent: bool },
    /// Computes series: `/api/metrics/*`.
    Metrics,
}

/// Parses and validates `query`. The error is the parser's message, for `invalid TraceQL query:`.
pub(crate) fn check_query(query: &str) -> Result<QueryKind, String> {
    match strand_traceql::compile(query) {
        Ok(query) if query.is_metrics() => Ok(QueryKind::Metrics),
        Ok(query) => {
            let most_recent = matches!(query.hint("most_recent"), Some(Static::Bool(true)));
            Ok(QueryKind::Search { most_recent })
        }
        Err(err) => Err(err.to_string()),
    }
}

/// Reads a tag name the way `/api/v2/search/tag/{tag}/values` takes it. The error reads
/// `failed to parse identifier <tag>: <why>`, as Tempo's does.
pub(crate) fn parse_tag(text: &str) -> Result<FieldRef, String> {
    strand_traceql::parse_identifier(text).map_err(|err| format!("failed to parse identifier {text}: {err}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strand_traceql::{AttributeScope, Intrinsic};

    use super::*;

    #[test]
    fn queries_are_checked_and_metrics_recognised() {
        let search = Ok(QueryKind::Search { most_recent: false });
        assert_eq!(check_query("{}"), search);
        assert_eq!(check_query(r#"{ .a = "}" }"#), search);
        assert_eq!(check_query("{} with(most_recent=false)"), search);
        assert_eq!(check_query("{} with(most_recent=true)"), Ok(QueryKind::Search { most_recent: true }));
        assert_eq!(check_query("{} | rate()"), Ok(QueryKind::Metrics));
        assert_eq!(check_query("{ } | count_over_time() by (.x)"), Ok(QueryKind::Metrics));
        assert!(check_query("foo").is_err());
        assert!(check_query("{ .a = 1").is_err());
    }

    #[test]
    fn tag_names_are_identifiers() {
        assert_eq!(parse_tag("status").unwrap(), FieldRef::Intrinsic(Intrinsic::Status));
        assert_eq!(parse_tag("trace:rootService").unwrap(), FieldRef::Intrinsic(Intrinsic::RootServiceName));
        assert_eq!(
            parse_tag("resource.service.name").unwrap(),
            FieldRef::attribute(AttributeScope::Resource, "service.name")
        );
        assert_eq!(parse_tag(".a/b:c").unwrap(), FieldRef::attribute(AttributeScope::Unscoped, "a/b:c"));
        assert_eq!(parse_tag(r#"span."x y""#).unwrap(), FieldRef::attribute(AttributeScope::Span, "x y"));
        // Tempo's integration test matches this prefix; the rest is the parser's own wording.
        let err = parse_tag("app.user.id").unwrap_err();
        assert!(err.starts_with("failed to parse identifier app.user.id: parse error at line 1, col "), "{err}");
        assert!(parse_tag(".a b").is_err());
    }
}
