//! The client against a fake ADS server on a real socket.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::node::UserAgentVersionType;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;

use super::fake_server::{FakeAds, PATIENCE};
use super::*;
use crate::model::{ClientListener, Listener, RouteSource};
use crate::xds::decode::fixtures::{any, client_listener, eds_cluster, hcm_rds};
use crate::xds::json::struct_to_json;
use crate::xds::type_url;

fn client(server: &FakeAds) -> XdsClient {
    XdsClient::builder()
        .bootstrap(Bootstrap::insecure(server.uri(), "node-1"))
        .build()
        .unwrap()
}

/// Waits until the watch's state satisfies `done`.
async fn wait_until<T>(
    watch: &mut ResourceWatch<T>,
    done: impl Fn(&ResourceState<T>) -> bool,
) -> ResourceState<T> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let state = watch.current();
            if done(&state) {
                return state;
            }
            watch.changed().await.expect("the client is alive");
        }
    })
    .await
    .expect("the state in time")
}

fn routes_of(state: &ResourceState<Listener>) -> Option<RouteSource> {
    match state.present().map(|l| (**l).clone()) {
        Some(Listener::Client(ClientListener { routes, .. })) => Some(routes),
        _ => None,
    }
}

fn rds(name: &str) -> Option<RouteSource> {
    Some(RouteSource::Rds(name.into()))
}

fn listener_any(name: &str, route: &str) -> envoy_types::pb::google::protobuf::Any {
    any(type_url::LISTENER, &client_listener(name, route))
}

/// Subscribes to listener `l` and has the server answer with route `r1` at version v1.
async fn with_listener(
    server: &mut FakeAds,
    client: &XdsClient,
) -> (ResourceWatch<Listener>, DiscoveryRequest) {
    let mut watch = client.listener("l");
    let first = server.next_request().await;
    server.respond(
        type_url::LISTENER,
        "v1",
        "n1",
        vec![listener_any("l", "r1")],
    );
    wait_until(&mut watch, |s| routes_of(s) == rds("r1")).await;
    let ack = server.next_request().await;
    assert_eq!(
        (ack.version_info.as_str(), ack.response_nonce.as_str()),
        ("v1", "n1")
    );
    (watch, first)
}

#[tokio::test]
async fn subscribe_receive_and_ack() {
    let mut server = FakeAds::start().await;
    let client = client(&server);
    let mut watch = client.listener("l");
    assert!(matches!(watch.current(), ResourceState::Pending));

    let request = server.next_request().await;
    assert_eq!(request.type_url, type_url::LISTENER);
    assert_eq!(request.resource_names, ["l"]);
    assert_eq!(
        (
            request.version_info.as_str(),
            request.response_nonce.as_str()
        ),
        ("", "")
    );
    let node = request.node.expect("the first request carries the node");
    assert_eq!(node.id, "node-1");
    assert_eq!(node.user_agent_name, "mesh-core");
    assert!(matches!(
        node.user_agent_version_type,
        Some(UserAgentVersionType::UserAgentVersion(_))
    ));

    server.respond(
        type_url::LISTENER,
        "v1",
        "n1",
        vec![listener_any("l", "r1"), listener_any("other", "x")],
    );
    let state = wait_until(&mut watch, |s| !matches!(s, ResourceState::Pending)).await;
    assert_eq!(
        state.present().map(|l| (**l).clone()),
        Some(Listener::Client(ClientListener {
            name: "l".into(),
            routes: RouteSource::Rds("r1".into())
        }))
    );

    let ack = server.next_request().await;
    assert_eq!(
        (ack.version_info.as_str(), ack.response_nonce.as_str()),
        ("v1", "n1")
    );
    assert_eq!(ack.resource_names, ["l"]);
    assert!(ack.error_detail.is_none());
    assert!(
        ack.node.is_none(),
        "the node goes on the first request only"
    );
}

#[tokio::test]
async fn invalid_resource_is_nacked_and_the_old_value_kept() {
    let mut server = FakeAds::start().await;
    let client = client(&server);
    let (watch, _) = with_listener(&mut server, &client).await;

    let mut broken = client_listener("l", "r2");
    let mut hcm = hcm_rds("r2");
    hcm.http_filters.clear();
    broken.api_listener.as_mut().unwrap().api_listener =
        Some(any(type_url::HTTP_CONNECTION_MANAGER, &hcm));
    server.respond(
        type_url::LISTENER,
        "v2",
        "n2",
        vec![any(type_url::LISTENER, &broken)],
    );

    let nack = server.next_request().await;
    assert_eq!(
        (nack.version_info.as_str(), nack.response_nonce.as_str()),
        ("v1", "n2")
    );
    let status = nack.error_detail.expect("a NACK carries the reason");
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(
        status.message.contains("Listener \"l\"") && status.message.contains("http_filters"),
        "{}",
        status.message
    );
    assert_eq!(
        routes_of(&watch.current()),
        rds("r1"),
        "the last good value stays"
    );
}

#[tokio::test]
async fn listener_missing_from_a_response_does_not_exist() {
    let mut server = FakeAds::start().await;
    let client = client(&server);
    let (mut watch, _) = with_listener(&mut server, &client).await;
    server.respond(
        type_url::LISTENER,
        "v2",
        "n2",
        vec![listener_any("other", "x")],
    );
    wait_until(&mut watch, |s| matches!(s, ResourceState::DoesNotExist)).await;
    let ack = server.next_request().await;
    assert_eq!(ack.version_info, "v2");
}

#[tokio::test]
async fn dropping_the_last_watch_unsubscribes() {
    let mut server = FakeAds::start().await;
    let client = client(&server);
    let a = client.cluster("a");
    assert_eq!(server.next_request().await.resource_names, ["a"]);
    let b = client.cluster("b");
    let b_again = client.cluster("b");
    assert_eq!(server.next_request().await.resource_names, ["a", "b"]);
    drop(b);
    drop(b_again);
    let request = server.next_request().await;
    assert_eq!(request.type_url, type_url::CLUSTER);
    assert_eq!(request.resource_names, ["a"]);
    drop(a);
    assert!(server.next_request().await.resource_names.is_empty());
}

#[tokio::test]
async fn fail_static_then_resubscribe_on_reconnect() {
    let mut server = FakeAds::start().await;
    let client = client(&server);
    let (mut watch, _) = with_listener(&mut server, &client).await;
    let addr = server.addr();
    server.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        routes_of(&watch.current()),
        rds("r1"),
        "kept while the server is away"
    );

    let mut server = FakeAds::start_on(addr).await;
    let request = server.next_request().await;
    assert_eq!(request.resource_names, ["l"]);
    assert_eq!(
        request.version_info, "v1",
        "resubscribes with the last ACKed version"
    );
    assert_eq!(
        request.response_nonce, "",
        "nonces belong to the old stream"
    );
    assert!(request.node.is_some(), "a new stream starts with the node");
    assert_eq!(routes_of(&watch.current()), rds("r1"));

    server.respond(
        type_url::LISTENER,
        "v2",
        "n1",
        vec![listener_any("l", "r2")],
    );
    wait_until(&mut watch, |s| routes_of(s) == rds("r2")).await;
}

#[tokio::test]
async fn unanswered_subscription_does_not_exist_after_the_timer() {
    let mut server = FakeAds::start().await;
    let client = XdsClient::builder()
        .bootstrap(Bootstrap::insecure(server.uri(), "node-1"))
        .resource_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut watch = client.cluster("c");
    server.next_request().await;
    wait_until(&mut watch, |s| matches!(s, ResourceState::DoesNotExist)).await;

    // It can still come later.
    server.respond(
        type_url::CLUSTER,
        "v1",
        "n1",
        vec![any(type_url::CLUSTER, &eds_cluster("c"))],
    );
    wait_until(&mut watch, |s| s.present().is_some()).await;
}

#[tokio::test]
async fn no_timer_while_disconnected() {
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = XdsClient::builder()
        .bootstrap(Bootstrap::insecure(unused.to_string(), "node-1"))
        .resource_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let watch = client.listener("l");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(matches!(watch.current(), ResourceState::Pending));
}

#[tokio::test]
async fn registrations_go_in_the_node_metadata() {
    let mut server = FakeAds::start().await;
    let registration = Registration {
        service: "serviceb.demo:50051".into(),
        address: "127.0.0.1:40001".parse().unwrap(),
    };
    let _client = XdsClient::builder()
        .bootstrap(Bootstrap::insecure(server.uri(), "node-1"))
        .registration(registration.clone())
        .build()
        .unwrap();
    let _watch = _client.listener("grpc/server?xds.resource.listening_address=127.0.0.1:40001");
    let node = server.next_request().await.node.unwrap();
    let metadata = serde_json::Value::Object(struct_to_json(&node.metadata.unwrap()));
    assert_eq!(
        Registration::from_metadata(&metadata).unwrap(),
        [registration]
    );
}

#[tokio::test]
async fn watches_close_when_the_client_is_dropped() {
    let server = FakeAds::start().await;
    let client = client(&server);
    let mut watch = client.endpoints("e");
    drop(client);
    let closed = tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("in time");
    assert_eq!(closed, Err(WatchClosed));
    assert!(matches!(watch.ready().await, ResourceState::Pending));
}

#[test]
fn build_needs_a_runtime_and_a_dialable_server() {
    let no_runtime = XdsClient::builder()
        .bootstrap(Bootstrap::insecure("127.0.0.1:1", "n"))
        .build();
    assert!(matches!(no_runtime, Err(XdsError::NoRuntime)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let bad = XdsClient::builder()
        .bootstrap(Bootstrap::insecure("not a uri", "n"))
        .build();
    assert!(
        matches!(bad, Err(XdsError::InvalidServerUri { .. })),
        "{:?}",
        bad.err()
    );
    let no_port = XdsClient::builder()
        .bootstrap(Bootstrap::insecure("localhost", "n"))
        .build();
    assert!(matches!(no_port, Err(XdsError::InvalidServerUri { .. })));
}
