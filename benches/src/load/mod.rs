//! The load comparison S0..S3.
//!
//! Each scenario is a client and a server in separate processes on loopback: the load
//! generator (and, for S3, the client sidecar) pinned to core 0, the server (and its sidecar,
//! and mesh-control) pinned to core 1. The scenarios:
//!
//! - **S0**: tonic over plaintext HTTP/2;
//! - **S1**: tonic over rustls mTLS, with the mesh's certificates and TLS settings;
//! - **S2**: the full mesh (mTLS, routing, balancing, retry and timeout policy, outlier
//!   detection, metrics, tracing to an OTLP collector) fed live by a mesh-control process, and
//!   variants of it with one feature off at a time, to cost each feature;
//! - **S3**: plain tonic through two HAProxy sidecars with mTLS between them.
//!
//! The [load generator](loadgen) measures the latency of each call from the moment it was
//! meant to be sent, so that a stalled server cannot hide its stall by slowing the sender
//! (coordinated omission); a call that ends in a non-OK gRPC status is an error. Per scenario
//! it reports latency at one call in flight and at fixed rates, the highest throughput at many
//! calls in flight, the CPU time each process spent per call over that window and each
//! process's peak RSS. [`run`] starts the processes and runs the matrix; [`table`] prints the
//! comparison and which targets are met.

pub mod certs;
pub mod client;
pub mod haproxy;
pub mod latency;
pub mod loadgen;
pub mod mesh_config;
pub mod otlp_sink;
pub mod proc_stat;
pub mod process;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server;
pub mod table;
