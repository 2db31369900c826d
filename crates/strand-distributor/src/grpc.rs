//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

use std::sync::Arc;

use prost::Message;
use strand_common::{ErrorCode, ServiceError};
use strand_proto::otlp::collector::trace_service_server::{TraceService, TraceServiceServer};
use strand_proto::otlp::collector::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::distributor::Distributor;

struct OtlpGrpc {
    distributor: Arc<Distributor>,
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let header = request.metadata().get("x-scope-orgid").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let distributor = &self.distributor;
        let tenant = distributor.resolve_tenant(header.as_deref()).map_err(|e| to_status(&e, distributor))?;
        let request = request.into_inner();
        let size = request.encoded_len();
        let response =
            distributor.push("grpc", &tenant, request, size).await.map_err(|e| to_status(&e, distributor))?;
        let partial_success = (response.rejected_spans > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(response.rejected_spans).unwrap_or(i64::MAX),
            error_message: response.error_message.unwrap_or_default(),
        });
        Ok(Response::new(ExportTraceServiceResponse { partial_success }))
    }
}

/// Maps an error onto a gRPC status. Overload carries `RetryInfo`, without which OTLP clients
/// drop `RESOURCE_EXHAUSTED` batches instead of retrying them.
fn to_status(err: &ServiceError, distributor: &Distributor) -> Status {
    let code = tonic::Code::from_i32(err.code.grpc_code());
    if err.code.is_retryable() {
        let delay = distributor.config.retry_after.0.get();
        return Status::with_error_details(code, err.message.clone(), ErrorDetails::with_retry_info(Some(delay)));
    }
    if err.code == ErrorCode::PayloadTooLarge {
        return Status::new(tonic::Code::ResourceExhausted, err.message.clone());
    }
    Status::new(code, err.message.clone())
}

impl Distributor {
    /// The OTLP/gRPC service, accepting and sending gzip, with the configured message size bound.
    pub fn grpc_service(self: &Arc<Self>) -> TraceServiceServer<impl TraceService> {
        let max = self
            .config
            .receivers
            .otlp
            .protocols
            .grpc
            .as_ref()
            .map_or(64, |g| g.max_recv_msg_size_mib)
            .saturating_mul(1024 * 1024);
        TraceServiceServer::new(OtlpGrpc { distributor: Arc::clone(self) })
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(usize::try_from(max).unwrap_or(usize::MAX))
    }
}
