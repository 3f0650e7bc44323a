//! Child processes of the demo and the end-to-end tests.
//!
//! A process announces that it is ready with a line containing `listening on ADDR` on stdout or
//! stderr; [`Proc::spawn`] waits for that line and keeps everything the process prints in a log
//! file, so a failure can show what the process said.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

/// How long a process may take to say it is listening.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running child process that said where it listens.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd`, logs its output to `log_dir/NAME.log` and waits for its `listening on ADDR`
    /// line. The process is killed when the [`Proc`] is dropped.
    pub async fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> anyhow::Result<Proc> {
        let log = log_dir.join(format!("{name}.log"));
        let file = tokio::fs::File::create(&log)
            .await
            .with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let (ready_tx, mut ready) = watch::channel(None);
        let (file_tx, file_rx) = mpsc::unbounded_channel();
        tokio::spawn(write_log(file, file_rx));
        for out in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(forward_lines(out, ready_tx.clone(), file_tx.clone()));
        }
        drop(ready_tx);

        // An error: both outputs closed without a `listening on` line.
        let wait = async { ready.wait_for(Option::is_some).await.ok().and_then(|a| *a) };
        let addr = match tokio::time::timeout(READY_TIMEOUT, wait).await {
            Ok(Some(addr)) => addr,
            Ok(None) => bail!(
                "{name} exited before listening; its log:\n{}",
                tail(&log).await
            ),
            Err(_) => bail!(
                "{name} did not listen within {READY_TIMEOUT:?}; its log:\n{}",
                tail(&log).await
            ),
        };
        Ok(Proc {
            name: name.to_string(),
            child,
            addr,
            log,
        })
    }

    /// The address the process said it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its output goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process has printed so far.
    pub async fn log(&self) -> String {
        tokio::fs::read_to_string(&self.log)
            .await
            .unwrap_or_default()
    }

    /// Asks the process to stop (SIGTERM) and waits up to `grace` before killing it.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The address in a `... listening on ADDR ...` line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("listening on ").nth(1)?;
    let word = rest.split_whitespace().next()?;
    word.trim_end_matches([',', '.', ';']).parse().ok()
}

/// Sends each line of `out` to the log `file`, and the address of the first `listening on`
/// line (of either output) to `ready`. Reading on to the end keeps the child from blocking on
/// a full pipe.
async fn forward_lines(
    out: Box<dyn AsyncRead + Send + Unpin>,
    ready: watch::Sender<Option<SocketAddr>>,
    file: mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(out).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        ready.send_if_modified(|found| {
            found.is_none() && {
                *found = listening_addr(&line);
                found.is_some()
            }
        });
        let _ = file.send(line);
    }
}

async fn write_log(mut file: tokio::fs::File, mut lines: mpsc::UnboundedReceiver<String>) {
    while let Some(line) = lines.recv().await {
        let _ = file.write_all(line.as_bytes()).await;
        let _ = file.write_all(b"\n").await;
        let _ = file.flush().await;
    }
}

async fn tail(log: &Path) -> String {
    let text = tokio::fs::read_to_string(log).await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_in_a_ready_line() {
        assert_eq!(
            listening_addr("2026-11-24 INFO mesh-control listening on 127.0.0.1:15010"),
            Some("127.0.0.1:15010".parse().unwrap())
        );
        assert_eq!(
            listening_addr("serviceb-v1 listening on [::1]:4000, registered"),
            Some("[::1]:4000".parse().unwrap())
        );
        assert_eq!(listening_addr("listening soon"), None);
    }
}
