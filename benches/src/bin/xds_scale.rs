//! `xds_scale`: how mesh-control copes with many subscribers.
//!
//! mesh-control runs in a child process (this binary again) serving a temporary config
//! directory; N simulated gRPC proxyless clients in this process each open a real ADS stream
//! (many streams share an HTTP/2 connection), follow LDS -> RDS -> CDS -> EDS for one Service
//! and ACK every response at once. The run measures:
//!
//! 1. the time from rewriting a route's weights in the watched YAML to each client's receipt
//!    (and ACK) of the new RouteConfiguration: p50, p99 and max over the clients;
//! 2. mesh-control's memory per subscriber: its VmRSS once every client is synced, minus before
//!    they connected, over N;
//! 3. one EDS push of many endpoints (EndpointSlices of 1,000 written at once): from the write
//!    to a client having received and decoded the ClusterLoadAssignment with mesh-core's
//!    decoder, and the assignment's size against mesh-core's decode limit (`MAX_RESPONSE_SIZE`).
//!
//! `xds_scale --clients 5000`; `--smoke` is the CI size (100 clients, 10k endpoints); `--json`
//! prints the results as JSON on stdout (the table then goes to stderr).

#[path = "xds_scale/client.rs"]
mod client;
#[path = "xds_scale/config.rs"]
mod config;
#[path = "xds_scale/control.rs"]
mod control;
#[path = "xds_scale/report.rs"]
mod report;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use client::Event;
use config::{BIG_TARGET, ConfigDir, TARGET, WEIGHTS_AFTER};
use control::Control;
use report::{EdsPush, Latencies, MESH_CORE_DECODE_LIMIT, Memory, Results};

/// How long each phase may take before the run fails.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// How mesh-control copes with many xDS subscribers.
#[derive(Debug, Parser)]
#[command(name = "xds_scale")]
struct Args {
    /// Simulated xDS clients, each with its own ADS stream.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// ADS streams per HTTP/2 connection.
    #[arg(long, default_value_t = 100)]
    streams_per_connection: usize,
    /// Endpoints in the big EDS push.
    #[arg(long, default_value_t = 100_000)]
    endpoints: u32,
    /// The CI size: 100 clients and 10,000 endpoints (overrides --clients and --endpoints).
    #[arg(long)]
    smoke: bool,
    /// Print the results as JSON on stdout, and the table on stderr.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    if let Some(code) = control::run_if_asked() {
        return code;
    }
    let mut args = Args::parse();
    if args.smoke {
        (args.clients, args.endpoints) = (100, 10_000);
    }
    let results = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(&args)));
    let results = match results {
        Ok(results) => results,
        Err(e) => {
            eprintln!("xds_scale failed: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        eprint!("{}", results.table());
        match serde_json::to_string_pretty(&results) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("cannot write the results as JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", results.table());
    }
    ExitCode::SUCCESS
}

async fn run(args: &Args) -> anyhow::Result<Results> {
    if args.clients == 0 || args.streams_per_connection == 0 {
        bail!("--clients and --streams-per-connection must be at least 1");
    }
    let dir = ConfigDir::new()?;
    let control = Control::start(&dir).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = control.rss()?;

    let connections = args.clients.div_ceil(args.streams_per_connection);
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        channels.push(connect(&control).await?);
    }
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let started = Instant::now();
    for id in 0..args.clients {
        let channel = channels[id % connections].clone();
        let events = events_tx.clone();
        tokio::spawn(client::run(id, channel, TARGET.into(), events));
    }
    let all = 0..args.clients;
    collect(&mut events, all.clone(), |e| {
        matches!(e, Event::Synced).then_some(())
    })
    .await?;
    let sync_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = control.rss()?;

    let changed = Instant::now();
    dir.set_weights(WEIGHTS_AFTER)?;
    let acks = collect(&mut events, all, |event| match event {
        Event::RouteChanged(at) => Some(at.saturating_duration_since(changed)),
        _ => None,
    })
    .await?;

    let big = args.clients;
    tokio::spawn(client::run(
        big,
        connect(&control).await?,
        BIG_TARGET.into(),
        events_tx,
    ));
    collect(&mut events, big..big + 1, |e| {
        matches!(e, Event::Synced).then_some(())
    })
    .await?;
    let wanted = args.endpoints as usize;
    let written = Instant::now();
    dir.add_big_endpoints(args.endpoints)?;
    let pushed = collect(&mut events, big..big + 1, |event| match event {
        Event::Endpoints { count, bytes, at } if count == wanted => Some((bytes, at - written)),
        _ => None,
    })
    .await?;
    let (encoded_bytes, took) = pushed[0];

    let grown = rss_after.saturating_sub(rss_before) as f64;
    Ok(Results {
        clients: args.clients,
        connections,
        sync_seconds,
        route_change_acked: acks.len(),
        route_change: Latencies::of(acks),
        memory: Memory {
            rss_before_bytes: rss_before,
            rss_after_bytes: rss_after,
            per_subscriber_kib: grown / 1024.0 / args.clients as f64,
        },
        eds_push: EdsPush {
            endpoints: wanted,
            seconds: took.as_secs_f64(),
            encoded_bytes,
            fits_mesh_core_client: encoded_bytes < MESH_CORE_DECODE_LIMIT,
        },
    })
}

/// A new HTTP/2 connection to mesh-control.
async fn connect(control: &Control) -> anyhow::Result<Channel> {
    let uri = format!("http://{}", control.addr);
    let endpoint = Endpoint::from_shared(uri).context("the xDS address is not a URI")?;
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to mesh-control at {}", control.addr))
}

/// Waits until every client of `ids` sent an event that `pick` takes, and returns what it
/// took, by client. Fails when a client fails or [`PHASE_TIMEOUT`] passes.
async fn collect<T>(
    events: &mut mpsc::UnboundedReceiver<(usize, Event)>,
    ids: std::ops::Range<usize>,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> anyhow::Result<Vec<T>> {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    let mut taken: Vec<Option<T>> = ids.clone().map(|_| None).collect();
    let mut left = taken.len();
    while left > 0 {
        let event = tokio::time::timeout_at(deadline, events.recv()).await;
        let (id, event) = match event {
            Ok(Some(event)) => event,
            Ok(None) => bail!("every client ended"),
            Err(_) => bail!(
                "{left} of {} clients still waiting after {PHASE_TIMEOUT:?}",
                ids.len()
            ),
        };
        if let Event::Failed(reason) = &event {
            bail!("client {id} failed: {reason}");
        }
        let Some(slot) = id.checked_sub(ids.start).and_then(|i| taken.get_mut(i)) else {
            continue;
        };
        if slot.is_none()
            && let Some(value) = pick(event)
        {
            *slot = Some(value);
            left -= 1;
        }
    }
    Ok(taken.into_iter().flatten().collect())
}
