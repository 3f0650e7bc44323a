//! Request spans and W3C trace-context propagation.
//!
//! The client and the server open one span per request under [`SPAN_TARGET`]. A subscriber
//! that records them (the OpenTelemetry layer, when an OTLP exporter is configured) gives each
//! an OpenTelemetry span; the client writes its context into the outgoing request as
//! `traceparent` ([`inject`]) and the server makes the incoming one the parent of its own span
//! ([`set_parent`]), so a call chain across processes is one trace. When nothing records the
//! spans they are disabled, and both functions do nothing.
//!
//! An access-log event names its request's trace with [`trace_id`], so a log line leads to
//! the trace.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TraceId};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of the per-request spans of the client and the server.
pub const SPAN_TARGET: &str = "mesh::span";

/// Writes the trace context of `span` into `headers` (`traceparent`, and `tracestate` if any).
pub fn inject(span: &Span, headers: &mut http::HeaderMap) {
    if span.is_disabled() {
        return;
    }
    let context = span.context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// Makes the trace context in `headers`, if any, the parent of `span`.
pub fn set_parent(span: &Span, headers: &http::HeaderMap) {
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only when the span was already started, which a fresh span is not.
    let _ = span.set_parent(parent);
}

/// The OpenTelemetry trace ID of `span` (it prints as 32 hex digits), or `None` when no
/// OpenTelemetry layer records the span.
///
/// It starts the span in the OpenTelemetry layer: call it after [`set_parent`], not before.
pub fn trace_id(span: &Span) -> Option<TraceId> {
    if span.is_disabled() {
        return None;
    }
    let id = span.context().span().span_context().trace_id();
    (id != TraceId::INVALID).then_some(id)
}
