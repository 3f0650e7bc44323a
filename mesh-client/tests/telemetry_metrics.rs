//! The client's metrics through the public API, in a registry of each test's own, against a
//! real xDS client fed by a fake ADS server and a gRPC-like server on loopback.

mod support;

use std::time::Duration;

use http_body_util::BodyExt;
use mesh_client::{Builder, MeshHttpClient};
use mesh_core::model::{CircuitBreaker, UpstreamProtocol};
use mesh_core::telemetry::Metrics;
use support::ads::{FakeAds, World};
use support::model::{cluster, endpoints, listener_inline, route_config};
use support::telemetry::{LISTENER, TARGET, call, get, sample, server, world, xds};
use tower::ServiceExt;

const REQUESTS: &str = "mesh_client_requests_total";
const IN_FLIGHT: &str = "mesh_client_requests_in_flight";

/// The value of the series of `name` with `labels` in `metrics`; fails if there is none.
fn value(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = metrics.render_text();
    sample(&text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

#[tokio::test]
async fn a_known_sequence_moves_each_family_by_the_right_amount() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();

    for _ in 0..3 {
        call(&channel, "/ok/Get").await;
    }
    for _ in 0..2 {
        call(&channel, "/flaky/Get").await;
    }
    call(&channel, "/abort/Get").await;

    let m = &metrics;
    let ok = [
        ("protocol", "grpc"),
        ("route", "prefix /ok"),
        ("cluster", "b"),
    ];
    assert_eq!(value(m, REQUESTS, &ok), 3.0);
    assert_eq!(value(m, REQUESTS, &[("status", "0"), ("peer", "")]), 5.0);
    let flaky = [("route", "prefix /flaky"), ("status", "0")];
    assert_eq!(value(m, REQUESTS, &flaky), 2.0);
    let aborted = [("route", "prefix /abort"), ("status", "14")];
    assert_eq!(value(m, REQUESTS, &aborted), 1.0);
    assert_eq!(value(m, REQUESTS, &[]), 6.0);

    let b = [("cluster", "b")];
    // The server fails the first /flaky request of each pair: 3 plain calls of 1 attempt,
    // then 2 calls of 2 attempts each; the abort never leaves the client.
    assert_eq!(value(m, "mesh_client_attempts_total", &b), 7.0);
    assert_eq!(value(m, "mesh_client_retries_total", &b), 2.0);
    let budget = "mesh_client_retry_budget_exhausted_total";
    assert_eq!(sample(&m.render_text(), budget, &b), None, "never spent");
    let abort = [("route", "prefix /abort"), ("kind", "abort")];
    assert_eq!(value(m, "mesh_client_faults_injected_total", &abort), 1.0);
    assert_eq!(value(m, IN_FLIGHT, &b), 0.0);
    let count = "mesh_client_request_duration_seconds_count";
    assert_eq!(value(m, count, &[]), 6.0);
    assert_eq!(value(m, count, &[("route", "prefix /flaky")]), 2.0);

    // The client's own snapshot agrees.
    let counters = channel.counters();
    assert_eq!((counters.attempts, counters.retries), (7, 2));
    assert_eq!(counters.injected_aborts, 1);
}

#[tokio::test]
async fn a_call_counts_in_flight_until_its_body_is_read() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();
    let m = &metrics;

    let response = channel.clone().oneshot(get("/ok/Get")).await.unwrap();
    assert_eq!(value(m, IN_FLIGHT, &[]), 1.0);
    let requests = || sample(&m.render_text(), REQUESTS, &[]);
    assert_eq!(requests(), None, "counted only when over");
    response.into_body().collect().await.unwrap();
    assert_eq!(value(m, IN_FLIGHT, &[]), 0.0);
    assert_eq!(requests(), Some(1.0));

    // A call whose response body is dropped before its end is CANCELLED.
    let response = channel.clone().oneshot(get("/ok/Get")).await.unwrap();
    drop(response);
    assert_eq!(value(m, REQUESTS, &[("status", "1")]), 1.0);
    assert_eq!(value(m, IN_FLIGHT, &[]), 0.0);
}

#[tokio::test]
async fn a_call_dropped_before_its_response_head_is_cancelled() {
    // An endpoint that takes connections and never answers.
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let routes = route_config("rc", LISTENER, &[("", &[("stuck", 1)])]);
    let world = World::default()
        .listener(&listener_inline(LISTENER, routes))
        .cluster(&cluster("stuck", UpstreamProtocol::Http2))
        .endpoints(&endpoints("stuck", &[stuck.local_addr().unwrap()]));
    let ads = FakeAds::start(world).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();
    // Gives up on calls after 200 ms until one was routed (had the configuration).
    let routed = || sample(&metrics.render_text(), IN_FLIGHT, &[]).is_some();
    support::eventually("a routed call", || async {
        let call = channel.clone().oneshot(get("/Get"));
        let given_up = tokio::time::timeout(Duration::from_millis(200), call).await;
        assert!(given_up.is_err(), "the endpoint never answers");
        routed().then_some(())
    })
    .await;

    let m = &metrics;
    let labels = [("route", "prefix "), ("cluster", "stuck"), ("status", "1")];
    assert_eq!(value(m, REQUESTS, &labels), 1.0);
    assert_eq!(value(m, IN_FLIGHT, &[("cluster", "stuck")]), 0.0);
    assert_eq!(value(m, "mesh_client_attempts_total", &[]), 1.0);
}

#[tokio::test]
async fn http_calls_count_by_http_status_and_calls_without_response_as_error() {
    let (addr, _) = server().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let routes = route_config(
        "rc",
        LISTENER,
        &[("/dead", &[("dead", 1)]), ("", &[("b", 1)])],
    );
    let world = World::default()
        .listener(&listener_inline(LISTENER, routes))
        .cluster(&cluster("b", UpstreamProtocol::Http1))
        .cluster(&cluster("dead", UpstreamProtocol::Http1))
        .endpoints(&endpoints("b", &[addr]))
        .endpoints(&endpoints("dead", &[dead]));
    let ads = FakeAds::start(world).await;
    let metrics = Metrics::new();
    let client: MeshHttpClient = Builder::new()
        .metrics(metrics.clone())
        .http_client(&xds(&ads));
    let url = |path: &str| format!("http://serviceb.demo:50051{path}");

    let response = client.get(&url("/items")).await.unwrap();
    response.into_body().collect().await.unwrap();
    let error = client.get(&url("/dead")).await.unwrap_err();
    assert!(error.is_connect(), "{error}");
    // A 200 whose body breaks is a call that failed.
    let response = client.get(&url("/broken")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.into_body().collect().await.is_err());
    // Calls refused before routing count too, under route and cluster `-`.
    let error = client.get("https://serviceb.demo/").await.unwrap_err();
    assert!(error.to_string().contains("scheme"), "{error}");
    client.get("http://a b/").await.unwrap_err();

    let m = &metrics;
    let ok = [("protocol", "http"), ("cluster", "b"), ("status", "200")];
    assert_eq!(value(m, REQUESTS, &ok), 1.0);
    let failed = [("cluster", "dead"), ("status", "error")];
    assert_eq!(value(m, REQUESTS, &failed), 1.0);
    let broken = [("cluster", "b"), ("status", "error")];
    assert_eq!(value(m, REQUESTS, &broken), 1.0);
    let unrouted = [("route", "-"), ("cluster", "-"), ("status", "error")];
    assert_eq!(value(m, REQUESTS, &unrouted), 2.0);
}

#[tokio::test]
async fn a_grpc_call_answered_by_an_http_error_counts_the_code_it_maps_to() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();
    call(&channel, "/status503/Get").await;
    // 503 maps to UNAVAILABLE (14), as gRPC maps it.
    let labels = [("protocol", "grpc"), ("status", "14")];
    assert_eq!(value(&metrics, REQUESTS, &labels), 1.0);
}

#[tokio::test]
async fn a_full_circuit_breaker_counts_an_overflow() {
    let (addr, _) = server().await;
    let mut b = cluster("b", UpstreamProtocol::Http2);
    b.policy.circuit_breaker = CircuitBreaker {
        max_requests: 1,
        max_pending: 0,
    };
    let routes = route_config("rc", LISTENER, &[("", &[("b", 1)])]);
    let world = World::default()
        .listener(&listener_inline(LISTENER, routes))
        .cluster(&b)
        .endpoints(&endpoints("b", &[addr]));
    let ads = FakeAds::start(world).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();

    // The first call holds the only slot until its body ends.
    let held = channel.clone().oneshot(get("/Get")).await.unwrap();
    let refused = channel.clone().oneshot(get("/Get")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused}");
    drop(held);

    let overflows = "mesh_client_circuit_breaker_overflows_total";
    assert_eq!(value(&metrics, overflows, &[("cluster", "b")]), 1.0);
    assert_eq!(channel.counters().breaker_overflows, 1);
}

#[tokio::test]
async fn a_client_without_metrics_registers_nothing_but_still_counts() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let channel = Builder::new()
        .without_metrics()
        .channel(&xds(&ads), TARGET)
        .unwrap();
    call(&channel, "/flaky/Get").await;
    assert_eq!(channel.counters().retries, 1);
    let global = Metrics::global().render_text();
    assert!(!global.contains("mesh_client_"), "{global}");
}

#[tokio::test]
async fn the_rendered_text_passes_promtool() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();
    for path in ["/ok/Get", "/flaky/Get", "/abort/Get"] {
        call(&channel, path).await;
    }
    mesh_core::test_support::promtool_check("the client", &metrics.render_text());
}
