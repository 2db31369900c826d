//! Tempo's pre-TraceQL search: `tags=k=v k2="v 2"` with `minDuration`/`maxDuration`, turned into
//! the TraceQL query that finds the same traces, so the querier only ever runs TraceQL.
//!
//! The matching rules are those of Tempo's vParquet block search (`makePipelineWithRowGroups`):
//!
//! - `root.name`, `root.service.name`: substring of the root span's name / service;
//! - `name`: substring of a span's name;
//! - `status.code`: `ok`, `error` or `unset` (anything else counts as `unset`, as in Tempo);
//! - `http.status_code`: the number, when the value is one; else like any other attribute;
//! - the well-known resource attributes (`service.name`, `cluster`, `namespace`, `pod`,
//!   `container`, `k8s.{cluster,namespace,pod,container}.name`) and span attributes
//!   (`http.method`, `http.url`): substring;
//! - every other key: exact value, on the span or on its resource.
//!
//! Each tag is its own spanset, joined with `&&`: the conditions may be met by different spans of
//! the trace, as in Tempo. Durations bound the trace's duration.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use strand_traceql::{AttributeScope, Intrinsic};

/// Decodes a logfmt record list into tags, refusing a key given twice. Errors are Tempo's
/// (`invalid tags: ...`) without the `invalid tags: ` prefix.
pub(crate) fn decode_tags(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    for line in text.split('\n') {
        let mut decoder = Decoder { line: line.strip_suffix('\r').unwrap_or(line).as_bytes(), pos: 0 };
        while let Some((key, value)) = decoder.next_pair()? {
            if tags.contains_key(&key) {
                return Err(format!("tag {key} has been set twice"));
            }
            tags.insert(key, value);
        }
    }
    Ok(tags)
}

/// One line of logfmt, scanned like go-logfmt's decoder.
struct Decoder<'a> {
    line: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn syntax_error(&self, message: &str) -> String {
        format!("{message} at pos {}", self.pos + 1)
    }

    fn unexpected(&self, byte: u8) -> String {
        self.syntax_error(&format!("unexpected {:?}", byte as char))
    }

    fn text(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(self.line.get(start..end).unwrap_or_default()).into_owned()
    }

    /// The next `key[=value]`, or `None` at the end of the line.
    fn next_pair(&mut self) -> Result<Option<(String, String)>, String> {
        let line = self.line;
        while self.pos < line.len() && line[self.pos] <= b' ' {
            self.pos += 1;
        }
        if self.pos >= line.len() {
            return Ok(None);
        }
        let start = self.pos;
        while self.pos < line.len() {
            match line[self.pos] {
                b'=' if self.pos == start => return Err(self.unexpected(b'=')),
                b'=' => break,
                b'"' => return Err(self.unexpected(b'"')),
                byte if byte <= b' ' => return Ok(Some((self.text(start, self.pos), String::new()))),
                _ => self.pos += 1,
            }
        }
        let key = self.text(start, self.pos);
        if self.pos >= line.len() {
            return Ok(Some((key, String::new())));
        }
        // Past the `=`.
        self.pos += 1;
        match line.get(self.pos) {
            None => Ok(Some((key, String::new()))),
            Some(byte) if *byte <= b' ' => Ok(Some((key, String::new()))),
            Some(b'"') => self.quoted_value().map(|value| Some((key, value))),
            Some(_) => {
                let start = self.pos;
                while self.pos < line.len() {
                    match line[self.pos] {
                        byte @ (b'=' | b'"') => return Err(self.unexpected(byte)),
                        byte if byte <= b' ' => break,
                        _ => self.pos += 1,
                    }
                }
                Ok(Some((key, self.text(start, self.pos))))
            }
        }
    }

    /// A `"..."` value with JSON-style escapes; `pos` is at the opening quote.
    fn quoted_value(&mut self) -> Result<String, String> {
        let start = self.pos;
        let mut escaped = false;
        for (offset, byte) in self.line[start + 1..].iter().enumerate() {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    self.pos = start + offset + 2;
                    let literal = self.text(start, self.pos);
                    return serde_json::from_str::<String>(&literal)
                        .map_err(|_| self.syntax_error("invalid quoted value"));
                }
                _ => {}
            }
        }
        self.pos = self.line.len();
        Err(self.syntax_error("unterminated quoted value"))
    }
}

const SUBSTRING_RESOURCE_ATTRIBUTES: [&str; 9] = [
    "service.name",
    "cluster",
    "namespace",
    "pod",
    "container",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
];
const SUBSTRING_SPAN_ATTRIBUTES: [&str; 2] = ["http.method", "http.url"];

/// The TraceQL query equivalent to a legacy tag search. No tags and no durations give `{}`.
pub(crate) fn tags_to_traceql(tags: &BTreeMap<String, String>, min_duration_ms: u32, max_duration_ms: u32) -> String {
    let mut filters: Vec<String> = tags.iter().map(|(key, value)| tag_condition(key, value)).collect();
    let mut durations = Vec::new();
    if min_duration_ms > 0 {
        durations.push(format!("{} >= {min_duration_ms}ms", Intrinsic::TraceDuration));
    }
    if max_duration_ms > 0 {
        durations.push(format!("{} <= {max_duration_ms}ms", Intrinsic::TraceDuration));
    }
    if !durations.is_empty() {
        filters.push(durations.join(" && "));
    }
    if filters.is_empty() {
        return "{}".to_string();
    }
    filters.iter().map(|condition| format!("{{ {condition} }}")).collect::<Vec<_>>().join(" && ")
}

fn tag_condition(key: &str, value: &str) -> String {
    let contains = |field: String| format!("{field} =~ {}", string_literal(&format!(".*{}.*", quote_regex(value))));
    let equals = |field: String| format!("{field} = {}", string_literal(value));
    match key {
        "root.name" => contains(Intrinsic::RootName.to_string()),
        "root.service.name" => contains(Intrinsic::RootServiceName.to_string()),
        "name" => contains(Intrinsic::Name.to_string()),
        "status.code" => {
            let status = if matches!(value, "ok" | "error") { value } else { "unset" };
            format!("{} = {status}", Intrinsic::Status)
        }
        "http.status_code" if is_go_int(value) => {
            format!("{} = {}", attribute(AttributeScope::Span, key), value.trim_start_matches('+'))
        }
        _ if SUBSTRING_RESOURCE_ATTRIBUTES.contains(&key) => contains(attribute(AttributeScope::Resource, key)),
        _ if SUBSTRING_SPAN_ATTRIBUTES.contains(&key) => contains(attribute(AttributeScope::Span, key)),
        _ => equals(attribute(AttributeScope::Unscoped, key)),
    }
}

/// Go's `strconv.Atoi` accepts an optional sign and decimal digits.
fn is_go_int(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `scope.name`, quoting the name when TraceQL would end an unquoted one early.
fn attribute(scope: AttributeScope, name: &str) -> String {
    let ends_identifier = |c: char| c.is_whitespace() || "{}()=~!<>&|^,\"\\".contains(c);
    if !name.is_empty() && !name.contains(ends_identifier) {
        return format!("{}{name}", scope.prefix());
    }
    format!("{}{}", scope.prefix(), string_literal(name))
}

/// A TraceQL string literal.
fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escapes regex metacharacters, like Go's `regexp.QuoteMeta`.
fn quote_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$".contains(character) {
            out.push('\\');
        }
        out.push(character);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::traceql::{QueryKind, check_query};

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn logfmt_is_decoded_like_go_logfmt() {
        assert_eq!(
            decode_tags(r#"service.name="cart svc" http.method=GET flag"#).unwrap(),
            tags(&[("service.name", "cart svc"), ("http.method", "GET"), ("flag", "")])
        );
        assert_eq!(
            decode_tags(r#"a="q\"uote\\d" b= c="""#).unwrap(),
            tags(&[("a", r#"q"uote\d"#), ("b", ""), ("c", "")])
        );
        assert_eq!(decode_tags("a=1\nb=2").unwrap(), tags(&[("a", "1"), ("b", "2")]));
        assert_eq!(decode_tags("  ").unwrap(), BTreeMap::new());
    }

    #[test]
    fn logfmt_errors_say_where() {
        assert_eq!(decode_tags("a=1 a=2").unwrap_err(), "tag a has been set twice");
        assert_eq!(decode_tags("=x").unwrap_err(), "unexpected '=' at pos 1");
        assert_eq!(decode_tags(r#"a"b=1"#).unwrap_err(), r#"unexpected '"' at pos 2"#);
        assert_eq!(decode_tags("a=b=c").unwrap_err(), "unexpected '=' at pos 4");
        assert_eq!(decode_tags(r#"a="open"#).unwrap_err(), "unterminated quoted value at pos 8");
        assert_eq!(decode_tags(r#"a="\x""#).unwrap_err(), "invalid quoted value at pos 7");
    }

    #[test]
    fn nothing_to_match_is_every_trace() {
        assert_eq!(tags_to_traceql(&BTreeMap::new(), 0, 0), "{}");
    }

    #[test]
    fn well_known_tags_follow_tempos_vparquet_rules() {
        let query = tags_to_traceql(
            &tags(&[
                ("root.name", "GET /a.b"),
                ("root.service.name", "shop"),
                ("name", "op"),
                ("status.code", "error"),
                ("http.status_code", "500"),
                ("service.name", "cart"),
                ("http.method", "GET"),
                ("team", "payments"),
            ]),
            0,
            0,
        );
        assert_eq!(
            query,
            concat!(
                r#"{ span.http.method =~ ".*GET.*" } && { span.http.status_code = 500 } && { name =~ ".*op.*" } && "#,
                r#"{ rootName =~ ".*GET /a\\.b.*" } && { rootServiceName =~ ".*shop.*" } && "#,
                r#"{ resource.service.name =~ ".*cart.*" } && { status = error } && { .team = "payments" }"#
            )
        );
    }

    #[test]
    fn odd_values_and_keys_are_quoted_and_fall_back_like_tempo() {
        assert_eq!(tags_to_traceql(&tags(&[("status.code", "weird")]), 0, 0), "{ status = unset }");
        assert_eq!(tags_to_traceql(&tags(&[("http.status_code", "5xx")]), 0, 0), r#"{ .http.status_code = "5xx" }"#);
        assert_eq!(tags_to_traceql(&tags(&[("my key", "a\"b")]), 0, 0), r#"{ ."my key" = "a\"b" }"#);
        assert_eq!(tags_to_traceql(&tags(&[("k8s/pod:x", "v")]), 0, 0), r#"{ .k8s/pod:x = "v" }"#);
    }

    #[test]
    fn every_translation_is_valid_traceql() {
        let all = tags(&[
            ("root.name", "a\"b\\c.*"),
            ("root.service.name", "(x)"),
            ("name", "GET /{id}"),
            ("status.code", "ok"),
            ("http.status_code", "-1"),
            ("service.name", "$^"),
            ("http.url", "https://x/?a=b&c"),
            ("my key", "tab\there"),
            ("k8s/pod:x", "é"),
            ("empty", ""),
        ]);
        for query in [tags_to_traceql(&all, 1, 2), tags_to_traceql(&BTreeMap::new(), 0, 5)] {
            assert_eq!(check_query(&query), Ok(QueryKind::Search { most_recent: false }), "{query}");
        }
    }

    #[test]
    fn durations_bound_the_trace() {
        assert_eq!(tags_to_traceql(&BTreeMap::new(), 100, 0), "{ traceDuration >= 100ms }");
        assert_eq!(
            tags_to_traceql(&tags(&[("a", "b")]), 100, 2000),
            r#"{ .a = "b" } && { traceDuration >= 100ms && traceDuration <= 2000ms }"#
        );
    }
}
