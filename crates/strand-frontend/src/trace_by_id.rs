//! `GET /api/traces/{id}` (v1) and `GET /api/v2/traces/{id}` (v2).
//!
//! Both look the trace up the same way and differ only in the envelope: v1 answers a bare
//! `tempopb.Trace` (JSON key `batches`), v2 a `tempopb.TraceByIDResponse` that also carries
//! metrics and says whether the trace is partial. An over-limit trace is answered in full on both
//! (strand keeps such traces readable), flagged `PARTIAL` on v2.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use prost::Message;
use serde::Deserialize;
use strand_model::{FoundTrace, TimeRange, TraceId};
use strand_proto::tempopb::{PartialStatus, Trace, TraceByIdMetrics, TraceByIdResponse};

use crate::error::FrontendError;
use crate::http::{FrontendState, resolve_tenant, respond, wants_protobuf};
use crate::tempo_json;

/// v2's `message` for a trace that hit the size limit.
pub(crate) const PARTIAL_MESSAGE: &str = "Trace exceeds maximum size, a partial trace is returned";

/// The optional query parameters, kept as text so errors can quote what was sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TraceParams {
    start: Option<String>,
    end: Option<String>,
}

impl TraceParams {
    /// `start` and `end` in Unix seconds. Empty or `0` means "not given", as in Tempo.
    fn time_range(&self) -> Result<TimeRange, FrontendError> {
        let start = parse_seconds("start", self.start.as_deref())?;
        let end = parse_seconds("end", self.end.as_deref())?;
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            return Err(FrontendError::StartNotBeforeEnd { start, end });
        }
        Ok(TimeRange { start, end })
    }
}

fn parse_seconds(name: &'static str, value: Option<&str>) -> Result<Option<u64>, FrontendError> {
    match value {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(seconds) => Ok(Some(seconds)),
            Err(_) => Err(FrontendError::InvalidTime { name, value: text.to_string() }),
        },
    }
}

/// v1: a `tempopb.Trace`, binary or `{"batches":[...]}`.
#[tracing::instrument(skip_all, fields(tenant, trace_id))]
pub(crate) async fn trace_by_id_v1(
    State(state): State<Arc<FrontendState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<TraceParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, FrontendError> {
    let found = lookup(&state, path, query, &headers).await?;
    let protobuf = wants_protobuf(&headers);
    let body = strand_common::spawn_cpu(move || {
        let mut trace = found.trace;
        fill_required_messages(&mut trace);
        if protobuf { trace.encode_to_vec() } else { tempo_json::trace_v1(&trace) }
    })
    .await
    .map_err(|_| FrontendError::Encode)?;
    Ok(respond(protobuf, body))
}

/// v2: a `tempopb.TraceByIDResponse`, binary or JSON. `trace` is always set.
#[tracing::instrument(skip_all, fields(tenant, trace_id))]
pub(crate) async fn trace_by_id_v2(
    State(state): State<Arc<FrontendState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<TraceParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, FrontendError> {
    let found = lookup(&state, path, query, &headers).await?;
    let protobuf = wants_protobuf(&headers);
    let body = strand_common::spawn_cpu(move || {
        let response = v2_response(found);
        if protobuf { response.encode_to_vec() } else { tempo_json::trace_by_id_response(&response) }
    })
    .await
    .map_err(|_| FrontendError::Encode)?;
    Ok(respond(protobuf, body))
}

/// Resolves the tenant, the trace ID and the time range, in that order (as Tempo checks them),
/// then asks the querier.
async fn lookup(
    state: &FrontendState,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<TraceParams>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<FoundTrace, FrontendError> {
    let span = tracing::Span::current();
    let tenant = resolve_tenant(headers, state.multitenancy_enabled)?;
    span.record("tenant", tenant.as_str());
    let Path(raw_id) = path.map_err(|rejection| FrontendError::InvalidRequest(rejection.body_text()))?;
    let id = TraceId::parse_hex(&raw_id)?;
    span.record("trace_id", tracing::field::display(id));
    let Query(params) = query.map_err(|rejection| FrontendError::InvalidRequest(rejection.body_text()))?;
    let range = params.time_range()?;
    match state.querier.trace_by_id(&tenant, id, range).await {
        Ok(Some(found)) if !found.trace.resource_spans.is_empty() => Ok(found),
        Ok(_) => Err(FrontendError::TraceNotFound),
        Err(err) => Err(FrontendError::Query(err)),
    }
}

fn v2_response(found: FoundTrace) -> TraceByIdResponse {
    let mut trace = found.trace;
    fill_required_messages(&mut trace);
    let (status, message) = if found.truncated {
        (PartialStatus::Partial, PARTIAL_MESSAGE.to_string())
    } else {
        (PartialStatus::Complete, String::new())
    };
    TraceByIdResponse {
        trace: Some(trace),
        metrics: Some(TraceByIdMetrics { inspected_bytes: found.inspected_bytes }),
        status: status as i32,
        message,
    }
}

/// Sets every `resource`, `scope` and span `status` so they are encoded even when empty: Grafana
/// dereferences them without checking.
pub(crate) fn fill_required_messages(trace: &mut Trace) {
    for batch in &mut trace.resource_spans {
        batch.resource.get_or_insert_default();
        for scope_spans in &mut batch.scope_spans {
            scope_spans.scope.get_or_insert_default();
            for span in &mut scope_spans.spans {
                span.status.get_or_insert_default();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strand_proto::otlp::trace::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn params(start: Option<&str>, end: Option<&str>) -> TraceParams {
        TraceParams { start: start.map(str::to_string), end: end.map(str::to_string) }
    }

    #[test]
    fn time_range_follows_tempo() {
        assert_eq!(params(None, None).time_range().unwrap(), TimeRange::default());
        assert_eq!(params(Some("10"), Some("20")).time_range().unwrap(), TimeRange { start: Some(10), end: Some(20) });
        assert_eq!(params(Some(""), Some("0")).time_range().unwrap(), TimeRange::default());
        assert_eq!(params(Some("30"), Some("0")).time_range().unwrap(), TimeRange { start: Some(30), end: None });
        assert!(matches!(
            params(Some("20"), Some("20")).time_range(),
            Err(FrontendError::StartNotBeforeEnd { start: 20, end: 20 })
        ));
        assert!(matches!(
            params(Some("abc"), None).time_range(),
            Err(FrontendError::InvalidTime { name: "start", .. })
        ));
        assert!(matches!(params(None, Some("-5")).time_range(), Err(FrontendError::InvalidTime { name: "end", .. })));
        assert!(matches!(params(None, Some("1.5")).time_range(), Err(FrontendError::InvalidTime { name: "end", .. })));
    }

    #[test]
    fn required_messages_are_filled_and_encoded() {
        let mut trace = Trace {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans { spans: vec![Span::default()], ..Default::default() }],
                ..Default::default()
            }],
        };
        fill_required_messages(&mut trace);
        let batch = &trace.resource_spans[0];
        assert!(
            batch.resource.is_some()
                && batch.scope_spans[0].scope.is_some()
                && batch.scope_spans[0].spans[0].status.is_some()
        );
        // ResourceSpans: field 1 (resource) present with length 0 ...
        let bytes = trace.encode_to_vec();
        let batch_bytes = &bytes[2..];
        assert_eq!(&batch_bytes[..2], &[0x0a, 0x00]);
        // ... and the empty span still carries field 15 (status), tag 0x7a, length 0.
        assert!(bytes.ends_with(&[0x7a, 0x00]));
    }

    #[test]
    fn v2_always_has_a_trace_and_flags_truncation() {
        let response = v2_response(FoundTrace { trace: Trace::default(), truncated: false, inspected_bytes: 0 });
        assert_eq!(response.encode_to_vec()[..2], [0x0a, 0x00]);
        assert_eq!(response.status, PartialStatus::Complete as i32);
        let response = v2_response(FoundTrace { trace: Trace::default(), truncated: true, inspected_bytes: 9 });
        assert_eq!(response.status, PartialStatus::Partial as i32);
        assert_eq!(response.message, PARTIAL_MESSAGE);
        assert_eq!(response.metrics, Some(TraceByIdMetrics { inspected_bytes: 9 }));
    }
}
