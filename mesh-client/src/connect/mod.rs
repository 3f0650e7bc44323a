//! Connections: sending a request to the endpoint the balancer chose.
//!
//! Pooled HTTP clients (hyper-util's legacy `Client`, which reconnects on demand) carry the
//! requests. Two plaintext ones share one TCP connector: one speaks HTTP/2 with prior knowledge
//! (gRPC, and clusters marked HTTP/2), the other HTTP/1.1. A cluster that asks for mTLS goes
//! through a TLS client instead (see [`tls`]): one per HTTP version and accepted server
//! identities, made on first use and kept, since clusters change rarely. Each cluster snapshot
//! looks its client up once, on its first mTLS request, and keeps it in its [`TlsSlot`]. Its
//! request URIs are `https://`, so TLS and plaintext connections never share a pool.
//!
//! Connections are pooled per endpoint address, so an endpoint that stays across EDS updates
//! keeps its connection, and a request in flight keeps its own.

mod tls;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;
use mesh_core::identity::Identity;
use mesh_core::model::{StringMatch, UpstreamProtocol, UpstreamTls};

use crate::balance::{Balancer, Endpoint};
use crate::{BoxError, Error};
use tls::{ALPN_H2, ALPN_HTTP1, TlsConnector};

/// The body every request is turned into before it is sent.
pub(crate) type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

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
    /// `None` when the client has no identity: mTLS clusters are refused.
    tls: Option<Arc<TlsClients>>,
}

impl Connections {
    /// New, empty pools; mTLS with `identity`, if any. Needs a Tokio runtime when requests are
    /// sent.
    pub(crate) fn new(identity: Option<Identity>) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        Self {
            http1: http_client(UpstreamProtocol::Http1, tcp.clone()),
            http2: http_client(UpstreamProtocol::Http2, tcp),
            tls: identity.map(|identity| {
                Arc::new(TlsClients {
                    identity,
                    clients: RwLock::new(Vec::new()),
                })
            }),
        }
    }

    /// Sends `request` to `endpoint` of `cluster` in `protocol`, over mTLS if the cluster says
    /// so. Fails at once if it does but this client has no identity.
    ///
    /// The request URI becomes `http://ADDRESS/PATH?QUERY` (`https` for mTLS); over HTTP/1.1 the
    /// `host` header keeps the authority the caller wrote (the service name), if any.
    pub(crate) fn send(
        &self,
        protocol: UpstreamProtocol,
        cluster: &Balancer,
        endpoint: &Endpoint,
        mut request: Request<RequestBody>,
    ) -> Result<ResponseFuture, Error> {
        let tls = match (cluster.tls(), &self.tls) {
            (None, _) => None,
            (Some(tls), Some(clients)) => Some((tls, clients)),
            (Some(_), None) => {
                return Err(Error::NoIdentity {
                    cluster: cluster.cluster_name().to_string(),
                });
            }
        };
        let scheme = match tls {
            Some(_) => Scheme::HTTPS,
            None => Scheme::HTTP,
        };
        let uri = std::mem::take(request.uri_mut());
        let mut parts = uri.into_parts();
        if protocol == UpstreamProtocol::Http1 {
            keep_host(&mut request, parts.authority.as_ref());
        }
        parts.scheme = Some(scheme);
        parts.authority = Some(endpoint.authority().clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        *request.uri_mut() =
            Uri::from_parts(parts).expect("scheme, authority and path set make a valid URI");
        Ok(match (tls, protocol) {
            (Some((tls, clients)), _) => cluster
                .tls_slot()
                .client(protocol, || clients.client(protocol, tls))
                .request(request),
            (None, UpstreamProtocol::Http1) => self.http1.request(request),
            (None, UpstreamProtocol::Http2) => self.http2.request(request),
        })
    }
}

/// A pooled client speaking `protocol` through `connector`.
fn http_client<C>(protocol: UpstreamProtocol, connector: C) -> Client<C, RequestBody>
where
    C: hyper_util::client::legacy::connect::Connect + Clone,
{
    let mut builder = Client::builder(TokioExecutor::new());
    if protocol == UpstreamProtocol::Http2 {
        builder.http2_only(true);
    }
    builder.build(connector)
}

/// A pooled mTLS client.
type TlsClient = Client<TlsConnector, RequestBody>;

/// The mTLS client of one cluster snapshot, found on its first mTLS request and kept: requests
/// then skip the lookup in [`TlsClients`]. A snapshot serves one caller, so its HTTP version
/// never changes; the client is still kept with its version, and a request in another one
/// looks its own client up.
#[derive(Default)]
pub(crate) struct TlsSlot(OnceLock<(UpstreamProtocol, TlsClient)>);

impl TlsSlot {
    /// The client for `protocol`: the one kept, else `find`'s (kept if the slot is empty).
    fn client(
        &self,
        protocol: UpstreamProtocol,
        find: impl Fn() -> TlsClient,
    ) -> Cow<'_, TlsClient> {
        let (kept, client) = self.0.get_or_init(|| (protocol, find()));
        match *kept == protocol {
            true => Cow::Borrowed(client),
            false => Cow::Owned(find()),
        }
    }
}

impl std::fmt::Debug for TlsSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.get().map(|(protocol, _)| protocol);
        f.debug_tuple("TlsSlot").field(&kept).finish()
    }
}

/// The mTLS clients of a channel, one per HTTP version and accepted server identities.
struct TlsClients {
    identity: Identity,
    clients: RwLock<Vec<TlsClientEntry>>,
}

struct TlsClientEntry {
    protocol: UpstreamProtocol,
    peer_ids: Vec<StringMatch>,
    client: TlsClient,
}

impl TlsClients {
    /// The client for `protocol` and `tls`, made first if there is none.
    fn client(&self, protocol: UpstreamProtocol, tls: &UpstreamTls) -> TlsClient {
        let matches = |c: &&TlsClientEntry| c.protocol == protocol && c.peer_ids == tls.peer_ids;
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = clients.iter().find(matches) {
            return c.client.clone();
        }
        drop(clients);
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = clients.iter().find(matches) {
            return c.client.clone();
        }
        let alpn = match protocol {
            UpstreamProtocol::Http1 => ALPN_HTTP1,
            UpstreamProtocol::Http2 => ALPN_H2,
        };
        let config = self.identity.client_config(tls.peer_ids.clone(), &[alpn]);
        let client = http_client(protocol, TlsConnector::new(config));
        clients.push(TlsClientEntry {
            protocol,
            peer_ids: tls.peer_ids.clone(),
            client: client.clone(),
        });
        client
    }
}

impl std::fmt::Debug for TlsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        let keys: Vec<_> = clients.iter().map(|c| (c.protocol, &c.peer_ids)).collect();
        f.debug_struct("TlsClients")
            .field("identity", &self.identity)
            .field("clients", &keys)
            .finish()
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
