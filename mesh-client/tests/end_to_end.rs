//! MeshChannel and MeshHttpClient through the public API: a real xDS client, fed by a fake ADS
//! server, and real HTTP servers on loopback.

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use mesh_client::{MeshChannel, MeshHttpClient};
use mesh_core::model::UpstreamProtocol;
use mesh_core::xds::XdsClient;
use std::time::Duration;
use support::ads::{FakeAds, World};
use support::eventually;
use support::model::{cluster, endpoints, listener_inline, listener_rds, route_config};
use support::server::{start, text};
use tower::ServiceExt;

const TARGET: &str = "xds:///serviceb.demo:50051";
const LISTENER: &str = "serviceb.demo:50051";

/// An xDS client of `ads` that takes a name unanswered for 1 s not to exist (instead of 15 s).
fn xds(ads: &FakeAds) -> XdsClient {
    XdsClient::builder()
        .bootstrap(ads.bootstrap())
        .resource_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

/// Listener over RDS; `/a` to cluster `a`, the rest to `b`; plus `extra` routes first.
fn world(a: &[std::net::SocketAddr], b: &[std::net::SocketAddr]) -> World {
    World::default()
        .listener(&listener_rds(LISTENER, "rc"))
        .route_config(&route_config(
            "rc",
            LISTENER,
            &[("/a", &[("a", 1)]), ("", &[("b", 1)])],
        ))
        .cluster(&cluster("a", UpstreamProtocol::Http1))
        .cluster(&cluster("b", UpstreamProtocol::Http1))
        .endpoints(&endpoints("a", a))
        .endpoints(&endpoints("b", b))
}

#[tokio::test]
async fn a_grpc_channel_follows_listener_routes_clusters_and_endpoints() {
    let (a, b) = (start("a").await, start("b").await);
    let ads = FakeAds::start(world(&[a], &[b])).await;
    let xds = xds(&ads);
    let channel = MeshChannel::new(&xds, TARGET).unwrap();

    let response = channel.clone().oneshot(get("/a/Method")).await.unwrap();
    assert_eq!(text(response).await, format!("a HTTP/2.0 {a} /a/Method"));
    let response = channel.oneshot(get("/demo.Greeter/Hello")).await.unwrap();
    assert_eq!(
        text(response).await,
        format!("b HTTP/2.0 {b} /demo.Greeter/Hello")
    );
}

#[tokio::test]
async fn endpoint_and_route_changes_take_effect() {
    let (a, b, c, n) = (
        start("a").await,
        start("b").await,
        start("c").await,
        start("n").await,
    );
    let ads = FakeAds::start(world(&[a], &[b])).await;
    let xds = xds(&ads);
    let channel = MeshChannel::new(&xds, TARGET).unwrap();
    let response = channel.clone().oneshot(get("/x")).await.unwrap();
    assert!(text(response).await.starts_with("b "));

    // EDS moves cluster b to server c.
    ads.set(world(&[a], &[c]));
    eventually("cluster b to move to server c", || async {
        let response = channel.clone().oneshot(get("/x")).await.ok()?;
        text(response).await.starts_with("c ").then_some(())
    })
    .await;

    // A new route to a new cluster: the resolver subscribes to it and its endpoints.
    let routes = &[
        ("/new", &[("n", 1)][..]),
        ("/a", &[("a", 1)]),
        ("", &[("b", 1)]),
    ];
    ads.set(
        world(&[a], &[c])
            .route_config(&route_config("rc", LISTENER, routes))
            .cluster(&cluster("n", UpstreamProtocol::Http2))
            .endpoints(&endpoints("n", &[n])),
    );
    eventually("the new route to reach server n", || async {
        let response = channel.clone().oneshot(get("/new")).await.ok()?;
        text(response).await.starts_with("n ").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_missing_listener_fails_as_unavailable_after_the_does_not_exist_timer() {
    let ads = FakeAds::start(World::default()).await;
    let xds = xds(&ads);
    let channel = MeshChannel::new(&xds, "xds:///nothing.demo:1").unwrap();
    let status = channel.oneshot(get("/x")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let source =
        std::error::Error::source(&status).and_then(|s| s.downcast_ref::<mesh_client::Error>());
    assert!(
        matches!(source, Some(mesh_client::Error::ListenerNotFound { .. })),
        "{status:?}"
    );
    assert!(
        status
            .message()
            .contains("xDS listener \"nothing.demo:1\" does not exist")
    );
}

#[tokio::test]
async fn the_http_client_resolves_the_uri_authority() {
    let (h1, h2) = (start("h1").await, start("h2").await);
    let inline = |name: &str, cluster: &str| {
        listener_inline(name, route_config("rc", name, &[("", &[(cluster, 1)])]))
    };
    let ads = FakeAds::start(
        World::default()
            .listener(&inline("serviceb.demo:8080", "plain"))
            .listener(&inline("servicec.demo", "h2"))
            .cluster(&cluster("plain", UpstreamProtocol::Http1))
            .cluster(&cluster("h2", UpstreamProtocol::Http2))
            .endpoints(&endpoints("plain", &[h1]))
            .endpoints(&endpoints("h2", &[h2])),
    )
    .await;
    let client = MeshHttpClient::new(&xds(&ads));

    let response = client
        .get("http://serviceb.demo:8080/items?x=1")
        .await
        .unwrap();
    assert_eq!(
        text(response).await,
        "h1 HTTP/1.1 serviceb.demo:8080 /items"
    );
    let response = client.get("http://servicec.demo/z").await.unwrap();
    assert_eq!(text(response).await, format!("h2 HTTP/2.0 {h2} /z"));
    let err = client.get("http://nothing.demo/").await.unwrap_err();
    assert!(
        matches!(err, mesh_client::Error::ListenerNotFound { .. }),
        "{err}"
    );
}
