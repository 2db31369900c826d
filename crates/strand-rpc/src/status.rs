//! `ServiceError` across the wire, without losing its code.
//!
//! Several error codes share one gRPC code (`PayloadTooLarge` and `RateLimited` are both
//! `RESOURCE_EXHAUSTED`), so the exact code travels in a metadata entry; the gRPC code is the
//! fallback for anything that did not come from a strand server (transport failures, timeouts).

use strand_common::{ErrorCode, ServiceError};
use tonic::{Code, Status};

const ERROR_CODE_KEY: &str = "strand-error-code";

const CODES: [(ErrorCode, &str); 7] = [
    (ErrorCode::BadRequest, "bad-request"),
    (ErrorCode::PayloadTooLarge, "payload-too-large"),
    (ErrorCode::Unauthenticated, "unauthenticated"),
    (ErrorCode::NotFound, "not-found"),
    (ErrorCode::RateLimited, "rate-limited"),
    (ErrorCode::Unavailable, "unavailable"),
    (ErrorCode::Internal, "internal"),
];

/// The status a server answers for `err`.
pub fn to_status(err: ServiceError) -> Status {
    let mut status = Status::new(Code::from_i32(err.code.grpc_code()), err.message);
    let name = CODES.iter().find(|(code, _)| *code == err.code).map(|(_, name)| *name);
    if let Some(value) = name.and_then(|name| name.parse().ok()) {
        status.metadata_mut().insert(ERROR_CODE_KEY, value);
    }
    status
}

/// The error a client reports for `status`, naming the peer it came from.
pub fn from_status(status: &Status, peer: &str) -> ServiceError {
    let sent = status.metadata().get(ERROR_CODE_KEY).and_then(|value| value.to_str().ok());
    let code = sent
        .and_then(|sent| CODES.iter().find(|(_, name)| *name == sent).map(|(code, _)| *code))
        .unwrap_or_else(|| code_of(status.code()));
    // A strand server's message is already client-safe; transport errors get the peer named,
    // since "connection refused" alone does not say which member is down.
    let message = if sent.is_some() { status.message().to_string() } else { format!("{peer}: {}", status.message()) };
    ServiceError::new(code, message)
}

fn code_of(code: Code) -> ErrorCode {
    match code {
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => ErrorCode::BadRequest,
        Code::NotFound => ErrorCode::NotFound,
        Code::ResourceExhausted => ErrorCode::RateLimited,
        Code::Unauthenticated | Code::PermissionDenied => ErrorCode::Unauthenticated,
        // Transport failures, deadlines and a peer going away are all "try another member".
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted | Code::Unknown => {
            ErrorCode::Unavailable
        }
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_the_round_trip() {
        for (code, _) in CODES {
            let sent = ServiceError::new(code, "why");
            assert_eq!(from_status(&to_status(sent.clone()), "peer"), sent);
        }
    }

    #[test]
    fn statuses_from_elsewhere_map_by_grpc_code_and_name_the_peer() {
        let refused = from_status(&Status::unavailable("connection refused"), "10.0.0.3:9095");
        assert_eq!(refused.code, ErrorCode::Unavailable);
        assert_eq!(refused.message, "10.0.0.3:9095: connection refused");
        assert_eq!(from_status(&Status::deadline_exceeded("late"), "p").code, ErrorCode::Unavailable);
        assert_eq!(from_status(&Status::invalid_argument("bad"), "p").code, ErrorCode::BadRequest);
        assert_eq!(from_status(&Status::internal("boom"), "p").code, ErrorCode::Internal);
    }
}
