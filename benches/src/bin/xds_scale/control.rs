//! mesh-control in a child process (this binary again, with a hidden first argument), so that
//! its memory can be read from `/proc` apart from the simulated clients'.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use tokio::process::{Child, Command};

use crate::config::ConfigDir;

/// The first argument that makes this binary run mesh-control's command line instead.
pub(crate) const CONTROL_ARG: &str = "__mesh-control";

/// Runs mesh-control's command line with the arguments after [`CONTROL_ARG`], if that is the
/// first argument.
pub(crate) fn run_if_asked() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != CONTROL_ARG {
        return None;
    }
    let argv = std::iter::once(OsString::from("mesh-control")).chain(args);
    let cli = mesh_control::cli::Cli::parse_from(argv);
    Some(mesh_control::cli::run(cli))
}

/// A running mesh-control process; killed when dropped.
pub(crate) struct Control {
    child: Child,
    /// Its plaintext xDS address.
    pub(crate) addr: SocketAddr,
}

impl Control {
    /// Starts mesh-control serving `dir`, and waits until it accepts connections.
    pub(crate) async fn start(dir: &ConfigDir) -> anyhow::Result<Self> {
        let addr = free_address()?;
        let exe = std::env::current_exe().context("cannot find this binary")?;
        let child = Command::new(exe)
            .arg(CONTROL_ARG)
            .arg("serve")
            .arg("--config")
            .arg(dir.config())
            .arg("--state-dir")
            .arg(dir.state())
            .args(["--xds-addr", &addr.to_string()])
            .args(["--tls-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
            .args(["--warm-up", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start mesh-control")?;
        let mut control = Self { child, addr };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(control);
            }
            if let Some(status) = control.child.try_wait()? {
                bail!("mesh-control exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("mesh-control did not listen on {addr} within 30 s")
    }

    /// Its resident memory now, in bytes (VmRSS).
    pub(crate) fn rss(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("mesh-control has exited")?;
        let path = format!("/proc/{pid}/status");
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .with_context(|| format!("no VmRSS line in {path}"))?;
        Ok(kib * 1024)
    }
}

/// A loopback address with a port free right now.
fn free_address() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind loopback")?;
    Ok(listener.local_addr()?)
}
