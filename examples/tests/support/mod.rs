//! Shared pieces of the end-to-end tests: real mesh-control and serviceB processes on loopback,
//! a config directory to edit, a Rust mesh client, and `assert_eventually`.
//!
//! mesh-control runs as `demo control ...`, which calls the very same CLI entry point as the
//! `mesh-control` binary (that binary's own CLI is tested in mesh-control/tests).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use examples::pb::GetRequest;
use examples::pb::service_b_client::ServiceBClient as BClient;
use examples::process::Proc;
use mesh_client::MeshChannel;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::xds::XdsClient;
use tokio::process::Command;

/// The `demo` binary, which also runs mesh-control and serviceB.
pub fn demo_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.args(args).env("NO_COLOR", "1").env("RUST_LOG", "info");
    cmd
}

/// The Python interpreter of the test venv (with grpcio), set up by `scripts/test`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("MESH_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "the interop tests need Python with grpcio: run `scripts/test` (it creates .venv), \
         or set MESH_TEST_PYTHON to a python that has grpcio and grpcio-tools"
    );
    venv
}

/// Directory of the Python test programs and the demo proto.
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The demo proto directory.
pub fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto")
}

/// A mesh on loopback: a config directory, mesh-control, and the processes of a test.
pub struct Mesh {
    pub config: tempfile::TempDir,
    pub logs: tempfile::TempDir,
    pub control: Option<Proc>,
    pub xds_addr: SocketAddr,
    pub procs: Vec<Proc>,
}

impl Mesh {
    /// Writes `files` (name, YAML) into a fresh config dir and starts mesh-control on it.
    pub async fn start(files: &[(&str, &str)]) -> Mesh {
        let config = tempfile::tempdir().unwrap();
        for (name, yaml) in files {
            std::fs::write(config.path().join(name), yaml).unwrap();
        }
        let logs = tempfile::tempdir().unwrap();
        let control =
            start_control(config.path(), logs.path(), "127.0.0.1:0".parse().unwrap()).await;
        let xds_addr = control.addr();
        Mesh {
            config,
            logs,
            control: Some(control),
            xds_addr,
            procs: Vec::new(),
        }
    }

    /// Replaces (or adds) a config file.
    pub fn write(&self, name: &str, yaml: &str) {
        // Write then rename, as editors and kubectl-like tools do, so the reload sees whole files.
        let tmp = self.config.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, self.config.path().join(name)).unwrap();
    }

    /// Kills mesh-control at once.
    pub async fn kill_control(&mut self) {
        self.control
            .take()
            .expect("mesh-control is running")
            .kill()
            .await;
    }

    /// Starts mesh-control again on the same address.
    pub async fn restart_control(&mut self) {
        assert!(self.control.is_none(), "mesh-control is still running");
        self.control =
            Some(start_control(self.config.path(), self.logs.path(), self.xds_addr).await);
    }

    /// What mesh-control has logged so far.
    pub async fn control_log(&self) -> String {
        self.control
            .as_ref()
            .expect("mesh-control is running")
            .log()
            .await
    }

    /// A bootstrap for a node of this mesh.
    pub fn bootstrap(&self, node_id: &str) -> Bootstrap {
        Bootstrap::insecure(self.xds_addr.to_string(), node_id)
    }

    /// Starts a meshed serviceB replica that registers as `register`.
    pub async fn start_service_b(&mut self, replica: &str, register: &str) -> SocketAddr {
        let mut cmd = demo_cmd(&["service-b", "--replica", replica, "--register", register]);
        cmd.env(
            "GRPC_XDS_BOOTSTRAP_CONFIG",
            self.bootstrap(replica).to_json_pretty(),
        );
        let proc = Proc::spawn(replica, cmd, self.logs.path()).await.unwrap();
        let addr = proc.addr();
        self.procs.push(proc);
        addr
    }

    /// Kills the process called `name` at once.
    pub async fn kill(&mut self, name: &str) {
        let i = self
            .procs
            .iter()
            .position(|p| p.name() == name)
            .expect("no such process");
        self.procs.remove(i).kill().await;
    }

    /// A gRPC client of `target` through a MeshChannel of this test process.
    pub fn client(&self, target: &str) -> BClient<MeshChannel> {
        let xds = XdsClient::builder()
            .bootstrap(self.bootstrap("test-client"))
            .build()
            .unwrap();
        BClient::new(MeshChannel::new(&xds, target).unwrap())
    }
}

async fn start_control(dir: &Path, logs: &Path, addr: SocketAddr) -> Proc {
    let addr = addr.to_string();
    let cmd = demo_cmd(&[
        "control",
        "serve",
        "--config",
        dir.to_str().unwrap(),
        "--xds-addr",
        &addr,
    ]);
    Proc::spawn("mesh-control", cmd, logs).await.unwrap()
}

/// Makes `n` calls and counts the answers by replica; failures are counted under `"error: ..."`.
pub async fn call_n(client: &BClient<MeshChannel>, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let key = match client
            .clone()
            .get(GetRequest {
                caller: "test".into(),
            })
            .await
        {
            Ok(reply) => reply.into_inner().replica,
            Err(status) => format!("error: {:?} {}", status.code(), status.message()),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Retries `check` every 100 ms until it returns `Ok`, or panics with its last error after
/// `timeout`. Returns how long it took.
pub async fn assert_eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = tokio::time::Instant::now();
    loop {
        match check().await {
            Ok(()) => return start.elapsed(),
            Err(e) if start.elapsed() > timeout => {
                panic!("{what}: not true after {timeout:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// mesh-control serving [`split_config`]`(v1, v2)`, replicas `serviceb-v1` and `serviceb-v2`
/// registered, and a client of `xds:///serviceb.demo:50051` whose calls already succeed.
pub async fn two_versions(v1: u32, v2: u32) -> (Mesh, BClient<MeshChannel>) {
    let mut mesh = Mesh::start(&[("routes.yaml", &split_config(v1, v2))]).await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    mesh.start_service_b("serviceb-v2", "serviceb-v2.demo:50051")
        .await;
    let client = mesh.client("xds:///serviceb.demo:50051");
    let serving: Vec<&str> = [("serviceb-v1", v1), ("serviceb-v2", v2)]
        .into_iter()
        .filter(|(_, weight)| *weight > 0)
        .map(|(name, _)| name)
        .collect();
    assert_eventually(
        "every version with a weight answers",
        Duration::from_secs(20),
        || async {
            let counts = call_n(&client, 100).await;
            if counts
                .keys()
                .map(String::as_str)
                .eq(serving.iter().copied())
            {
                Ok(())
            } else {
                Err(format!("answers: {counts:?}"))
            }
        },
    )
    .await;
    (mesh, client)
}

/// The demo's Services and a GRPCRoute that splits `serviceb` between v1 and v2.
pub fn split_config(v1: u32, v2: u32) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{ name: serviceb, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051 }}]
---
apiVersion: v1
kind: Service
metadata: {{ name: serviceb-v1, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051 }}]
---
apiVersion: v1
kind: Service
metadata: {{ name: serviceb-v2, namespace: demo }}
spec:
  ports: [{{ name: grpc, port: 50051 }}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{ name: split, namespace: demo }}
spec:
  parentRefs: [{{ group: "", kind: Service, name: serviceb, port: 50051 }}]
  rules:
  - backendRefs:
    - {{ name: serviceb-v1, port: 50051, weight: {v1} }}
    - {{ name: serviceb-v2, port: 50051, weight: {v2} }}
"#
    )
}
