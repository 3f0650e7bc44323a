//! The accept loop of a [`MeshServer`](crate::MeshServer): accepting connections in the
//! server's mTLS mode and serving each with the inbound stack until told to stop, then
//! stopping gracefully (GOAWAY, calls in flight finish).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use mesh_core::identity::PeerIdentity;
use mesh_core::model::InboundTls;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::BoxError;
use crate::accept::{Accepted, Acceptor, Refused};
use crate::deadline::Deadline;
use crate::inbound::Inbound;
use crate::peer::AddPeer;
use crate::telemetry::{Connection, ServerMetrics, Telemetry};

/// How long to pause accepting after an accept error (such as too many open files).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why the server stopped accepting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The shutdown future completed.
    Shutdown,
    /// mesh-control removed the inbound listener.
    Removed,
    /// The drain delay passed.
    Drained,
}

/// The accept loop and the connections it serves.
pub(crate) struct Accepting {
    listener: TcpListener,
    local_addr: SocketAddr,
    acceptor: Option<Acceptor>,
    http: auto::Builder<TokioExecutor>,
    graceful: GracefulShutdown,
    connections: JoinSet<()>,
    /// The families to record in; `None`: built without metrics.
    metrics: Option<ServerMetrics>,
    /// The mode of the next connection: the last one the inbound listener said.
    pub(crate) mtls: InboundTls,
}

impl Accepting {
    /// Accepts on `listener` (bound at `local_addr`), with mTLS if there is an `acceptor`,
    /// recording in `metrics` if any.
    pub(crate) fn new(
        listener: TcpListener,
        local_addr: SocketAddr,
        acceptor: Option<Acceptor>,
        metrics: Option<ServerMetrics>,
    ) -> Self {
        Self {
            listener,
            local_addr,
            acceptor,
            http: auto::Builder::new(TokioExecutor::new()),
            graceful: GracefulShutdown::new(),
            connections: JoinSet::new(),
            metrics,
            mtls: InboundTls::Strict,
        }
    }

    /// Accepts and serves connections with `service` until `stop` completes, in the mode
    /// `state` says.
    pub(crate) async fn run<S, B>(
        &mut self,
        service: &S,
        state: &watch::Receiver<Inbound>,
        stop: impl Future<Output = Stop>,
    ) -> Stop
    where
        S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                stop = &mut stop => return stop,
                Some(_) = self.connections.join_next(), if !self.connections.is_empty() => continue,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        let local_addr = self.local_addr;
                        tracing::warn!(%local_addr, %error, "cannot accept a connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                },
            };
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
            }
            // The mode stays the last one known, also once the listener is removed.
            if let Inbound::InForce(mode) = *state.borrow() {
                self.mtls = mode;
            }
            let accepting = accept(self.acceptor.clone(), stream, self.mtls);
            let (http, watcher) = (self.http.clone(), self.graceful.watcher());
            let service = service.clone();
            let metrics = self.metrics.clone();
            self.connections.spawn(async move {
                let accepted = match accepting.await {
                    Ok(accepted) => accepted,
                    Err(reason) => {
                        if let Some(metrics) = &metrics {
                            metrics.refused(reason.began_tls());
                        }
                        tracing::warn!(%peer, %reason, "refused a connection");
                        return;
                    }
                };
                let stack = |mtls, identity: Option<PeerIdentity>| {
                    let connection =
                        Connection::new(metrics.as_ref(), peer, mtls, identity.clone());
                    let telemetry = Telemetry::new(Deadline::new(service), connection);
                    TowerToHyperService::new(AddPeer::new(telemetry, identity))
                };
                let served = match accepted {
                    Accepted::Plaintext(stream) => {
                        let connection =
                            http.serve_connection(TokioIo::new(stream), stack(false, None));
                        watcher.watch(connection.into_owned()).await
                    }
                    Accepted::Tls(stream, identity) => {
                        let connection =
                            http.serve_connection(TokioIo::new(*stream), stack(true, identity));
                        watcher.watch(connection.into_owned()).await
                    }
                };
                if let Err(error) = served {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            });
        }
    }

    /// Stops accepting, sends GOAWAY and waits for the requests in flight, up to `timeout`.
    pub(crate) async fn finish(self, timeout: Duration) {
        let Accepting {
            listener,
            local_addr,
            graceful,
            mut connections,
            ..
        } = self;
        drop(listener);
        tracing::info!(%local_addr, "draining: stopped accepting, GOAWAY sent, waiting for requests in flight");
        if tokio::time::timeout(timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(%local_addr, ?timeout, "requests still in flight after the shutdown timeout; closing");
        }
        connections.shutdown().await;
        tracing::info!(%local_addr, "drained: server stopped");
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
