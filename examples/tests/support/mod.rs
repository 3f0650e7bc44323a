//! Shared pieces of the end-to-end tests: real mesh-control and serviceB processes on loopback
//! ([`Mesh`]), a config directory to edit, Rust mesh clients and loads ([`calls`]), what the
//! processes expose ([`telemetry`]), an OTLP collector ([`otlp`]), and `assert_eventually`.
//!
//! mesh-control runs as `demo control ...`, which calls the very same CLI entry point as the
//! `mesh-control` binary (that binary's own CLI is tested in mesh-control/tests).

#![allow(dead_code, unreachable_pub)]

mod calls;
mod config;
mod mesh;
pub mod otlp;
pub mod telemetry;

pub use calls::*;
pub use config::*;
pub use mesh::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

/// The `demo` binary, which also runs mesh-control and serviceB (access logs off; no admin
/// server unless a test asks for one, whatever the environment says).
pub fn demo_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info,mesh::access=off")
        .env_remove("MESH_ADMIN_ADDR");
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

/// `xds_client.py` (grpcio) calling `xds:///serviceb.demo:50051` with `bootstrap` and more
/// `args`; it prints its results as one JSON line.
pub fn xds_client_cmd(bootstrap: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(python_dir().join("xds_client.py"))
        .args(["--target", "xds:///serviceb.demo:50051"])
        .args(args)
        .arg("--proto-dir")
        .arg(proto_dir())
        .env("GRPC_XDS_BOOTSTRAP_CONFIG", bootstrap);
    cmd
}

/// The results of `tasks`, in order.
pub async fn join_all<T: 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("the task did not panic"));
    }
    out
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
