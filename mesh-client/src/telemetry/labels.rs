//! The label sets of the client's metric families.
//!
//! Labels fixed per route or cluster are `Arc<str>`s shared with the route table, so making a
//! label set costs reference counts, not allocations; the status is a number and the peer the
//! connection's shared SPIFFE ID, both written out only when the registry is rendered.

use std::fmt::{self, Write};
use std::sync::{Arc, LazyLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use spiffe::SpiffeId;

/// The `route` and `cluster` labels of a call that was never routed: `-`, shared.
pub(crate) static UNROUTED: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("-"));

/// `mesh_client_requests_total`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) protocol: &'static str,
    pub(crate) route: Arc<str>,
    pub(crate) cluster: Arc<str>,
    pub(crate) peer: Peer,
    pub(crate) status: Status,
}

/// `mesh_client_request_duration_seconds`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DurationLabels {
    pub(crate) protocol: &'static str,
    pub(crate) route: Arc<str>,
    pub(crate) cluster: Arc<str>,
    pub(crate) status: Status,
}

/// `mesh_client_requests_in_flight`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: Arc<str>,
    pub(crate) cluster: Arc<str>,
}

/// The labels of the per-cluster resilience counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClusterLabels {
    pub(crate) cluster: Arc<str>,
}

impl ClusterLabels {
    pub(crate) fn of(cluster: &Arc<str>) -> Self {
        Self {
            cluster: Arc::clone(cluster),
        }
    }
}

/// `mesh_client_faults_injected_total`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FaultLabels {
    pub(crate) route: Arc<str>,
    pub(crate) kind: &'static str,
}

/// How a call ended: a gRPC status code or an HTTP status, or an HTTP call that got no
/// response (`error`).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Status {
    /// The gRPC status code, or the HTTP status.
    Code(u16),
    /// No response.
    Error,
}

impl Status {
    /// gRPC's CANCELLED: the caller gave up on the call.
    pub(crate) const CANCELLED: Status = Status::Code(1);
    /// gRPC's UNKNOWN: a response that ended without a valid `grpc-status`.
    pub(crate) const UNKNOWN: Status = Status::Code(2);
    /// gRPC's UNAVAILABLE: the response body broke off.
    pub(crate) const UNAVAILABLE: Status = Status::Code(14);

    /// The OK status of `protocol` (`grpc` or `http`): 0 or 200.
    pub(crate) fn ok(protocol: &str) -> Status {
        match protocol {
            "grpc" => Status::Code(0),
            _ => Status::Code(200),
        }
    }

    /// Whether a call of `protocol` that ended so failed, for the span's `otel.status_code`:
    /// no response, a 5xx, or the gRPC codes that say the server or the call broke (UNKNOWN,
    /// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED).
    pub(crate) fn is_error(self, protocol: &str) -> bool {
        match (self, protocol) {
            (Status::Error, _) => true,
            (Status::Code(code), "grpc") => matches!(code, 2 | 4 | 12 | 13 | 14 | 15 | 16),
            (Status::Code(code), _) => code >= 500,
        }
    }

    /// The status a `grpc-status` value says: its code, UNKNOWN if it is none of gRPC's.
    pub(crate) fn of_grpc(value: &http::HeaderValue) -> Status {
        let code = std::str::from_utf8(value.as_bytes()).ok();
        match code.and_then(|code| code.parse::<u16>().ok()) {
            Some(code) if code <= 16 => Status::Code(code),
            _ => Status::UNKNOWN,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Code(code) => write!(f, "{code}"),
            Status::Error => f.write_str("error"),
        }
    }
}

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        write!(encoder, "{self}")
    }
}

/// The SPIFFE ID of the server that answered, shared with its connection; none (an empty
/// label) over plaintext.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub(crate) struct Peer(pub(crate) Option<Arc<SpiffeId>>);

impl EncodeLabelValue for Peer {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        match &self.0 {
            Some(id) => write!(encoder, "{id}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_status_values_outside_the_codes_are_unknown() {
        let status = |v: &'static str| Status::of_grpc(&http::HeaderValue::from_static(v));
        assert_eq!(status("0"), Status::Code(0));
        assert_eq!(status("16"), Status::Code(16));
        assert_eq!(status("17"), Status::UNKNOWN);
        assert_eq!(status("x"), Status::UNKNOWN);
        assert_eq!(Status::Error.to_string(), "error");
        assert_eq!(Status::Code(200).to_string(), "200");
    }

    #[test]
    fn error_statuses_are_those_of_a_broken_server_or_call() {
        let errors = |protocol| (0..=16).filter(move |c| Status::Code(*c).is_error(protocol));
        assert_eq!(
            errors("grpc").collect::<Vec<_>>(),
            [2, 4, 12, 13, 14, 15, 16]
        );
        assert!(Status::Error.is_error("http") && Status::Error.is_error("grpc"));
        assert!(Status::Code(503).is_error("http"));
        assert!(!Status::Code(404).is_error("http"));
        assert_eq!(Status::ok("grpc"), Status::Code(0));
        assert_eq!(Status::ok("http"), Status::Code(200));
    }
}
