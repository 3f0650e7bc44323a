//! Interop with an unmodified gRPC xDS implementation: Python `grpcio` (gRPC C-core).
//!
//! - A grpcio client with a bootstrap printed by `mesh-control bootstrap` and an `xds:///`
//!   target follows mesh-control's routes to Rust serviceB replicas, with the weighted split.
//! - A Rust MeshChannel calls a plain grpcio server listed in a static EndpointSlice.

mod support;

use std::time::Duration;

use examples::process::Proc;
use support::{
    JOIN_TOKENS, Mesh, assert_eventually, call_n, demo_cmd, proto_dir, python, python_dir,
    two_versions_with,
};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_xds_client_follows_the_weighted_split() {
    // This client has no certificates: serviceB's versions speak plaintext (a gRPC client
    // refuses a Cluster whose mTLS names a certificate provider its bootstrap lacks).
    let plaintext = "apiVersion: mesh.dev/v1alpha1\nkind: TLSPolicy\nmetadata: { name: off, namespace: demo }\nspec: { mode: DISABLE }\n";
    // Both versions registered (a Rust client gets answers from both) before Python starts.
    let (mesh, _client) = two_versions_with(80, 20, plaintext).await;

    let xds = mesh.xds_addr.to_string();
    let out = demo_cmd(&[
        "control",
        "bootstrap",
        "--node-id",
        "python-client",
        "--xds-server",
        &xds,
    ])
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bootstrap = String::from_utf8(out.stdout).unwrap();

    let out = Command::new(python())
        .arg(python_dir().join("xds_client.py"))
        .args([
            "--target",
            "xds:///serviceb.demo:50051",
            "--calls",
            "1000",
            "--proto-dir",
        ])
        .arg(proto_dir())
        .env("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let v1 = result["replicas"]["serviceb-v1"].as_u64().unwrap_or(0);
    let v2 = result["replicas"]["serviceb-v2"].as_u64().unwrap_or(0);
    assert_eq!(result["errors"].as_u64(), Some(0), "{result}");
    assert_eq!(v1 + v2, 1000, "{result}");
    // 80 % of 1000 calls: a binomial sd of ~13, so 720..880 is > 6 sd wide.
    assert!(
        (720..=880).contains(&v1),
        "grpcio split was not 80/20: {result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_channel_calls_a_plain_grpcio_server_from_a_static_endpoint_slice() {
    let logs = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(python_dir().join("plain_server.py"))
        .arg("--proto-dir")
        .arg(proto_dir());
    let server = Proc::spawn("python-server", cmd, logs.path())
        .await
        .unwrap();
    let port = server.addr().port();

    let config = format!(
        r#"{JOIN_TOKENS}---
# A plain grpcio server is outside the mesh: no mTLS to it.
apiVersion: mesh.dev/v1alpha1
kind: TLSPolicy
metadata: {{ name: plaintext, namespace: demo }}
spec: {{ targetRef: {{ kind: Service, name: pyb }}, mode: DISABLE }}
---
{}"#,
        static_service("pyb", port)
    );
    let mesh = Mesh::start(&[("pyb.yaml", &config)]).await;
    let client = mesh.client("xds:///pyb.demo:50051").await;
    assert_eventually(
        "the grpcio server answers",
        Duration::from_secs(20),
        || async {
            let counts = call_n(&client, 20).await;
            if counts.len() == 1 && counts.get("python-grpcio") == Some(&20) {
                Ok(())
            } else {
                Err(format!("{counts:?}"))
            }
        },
    )
    .await;
    drop(server);
}

/// Service `name` (port 50051) of namespace `demo`, served at 127.0.0.1:`port` as listed in a
/// static EndpointSlice.
fn static_service(name: &str, port: u16) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{ name: {name}, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051, targetPort: {port} }}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-static
  namespace: demo
  labels: {{ kubernetes.io/service-name: {name} }}
addressType: IPv4
ports: [{{ name: grpc, port: {port} }}]
endpoints:
- addresses: ["127.0.0.1"]
"#
    )
}

/// Every Service of `demo` STRICT, its servers demo/serviceb.
const STRICT: &str = r#"apiVersion: mesh.dev/v1alpha1
kind: TLSPolicy
metadata: { name: strict, namespace: demo }
spec: { mode: STRICT, serviceAccounts: [serviceb] }
"#;

/// `mesh-control bootstrap --identity NS/SA --cert-dir DIR`, as a non-Rust app would get it.
async fn bootstrap_with_certs(
    mesh: &Mesh,
    node: &str,
    identity: &str,
    dir: &std::path::Path,
) -> String {
    let xds = mesh.xds_addr.to_string();
    let state = mesh.state_dir();
    let out = demo_cmd(&[
        "control",
        "bootstrap",
        "--node-id",
        node,
        "--xds-server",
        &xds,
        "--identity",
        identity,
        "--cert-dir",
        dir.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "bootstrap --cert-dir failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_with_xds_credentials_calls_a_rust_server_over_mtls() {
    let config = format!("{}---\n{STRICT}", support::split_config(1, 0));
    let mut mesh = Mesh::start(&[("mesh.yaml", &config)]).await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    let certs = tempfile::tempdir().unwrap();
    let bootstrap =
        bootstrap_with_certs(&mesh, "python-client", "demo/servicea", certs.path()).await;

    let out = Command::new(python())
        .arg(python_dir().join("xds_client.py"))
        .args([
            "--target",
            "xds:///serviceb.demo:50051",
            "--calls",
            "50",
            "--xds-creds",
            "--proto-dir",
        ])
        .arg(proto_dir())
        .env("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["errors"].as_u64(), Some(0), "{result}");
    assert_eq!(
        result["replicas"]["serviceb-v1"].as_u64(),
        Some(50),
        "{result}"
    );
    // serviceB saw the Python client's certificate, issued by mesh-control's CA.
    assert_eq!(
        result["peers"],
        serde_json::json!(["spiffe://cluster.local/ns/demo/sa/servicea"]),
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_channel_calls_a_grpcio_xds_server_over_mtls() {
    // A free port for the Python server, which mesh-control must know before it starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"{JOIN_TOKENS}---
apiVersion: mesh.dev/v1alpha1
kind: TLSPolicy
metadata: {{ name: strict, namespace: demo }}
spec: {{ targetRef: {{ kind: Service, name: pyxds }}, mode: STRICT, serviceAccounts: [pyserver] }}
---
{}"#,
        static_service("pyxds", port)
    );
    let mesh = Mesh::start(&[("mesh.yaml", &config)]).await;
    let certs = tempfile::tempdir().unwrap();
    let bootstrap =
        bootstrap_with_certs(&mesh, "python-server", "demo/pyserver", certs.path()).await;
    let mut cmd = Command::new(python());
    cmd.arg(python_dir().join("xds_server.py"))
        .args(["--port", &port.to_string(), "--proto-dir"])
        .arg(proto_dir())
        .env("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap);
    let server = Proc::spawn("python-xds", cmd, mesh.logs.path())
        .await
        .unwrap();

    let client = mesh.client("xds:///pyxds.demo:50051").await;
    assert_eventually(
        "the grpcio xDS server answers over mTLS",
        Duration::from_secs(30),
        || async {
            match client
                .clone()
                .get(examples::pb::GetRequest {
                    caller: "rust".into(),
                })
                .await
            {
                Ok(response) => {
                    let server_id = response
                        .extensions()
                        .get::<mesh_core::identity::PeerIdentity>()
                        .map(|p| p.0.to_string());
                    let reply = response.into_inner();
                    if reply.replica == "python-xds"
                        && reply.peer == "spiffe://cluster.local/ns/demo/sa/servicea"
                        && server_id.as_deref()
                            == Some("spiffe://cluster.local/ns/demo/sa/pyserver")
                    {
                        Ok(())
                    } else {
                        Err(format!("{reply:?}, server {server_id:?}"))
                    }
                }
                Err(status) => Err(format!("{status:?}\npython log:\n{}", server.log().await)),
            }
        },
    )
    .await;
}
