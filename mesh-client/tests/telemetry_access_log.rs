//! The client's access log through the public API: one event per call, with the attempts
//! and the last endpoint behind it, whether the call ended with a response or an error.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use mesh_client::{Builder, MeshChannel};
use mesh_core::model::{RetryOn, UpstreamProtocol};
use support::ads::{FakeAds, World};
use support::model::{cluster, endpoints, listener_inline, route_config};
use support::telemetry::{
    AccessLog, LISTENER, TARGET, assert_fields, call, get, retry_twice, server, world, xds,
};
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

/// An access log recording the events of this thread until the guard is dropped.
fn record() -> (AccessLog, tracing::subscriber::DefaultGuard) {
    let log = AccessLog::default();
    let subscriber = tracing_subscriber::registry().with(log.clone());
    (log, tracing::subscriber::set_default(subscriber))
}

async fn channel(world: World) -> (FakeAds, MeshChannel) {
    let ads = FakeAds::start(world).await;
    let channel = Builder::new()
        .without_metrics()
        .channel(&xds(&ads), TARGET)
        .unwrap();
    (ads, channel)
}

#[tokio::test]
async fn each_call_writes_one_access_log_event() {
    let (log, _guard) = record();
    let (addr, _) = server().await;
    let (_ads, channel) = channel(world(addr)).await;

    call(&channel, "/flaky/Get").await;
    call(&channel, "/abort/Get").await;
    // The server's `grpc-previous-rpc-attempts` says nothing of this call's attempts.
    call(&channel, "/liar/Get").await;

    let events = log.events();
    assert_eq!(events.len(), 3, "{events:?}");
    let upstream = addr.to_string();
    assert_fields(
        &events[0],
        &[
            ("side", "client"),
            ("method", "GET"),
            ("path", "/flaky/Get"),
            ("status", "0"),
            ("peer", "-"),
            ("mtls", "false"),
            ("route", "prefix /flaky"),
            ("cluster", "b"),
            ("upstream", &upstream),
            ("attempts", "2"),
        ],
    );
    let latency: f64 = events[0]["latency_ms"].parse().unwrap();
    assert!(latency > 0.0, "{:?}", events[0]);
    let abort = [("status", "14"), ("upstream", "-"), ("attempts", "0")];
    assert_fields(&events[1], &abort);
    let liar = [("status", "0"), ("upstream", &upstream), ("attempts", "1")];
    assert_fields(&events[2], &liar);
}

#[tokio::test]
async fn calls_that_fail_log_their_attempts_and_last_endpoint() {
    let (log, _guard) = record();
    // An endpoint that takes connections and never answers, and one that refuses them.
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stuck_addr = stuck.local_addr().unwrap();
    let dead: SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut routes = route_config(
        "rc",
        LISTENER,
        &[("/stuck", &[("stuck", 1)]), ("/dead", &[("dead", 1)])],
    );
    let vhost = &mut routes.virtual_hosts[0];
    let deadline = RetryOn {
        grpc_codes: vec![tonic::Code::DeadlineExceeded],
        ..Default::default()
    };
    let per_try = Some(Duration::from_millis(100));
    vhost.routes[0].policy = retry_twice(deadline, per_try);
    let refused = RetryOn {
        connect_failure: true,
        ..Default::default()
    };
    vhost.routes[1].policy = retry_twice(refused, None);
    let world = World::default()
        .listener(&listener_inline(LISTENER, routes))
        .cluster(&cluster("stuck", UpstreamProtocol::Http2))
        .cluster(&cluster("dead", UpstreamProtocol::Http2))
        .endpoints(&endpoints("stuck", &[stuck_addr]))
        .endpoints(&endpoints("dead", &[dead]));
    let (_ads, channel) = channel(world).await;

    // Both attempts time out, then both are refused.
    channel
        .clone()
        .oneshot(get("/stuck/Get"))
        .await
        .unwrap_err();
    channel.clone().oneshot(get("/dead/Get")).await.unwrap_err();

    let events = log.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let stuck_addr = stuck_addr.to_string();
    let timed_out = [
        ("cluster", "stuck"),
        ("status", "14"),
        ("upstream", stuck_addr.as_str()),
        ("attempts", "2"),
    ];
    assert_fields(&events[0], &timed_out);
    let dead = dead.to_string();
    let refused = [
        ("cluster", "dead"),
        ("status", "14"),
        ("upstream", dead.as_str()),
        ("attempts", "2"),
    ];
    assert_fields(&events[1], &refused);
}

#[tokio::test]
async fn an_http_call_refused_before_routing_is_logged() {
    let (log, _guard) = record();
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let client = Builder::new().without_metrics().http_client(&xds(&ads));

    client.get("https://serviceb.demo/items").await.unwrap_err();

    let events = log.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let refused = [
        ("path", "/items"),
        ("status", "error"),
        ("route", "-"),
        ("cluster", "-"),
        ("upstream", "-"),
        ("attempts", "0"),
    ];
    assert_fields(&events[0], &refused);
}
