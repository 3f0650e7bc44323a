//! The serviceA -> serviceB demo of the proxyless mesh.
//!
//! - [`service_b`]: a gRPC (`demo.ServiceB/Get`) and HTTP (`GET /hello`) server on one port that says
//!   which replica answered; meshed, it registers itself with mesh-control.
//! - [`failure_modes`]: serviceB failing a share of its calls, answering late or stalling, to
//!   show what the mesh's retries, timeouts and outlier detection do about it.
//! - [`service_a`]: an HTTP server whose `GET /call` calls serviceB through a `MeshChannel`
//!   (or directly with `--no-mesh`) and returns serviceB's answer.
//! - [`run`]: the one-command demo: starts mesh-control, two serviceB replicas and serviceA as
//!   real processes, makes a batch of calls and prints a summary.
//! - [`admin`]: the admin server of serviceA and serviceB (metrics; serviceA's config dump and
//!   [`readiness`]).
//! - [`access_log`]: reading the JSON access logs of the mesh's client and server.
//! - [`metrics_text`]: reading the Prometheus text the admin servers answer.
//! - [`process`]: spawning those processes and waiting until they listen (shared with the tests).

pub mod access_log;
pub mod admin;
pub mod failure_modes;
pub mod metrics_text;
pub mod pb;
pub mod process;
pub mod readiness;
pub mod run;
pub mod service_a;
pub mod service_b;
pub mod summary;
