//! OTLP/HTTP: `POST /v1/traces`, protobuf or JSON, optionally gzip-compressed.
//!
//! Replies use the request's encoding. Errors carry a `google.rpc.Status` body (as the OTel
//! Collector sends), and overload answers carry `Retry-After`.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use strand_common::{ErrorCode, ServiceError};
use strand_model::PushResponse;
use strand_proto::otlp::collector::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};

use crate::distributor::Distributor;
use crate::metrics;
use crate::otlp_json;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

impl Distributor {
    /// The OTLP/HTTP routes.
    pub fn http_router(self: &Arc<Self>) -> Router {
        // The raw body may not exceed the decompressed limit either; compressed bodies are
        // checked again after decompression.
        let limit = self.max_body_bytes();
        Router::new()
            .route("/v1/traces", axum::routing::any(export))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(Arc::clone(self))
    }

    fn max_body_bytes(&self) -> usize {
        self.config.receivers.otlp.protocols.http.as_ref().map_or(64 << 20, |h| h.max_request_body_size.as_usize())
    }
}

async fn export(
    State(distributor): State<Arc<Distributor>>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed, supported: [POST]");
    }
    let encoding = match media_type(&headers).as_deref() {
        Some(PROTOBUF) => Encoding::Protobuf,
        Some(JSON) => Encoding::Json,
        _ => {
            metrics::REQUESTS_REJECTED.with_label_values(&["unsupported_media_type"]).inc();
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "415 unsupported media type, supported: [application/json, application/x-protobuf]",
            );
        }
    };
    match handle(&distributor, encoding, &headers, body).await {
        Ok(response) => success(encoding, response),
        Err(err) => failure(encoding, &err, &distributor),
    }
}

async fn handle(
    distributor: &Distributor,
    encoding: Encoding,
    headers: &HeaderMap,
    body: Body,
) -> Result<PushResponse, ServiceError> {
    let tenant = distributor.resolve_tenant(headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()))?;
    let limit = distributor.max_body_bytes();
    let raw = axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))?;
    let body = decompress(headers, raw, limit)?;
    let (request, size) = match encoding {
        Encoding::Protobuf => {
            let request = ExportTraceServiceRequest::decode(body.as_ref())
                .map_err(|e| malformed(format!("invalid protobuf: {e}")))?;
            (request, body.len())
        }
        Encoding::Json => {
            let request = otlp_json::decode_export_request(&body).map_err(malformed)?;
            let size = request.encoded_len();
            (request, size)
        }
    };
    let protocol = if encoding == Encoding::Json { "http_json" } else { "http_protobuf" };
    distributor.push(protocol, &tenant, request, size).await
}

fn decompress(headers: &HeaderMap, raw: Bytes, limit: usize) -> Result<Bytes, ServiceError> {
    let coding =
        headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_ascii_lowercase();
    match coding.as_str() {
        "" | "identity" | "none" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
            let decoder = flate2::read::MultiGzDecoder::new(raw.as_ref());
            decoder
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| malformed(format!("invalid gzip body: {e}")))?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(Bytes::from(out))
        }
        other => Err(malformed(format!("unsupported Content-Encoding {other:?}, supported: gzip"))),
    }
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

fn malformed(message: impl Into<String>) -> ServiceError {
    metrics::REQUESTS_REJECTED.with_label_values(&["malformed"]).inc();
    ServiceError::bad_request(message)
}

fn too_large(limit: usize) -> ServiceError {
    metrics::REQUESTS_REJECTED.with_label_values(&["too_large"]).inc();
    ServiceError::new(ErrorCode::PayloadTooLarge, format!("request body exceeds the limit of {limit} bytes"))
}

fn success(encoding: Encoding, response: PushResponse) -> Response {
    let body = match encoding {
        Encoding::Protobuf => {
            let partial_success = (response.rejected_spans > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(response.rejected_spans).unwrap_or(i64::MAX),
                error_message: response.error_message.clone().unwrap_or_default(),
            });
            ExportTraceServiceResponse { partial_success }.encode_to_vec()
        }
        Encoding::Json if response.rejected_spans > 0 => serde_json::json!({
            "partialSuccess": {
                "rejectedSpans": response.rejected_spans.to_string(),
                "errorMessage": response.error_message.unwrap_or_default(),
            }
        })
        .to_string()
        .into_bytes(),
        Encoding::Json => b"{}".to_vec(),
    };
    ([(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
}

fn failure(encoding: Encoding, err: &ServiceError, distributor: &Distributor) -> Response {
    let status = StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let grpc_code = err.code.grpc_code();
    let body = match encoding {
        Encoding::Protobuf => encode_rpc_status(grpc_code, &err.message),
        Encoding::Json => serde_json::json!({ "code": grpc_code, "message": err.message }).to_string().into_bytes(),
    };
    let mut response = (status, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response();
    if err.code.is_retryable() {
        let seconds = distributor.config.retry_after.0.get().as_secs().max(1);
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// A `google.rpc.Status { code = 1; message = 2; }`, encoded by hand: two fields are not worth
/// a generated type.
fn encode_rpc_status(code: i32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 8);
    if code != 0 {
        prost::encoding::int32::encode(1, &code, &mut out);
    }
    if !message.is_empty() {
        prost::encoding::string::encode(2, &message.to_string(), &mut out);
    }
    out
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}
