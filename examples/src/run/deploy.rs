//! The demo's processes: mesh-control, serviceB replicas and serviceA, with or without the mesh.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mesh_core::admin::DEFAULT_ADMIN_ADDR;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::JOIN_TOKEN_ENV;
use mesh_core::telemetry::DEFAULT_LOG_FILTER;
use tokio::process::Command;

use super::RunArgs;
use crate::process::{ADMIN_MARKER, Proc, Procs};

/// The demo's replicas: (name, the service it registers as, whether it fails a share of calls).
pub(super) const REPLICAS: [(&str, &str, bool); 3] = [
    ("serviceb-v1", "serviceb-v1.demo:50051", false),
    ("serviceb-v2", "serviceb-v2.demo:50051", false),
    ("serviceb-v1-flaky", "serviceb-v1.demo:50051", true),
];

/// How long serviceA's admin line may take to reach its log (it prints it before its ready
/// line, so it is there at once unless the admin server is off).
const ADMIN_LINE_WAIT: Duration = Duration::from_secs(2);

/// The processes of one deployment, and where serviceA listens.
pub(super) struct Deployment {
    pub(super) procs: Procs,
    pub(super) service_a: String,
    /// The base URL of serviceA's admin server, when it said where it listens.
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

    pub(super) async fn stop(self) {
        self.procs.stop(Duration::from_secs(3)).await;
    }
}

/// mesh-control, the three replicas registering themselves, and a meshed serviceA.
pub(super) async fn mesh(
    exe: &Path,
    logs: &Path,
    args: &RunArgs,
) -> anyhow::Result<(Deployment, String)> {
    let mut d = Deployment {
        procs: Procs::default(),
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
            &["service-b", "--replica", replica, "--register", register],
        );
        with_access_logs(&mut cmd);
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
    // The usual admin address, or any free port when another process holds it.
    let mut cmd = command(
        exe,
        &[
            "service-a",
            "--admin-addr",
            DEFAULT_ADMIN_ADDR,
            "--admin-any-port-if-taken",
        ],
    );
    cmd.env(
        "GRPC_XDS_BOOTSTRAP_CONFIG",
        Bootstrap::insecure(&xds, "servicea").to_json_pretty(),
    )
    .env(JOIN_TOKEN_ENV, "dev-servicea");
    with_access_logs(&mut cmd);
    d.service_a = format!("http://{}", d.spawn("servicea", cmd).await?);
    let service_a = d
        .procs
        .get("servicea")
        .context("serviceA was just started")?;
    // Without it the summary only lacks the metrics; the demo goes on.
    match service_a.addr_after(ADMIN_MARKER, ADMIN_LINE_WAIT).await {
        Ok(admin) => d.service_a_admin = Some(format!("http://{admin}")),
        Err(e) => tracing::warn!("serviceA's admin server: {e:#}"),
    }
    Ok((d, xds))
}

/// Turns on JSON logs with access logs, for the summary to read: `mesh::access=info` is added
/// to the `RUST_LOG` the demo inherited (or to the default filter).
fn with_access_logs(cmd: &mut Command) {
    let inherited = std::env::var("RUST_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty());
    let filter = inherited.as_deref().unwrap_or(DEFAULT_LOG_FILTER);
    cmd.env("RUST_LOG", format!("{filter},mesh::access=info"))
        .env("MESH_LOG_FORMAT", "json");
}

/// Plain serviceB `replicas` (name, flaky) and a serviceA calling them directly, in turn.
pub(super) async fn direct(
    exe: &Path,
    logs: &Path,
    replicas: &[(&str, bool)],
    args: &RunArgs,
) -> anyhow::Result<Deployment> {
    let mut d = Deployment {
        procs: Procs::default(),
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

/// `exe ARGS`, without an admin address inherited from the demo's environment (every child
/// would try to bind it).
fn command(exe: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("MESH_ADMIN_ADDR");
    cmd
}
