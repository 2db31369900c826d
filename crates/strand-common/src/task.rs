use tokio::task::JoinError;

/// Runs CPU-heavy work (Parquet encode/decode, compression, big protobuf decodes) on the blocking
/// pool so it never stalls the async runtime's reactor threads.
pub async fn spawn_cpu<F, T>(work: F) -> Result<T, JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work).await
}
