use strand_common::{ErrorCode, ServiceError};

/// What went wrong talking to object storage.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The object store failed (network, permissions, missing bucket…).
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A stored object could not be decoded.
    #[error("corrupt object {key}: {reason}")]
    Corrupt {
        /// The key of the object.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The configuration cannot produce a working backend.
    #[error("storage configuration: {0}")]
    Config(String),
}

impl BackendError {
    /// The client-facing kind of this error: storage trouble is retryable from a client's view.
    pub fn code(&self) -> ErrorCode {
        match self {
            BackendError::Store(_) => ErrorCode::Unavailable,
            BackendError::Corrupt { .. } | BackendError::Config(_) => ErrorCode::Internal,
        }
    }
}

impl From<BackendError> for ServiceError {
    fn from(err: BackendError) -> Self {
        // Details stay in the logs; clients only learn the kind of failure.
        tracing::warn!(error = %err, "object storage error");
        ServiceError::new(err.code(), "object storage error")
    }
}
