use strand_backend::BackendError;
use strand_common::ErrorCode;
use strand_encoding::BlockError;

/// What went wrong in a compaction pass.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    /// Listing, reading or writing object storage failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Reading the input blocks or writing the merged one failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The local file the merged block is built in could not be created or removed.
    #[error("local work file: {0}")]
    Io(#[from] std::io::Error),
    /// A CPU-pool task panicked or was cancelled.
    #[error("compactor task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl CompactorError {
    /// Storage trouble is worth retrying next cycle; the rest points at a bug or a damaged block.
    pub fn code(&self) -> ErrorCode {
        match self {
            CompactorError::Backend(err) => err.code(),
            CompactorError::Block(err) => err.code(),
            CompactorError::Io(_) | CompactorError::Task(_) => ErrorCode::Internal,
        }
    }
}
