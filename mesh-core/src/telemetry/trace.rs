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

/// The W3C trace-context header, a constant so that looking it up parses no name.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

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
    if span.is_disabled() || !headers.contains_key(TRACEPARENT) {
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

/// Whether an OpenTelemetry layer records `span` and its sampler keeps it. The fields of a span
/// that is not kept are never exported, so callers skip recording them.
///
/// Like [`trace_id`], it starts the span in the OpenTelemetry layer.
pub fn is_sampled(span: &Span) -> bool {
    !span.is_disabled() && span.context().span().span_context().is_sampled()
}

/// Whether `headers` carry a W3C `traceparent` whose caller did not sample its trace (the
/// sampled bit of its flags is 0). Parent-based samplers, OpenTelemetry's default, drop the
/// spans of such a request, so a server need not open one.
pub fn parent_not_sampled(headers: &http::HeaderMap) -> bool {
    // version "-" trace-id "-" parent-id "-" flags: the flags are the two hex digits at 53.
    let Some(value) = headers.get(TRACEPARENT) else {
        return false;
    };
    let flags = value
        .as_bytes()
        .get(53..55)
        .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
    matches!(flags, Some(flags) if flags & 1 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(traceparent: &'static str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", http::HeaderValue::from_static(traceparent));
        headers
    }

    #[test]
    fn the_sampled_bit_of_the_traceparent_flags_decides() {
        let id = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
        let not_sampled = headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(parent_not_sampled(&not_sampled), "{id}-00");
        let sampled = headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert!(!parent_not_sampled(&sampled));
        let other_bits = headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02");
        assert!(parent_not_sampled(&other_bits));
        assert!(!parent_not_sampled(&headers("garbage")));
        assert!(!parent_not_sampled(&http::HeaderMap::new()));
    }
}
