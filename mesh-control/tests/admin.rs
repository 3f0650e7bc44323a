//! The admin endpoint and the commands that read it, against the real binary: metrics over a
//! known sequence of events (checked by `promtool`), and `status`, `config` and `certs`.
//!
//! The rejection is made by the test's own ADS stream (the envoy-types client), which NACKs
//! the first Cluster response with a reason and ACKs the one after the config is fixed.

mod support;

use std::process::{Command, Stdio};
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
    metadata.insert("mesh-node-id", "servicea-1".parse().unwrap());
    ca.create_certificate(request).await.map(drop)
}

async fn next(responses: &mut tonic::Streaming<DiscoveryResponse>) -> DiscoveryResponse {
    tokio::time::timeout(PATIENCE, responses.message())
        .await
        .expect("no response in time")
        .unwrap()
        .expect("the stream ended")
}

#[tokio::test]
async fn metrics_status_config_and_certs_follow_a_nack_and_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mesh.yaml"), CONFIG).unwrap();
    let serving = start_serving(dir.path(), state.path()).await;
    let admin = serving.admin.as_str();

    let (status, body) = http_get(admin, "/healthz").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok\n");
    // The catch-up reload when the watch starts.
    metric_becomes(
        admin,
        "mesh_control_config_reloads_total{result=\"ok\"}",
        1.0,
    )
    .await;

    // Certificates: one signed for servicea-1, one refused.
    csr(&serving.addr, "dev-a").await.unwrap();
    let refused = csr(&serving.addr, "nope").await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // A client that rejects the first Cluster response.
    let (requests, rx) = tokio::sync::mpsc::channel(8);
    let mut ads = AggregatedDiscoveryServiceClient::connect(format!("http://{}", serving.addr))
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
    assert!(table.contains(&reason), "{table}");

    // The fix (a config change) arrives as a new version, which the client ACKs.
    std::fs::write(dir.path().join("servicec.yaml"), SERVICE_C).unwrap();
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
        "\nCDS  SYNCED  sent {v}  acked {v}\n",
        v = second.version_info
    );
    assert!(config.contains(&cds), "{config}");
    assert!(
        config.contains("\n  serviceb.demo.svc.cluster.local:50051\n"),
        "{config}"
    );
    assert!(
        config.contains("\n  servicec.demo.svc.cluster.local:50051\n"),
        "{config}"
    );
    assert!(config.contains(REASON), "the last NACK is kept: {config}");

    let output = cli(&["certs", "--admin", admin]).await;
    assert!(output.status.success(), "{}", text(&output));
    let certs = String::from_utf8_lossy(&output.stdout);
    let row = certs.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("spiffe://cluster.local/ns/demo/sa/servicea  servicea-1  "),
        "{certs}"
    );
    assert!(row.contains(" in 23h"), "{certs}");

    // A reload with an error keeps the last good config and says why on /config.
    std::fs::write(dir.path().join("bad.yaml"), SERVICE_C.replace("50051", "0")).unwrap();
    metric_becomes(
        admin,
        "mesh_control_config_reloads_total{result=\"error\"}",
        1.0,
    )
    .await;
    let (_, body) = http_get(admin, "/config").await;
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["services"].as_array().unwrap().len(), 2, "{body}");
    let errors = config["last_reload_error"]["errors"]
        .as_str()
        .unwrap_or_default();
    assert!(errors.contains("bad.yaml"), "{body}");

    // Metrics over the whole sequence.
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
        ("mesh_control_csrs_total{result=\"signed\"}", 1.0),
        ("mesh_control_csrs_total{result=\"refused\"}", 1.0),
    ] {
        assert_eq!(
            value(&metrics, series),
            Some(expected),
            "{series} in\n{metrics}"
        );
    }
    // The catch-up reload and the one for servicec.yaml at least.
    assert!(value(&metrics, "mesh_control_config_reloads_total{result=\"ok\"}") >= Some(2.0));
    promtool_accepts(&metrics);

    drop(requests);
    metric_becomes(admin, "mesh_control_connected_clients", 0.0).await;
}

/// `promtool check metrics` reads the text on stdin and fails on any problem.
fn promtool_accepts(metrics: &str) {
    use std::io::Write;
    let promtool = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(promtool).exists(),
        "{promtool} is missing; install Prometheus' promtool to run this test"
    );
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}\n{metrics}",
        text(&output)
    );
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
