//! The processes of a scenario, each pinned to one core with `taskset`, its output in a log
//! file. A process is ready when it prints `listening on ADDR` (our own binaries) or when its
//! port accepts connections (HAProxy).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How long a process may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping process may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What tells that a process is ready.
#[derive(Clone, Copy, Debug)]
pub enum Ready {
    /// It printed `listening on ADDR`.
    Line,
    /// Its port accepts connections.
    Port(SocketAddr),
    /// Nothing to wait for (the load generator, which runs to its end).
    Started,
}

/// A running child process; killed when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    pid: u32,
    addr: Option<SocketAddr>,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args` on `core` with `env` added, logging to `log_dir/NAME.log`, and
    /// waits until it is `ready`.
    pub async fn spawn(
        name: &str,
        core: u32,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log_dir: &Path,
        ready: Ready,
    ) -> anyhow::Result<Proc> {
        let log = log_dir.join(format!("{name}.log"));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(core.to_string())
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name} ({}) under taskset", program.display()))?;
        let pid = child.id().context("the child has a pid")?;
        let start = Instant::now();
        let addr = loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited ({status}) before it was ready; its log:\n{}",
                    tail(&log)
                );
            }
            match ready {
                Ready::Started => break None,
                Ready::Line => {
                    if let Some(addr) = listening_addr(&std::fs::read_to_string(&log)?) {
                        break Some(addr);
                    }
                }
                Ready::Port(addr) => {
                    if tokio::net::TcpStream::connect(addr).await.is_ok() {
                        break Some(addr);
                    }
                }
            }
            if start.elapsed() > READY_TIMEOUT {
                bail!(
                    "{name} was not ready within {READY_TIMEOUT:?}; its log:\n{}",
                    tail(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Proc {
            name: name.to_string(),
            child,
            pid,
            addr,
            log,
        })
    }

    /// Its process id (that of the program: `taskset` execs it).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where it listens, once ready (none for [`Ready::Started`]).
    pub fn addr(&self) -> anyhow::Result<SocketAddr> {
        self.addr
            .with_context(|| format!("{} did not say where it listens", self.name))
    }

    /// Waits for it to exit by itself, for at most `timeout`; an error unless it succeeded.
    pub async fn wait(mut self, timeout: Duration) -> anyhow::Result<()> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(status) => bail!(
                "{} failed ({status:?}); its log:\n{}",
                self.name,
                tail(&self.log)
            ),
            Err(_) => bail!(
                "{} did not finish within {timeout:?}; its log:\n{}",
                self.name,
                tail(&self.log)
            ),
        }
    }

    /// Asks it to stop (SIGTERM), killing it if it takes longer than a few seconds.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The address of the first `... listening on ADDR` line of `log`.
fn listening_addr(log: &str) -> Option<SocketAddr> {
    log.lines().find_map(|line| {
        let word = line
            .split("listening on ")
            .nth(1)?
            .split_whitespace()
            .next()?;
        word.trim_end_matches([',', '.', ';']).parse().ok()
    })
}

/// The last lines of a log, to show why a process failed.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A loopback port free now (for HAProxy, which cannot say which port it got).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_listening_line() {
        let log = "starting\n2026 INFO mesh-control listening on 127.0.0.1:4000\n\
                   server listening on 127.0.0.1:5000, ok\n";
        assert_eq!(listening_addr(log), Some("127.0.0.1:4000".parse().unwrap()));
        assert_eq!(listening_addr("listening soon"), None);
    }

    #[tokio::test]
    async fn a_process_that_exits_early_shows_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let args = ["-c".to_string(), "echo boom; exit 3".to_string()];
        let err = Proc::spawn(
            "sh",
            0,
            Path::new("/bin/sh"),
            &args,
            &[],
            dir.path(),
            Ready::Line,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("sh exited") && err.contains("boom"), "{err}");
    }
}
