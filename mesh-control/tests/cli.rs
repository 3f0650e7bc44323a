//! The real `mesh-control` binary: `validate`, `bootstrap` and `serve` (ADS, hot reload,
//! SIGTERM).

mod support;

use std::process::Command;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use mesh_core::xds::type_url;
use prost::Message;
use support::{PATIENCE, run, start_serving, text};
use tokio_stream::wrappers::ReceiverStream;

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: serviceb
  namespace: demo
spec:
  ports:
  - name: grpc
    port: 50051
    appProtocol: kubernetes.io/h2c
";

fn endpoint_slice(name: &str, ip: &str) -> String {
    format!(
        "\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}
  namespace: demo
  labels:
    kubernetes.io/service-name: serviceb
addressType: IPv4
ports:
- name: grpc
  port: 50051
endpoints:
- addresses: [\"{ip}\"]
"
    )
}

fn good_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("service.yaml"), SERVICE).unwrap();
    std::fs::write(
        dir.path().join("slice-1.yaml"),
        endpoint_slice("serviceb-1", "10.0.0.1"),
    )
    .unwrap();
    dir
}

#[test]
fn validate_good_dir() {
    let dir = good_dir();
    let output = run(&["validate", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("ok: 1 services"), "{stdout}");
    assert!(stdout.contains("1 endpoints"), "{stdout}");
}

#[test]
fn validate_bad_dir_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = SERVICE.replace("port: 50051", "port: not-a-port");
    std::fs::write(dir.path().join("bad.yaml"), bad).unwrap();
    let output = run(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let all = text(&output);
    let at = all
        .find("bad.yaml:")
        .unwrap_or_else(|| panic!("no file name: {all}"));
    let line = &all[at + "bad.yaml:".len()..];
    assert!(
        line.starts_with(|c: char| c.is_ascii_digit()),
        "no line: {all}"
    );
}

#[test]
fn validate_checks_policies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("service.yaml"), SERVICE).unwrap();
    let policy = |ratio: &str| {
        format!(
            "apiVersion: mesh.dev/v1alpha1\nkind: BackendPolicy\nmetadata: {{name: b, namespace: demo}}\n\
             spec:\n  targetRefs: [{{kind: Service, name: serviceb}}]\n  retryBudget: {{ratio: {ratio}}}\n"
        )
    };
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, policy("2")).unwrap();
    let output = run(&["validate", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(
            "policy.yaml:6: BackendPolicy demo/b: spec.retryBudget.ratio: 2 is out of range"
        ),
        "{}",
        text(&output)
    );
    std::fs::write(&path, policy("0.5")).unwrap();
    let output = run(&["validate", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn bootstrap_prints_grpc_bootstrap_json() {
    let output = run(&[
        "bootstrap",
        "--node-id",
        "serviceb-1",
        "--register",
        "serviceb.demo:50051=127.0.0.1:40001",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let server = &json["xds_servers"][0];
    assert_eq!(server["server_uri"], "127.0.0.1:15010");
    assert_eq!(server["channel_creds"][0]["type"], "insecure");
    assert_eq!(server["server_features"][0], "xds_v3");
    assert_eq!(json["node"]["id"], "serviceb-1");
    let serves = &json["node"]["metadata"]["mesh.serves"][0];
    assert_eq!(serves["service"], "serviceb.demo:50051");
    assert_eq!(serves["address"], "127.0.0.1:40001");
}

#[test]
fn bad_register_argument_is_explained() {
    let output = run(&["bootstrap", "--node-id", "a", "--register", "serviceb"]);
    assert!(!output.status.success());
    assert!(text(&output).contains("SERVICE=ADDR"), "{}", text(&output));
}

fn endpoints(response: &DiscoveryResponse) -> usize {
    response
        .resources
        .iter()
        .map(|any| ClusterLoadAssignment::decode(any.value.as_slice()).unwrap())
        .flat_map(|cla| cla.endpoints)
        .map(|locality| locality.lb_endpoints.len())
        .sum()
}

#[tokio::test]
async fn serve_answers_reloads_and_stops_on_sigterm() {
    let dir = good_dir();
    let state = tempfile::tempdir().unwrap();
    let serving = start_serving(dir.path(), state.path()).await;
    let (mut child, addr) = (serving.child, serving.addr);

    let mut ads = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (requests, rx) = tokio::sync::mpsc::channel(4);
    let mut responses = ads
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let cluster = "serviceb.demo.svc.cluster.local:50051";
    let mut request = DiscoveryRequest {
        node: Some(Node {
            id: "test".into(),
            ..Default::default()
        }),
        type_url: type_url::CLUSTER_LOAD_ASSIGNMENT.into(),
        resource_names: vec![cluster.into()],
        ..Default::default()
    };
    requests.send(request.clone()).await.unwrap();
    let mut next = async || {
        tokio::time::timeout(PATIENCE, responses.message())
            .await
            .expect("no response in time")
            .unwrap()
            .expect("stream ended")
    };
    let first = next().await;
    assert_eq!(endpoints(&first), 1);
    request.version_info = first.version_info.clone();
    request.response_nonce = first.nonce.clone();
    requests.send(request).await.unwrap();

    // Hot reload: a second EndpointSlice shows up as a push.
    std::fs::write(
        dir.path().join("slice-2.yaml"),
        endpoint_slice("serviceb-2", "10.0.0.2"),
    )
    .unwrap();
    let pushed = next().await;
    assert_eq!(endpoints(&pushed), 2);
    assert_ne!(pushed.version_info, first.version_info);

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("serve did not stop on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
