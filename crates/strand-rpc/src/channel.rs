//! Channels to other members: one lazily connected HTTP/2 channel per member, shared by every
//! call to it (HTTP/2 multiplexes them), with deadlines and bounded message sizes.

use serde::{Deserialize, Serialize};
use strand_common::{Duration, Size};
use tonic::transport::{Channel, Endpoint};

/// How a role calls another role over gRPC (`ingester_client`, `querier_client`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcClientConfig {
    /// Deadline of each call.
    pub remote_timeout: Duration,
    /// How long establishing a connection may take before the member counts as down.
    pub connect_timeout: Duration,
    /// Largest message sent or received.
    pub max_message_size: Size,
}

impl GrpcClientConfig {
    /// Defaults for calls to ingesters: pushes must be quick, or the distributor should move on.
    pub fn for_ingesters() -> GrpcClientConfig {
        GrpcClientConfig { remote_timeout: Duration::secs(5), ..GrpcClientConfig::default() }
    }

    /// Checks the values, naming the config section in errors.
    pub fn validate(&self, section: &str) -> Result<(), String> {
        if self.remote_timeout.get().is_zero() {
            return Err(format!("{section}.remote_timeout must be above 0"));
        }
        if self.max_message_size.bytes() < 1024 * 1024 {
            return Err(format!("{section}.max_message_size must be at least 1MiB"));
        }
        Ok(())
    }

    pub(crate) fn max_message_bytes(&self) -> usize {
        self.max_message_size.as_usize()
    }
}

impl Default for GrpcClientConfig {
    fn default() -> Self {
        GrpcClientConfig {
            // Search jobs may run for the frontend's whole query timeout (30s by default).
            remote_timeout: Duration::secs(60),
            connect_timeout: Duration::secs(2),
            max_message_size: Size::mib(64),
        }
    }
}

/// A channel to `address` (`host:port`) that connects on first use and reconnects after
/// failures. Fails only when the address cannot form a URI, which config validation prevents.
pub fn lazy_channel(address: &str, config: &GrpcClientConfig) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| format!("{address} is not a host:port address: {e}"))?
        .connect_timeout(config.connect_timeout.get())
        .timeout(config.remote_timeout.get())
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs stall small calls ~40 ms.
        .tcp_nodelay(true)
        .http2_keep_alive_interval(std::time::Duration::from_secs(10))
        .keep_alive_timeout(std::time::Duration::from_secs(5))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}
