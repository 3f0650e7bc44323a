//! The app admin server: metrics, the xDS config and health, over plain HTTP on loopback.
//!
//! A meshed app counts its [`Metrics`] whether or not anyone looks; this small HTTP server is
//! how Prometheus, `curl` and an orchestrator look. It is off unless the app starts it, and by
//! convention listens on [`DEFAULT_ADMIN_ADDR`]:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /metrics` | every metric, Prometheus text 0.0.4; OpenMetrics when `Accept` asks for `application/openmetrics-text` |
//! | `GET /config_dump` | the config the app's [`XdsClient`] holds, as JSON |
//! | `GET /healthz` | `200 ok` while the process serves |
//! | `GET /ready` | `200 ready`, or `503 not ready` while the app says it is not |
//!
//! ```no_run
//! # async fn example(xds: mesh_core::xds::client::XdsClient) -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_core::admin::{Admin, DEFAULT_ADMIN_ADDR};
//!
//! let admin = Admin::builder().xds(xds).serve(DEFAULT_ADMIN_ADDR.parse()?).await?;
//! println!("admin on http://{}", admin.local_addr());
//! // ... serve the app; dropping `admin` stops the admin server.
//! # Ok(()) }
//! ```
//!
//! It speaks HTTP/1.1 and HTTP/2 without TLS: keep it on loopback.

mod endpoints;

#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::telemetry::Metrics;
use crate::xds::client::XdsClient;
use endpoints::Endpoints;

/// Where the app admin server listens by convention.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:15000";

/// How long the server pauses after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The app admin server; start one with [`Admin::builder`].
#[derive(Debug)]
pub enum Admin {}

impl Admin {
    /// A builder with the defaults: the global metrics, no xDS client, always ready.
    pub fn builder() -> AdminBuilder {
        AdminBuilder {
            metrics: Metrics::global().clone(),
            xds: None,
            ready: None,
        }
    }
}

/// Configures and starts the admin server.
#[derive(Debug)]
pub struct AdminBuilder {
    metrics: Metrics,
    xds: Option<XdsClient>,
    ready: Option<watch::Receiver<bool>>,
}

impl AdminBuilder {
    /// The registry `/metrics` shows. Default: [`Metrics::global`].
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The xDS client whose config `/config_dump` shows. Default: none, and `/config_dump`
    /// answers 404.
    pub fn xds(mut self, xds: XdsClient) -> Self {
        self.xds = Some(xds);
        self
    }

    /// Whether the app is ready to take traffic, as `/ready` reports it. Default: always ready.
    pub fn ready(mut self, ready: watch::Receiver<bool>) -> Self {
        self.ready = Some(ready);
        self
    }

    /// Binds `addr` and serves in a background task until the handle is dropped.
    pub async fn serve(self, addr: SocketAddr) -> Result<AdminHandle, AdminError> {
        let bind_error = |source| AdminError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let endpoints = Arc::new(Endpoints {
            metrics: self.metrics,
            xds: self.xds,
            ready: self.ready,
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept(listener, endpoints, stopped));
        tracing::debug!(%local_addr, "admin server listening");
        Ok(AdminHandle {
            local_addr,
            _stop: stop,
            task,
        })
    }
}

/// Why the admin server could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The address could not be bound.
    #[error(
        "cannot bind the admin server to {addr}: {source}; pick a free address or leave the admin server off"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The socket error.
        source: io::Error,
    },
}

/// A running admin server; dropping it (or [`AdminHandle::shutdown`]) stops it.
#[derive(Debug)]
pub struct AdminHandle {
    local_addr: SocketAddr,
    /// Dropped, it ends the accept loop.
    _stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AdminHandle {
    /// The address the server listens on (with the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and waits until it no longer listens and every connection is closed.
    pub async fn shutdown(self) {
        let AdminHandle { _stop, task, .. } = self;
        drop(_stop);
        // The task only ends by being told to; it does not panic on input.
        let _ = task.await;
    }
}

/// Accepts connections until `stopped`; connections still open then are closed.
async fn accept(
    listener: TcpListener,
    endpoints: Arc<Endpoints>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, endpoints.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "admin server: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, endpoints: Arc<Endpoints>) {
    let service = service_fn(move |request: Request<Incoming>| {
        let endpoints = endpoints.clone();
        async move {
            let response = endpoints
                .respond(request.method(), request.uri().path(), request.headers())
                .await;
            Ok::<_, Infallible>(response)
        }
    });
    let connection = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = connection {
        tracing::debug!(%error, "admin server: connection ended with an error");
    }
}
