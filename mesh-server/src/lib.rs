//! The inbound side of the proxyless mesh: serve tonic services and axum/hyper routers as a
//! meshed server that registers itself with mesh-control.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_core::bootstrap::Bootstrap;
//! use mesh_server::MeshServer;
//!
//! let app = tower::service_fn(|_: http::Request<hyper::body::Incoming>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let server = MeshServer::builder()
//!     .bootstrap(Bootstrap::from_env()?)
//!     .register("serviceb.demo:8080")
//!     .bind("127.0.0.1:8080")
//!     .await?;
//! server.serve(app, async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await?;
//! # Ok(()) }
//! ```
//!
//! [`MeshServerBuilder::bind`] binds the port and starts an xDS client whose node metadata
//! registers the server as an endpoint of each registered service; [`MeshServer::serve`] serves
//! HTTP/1.1 and h2c on that port until shutdown, then drops the xDS client, which deregisters
//! the server. Without a bootstrap it is a plain server.
//!
//! # mTLS and the peer's identity
//!
//! Give the server an [`Identity`](mesh_core::identity::Identity) with
//! [`MeshServerBuilder::identity`] and it serves mTLS in the mode its inbound xDS listener says
//! (STRICT, PERMISSIVE or PLAINTEXT; STRICT without xDS). HTTP/1.1 and HTTP/2 share the port
//! over TLS too. Every request that came over mTLS carries the client's SPIFFE ID as a
//! [`PeerIdentity`](mesh_core::identity::PeerIdentity) in its extensions; plaintext requests
//! carry none:
//!
//! ```
//! use mesh_core::identity::PeerIdentity;
//!
//! fn caller<B>(req: &http::Request<B>) -> String {
//!     match req.extensions().get::<PeerIdentity>() {
//!         Some(PeerIdentity(id)) => id.to_string(), // spiffe://cluster.local/ns/demo/sa/servicea
//!         None => "anonymous (plaintext)".to_string(),
//!     }
//! }
//! ```
//!
//! In a tonic handler: `request.extensions().get::<PeerIdentity>()`.
//!
//! A connection the mode refuses (plaintext in STRICT, a failed handshake, a certificate not
//! from the mesh's CA) is closed and logged at `warn`, one line each, with the peer address and
//! the reason.
//!
//! # Deadlines
//!
//! Every request runs under its caller's deadline (`grpc-timeout`, or `mesh-timeout` for HTTP):
//! calls the handler makes through `mesh-client` are bounded by what is left of it, and a
//! request still unanswered when it passes gets `DEADLINE_EXCEEDED` (gRPC) or `504` (HTTP).
//! See [`deadline`]; the same layer, [`DeadlineLayer`], works on any tower service.
//!
//! Authorization, rate limits and drain policies will join the inbound stack here.

mod accept;
mod builder;
pub mod deadline;
mod error;
mod inbound;
mod peer;
mod server;

pub use builder::{DEFAULT_SHUTDOWN_TIMEOUT, MeshServerBuilder};
pub use deadline::{Deadline, DeadlineLayer};
pub use error::Error;
pub use server::MeshServer;

/// A boxed error, as tower services and bodies use.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
