//! What the mesh's telemetry tells of the meshed run: one sample call as the two access logs it
//! left describe it (serviceA's client line, the serving replica's server line), and serviceA's
//! request counters from its `/metrics`.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::{Client, connect::HttpConnector};

use super::calls::{get, get_body};
use super::deploy::Deployment;
use crate::access_log::AccessLogEntry;
use crate::process::Proc;

/// The path of the gRPC method serviceA calls.
const GET_PATH: &str = "/demo.ServiceB/Get";
/// How long the access-log lines of a call may take to reach the log files.
const LOG_WAIT: Duration = Duration::from_secs(5);

/// One sample call and serviceA's request counters.
pub(super) struct Observed {
    replica: String,
    client: AccessLogEntry,
    server: AccessLogEntry,
    metrics_url: String,
    requests: Vec<String>,
}

/// Makes one call through serviceA and reads what the mesh recorded of it and of the run.
pub(super) async fn observe(
    client: &Client<HttpConnector, Empty<Bytes>>,
    d: &Deployment,
) -> anyhow::Result<Observed> {
    let service_a = d.proc("servicea").context("serviceA is not running")?;
    let admin = d
        .service_a_admin
        .as_deref()
        .context("serviceA has no admin server")?;
    let before = log_sizes(d).await;
    let result = get(client, &format!("{}/call", d.service_a))
        .await
        .map_err(|e| anyhow::anyhow!("the sample call failed: {e}"))?;
    let replica = d
        .proc(&result.replica)
        .with_context(|| format!("no process is called {}", result.replica))?;
    let client_line = last_entry(service_a, size_of(&before, service_a), "client").await?;
    let server_line = last_entry(replica, size_of(&before, replica), "server").await?;

    let metrics_url = format!("{admin}/metrics");
    let metrics = get_body(client, &metrics_url)
        .await
        .map_err(|e| anyhow::anyhow!("fetching {metrics_url}: {e}"))?;
    let mut requests: Vec<String> = String::from_utf8_lossy(&metrics)
        .lines()
        .filter(|line| line.starts_with("mesh_client_requests_total"))
        .map(str::to_string)
        .collect();
    requests.sort();
    Ok(Observed {
        replica: result.replica,
        client: client_line,
        server: server_line,
        metrics_url,
        requests,
    })
}

/// How much each process of `d` has logged, by name: a call's lines come after.
async fn log_sizes(d: &Deployment) -> Vec<(String, usize)> {
    let mut sizes = Vec::new();
    for proc in &d.procs {
        sizes.push((proc.name().to_string(), proc.log().await.len()));
    }
    sizes
}

/// The size of `proc`'s log in `sizes`.
fn size_of(sizes: &[(String, usize)], proc: &Proc) -> usize {
    sizes
        .iter()
        .find(|(name, _)| name == proc.name())
        .map_or(0, |(_, size)| *size)
}

/// The last access-log entry of `side` for [`GET_PATH`] that `proc` logged after `offset`
/// bytes of its log, waiting for it up to [`LOG_WAIT`].
async fn last_entry(proc: &Proc, offset: usize, side: &str) -> anyhow::Result<AccessLogEntry> {
    let deadline = tokio::time::Instant::now() + LOG_WAIT;
    loop {
        let log = proc.log().await;
        let entry = AccessLogEntry::all_in(log.get(offset..).unwrap_or_default())
            .into_iter()
            .rfind(|e| e.is_side(side) && e.text("path") == GET_PATH);
        if let Some(entry) = entry {
            return Ok(entry);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{} logged no {side} access-log line for {GET_PATH} (see {})",
                proc.name(),
                proc.log_path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (client, server) = (&self.client, &self.server);
        let attempts = client.number("attempts").unwrap_or(1.0);
        let ms = |e: &AccessLogEntry| e.number("latency_ms").unwrap_or_default();
        writeln!(
            f,
            "  one call, as the access logs of serviceA (client) and {} (server) tell it",
            self.replica
        )?;
        writeln!(
            f,
            "    route     {} -> cluster {}",
            client.text("route"),
            client.text("cluster"),
        )?;
        writeln!(
            f,
            "    served    by {} at {} after {} attempt{}, gRPC status {}",
            self.replica,
            client.text("upstream"),
            attempts,
            if attempts == 1.0 { "" } else { "s" },
            client.text("status"),
        )?;
        writeln!(
            f,
            "    latency   {:.2} ms in serviceA's mesh client, {:.2} ms in {}'s mesh server",
            ms(client),
            ms(server),
            self.replica
        )?;
        writeln!(
            f,
            "    mTLS      serviceA {} -> serviceB {} (each as the other side verified it)",
            server.text("peer"),
            client.text("peer"),
        )?;
        writeln!(
            f,
            "  metrics     {} (while the demo runs):",
            self.metrics_url
        )?;
        for line in &self.requests {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}
