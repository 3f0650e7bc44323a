//! The ADS client: how an app gets its config from mesh-control (or any xDS server).
//!
//! One [`XdsClient`] holds one ADS stream to the first server of the [`crate::bootstrap`]
//! and multiplexes every subscription over it. Ask for a resource by name and get a
//! [`ResourceWatch`]: its [`ResourceState`] is `Pending` until the server answers, then
//! `Present` with the validated [`crate::model`] value, or `DoesNotExist`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_core::xds::client::{ResourceState, XdsClient};
//!
//! let client = XdsClient::from_env()?; // GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG
//! let mut listener = client.listener("serviceb.demo:50051");
//! if let ResourceState::Present(listener) = listener.ready().await {
//!     println!("routes of {}: {:?}", listener.name(), listener);
//! }
//! # Ok(()) }
//! ```
//!
//! Behaviour (gRFCs A27, A46): invalid resources are NACKed with the reason and never replace a
//! good value; a subscribed Listener or Cluster missing from a response, or any resource not
//! answered within 15 s of asking, does not exist; when the server is unreachable every state is
//! kept (fail static) while the client reconnects with exponential backoff and jitter.
//!
//! For operators: [`XdsClient::config_dump`] shows everything the client holds (serializable
//! to JSON), and the client keeps the `mesh_xds_*` metrics in the [`Metrics`] registry it is
//! given: whether the stream is up, ACKs and NACKs per type, resources held, and the version in
//! use.
//!
//! Inside, handles and watches talk to one background task (`ads`) that owns the stream and the
//! `cache`. The task ends when the last `XdsClient` clone is dropped; watches still held then
//! keep their last state and report [`WatchClosed`] from `changed`.

mod ads;
mod cache;
mod dump;
mod metrics;
mod slot;
mod subscription;
mod watch;

#[cfg(test)]
mod fake_server;
#[cfg(test)]
pub(crate) mod observe_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3 as core;
use tokio::sync::{mpsc, oneshot};
use tonic::transport::Endpoint;

pub use dump::{ConfigDump, Nack, ResourceDump, ResourceStatus, TypeDump};
pub use watch::{ResourceState, ResourceWatch, WatchClosed};

use crate::bootstrap::{self, Bootstrap, BootstrapError};
use crate::model;
use crate::registration::{METADATA_KEY, Registration, RegistrationError};
use crate::telemetry::Metrics;
use crate::xds::json::json_to_struct;
use ads::AdsTask;
use metrics::XdsMetrics;
use subscription::{Command, Registry};

/// How long a subscription may go unanswered before it does not exist (gRFC A27).
const RESOURCE_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest xDS response the client accepts: 64 MiB (tonic's default of 4 MiB would refuse
/// a ClusterLoadAssignment of more than about 135k endpoints, at 31 bytes each).
pub const MAX_RESPONSE_SIZE: usize = 64 * 1024 * 1024;
/// The user agent sent in the node.
const USER_AGENT: &str = "mesh-core";

/// A handle to the xDS client; cheap to clone.
#[derive(Clone)]
pub struct XdsClient {
    registry: Arc<Registry>,
    commands: mpsc::UnboundedSender<Command>,
    /// The bootstrap's node id and server URI, for config dumps.
    origin: Arc<(String, String)>,
}

impl std::fmt::Debug for XdsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdsClient").finish_non_exhaustive()
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum XdsError {
    /// No usable bootstrap.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The server URI of the bootstrap cannot be dialled.
    #[error("xds_servers[0].server_uri {uri:?} is not a valid host:port: {reason}")]
    InvalidServerUri {
        /// The URI as written in the bootstrap.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The bootstrap's node metadata has a malformed registration list.
    #[error("cannot add the registrations to the bootstrap node metadata: {0}")]
    Registration(#[from] RegistrationError),
    /// `build` was called outside a tokio runtime.
    #[error("the xDS client must be built inside a tokio runtime (it spawns its stream task)")]
    NoRuntime,
}

impl XdsClient {
    /// A builder; see [`XdsClientBuilder`].
    pub fn builder() -> XdsClientBuilder {
        XdsClientBuilder {
            bootstrap: None,
            registrations: Vec::new(),
            resource_timeout: RESOURCE_TIMEOUT,
            metrics: None,
        }
    }

    /// A client configured from the environment ([`Bootstrap::from_env`]).
    pub fn from_env() -> Result<XdsClient, XdsError> {
        XdsClient::builder()
            .bootstrap(Bootstrap::from_env()?)
            .build()
    }

    /// Watches a Listener: a client target's authority (`serviceb.demo:50051`) or a server's
    /// `grpc/server?xds.resource.listening_address=IP:PORT`.
    pub fn listener(&self, name: &str) -> ResourceWatch<model::Listener> {
        self.registry.watch(name)
    }

    /// Watches a RouteConfiguration.
    pub fn route_config(&self, name: &str) -> ResourceWatch<model::RouteConfig> {
        self.registry.watch(name)
    }

    /// Watches a Cluster.
    pub fn cluster(&self, name: &str) -> ResourceWatch<model::Cluster> {
        self.registry.watch(name)
    }

    /// Watches a ClusterLoadAssignment (a cluster's `eds_service_name`).
    pub fn endpoints(&self, name: &str) -> ResourceWatch<model::ClusterLoadAssignment> {
        self.registry.watch(name)
    }

    /// Everything the client holds now: per type the version in use, the last NACK and each
    /// subscribed resource with its value; whether the stream is up. Serialize it (to JSON, say)
    /// for an admin endpoint. Waits for the client's task, which answers between two messages.
    pub async fn config_dump(&self) -> ConfigDump {
        let (node_id, server_uri) = &*self.origin;
        let empty = ConfigDump::empty(node_id.clone(), server_uri.clone());
        let (reply, answer) = oneshot::channel();
        let command = Command::Dump {
            into: Box::new(empty.clone()),
            reply,
        };
        // The task lives as long as this handle; were it gone, nothing is known.
        if self.commands.send(command).is_err() {
            return empty;
        }
        answer.await.map_or(empty, |dump| *dump)
    }
}

/// Builds an [`XdsClient`].
#[derive(Debug)]
pub struct XdsClientBuilder {
    bootstrap: Option<Bootstrap>,
    registrations: Vec<Registration>,
    resource_timeout: Duration,
    metrics: Option<Metrics>,
}

impl XdsClientBuilder {
    /// The bootstrap to use. Default: [`Bootstrap::from_env`], read by `build`.
    pub fn bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = Some(bootstrap);
        self
    }

    /// Announces a service this app serves: appended to the node metadata under
    /// [`METADATA_KEY`], so mesh-control adds the endpoint while the stream lives. Default: none.
    pub fn registration(mut self, registration: Registration) -> Self {
        self.registrations.push(registration);
        self
    }

    /// How long a subscribed resource may go unanswered before it is taken not to exist (the
    /// does-not-exist timer of gRFC A27). A name the server does not know is simply left out of
    /// its answers, so this is how long a client takes to tell that a target does not exist.
    /// Default: 15 s, as in gRPC.
    pub fn resource_timeout(mut self, timeout: Duration) -> Self {
        self.resource_timeout = timeout;
        self
    }

    /// The registry of the client's `mesh_xds_*` metrics. Default: [`Metrics::global`]. Clients
    /// sharing a registry share the series, so give each client its own registry when a process
    /// runs several.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Starts the client: spawns its task, which connects at once. Must run inside a tokio
    /// runtime.
    pub fn build(self) -> Result<XdsClient, XdsError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| XdsError::NoRuntime)?;
        let bootstrap = match self.bootstrap {
            Some(bootstrap) => bootstrap,
            None => Bootstrap::from_env()?,
        };
        let server = bootstrap
            .xds_servers
            .first()
            .ok_or(BootstrapError::Invalid {
                origin: "the builder".into(),
                field: "xds_servers".into(),
                reason: "is empty".into(),
            })?;
        let invalid_uri = |reason: String| XdsError::InvalidServerUri {
            uri: server.server_uri.clone(),
            reason,
        };
        let endpoint = Endpoint::from_shared(format!("http://{}", server.server_uri))
            .map_err(|e| invalid_uri(e.to_string()))?
            .connect_timeout(ads::CONNECT_TIMEOUT)
            .tcp_keepalive(Some(Duration::from_secs(30)));
        if endpoint.uri().port().is_none() {
            return Err(invalid_uri("it has no port".into()));
        }
        let node = node(&bootstrap.node, &self.registrations)?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let task = AdsTask {
            endpoint,
            node,
            resource_timeout: self.resource_timeout,
            commands: receiver,
            cache: Default::default(),
            metrics: XdsMetrics::new(self.metrics.as_ref().unwrap_or(Metrics::global())),
            connected: false,
        };
        runtime.spawn(task.run());
        Ok(XdsClient {
            registry: Arc::new(Registry::new(commands.clone())),
            commands,
            origin: Arc::new((bootstrap.node.id.clone(), server.server_uri.clone())),
        })
    }
}

/// The node sent on the stream: the bootstrap's, plus registrations and our user agent.
fn node(node: &bootstrap::Node, registrations: &[Registration]) -> Result<core::Node, XdsError> {
    let mut metadata = node.metadata.clone();
    if !registrations.is_empty() {
        let mut all = Registration::from_metadata(&serde_json::Value::Object(metadata.clone()))?;
        all.extend_from_slice(registrations);
        metadata.insert(METADATA_KEY.to_string(), Registration::to_metadata(&all));
    }
    Ok(core::Node {
        id: node.id.clone(),
        cluster: node.cluster.clone(),
        metadata: Some(json_to_struct(&metadata)),
        locality: node.locality.as_ref().map(|l| core::Locality {
            region: l.region.clone(),
            zone: l.zone.clone(),
            sub_zone: l.sub_zone.clone(),
        }),
        user_agent_name: USER_AGENT.to_string(),
        user_agent_version_type: Some(core::node::UserAgentVersionType::UserAgentVersion(
            env!("CARGO_PKG_VERSION").to_string(),
        )),
        client_features: vec!["envoy.lb.does_not_support_overprovisioning".to_string()],
        ..Default::default()
    })
}
