//! The one-command demo: real processes on loopback, batches of calls, a summary.
//!
//! With the mesh: mesh-control (embedded default config), serviceB replicas that register
//! themselves (`serviceb-v1`, `serviceb-v2`, and `serviceb-v1-flaky`, a second replica of v1
//! that fails a share of its calls), and serviceA calling `xds:///serviceb.demo:50051`, which
//! the default config splits 80/20 between the two versions, with retries and outlier
//! detection; then, once the logs are quiet, one more call, as the access logs of serviceA and
//! of the replica that served it tell it, and serviceA's request counters from its admin
//! server's `/metrics` (at 127.0.0.1:15000 when free). The meshed apps log every call (access
//! logs on), which their latency includes. Then the same calls without the mesh, to the same
//! three replicas called directly in turn: the flaky replica's failures reach the caller. With
//! `--no-mesh`: one healthy serviceB replica that serviceA calls directly, and nothing else.
//!
//! The summary goes to stdout; the demo's own logs go to stderr.

mod calls;
mod deploy;
mod observe;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use http_body_util::Empty;
use hyper_util::client::legacy::{Client, connect::HttpConnector};

use crate::failure_modes::parse_share;
use crate::process::Proc;
use crate::summary::plural;
use calls::batches;
use deploy::{REPLICAS, direct, mesh};

/// Options of the demo run.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Call one serviceB replica directly, without the mesh, and nothing else.
    #[arg(long)]
    pub no_mesh: bool,
    /// How many gRPC calls to make through serviceA.
    #[arg(long, default_value_t = 500)]
    pub calls: u32,
    /// How many plain HTTP calls to make through serviceA.
    #[arg(long, default_value_t = 50)]
    pub http_calls: u32,
    /// The share of calls the replica serviceb-v1-flaky fails (0 to 1).
    #[arg(long, default_value_t = 0.3, value_parser = parse_share)]
    pub flaky_fail_rate: f64,
}

/// Runs the demo; true when the meshed calls succeeded (at most 1 in 200 failed).
pub async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let logs = std::env::temp_dir().join(format!("mesh-demo-{}", std::process::id()));
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let exe = std::env::current_exe()?;
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();

    if args.no_mesh {
        let direct = direct(&exe, &logs, &[("serviceb", false)], &args).await?;
        let (grpc, http) = batches(&client, &direct.service_a, &args, false, "").await?;
        let replica = direct.procs.get("serviceb-no-mesh").map(Proc::addr);
        let title = format!(
            "serviceA -> serviceB directly ({}), no mesh",
            replica.map_or("-".to_string(), |addr| addr.to_string())
        );
        direct.stop().await;
        println!(
            "\nmesh demo: {title}\n\n{grpc}\n{http}\n  logs of every process: {}",
            logs.display()
        );
        return Ok(grpc.failed() == 0 && http.failed() == 0);
    }

    let (meshed, xds) = mesh(&exe, &logs, &args).await?;
    let route = " via xds:///serviceb.demo:50051 (route: 80 % v1, 20 % v2)";
    let (grpc, http) = batches(&client, &meshed.service_a, &args, true, route).await?;
    let observed = match observe::observe(&client, &meshed).await {
        Ok(observed) => observed.to_string(),
        Err(e) => format!("  telemetry: not available: {e:#}\n"),
    };
    meshed.stop().await;

    let replicas: Vec<(&str, bool)> = REPLICAS.iter().map(|(n, _, f)| (*n, *f)).collect();
    let plain = direct(&exe, &logs, &replicas, &args).await?;
    let (plain_grpc, plain_http) = batches(&client, &plain.service_a, &args, false, "").await?;
    plain.stop().await;

    let meshed_failed = grpc.failed() + http.failed();
    let plain_failed = plain_grpc.failed() + plain_http.failed();
    let total = u64::from(args.calls + args.http_calls);
    let mesh_did = grpc.mesh().unwrap_or_default();
    let http_did = http.mesh().unwrap_or_default();
    println!(
        "\nmesh demo: serviceA -> serviceB through the mesh (mesh-control at {xds}, embedded \
         default config);\n  serviceb-v1 has a second replica, serviceb-v1-flaky, that fails {} \
         % of its calls\n\n{grpc}\n{http}\n{observed}\n\
         the same calls without the mesh: serviceA -> the same three replicas, each in turn, no \
         retries\n\n{plain_grpc}\n{plain_http}\n\
         resilience: without the mesh {plain_failed} of {total} calls failed; with the mesh \
         {meshed_failed} failed, at the cost of {} and {}\n\n  \
         logs of every process: {}",
        (args.flaky_fail_rate * 1000.0).round() / 10.0,
        plural(mesh_did.retries + http_did.retries, "retry", "retries"),
        plural(
            mesh_did.ejections + http_did.ejections,
            "ejection",
            "ejections"
        ),
        logs.display()
    );
    Ok(meshed_failed * 200 <= total)
}
