use std::path::{Path, PathBuf};

use strand_common::{ErrorCode, ServiceError};

/// What went wrong with the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file operation failed.
    #[error("wal: {action} {}: {source}", path.display())]
    Io {
        /// What the WAL was doing, such as "syncing segment".
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The WAL was closed; nothing more can be appended.
    #[error("wal is closed")]
    Closed,
    /// A write or sync failed earlier. The WAL refuses every later record rather than acknowledge
    /// one it cannot promise is on disk; the ingester must be restarted (and replay) to recover.
    #[error("wal failed and accepts no more records: {reason}")]
    Failed {
        /// The first failure.
        reason: String,
    },
    /// A record is empty or over [`super::MAX_RECORD_LEN`], so replay could not tell it from
    /// corruption.
    #[error("wal records must hold 1 to {max} bytes, this one holds {len}")]
    RecordSize {
        /// The payload's length.
        len: usize,
        /// The largest payload allowed.
        max: usize,
    },
    /// A record payload could not be decoded.
    #[error("corrupt wal record: {reason}")]
    CorruptRecord {
        /// What was wrong with it.
        reason: String,
    },
}

impl WalError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> WalError {
        WalError::Io { action, path: path.to_path_buf(), source }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> WalError {
        WalError::CorruptRecord { reason: reason.into() }
    }

    /// The client-facing kind of this error. A push the WAL could not take is retryable: another
    /// ingester of the replication set, or this one after a restart, can take it.
    pub fn code(&self) -> ErrorCode {
        match self {
            WalError::Io { .. } | WalError::Closed | WalError::Failed { .. } => ErrorCode::Unavailable,
            WalError::RecordSize { .. } => ErrorCode::PayloadTooLarge,
            WalError::CorruptRecord { .. } => ErrorCode::Internal,
        }
    }
}

impl From<WalError> for ServiceError {
    fn from(err: WalError) -> Self {
        // Paths and OS errors stay in the logs; clients only learn the kind of failure.
        tracing::warn!(error = %err, "wal error");
        let message = match err {
            WalError::RecordSize { .. } => "push too large for the write-ahead log",
            WalError::CorruptRecord { .. } => "corrupt write-ahead log record",
            WalError::Io { .. } | WalError::Closed | WalError::Failed { .. } => "write-ahead log unavailable",
        };
        ServiceError::new(err.code(), message)
    }
}
