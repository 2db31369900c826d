//! Domain types to and from their wire messages.
//!
//! Decoding is where untrusted bytes become domain values, so every ID and name is validated
//! here and a bad one is a `BadRequest`, never a panic.

use strand_common::ServiceError;
use strand_model::{
    BlockId, BlockSlice, FoundTrace, PushRequest, PushResponse, SearchRequest, TagScope, TagValuesRequest,
    TagValuesResponse, TagsRequest, TagsResponse, TenantId, TimeRange, TraceBytes, TraceId, TypedValue,
};
use strand_proto::strandpb as pb;
use strand_proto::tempopb::TagValue;

pub(crate) fn tenant(name: &str) -> Result<TenantId, ServiceError> {
    TenantId::new(name).map_err(|e| ServiceError::bad_request(format!("tenant: {e}")))
}

pub(crate) fn trace_id(bytes: &[u8]) -> Result<TraceId, ServiceError> {
    TraceId::from_bytes(bytes).map_err(|e| ServiceError::bad_request(format!("trace ID: {e}")))
}

pub(crate) fn push_to_wire(tenant: &TenantId, request: PushRequest) -> pb::PushRequest {
    let traces = request
        .traces
        .into_iter()
        .map(|trace| pb::TraceBytes {
            trace_id: trace.id.as_bytes().to_vec(),
            trace: trace.bytes,
            span_count: trace.span_count,
            start_unix_nano: trace.start_unix_nano,
            end_unix_nano: trace.end_unix_nano,
        })
        .collect();
    pb::PushRequest { tenant: tenant.as_str().to_string(), traces }
}

pub(crate) fn push_from_wire(request: pb::PushRequest) -> Result<(TenantId, PushRequest), ServiceError> {
    let tenant = tenant(&request.tenant)?;
    let traces = request
        .traces
        .into_iter()
        .map(|trace| {
            Ok(TraceBytes {
                id: trace_id(&trace.trace_id)?,
                bytes: trace.trace,
                span_count: trace.span_count,
                start_unix_nano: trace.start_unix_nano,
                end_unix_nano: trace.end_unix_nano,
            })
        })
        .collect::<Result<_, ServiceError>>()?;
    Ok((tenant, PushRequest { traces }))
}

pub(crate) fn push_response_to_wire(response: PushResponse) -> pb::PushResponse {
    pb::PushResponse {
        rejected_spans: response.rejected_spans,
        error_message: response.error_message.unwrap_or_default(),
    }
}

pub(crate) fn push_response_from_wire(response: pb::PushResponse) -> PushResponse {
    PushResponse {
        rejected_spans: response.rejected_spans,
        error_message: Some(response.error_message).filter(|m| !m.is_empty()),
    }
}

pub(crate) fn trace_request(tenant: &TenantId, id: TraceId, range: TimeRange) -> pb::TraceByIdRequest {
    pb::TraceByIdRequest {
        tenant: tenant.as_str().to_string(),
        trace_id: id.as_bytes().to_vec(),
        start_secs: range.start.unwrap_or(0),
        end_secs: range.end.unwrap_or(0),
    }
}

pub(crate) fn trace_request_from_wire(
    request: &pb::TraceByIdRequest,
) -> Result<(TenantId, TraceId, TimeRange), ServiceError> {
    let range = TimeRange {
        start: Some(request.start_secs).filter(|s| *s > 0),
        end: Some(request.end_secs).filter(|s| *s > 0),
    };
    Ok((tenant(&request.tenant)?, trace_id(&request.trace_id)?, range))
}

pub(crate) fn found_to_wire(found: Option<FoundTrace>) -> pb::TraceByIdResponse {
    match found {
        Some(found) => pb::TraceByIdResponse {
            trace: Some(found.trace),
            truncated: found.truncated,
            inspected_bytes: found.inspected_bytes,
        },
        None => pb::TraceByIdResponse::default(),
    }
}

pub(crate) fn found_from_wire(response: pb::TraceByIdResponse) -> Option<FoundTrace> {
    let trace = response.trace?;
    Some(FoundTrace { trace, truncated: response.truncated, inspected_bytes: response.inspected_bytes })
}

pub(crate) fn search_to_wire(tenant: &TenantId, request: &SearchRequest) -> pb::SearchRequest {
    pb::SearchRequest {
        tenant: tenant.as_str().to_string(),
        query: request.query.clone(),
        start_secs: request.start_secs,
        end_secs: request.end_secs,
        limit: request.limit,
        spans_per_span_set: request.spans_per_span_set,
    }
}

pub(crate) fn search_from_wire(request: pb::SearchRequest) -> Result<(TenantId, SearchRequest), ServiceError> {
    let tenant = tenant(&request.tenant)?;
    Ok((
        tenant,
        SearchRequest {
            query: request.query,
            start_secs: request.start_secs,
            end_secs: request.end_secs,
            limit: request.limit,
            spans_per_span_set: request.spans_per_span_set,
        },
    ))
}

pub(crate) fn slice_to_wire(tenant: &TenantId, request: &SearchRequest, slice: &BlockSlice) -> pb::SearchBlockRequest {
    pb::SearchBlockRequest {
        search: Some(search_to_wire(tenant, request)),
        block_id: slice.block_id.to_string(),
        first_row_group: slice.first_row_group,
        row_groups: slice.row_groups,
    }
}

pub(crate) fn slice_from_wire(
    request: pb::SearchBlockRequest,
) -> Result<(TenantId, SearchRequest, BlockSlice), ServiceError> {
    let search = request.search.ok_or_else(|| ServiceError::bad_request("search block job without a search"))?;
    let (tenant, search) = search_from_wire(search)?;
    let block_id = BlockId::parse(&request.block_id).map_err(|e| ServiceError::bad_request(format!("block: {e}")))?;
    let slice = BlockSlice { block_id, first_row_group: request.first_row_group, row_groups: request.row_groups };
    Ok((tenant, search, slice))
}

fn scope(name: &str) -> Result<TagScope, ServiceError> {
    TagScope::parse(name).ok_or_else(|| ServiceError::bad_request(format!("unknown tag scope {name:?}")))
}

pub(crate) fn tags_to_wire(tenant: &TenantId, request: &TagsRequest) -> pb::TagsRequest {
    pb::TagsRequest {
        tenant: tenant.as_str().to_string(),
        scopes: request.scopes.iter().map(|s| s.as_str().to_string()).collect(),
        query: request.query.clone(),
        start_secs: request.start_secs,
        end_secs: request.end_secs,
        limit: request.limit,
    }
}

pub(crate) fn tags_from_wire(request: pb::TagsRequest) -> Result<(TenantId, TagsRequest), ServiceError> {
    let tenant = tenant(&request.tenant)?;
    let scopes = request.scopes.iter().map(|s| scope(s)).collect::<Result<_, _>>()?;
    let request = TagsRequest {
        scopes,
        query: request.query,
        start_secs: request.start_secs,
        end_secs: request.end_secs,
        limit: request.limit,
    };
    Ok((tenant, request))
}

pub(crate) fn tags_response_to_wire(response: TagsResponse) -> pb::TagsResponse {
    pb::TagsResponse {
        scopes: response
            .scopes
            .into_iter()
            .map(|(scope, names)| pb::ScopeTags { scope: scope.as_str().to_string(), names })
            .collect(),
        inspected_bytes: response.inspected_bytes,
    }
}

pub(crate) fn tags_response_from_wire(response: pb::TagsResponse) -> Result<TagsResponse, ServiceError> {
    let scopes =
        response.scopes.into_iter().map(|s| Ok((scope(&s.scope)?, s.names))).collect::<Result<_, ServiceError>>()?;
    Ok(TagsResponse { scopes, inspected_bytes: response.inspected_bytes })
}

pub(crate) fn tag_values_to_wire(tenant: &TenantId, request: &TagValuesRequest) -> pb::TagValuesRequest {
    pb::TagValuesRequest {
        tenant: tenant.as_str().to_string(),
        scope: request.scope.map(|s| s.as_str().to_string()).unwrap_or_default(),
        name: request.name.clone(),
        query: request.query.clone(),
        start_secs: request.start_secs,
        end_secs: request.end_secs,
        limit: request.limit,
    }
}

pub(crate) fn tag_values_from_wire(
    request: pb::TagValuesRequest,
) -> Result<(TenantId, TagValuesRequest), ServiceError> {
    let tenant = tenant(&request.tenant)?;
    let scope = if request.scope.is_empty() { None } else { Some(scope(&request.scope)?) };
    let request = TagValuesRequest {
        scope,
        name: request.name,
        query: request.query,
        start_secs: request.start_secs,
        end_secs: request.end_secs,
        limit: request.limit,
    };
    Ok((tenant, request))
}

pub(crate) fn tag_values_response_to_wire(response: TagValuesResponse) -> pb::TagValuesResponse {
    pb::TagValuesResponse {
        values: response.values.into_iter().map(|v| TagValue { r#type: v.value_type, value: v.value }).collect(),
        inspected_bytes: response.inspected_bytes,
    }
}

pub(crate) fn tag_values_response_from_wire(response: pb::TagValuesResponse) -> TagValuesResponse {
    TagValuesResponse {
        values: response.values.into_iter().map(|v| TypedValue { value_type: v.r#type, value: v.value }).collect(),
        inspected_bytes: response.inspected_bytes,
    }
}
