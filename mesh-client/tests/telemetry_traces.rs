//! The client's `traceparent` propagation through the public API: every attempt carries the
//! trace context of the call's span, or of the caller's span when the mesh's spans are off.

mod support;

use mesh_client::{Builder, MeshChannel};
use mesh_core::telemetry::trace::SPAN_TARGET;
use opentelemetry::trace::TracerProvider as _;
use support::ads::FakeAds;
use support::telemetry::{Seen, TARGET, call, server, traceparents, world, xds};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, filter};

async fn channel() -> (FakeAds, MeshChannel, Seen) {
    let (addr, seen) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let channel = Builder::new()
        .without_metrics()
        .channel(&xds(&ads), TARGET)
        .unwrap();
    (ads, channel, seen)
}

/// The trace ID of a `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).expect("a trace ID")
}

#[tokio::test]
async fn a_recorded_span_sends_traceparent_and_an_unrecorded_one_does_not() {
    let (_ads, channel, seen) = channel().await;

    call(&channel, "/ok/Untraced").await;
    {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        call(&channel, "/ok/Traced").await;
        // Each attempt of a retried call carries it.
        call(&channel, "/flaky/Traced").await;
    }

    assert_eq!(traceparents(&seen, "/ok/Untraced"), [None]);
    let traced = traceparents(&seen, "/ok/Traced");
    let parent = traced[0].as_deref().expect("a traceparent");
    assert!(parent.starts_with("00-") && parent.len() == 55, "{parent}");
    let retried = traceparents(&seen, "/flaky/Traced");
    assert_eq!(retried.len(), 2);
    assert!(retried.iter().all(Option::is_some), "{retried:?}");
    assert_eq!(retried[0], retried[1], "one call, one span");
}

#[tokio::test]
async fn with_the_mesh_spans_off_the_callers_span_is_propagated() {
    let (_ads, channel, seen) = channel().await;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let no_mesh_spans = filter::Targets::new()
        .with_default(tracing::Level::TRACE)
        .with_target(SPAN_TARGET, filter::LevelFilter::OFF);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("test"))
        .with_filter(no_mesh_spans);
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

    let app = tracing::info_span!("app");
    let app_trace = {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        app.context().span().span_context().trace_id().to_string()
    };
    call(&channel, "/ok/App").instrument(app).await;

    let sent = traceparents(&seen, "/ok/App");
    let parent = sent[0].as_deref().expect("the app span's traceparent");
    assert_eq!(trace_id(parent), app_trace);
}
