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
//! mTLS, authorization, rate limits and drain policies will join the inbound stack here.

mod builder;
mod error;
mod inbound;
mod server;

pub use builder::{DEFAULT_SHUTDOWN_TIMEOUT, MeshServerBuilder};
pub use error::Error;
pub use server::MeshServer;

/// A boxed error, as tower services and bodies use.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
