//! Clusters: named groups of endpoints and how to balance over them.

use super::{ClusterPolicy, StringMatch};

/// A Cluster resource. Its endpoints come over EDS.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Cluster {
    /// The resource name.
    pub name: String,
    /// The ClusterLoadAssignment name to ask EDS for (often the same as `name`).
    pub eds_service_name: String,
    /// Balancing, limits, ejection and retry budget.
    pub policy: ClusterPolicy,
    /// Which HTTP version to speak to the endpoints.
    pub protocol: UpstreamProtocol,
    /// mTLS to the endpoints, or `None` for plaintext.
    pub tls: Option<UpstreamTls>,
}

/// mTLS to a cluster's endpoints (an xDS `UpstreamTlsContext`, gRFC A29): the client presents
/// its own SVID and accepts a server whose SPIFFE ID (URI SAN) matches one of `peer_ids`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamTls {
    /// The server identities accepted, as matchers on the SPIFFE ID; empty accepts any
    /// identity that chains to the trust bundle.
    pub peer_ids: Vec<StringMatch>,
}

/// Which HTTP version a client speaks to a cluster's endpoints.
///
/// gRPC is always HTTP/2. Plain HTTP clients speak HTTP/1.1 unless the cluster says HTTP/2
/// (a Service port with `appProtocol: kubernetes.io/h2c`, `grpc` or `http2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 for plain HTTP clients, HTTP/2 for gRPC.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge for everyone.
    Http2,
}
