//! The outbound side of the proxyless mesh: gRPC and HTTP clients whose targets are resolved,
//! routed and balanced from xDS, inside the application.
//!
//! # With a tonic client
//!
//! ```no_run
//! # mod pb { pub mod demo_client { pub struct DemoClient<T>(T);
//! #   impl<T> DemoClient<T> { pub fn new(t: T) -> Self { Self(t) } } } }
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_client::MeshChannel;
//! use mesh_core::xds::XdsClient;
//!
//! // Finds mesh-control through GRPC_XDS_BOOTSTRAP (or GRPC_XDS_BOOTSTRAP_CONFIG).
//! let xds = XdsClient::from_env()?;
//! let channel = MeshChannel::new(&xds, "xds:///serviceb.demo:50051")?;
//! let mut client = pb::demo_client::DemoClient::new(channel);
//! # Ok(()) }
//! ```
//!
//! For plain HTTP, [`MeshHttpClient`] takes URIs such as `http://serviceb.demo:8080/items`.
//!
//! # mTLS
//!
//! Give the client the workload's [`Identity`](mesh_core::identity::Identity) with
//! [`Builder::identity`]: clusters whose xDS config asks for mTLS are then reached over mTLS,
//! verifying the server by the SPIFFE IDs the cluster names (not by DNS name). The server's
//! identity comes back in the response extensions as a
//! [`PeerIdentity`](mesh_core::identity::PeerIdentity):
//! `response.extensions().get::<PeerIdentity>()`. Without an identity, requests to such a
//! cluster fail with [`Error::NoIdentity`]; the mesh never falls back to plaintext.
//!
//! # The stack
//!
//! Each request goes down one stack (see `stack.rs`), one module per concern:
//!
//! 1. resolution: the target's route table, kept current by a background task per target that
//!    follows Listener -> RouteConfiguration -> Clusters -> ClusterLoadAssignments;
//! 2. `route`: the first matching route of the virtual host serving the target, then one of its
//!    clusters by weight;
//! 3. `balance`: power of two choices over the cluster's healthy endpoints, by peak-EWMA
//!    latency times requests in flight;
//! 4. `connect`: a pooled HTTP/2 (gRPC) or HTTP/1.1 connection to the chosen endpoint, over
//!    mTLS when the cluster says so.
//!
//! If mesh-control becomes unreachable, the last configuration stays in force.

mod balance;
mod builder;
mod channel;
mod connect;
mod counters;
mod error;
mod future;
mod http_client;
mod resolve;
mod route;
mod stack;
mod target;

pub use builder::{Builder, DEFAULT_CONFIG_TIMEOUT};
pub use channel::MeshChannel;
pub use counters::CounterSnapshot;
pub use error::Error;
pub use future::ResponseFuture;
pub use http_client::MeshHttpClient;

/// A boxed error, as request bodies and tower services use.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
