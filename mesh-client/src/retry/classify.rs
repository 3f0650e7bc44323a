//! What went wrong with an attempt, and what that means for retries and the endpoint.
//!
//! Only what is known before the response is committed counts: a connection failure, a reset
//! before the response head, a per-try timeout, an HTTP 5xx status, or a non-OK gRPC status in
//! the response head (a trailers-only response). A gRPC status that comes in the trailers of a
//! streamed response is the caller's to see.

use std::fmt;

use http::{HeaderMap, StatusCode};
use mesh_core::model::RetryOn;

use crate::Error;

/// How an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection to the endpoint could not be made.
    Connect,
    /// The request failed on the connection before a response came.
    Reset,
    /// No response within the per-try timeout.
    TryTimeout,
    /// A 5xx response.
    Http(StatusCode),
    /// A trailers-only gRPC response with a non-OK status.
    Grpc(tonic::Code),
}

impl Failure {
    /// The failure a response head reports, if any.
    pub(crate) fn of_response(status: StatusCode, headers: &HeaderMap) -> Option<Failure> {
        if let Some(code) = headers.get("grpc-status") {
            let code = tonic::Code::from_bytes(code.as_bytes());
            return (code != tonic::Code::Ok).then_some(Failure::Grpc(code));
        }
        status.is_server_error().then_some(Failure::Http(status))
    }

    /// The failure an attempt's error reports; `None` for an error that is not the endpoint's
    /// (such as a missing identity for mTLS), which no retry would fix.
    pub(crate) fn of_error(error: &Error) -> Option<Failure> {
        match error {
            Error::Connect { .. } => Some(Failure::Connect),
            Error::Request { .. } => Some(Failure::Reset),
            Error::TryTimeout { .. } => Some(Failure::TryTimeout),
            _ => None,
        }
    }

    /// Whether a policy retrying on `retry_on` retries this failure. A per-try timeout always
    /// is (as in Envoy): the policy that set the timeout expects another attempt.
    pub(crate) fn is_retriable(self, retry_on: &RetryOn) -> bool {
        match self {
            Failure::Connect | Failure::Reset => retry_on.connect_failure,
            Failure::TryTimeout => true,
            Failure::Http(status) => retry_on.http_statuses.contains(&status.as_u16()),
            Failure::Grpc(code) => retry_on.grpc_codes.contains(&code),
        }
    }

    /// Whether it counts against the endpoint (for outlier detection): connection failures,
    /// resets, timeouts, 5xx and UNAVAILABLE do; other gRPC statuses are the application's.
    pub(crate) fn is_endpoint_failure(self) -> bool {
        match self {
            Failure::Connect | Failure::Reset | Failure::TryTimeout | Failure::Http(_) => true,
            Failure::Grpc(code) => code == tonic::Code::Unavailable,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect => f.write_str("connect failure"),
            Failure::Reset => f.write_str("reset before the response"),
            Failure::TryTimeout => f.write_str("per-try timeout"),
            Failure::Http(status) => write!(f, "HTTP {}", status.as_u16()),
            Failure::Grpc(code) => write!(f, "gRPC {code:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn grpc(code: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(code));
        headers
    }

    #[test]
    fn responses_fail_on_5xx_and_non_ok_grpc_status_in_the_head() {
        let none = HeaderMap::new();
        assert_eq!(Failure::of_response(StatusCode::OK, &none), None);
        assert_eq!(Failure::of_response(StatusCode::NOT_FOUND, &none), None);
        assert_eq!(
            Failure::of_response(StatusCode::BAD_GATEWAY, &none),
            Some(Failure::Http(StatusCode::BAD_GATEWAY))
        );
        assert_eq!(Failure::of_response(StatusCode::OK, &grpc("0")), None);
        assert_eq!(
            Failure::of_response(StatusCode::OK, &grpc("14")),
            Some(Failure::Grpc(tonic::Code::Unavailable))
        );
    }

    #[test]
    fn only_configured_failures_are_retried() {
        let on = RetryOn {
            grpc_codes: vec![tonic::Code::Unavailable],
            http_statuses: vec![503],
            connect_failure: false,
        };
        assert!(Failure::Grpc(tonic::Code::Unavailable).is_retriable(&on));
        assert!(!Failure::Grpc(tonic::Code::Internal).is_retriable(&on));
        assert!(Failure::Http(StatusCode::SERVICE_UNAVAILABLE).is_retriable(&on));
        assert!(!Failure::Http(StatusCode::BAD_GATEWAY).is_retriable(&on));
        assert!(!Failure::Connect.is_retriable(&on));
        assert!(Failure::TryTimeout.is_retriable(&on));
    }

    #[test]
    fn application_statuses_do_not_count_against_the_endpoint() {
        assert!(Failure::Grpc(tonic::Code::Unavailable).is_endpoint_failure());
        assert!(!Failure::Grpc(tonic::Code::NotFound).is_endpoint_failure());
        assert!(Failure::Reset.is_endpoint_failure());
    }
}
