//! The one error type of the client stack.
//!
//! Every failure says what went wrong and where: the target (listener), the route, the cluster or
//! the endpoint. Most of them are *unavailable* in gRPC terms: the mesh could not find a place
//! to send the request right now, and a later attempt may succeed.

use std::net::SocketAddr;
use std::time::Duration;

/// Why the mesh client could not send a request, or could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target string is not an `xds:` target.
    #[error("invalid target {target:?}: {reason}; write it as xds:///NAME[:PORT]")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A plain HTTP request whose URI names no service.
    #[error("invalid request URI {uri:?}: {reason}; write it as http://SERVICE[:PORT]/PATH")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The control service says there is no listener by this name.
    #[error(
        "UNAVAILABLE: xDS listener {listener:?} does not exist; check the target name and that \
         mesh-control knows a Service by this name"
    )]
    ListenerNotFound {
        /// The listener (target) name.
        listener: String,
    },
    /// The listener is a server (inbound) listener, which clients cannot use.
    #[error(
        "UNAVAILABLE: xDS listener {listener:?} is an inbound (server) listener, not a client one"
    )]
    NotClientListener {
        /// The listener name.
        listener: String,
    },
    /// The listener names a route table that does not exist.
    #[error(
        "UNAVAILABLE: RouteConfiguration {route_config:?} of xDS listener {listener:?} does not exist"
    )]
    RouteConfigNotFound {
        /// The listener name.
        listener: String,
        /// The missing RouteConfiguration.
        route_config: String,
    },
    /// No virtual host of the route table serves the target's name.
    #[error(
        "UNAVAILABLE: no virtual host of xDS listener {listener:?} matches the domain {listener:?}"
    )]
    NoVirtualHost {
        /// The listener name (also the domain looked up).
        listener: String,
    },
    /// No route takes this request.
    #[error("UNAVAILABLE: no route of xDS listener {listener:?} matches {method} {path}")]
    NoRoute {
        /// The listener name.
        listener: String,
        /// The request method.
        method: http::Method,
        /// The request path.
        path: String,
    },
    /// The matching route serves requests locally, which a client cannot do.
    #[error(
        "UNAVAILABLE: route {route:?} of xDS listener {listener:?} does not forward to a cluster"
    )]
    RouteNotForwarding {
        /// The listener name.
        listener: String,
        /// The route name (may be empty).
        route: String,
    },
    /// No configuration arrived in time.
    #[error(
        "UNAVAILABLE: no xDS config for listener {listener:?} after {waited:?}; is mesh-control \
         reachable?"
    )]
    ConfigTimeout {
        /// The listener name.
        listener: String,
        /// How long the request waited.
        waited: Duration,
    },
    /// The xDS client was shut down before any configuration arrived.
    #[error("UNAVAILABLE: the xDS client shut down before listener {listener:?} resolved")]
    XdsClosed {
        /// The listener name.
        listener: String,
    },
    /// A route sends to a cluster that does not exist.
    #[error("UNAVAILABLE: cluster {cluster:?} does not exist")]
    ClusterNotFound {
        /// The cluster name.
        cluster: String,
    },
    /// The cluster has no endpoint that takes new requests.
    #[error("UNAVAILABLE: no healthy endpoints in cluster {cluster:?}")]
    NoHealthyEndpoints {
        /// The cluster name.
        cluster: String,
    },
    /// The cluster's circuit breaker refused the request: it has as many requests in flight
    /// and waiting as its limits allow.
    #[error(
        "UNAVAILABLE: circuit breaker open: cluster {cluster:?} has {max_requests} requests in \
         flight and {max_pending} waiting, its limits; the circuit breaker refused this request"
    )]
    CircuitBreakerOpen {
        /// The cluster name.
        cluster: String,
        /// The most requests in flight it allows.
        max_requests: u32,
        /// The most requests waiting it allows.
        max_pending: u32,
    },
    /// The cluster asks for mTLS but the client has no identity to present.
    #[error(
        "UNAVAILABLE: cluster {cluster:?} requires mTLS but this client has no identity: give \
         the MeshChannel an Identity (mesh_client::Builder::identity)"
    )]
    NoIdentity {
        /// The cluster name.
        cluster: String,
    },
    /// The connection to the chosen endpoint could not be made, or its mTLS handshake failed
    /// (the message then says why, e.g. the server's SPIFFE ID is not one the cluster accepts).
    #[error(
        "UNAVAILABLE: cannot connect to endpoint {endpoint} of cluster {cluster:?}: {}",
        causes(.source)
    )]
    Connect {
        /// The cluster name.
        cluster: String,
        /// The endpoint address.
        endpoint: SocketAddr,
        /// What the HTTP client said.
        source: hyper_util::client::legacy::Error,
    },
    /// The call's deadline passed: the route's timeout, the caller's `grpc-timeout` (or
    /// `mesh-timeout`), or the deadline of the request being served. Never retried.
    #[error(
        "DEADLINE_EXCEEDED: call to {listener:?} on route {route:?} did not complete within its \
         {limit:?} deadline (the route's timeout or the caller's deadline)"
    )]
    DeadlineExceeded {
        /// The listener (target) name.
        listener: String,
        /// The route name (may be empty).
        route: String,
        /// The time the call had.
        limit: Duration,
    },
    /// The last attempt got no response within the route's per-try timeout.
    #[error(
        "UNAVAILABLE: endpoint {endpoint} of cluster {cluster:?} did not answer within the \
         per-try timeout of {timeout:?}"
    )]
    TryTimeout {
        /// The cluster name.
        cluster: String,
        /// The endpoint address.
        endpoint: SocketAddr,
        /// The per-try timeout.
        timeout: Duration,
    },
    /// The request failed on an established connection.
    #[error("request to endpoint {endpoint} of cluster {cluster:?} failed: {source}")]
    Request {
        /// The cluster name.
        cluster: String,
        /// The endpoint address.
        endpoint: SocketAddr,
        /// What the HTTP client said.
        source: hyper_util::client::legacy::Error,
    },
}

/// The causes of a connection error, outermost first: hyper-util's own error only says
/// "client error (Connect)", so the useful part is below it.
fn causes(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = Vec::new();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        text.push(error.to_string());
        cause = error.source();
    }
    if text.is_empty() {
        return error.to_string();
    }
    text.join(": ")
}

impl Error {
    /// Whether the request found no route: no virtual host or route matched it.
    pub fn is_no_route(&self) -> bool {
        matches!(
            self,
            Error::NoVirtualHost { .. } | Error::NoRoute { .. } | Error::RouteNotForwarding { .. }
        )
    }

    /// Whether a name the request needed (listener, route table, cluster) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::ListenerNotFound { .. }
                | Error::RouteConfigNotFound { .. }
                | Error::ClusterNotFound { .. }
        )
    }

    /// Whether the request could not be sent because of the state of the mesh (config or
    /// endpoints), i.e. a gRPC `UNAVAILABLE`: a later attempt may succeed.
    pub fn is_unavailable(&self) -> bool {
        !matches!(
            self,
            Error::InvalidTarget { .. }
                | Error::InvalidUri { .. }
                | Error::Request { .. }
                | Error::DeadlineExceeded { .. }
        )
    }

    /// Whether the call's deadline passed (gRPC `DEADLINE_EXCEEDED`).
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, Error::DeadlineExceeded { .. })
    }

    /// Whether the request waited too long for its first configuration.
    pub fn is_config_timeout(&self) -> bool {
        matches!(self, Error::ConfigTimeout { .. })
    }

    /// Whether a cluster's circuit breaker refused the request (too many in flight).
    pub fn is_circuit_breaker_open(&self) -> bool {
        matches!(self, Error::CircuitBreakerOpen { .. })
    }

    /// Whether the request failed to connect to the endpoint it was sent to.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }

    /// The gRPC status code a gRPC channel reports for this failure.
    pub(crate) fn grpc_code(&self) -> tonic::Code {
        match self {
            Error::InvalidTarget { .. } | Error::InvalidUri { .. } => tonic::Code::InvalidArgument,
            Error::Request { .. } => tonic::Code::Unknown,
            Error::DeadlineExceeded { .. } => tonic::Code::DeadlineExceeded,
            _ => tonic::Code::Unavailable,
        }
    }
}

impl From<Error> for tonic::Status {
    /// The gRPC status a gRPC channel reports for this failure, with the error as its source.
    fn from(error: Error) -> tonic::Status {
        let mut status = tonic::Status::new(error.grpc_code(), error.to_string());
        status.set_source(std::sync::Arc::new(error));
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_not_found_is_unavailable_and_says_which() {
        let err = Error::ListenerNotFound {
            listener: "serviceb.demo:50051".into(),
        };
        assert!(err.is_unavailable() && err.is_not_found() && !err.is_no_route());
        let msg = err.to_string();
        assert!(
            msg.starts_with("UNAVAILABLE: xDS listener \"serviceb.demo:50051\" does not exist")
        );
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(
            std::error::Error::source(&status).is_some_and(|s| s.downcast_ref::<Error>().is_some())
        );
    }

    #[test]
    fn no_route_is_a_no_route() {
        let err = Error::NoRoute {
            listener: "a:1".into(),
            method: http::Method::GET,
            path: "/x".into(),
        };
        assert!(err.is_no_route() && err.is_unavailable());
        assert!(err.to_string().contains("GET /x"));
    }
}
