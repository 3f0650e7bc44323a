//! The one-command demo: real processes on loopback, a batch of calls, a summary.
//!
//! With the mesh: mesh-control (embedded default config), serviceB replicas `serviceb-v1` and
//! `serviceb-v2` that register themselves, and serviceA calling `xds:///serviceb.demo:50051`,
//! which the default config splits 80/20 between the two versions. Without the mesh
//! (`--no-mesh`): one serviceB replica that serviceA calls directly.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::JOIN_TOKEN_ENV;
use serde::Deserialize;
use tokio::process::Command;

use crate::process::Proc;
use crate::summary::Summary;

/// Options of the demo run.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Call serviceB directly, without the mesh, for comparison.
    #[arg(long)]
    pub no_mesh: bool,
    /// How many gRPC calls to make through serviceA.
    #[arg(long, default_value_t = 500)]
    pub calls: u32,
    /// How many plain HTTP calls to make through serviceA.
    #[arg(long, default_value_t = 50)]
    pub http_calls: u32,
}

#[derive(Deserialize)]
struct CallResult {
    replica: String,
    upstream_us: u64,
    server_identity: Option<String>,
    client_identity: Option<String>,
}

/// Runs the demo; true when every call succeeded.
pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let logs = std::env::temp_dir().join(format!("mesh-demo-{}", std::process::id()));
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let exe = std::env::current_exe()?;

    let mut procs = Vec::new();
    let (title, service_a) = if args.no_mesh {
        let b = Proc::spawn(
            "serviceb",
            command(&exe, &["service-b", "--replica", "serviceb", "--no-mesh"]),
            &logs,
        )
        .await?;
        let direct = b.addr().to_string();
        procs.push(b);
        let a = Proc::spawn(
            "servicea",
            command(&exe, &["service-a", "--no-mesh", "--direct", &direct]),
            &logs,
        )
        .await?;
        (
            format!("serviceA -> serviceB directly ({direct}), no mesh"),
            a,
        )
    } else {
        let state = logs.join("mesh-control-state");
        let state = state.to_str().context("the temp dir's path is not UTF-8")?;
        let control = Proc::spawn(
            "mesh-control",
            command(
                &exe,
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
            ),
            &logs,
        )
        .await?;
        let xds = control.addr().to_string();
        procs.push(control);
        for version in ["v1", "v2"] {
            let replica = format!("serviceb-{version}");
            let register = format!("serviceb-{version}.demo:50051");
            let mut cmd = command(
                &exe,
                &["service-b", "--replica", &replica, "--register", &register],
            );
            cmd.env(
                "GRPC_XDS_BOOTSTRAP_CONFIG",
                Bootstrap::insecure(&xds, &replica).to_json_pretty(),
            )
            // The embedded default's zero-setup dev credential for demo/serviceb.
            .env(JOIN_TOKEN_ENV, "dev-serviceb");
            procs.push(Proc::spawn(&replica, cmd, &logs).await?);
        }
        let mut cmd = command(&exe, &["service-a"]);
        cmd.env(
            "GRPC_XDS_BOOTSTRAP_CONFIG",
            Bootstrap::insecure(&xds, "servicea").to_json_pretty(),
        )
        .env(JOIN_TOKEN_ENV, "dev-servicea");
        let a = Proc::spawn("servicea", cmd, &logs).await?;
        (
            format!(
                "serviceA -> serviceB through the mesh (mesh-control at {xds}, embedded default config)"
            ),
            a,
        )
    };

    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let base = format!("http://{}", service_a.addr());
    wait_until_serving(&client, &format!("{base}/call")).await?;

    let grpc_title = if args.no_mesh {
        format!("gRPC: {} calls to demo.ServiceB/Get", args.calls)
    } else {
        format!(
            "gRPC: {} calls to demo.ServiceB/Get via xds:///serviceb.demo:50051 (route: 80 % v1, 20 % v2)",
            args.calls
        )
    };
    let grpc = batch(&client, &format!("{base}/call"), args.calls, grpc_title).await;
    let http_title = if args.no_mesh {
        format!("HTTP: {} calls to GET /hello", args.http_calls)
    } else {
        format!(
            "HTTP: {} calls to GET /hello via http://serviceb.demo:50051 (route: 80 % v1, 20 % v2)",
            args.http_calls
        )
    };
    let http = batch(
        &client,
        &format!("{base}/call-http"),
        args.http_calls,
        http_title,
    )
    .await;

    for p in procs.into_iter().chain([service_a]) {
        p.stop(Duration::from_secs(3)).await;
    }
    println!(
        "\nmesh demo: {title}\n\n{grpc}\n{http}\n  logs of every process: {}",
        logs.display()
    );
    Ok(grpc.failed() == 0 && http.failed() == 0)
}

fn command(exe: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args).env("NO_COLOR", "1");
    cmd
}

async fn wait_until_serving(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match get(client, url).await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("serviceA never answered {url} successfully: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn batch(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
    calls: u32,
    title: String,
) -> Summary {
    let mut summary = Summary::new(title);
    for _ in 0..calls {
        match get(client, url).await {
            Ok(result) => summary.record_ok(
                &result.replica,
                result.upstream_us,
                result.client_identity.as_deref(),
                result.server_identity.as_deref(),
            ),
            Err(reason) => summary.record_failure(&reason),
        }
    }
    summary
}

async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
) -> Result<CallResult, String> {
    let response = client
        .get(url.parse().map_err(|e| format!("{e}"))?)
        .await
        .map_err(|e| format!("{e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("bad answer from serviceA: {e}"))
}
