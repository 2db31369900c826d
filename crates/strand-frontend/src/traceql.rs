//! The frontend's two questions to TraceQL: is this query valid (and is it a metrics query), and
//! which field does this tag name refer to.
//!
//! TEMPORARY SHIM: `strand_traceql::compile` and `strand_traceql::parse_identifier` are being
//! written in parallel. Until they land, this file answers both questions with a deliberately
//! small stand-in (balanced braces, metrics pipe detection, identifier spelling rules). Once they
//! exist, the bodies of `check_query` and `parse_tag` become one call each and everything below
//! them goes.

use strand_traceql::{AttributeScope, FieldRef, Intrinsic};

/// What a valid query is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// Finds spansets: `/api/search`.
    Search,
    /// Computes series: `/api/metrics/*`.
    Metrics,
}

/// Parses and validates `query`. The error is the parser's message, for `invalid TraceQL query:`.
pub(crate) fn check_query(query: &str) -> Result<QueryKind, String> {
    shim::compile(query)
}

/// Reads a tag name the way `/api/v2/search/tag/{tag}/values` takes it. The error reads
/// `failed to parse identifier <tag>: <why>`, as Tempo's does.
pub(crate) fn parse_tag(text: &str) -> Result<FieldRef, String> {
    shim::parse_identifier(text)
}

mod shim {
    use super::*;

    const METRICS_FUNCTIONS: [&str; 9] = [
        "rate(",
        "count_over_time(",
        "avg_over_time(",
        "sum_over_time(",
        "max_over_time(",
        "min_over_time(",
        "quantile_over_time(",
        "histogram_over_time(",
        "compare(",
    ];

    pub(super) fn compile(query: &str) -> Result<QueryKind, String> {
        let trimmed = query.trim();
        if !trimmed.starts_with('{') {
            return Err("parse error at line 1, col 1: syntax error: unexpected IDENTIFIER".into());
        }
        let mut depth = 0i32;
        let mut in_string = false;
        let mut escaped = false;
        for (index, character) in trimmed.char_indices() {
            if in_string {
                match (escaped, character) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match character {
                '"' => in_string = true,
                '{' | '(' => depth += 1,
                '}' | ')' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return Err(format!("parse error at line 1, col {}: syntax error: unexpected '{character}'", index + 1));
            }
        }
        if depth != 0 || in_string {
            return Err(format!("parse error at line 1, col {}: syntax error: unexpected $end", trimmed.len() + 1));
        }
        let metrics = trimmed.split('|').skip(1).any(|stage| {
            let stage = stage.trim_start();
            METRICS_FUNCTIONS.iter().any(|function| stage.starts_with(function))
        });
        Ok(if metrics { QueryKind::Metrics } else { QueryKind::Search })
    }

    pub(super) fn parse_identifier(text: &str) -> Result<FieldRef, String> {
        let fail = |why: &str| Err(format!("failed to parse identifier {text}: {why}"));
        if let Some(intrinsic) = intrinsic(text) {
            return Ok(FieldRef::Intrinsic(intrinsic));
        }
        const SCOPES: [(&str, AttributeScope); 7] = [
            ("resource.", AttributeScope::Resource),
            ("span.", AttributeScope::Span),
            ("event.", AttributeScope::Event),
            ("link.", AttributeScope::Link),
            ("instrumentation.", AttributeScope::Instrumentation),
            ("parent.", AttributeScope::Parent),
            (".", AttributeScope::Unscoped),
        ];
        let Some((scope, rest)) = SCOPES.iter().find_map(|(prefix, scope)| Some((*scope, text.strip_prefix(prefix)?)))
        else {
            return fail("syntax error: unexpected IDENTIFIER");
        };
        let name = if let Some(quoted) = rest.strip_prefix('"') {
            match quoted.strip_suffix('"') {
                Some(inner) if !inner.is_empty() => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
                _ => return fail("syntax error: unterminated quoted attribute"),
            }
        } else {
            rest.to_string()
        };
        let bad = |c: char| c.is_whitespace() || "{}()=~!<>&|^,\"".contains(c);
        if name.is_empty() || (!rest.starts_with('"') && name.chars().any(bad)) {
            return fail("syntax error: unexpected character");
        }
        Ok(FieldRef::Attribute { scope, name })
    }

    fn intrinsic(text: &str) -> Option<Intrinsic> {
        let aliased = match text {
            "span:name" => Intrinsic::Name,
            "span:status" => Intrinsic::Status,
            "span:statusMessage" => Intrinsic::StatusMessage,
            "span:kind" => Intrinsic::Kind,
            "span:duration" => Intrinsic::Duration,
            "trace:duration" => Intrinsic::TraceDuration,
            "trace:rootName" => Intrinsic::RootName,
            "trace:rootService" => Intrinsic::RootServiceName,
            other => return Intrinsic::ALL.into_iter().find(|i| i.as_str() == other),
        };
        Some(aliased)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked_and_metrics_recognised() {
        assert_eq!(check_query("{}"), Ok(QueryKind::Search));
        assert_eq!(check_query(r#"{ .a = "}" }"#), Ok(QueryKind::Search));
        assert_eq!(check_query("{} | rate()"), Ok(QueryKind::Metrics));
        assert_eq!(check_query("{ } | count_over_time() by (.x)"), Ok(QueryKind::Metrics));
        assert!(check_query("foo").is_err());
        assert!(check_query("{ .a = 1").is_err());
    }

    #[test]
    fn tag_names_are_identifiers() {
        assert_eq!(parse_tag("status").unwrap(), FieldRef::Intrinsic(Intrinsic::Status));
        assert_eq!(parse_tag("trace:rootService").unwrap(), FieldRef::Intrinsic(Intrinsic::RootServiceName));
        assert_eq!(parse_tag("resource.service.name").unwrap(), FieldRef::attribute(AttributeScope::Resource, "service.name"));
        assert_eq!(parse_tag(".a/b:c").unwrap(), FieldRef::attribute(AttributeScope::Unscoped, "a/b:c"));
        assert_eq!(parse_tag(r#"span."x y""#).unwrap(), FieldRef::attribute(AttributeScope::Span, "x y"));
        assert!(parse_tag("service.name").unwrap_err().starts_with("failed to parse identifier service.name: "));
        assert!(parse_tag(".a b").is_err());
    }
}
