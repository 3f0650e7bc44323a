//! What a request is labelled with: its protocol, its method and its status, taken from the
//! request and response without copying strings.

use std::fmt::{self, Write};
use std::hash::{Hash, Hasher};

use http::uri::PathAndQuery;
use http::{HeaderMap, Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// gRPC's `CANCELLED`: the caller went away before the response ended.
const CANCELLED: u16 = 1;
/// gRPC's `UNKNOWN`: the response ended without a status.
const UNKNOWN: u16 = 2;
/// gRPC's `UNIMPLEMENTED`: the server has no such method.
const UNIMPLEMENTED: u16 = 12;

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

/// The `method` label: the gRPC full method (`/demo.ServiceB/Get`) or the HTTP method (`GET`).
///
/// Both are clones of the request's own (reference-counted) parts, not new strings. Two gRPC
/// paths are the same method when their paths are, whatever query they carry.
///
/// A caller chooses the path and the method, so both would let it create series without end:
/// gRPC calls the server has no method for (answered UNIMPLEMENTED) and HTTP methods outside
/// the standard ones are all labelled `other`.
#[derive(Clone, Debug)]
pub(crate) enum MethodLabel {
    /// The request's path.
    Grpc(PathAndQuery),
    /// The request's method.
    Http(Method),
    /// An unknown gRPC method or a non-standard HTTP method.
    Other,
}

impl MethodLabel {
    /// The label of a request that ended with `status`.
    pub(crate) fn new(
        protocol: Protocol,
        path: &PathAndQuery,
        method: &Method,
        status: Status,
    ) -> MethodLabel {
        match protocol {
            Protocol::Grpc if status == Status::Grpc(UNIMPLEMENTED) => MethodLabel::Other,
            Protocol::Grpc => MethodLabel::Grpc(path.clone()),
            Protocol::Http if is_standard(method) => MethodLabel::Http(method.clone()),
            Protocol::Http => MethodLabel::Other,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            MethodLabel::Grpc(path) => path.path(),
            MethodLabel::Http(method) => method.as_str(),
            MethodLabel::Other => "other",
        }
    }
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

impl PartialEq for MethodLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for MethodLabel {}

impl Hash for MethodLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        encoder.write_str(self.as_str())
    }
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
            Protocol::Grpc if status != StatusCode::OK => Some(Status::Grpc(grpc_of_http(status))),
            Protocol::Grpc => Status::of_trailers(headers),
        }
    }

    /// The gRPC status in `trailers` (an unreadable one is `UNKNOWN`).
    pub(crate) fn of_trailers(trailers: &HeaderMap) -> Option<Status> {
        let value = trailers.get("grpc-status")?;
        let code = value
            .to_str()
            .ok()
            .and_then(|code| code.parse().ok())
            .unwrap_or(UNKNOWN);
        Some(Status::Grpc(code))
    }

    /// The status of a gRPC response whose body ended without one.
    pub(crate) const MISSING: Status = Status::Grpc(UNKNOWN);
    /// The status of a gRPC response the caller dropped before its end.
    pub(crate) const CANCELLED: Status = Status::Grpc(CANCELLED);
}

/// The gRPC status a client reads from a non-200 HTTP status (gRPC's HTTP-to-gRPC mapping).
fn grpc_of_http(status: StatusCode) -> u16 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => UNKNOWN,
    }
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
        let plain = MethodLabel::Grpc(PathAndQuery::from_static("/demo.S/Get"));
        let query = MethodLabel::Grpc(PathAndQuery::from_static("/demo.S/Get?x=1"));
        assert_eq!(plain, query);
        assert_eq!(query.as_str(), "/demo.S/Get");
        assert_ne!(plain, MethodLabel::Http(Method::GET));
    }

    #[test]
    fn callers_cannot_make_method_labels_without_end() {
        let path = PathAndQuery::from_static("/made.Up/Method1234");
        let label = |protocol, method: &Method, status| {
            MethodLabel::new(protocol, &path, method, status)
                .as_str()
                .to_string()
        };
        let post = Method::POST;
        assert_eq!(
            label(Protocol::Grpc, &post, Status::Grpc(0)),
            "/made.Up/Method1234"
        );
        assert_eq!(
            label(Protocol::Grpc, &post, Status::Grpc(UNIMPLEMENTED)),
            "other"
        );
        let custom = Method::from_bytes(b"FROB123").unwrap();
        assert_eq!(label(Protocol::Http, &custom, Status::Error), "other");
        assert_eq!(
            label(Protocol::Http, &Method::PATCH, Status::Error),
            "PATCH"
        );
    }
}
