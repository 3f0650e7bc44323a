//! What went wrong with an attempt, and what that means for retries and the endpoint.
//!
//! Only what is known before the response is committed counts: a connection failure, a request
//! the endpoint refused unprocessed, a failure on the connection after the request went out, a
//! per-try timeout, an HTTP 5xx status, or a non-OK gRPC status in the response head (a
//! trailers-only response). A gRPC status that comes in the trailers of a streamed response is
//! the caller's to see.
//!
//! Only what surely did not run is retried as a connection failure: a connection that could not
//! be made, and a request HTTP/2 says the endpoint did not process (REFUSED_STREAM, or a
//! graceful GOAWAY below its stream). A request that failed after it may have run is not
//! retried, since running it twice may not be safe.

use std::error::Error as _;
use std::fmt;

use http::header::HeaderName;
use http::{HeaderMap, StatusCode};
use mesh_core::model::{RetryOn, grpc_code_of_http_status};

use crate::connect::Caller;

/// The header of a gRPC response's status.
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// How an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection to the endpoint could not be made.
    Connect,
    /// The endpoint refused the request without processing it.
    Refused,
    /// The request failed on the connection after it went out: it may have run.
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
        if let Some(code) = headers.get(GRPC_STATUS) {
            let code = tonic::Code::from_bytes(code.as_bytes());
            return (code != tonic::Code::Ok).then_some(Failure::Grpc(code));
        }
        status.is_server_error().then_some(Failure::Http(status))
    }

    /// The failure the HTTP client's `error` reports; `None` when the caller's side failed (a
    /// request body error, say), which no retry would fix and which does not count against the
    /// endpoint. (A per-try timeout is [`Failure::TryTimeout`]; errors before an attempt is
    /// sent, such as a missing identity for mTLS, are no attempt's failure.)
    pub(crate) fn of_client_error(error: &hyper_util::client::legacy::Error) -> Option<Failure> {
        if error.is_connect() {
            return Some(Failure::Connect);
        }
        let mut source = error.source();
        while let Some(cause) = source {
            if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
                if hyper.is_user() {
                    return None;
                }
                if hyper.is_canceled() {
                    return Some(Failure::Refused);
                }
            }
            if let Some(h2) = cause.downcast_ref::<h2::Error>() {
                // A reset neither the endpoint nor h2 made: hyper's, for the caller's body.
                if h2.is_reset() && !h2.is_remote() && !h2.is_library() {
                    return None;
                }
                let refused = h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                    || (h2.is_go_away()
                        && h2.is_remote()
                        && h2.reason() == Some(h2::Reason::NO_ERROR));
                return Some(if refused {
                    Failure::Refused
                } else {
                    Failure::Reset
                });
            }
            source = cause.source();
        }
        Some(Failure::Reset)
    }

    /// Whether a policy retrying on `retry_on` retries this failure for a `caller`.
    ///
    /// A connection failure or a refused request is retried under `connect_failure`. A request
    /// that may have run (a reset) never is. A per-try timeout may have run too, so it is
    /// retried only when the policy asks for it by name: DEADLINE_EXCEEDED for a gRPC caller,
    /// HTTP 504 for an HTTP caller. For a gRPC caller, an HTTP status without `grpc-status`
    /// also counts as the gRPC status gRPC maps it to (a proxy's 503 is UNAVAILABLE).
    pub(crate) fn is_retriable(self, retry_on: &RetryOn, caller: Caller) -> bool {
        match (self, caller) {
            (Failure::Connect | Failure::Refused, _) => retry_on.connect_failure,
            (Failure::Reset, _) => false,
            (Failure::TryTimeout, Caller::Grpc) => {
                retry_on.grpc_codes.contains(&tonic::Code::DeadlineExceeded)
            }
            (Failure::TryTimeout, Caller::Http) => retry_on.http_statuses.contains(&504),
            (Failure::Http(status), Caller::Grpc) => {
                retry_on.http_statuses.contains(&status.as_u16())
                    || retry_on
                        .grpc_codes
                        .contains(&grpc_code_of_http_status(status.as_u16()))
            }
            (Failure::Http(status), Caller::Http) => {
                retry_on.http_statuses.contains(&status.as_u16())
            }
            (Failure::Grpc(code), _) => retry_on.grpc_codes.contains(&code),
        }
    }

    /// Whether it counts against the endpoint (for outlier detection): connection failures,
    /// refusals, resets, timeouts, 5xx and UNAVAILABLE do; other gRPC statuses are the
    /// application's.
    pub(crate) fn is_endpoint_failure(self) -> bool {
        match self {
            Failure::Connect
            | Failure::Refused
            | Failure::Reset
            | Failure::TryTimeout
            | Failure::Http(_) => true,
            Failure::Grpc(code) => code == tonic::Code::Unavailable,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect => f.write_str("connect failure"),
            Failure::Refused => f.write_str("refused unprocessed"),
            Failure::Reset => f.write_str("failed after the request went out"),
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
        headers.insert(GRPC_STATUS, HeaderValue::from_static(code));
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
        let grpc = |f: Failure| f.is_retriable(&on, Caller::Grpc);
        assert!(grpc(Failure::Grpc(tonic::Code::Unavailable)));
        assert!(!grpc(Failure::Grpc(tonic::Code::Internal)));
        assert!(grpc(Failure::Http(StatusCode::SERVICE_UNAVAILABLE)));
        assert!(!Failure::Http(StatusCode::BAD_GATEWAY).is_retriable(&on, Caller::Http));
        assert!(!grpc(Failure::Connect));
        assert!(!grpc(Failure::Refused));
    }

    #[test]
    fn a_grpc_caller_retries_a_proxys_status_as_the_grpc_status_it_maps_to() {
        let on = RetryOn {
            grpc_codes: vec![tonic::Code::Unavailable],
            ..Default::default()
        };
        for status in [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE] {
            assert!(Failure::Http(status).is_retriable(&on, Caller::Grpc));
            assert!(!Failure::Http(status).is_retriable(&on, Caller::Http));
        }
        let internal = Failure::Http(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.is_retriable(&on, Caller::Grpc));
    }

    #[test]
    fn only_unprocessed_requests_are_retried_as_connect_failures() {
        let on = RetryOn {
            connect_failure: true,
            ..Default::default()
        };
        assert!(Failure::Connect.is_retriable(&on, Caller::Http));
        assert!(Failure::Refused.is_retriable(&on, Caller::Grpc));
        assert!(!Failure::Reset.is_retriable(&on, Caller::Grpc));
        assert!(!Failure::Reset.is_retriable(&on, Caller::Http));
    }

    #[test]
    fn a_per_try_timeout_is_retried_only_when_named() {
        let unavailable = RetryOn {
            grpc_codes: vec![tonic::Code::Unavailable],
            http_statuses: vec![503],
            connect_failure: true,
        };
        assert!(!Failure::TryTimeout.is_retriable(&unavailable, Caller::Grpc));
        assert!(!Failure::TryTimeout.is_retriable(&unavailable, Caller::Http));
        let deadline = RetryOn {
            grpc_codes: vec![tonic::Code::DeadlineExceeded],
            ..Default::default()
        };
        assert!(Failure::TryTimeout.is_retriable(&deadline, Caller::Grpc));
        assert!(!Failure::TryTimeout.is_retriable(&deadline, Caller::Http));
        let gateway_timeout = RetryOn {
            http_statuses: vec![504],
            ..Default::default()
        };
        assert!(Failure::TryTimeout.is_retriable(&gateway_timeout, Caller::Http));
        assert!(!Failure::TryTimeout.is_retriable(&gateway_timeout, Caller::Grpc));
    }

    #[test]
    fn application_statuses_do_not_count_against_the_endpoint() {
        assert!(Failure::Grpc(tonic::Code::Unavailable).is_endpoint_failure());
        assert!(!Failure::Grpc(tonic::Code::NotFound).is_endpoint_failure());
        assert!(Failure::Reset.is_endpoint_failure());
    }
}
