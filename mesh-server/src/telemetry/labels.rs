//! What a request is labelled with: its protocol, its method and its status, read from the
//! request and response without copying strings.

use std::fmt::{self, Write};

use http::uri::PathAndQuery;
use http::{HeaderMap, Method, StatusCode};
use mesh_core::model::grpc_code_of_http_status;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

use crate::respond::GRPC_STATUS;

/// gRPC's `CANCELLED`: the caller went away before the response ended.
const CANCELLED: u16 = 1;
/// gRPC's `UNKNOWN`: the response ended without a status.
const UNKNOWN: u16 = 2;
/// gRPC's `DEADLINE_EXCEEDED`: the call's deadline passed.
const DEADLINE_EXCEEDED: u16 = 4;
/// gRPC's `PERMISSION_DENIED`: the authorization refused the call.
const PERMISSION_DENIED: u16 = 7;
/// gRPC's `RESOURCE_EXHAUSTED`: the rate limit refused the call.
const RESOURCE_EXHAUSTED: u16 = 8;
/// gRPC's `UNIMPLEMENTED`: the server has no such method.
const UNIMPLEMENTED: u16 = 12;
/// The highest gRPC status code (`UNAUTHENTICATED`).
const MAX_CODE: u16 = 16;

/// How the request was made.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `content-type: application/grpc...`.
    Grpc,
    /// Anything else.
    Http,
}

impl EncodeLabelValue for Protocol {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        encoder.write_str(match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        })
    }
}

/// The text of the `method` label of a request that ended with `status`: the gRPC full method
/// (`/demo.ServiceB/Get`), the HTTP method (`GET`), or `other`.
///
/// A caller chooses the path and the method, so both would let it create series without end.
/// A gRPC call answered with a status the mesh itself gives before or instead of the
/// application (CANCELLED, DEADLINE_EXCEEDED, PERMISSION_DENIED, RESOURCE_EXHAUSTED,
/// UNIMPLEMENTED) or that failed without one is labelled `other`, and so is an HTTP method
/// outside the standard ones. Two gRPC paths are the same method whatever query they carry.
pub(crate) fn method_label<'a>(
    protocol: Protocol,
    path: &'a PathAndQuery,
    method: &'a Method,
    status: Status,
) -> &'a str {
    match protocol {
        Protocol::Grpc if is_mesh_status(status) => OTHER,
        Protocol::Grpc => path.path(),
        Protocol::Http if is_standard(method) => method.as_str(),
        Protocol::Http => OTHER,
    }
}

/// The `method` label of calls whose method is not told apart.
const OTHER: &str = "other";

/// Whether the mesh (not the application) may have produced the gRPC `status`.
fn is_mesh_status(status: Status) -> bool {
    matches!(
        status,
        Status::Grpc(
            CANCELLED | DEADLINE_EXCEEDED | PERMISSION_DENIED | RESOURCE_EXHAUSTED | UNIMPLEMENTED
        ) | Status::Error
    )
}

/// One of the nine methods of RFC 9110 and RFC 5789.
fn is_standard(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ]
    .contains(method)
}

/// How a request ended: the gRPC status code, the HTTP status, or `error` when it ended without
/// one (the application failed, or the response body broke off).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Status {
    /// A gRPC status code (`0`..`16`).
    Grpc(u16),
    /// An HTTP status.
    Http(StatusCode),
    /// No status: the call failed.
    Error,
}

impl Status {
    /// The status a response head says: an HTTP request's is its status; a gRPC request's is
    /// in its headers for a trailers-only response, implied by a non-200 HTTP status (as gRPC
    /// clients map it), or still to come in the trailers (`None`).
    pub(crate) fn of_head(
        protocol: Protocol,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Option<Status> {
        match protocol {
            Protocol::Http => Some(Status::Http(status)),
            Protocol::Grpc if status != StatusCode::OK => Some(Status::Grpc(
                grpc_code_of_http_status(status.as_u16()) as u16,
            )),
            Protocol::Grpc => Status::of_trailers(headers),
        }
    }

    /// The gRPC status in `trailers` (an unreadable one, or one past 16, is `UNKNOWN`, as the
    /// client reads it).
    pub(crate) fn of_trailers(trailers: &HeaderMap) -> Option<Status> {
        let value = trailers.get(GRPC_STATUS)?;
        let code = value
            .to_str()
            .ok()
            .and_then(|code| code.parse().ok())
            .filter(|code| *code <= MAX_CODE)
            .unwrap_or(UNKNOWN);
        Some(Status::Grpc(code))
    }

    /// Whether the call failed as OpenTelemetry sees it: no status, an HTTP 5xx, or a gRPC
    /// status that means the server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
    /// INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED).
    pub(crate) fn is_error(self) -> bool {
        match self {
            Status::Grpc(code) => matches!(code, 2 | 4 | 12 | 13 | 14 | 15 | 16),
            Status::Http(status) => status.is_server_error(),
            Status::Error => true,
        }
    }

    /// The status of a gRPC response whose body ended without one.
    pub(crate) const MISSING: Status = Status::Grpc(UNKNOWN);
    /// The status of a gRPC response the caller dropped before its end.
    pub(crate) const CANCELLED: Status = Status::Grpc(CANCELLED);
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Grpc(code) => write!(f, "{code}"),
            Status::Http(status) => f.write_str(status.as_str()),
            Status::Error => f.write_str("error"),
        }
    }
}

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        write!(encoder, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(status: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(status));
        headers
    }

    #[test]
    fn a_grpc_status_comes_from_a_trailers_only_head_or_the_trailers() {
        let ok = StatusCode::OK;
        let head = Status::of_head(Protocol::Grpc, ok, &headers("7"));
        assert_eq!(head, Some(Status::Grpc(7)));
        assert_eq!(Status::of_head(Protocol::Grpc, ok, &HeaderMap::new()), None);
        assert_eq!(Status::of_trailers(&headers("0")), Some(Status::Grpc(0)));
        assert_eq!(Status::of_trailers(&headers("x")), Some(Status::MISSING));
    }

    #[test]
    fn a_grpc_request_answered_in_plain_http_gets_the_status_clients_read() {
        let head = Status::of_head(Protocol::Grpc, StatusCode::NOT_FOUND, &HeaderMap::new());
        assert_eq!(head, Some(Status::Grpc(12)));
        let http = Status::of_head(Protocol::Http, StatusCode::NOT_FOUND, &headers("0"));
        assert_eq!(http, Some(Status::Http(StatusCode::NOT_FOUND)));
    }

    #[test]
    fn statuses_read_as_numbers_or_error() {
        assert_eq!(Status::Grpc(16).to_string(), "16");
        assert_eq!(Status::Http(StatusCode::FORBIDDEN).to_string(), "403");
        assert_eq!(Status::Error.to_string(), "error");
    }

    #[test]
    fn grpc_methods_are_the_same_label_whatever_their_query() {
        let query = PathAndQuery::from_static("/demo.S/Get?x=1");
        let label = method_label(Protocol::Grpc, &query, &Method::POST, Status::Grpc(0));
        assert_eq!(label, "/demo.S/Get");
    }

    #[test]
    fn callers_cannot_make_method_labels_without_end() {
        let path = PathAndQuery::from_static("/made.Up/Method1234");
        let label = |protocol, method: &Method, status| {
            method_label(protocol, &path, method, status).to_string()
        };
        let post = Method::POST;
        assert_eq!(
            label(Protocol::Grpc, &post, Status::Grpc(0)),
            "/made.Up/Method1234"
        );
        assert_eq!(
            label(Protocol::Grpc, &post, Status::Grpc(5)),
            "/made.Up/Method1234",
            "an application status keeps the method"
        );
        // Statuses a caller gets from the mesh for any path it makes up: cancelled by a reset,
        // past the deadline, denied, rate limited, no such method, or no status at all.
        for status in [1, 4, 7, 8, 12]
            .map(Status::Grpc)
            .into_iter()
            .chain([Status::Error])
        {
            assert_eq!(label(Protocol::Grpc, &post, status), "other", "{status}");
        }
        let custom = Method::from_bytes(b"FROB123").unwrap();
        assert_eq!(label(Protocol::Http, &custom, Status::Error), "other");
        assert_eq!(
            label(Protocol::Http, &Method::PATCH, Status::Error),
            "PATCH"
        );
    }

    #[test]
    fn grpc_codes_past_16_are_unknown() {
        assert_eq!(Status::of_trailers(&headers("16")), Some(Status::Grpc(16)));
        assert_eq!(Status::of_trailers(&headers("17")), Some(Status::MISSING));
        assert_eq!(
            Status::of_trailers(&headers("65535")),
            Some(Status::MISSING)
        );
    }

    #[test]
    fn server_failures_are_errors_caller_mistakes_are_not() {
        for code in [2, 4, 12, 13, 14, 15, 16] {
            assert!(Status::Grpc(code).is_error(), "{code}");
        }
        for code in [0, 1, 3, 5, 6, 7, 8, 9, 10, 11] {
            assert!(!Status::Grpc(code).is_error(), "{code}");
        }
        assert!(Status::Http(StatusCode::BAD_GATEWAY).is_error());
        assert!(!Status::Http(StatusCode::NOT_FOUND).is_error());
        assert!(Status::Error.is_error());
    }
}
