//! The client's spans under a sampler: a call whose span the sampler drops records none of its
//! late fields, yet passes the decision on in `traceparent` (flags `00`). In its own test
//! binary: `tracing` caches callsite interest process-wide, so subscribers of other shapes in
//! parallel tests would change which spans are enabled here.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mesh_client::{Builder, MeshChannel};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use support::ads::FakeAds;
use support::telemetry::{TARGET, call, server, traceparents, world, xds};
use tracing::span;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{self, SubscriberExt};

/// Counts the fields recorded into spans after they were opened.
#[derive(Clone, Default)]
struct Records(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Records {
    fn on_record(&self, _: &span::Id, _: &span::Record<'_>, _: layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Makes a call to `path` under an OpenTelemetry layer whose sampler is `sampler`; the fields
/// recorded into its spans after they opened.
async fn call_sampled(channel: &MeshChannel, path: &str, sampler: Sampler) -> usize {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let records = Records::default();
    let subscriber = tracing_subscriber::registry()
        .with(otel)
        .with(records.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    call(channel, path).await;
    records.0.load(Ordering::Relaxed)
}

#[tokio::test]
async fn a_call_its_sampler_drops_records_nothing_but_passes_the_decision_on() {
    let (addr, seen) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let channel = Builder::new()
        .without_metrics()
        .channel(&xds(&ads), TARGET)
        .unwrap();

    let dropped = call_sampled(&channel, "/ok/Dropped", Sampler::AlwaysOff).await;
    let kept = call_sampled(&channel, "/ok/Kept", Sampler::AlwaysOn).await;

    assert_eq!(dropped, 0, "no late fields for a span nobody exports");
    assert!(
        kept > 0,
        "a sampled span gets its route, endpoint, status..."
    );
    let sent = traceparents(&seen, "/ok/Dropped");
    let parent = sent[0]
        .as_deref()
        .expect("a traceparent, though not sampled");
    assert!(parent.ends_with("-00"), "not sampled: {parent}");
    let sent = traceparents(&seen, "/ok/Kept");
    let parent = sent[0].as_deref().expect("a traceparent");
    assert!(parent.ends_with("-01"), "sampled: {parent}");
}
