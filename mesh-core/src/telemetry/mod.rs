//! Telemetry shared by the client, the server and the control service: metrics, traces and
//! access logs, in the formats people already use.
//!
//! - [`Metrics`]: one Prometheus registry per process (or per test), which the client, the
//!   server, the xDS client and the identity register their metric families in, once each.
//!   It renders as the Prometheus text format or as OpenMetrics.
//! - [`trace`]: a span per request under the [`trace::SPAN_TARGET`] target, and W3C
//!   `traceparent` propagation across hops. The spans go nowhere unless an OTLP exporter is
//!   configured.
//! - Access logs: one `tracing` event per request under [`ACCESS_LOG_TARGET`].
//! - [`init()`]: installs the `tracing` subscriber that writes logs and exports spans.
//!
//! # Turning it on
//!
//! An app (or mesh-control) calls [`init()`] first thing in `main` and holds the guard; it reads
//! the environment:
//!
//! | variable | effect |
//! |---|---|
//! | `RUST_LOG` | log filter; default `info,mesh::access=off` |
//! | `RUST_LOG=info,mesh::access=info` | adds one access-log line per request |
//! | `MESH_LOG_FORMAT=json` | JSON lines instead of text (`text` is the default) |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317` | exports request spans over OTLP/gRPC |
//! | `OTEL_SERVICE_NAME` | the `service.name` of the spans, over the name given to `init` |
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let _telemetry = mesh_core::telemetry::init("service-a")?;
//! # Ok(()) }
//! ```
//!
//! Metrics are always counted; to scrape them (and see the xDS config) serve the app admin
//! endpoints with [`crate::admin::builder`], by default on [`crate::admin::DEFAULT_ADMIN_ADDR`].

mod init;
mod metrics;
pub mod trace;

#[cfg(test)]
mod init_tests;

pub use init::{DEFAULT_LOG_FILTER, TelemetryError, TelemetryGuard, init};
pub use metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// The bucket bounds, in seconds, of the request-duration histograms of the client and the
/// server (100 us to 10 s in 1-2.5-5 steps), the same on both sides so they can be compared.
pub const REQUEST_DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The `tracing` target of access-log events: one per request, at INFO.
pub const ACCESS_LOG_TARGET: &str = "mesh::access";
