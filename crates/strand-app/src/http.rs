//! Operator endpoints, and an HTTP API that answers while the roles are still starting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

/// Whether the process is ready, and the API router once the roles exist.
#[derive(Clone, Default)]
pub(crate) struct AppState {
    ready: Arc<AtomicBool>,
    api: Arc<OnceLock<Router>>,
    flush: Arc<OnceLock<strand_ingester::Ingester>>,
}

impl AppState {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn install_api(&self, router: Router) {
        let _ = self.api.set(router);
    }

    pub fn install_ingester(&self, ingester: strand_ingester::Ingester) {
        let _ = self.flush.set(ingester);
    }
}

/// `/ready`, `/metrics` and `/flush`, with every other path handed to the API router once it is
/// installed (503 until then, so probes and clients see "starting", not "connection refused").
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/ready", axum::routing::get(ready))
        .route("/metrics", axum::routing::get(metrics))
        .route("/flush", axum::routing::any(flush))
        .fallback(api)
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let why = match state.flush.get() {
        Some(ingester) if !ingester.is_ready() => "not ready: replaying the WAL\n",
        _ => "not ready: starting or shutting down\n",
    };
    (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

async fn metrics() -> Response {
    let families = prometheus::gather();
    match prometheus::TextEncoder::new().encode_to_string(&families) {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode metrics: {err}\n")).into_response(),
    }
}

/// Tempo's `/flush`: cut every head block and live trace and wait until they are in object
/// storage. Handy before a planned restart, and for tests.
async fn flush(State(state): State<AppState>) -> Response {
    let Some(ingester) = state.flush.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no ingester in this process\n").into_response();
    };
    if ingester.flush_all(std::time::Duration::from_secs(300)).await {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "flush still running; retry later\n").into_response()
    }
}

async fn api(State(state): State<AppState>, request: Request<Body>) -> Response {
    match state.api.get() {
        Some(router) => match router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting: the API is not up yet\n").into_response(),
    }
}
