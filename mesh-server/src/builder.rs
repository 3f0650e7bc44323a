//! [`MeshServerBuilder`]: what a meshed server serves and how it registers.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::Identity;
use mesh_core::registration::Registration;
use mesh_core::telemetry::Metrics;
use mesh_core::xds::XdsClient;
use tokio::net::{TcpListener, ToSocketAddrs};

use crate::Error;
use crate::server::{MeshServer, Timeouts, Xds};
use crate::telemetry::ServerMetrics;

/// How long in-flight requests may take to finish after shutdown unless configured otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a draining server keeps serving after leaving EDS unless configured otherwise.
pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(1);

/// Configures a [`MeshServer`]; [`bind`](Self::bind) makes it.
///
/// Without a [bootstrap](Self::bootstrap) the server is a plain HTTP/gRPC server with no xDS and
/// no registration (a `--no-mesh` mode).
#[derive(Debug)]
pub struct MeshServerBuilder {
    bootstrap: Option<Bootstrap>,
    services: Vec<String>,
    advertise: Option<SocketAddr>,
    identity: Option<Identity>,
    shutdown_timeout: Duration,
    drain_delay: Duration,
    metrics: Option<Metrics>,
}

impl Default for MeshServerBuilder {
    fn default() -> Self {
        Self {
            bootstrap: None,
            services: Vec::new(),
            advertise: None,
            identity: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            drain_delay: DEFAULT_DRAIN_DELAY,
            metrics: Some(Metrics::global().clone()),
        }
    }
}

impl MeshServerBuilder {
    /// Where mesh-control is and who this node is (e.g. `Bootstrap::from_env()?`). Without one,
    /// the server runs without xDS. Default: none.
    pub fn bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = Some(bootstrap);
        self
    }

    /// Registers this server as an endpoint of `service`, a name clients dial such as
    /// `serviceb.demo:50051`, for as long as it runs. Call once per service. Needs a bootstrap.
    pub fn register(mut self, service: impl Into<String>) -> Self {
        self.services.push(service.into());
        self
    }

    /// The address to register, when clients must dial another address than the bound one
    /// (bound to `0.0.0.0`, or behind NAT). Default: the bound address.
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// The workload identity to serve mTLS with. Default: none (plaintext only).
    ///
    /// With xDS, the inbound listener's mTLS mode applies: STRICT accepts only clients that
    /// complete an mTLS handshake with a certificate of the mesh; PERMISSIVE also takes
    /// plaintext on the same port; PLAINTEXT takes plaintext only. The server accepts no
    /// connection before that listener has arrived, and later changes apply to new connections.
    /// Without xDS (no bootstrap), a server with an identity is STRICT.
    ///
    /// Requests that came over mTLS carry the client's
    /// [`PeerIdentity`](mesh_core::identity::PeerIdentity) in their extensions. Certificate
    /// rotation needs nothing more: new handshakes present the new certificate.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// How long requests in flight at shutdown may take to finish before their connections are
    /// closed. Default: [`DEFAULT_SHUTDOWN_TIMEOUT`] (30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a draining server (at shutdown, or when mesh-control removes its inbound
    /// listener) keeps serving after it reported `NOT_SERVING` and left EDS, so that clients
    /// learn it and move away before it sends GOAWAY. Default: [`DEFAULT_DRAIN_DELAY`] (1 s);
    /// zero skips the wait. A server that never served does not wait.
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// The registry to record the server's metrics in (see the
    /// [crate docs](crate#telemetry)), its xDS client's `mesh_xds_*` metrics included.
    /// Default: [`Metrics::global`].
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Records no metrics at all: no series, and no clock reads or label lookups for them. The
    /// server's xDS client records in a registry of its own that nobody reads, so nothing
    /// reaches [`Metrics::global`]. Spans and access logs are unaffected: the `tracing`
    /// subscriber's filter decides those.
    pub fn without_metrics(mut self) -> Self {
        self.metrics = None;
        self
    }

    /// Binds the listening socket and, with a bootstrap, starts the xDS client that registers
    /// the server (with the advertised or bound address) and follows its inbound listener.
    ///
    /// Fails if the address cannot be bound, if services are registered without a bootstrap,
    /// or if the address to register is unspecified (`0.0.0.0`) and none is advertised.
    pub async fn bind(self, addr: impl ToSocketAddrs + fmt::Debug) -> Result<MeshServer, Error> {
        if self.bootstrap.is_none() && !self.services.is_empty() {
            return Err(Error::RegisterWithoutBootstrap {
                services: self.services,
            });
        }
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| Error::Bind {
                addr: format!("{addr:?}"),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: format!("{addr:?}"),
            source,
        })?;
        let xds = match self.bootstrap {
            Some(bootstrap) => Some(start_xds(
                bootstrap,
                &self.services,
                self.advertise,
                local_addr,
                self.metrics.clone().unwrap_or_default(),
            )?),
            None => None,
        };
        Ok(MeshServer::new(
            listener,
            local_addr,
            xds,
            self.identity,
            Timeouts {
                drain_delay: self.drain_delay,
                shutdown: self.shutdown_timeout,
            },
            self.metrics.as_ref().map(ServerMetrics::of),
        ))
    }
}

/// Builds the xDS client with the registrations, recording in `metrics`, and subscribes to the
/// inbound listener.
fn start_xds(
    bootstrap: Bootstrap,
    services: &[String],
    advertise: Option<SocketAddr>,
    local_addr: SocketAddr,
    metrics: Metrics,
) -> Result<Xds, Error> {
    let address = advertise.unwrap_or(local_addr);
    if !services.is_empty() && address.ip().is_unspecified() {
        return Err(Error::UnspecifiedAddress {
            local_addr: address,
        });
    }
    let inbound_name = bootstrap.server_listener_name(local_addr);
    let mut builder = XdsClient::builder().bootstrap(bootstrap).metrics(metrics);
    for service in services {
        builder = builder.registration(Registration {
            service: service.clone(),
            address,
        });
    }
    let client = builder.build()?;
    let inbound = client.listener(&inbound_name);
    tracing::info!(%local_addr, %address, ?services, inbound_listener = %inbound_name, "serving in the mesh");
    Ok(Xds { client, inbound })
}
