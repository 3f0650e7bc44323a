//! The admin server of serviceA and serviceB: the process's metrics, its xDS config and its
//! readiness over HTTP (`/metrics`, `/config_dump`, `/healthz`, `/ready`; see
//! [`mesh_core::admin`]).
//!
//! Off unless `--admin-addr` (or `MESH_ADMIN_ADDR`) is given; the usual address is
//! [`DEFAULT_ADMIN_ADDR`](mesh_core::admin::DEFAULT_ADMIN_ADDR). Once it listens, the app
//! prints `NAME admin listening on ADDR` on stdout, after its own `listening on` line, so a
//! parent process (the demo, the tests) can find it with
//! [`Proc::addr_after`](crate::process::Proc::addr_after).

use std::net::SocketAddr;

use clap::Args;
use mesh_core::admin::{Admin, AdminHandle};
use mesh_core::telemetry::Metrics;
use mesh_core::xds::XdsClient;
use tokio::sync::watch;

use crate::process::ADMIN_MARKER;

/// Command-line options of the admin server.
#[derive(Args, Debug, Clone, Default)]
pub struct AdminArgs {
    /// Serve the admin endpoints (/metrics, /config_dump, /healthz, /ready) at this address,
    /// e.g. 127.0.0.1:15000; off unless given.
    #[arg(long, env = "MESH_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
}

/// What the admin server of an app shows besides the process's metrics.
#[derive(Default)]
pub struct AdminParts {
    /// The xDS client whose config `/config_dump` shows.
    pub xds: Option<XdsClient>,
    /// Whether the app is ready, for `/ready` (always ready when absent).
    pub ready: Option<watch::Receiver<bool>>,
}

/// Starts the admin server of app `name` if `args` ask for one, and prints where it listens.
/// The server stops when the returned handle is dropped.
pub async fn start(
    name: &str,
    args: &AdminArgs,
    parts: AdminParts,
) -> anyhow::Result<Option<AdminHandle>> {
    let Some(addr) = args.admin_addr else {
        return Ok(None);
    };
    let mut admin = Admin::builder().metrics(Metrics::global().clone());
    if let Some(xds) = parts.xds {
        admin = admin.xds(xds);
    }
    if let Some(ready) = parts.ready {
        admin = admin.ready(ready);
    }
    let handle = admin.serve(addr).await?;
    println!("{name} {ADMIN_MARKER} {}", handle.local_addr());
    Ok(Some(handle))
}
