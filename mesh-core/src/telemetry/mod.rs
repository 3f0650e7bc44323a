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

mod metrics;
pub mod trace;

pub use metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// The `tracing` target of access-log events: one per request, at INFO.
pub const ACCESS_LOG_TARGET: &str = "mesh::access";
