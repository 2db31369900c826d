//! What every client of another member holds: its address and one shared channel to it.

use std::sync::Arc;

use strand_common::ServiceError;
use tonic::Status;
use tonic::transport::Channel;

use crate::channel::{GrpcClientConfig, lazy_channel};
use crate::status::from_status;

#[derive(Clone)]
pub(crate) struct Peer {
    address: Arc<str>,
    channel: Result<Channel, String>,
    pub(crate) max_message_size: usize,
}

impl Peer {
    pub(crate) fn new(address: &str, config: &GrpcClientConfig) -> Peer {
        Peer {
            address: address.into(),
            channel: lazy_channel(address, config),
            max_message_size: config.max_message_bytes(),
        }
    }

    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    pub(crate) fn channel(&self) -> Result<Channel, ServiceError> {
        self.channel.clone().map_err(ServiceError::internal)
    }

    /// The error a call to this member failed with.
    pub(crate) fn failed(&self, status: &Status) -> ServiceError {
        from_status(status, &self.address)
    }

    pub(crate) async fn is_serving(&self, service: &str) -> bool {
        match &self.channel {
            Ok(channel) => crate::health::is_serving(channel.clone(), service).await,
            Err(_) => false,
        }
    }
}
