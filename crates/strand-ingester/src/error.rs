use strand_common::{ErrorCode, ServiceError};

/// What went wrong in the ingester.
#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    /// The WAL could not be written or read.
    #[error("wal: {0}")]
    Wal(#[from] strand_encoding::WalError),
    /// Local disk trouble outside the WAL (head blocks).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A block could not be built or uploaded.
    #[error("block: {0}")]
    Block(#[from] strand_encoding::BlockError),
    /// The tenant holds too many bytes of live traces.
    #[error(
        "LIVE_TRACES_EXCEEDED: tenant {tenant} has {live_bytes} bytes of live traces, the limit is {limit}; retry later"
    )]
    LiveTracesExceeded {
        /// The tenant.
        tenant: String,
        /// Bytes of live traces held now.
        live_bytes: usize,
        /// The limit.
        limit: u64,
    },
    /// The ingester is shutting down or still starting.
    #[error("ingester is not accepting writes: {0}")]
    NotAccepting(&'static str),
    /// The WAL replay at start did not finish; the ingester never takes pushes.
    #[error("wal replay failed: {0}")]
    ReplayFailed(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl IngesterError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        IngesterError::Io { context: context.into(), source }
    }
}

impl From<IngesterError> for ServiceError {
    fn from(err: IngesterError) -> Self {
        match err {
            // One tenant over its memory budget: a limit, not a sick ingester, so a distributor
            // must not take the ingester out of its ring for every tenant over it.
            IngesterError::LiveTracesExceeded { .. } => ServiceError::new(ErrorCode::RateLimited, err.to_string()),
            IngesterError::NotAccepting(_) => ServiceError::new(ErrorCode::Unavailable, err.to_string()),
            other => {
                tracing::error!(error = %other, "ingester failure");
                // A storage failure is retryable from the client's view: nothing was acknowledged.
                ServiceError::new(ErrorCode::Unavailable, "ingester storage failure; retry later")
            }
        }
    }
}
