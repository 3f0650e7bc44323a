//! [`MeshServer`]: accepting connections and serving them until shutdown.
//!
//! One port serves HTTP/1.1 and HTTP/2 (h2c with prior knowledge, as gRPC uses), told apart by
//! the connection preface, over plaintext or mTLS as the server's mode says (see
//! `accept.rs`). With an identity and xDS, the server accepts connections only once its inbound
//! listener has arrived, since that says which mode applies; until then they wait in the
//! listen backlog.
//!
//! Shutdown is graceful: stop accepting, let the requests in flight finish (up to the shutdown
//! timeout, then close what is left), then drop the xDS client, which ends the ADS stream, so
//! mesh-control removes the server's endpoints.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use mesh_core::identity::{Identity, PeerIdentity};
use mesh_core::model::{InboundTls, Listener};
use mesh_core::xds::{ResourceWatch, XdsClient};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::accept::{Accepted, Acceptor, Refused};
use crate::deadline::Deadline;
use crate::peer::AddPeer;
use crate::{BoxError, Error, MeshServerBuilder, inbound};

/// How long to pause accepting after an accept error (such as too many open files).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A bound meshed server, ready to [`serve`](Self::serve).
#[derive(Debug)]
pub struct MeshServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    xds: Option<Xds>,
    identity: Option<Identity>,
    shutdown_timeout: Duration,
}

/// The server's xDS client and its subscription to the inbound listener.
pub(crate) struct Xds {
    pub(crate) client: XdsClient,
    pub(crate) inbound: ResourceWatch<Listener>,
}

impl std::fmt::Debug for Xds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xds")
            .field("inbound", &self.inbound)
            .finish_non_exhaustive()
    }
}

impl MeshServer {
    /// A builder; see [`MeshServerBuilder`].
    pub fn builder() -> MeshServerBuilder {
        MeshServerBuilder::default()
    }

    pub(crate) fn new(
        listener: TcpListener,
        local_addr: SocketAddr,
        xds: Option<Xds>,
        identity: Option<Identity>,
        shutdown_timeout: Duration,
    ) -> Self {
        Self {
            listener,
            local_addr,
            xds,
            identity,
            shutdown_timeout,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `service` on every connection until `shutdown` completes, then shuts down
    /// gracefully (see the module docs) and returns.
    ///
    /// `service` is any cloneable tower service of HTTP requests: an `axum::Router`, tonic's
    /// `Routes::into_axum_router()`, or a hyper `service_fn` wrapped by `tower::service_fn`.
    /// Requests that came over mTLS carry the client's
    /// [`PeerIdentity`] in their extensions; each request runs under its caller's deadline (see
    /// [`deadline`](crate::deadline)). Accept errors and refused connections are logged and do
    /// not stop the server.
    pub async fn serve<S, B>(
        self,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error>
    where
        S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let MeshServer {
            listener,
            local_addr,
            xds,
            identity,
            shutdown_timeout,
        } = self;
        let acceptor = identity.as_ref().map(|i| Acceptor::new(i.server_config()));
        let (xds_client, mut mode, following) = modes(xds, acceptor.is_some(), local_addr);
        let http = auto::Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        if first_mode(&mut mode, &mut shutdown, local_addr).await {
            let mtls = *mode.borrow();
            tracing::info!(%local_addr, meshed = xds_client.is_some(), ?mtls, "serving");
            loop {
                let (stream, peer) = tokio::select! {
                    () = &mut shutdown => break,
                    Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%local_addr, %error, "cannot accept a connection");
                            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                            continue;
                        }
                    },
                };
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                }
                // The mode only ever goes from None to Some: None cannot be seen here.
                let mtls = (*mode.borrow()).unwrap_or(InboundTls::Strict);
                let accepting = accept(acceptor.clone(), stream, mtls);
                let (http, watcher, service) = (http.clone(), graceful.watcher(), service.clone());
                connections.spawn(async move {
                    let accepted = match accepting.await {
                        Ok(accepted) => accepted,
                        Err(reason) => {
                            tracing::warn!(%peer, %reason, "refused a connection");
                            return;
                        }
                    };
                    let served = match accepted {
                        Accepted::Plaintext(stream) => {
                            serve_connection(&http, watcher, stream, service, None).await
                        }
                        Accepted::Tls(stream, id) => {
                            serve_connection(&http, watcher, *stream, service, id).await
                        }
                    };
                    if let Err(error) = served {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                });
            }
        }
        drop(listener);
        tracing::info!(%local_addr, "shutting down: waiting for requests in flight");
        if tokio::time::timeout(shutdown_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(%local_addr, ?shutdown_timeout, "requests still in flight after the shutdown timeout; closing");
        }
        connections.shutdown().await;
        if let Some(following) = following {
            following.abort();
        }
        // Ends the ADS stream: mesh-control removes this server's endpoints.
        drop(xds_client);
        Ok(())
    }
}

/// The xDS client, the mode connections are accepted in (`None` until known) and the task that
/// follows the inbound listener to keep that mode current.
fn modes(
    xds: Option<Xds>,
    has_identity: bool,
    local_addr: SocketAddr,
) -> (
    Option<XdsClient>,
    watch::Receiver<Option<InboundTls>>,
    Option<JoinHandle<()>>,
) {
    match xds {
        Some(Xds { client, inbound }) => {
            // With an identity, the listener decides the mode: nothing is accepted before it
            // comes. Without one, plaintext is all the server can do.
            let initial = (!has_identity).then_some(InboundTls::Plaintext);
            let (tx, rx) = watch::channel(initial);
            let follow = inbound::follow(inbound, local_addr, has_identity, tx);
            (Some(client), rx, Some(tokio::spawn(follow)))
        }
        None => {
            // No xDS: mTLS only if the server has an identity.
            let mode = if has_identity {
                InboundTls::Strict
            } else {
                InboundTls::Plaintext
            };
            (None, watch::channel(Some(mode)).1, None)
        }
    }
}

/// Waits until the mode is known; `false` if `shutdown` came first.
async fn first_mode(
    mode: &mut watch::Receiver<Option<InboundTls>>,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
    local_addr: SocketAddr,
) -> bool {
    if mode.borrow().is_some() {
        return true;
    }
    tracing::info!(%local_addr, "waiting for inbound listener config");
    tokio::select! {
        () = shutdown => false,
        known = mode.wait_for(Option::is_some) => known.is_ok(),
    }
}

/// Accepts `stream` in mode `mtls`; plaintext without an acceptor (no identity).
async fn accept(
    acceptor: Option<Acceptor>,
    stream: TcpStream,
    mtls: InboundTls,
) -> Result<Accepted, Refused> {
    match acceptor {
        Some(acceptor) => acceptor.accept(stream, mtls).await,
        None => Ok(Accepted::Plaintext(stream)),
    }
}

/// Serves HTTP/1.1 or HTTP/2 (whichever the client speaks) on `io` until it closes or the
/// server shuts down; requests carry `peer`, the client's identity after an mTLS handshake, and
/// run under their callers' deadlines.
async fn serve_connection<I, S, B>(
    http: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    io: I,
    service: S,
    peer: Option<PeerIdentity>,
) -> Result<(), BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let service = TowerToHyperService::new(AddPeer::new(Deadline::new(service), peer));
    let connection = http.serve_connection(TokioIo::new(io), service);
    watcher.watch(connection.into_owned()).await
}
