use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strand_common::{ErrorCode, ServiceError};
use strand_model::{IdError, TenantError};

/// Why a query-API request failed. Rendered as Tempo does: a plain-text body with the message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrontendError {
    /// Multi-tenancy is on and the request carried no `X-Scope-OrgID`.
    #[error("no org id")]
    MissingTenant,
    /// The `X-Scope-OrgID` value breaks the tenant ID rules.
    #[error("{0}")]
    InvalidTenant(TenantError),
    /// `X-Scope-OrgID` is not printable ASCII.
    #[error("X-Scope-OrgID must be printable ASCII")]
    TenantNotText,
    /// `a|b`: Tempo reads across tenants; strand does not yet.
    #[error("queries across several tenants ({0}) are not supported yet")]
    FederatedTenants(String),
    /// The path or query string could not be read, or a parameter is malformed or out of range.
    /// The message is Tempo's for the same mistake, so it can be matched on.
    #[error("{0}")]
    InvalidRequest(String),
    /// `q` is not valid TraceQL; the parser's message follows.
    #[error("invalid TraceQL query: {0}")]
    InvalidTraceql(String),
    /// A TraceQL metrics query sent to `/api/search`.
    #[error(
        "invalid TraceQL query: metrics queries are answered by /api/metrics/query_range and /api/metrics/query, not /api/search"
    )]
    MetricsQueryOnSearch,
    /// The v2 tag-values path does not name a TraceQL field; the parser's message follows.
    #[error("please provide a valid tagName: {0}")]
    InvalidTagName(String),
    /// `scope` on the tag routes is not one Tempo knows.
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// The trace ID in the path is not 1 to 32 hex digits.
    #[error("{0}")]
    InvalidTraceId(#[from] IdError),
    /// `start` or `end` is not a non-negative whole number of seconds.
    #[error("invalid {name}: {value:?} is not a Unix time in whole seconds")]
    InvalidTime { name: &'static str, value: String },
    /// Both `start` and `end` were given, and `end` is not after `start`.
    #[error("http parameter start must be before end. received start={start} end={end}")]
    StartNotBeforeEnd { start: u64, end: u64 },
    /// No part of the trace exists.
    #[error("trace not found")]
    TraceNotFound,
    /// The querier failed.
    #[error("{0}")]
    Query(ServiceError),
    /// Encoding the answer failed: a bug, or the runtime shutting down.
    #[error("cannot encode the response")]
    Encode,
}

impl FrontendError {
    fn code(&self) -> ErrorCode {
        match self {
            FrontendError::MissingTenant => ErrorCode::Unauthenticated,
            FrontendError::InvalidTenant(_)
            | FrontendError::TenantNotText
            | FrontendError::FederatedTenants(_)
            | FrontendError::InvalidRequest(_)
            | FrontendError::InvalidTraceql(_)
            | FrontendError::MetricsQueryOnSearch
            | FrontendError::InvalidTagName(_)
            | FrontendError::InvalidScope(_)
            | FrontendError::InvalidTraceId(_)
            | FrontendError::InvalidTime { .. }
            | FrontendError::StartNotBeforeEnd { .. } => ErrorCode::BadRequest,
            FrontendError::TraceNotFound => ErrorCode::NotFound,
            FrontendError::Query(err) => err.code,
            FrontendError::Encode => ErrorCode::Internal,
        }
    }
}

impl IntoResponse for FrontendError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if matches!(self, FrontendError::TraceNotFound) {
            // Tempo answers an unknown trace with an empty 404; Grafana then tries v1.
            return status.into_response();
        }
        if code == ErrorCode::Internal {
            tracing::error!(error = %self, "query failed");
        }
        let mut response = (status, self.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn client_mistakes_are_4xx_and_only_bugs_are_500() {
        assert_eq!(FrontendError::MissingTenant.into_response().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            FrontendError::InvalidTraceId(IdError::TraceIdTooLong).into_response().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            FrontendError::StartNotBeforeEnd { start: 2, end: 1 }.into_response().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(FrontendError::InvalidScope("x".into()).into_response().status(), StatusCode::BAD_REQUEST);
        assert_eq!(FrontendError::MetricsQueryOnSearch.into_response().status(), StatusCode::BAD_REQUEST);
        assert_eq!(FrontendError::TraceNotFound.into_response().status(), StatusCode::NOT_FOUND);
        let overloaded = FrontendError::Query(ServiceError::unavailable("too busy"));
        assert_eq!(overloaded.into_response().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(FrontendError::Encode.into_response().status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
