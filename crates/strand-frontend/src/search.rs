//! `GET /api/search`: reads and validates the request as Tempo does (`ParseSearchRequest`, then
//! the combiner's and sharder's checks, in that order, with Tempo's messages), turns a legacy tag
//! search into TraceQL, and hands the search to the sharder.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use prost::Message;
use strand_common::{ErrorCode, ServiceError};
use strand_model::SearchRequest;
use strand_overrides::ReadLimits;

use crate::config::SearchConfig;
use crate::error::FrontendError;
use crate::http::{FrontendState, resolve_tenant, respond, wants_protobuf};
use crate::legacy_search::{decode_tags, tags_to_traceql};
use crate::params::{Params, go_duration, parse_go_duration};
use crate::traceql::{QueryKind, check_query};
use crate::{search_json, sharder};

/// Query parameters that are never tags in the bare-parameter legacy form.
const RESERVED: [&str; 8] = ["q", "tags", "minDuration", "maxDuration", "limit", "spss", "start", "end"];

#[tracing::instrument(skip_all, fields(tenant))]
pub(crate) async fn search(
    State(state): State<Arc<FrontendState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, FrontendError> {
    let tenant = resolve_tenant(&headers, state.multitenancy_enabled)?;
    tracing::Span::current().record("tenant", tenant.as_str());
    let Query(pairs) = query.map_err(|rejection| FrontendError::InvalidRequest(rejection.body_text()))?;
    let limits = &state.overrides.limits(&tenant).read;
    let Parsed { request, most_recent } = parse_search(&Params(pairs), &state.config.search, limits)?;

    let target_bytes = match limits.max_bytes_per_job.bytes() {
        0 => state.config.search.target_bytes_per_job.bytes(),
        bytes => bytes,
    };
    let plan = sharder::plan(&state.blocklist.blocks(&tenant), request.start_secs, request.end_secs, target_bytes);
    let concurrent_jobs = state.config.search.concurrent_jobs;
    let timeout = state.config.search.query_timeout.get();
    let run = sharder::run(state.search.as_ref(), &tenant, &request, most_recent, plan, concurrent_jobs);
    let response = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| {
            FrontendError::Query(ServiceError::new(
                ErrorCode::Unavailable,
                format!("search timed out after {}; narrow the time range or the query", go_duration(timeout)),
            ))
        })?
        .map_err(FrontendError::Query)?;

    let protobuf = wants_protobuf(&headers);
    let body = strand_common::spawn_cpu(move || {
        if protobuf { response.encode_to_vec() } else { search_json::search_response(&response) }
    })
    .await
    .map_err(|_| FrontendError::Encode)?;
    Ok(respond(protobuf, body))
}

/// The longest `end - start` the tenant may ask for; zero means no limit.
pub(crate) fn max_search_duration(config: &SearchConfig, limits: &ReadLimits) -> Duration {
    match limits.max_search_duration.get() {
        Duration::ZERO => config.max_duration.get(),
        tenant => tenant,
    }
}

/// Refuses a window longer than `max` (zero: no limit), with Tempo's message.
pub(crate) fn check_window(start: u32, end: u32, max: Duration) -> Result<(), FrontendError> {
    if !max.is_zero() && Duration::from_secs(u64::from(end.saturating_sub(start))) > max {
        return Err(FrontendError::InvalidRequest(format!(
            "range specified by start and end exceeds {}. received start={start} end={end}",
            go_duration(max)
        )));
    }
    Ok(())
}

/// A validated search.
pub(crate) struct Parsed {
    /// What every job is asked.
    pub(crate) request: SearchRequest,
    /// The query carries `with(most_recent=true)`.
    pub(crate) most_recent: bool,
}

/// Reads a search request, checking it in Tempo's order so the first error reported is Tempo's.
pub(crate) fn parse_search(
    params: &Params,
    config: &SearchConfig,
    limits: &ReadLimits,
) -> Result<Parsed, FrontendError> {
    let bad = |message: String| FrontendError::InvalidRequest(message);
    let start = params.u32("start")?.unwrap_or(0);
    let end = params.u32("end")?.unwrap_or(0);
    let traceql = params.get("q");
    let tags_text = params.get("tags");
    if traceql.is_some() && tags_text.is_some() {
        return Err(bad("invalid request: can't specify tags and q in the same query".into()));
    }
    let mut tags = match tags_text {
        Some(text) => decode_tags(text).map_err(|e| bad(format!("invalid tags: {e}")))?,
        None => BTreeMap::new(),
    };
    if traceql.is_none() && tags_text.is_none() && start == 0 && end == 0 {
        // Grafana's first search UI sent every tag as its own parameter.
        let mut seen = HashSet::new();
        for (key, value) in &params.0 {
            // Only a key's first value counts, as with Go's `url.Values`.
            if RESERVED.contains(&key.as_str()) || !seen.insert(key.as_str()) {
                continue;
            }
            if !value.is_empty() {
                tags.insert(key.clone(), value.clone());
            }
        }
    }
    let min_duration_ms = duration_ms(params, "minDuration")?.unwrap_or(0);
    let max_duration_ms = duration_ms(params, "maxDuration")?;
    if let Some(max) = max_duration_ms
        && min_duration_ms != 0
        && min_duration_ms > max
    {
        return Err(bad("invalid maxDuration: must be greater than minDuration".into()));
    }
    let limit = params.u32("limit")?;
    if limit == Some(0) {
        return Err(bad("invalid limit: must be a positive number".into()));
    }
    let spans_per_span_set = params.u32("spss")?.filter(|spss| *spss != 0);
    if (start != 0 || end != 0) && end <= start {
        return Err(FrontendError::StartNotBeforeEnd { start: start.into(), end: end.into() });
    }

    let limit = limit.unwrap_or(config.default_result_limit);
    if config.max_result_limit != 0 && limit > config.max_result_limit {
        return Err(bad(format!("limit {limit} exceeds max limit {}", config.max_result_limit)));
    }
    let query = match traceql {
        Some(text) => text.to_string(),
        None => tags_to_traceql(&tags, min_duration_ms, max_duration_ms.unwrap_or(0)),
    };
    let most_recent = match check_query(&query) {
        Ok(QueryKind::Search { most_recent }) => most_recent,
        Ok(QueryKind::Metrics) => return Err(FrontendError::MetricsQueryOnSearch),
        Err(message) => return Err(FrontendError::InvalidTraceql(message)),
    };

    check_window(start, end, max_search_duration(config, limits))?;
    let spans_per_span_set = spans_per_span_set.unwrap_or(config.default_spans_per_span_set);
    if config.max_spans_per_span_set != 0 && spans_per_span_set > config.max_spans_per_span_set {
        return Err(bad(format!(
            "spans per span set exceeds {}. received {spans_per_span_set}",
            config.max_spans_per_span_set
        )));
    }
    let request = SearchRequest { query, start_secs: start, end_secs: end, limit, spans_per_span_set };
    Ok(Parsed { request, most_recent })
}

/// A Go duration parameter in whole milliseconds (saturating at `u32::MAX`), if given.
fn duration_ms(params: &Params, name: &str) -> Result<Option<u32>, FrontendError> {
    let Some(text) = params.get(name) else { return Ok(None) };
    let duration =
        parse_go_duration(text).map_err(|e| FrontendError::InvalidRequest(format!("invalid {name}: {e}")))?;
    Ok(Some(u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)))
}
