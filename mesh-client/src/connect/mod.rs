//! Connections: sending a request to the endpoint the balancer chose.
//!
//! Two pooled HTTP clients (hyper-util's legacy `Client`, which reconnects on demand) share one
//! connector: one speaks HTTP/2 with prior knowledge (gRPC, and clusters marked HTTP/2), the
//! other HTTP/1.1. Connections are pooled per endpoint address, so an endpoint that stays across
//! EDS updates keeps its connection, and a request in flight keeps its own.
//!
//! The connector is chosen in one place, [`connector`]; transport security plugs in there.

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mesh_core::model::UpstreamProtocol;

use crate::BoxError;
use crate::balance::Endpoint;

/// The body every request is turned into before it is sent.
pub(crate) type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

/// The connector of every connection: plain TCP with `TCP_NODELAY`.
fn connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector
}

/// Who sends a request, which decides the HTTP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A gRPC client: always HTTP/2.
    Grpc,
    /// A plain HTTP client: the cluster's protocol.
    Http,
}

impl Caller {
    /// The HTTP version to speak to a cluster that says `protocol`.
    pub(crate) fn protocol(self, cluster: UpstreamProtocol) -> UpstreamProtocol {
        match self {
            Caller::Grpc => UpstreamProtocol::Http2,
            Caller::Http => cluster,
        }
    }
}

/// The pooled HTTP clients of a channel; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Connections {
    http1: Client<HttpConnector, RequestBody>,
    http2: Client<HttpConnector, RequestBody>,
}

impl Connections {
    /// New, empty pools. Needs a Tokio runtime when requests are sent.
    pub(crate) fn new() -> Self {
        let executor = TokioExecutor::new();
        Self {
            http1: Client::builder(executor.clone()).build(connector()),
            http2: Client::builder(executor)
                .http2_only(true)
                .build(connector()),
        }
    }

    /// Sends `request` to `endpoint` in `protocol`.
    ///
    /// The request URI becomes `http://ADDRESS/PATH?QUERY`; over HTTP/1.1 the `host` header keeps
    /// the authority the caller wrote (the service name), if any.
    pub(crate) fn send(
        &self,
        protocol: UpstreamProtocol,
        endpoint: &Endpoint,
        mut request: Request<RequestBody>,
    ) -> hyper_util::client::legacy::ResponseFuture {
        let uri = std::mem::take(request.uri_mut());
        let mut parts = uri.into_parts();
        if protocol == UpstreamProtocol::Http1 {
            keep_host(&mut request, parts.authority.as_ref());
        }
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(endpoint.authority().clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        *request.uri_mut() =
            Uri::from_parts(parts).expect("scheme, authority and path set make a valid URI");
        match protocol {
            UpstreamProtocol::Http1 => self.http1.request(request),
            UpstreamProtocol::Http2 => self.http2.request(request),
        }
    }
}

/// Sets the `host` header to the original authority unless the caller set one.
fn keep_host<B>(request: &mut Request<B>, authority: Option<&Authority>) {
    let Some(authority) = authority else { return };
    if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
        request
            .headers_mut()
            .entry(http::header::HOST)
            .or_insert(value);
    }
}
