//! The shared heart of the proxyless mesh.
//!
//! - [`model`]: the validated domain model (listeners, routes, clusters, endpoints).
//! - [`xds`]: the xDS v3 edge: the ADS client apps use to get their config from mesh-control,
//!   and the conversion between wire resources and the model.
//! - [`bootstrap`]: the gRPC xDS bootstrap (gRFC A27) that tells an app where mesh-control is.
//! - [`registration`]: how a meshed server announces the service it serves.
//! - [`identity`]: the workload's SPIFFE identity (key, certificate, rotation, rustls configs).
//! - [`deadline`]: request deadlines, carried from server to client (`grpc-timeout`).
//! - [`telemetry`]: metrics, request spans with W3C trace-context propagation, access logs, and
//!   the process's log/trace subscriber ([`telemetry::init()`]).
//! - [`admin`]: the app admin HTTP server (metrics, config dump, health).

pub mod admin;
mod backoff;
pub mod bootstrap;
pub mod deadline;
pub mod identity;
pub mod model;
pub mod registration;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
#[doc(hidden)]
pub mod test_support;
pub mod xds;
