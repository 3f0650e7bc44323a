//! Interop with an unmodified gRPC xDS implementation: Python `grpcio` (gRPC C-core).
//!
//! - A grpcio client with a bootstrap printed by `mesh-control bootstrap` and an `xds:///`
//!   target follows mesh-control's routes to Rust serviceB replicas, with the weighted split.
//! - A Rust MeshChannel calls a plain grpcio server listed in a static EndpointSlice.
//! - grpcio honours the resilience policy mesh-control serves: retries (gRFC A44) and fault
//!   injection (gRFC A33), which grpcio enables by default.

mod support;

use std::time::Duration;

use examples::process::Proc;
use support::{
    JOIN_TOKENS, Mesh, PLAINTEXT, STRICT, assert_eventually, authorize_only, call_n, get,
    proto_dir, python, python_dir, static_service, two_versions_with, xds_client_cmd,
};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_xds_client_follows_the_weighted_split() {
    // This client has no certificates: serviceB's versions speak plaintext (a gRPC client
    // refuses a Cluster whose mTLS names a certificate provider its bootstrap lacks).
    // Both versions registered (a Rust client gets answers from both) before Python starts.
    let (mesh, _client) = two_versions_with(80, 20, PLAINTEXT).await;

    let bootstrap = mesh.plaintext_bootstrap("python-client").await;
    let result = xds_client(&bootstrap, &["--calls", "1000"]).await;
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

/// `mesh-control bootstrap` for a client without certificates.
/// Runs `xds_client.py` against `xds:///serviceb.demo:50051` with `bootstrap` and more `args`,
/// and returns the JSON it prints.
async fn xds_client(bootstrap: &str, args: &[&str]) -> serde_json::Value {
    let out = xds_client_cmd(bootstrap, args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_with_xds_credentials_calls_a_rust_server_over_mtls() {
    let config = format!("{}---\n{STRICT}", support::split_config(1, 0));
    let mut mesh = Mesh::start(&[("mesh.yaml", &config)]).await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    let certs = tempfile::tempdir().unwrap();
    let bootstrap = mesh
        .bootstrap_with_certs("python-client", "demo/servicea", certs.path())
        .await;

    let result = xds_client(&bootstrap, &["--calls", "50", "--xds-creds"]).await;
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

/// mesh-control serving Service `pyxds` (STRICT, served as demo/pyserver) at a free port, and
/// the YAML documents `more`; and the grpcio xDS server of `pyxds`, fed by it.
async fn python_xds_server(more: &str) -> (Mesh, Proc) {
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
{}---
{more}"#,
        static_service("pyxds", port)
    );
    let mesh = Mesh::start(&[("mesh.yaml", &config)]).await;
    // The certificates live as long as the mesh's log dir, as the server reads them.
    let certs = mesh.logs.path().join("pyserver-certs");
    std::fs::create_dir_all(&certs).unwrap();
    let bootstrap = mesh
        .bootstrap_with_certs("python-server", "demo/pyserver", &certs)
        .await;
    let mut cmd = Command::new(python());
    cmd.arg(python_dir().join("xds_server.py"))
        .args(["--port", &port.to_string(), "--proto-dir"])
        .arg(proto_dir())
        .env("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap);
    let server = Proc::spawn("python-xds", cmd, mesh.logs.path())
        .await
        .unwrap();
    (mesh, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_channel_calls_a_grpcio_xds_server_over_mtls() {
    let (mesh, server) = python_xds_server("").await;
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

/// Plaintext serviceb with the route `split` to serviceb-v1, the replicas `serviceb-v1-ok` and
/// (when `flaky`) `serviceb-v1-flaky`, which fails 30 % of its calls with UNAVAILABLE, and the
/// YAML documents `more`. Returns once a Rust client got answers from every replica.
async fn flaky_mesh(flaky: bool, more: &str) -> Mesh {
    let config = format!("{}---\n{PLAINTEXT}---\n{more}", support::split_config(1, 0));
    let mut mesh = Mesh::start(&[("mesh.yaml", &config)]).await;
    let mut replicas = vec!["serviceb-v1-ok"];
    mesh.start_service_b("serviceb-v1-ok", "serviceb-v1.demo:50051")
        .await;
    if flaky {
        mesh.start_service_b_with(
            "serviceb-v1-flaky",
            "serviceb-v1.demo:50051",
            "dev-serviceb",
            &["--fail-rate", "0.3"],
        )
        .await;
        replicas.push("serviceb-v1-flaky");
    }
    let client = mesh.client_with("xds:///serviceb.demo:50051", None);
    assert_eventually("every replica answers", Duration::from_secs(20), || async {
        let counts = call_n(&client, 50).await;
        if replicas.iter().all(|r| counts.contains_key(*r)) {
            Ok(())
        } else {
            Err(format!("answers: {counts:?}"))
        }
    })
    .await;
    mesh
}

/// The share of `result`'s calls that ended with `status`.
fn share(result: &serde_json::Value, status: &str) -> f64 {
    let statuses = result["statuses"].as_object().expect("statuses");
    let total: u64 = statuses.values().filter_map(|n| n.as_u64()).sum();
    let n = statuses.get(status).and_then(|n| n.as_u64()).unwrap_or(0);
    n as f64 / total.max(1) as f64
}

/// A RoutePolicy on the route `split` retrying UNAVAILABLE up to 3 times.
const RETRY_UNAVAILABLE: &str = r#"apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: { name: retries, namespace: demo }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: split }]
  retry:
    attempts: 3
    grpcCodes: [UNAVAILABLE]
    backoff: { base: 5ms, max: 50ms }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_retries_as_the_route_policy_says() {
    let mesh = flaky_mesh(true, RETRY_UNAVAILABLE).await;
    let bootstrap = mesh.plaintext_bootstrap("python-client").await;
    let result = xds_client(&bootstrap, &["--calls", "1000", "--keep-going"]).await;
    eprintln!("grpcio: {result}");
    // Half the attempts reach the flaky replica, which fails 30 % of them: 15 % of attempts
    // fail, and a call fails only if its 4 attempts all do.
    assert!(share(&result, "OK") >= 0.99, "{result}");
    assert!(
        result["replicas"]["serviceb-v1-flaky"]
            .as_u64()
            .unwrap_or(0)
            > 200,
        "the flaky replica took no share of the calls: {result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_without_a_retry_policy_sees_the_failures() {
    // The control for the test above: the same replicas, no RoutePolicy.
    let mesh = flaky_mesh(true, "").await;
    let bootstrap = mesh.plaintext_bootstrap("python-client").await;
    let result = xds_client(&bootstrap, &["--calls", "1000", "--keep-going"]).await;
    eprintln!("grpcio: {result}");
    // About 15 % of 1000 calls fail (a binomial sd of ~11): 8 % is more than 6 sd below.
    assert!(share(&result, "UNAVAILABLE") >= 0.08, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_injects_the_route_policys_faults() {
    let fault = r#"apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: { name: faults, namespace: demo }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: split }]
  fault:
    abort: { grpcStatus: UNAVAILABLE, percent: 20 }
"#;
    let mesh = flaky_mesh(false, fault).await;
    let bootstrap = mesh.plaintext_bootstrap("python-client").await;
    let result = xds_client(&bootstrap, &["--calls", "1000", "--keep-going"]).await;
    eprintln!("grpcio: {result}");
    // 20 % of 1000 calls: a binomial sd of ~12.6, so 16..24 % is over 3 sd each way.
    let aborted = share(&result, "UNAVAILABLE");
    assert!((0.16..=0.24).contains(&aborted), "{result}");
    assert!(
        (share(&result, "OK") - (1.0 - aborted)).abs() < 1e-9,
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpcio_xds_server_enforces_the_authorization_policy() {
    // gRPC servers enforce xDS RBAC filters (gRFC A41) by the caller's certificate.
    let (mesh, server) = python_xds_server(&authorize_only("servicea", "pyxds")).await;
    let target = "xds:///pyxds.demo:50051";
    let servicea = mesh.client(target).await;
    let impostor = mesh.client_with(target, Some(mesh.identity("dev-impostor").await));
    assert_eventually(
        "the grpcio xDS server answers serviceA",
        Duration::from_secs(30),
        || async {
            match get(&servicea).await {
                Ok(replica) if replica == "python-xds" => Ok(()),
                other => Err(format!("{other:?}\npython log:\n{}", server.log().await)),
            }
        },
    )
    .await;
    for _ in 0..10 {
        assert_eq!(get(&servicea).await.ok().as_deref(), Some("python-xds"));
        let denied = get(&impostor).await.unwrap_err();
        assert_eq!(
            denied.code(),
            tonic::Code::PermissionDenied,
            "{denied:?}\npython log:\n{}",
            server.log().await
        );
    }
}
