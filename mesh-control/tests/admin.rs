//! The admin endpoint and the commands that read it, against the real binary: metrics (checked
//! by `promtool`), `status` and `config` through a NACK and its fix, `certs`, and a failed
//! reload on `/config`.
//!
//! The rejection is made by the test's own ADS stream (the envoy-types client), which NACKs
//! the first Cluster response with a reason and ACKs the one after the config is fixed.

mod support;

use std::process::Command;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::rpc;
use mesh_core::identity::proto::IstioCertificateRequest;
use mesh_core::identity::proto::istio_certificate_service_client::IstioCertificateServiceClient;
use mesh_core::xds::type_url;
use support::{BIN, PATIENCE, start_serving, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::wrappers::ReceiverStream;

const CONFIG: &str = "\
apiVersion: v1
kind: Service
metadata: {name: serviceb, namespace: demo}
spec:
  ports: [{name: grpc, port: 50051, appProtocol: kubernetes.io/h2c}]
---
apiVersion: mesh.dev/v1alpha1
kind: JoinToken
metadata: {name: servicea, namespace: demo}
spec: {token: dev-a, serviceAccount: servicea}
";

const SERVICE_C: &str = "\
apiVersion: v1
kind: Service
metadata: {name: servicec, namespace: demo}
spec:
  ports: [{name: grpc, port: 50051, appProtocol: kubernetes.io/h2c}]
";

const REASON: &str = "Cluster serviceb.demo: lb_policy RANDOM is not supported";

/// A plain HTTP/1.1 GET; returns the status line and the body.
async fn http_get(base: &str, path: &str) -> (String, String) {
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The value of one series in Prometheus text.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metric(admin: &str, series: &str) -> f64 {
    let (_, body) = http_get(admin, "/metrics").await;
    value(&body, series).unwrap_or_else(|| panic!("no {series} in\n{body}"))
}

/// Waits until `series` is `wanted`.
async fn metric_becomes(admin: &str, series: &str, wanted: f64) {
    tokio::time::timeout(PATIENCE, async {
        while metric(admin, series).await != wanted {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{series} never became {wanted}"));
}

/// Runs a CLI command to completion (off the runtime's threads).
async fn cli(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

/// Runs `status` until its output contains `wanted`.
async fn status_shows(admin: &str, wanted: &str) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let output = cli(&["status", "--admin", admin]).await;
            assert!(output.status.success(), "{}", text(&output));
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            if stdout.contains(wanted) {
                return stdout;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("status never showed {wanted:?}"))
}

async fn csr(addr: &str, token: &str) -> Result<(), tonic::Status> {
    let mut ca = IstioCertificateServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let mut request = tonic::Request::new(IstioCertificateRequest {
        csr,
        validity_duration: 0,
    });
    let metadata = request.metadata_mut();
    metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
    metadata.insert(
        mesh_core::identity::NODE_ID_HEADER,
        "servicea-1".parse().unwrap(),
    );
    ca.create_certificate(request).await.map(drop)
}

async fn next(responses: &mut tonic::Streaming<DiscoveryResponse>) -> DiscoveryResponse {
    tokio::time::timeout(PATIENCE, responses.message())
        .await
        .expect("no response in time")
        .unwrap()
        .expect("the stream ended")
}

/// A running mesh-control serving [`CONFIG`] from a directory the test may edit.
struct Mesh {
    dir: tempfile::TempDir,
    _state: tempfile::TempDir,
    serving: support::Serving,
}

impl Mesh {
    async fn start() -> Mesh {
        let dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mesh.yaml"), CONFIG).unwrap();
        let serving = start_serving(dir.path(), state.path()).await;
        // The catch-up reload when the watch starts: from here on, edits are seen.
        metric_becomes(
            &serving.admin,
            "mesh_control_config_reloads_total{result=\"ok\"}",
            1.0,
        )
        .await;
        Mesh {
            dir,
            _state: state,
            serving,
        }
    }

    fn admin(&self) -> &str {
        &self.serving.admin
    }
}

#[tokio::test]
async fn metrics_count_csrs_and_pass_promtool() {
    let mesh = Mesh::start().await;
    let (status, body) = http_get(mesh.admin(), "/healthz").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok\n");

    csr(&mesh.serving.addr, "dev-a").await.unwrap();
    let refused = csr(&mesh.serving.addr, "nope").await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let (_, metrics) = http_get(mesh.admin(), "/metrics").await;
    for (series, expected) in [
        ("mesh_control_connected_clients", 0.0),
        ("mesh_control_csrs_total{result=\"signed\"}", 1.0),
        ("mesh_control_csrs_total{result=\"refused\"}", 1.0),
        ("mesh_control_csrs_total{result=\"error\"}", 0.0),
        ("mesh_control_config_reloads_total{result=\"ok\"}", 1.0),
        ("mesh_control_pushes_total{type=\"Listener\"}", 0.0),
    ] {
        assert_eq!(
            value(&metrics, series),
            Some(expected),
            "{series} in\n{metrics}"
        );
    }
    mesh_core::test_support::promtool_check("mesh-control", &metrics);
}

#[tokio::test]
async fn status_and_config_follow_a_nack_and_its_fix() {
    let mesh = Mesh::start().await;
    let admin = mesh.admin();
    // The identity comes from the CA's log of node ids: claimed, not proven.
    csr(&mesh.serving.addr, "dev-a").await.unwrap();

    // A client that rejects the first Cluster response.
    let (requests, rx) = tokio::sync::mpsc::channel(8);
    let mut ads =
        AggregatedDiscoveryServiceClient::connect(format!("http://{}", mesh.serving.addr))
            .await
            .unwrap();
    let mut responses = ads
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let request = |version: &str, nonce: &str| DiscoveryRequest {
        node: Some(Node {
            id: "servicea-1".into(),
            ..Default::default()
        }),
        type_url: type_url::CLUSTER.into(),
        version_info: version.into(),
        response_nonce: nonce.into(),
        ..Default::default()
    };
    requests.send(request("", "")).await.unwrap();
    let first = next(&mut responses).await;
    let mut nack = request("", &first.nonce);
    nack.error_detail = Some(rpc::Status {
        code: tonic::Code::InvalidArgument as i32,
        message: REASON.into(),
        details: Vec::new(),
    });
    requests.send(nack).await.unwrap();

    let table = status_shows(admin, "NACKED").await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NODE", "IDENTITY", "LDS", "RDS", "CDS", "EDS"],
        "{table}"
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        [
            "servicea-1",
            "spiffe://cluster.local/ns/demo/sa/servicea",
            "(claimed)",
            "-",
            "-",
            "NACKED",
            "-"
        ],
        "{table}"
    );
    let reason = format!(
        "servicea-1 CDS NACKED version {} (nonce {}): {REASON}",
        first.version_info, first.nonce
    );
    assert_eq!(lines[3], reason, "{table}");

    // The fix (a config change) arrives as a new version, which the client ACKs.
    std::fs::write(mesh.dir.path().join("servicec.yaml"), SERVICE_C).unwrap();
    let second = next(&mut responses).await;
    assert_ne!(second.version_info, first.version_info);
    requests
        .send(request(&second.version_info, &second.nonce))
        .await
        .unwrap();
    let table = status_shows(admin, "SYNCED").await;
    assert!(!table.contains("NACKED"), "{table}");

    let output = cli(&["config", "servicea-1", "--admin", admin]).await;
    assert!(output.status.success(), "{}", text(&output));
    let config = String::from_utf8_lossy(&output.stdout);
    let cds = format!(
        "\nCDS  SYNCED  sent {v}  acked {v}\n  serviceb.demo.svc.cluster.local:50051\n  \
         servicec.demo.svc.cluster.local:50051\n  last NACK: version {} (nonce {}): {REASON}\n",
        first.version_info,
        first.nonce,
        v = second.version_info,
    );
    assert!(config.contains(&cds), "{config}");

    let (_, metrics) = http_get(admin, "/metrics").await;
    for (series, expected) in [
        ("mesh_control_connected_clients", 1.0),
        ("mesh_control_pushes_total{type=\"Cluster\"}", 2.0),
        ("mesh_control_pushes_total{type=\"Listener\"}", 0.0),
        ("mesh_control_nacks_total{type=\"Cluster\"}", 1.0),
        (
            "mesh_control_push_ack_duration_seconds_count{type=\"Cluster\"}",
            1.0,
        ),
    ] {
        assert_eq!(
            value(&metrics, series),
            Some(expected),
            "{series} in\n{metrics}"
        );
    }
    drop(requests);
    metric_becomes(admin, "mesh_control_connected_clients", 0.0).await;
}

#[tokio::test]
async fn certs_lists_what_the_ca_signed() {
    let mesh = Mesh::start().await;
    csr(&mesh.serving.addr, "dev-a").await.unwrap();
    let output = cli(&["certs", "--admin", mesh.admin()]).await;
    assert!(output.status.success(), "{}", text(&output));
    let certs = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = certs.lines().collect();
    assert_eq!(lines.len(), 2, "{certs}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row[..2],
        ["spiffe://cluster.local/ns/demo/sa/servicea", "servicea-1"]
    );
    // A 24 h certificate, issued just now.
    assert!(row.last().is_some_and(|e| e.starts_with("23h5")), "{certs}");
}

#[tokio::test]
async fn a_failed_reload_is_shown_on_config() {
    let mesh = Mesh::start().await;
    let bad = SERVICE_C.replace("50051", "0");
    std::fs::write(mesh.dir.path().join("bad.yaml"), bad).unwrap();
    metric_becomes(
        mesh.admin(),
        "mesh_control_config_reloads_total{result=\"error\"}",
        1.0,
    )
    .await;
    let (status, body) = http_get(mesh.admin(), "/config").await;
    assert!(status.contains("200"), "{status}");
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    let services = config["services"].as_array().unwrap();
    assert_eq!(services.len(), 1, "the last good config stays: {body}");
    assert_eq!(services[0]["name"], "demo/serviceb", "{body}");
    let errors = config["last_reload_error"]["errors"]
        .as_str()
        .unwrap_or_default();
    assert!(errors.contains("bad.yaml"), "{body}");
}

#[tokio::test]
async fn status_without_a_server_says_where_it_looked() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let output = cli(&["status", "--admin", &url]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("is mesh-control running?"), "{stderr}");
}
