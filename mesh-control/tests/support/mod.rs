//! Running the real `mesh-control` binary in tests.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mesh-control");
/// Generous: the machine is small and shared. Only reached when a test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// Runs the binary with `args` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Everything a finished run printed, stdout then stderr.
pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running `serve`: the child and where it listens.
pub(crate) struct Serving {
    /// The process (killed on drop).
    pub(crate) child: tokio::process::Child,
    /// The plaintext xDS and CA address.
    pub(crate) addr: String,
    /// The TLS xDS and CA address.
    pub(crate) tls_addr: String,
    /// The admin endpoint, as `http://IP:PORT`.
    pub(crate) admin: String,
}

/// Starts `serve --config config --state-dir state` on free ports.
pub(crate) async fn start_serving(config: &Path, state: &Path) -> Serving {
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--xds-addr",
            "127.0.0.1:0",
            "--tls-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--warm-up",
            "0",
        ])
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let after = |line: &str, marker: &str| {
        line.split_once(marker)
            .map(|(_, addr)| addr.trim().to_string())
    };
    let (addr, tls_addr, admin) = tokio::time::timeout(PATIENCE, async {
        let (mut addr, mut admin) = (None, None);
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(found) = after(&line, "mesh-control admin endpoint on ") {
                admin = Some(found);
            } else if let Some(found) = after(&line, "mesh-control listening on ") {
                addr = Some(found);
            } else if let Some(tls) = after(&line, "serving xDS and the CA over TLS on ") {
                let addr = addr.expect("plaintext is announced first");
                return (
                    addr,
                    tls,
                    admin.expect("the admin endpoint is announced first"),
                );
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .expect("serve never said it was listening");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Serving {
        child,
        addr,
        tls_addr,
        admin,
    }
}
