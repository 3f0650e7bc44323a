//! `bench-load`: the load comparison S0..S3 (see `benches::load`).
//!
//! `bench-load run --out DIR [--smoke]` runs the matrix; it starts this same binary again as
//! each scenario's server (`server`), load generator (`loadgen`), mesh-control (`control`) and
//! trace collector (`otlp-sink`), so every part is its own process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use benches::load::client::{self, ClientArgs};
use benches::load::loadgen::{self, Plan};
use benches::load::otlp_sink;
use benches::load::run::{self, RunArgs};
use benches::load::server::{self, ServerArgs};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    about = "The load comparison of the proxyless mesh: tonic, tonic + mTLS, the mesh, HAProxy sidecars"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios and print the comparison.
    Run(RunArgs),
    /// Serve demo.ServiceB (one scenario's server).
    Server(ServerArgs),
    /// Load a server and write what was measured as JSON.
    Loadgen(LoadgenArgs),
    /// mesh-control, exactly as the `mesh-control` binary (all its arguments follow).
    Control {
        /// The arguments of `mesh-control`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// An OTLP/gRPC trace collector that discards what it gets.
    OtlpSink,
}

#[derive(Args)]
struct LoadgenArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Unmeasured calls at one in flight first, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    warm_up_ms: u64,
    /// How long each measured phase lasts, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    phase_ms: u64,
    /// The fixed rates, calls per second.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    rates: Vec<u32>,
    /// Calls in flight in the throughput phase.
    #[arg(long, default_value_t = 64)]
    max_in_flight: usize,
    /// Another process to measure, as NAME=PID. May be repeated.
    #[arg(long = "watch", value_parser = parse_watch)]
    watched: Vec<(String, u32)>,
    /// Where to write the report (JSON).
    #[arg(long)]
    report: PathBuf,
}

fn parse_watch(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=PID"))?;
    let pid = pid
        .parse()
        .map_err(|e| format!("{pid:?} is not a pid: {e}"))?;
    Ok((name.to_string(), pid))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Control { args } = cli.command {
        let argv = std::iter::once("mesh-control".to_string()).chain(args);
        return mesh_control::cli::run(mesh_control::cli::Cli::parse_from(argv));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Server(args) => {
                let _telemetry = mesh_core::telemetry::init("bench-server")?;
                server::run(args).await
            }
            Command::Loadgen(args) => {
                let _telemetry = mesh_core::telemetry::init("bench-loadgen")?;
                load(args).await
            }
            Command::OtlpSink => otlp_sink::run().await,
            Command::Control { .. } => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn load(args: LoadgenArgs) -> anyhow::Result<()> {
    let caller = client::connect(&args.client).await?;
    let plan = Plan {
        warm_up: Duration::from_millis(args.warm_up_ms),
        phase: Duration::from_millis(args.phase_ms),
        rates: args.rates,
        max_in_flight: args.max_in_flight,
    };
    let report = loadgen::run(&caller, &plan, &args.watched).await;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&args.report, json).with_context(|| format!("writing {}", args.report.display()))
}
