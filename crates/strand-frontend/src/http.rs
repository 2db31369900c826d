//! The router, and the small routes that need no querier: echo and build info.

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Serialize;
use strand_backend::Blocklist;
use strand_model::{SearchQuerier, TenantError, TenantId, TraceByIdQuerier};
use strand_overrides::Overrides;
use tower_http::compression::CompressionLayer;

use crate::config::FrontendConfig;
use crate::error::FrontendError;
use crate::{metrics, search, tags, trace_by_id};

/// What the query API needs from the rest of the process.
#[derive(Clone)]
pub struct FrontendState {
    /// Finds traces by ID (the querier, in-process or remote).
    pub querier: Arc<dyn TraceByIdQuerier>,
    /// Runs search jobs and answers tag queries (the querier, in-process or remote).
    pub search: Arc<dyn SearchQuerier>,
    /// The tenants' live blocks, which the sharder cuts into search jobs. Kept fresh by whoever
    /// owns it (its poller); the frontend only reads it.
    pub blocklist: Blocklist,
    /// Per-tenant limits; the frontend reads `read.max_search_duration` and
    /// `read.max_bytes_per_job`.
    pub overrides: Arc<Overrides>,
    /// The `query_frontend` section, validated.
    pub config: FrontendConfig,
    /// When true, trace routes require `X-Scope-OrgID`; when false it is ignored and every
    /// request belongs to `single-tenant`, as in Tempo.
    pub multitenancy_enabled: bool,
    /// What `/api/status/buildinfo` reports.
    pub build_info: BuildInfo,
}

/// The build, as `/api/status/buildinfo` reports it.
///
/// Grafana 10 to 12 read `version` and enable features for Tempo 2.x versions, so it should look
/// like one (for example `2.9.0-strand.0.1.0`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// A Tempo-2.x-looking version string.
    pub version: String,
    /// The source revision.
    pub revision: String,
    /// The source branch.
    pub branch: String,
    /// When the binary was built.
    pub build_date: String,
}

/// Tempo's query API: trace by ID (v1 and v2), search, tag names and tag values (v1 and v2),
/// `/api/echo` and `/api/status/buildinfo`.
///
/// Handlers accept any method, as Tempo's do. Responses are gzipped for clients that accept it.
pub fn router(state: FrontendState) -> Router {
    Router::new()
        .route("/api/traces/{id}", any(trace_by_id::trace_by_id_v1))
        .route("/api/v2/traces/{id}", any(trace_by_id::trace_by_id_v2))
        .route("/api/search", any(search::search))
        .route("/api/search/tags", any(tags::tags_v1))
        .route("/api/v2/search/tags", any(tags::tags_v2))
        // `{tag}` may contain `/`: the handlers take everything up to the final `/values`.
        .route("/api/search/tag/{*tag}", any(tags::tag_values_v1))
        .route("/api/v2/search/tag/{*tag}", any(tags::tag_values_v2))
        .route("/api/echo", any(echo))
        .route("/api/status/buildinfo", any(build_info))
        .layer(middleware::from_fn(count_requests))
        .layer(CompressionLayer::new())
        .with_state(Arc::new(state))
}

/// The tenant a trace request belongs to.
pub(crate) fn resolve_tenant(headers: &HeaderMap, multitenancy_enabled: bool) -> Result<TenantId, FrontendError> {
    if !multitenancy_enabled {
        return Ok(TenantId::single());
    }
    let Some(value) = headers.get("x-scope-orgid") else {
        return Err(FrontendError::MissingTenant);
    };
    let text = value.to_str().map_err(|_| FrontendError::TenantNotText)?;
    if text.contains('|') {
        return Err(FrontendError::FederatedTenants(text.to_string()));
    }
    TenantId::new(text).map_err(|err| match err {
        TenantError::Missing => FrontendError::MissingTenant,
        other => FrontendError::InvalidTenant(other),
    })
}

const PROTOBUF: &str = "application/protobuf";
const JSON: &str = "application/json";

/// Tempo's rule: binary protobuf when `Accept` mentions `application/protobuf` anywhere.
pub(crate) fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|value| value.as_bytes().windows(PROTOBUF.len()).any(|window| window == PROTOBUF.as_bytes()))
}

/// A `200` with `body`, typed as protobuf or JSON.
pub(crate) fn respond(protobuf: bool, body: Vec<u8>) -> Response {
    let content_type = if protobuf { PROTOBUF } else { JSON };
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

/// Grafana's health check. Never needs a tenant.
async fn echo() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], "echo\n").into_response()
}

/// Prometheus' buildinfo shape, as Tempo serves it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfoBody<'a> {
    version: &'a str,
    revision: &'a str,
    branch: &'a str,
    build_user: &'a str,
    build_date: &'a str,
    go_version: &'a str,
}

async fn build_info(State(state): State<Arc<FrontendState>>) -> Response {
    let info = &state.build_info;
    let body = BuildInfoBody {
        version: &info.version,
        revision: &info.revision,
        branch: &info.branch,
        build_user: "",
        build_date: &info.build_date,
        go_version: "",
    };
    axum::Json(body).into_response()
}

/// Counts every answer by route template, so the label stays bounded whatever paths clients try.
async fn count_requests(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    metrics::REQUESTS.with_label_values(&[route, response.status().as_str()]).inc();
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(tenant: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("X-Scope-OrgID", HeaderValue::from_bytes(tenant).unwrap());
        headers
    }

    #[test]
    fn accept_header_is_matched_as_tempo_does() {
        let mut headers = HeaderMap::new();
        assert!(!wants_protobuf(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_protobuf(&headers));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/html, application/protobuf;q=0.9"));
        assert!(wants_protobuf(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/x-protobuf"));
        assert!(!wants_protobuf(&headers));
    }

    #[test]
    fn tenant_header_is_ignored_without_multitenancy() {
        assert_eq!(resolve_tenant(&HeaderMap::new(), false).unwrap(), TenantId::single());
        assert_eq!(resolve_tenant(&headers(b"team-a"), false).unwrap(), TenantId::single());
    }

    #[test]
    fn tenant_header_is_validated_with_multitenancy() {
        assert_eq!(resolve_tenant(&headers(b"team-a"), true).unwrap().as_str(), "team-a");
        assert!(matches!(resolve_tenant(&HeaderMap::new(), true), Err(FrontendError::MissingTenant)));
        assert!(matches!(resolve_tenant(&headers(b""), true), Err(FrontendError::MissingTenant)));
        assert!(matches!(resolve_tenant(&headers(b"a/b"), true), Err(FrontendError::InvalidTenant(_))));
        assert!(matches!(resolve_tenant(&headers(b"a|b"), true), Err(FrontendError::FederatedTenants(_))));
        assert!(matches!(resolve_tenant(&headers(b"caf\xc3\xa9"), true), Err(FrontendError::TenantNotText)));
    }
}
