//! Tag names and tag values, v1 and v2, as Grafana's autocomplete and filters ask for them.
//!
//! - `/api/search/tags`: one flat, sorted list (resource and span attributes unless `scope` says
//!   otherwise).
//! - `/api/v2/search/tags`: names per scope, with a fixed `intrinsic` list.
//! - `/api/search/tag/{tag}/values`: the values of a bare attribute name, as strings.
//! - `/api/v2/search/tag/{tag}/values`: `{tag}` is a TraceQL field; values are typed. The values
//!   of `status` and `kind` are known without looking, and durations are not listed, as in Tempo.
//!
//! `{tag}` is everything between `/tag/` and the final `/values`, so names may hold `/`, `.` and
//! `:`; it is percent-decoded once. An unparseable `q` filter is ignored, never an error.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use prost::Message;
use strand_model::{TagScope, TagValuesRequest, TagsRequest, TenantId, TypedValue};
use strand_proto::tempopb::{
    MetadataMetrics, SearchTagValuesResponse, SearchTagValuesV2Response, SearchTagsResponse, SearchTagsV2Response,
    SearchTagsV2Scope, TagValue,
};
use strand_traceql::{AttributeScope, FieldRef, Intrinsic};

use crate::error::FrontendError;
use crate::http::{FrontendState, resolve_tenant, respond, wants_protobuf};
use crate::params::{Params, percent_decode};
use crate::search::{check_window, max_search_duration};
use crate::search_json;
use crate::traceql::{QueryKind, check_query, parse_tag};

/// What the `intrinsic` scope lists: Tempo's autocomplete list.
pub(crate) const INTRINSIC_TAGS: [&str; 17] = [
    "duration",
    "event:name",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:kind",
    "span:name",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// The attribute scopes the querier is asked about, in the order v2 lists them.
const ATTRIBUTE_SCOPES: [TagScope; 5] =
    [TagScope::Resource, TagScope::Span, TagScope::Event, TagScope::Link, TagScope::Instrumentation];

/// The `scope` parameter of the tag-name routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScopeParam {
    /// Empty or `none`: every scope (v1: resource and span).
    All,
    /// One scope.
    One(TagScope),
    /// `trace`: valid in Tempo, but no attributes live there.
    Trace,
}

fn scope_param(params: &Params) -> Result<ScopeParam, FrontendError> {
    let scope = params.get("scope").unwrap_or("");
    let one = match scope {
        "" | "none" => return Ok(ScopeParam::All),
        "trace" => return Ok(ScopeParam::Trace),
        "resource" => TagScope::Resource,
        "span" => TagScope::Span,
        "intrinsic" => TagScope::Intrinsic,
        "event" => TagScope::Event,
        "link" => TagScope::Link,
        "instrumentation" => TagScope::Instrumentation,
        other => return Err(FrontendError::InvalidScope(other.to_string())),
    };
    Ok(ScopeParam::One(one))
}

/// What every tag route reads besides its own parameters.
struct Common {
    tenant: TenantId,
    query: Option<String>,
    start_secs: u32,
    end_secs: u32,
    limit: u32,
    protobuf: bool,
}

fn common(
    state: &FrontendState,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<(Common, Params), FrontendError> {
    let tenant = resolve_tenant(headers, state.multitenancy_enabled)?;
    tracing::Span::current().record("tenant", tenant.as_str());
    let Query(pairs) = query.map_err(|rejection| FrontendError::InvalidRequest(rejection.body_text()))?;
    let params = Params(pairs);
    let (start_secs, end_secs) = params.time_range()?;
    check_window(
        start_secs,
        end_secs,
        max_search_duration(&state.config.search, &state.overrides.limits(&tenant).read),
    )?;
    let limit = params.u32("limit")?.unwrap_or(0);
    params.u32("maxStaleValues")?;
    // A filter that does not parse narrows nothing: Grafana sends half-typed queries.
    let query = params.get("q").filter(|q| matches!(check_query(q), Ok(QueryKind::Search { .. }))).map(str::to_string);
    let protobuf = wants_protobuf(headers);
    Ok((Common { tenant, query, start_secs, end_secs, limit, protobuf }, params))
}

async fn encode<T: Message + Send + 'static>(
    protobuf: bool,
    message: T,
    json: fn(&T) -> Vec<u8>,
) -> Result<Response, FrontendError> {
    let body = strand_common::spawn_cpu(move || if protobuf { message.encode_to_vec() } else { json(&message) })
        .await
        .map_err(|_| FrontendError::Encode)?;
    Ok(respond(protobuf, body))
}

/// Asks the querier for attribute names in `scopes`; intrinsics are never asked for.
async fn attribute_tags(
    state: &FrontendState,
    common: &Common,
    scopes: &[TagScope],
) -> Result<(Vec<(TagScope, Vec<String>)>, u64), FrontendError> {
    let request = TagsRequest {
        scopes: scopes.to_vec(),
        query: common.query.clone(),
        start_secs: common.start_secs,
        end_secs: common.end_secs,
        limit: common.limit,
    };
    let answer = state.search.search_tags(&common.tenant, &request).await.map_err(FrontendError::Query)?;
    let tags = answer.scopes.into_iter().filter(|(scope, _)| scopes.contains(scope)).collect();
    Ok((tags, answer.inspected_bytes))
}

fn sorted_unique(mut names: Vec<String>, limit: u32) -> Vec<String> {
    names.sort_unstable();
    names.dedup();
    if limit != 0 {
        names.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    names
}

fn intrinsic_tags() -> Vec<String> {
    INTRINSIC_TAGS.iter().map(|name| name.to_string()).collect()
}

#[tracing::instrument(skip_all, fields(tenant))]
pub(crate) async fn tags_v1(
    State(state): State<Arc<FrontendState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, FrontendError> {
    let (common, params) = common(&state, query, &headers)?;
    let scope = scope_param(&params)?;
    let (names, inspected_bytes) = match scope {
        ScopeParam::Trace => (Vec::new(), 0),
        ScopeParam::One(TagScope::Intrinsic) => (intrinsic_tags(), 0),
        ScopeParam::One(one) => {
            let (tags, bytes) = attribute_tags(&state, &common, &[one]).await?;
            (tags.into_iter().flat_map(|(_, names)| names).collect(), bytes)
        }
        ScopeParam::All => {
            let (tags, bytes) = attribute_tags(&state, &common, &[TagScope::Resource, TagScope::Span]).await?;
            (tags.into_iter().flat_map(|(_, names)| names).collect(), bytes)
        }
    };
    let response = SearchTagsResponse {
        tag_names: sorted_unique(names, common.limit),
        metrics: Some(MetadataMetrics { inspected_bytes, ..Default::default() }),
    };
    encode(common.protobuf, response, search_json::tags_response).await
}

#[tracing::instrument(skip_all, fields(tenant))]
pub(crate) async fn tags_v2(
    State(state): State<Arc<FrontendState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, FrontendError> {
    let (common, params) = common(&state, query, &headers)?;
    let wanted: Vec<TagScope> = match scope_param(&params)? {
        ScopeParam::Trace => Vec::new(),
        ScopeParam::One(one) => vec![one],
        ScopeParam::All => TagScope::ALL.to_vec(),
    };
    let attribute_scopes: Vec<TagScope> = wanted.iter().copied().filter(|s| ATTRIBUTE_SCOPES.contains(s)).collect();
    let (mut found, inspected_bytes) = if attribute_scopes.is_empty() {
        (Vec::new(), 0)
    } else {
        attribute_tags(&state, &common, &attribute_scopes).await?
    };
    let mut scopes = Vec::new();
    for scope in wanted {
        let names = if scope == TagScope::Intrinsic {
            intrinsic_tags()
        } else {
            found.iter_mut().filter(|(s, _)| *s == scope).flat_map(|(_, names)| std::mem::take(names)).collect()
        };
        let tags = sorted_unique(names, common.limit);
        if !tags.is_empty() {
            scopes.push(SearchTagsV2Scope { name: scope.as_str().to_string(), tags });
        }
    }
    let response =
        SearchTagsV2Response { scopes, metrics: Some(MetadataMetrics { inspected_bytes, ..Default::default() }) };
    encode(common.protobuf, response, search_json::tags_v2_response).await
}

/// The decoded `{tag}` of `…/search/tag/{tag}/values`, read from the raw path so that an encoded
/// `/` is kept and decoded exactly once. `None` when the path does not end in `/values`.
fn tag_from_path(uri: &Uri) -> Result<Option<String>, FrontendError> {
    let Some((_, rest)) = uri.path().split_once("/search/tag/") else { return Ok(None) };
    let Some(raw) = rest.strip_suffix("/values") else { return Ok(None) };
    let tag = percent_decode(raw)
        .ok_or_else(|| FrontendError::InvalidRequest("tag name is not valid UTF-8 once percent-decoded".into()))?;
    if tag.is_empty() {
        return Err(FrontendError::InvalidRequest("please provide a non-empty tagName".into()));
    }
    Ok(Some(tag))
}

/// Tempo's fixed values for `status.code` and `error` on v1.
fn virtual_values_v1(tag: &str) -> &'static [&'static str] {
    match tag {
        "status.code" => &["unset", "ok", "error"],
        "error" => &["true"],
        _ => &[],
    }
}

#[tracing::instrument(skip_all, fields(tenant))]
pub(crate) async fn tag_values_v1(
    State(state): State<Arc<FrontendState>>,
    uri: Uri,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, FrontendError> {
    let Some(tag) = tag_from_path(&uri)? else { return Ok(axum::http::StatusCode::NOT_FOUND.into_response()) };
    let (common, _) = common(&state, query, &headers)?;
    let request = values_request(&common, None, tag.clone());
    let answer = state.search.search_tag_values(&common.tenant, &request).await.map_err(FrontendError::Query)?;
    let mut values: Vec<String> = answer.values.into_iter().map(|typed| typed.value).collect();
    values.extend(virtual_values_v1(&tag).iter().map(|value| value.to_string()));
    let response = SearchTagValuesResponse {
        tag_values: sorted_unique(values, common.limit),
        metrics: Some(MetadataMetrics { inspected_bytes: answer.inspected_bytes, ..Default::default() }),
    };
    encode(common.protobuf, response, search_json::tag_values_response).await
}

#[tracing::instrument(skip_all, fields(tenant))]
pub(crate) async fn tag_values_v2(
    State(state): State<Arc<FrontendState>>,
    uri: Uri,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, FrontendError> {
    let Some(tag) = tag_from_path(&uri)? else { return Ok(axum::http::StatusCode::NOT_FOUND.into_response()) };
    let (common, _) = common(&state, query, &headers)?;
    let field = parse_tag(&tag).map_err(FrontendError::InvalidTagName)?;
    let (values, inspected_bytes) = match lookup_for(&field) {
        Lookup::Fixed(values) => (values.iter().map(|value| keyword(value)).collect(), 0),
        Lookup::Ask(scope, name) => {
            let request = values_request(&common, scope, name);
            let answer =
                state.search.search_tag_values(&common.tenant, &request).await.map_err(FrontendError::Query)?;
            (answer.values, answer.inspected_bytes)
        }
    };
    let limit = usize::try_from(common.limit).ok().filter(|limit| *limit != 0).unwrap_or(usize::MAX);
    let response = SearchTagValuesV2Response {
        tag_values: values
            .into_iter()
            .take(limit)
            .map(|typed| TagValue { r#type: typed.value_type, value: typed.value })
            .collect(),
        metrics: Some(MetadataMetrics { inspected_bytes, ..Default::default() }),
    };
    encode(common.protobuf, response, search_json::tag_values_v2_response).await
}

/// Where the values of a v2 field come from.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    /// Known without looking (possibly none).
    Fixed(&'static [&'static str]),
    /// Asked of the querier: `(scope, name)`.
    Ask(Option<TagScope>, String),
}

fn lookup_for(field: &FieldRef) -> Lookup {
    match field {
        FieldRef::Intrinsic(Intrinsic::Status) => Lookup::Fixed(&["ok", "error", "unset"]),
        FieldRef::Intrinsic(Intrinsic::Kind) => {
            Lookup::Fixed(&["client", "server", "producer", "consumer", "internal", "unspecified"])
        }
        FieldRef::Intrinsic(Intrinsic::Duration | Intrinsic::TraceDuration | Intrinsic::EventTimeSinceStart) => {
            Lookup::Fixed(&[])
        }
        FieldRef::Intrinsic(other) => Lookup::Ask(Some(TagScope::Intrinsic), other.as_str().to_string()),
        FieldRef::Attribute { scope, name } => {
            let scope = match scope {
                AttributeScope::Unscoped => None,
                AttributeScope::Span => Some(TagScope::Span),
                AttributeScope::Resource => Some(TagScope::Resource),
                AttributeScope::Event => Some(TagScope::Event),
                AttributeScope::Link => Some(TagScope::Link),
                AttributeScope::Instrumentation => Some(TagScope::Instrumentation),
                // `parent.` parses but strand does not evaluate it: nothing to list.
                AttributeScope::Parent => return Lookup::Fixed(&[]),
            };
            Lookup::Ask(scope, name.clone())
        }
    }
}

fn keyword(value: &str) -> TypedValue {
    TypedValue { value_type: "keyword".into(), value: value.into() }
}

fn values_request(common: &Common, scope: Option<TagScope>, name: String) -> TagValuesRequest {
    TagValuesRequest {
        scope,
        name,
        query: common.query.clone(),
        start_secs: common.start_secs,
        end_secs: common.end_secs,
        limit: common.limit,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn intrinsic_list_is_sorted_and_parses() {
        assert!(INTRINSIC_TAGS.is_sorted());
        for name in INTRINSIC_TAGS {
            assert!(matches!(parse_tag(name), Ok(FieldRef::Intrinsic(_))), "{name}");
        }
    }

    #[test]
    fn v2_fields_map_to_querier_lookups() {
        let ask = |scope, name: &str| Lookup::Ask(scope, name.to_string());
        assert_eq!(lookup_for(&parse_tag("status").unwrap()), Lookup::Fixed(&["ok", "error", "unset"]));
        assert_eq!(lookup_for(&parse_tag("span:kind").unwrap()), lookup_for(&parse_tag("kind").unwrap()));
        assert_eq!(lookup_for(&parse_tag("duration").unwrap()), Lookup::Fixed(&[]));
        assert_eq!(lookup_for(&parse_tag("trace:duration").unwrap()), Lookup::Fixed(&[]));
        assert_eq!(
            lookup_for(&parse_tag("trace:rootService").unwrap()),
            ask(Some(TagScope::Intrinsic), "rootServiceName")
        );
        assert_eq!(lookup_for(&parse_tag("span:name").unwrap()), ask(Some(TagScope::Intrinsic), "name"));
        assert_eq!(lookup_for(&parse_tag(".service.name").unwrap()), ask(None, "service.name"));
        assert_eq!(lookup_for(&parse_tag("resource.k8s/pod").unwrap()), ask(Some(TagScope::Resource), "k8s/pod"));
        assert_eq!(lookup_for(&parse_tag("instrumentation.x").unwrap()), ask(Some(TagScope::Instrumentation), "x"));
    }

    #[test]
    fn tag_is_everything_between_tag_and_values() {
        let tag = |path: &str| tag_from_path(&path.parse::<Uri>().unwrap());
        assert_eq!(tag("/api/search/tag/service.name/values").unwrap().as_deref(), Some("service.name"));
        assert_eq!(tag("/api/v2/search/tag/span.a%2Fb%3Ac/values").unwrap().as_deref(), Some("span.a/b:c"));
        assert_eq!(tag("/api/v2/search/tag/span.a/b/values").unwrap().as_deref(), Some("span.a/b"));
        assert_eq!(tag("/api/v2/search/tag/span.x%252F/values").unwrap().as_deref(), Some("span.x%2F"));
        assert_eq!(tag("/tempo/api/search/tag/x/values").unwrap().as_deref(), Some("x"));
        assert_eq!(tag("/api/search/tag/x").unwrap(), None);
        assert!(tag("/api/search/tag//values").is_err());
        assert!(tag("/api/search/tag/%FF/values").is_err());
    }
}
