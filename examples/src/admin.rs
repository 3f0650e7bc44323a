//! The admin server of serviceA and serviceB: the process's metrics, and for serviceA its xDS
//! config and its readiness, over HTTP (`/metrics`, `/config_dump`, `/healthz`, `/ready`; see
//! [`mesh_core::admin`]). serviceB's admin server has no config dump (`/config_dump` answers
//! 404: its xDS client lives inside its `MeshServer`) and is always ready; serviceB reports its
//! own readiness on its serving port's `GET /ready`.
//!
//! Off unless `--admin-addr` (or `MESH_ADMIN_ADDR`) is given; the usual address is
//! [`DEFAULT_ADMIN_ADDR`](mesh_core::admin::DEFAULT_ADMIN_ADDR), and with
//! `--admin-any-port-if-taken` an app takes a free port of the same IP when that one is taken.
//! Once it listens, the app prints `NAME admin listening on ADDR` on stdout, before its own
//! `listening on` line, so a parent process (the demo, the tests) finds it with
//! [`Proc::addr_after`](crate::process::Proc::addr_after) as soon as the app is up.

use std::io;
use std::net::SocketAddr;

use clap::Args;
use mesh_core::admin::{AdminBuilder, AdminError, AdminHandle};
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
    /// When the admin address is taken, listen on a free port of the same IP instead of
    /// failing (the demo runs serviceA so, on 127.0.0.1:15000 when that is free).
    #[arg(long, requires = "admin_addr")]
    pub admin_any_port_if_taken: bool,
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
    let handle = match builder(&parts).serve(addr).await {
        Err(AdminError::Bind { source, .. })
            if args.admin_any_port_if_taken && source.kind() == io::ErrorKind::AddrInUse =>
        {
            tracing::info!("the admin address {addr} is taken: using a free port instead");
            builder(&parts).serve(SocketAddr::new(addr.ip(), 0)).await?
        }
        started => started?,
    };
    println!("{name} {ADMIN_MARKER} {}", handle.local_addr());
    Ok(Some(handle))
}

/// An admin server of the process's metrics and `parts`.
fn builder(parts: &AdminParts) -> AdminBuilder {
    let mut admin = mesh_core::admin::builder().metrics(Metrics::global().clone());
    if let Some(xds) = &parts.xds {
        admin = admin.xds(xds.clone());
    }
    if let Some(ready) = &parts.ready {
        admin = admin.ready(ready.clone());
    }
    admin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn takes_a_free_port_when_the_address_is_taken_only_if_asked() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let mut args = AdminArgs {
            admin_addr: Some(addr),
            admin_any_port_if_taken: false,
        };
        let refused = start("app", &args, AdminParts::default()).await;
        assert!(refused.is_err(), "bound a taken address");

        args.admin_any_port_if_taken = true;
        let handle = start("app", &args, AdminParts::default())
            .await
            .unwrap()
            .expect("an admin server");
        assert_eq!(handle.local_addr().ip(), addr.ip());
        assert_ne!(handle.local_addr().port(), addr.port());

        let off = AdminArgs::default();
        assert!(
            start("app", &off, AdminParts::default())
                .await
                .unwrap()
                .is_none()
        );
    }
}
