//! The demo's processes: mesh-control, serviceB replicas and serviceA, with or without the mesh.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mesh_core::admin::DEFAULT_ADMIN_ADDR;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::JOIN_TOKEN_ENV;
use tokio::process::Command;

use super::RunArgs;
use crate::process::{ADMIN_MARKER, Proc};

/// The demo's replicas: (name, the service it registers as, whether it fails a share of calls).
pub(super) const REPLICAS: [(&str, &str, bool); 3] = [
    ("serviceb-v1", "serviceb-v1.demo:50051", false),
    ("serviceb-v2", "serviceb-v2.demo:50051", false),
    ("serviceb-v1-flaky", "serviceb-v1.demo:50051", true),
];

/// The env of a meshed app: JSON logs with access logs on, for the summary to read.
const ACCESS_LOGS: [(&str, &str); 2] = [
    ("RUST_LOG", "info,mesh::access=info"),
    ("MESH_LOG_FORMAT", "json"),
];

/// The processes of one deployment, and where serviceA listens.
pub(super) struct Deployment {
    pub(super) procs: Vec<Proc>,
    pub(super) service_a: String,
    /// The base URL of serviceA's admin server, when it has one.
    pub(super) service_a_admin: Option<String>,
    logs: PathBuf,
}

impl Deployment {
    async fn spawn(&mut self, name: &str, cmd: Command) -> anyhow::Result<SocketAddr> {
        let proc = Proc::spawn(name, cmd, &self.logs).await?;
        let addr = proc.addr();
        self.procs.push(proc);
        Ok(addr)
    }

    /// The process called `name`.
    pub(super) fn proc(&self, name: &str) -> Option<&Proc> {
        self.procs.iter().find(|p| p.name() == name)
    }

    pub(super) async fn stop(self) {
        for p in self.procs {
            p.stop(Duration::from_secs(3)).await;
        }
    }
}

/// mesh-control, the three replicas registering themselves, and a meshed serviceA.
pub(super) async fn mesh(
    exe: &Path,
    logs: &Path,
    args: &RunArgs,
) -> anyhow::Result<(Deployment, String)> {
    let mut d = Deployment {
        procs: Vec::new(),
        service_a: String::new(),
        service_a_admin: None,
        logs: logs.to_path_buf(),
    };
    let state = logs.join("mesh-control-state");
    let state = state.to_str().context("the temp dir's path is not UTF-8")?;
    let control = command(
        exe,
        &[
            "control",
            "serve",
            "--xds-addr",
            "127.0.0.1:0",
            "--tls-addr",
            "127.0.0.1:0",
            "--state-dir",
            state,
        ],
    );
    let xds = d.spawn("mesh-control", control).await?.to_string();
    for (replica, register, flaky) in REPLICAS {
        let mut cmd = command(
            exe,
            &[
                "service-b",
                "--replica",
                replica,
                "--register",
                register,
                "--admin-addr",
                "127.0.0.1:0",
            ],
        );
        cmd.envs(ACCESS_LOGS);
        if flaky {
            cmd.args(["--fail-rate", &args.flaky_fail_rate.to_string()]);
        }
        cmd.env(
            "GRPC_XDS_BOOTSTRAP_CONFIG",
            Bootstrap::insecure(&xds, replica).to_json_pretty(),
        )
        // The embedded default's zero-setup dev credential for demo/serviceb.
        .env(JOIN_TOKEN_ENV, "dev-serviceb");
        d.spawn(replica, cmd).await?;
    }
    let mut cmd = command(exe, &["service-a", "--admin-addr", &service_a_admin_addr()]);
    cmd.env(
        "GRPC_XDS_BOOTSTRAP_CONFIG",
        Bootstrap::insecure(&xds, "servicea").to_json_pretty(),
    )
    .env(JOIN_TOKEN_ENV, "dev-servicea")
    .envs(ACCESS_LOGS);
    d.service_a = format!("http://{}", d.spawn("servicea", cmd).await?);
    let admin = d
        .proc("servicea")
        .context("serviceA was just started")?
        .addr_after(ADMIN_MARKER, Duration::from_secs(10))
        .await?;
    d.service_a_admin = Some(format!("http://{admin}"));
    Ok((d, xds))
}

/// serviceA's admin address: the usual one when it is free, else any free port.
fn service_a_admin_addr() -> String {
    match std::net::TcpListener::bind(DEFAULT_ADMIN_ADDR) {
        Ok(_) => DEFAULT_ADMIN_ADDR.to_string(),
        Err(_) => "127.0.0.1:0".to_string(),
    }
}

/// Plain serviceB `replicas` (name, flaky) and a serviceA calling them directly, in turn.
pub(super) async fn direct(
    exe: &Path,
    logs: &Path,
    replicas: &[(&str, bool)],
    args: &RunArgs,
) -> anyhow::Result<Deployment> {
    let mut d = Deployment {
        procs: Vec::new(),
        service_a: String::new(),
        service_a_admin: None,
        logs: logs.to_path_buf(),
    };
    let mut a_args = vec!["service-a".to_string(), "--no-mesh".to_string()];
    for (replica, flaky) in replicas {
        let mut cmd = command(exe, &["service-b", "--replica", replica, "--no-mesh"]);
        if *flaky {
            cmd.args(["--fail-rate", &args.flaky_fail_rate.to_string()]);
        }
        let addr = d.spawn(&format!("{replica}-no-mesh"), cmd).await?;
        a_args.extend(["--direct".to_string(), addr.to_string()]);
    }
    let a_args: Vec<&str> = a_args.iter().map(String::as_str).collect();
    let addr = d.spawn("servicea-no-mesh", command(exe, &a_args)).await?;
    d.service_a = format!("http://{addr}");
    Ok(d)
}

fn command(exe: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args).env("NO_COLOR", "1");
    cmd
}
