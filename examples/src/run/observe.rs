//! What the mesh's telemetry tells of the meshed run: one sample call as the two access logs it
//! left describe it (serviceA's client line, the serving replica's server line), and serviceA's
//! request counters from its `/metrics`.
//!
//! The sample call is made once no process has logged anything for a moment, so the lines after
//! the log sizes measured then are this call's; the two lines are checked to tell of the same
//! call (the client's upstream is the replica, the server's caller is serviceA as the call saw
//! it).

use std::fmt;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use tokio::time::Instant;

use super::calls::{get, get_body};
use super::deploy::Deployment;
use crate::access_log::AccessLogEntry;
use crate::metrics_text;
use crate::process::{Proc, Procs};

/// The path of the gRPC method serviceA calls.
const GET_PATH: &str = "/demo.ServiceB/Get";
/// How long no log may grow before the sample call, so its lines are the only new ones.
const QUIET: Duration = Duration::from_millis(200);
/// How long to wait for the logs to go quiet.
const QUIET_WAIT: Duration = Duration::from_secs(10);
/// How long the access-log lines of a call may take to reach the log files.
const LOG_WAIT: Duration = Duration::from_secs(5);
/// How often to look at the logs while waiting.
const POLL: Duration = Duration::from_millis(50);

/// One sample call and serviceA's request counters.
pub(super) struct Observed {
    replica: String,
    client: AccessLogEntry,
    server: AccessLogEntry,
    /// serviceA's metrics URL and its `mesh_client_requests_total` lines; `None` when serviceA
    /// did not say where its admin server listens.
    metrics: Option<(String, Vec<String>)>,
}

/// Once the logs are quiet, makes one call through serviceA and reads what the mesh recorded of
/// it and of the run.
pub(super) async fn observe(
    client: &Client<HttpConnector, Empty<Bytes>>,
    d: &Deployment,
) -> anyhow::Result<Observed> {
    let service_a = d.procs.get("servicea").context("serviceA is not running")?;
    let offsets = quiet_log_sizes(&d.procs).await?;
    let result = get(client, &format!("{}/call", d.service_a))
        .await
        .map_err(|e| anyhow::anyhow!("the sample call failed: {e}"))?;
    let replica = d
        .procs
        .get(&result.replica)
        .with_context(|| format!("no process is called {}", result.replica))?;
    let client_line = entry_after(service_a, offset(&offsets, service_a)?, |e| {
        e.is_side("client") && e.text("path") == Some(GET_PATH)
    })
    .await?;
    let status = client_line.text("status");
    let server_line = entry_after(replica, offset(&offsets, replica)?, |e| {
        e.is_side("server") && e.text("path") == Some(GET_PATH) && e.text("status") == status
    })
    .await?;
    // The two lines tell of one call: the client's went to this replica, and the server's
    // caller is serviceA as this very call reported it.
    let upstream = replica.addr().to_string();
    ensure!(
        client_line.text("upstream") == Some(upstream.as_str()),
        "serviceA's access-log line names upstream {:?}, not {} at {upstream}",
        client_line.text("upstream"),
        replica.name()
    );
    ensure!(
        server_line.text("peer") == result.client_identity.as_deref(),
        "{}'s access-log line names caller {:?}, but serviceA was seen as {:?}",
        replica.name(),
        server_line.text("peer"),
        result.client_identity
    );

    let metrics = match &d.service_a_admin {
        Some(admin) => Some(request_counters(client, &format!("{admin}/metrics")).await?),
        None => None,
    };
    Ok(Observed {
        replica: result.replica,
        client: client_line,
        server: server_line,
        metrics,
    })
}

/// The URL and the sorted `mesh_client_requests_total` lines of the metrics at `url`.
async fn request_counters(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
) -> anyhow::Result<(String, Vec<String>)> {
    let metrics = get_body(client, url)
        .await
        .map_err(|e| anyhow::anyhow!("fetching {url}: {e}"))?;
    let text = String::from_utf8_lossy(&metrics);
    let mut requests: Vec<String> = metrics_text::samples(&text, "mesh_client_requests_total")
        .map(|sample| sample.line.to_string())
        .collect();
    requests.sort();
    Ok((url.to_string(), requests))
}

/// The size of each process's log, by name, once no log has grown for [`QUIET`].
async fn quiet_log_sizes(procs: &Procs) -> anyhow::Result<Vec<(String, u64)>> {
    let deadline = Instant::now() + QUIET_WAIT;
    let mut sizes = log_sizes(procs).await?;
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let now = log_sizes(procs).await?;
        if now != sizes {
            sizes = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= QUIET {
            return Ok(sizes);
        }
        if Instant::now() > deadline {
            bail!("the processes' logs did not stop growing for {QUIET:?} within {QUIET_WAIT:?}");
        }
    }
}

/// How much each process has logged, by name.
async fn log_sizes(procs: &Procs) -> anyhow::Result<Vec<(String, u64)>> {
    let mut sizes = Vec::new();
    for proc in procs.iter() {
        sizes.push((proc.name().to_string(), proc.log_len().await?));
    }
    Ok(sizes)
}

/// `proc`'s log size in `sizes`.
fn offset(sizes: &[(String, u64)], proc: &Proc) -> anyhow::Result<u64> {
    sizes
        .iter()
        .find(|(name, _)| name == proc.name())
        .map(|(_, size)| *size)
        .with_context(|| format!("{} started after the logs were measured", proc.name()))
}

/// The last access-log entry that `proc` logged after `offset` bytes of its log and that
/// `wanted`, waiting for it up to [`LOG_WAIT`].
async fn entry_after(
    proc: &Proc,
    offset: u64,
    wanted: impl Fn(&AccessLogEntry) -> bool,
) -> anyhow::Result<AccessLogEntry> {
    let deadline = Instant::now() + LOG_WAIT;
    loop {
        let log = proc.log_since(offset).await?;
        if let Some(entry) = AccessLogEntry::all_in(&log).into_iter().rfind(&wanted) {
            return Ok(entry);
        }
        if Instant::now() > deadline {
            bail!(
                "{} logged no matching access-log line for {GET_PATH} (see {})",
                proc.name(),
                proc.log_path().display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `value` as written, or `-` when absent.
fn or_dash(value: Option<impl fmt::Display>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// A latency in milliseconds with two decimals, or `-`.
fn millis(entry: &AccessLogEntry) -> String {
    or_dash(entry.number("latency_ms").map(|ms| format!("{ms:.2} ms")))
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (client, server) = (&self.client, &self.server);
        let attempts = client.count("attempts");
        writeln!(
            f,
            "  one call, as the access logs of serviceA (client) and {} (server) tell it",
            self.replica
        )?;
        writeln!(
            f,
            "    route     {} -> cluster {}",
            or_dash(client.text("route")),
            or_dash(client.text("cluster")),
        )?;
        writeln!(
            f,
            "    served    by {} at {} after {} attempt{}, gRPC status {}",
            self.replica,
            or_dash(client.text("upstream")),
            or_dash(attempts),
            if attempts == Some(1) { "" } else { "s" },
            or_dash(client.text("status")),
        )?;
        writeln!(
            f,
            "    latency   {} in serviceA's mesh client, {} in {}'s mesh server",
            millis(client),
            millis(server),
            self.replica
        )?;
        writeln!(
            f,
            "    mTLS      serviceA {} -> serviceB {} (each as the other side verified it)",
            or_dash(server.text("peer")),
            or_dash(client.text("peer")),
        )?;
        match &self.metrics {
            Some((url, requests)) => {
                writeln!(f, "  metrics     {url} (while the demo runs):")?;
                for line in requests {
                    writeln!(f, "    {line}")?;
                }
            }
            None => writeln!(
                f,
                "  metrics     - (serviceA did not say where its admin server listens)"
            )?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_a_dash_for_what_the_lines_lack() {
        let client = AccessLogEntry::parse(
            r#"{"target":"mesh::access","side":"client","path":"/demo.ServiceB/Get","attempts":2,"latency_ms":1.234}"#,
        )
        .unwrap();
        let server = AccessLogEntry::parse(r#"{"target":"mesh::access","side":"server"}"#).unwrap();
        let observed = Observed {
            replica: "serviceb-v1".into(),
            client,
            server,
            metrics: None,
        };
        let text = observed.to_string();
        assert!(text.contains("route     - -> cluster -\n"), "{text}");
        assert!(
            text.contains("at - after 2 attempts, gRPC status -\n"),
            "{text}"
        );
        assert!(
            text.contains("1.23 ms in serviceA's mesh client, - in serviceb-v1"),
            "{text}"
        );
        assert!(text.contains("serviceA - -> serviceB - "), "{text}");
        assert!(text.contains("metrics     - ("), "{text}");
    }
}
