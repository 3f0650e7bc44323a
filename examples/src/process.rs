//! Child processes of the demo and the end-to-end tests.
//!
//! A process announces that it is ready with a line containing `listening on ADDR` on stdout or
//! stderr; [`Proc::spawn`] waits for that line and keeps everything the process prints in a log
//! file, so a failure can show what the process said. An `admin listening on ADDR` line names
//! the process's admin server instead (apps print it before their ready line): it never counts
//! as the ready line, and [`Proc::addr_after`] finds it (or any other `MARKER ADDR`) in the log.
//! [`Procs`] keeps the processes of a deployment by name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
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

    /// The address after the first `marker` in the process's output (e.g. `"admin listening on"`),
    /// waiting up to `timeout` for the process to print it.
    pub async fn addr_after(&self, marker: &str, timeout: Duration) -> anyhow::Result<SocketAddr> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let log = self.log().await;
            if let Some(addr) = log.lines().find_map(|line| addr_after(line, marker)) {
                return Ok(addr);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} printed no `{marker} ADDR` line within {timeout:?}; its log:\n{}",
                    self.name,
                    tail(&self.log).await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the process has printed so far.
    pub async fn log(&self) -> String {
        tokio::fs::read_to_string(&self.log)
            .await
            .unwrap_or_default()
    }

    /// How many bytes the process has printed so far (the size of its log file).
    pub async fn log_len(&self) -> anyhow::Result<u64> {
        let meta = tokio::fs::metadata(&self.log)
            .await
            .with_context(|| format!("reading the size of {}", self.log.display()))?;
        Ok(meta.len())
    }

    /// What the process printed after its first `offset` bytes (see [`Proc::log_len`]), read
    /// from that offset on; invalid UTF-8 is replaced.
    pub async fn log_since(&self, offset: u64) -> anyhow::Result<String> {
        let context = || format!("reading {} from byte {offset}", self.log.display());
        let mut file = tokio::fs::File::open(&self.log)
            .await
            .with_context(context)?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .with_context(context)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).await.with_context(context)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
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

/// The processes of a deployment or of a test, found by name.
#[derive(Debug, Default)]
pub struct Procs(Vec<Proc>);

impl Procs {
    /// Adds `proc`.
    pub fn push(&mut self, proc: Proc) {
        self.0.push(proc);
    }

    /// The process called `name`.
    pub fn get(&self, name: &str) -> Option<&Proc> {
        self.0.iter().find(|p| p.name == name)
    }

    /// Takes the process called `name` out, e.g. to stop it.
    pub fn take(&mut self, name: &str) -> Option<Proc> {
        let i = self.0.iter().position(|p| p.name == name)?;
        Some(self.0.remove(i))
    }

    /// The processes, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Proc> {
        self.0.iter()
    }

    /// Stops every process, in order, as [`Proc::stop`] does.
    pub async fn stop(self, grace: Duration) {
        for proc in self.0 {
            proc.stop(grace).await;
        }
    }
}

/// The marker of the line that names a process's admin server.
pub const ADMIN_MARKER: &str = "admin listening on";

/// The address in a `... listening on ADDR ...` line that is not an admin line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if line.contains(ADMIN_MARKER) {
        return None;
    }
    addr_after(line, "listening on")
}

/// The address right after `marker` in `line`.
fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once(marker)?;
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

    #[tokio::test]
    async fn reads_the_log_from_an_offset_and_finds_processes_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'p listening on 127.0.0.1:9'; echo second; sleep 30",
        ]);
        let proc = Proc::spawn("p", cmd, dir.path()).await.unwrap();
        let ready_line = "p listening on 127.0.0.1:9\n".len() as u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !proc.log().await.contains("second\n") {
            assert!(tokio::time::Instant::now() < deadline, "no second line");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(proc.log_len().await.unwrap(), ready_line + 7);
        assert_eq!(proc.log_since(ready_line).await.unwrap(), "second\n");
        assert_eq!(proc.log_since(ready_line + 7).await.unwrap(), "");

        let mut procs = Procs::default();
        procs.push(proc);
        assert_eq!(
            procs.get("p").map(Proc::addr),
            Some("127.0.0.1:9".parse().unwrap())
        );
        assert!(procs.get("q").is_none());
        assert!(procs.take("p").is_some());
        assert!(procs.get("p").is_none());
    }

    #[test]
    fn an_admin_line_is_not_the_ready_line() {
        let line = "servicea admin listening on 127.0.0.1:15000";
        assert_eq!(listening_addr(line), None);
        assert_eq!(
            addr_after(line, ADMIN_MARKER),
            Some("127.0.0.1:15000".parse().unwrap())
        );
    }
}
