//! What the roles that run search jobs share: compiling the query, and the tag answers.

use std::collections::BTreeSet;

use strand_common::{ErrorCode, ServiceError};
use strand_model::{TagScope, TagValuesRequest, TagValuesResponse, TagsRequest, TagsResponse, TypedValue};
use strand_traceql::{AttributeScope, CompareOp, FieldRef, Query, Value};

use super::TagSummary;

/// Compiles a search job's TraceQL. The frontend validated it already, so an error here means a
/// client called a querier or ingester directly: a 400 all the same.
pub fn compile_search(query: &str) -> Result<Query, ServiceError> {
    let query = strand_traceql::compile(query)
        .map_err(|e| ServiceError::new(ErrorCode::BadRequest, format!("invalid TraceQL query: {e}")))?;
    if query.is_metrics() {
        return Err(ServiceError::new(
            ErrorCode::BadRequest,
            "invalid TraceQL query: metrics queries are served by /api/metrics, not search",
        ));
    }
    Ok(query)
}

/// The services a tag filter (`q`) narrows to: the values of `resource.service.name` (or
/// `.service.name`) it requires with `=`. `None` means "every service": no filter, a filter that
/// does not parse (ignored, as Tempo does), or one whose other conditions a summary cannot
/// check, which then gives a superset.
pub fn services_in_filter(filter: Option<&str>) -> Option<Vec<String>> {
    let query = strand_traceql::compile(filter?).ok()?;
    let request = query.fetch_request(0, 0);
    if !request.all_conditions {
        return None;
    }
    let mut services = None;
    for condition in &request.conditions {
        let FieldRef::Attribute { scope: AttributeScope::Resource | AttributeScope::Unscoped, name } = &condition.field
        else {
            continue;
        };
        if name != "service.name" || condition.op != Some(CompareOp::Eq) {
            continue;
        }
        let names: Vec<String> = condition
            .operands
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.to_string()),
                _ => None,
            })
            .collect();
        services = Some(names);
    }
    services
}

/// Answers a tag-names request from a summary.
pub fn answer_tags(summary: &TagSummary, request: &TagsRequest) -> TagsResponse {
    let services = services_in_filter(request.query.as_deref());
    let scopes: Vec<TagScope> = if request.scopes.is_empty() {
        TagScope::ALL.iter().copied().filter(|s| *s != TagScope::Intrinsic).collect()
    } else {
        request.scopes.iter().copied().filter(|s| *s != TagScope::Intrinsic).collect()
    };
    let scopes = scopes
        .into_iter()
        .filter_map(|scope| {
            let mut names = BTreeSet::new();
            summary.names(scope, services.as_deref(), &mut names);
            let names: Vec<String> = names.into_iter().take(limit(request.limit)).collect();
            (!names.is_empty()).then_some((scope, names))
        })
        .collect();
    TagsResponse { scopes, inspected_bytes: 0 }
}

/// Answers a tag-values request from a summary.
pub fn answer_tag_values(summary: &TagSummary, request: &TagValuesRequest) -> TagValuesResponse {
    let services = services_in_filter(request.query.as_deref());
    let mut values: BTreeSet<TypedValue> = BTreeSet::new();
    summary.values(request.scope, &request.name, services.as_deref(), &mut values);
    TagValuesResponse { values: values.into_iter().take(limit(request.limit)).collect(), inspected_bytes: 0 }
}

/// Merges answers from several sources, keeping each list sorted, de-duplicated and limited.
pub fn merge_tags(parts: impl IntoIterator<Item = TagsResponse>, max: u32) -> TagsResponse {
    let mut merged: std::collections::BTreeMap<TagScope, BTreeSet<String>> = Default::default();
    let mut inspected_bytes = 0;
    for part in parts {
        inspected_bytes += part.inspected_bytes;
        for (scope, names) in part.scopes {
            merged.entry(scope).or_default().extend(names);
        }
    }
    let mut scopes: Vec<(TagScope, Vec<String>)> =
        merged.into_iter().map(|(scope, names)| (scope, names.into_iter().take(limit(max)).collect())).collect();
    scopes.sort_by_key(|(scope, _)| TagScope::ALL.iter().position(|s| s == scope));
    TagsResponse { scopes, inspected_bytes }
}

/// Merges tag-value answers from several sources.
pub fn merge_tag_values(parts: impl IntoIterator<Item = TagValuesResponse>, max: u32) -> TagValuesResponse {
    let mut merged = BTreeSet::new();
    let mut inspected_bytes = 0;
    for part in parts {
        inspected_bytes += part.inspected_bytes;
        merged.extend(part.values);
    }
    TagValuesResponse { values: merged.into_iter().take(limit(max)).collect(), inspected_bytes }
}

fn limit(max: u32) -> usize {
    if max == 0 { usize::MAX } else { max as usize }
}
