//! [`MeshServer`]: accepting connections, serving them, and draining at the end.
//!
//! One port serves HTTP/1.1 and HTTP/2 (h2c with prior knowledge, as gRPC uses), told apart by
//! the connection preface, over plaintext or mTLS as the server's mode says (see
//! `accept.rs`). With an identity and xDS, the server accepts connections only once its inbound
//! listener has arrived, since that says which mode applies; until then they wait in the
//! listen backlog.
//!
//! Every request goes through one stack, top to bottom: the caller's identity
//! ([`PeerIdentity`](mesh_core::identity::PeerIdentity)), its [telemetry](crate#telemetry)
//! (metrics, span, access log), its [`Deadline`], health checks and `/ready` (answered here), the
//! [authorization](crate::authz), the [rate limit](crate::rate_limit), then the application.
//!
//! Draining (at shutdown, or when mesh-control removes the inbound listener) goes in steps, each
//! logged: health says `NOT_SERVING` and the xDS client is dropped, which ends the ADS stream,
//! so mesh-control removes the server's endpoints; the server keeps serving for the drain delay
//! while clients learn it; then it stops accepting, sends GOAWAY, and lets the requests in
//! flight finish (up to the shutdown timeout, then it closes what is left).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use mesh_core::identity::Identity;
use mesh_core::model::{InboundTls, Listener};
use mesh_core::xds::{ResourceWatch, XdsClient};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::Layer;

use crate::accept::Acceptor;
use crate::connections::{Accepting, Stop};
use crate::counters::{Counters, ServerCounterSnapshot};
use crate::health::Health;
use crate::inbound::{self, Inbound};
use crate::telemetry::ServerMetrics;
use crate::{AuthzLayer, BoxError, Error, InboundPolicy, MeshServerBuilder, RateLimitLayer};

/// A bound meshed server, ready to [`serve`](Self::serve).
#[derive(Debug)]
pub struct MeshServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    xds: Option<Xds>,
    identity: Option<Identity>,
    timeouts: Timeouts,
    metrics: Option<ServerMetrics>,
    counters: Counters,
}

/// How long draining may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// How long to keep serving after leaving EDS, while clients move away.
    pub(crate) drain_delay: Duration,
    /// How long requests in flight may take to finish after that.
    pub(crate) shutdown: Duration,
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

/// A handle on a server, usable while it serves: its counters.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    counters: Counters,
}

impl ServerHandle {
    /// How many calls the server took, denied and rate limited so far.
    pub fn counters(&self) -> ServerCounterSnapshot {
        self.counters.snapshot()
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
        timeouts: Timeouts,
        metrics: Option<ServerMetrics>,
    ) -> Self {
        Self {
            listener,
            local_addr,
            xds,
            identity,
            timeouts,
            counters: Counters::new(metrics.clone()),
            metrics,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to read the server's counters while it serves.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            counters: self.counters.clone(),
        }
    }

    /// Serves `service` on every connection until `shutdown` completes (or mesh-control removes
    /// the server's inbound listener), then drains (see the module docs) and returns.
    ///
    /// `service` is any cloneable tower service of HTTP requests: an `axum::Router`, tonic's
    /// `Routes::into_axum_router()`, or a hyper `service_fn` wrapped by `tower::service_fn`.
    /// Requests that came over mTLS carry the client's [`PeerIdentity`](mesh_core::identity::PeerIdentity) in their extensions;
    /// each request runs under its caller's deadline (see [`deadline`](crate::deadline)) and
    /// the inbound policies in force. Accept errors and refused connections are logged and do
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
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let MeshServer {
            listener,
            local_addr,
            xds,
            identity,
            timeouts,
            metrics,
            counters,
        } = self;
        let acceptor = identity.as_ref().map(|i| Acceptor::new(i.server_config()));
        let (policy_tx, policy) = watch::channel(Arc::new(InboundPolicy::default()));
        let (xds_client, mut state, following) =
            follow_inbound(xds, acceptor.is_some(), local_addr, policy_tx);
        let health = Health::new().await;
        let rate_limit = RateLimitLayer::new(policy.clone()).counting(counters.clone());
        let authz = AuthzLayer::new(policy).counting(counters);
        let service = health.bypass(authz.layer(rate_limit.layer(service)));
        let mut server = Accepting::new(listener, local_addr, acceptor, metrics);
        tokio::pin!(shutdown);
        let first = tokio::select! {
            () = &mut shutdown => None,
            known = wait_in_force(&mut state, local_addr) => known,
        };
        if let Some(mtls) = first {
            // `run` reads the mode at each accept, but the listener may be removed before the
            // first one: the mode then is this last one in force, not the initial STRICT.
            server.mtls = mtls;
            health.set(true).await;
            tracing::info!(%local_addr, meshed = xds_client.is_some(), ?mtls, "serving: health SERVING");
            let mut watching = state.clone();
            let removed = async move {
                // A removal stops the server; a follow task that ends without one never does.
                let removed = watching.wait_for(|s| *s == Inbound::Removed).await.is_ok();
                if !removed {
                    std::future::pending::<()>().await;
                }
                Stop::Removed
            };
            let stop = server
                .run(&service, &state, async {
                    tokio::select! {
                        () = &mut shutdown => Stop::Shutdown,
                        stop = removed => stop,
                    }
                })
                .await;
            health.set(false).await;
            tracing::info!(%local_addr, ?stop, "draining: health NOT_SERVING, leaving EDS");
        }
        if let Some(following) = following {
            following.abort();
        }
        // Ends the ADS stream: mesh-control removes this server's endpoints.
        drop(xds_client);
        if first.is_some() && !timeouts.drain_delay.is_zero() {
            let delay = timeouts.drain_delay;
            tracing::info!(%local_addr, ?delay, "draining: serving while clients move away");
            let sleep = async {
                tokio::time::sleep(delay).await;
                Stop::Drained
            };
            server.run(&service, &state, sleep).await;
        }
        health.close().await;
        server.finish(timeouts.shutdown).await;
        Ok(())
    }
}

/// The xDS client, the state of the inbound listener (in force at once without xDS or without
/// an identity) and the task that follows the listener to keep state and policies current.
fn follow_inbound(
    xds: Option<Xds>,
    has_identity: bool,
    local_addr: SocketAddr,
    policy: watch::Sender<Arc<InboundPolicy>>,
) -> (
    Option<XdsClient>,
    watch::Receiver<Inbound>,
    Option<JoinHandle<()>>,
) {
    match xds {
        Some(Xds { client, inbound }) => {
            // With an identity, the listener decides the mode: nothing is accepted before it
            // comes. Without one, plaintext is all the server can do: it serves at once, and
            // the listener's policies apply when they come.
            let initial = if has_identity {
                Inbound::Pending
            } else {
                Inbound::InForce(InboundTls::Plaintext)
            };
            let (tx, rx) = watch::channel(initial);
            let follow = inbound::follow(inbound, local_addr, has_identity, tx, policy);
            (Some(client), rx, Some(tokio::spawn(follow)))
        }
        None => {
            // No xDS: mTLS only if the server has an identity; no policies.
            let mode = if has_identity {
                InboundTls::Strict
            } else {
                InboundTls::Plaintext
            };
            (None, watch::channel(Inbound::InForce(mode)).1, None)
        }
    }
}

/// Waits until the inbound listener is in force and returns its mode; `None` if the follow
/// task ended first.
async fn wait_in_force(
    state: &mut watch::Receiver<Inbound>,
    local_addr: SocketAddr,
) -> Option<InboundTls> {
    if *state.borrow() == Inbound::Pending {
        tracing::info!(%local_addr, "waiting for inbound listener config");
    }
    // An error means the follow task ended: the state is final.
    let _ = state.wait_for(|s| *s != Inbound::Pending).await;
    match *state.borrow() {
        Inbound::InForce(mode) => Some(mode),
        Inbound::Pending | Inbound::Removed => None,
    }
}
