use std::fmt;

/// What kind of failure an error is, as a client sees it.
///
/// Every crate maps its own error enum onto one of these; the mapping to gRPC codes and HTTP
/// statuses happens here and nowhere else, so retry semantics stay consistent across protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The client sent something malformed or invalid. Not retryable.
    BadRequest,
    /// The request was too large to accept. Not retryable.
    PayloadTooLarge,
    /// A tenant header is missing where multi-tenancy requires one.
    Unauthenticated,
    /// The thing asked for does not exist.
    NotFound,
    /// The tenant is over a rate limit. Retryable after a delay.
    RateLimited,
    /// The server is overloaded, shutting down or not ready. Retryable.
    Unavailable,
    /// A bug or an unexpected storage failure.
    Internal,
}

impl ErrorCode {
    /// The HTTP status code for this kind of error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The gRPC status code number (as in `google.rpc.Code`) for this kind of error.
    ///
    /// Oversized messages are `RESOURCE_EXHAUSTED` without retry info, which OTLP clients treat as
    /// permanent; rate limits are `RESOURCE_EXHAUSTED` and callers attach `RetryInfo`.
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorCode::BadRequest => 3,       // INVALID_ARGUMENT
            ErrorCode::NotFound => 5,         // NOT_FOUND
            ErrorCode::PayloadTooLarge => 8,  // RESOURCE_EXHAUSTED
            ErrorCode::RateLimited => 8,      // RESOURCE_EXHAUSTED (+ RetryInfo)
            ErrorCode::Internal => 13,        // INTERNAL
            ErrorCode::Unavailable => 14,     // UNAVAILABLE
            ErrorCode::Unauthenticated => 16, // UNAUTHENTICATED
        }
    }

    /// Whether a client should retry the same request later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::RateLimited | ErrorCode::Unavailable)
    }
}

/// An error that crosses a role boundary: a code plus a message that is safe to show a client.
///
/// Internal details (paths, storage errors) are logged where they happen and replaced by a short
/// message before they are put in a `ServiceError`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ServiceError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A message for the client.
    pub message: String,
}

impl ServiceError {
    /// Builds an error from a code and a client-safe message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError { code, message: message.into() }
    }

    /// A bad-request error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// An internal error: the message should not carry internal details.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// A retryable overload or not-ready error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_retryable_and_bad_input_is_not() {
        assert!(ErrorCode::RateLimited.is_retryable());
        assert!(ErrorCode::Unavailable.is_retryable());
        assert!(!ErrorCode::BadRequest.is_retryable());
        assert_eq!(ErrorCode::BadRequest.http_status(), 400);
        assert_eq!(ErrorCode::BadRequest.grpc_code(), 3);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert_eq!(ErrorCode::Unavailable.grpc_code(), 14);
    }
}
