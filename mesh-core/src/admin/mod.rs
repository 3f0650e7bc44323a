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
//! use mesh_core::admin::DEFAULT_ADMIN_ADDR;
//!
//! let admin = mesh_core::admin::builder().xds(xds).serve(DEFAULT_ADMIN_ADDR.parse()?).await?;
//! println!("admin on http://{}", admin.local_addr());
//! // ... serve the app; dropping `admin` stops the admin server.
//! # Ok(()) }
//! ```
//!
//! It speaks HTTP/1.1 and HTTP/2 without TLS: keep it on loopback.
//!
//! Other admin servers (mesh-control's) reuse the parts: [`serve_http`] runs an accept loop
//! for any request handler, and [`metrics_response`] answers a scrape.

mod endpoints;
mod serve;

#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::telemetry::Metrics;
use crate::xds::client::XdsClient;
use endpoints::Endpoints;

pub use endpoints::metrics_response;
pub use serve::{AdminHandle, serve_http};

/// Where the app admin server listens by convention.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:15000";

/// A builder of the app admin server with the defaults; the same as [`AdminBuilder::new`].
pub fn builder() -> AdminBuilder {
    AdminBuilder::new()
}

/// Configures and starts the app admin server.
#[derive(Debug)]
pub struct AdminBuilder {
    metrics: Metrics,
    xds: Option<XdsClient>,
    ready: Option<watch::Receiver<bool>>,
}

impl Default for AdminBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl AdminBuilder {
    /// A builder with the defaults: the global metrics, no xDS client, always ready.
    pub fn new() -> Self {
        AdminBuilder {
            metrics: Metrics::global().clone(),
            xds: None,
            ready: None,
        }
    }

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
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        let endpoints = Arc::new(Endpoints {
            metrics: self.metrics,
            xds: self.xds,
            ready: self.ready,
        });
        let handle = serve_http(listener, move |request| {
            let endpoints = endpoints.clone();
            async move {
                endpoints
                    .respond(request.method(), request.uri().path(), request.headers())
                    .await
            }
        })
        .map_err(|source| AdminError::Bind { addr, source })?;
        tracing::debug!(local_addr = %handle.local_addr(), "admin server listening");
        Ok(handle)
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
