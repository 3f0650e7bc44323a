//! The client's metrics and config dump, against a fake ADS server on a real socket.

use super::fake_server::{FakeAds, PATIENCE};
use super::*;
use crate::xds::decode::fixtures::{any, client_listener, hcm_rds};
use crate::xds::type_url;

/// The value of `series` (name and labels, as rendered) in `text`, if it is there.
pub(crate) fn value_of(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a sample value is a number"))
}

/// Waits until `done` holds for the rendered metrics; returns them.
async fn metrics_until(metrics: &Metrics, done: impl Fn(&str) -> bool) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let text = metrics.render_text();
            if done(&text) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("metrics in time:\n{}", metrics.render_text()))
}

fn client(server: &FakeAds, metrics: &Metrics) -> XdsClient {
    XdsClient::builder()
        .bootstrap(Bootstrap::insecure(server.uri(), "node-1"))
        .metrics(metrics.clone())
        .build()
        .unwrap()
}

fn listener(name: &str, route: &str) -> envoy_types::pb::google::protobuf::Any {
    any(type_url::LISTENER, &client_listener(name, route))
}

/// A listener the client rejects: its HTTP connection manager has no router.
fn broken_listener(name: &str) -> envoy_types::pb::google::protobuf::Any {
    let mut broken = client_listener(name, "r2");
    let mut hcm = hcm_rds("r2");
    hcm.http_filters.clear();
    if let Some(api) = broken.api_listener.as_mut() {
        api.api_listener = Some(any(type_url::HTTP_CONNECTION_MANAGER, &hcm));
    }
    any(type_url::LISTENER, &broken)
}

const ACKS: &str = r#"mesh_xds_responses_total{type="Listener",result="ack"}"#;
const NACKS: &str = r#"mesh_xds_responses_total{type="Listener",result="nack"}"#;
const LISTENERS: &str = r#"mesh_xds_resources{type="Listener"}"#;

fn version(v: &str) -> String {
    format!(r#"mesh_xds_config_version{{type="Listener",version="{v}"}}"#)
}

#[tokio::test]
async fn responses_resources_versions_and_the_stream_are_counted() {
    let metrics = Metrics::new();
    let mut server = FakeAds::start().await;
    let client = client(&server, &metrics);
    let _l = client.listener("l");
    let _m = client.listener("m");
    server.next_request().await;
    server.next_request().await;
    server.respond(type_url::LISTENER, "v1", "n1", vec![listener("l", "r1")]);
    let text = metrics_until(&metrics, |t| value_of(t, ACKS) == Some(1.0)).await;
    assert_eq!(value_of(&text, "mesh_xds_connected"), Some(1.0), "{text}");
    assert_eq!(
        value_of(&text, LISTENERS),
        Some(1.0),
        "one of two answered: {text}"
    );
    assert_eq!(value_of(&text, &version("v1")), Some(1.0), "{text}");
    assert_eq!(value_of(&text, NACKS), Some(0.0), "{text}");

    server.respond(
        type_url::LISTENER,
        "v2",
        "n2",
        vec![listener("l", "r1"), listener("m", "r1")],
    );
    let text = metrics_until(&metrics, |t| value_of(t, ACKS) == Some(2.0)).await;
    assert_eq!(value_of(&text, LISTENERS), Some(2.0), "{text}");
    assert_eq!(value_of(&text, &version("v2")), Some(1.0), "{text}");
    assert_eq!(
        value_of(&text, &version("v1")),
        None,
        "the old series is gone: {text}"
    );

    server.respond(type_url::LISTENER, "v3", "n3", vec![broken_listener("l")]);
    let text = metrics_until(&metrics, |t| value_of(t, NACKS) == Some(1.0)).await;
    assert_eq!(value_of(&text, ACKS), Some(2.0), "{text}");
    assert_eq!(
        value_of(&text, &version("v2")),
        Some(1.0),
        "still in use: {text}"
    );
    assert_eq!(value_of(&text, &version("v3")), None, "{text}");
    assert_eq!(
        value_of(
            &text,
            r#"mesh_xds_responses_total{type="Cluster",result="nack"}"#
        ),
        Some(0.0),
        "counted with its own type only: {text}"
    );

    server.stop();
    metrics_until(&metrics, |t| value_of(t, "mesh_xds_connected") == Some(0.0)).await;
}

#[tokio::test]
async fn the_metrics_pass_promtool() {
    let metrics = Metrics::new();
    let mut server = FakeAds::start().await;
    let client = client(&server, &metrics);
    let _l = client.listener("l");
    server.next_request().await;
    server.respond(type_url::LISTENER, "v1", "n1", vec![listener("l", "r1")]);
    server.respond(type_url::LISTENER, "v2", "n2", vec![broken_listener("l")]);
    let text = metrics_until(&metrics, |t| value_of(t, NACKS) == Some(1.0)).await;
    crate::test_support::promtool_check("the xDS client", &text);
}

#[tokio::test]
async fn the_config_dump_shows_resources_and_the_last_nack() {
    let mut server = FakeAds::start().await;
    let client = client(&server, &Metrics::new());
    let _l = client.listener("l");
    server.next_request().await;
    let _c = client.cluster("c");
    server.next_request().await;
    server.respond(type_url::LISTENER, "v1", "n1", vec![listener("l", "r1")]);
    server.next_request().await;
    server.respond(type_url::LISTENER, "v2", "n2", vec![broken_listener("l")]);
    server.next_request().await; // the NACK: the task has recorded it

    let dump = client.config_dump().await;
    assert_eq!(
        (dump.node_id.as_str(), dump.server_uri.as_str()),
        ("node-1", server.uri().as_str())
    );
    assert!(dump.connected);
    assert_eq!(dump.listeners.version, "v1");
    let nack = dump.listeners.last_nack.clone().expect("the NACK is shown");
    assert_eq!((nack.version.as_str(), nack.nonce.as_str()), ("v2", "n2"));
    assert!(nack.error.contains("http_filters"), "{}", nack.error);

    let json = serde_json::to_value(&dump).unwrap();
    let held = &json["listeners"]["resources"][0];
    assert_eq!(held["name"], "l");
    assert_eq!(held["status"], "present");
    assert_eq!(held["value"]["client"]["routes"]["rds"], "r1");
    assert_eq!(
        json["clusters"]["resources"],
        serde_json::json!([{"name": "c", "status": "pending"}])
    );
    assert_eq!(json["route_configs"]["resources"], serde_json::json!([]));

    server.respond(type_url::LISTENER, "v3", "n3", vec![listener("l", "r3")]);
    server.next_request().await;
    let dump = client.config_dump().await;
    assert_eq!(dump.listeners.version, "v3");
    assert_eq!(
        dump.listeners.last_nack, None,
        "an accepted response clears it"
    );
}

#[tokio::test]
async fn the_config_dump_says_when_the_stream_is_down() {
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = XdsClient::builder()
        .bootstrap(Bootstrap::insecure(unused.to_string(), "node-2"))
        .metrics(Metrics::new())
        .build()
        .unwrap();
    let _watch = client.endpoints("e");
    let dump = client.config_dump().await;
    assert!(!dump.connected);
    assert_eq!(dump.node_id, "node-2");
    assert_eq!(dump.endpoints.resources.len(), 1);
    assert_eq!(dump.endpoints.resources[0].status, ResourceStatus::Pending);
}
