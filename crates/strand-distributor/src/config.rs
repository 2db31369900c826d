use serde::{Deserialize, Serialize};
use strand_common::{Duration, Size};

/// The `distributor` config section, shaped like Tempo's (which embeds the OTel Collector's
/// receiver settings).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// Which protocols to listen on.
    pub receivers: ReceiversConfig,
    /// The delay clients are told to wait (`Retry-After`, gRPC `RetryInfo`) when a push is
    /// refused for overload.
    pub retry_after: RetryAfter,
}

/// How long overloaded clients should wait before retrying.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RetryAfter(pub Duration);

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter(Duration::secs(5))
    }
}

/// `distributor.receivers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiversConfig {
    /// OTLP over gRPC and HTTP.
    pub otlp: OtlpReceiverConfig,
}

/// `distributor.receivers.otlp`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// One entry per transport.
    pub protocols: OtlpProtocols,
}

/// `distributor.receivers.otlp.protocols`. A protocol set to `null` is switched off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpProtocols {
    /// OTLP/gRPC `TraceService/Export`.
    pub grpc: Option<OtlpGrpcConfig>,
    /// OTLP/HTTP `POST /v1/traces`.
    pub http: Option<OtlpHttpConfig>,
}

impl Default for OtlpProtocols {
    fn default() -> Self {
        OtlpProtocols { grpc: Some(OtlpGrpcConfig::default()), http: Some(OtlpHttpConfig::default()) }
    }
}

/// `distributor.receivers.otlp.protocols.grpc`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpGrpcConfig {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Largest request accepted, after decompression, in MiB (the OTel Collector's key).
    pub max_recv_msg_size_mib: u64,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        OtlpGrpcConfig { endpoint: "0.0.0.0:4317".to_string(), max_recv_msg_size_mib: 64 }
    }
}

/// `distributor.receivers.otlp.protocols.http`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpHttpConfig {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Largest request body accepted, after decompression (the OTel Collector's key).
    pub max_request_body_size: Size,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig { endpoint: "0.0.0.0:4318".to_string(), max_request_body_size: Size::mib(64) }
    }
}

impl DistributorConfig {
    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        let protocols = &self.receivers.otlp.protocols;
        if let Some(grpc) = &protocols.grpc {
            check_endpoint("distributor.receivers.otlp.protocols.grpc.endpoint", &grpc.endpoint)?;
            if grpc.max_recv_msg_size_mib == 0 {
                return Err("distributor.receivers.otlp.protocols.grpc.max_recv_msg_size_mib must be above 0".into());
            }
        }
        if let Some(http) = &protocols.http {
            check_endpoint("distributor.receivers.otlp.protocols.http.endpoint", &http.endpoint)?;
        }
        Ok(())
    }
}

fn check_endpoint(key: &str, endpoint: &str) -> Result<(), String> {
    endpoint
        .parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| format!("{key}: {endpoint:?} is not a host:port address such as 0.0.0.0:4317"))
}
