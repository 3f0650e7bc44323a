//! mTLS clusters through the public API: a real xDS client fed by a fake ADS server, and mTLS
//! servers on loopback with certificates from a test CA.

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use mesh_client::{MeshChannel, MeshHttpClient};
use mesh_core::identity::PeerIdentity;
use mesh_core::model::{StringMatch, UpstreamProtocol, UpstreamTls};
use mesh_core::xds::XdsClient;
use support::ads::{FakeAds, World};
use support::certs::{TestCa, spiffe_id};
use support::model::{cluster, endpoints, listener_inline, route_config};
use support::server::{start_tls, text};
use tower::ServiceExt;

const LISTENER: &str = "serviceb.demo:50051";
const TARGET: &str = "xds:///serviceb.demo:50051";

fn xds(ads: &FakeAds) -> XdsClient {
    XdsClient::builder()
        .bootstrap(ads.bootstrap())
        .build()
        .unwrap()
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

/// One listener whose only route goes to cluster `b` at `addr`, over mTLS to a server whose
/// SPIFFE ID is `expected`.
fn world(addr: std::net::SocketAddr, protocol: UpstreamProtocol, expected: &str) -> World {
    let mut b = cluster("b", protocol);
    b.tls = Some(UpstreamTls {
        peer_ids: vec![StringMatch::Exact(expected.to_string())],
    });
    World::default()
        .listener(&listener_inline(
            LISTENER,
            route_config("rc", LISTENER, &[("", &[("b", 1)])]),
        ))
        .cluster(&b)
        .endpoints(&endpoints("b", &[addr]))
}

#[tokio::test]
async fn a_tls_cluster_is_reached_over_mtls_and_names_the_server() {
    let ca = TestCa::new("mesh");
    let server = start_tls("b", &ca.identity("serviceb")).await;
    let ads = FakeAds::start(world(
        server,
        UpstreamProtocol::Http1,
        &spiffe_id("serviceb"),
    ))
    .await;
    let xds = xds(&ads);
    let channel = MeshChannel::builder()
        .identity(ca.identity("servicea"))
        .channel(&xds, TARGET)
        .unwrap();

    for path in ["/demo.Greeter/Hello", "/again"] {
        let response = channel.clone().oneshot(get(path)).await.unwrap();
        let peer = response.extensions().get::<PeerIdentity>().cloned();
        assert_eq!(
            peer.map(|peer| peer.to_string()),
            Some(spiffe_id("serviceb"))
        );
        let caller = spiffe_id("servicea");
        assert_eq!(text(response).await, format!("b HTTP/2.0 {path} {caller}"));
    }

    // A plain HTTP client speaks HTTP/1.1 over mTLS to the same cluster.
    let client = mesh_client::Builder::new()
        .identity(ca.identity("servicea"))
        .http_client(&xds);
    let response = client
        .get("http://serviceb.demo:50051/items")
        .await
        .unwrap();
    assert!(response.extensions().get::<PeerIdentity>().is_some());
    let body = text(response).await;
    assert!(body.starts_with("b HTTP/1.1 /items "), "{body}");
}

#[tokio::test]
async fn calls_over_mtls_are_counted_by_the_server_identity() {
    let ca = TestCa::new("mesh");
    let server = start_tls("b", &ca.identity("serviceb")).await;
    let expected = spiffe_id("serviceb");
    let ads = FakeAds::start(world(server, UpstreamProtocol::Http1, &expected)).await;
    let metrics = mesh_core::telemetry::Metrics::new();
    let client = mesh_client::Builder::new()
        .identity(ca.identity("servicea"))
        .metrics(metrics.clone())
        .http_client(&xds(&ads));
    let response = client
        .get("http://serviceb.demo:50051/items")
        .await
        .unwrap();
    text(response).await;

    let series = format!(
        "mesh_client_requests_total{{protocol=\"http\",route=\"prefix \",cluster=\"b\",\
         peer=\"{expected}\",status=\"200\"}} 1"
    );
    let rendered = metrics.render_text();
    assert!(rendered.contains(&series), "{series}\n{rendered}");
}

#[tokio::test]
async fn a_server_with_another_identity_is_refused_with_the_reason() {
    let ca = TestCa::new("mesh");
    let server = start_tls("impostor", &ca.identity("impostor")).await;
    let ads = FakeAds::start(world(
        server,
        UpstreamProtocol::Http2,
        &spiffe_id("serviceb"),
    ))
    .await;
    let channel = MeshChannel::builder()
        .identity(ca.identity("servicea"))
        .channel(&xds(&ads), TARGET)
        .unwrap();

    let status = channel.oneshot(get("/x")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let message = status.message();
    let expected = format!(
        "server identity {} is not one of the expected [exact {}]",
        spiffe_id("impostor"),
        spiffe_id("serviceb")
    );
    assert!(message.contains(&expected), "{message}");
    assert!(
        message.contains(&format!("endpoint {server} of cluster \"b\"")),
        "{message}"
    );
}

#[tokio::test]
async fn a_client_without_identity_says_so_and_never_falls_back_to_plaintext() {
    let ca = TestCa::new("mesh");
    let server = start_tls("b", &ca.identity("serviceb")).await;
    let ads = FakeAds::start(world(
        server,
        UpstreamProtocol::Http1,
        &spiffe_id("serviceb"),
    ))
    .await;
    let client = MeshHttpClient::new(&xds(&ads));

    let err = client.get("http://serviceb.demo:50051/").await.unwrap_err();
    assert!(
        matches!(err, mesh_client::Error::NoIdentity { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "cluster \"b\" requires mTLS but this client has no identity: give the MeshChannel an \
             Identity"
        ),
        "{err}"
    );
}
