//! [`MeshServer`]: accepting connections and serving them until shutdown.
//!
//! One port serves HTTP/1.1 and HTTP/2 (h2c with prior knowledge, as gRPC uses), told apart by
//! the connection preface. Shutdown is graceful: stop accepting, let the requests in flight
//! finish (up to the shutdown timeout, then close what is left), then drop the xDS client, which ends the ADS stream, so
//! mesh-control removes the server's endpoints.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use mesh_core::model::Listener;
use mesh_core::xds::{ResourceWatch, XdsClient};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::{BoxError, Error, MeshServerBuilder, inbound};

/// How long to pause accepting after an accept error (such as too many open files).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A bound meshed server, ready to [`serve`](Self::serve).
#[derive(Debug)]
pub struct MeshServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    xds: Option<Xds>,
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
        shutdown_timeout: Duration,
    ) -> Self {
        Self {
            listener,
            local_addr,
            xds,
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
    /// Accept errors are logged and do not stop the server.
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
            shutdown_timeout,
        } = self;
        let (xds_client, following) = match xds {
            Some(Xds { client, inbound }) => (
                Some(client),
                Some(tokio::spawn(inbound::follow(inbound, local_addr))),
            ),
            None => (None, None),
        };
        let http = auto::Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        tracing::info!(%local_addr, meshed = xds_client.is_some(), "serving");
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
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
            let service = TowerToHyperService::new(service.clone());
            let connection = http
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            connections.spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            });
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
