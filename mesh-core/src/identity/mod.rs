//! Workload identity: SPIFFE X.509 SVIDs issued in-process by mesh-control's CA.
//!
//! At start an app makes a P-256 key in memory, sends a CSR with its credential (a join token,
//! or a Kubernetes service-account token) to mesh-control's CA, and gets a short-lived
//! certificate for `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`: an [`Svid`]. A background worker
//! renews it (new key, new CSR) at 70 % of its lifetime; the [`Identity`] handle always has
//! the current one, and the rustls configs made from it read it at each handshake, so a
//! rotation fails no request and needs no new config.
//!
//! Peers verify each other by SPIFFE ID (the certificate's URI SAN), as xDS tells them, never
//! by DNS name.
//!
//! An identity from the CA keeps the `mesh_identity_*` metrics (certificate expiry, rotations,
//! renewal failures) in the registry given to [`IdentityBuilder::metrics`]. The authenticated peer of a connection becomes a [`PeerIdentity`] in the
//! request's or response's extensions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mesh_core::identity::IdentityError> {
//! use mesh_core::identity::Identity;
//! let identity = Identity::builder()
//!     .ca_uri("http://127.0.0.1:15010")
//!     .token_from_env()
//!     .start()
//!     .await?;
//! let server_tls = identity.server_config();
//! # Ok(()) }
//! ```

mod builder;
mod ca;
mod csr;
mod error;
mod handle;
mod metrics;
mod peer;
pub mod proto;
mod svid;
#[cfg(test)]
mod test_ca;
mod tls;
#[cfg(test)]
mod tls_tests;
mod verify;
mod worker;
#[cfg(test)]
mod worker_tests;

pub use builder::IdentityBuilder;
pub use ca::NODE_ID_HEADER;
pub use error::{IdentityError, JOIN_TOKEN_ENV, describe_handshake_error};
pub use handle::Identity;
pub use peer::{PeerIdentity, peer_spiffe_id};
pub use svid::Svid;
