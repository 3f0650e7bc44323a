//! Settings shared by [`MeshChannel`] and [`MeshHttpClient`].

use std::sync::Arc;
use std::time::Duration;

use mesh_core::identity::Identity;
use mesh_core::telemetry::Metrics;
use mesh_core::xds::XdsClient;

use crate::balance::DEFAULT_DECAY;
use crate::connect::{Caller, Connections};
use crate::counters::Counters;
use crate::resolve::ClusterRegistry;
use crate::stack::Stack;
use crate::telemetry::ClientMetrics;
use crate::{Error, MeshChannel, MeshHttpClient, resolve, target};

/// How long a request waits for its target's first configuration unless configured otherwise.
pub const DEFAULT_CONFIG_TIMEOUT: Duration = Duration::from_secs(20);

/// Builds [`MeshChannel`]s and [`MeshHttpClient`]s with non-default settings.
///
/// ```no_run
/// # async fn demo(xds: mesh_core::xds::XdsClient) -> Result<(), mesh_client::Error> {
/// let channel = mesh_client::Builder::new()
///     .config_timeout(std::time::Duration::from_secs(3))
///     .channel(&xds, "xds:///serviceb.demo:50051")?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config_timeout: Duration,
    load_decay: Duration,
    identity: Option<Identity>,
    metrics: Option<Metrics>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            config_timeout: DEFAULT_CONFIG_TIMEOUT,
            load_decay: DEFAULT_DECAY,
            identity: None,
            metrics: Some(Metrics::global().clone()),
        }
    }
}

impl Builder {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a request that arrives before its target's first configuration waits for it
    /// before it fails as unavailable. Default: [`DEFAULT_CONFIG_TIMEOUT`] (20 s), longer than
    /// the xDS client's does-not-exist timer (15 s by default), so that a target that does not
    /// exist fails as such.
    pub fn config_timeout(mut self, timeout: Duration) -> Self {
        self.config_timeout = timeout;
        self
    }

    /// How long the balancer takes to forget an endpoint's latency: the decay time of its
    /// peak-EWMA estimate. Default: 10 s.
    pub fn load_decay(mut self, decay: Duration) -> Self {
        self.load_decay = decay;
        self
    }

    /// The workload identity to connect with: clusters whose xDS config asks for mTLS (an
    /// `UpstreamTlsContext`) are reached over mTLS, presenting this identity's current
    /// certificate and accepting only servers whose SPIFFE ID the cluster names. Default: none,
    /// and requests to such clusters fail with [`Error::NoIdentity`] (never plaintext).
    ///
    /// ```no_run
    /// # async fn demo(xds: mesh_core::xds::XdsClient) -> Result<(), Box<dyn std::error::Error>> {
    /// use mesh_core::identity::Identity;
    ///
    /// // Asks mesh-control's CA for a certificate, then keeps it rotated.
    /// let identity = Identity::builder().token_from_env().ca_uri("http://127.0.0.1:15010").start().await?;
    /// let channel = mesh_client::MeshChannel::builder()
    ///     .identity(identity)
    ///     .channel(&xds, "xds:///serviceb.demo:50051")?;
    /// # Ok(()) }
    /// ```
    ///
    /// Certificate rotation needs nothing more: connections already open keep working and new
    /// ones present the new certificate.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The registry the client counts its calls and resilience events in (the
    /// `mesh_client_*` families, see the [crate docs](crate#telemetry)). Default: the
    /// process's, [`Metrics::global`].
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// No metrics: the client looks no series up and reads no clock for them.
    /// [`MeshChannel::counters`] still counts, and spans and access logs still follow the
    /// `tracing` filter.
    pub fn without_metrics(mut self) -> Self {
        self.metrics = None;
        self
    }

    /// A gRPC channel to `target` (`xds:///NAME`), resolved through `xds`.
    ///
    /// Returns at once: resolution starts in the background, and the first requests wait for
    /// it. Must be called inside a Tokio runtime.
    pub fn channel(&self, xds: &XdsClient, target: &str) -> Result<MeshChannel, Error> {
        let listener = target::listener_name(target)?;
        let clusters = self.cluster_registry();
        let stack = self.stack(xds, &listener, Caller::Grpc, self.connections(), clusters);
        Ok(MeshChannel::from_stack(stack))
    }

    /// A plain HTTP client that resolves every service its request URIs name through `xds`.
    pub fn http_client(&self, xds: &XdsClient) -> MeshHttpClient {
        MeshHttpClient::from_parts(self.clone(), xds.clone())
    }

    /// New connection pools with this builder's identity.
    pub(crate) fn connections(&self) -> Connections {
        Connections::new(self.identity.clone())
    }

    /// The cluster states of one client, shared by its stacks, with the client's counters
    /// (and metric families, unless built without).
    pub(crate) fn cluster_registry(&self) -> Arc<ClusterRegistry> {
        let metrics = self.metrics.as_ref().map(ClientMetrics::of);
        let counters = Arc::new(Counters::new(metrics));
        Arc::new(ClusterRegistry::new(self.load_decay, counters))
    }

    /// The stack of one target (the listener `listener`) with the client's cluster states
    /// `clusters`, counting into their counters. Needs a Tokio runtime.
    pub(crate) fn stack(
        &self,
        xds: &XdsClient,
        listener: &str,
        caller: Caller,
        connections: Connections,
        clusters: Arc<ClusterRegistry>,
    ) -> Stack {
        let counters = Arc::clone(clusters.counters());
        let resolution = resolve::spawn(xds, listener, clusters);
        Stack::new(
            listener,
            caller,
            self.config_timeout,
            counters,
            resolution,
            connections,
        )
    }
}
