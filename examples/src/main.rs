//! `demo`: the serviceA -> serviceB demo of the proxyless mesh in one binary.
//!
//! `demo` runs the whole demo; `demo service-a`, `demo service-b` and `demo control` run one
//! part of it (the demo starts itself again with those to get real, separate processes).
//!
//! The parts' logs, traces and access logs are set up by `mesh_core::telemetry::init`
//! (`RUST_LOG`, `MESH_LOG_FORMAT=json`, `OTEL_EXPORTER_OTLP_ENDPOINT`); `demo control` leaves
//! that to mesh-control's own CLI. The demo itself prints its summary on stdout and logs to
//! stderr, so the two never mix.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use examples::{run, service_a, service_b};

#[derive(Parser)]
#[command(about = "The serviceA -> serviceB demo of the proxyless mesh")]
struct Cli {
    #[command(subcommand)]
    part: Option<Part>,
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Subcommand)]
enum Part {
    /// serviceA: GET /call calls serviceB.
    ServiceA(service_a::ServiceAArgs),
    /// serviceB: answers demo.ServiceB/Get and GET /hello.
    ServiceB(service_b::ServiceBArgs),
    /// mesh-control, exactly as the `mesh-control` binary (all its arguments follow).
    Control {
        /// The arguments of `mesh-control`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Part::Control { args }) = cli.part {
        let argv = std::iter::once("mesh-control".to_string()).chain(args);
        return mesh_control::cli::run(mesh_control::cli::Cli::parse_from(argv));
    }
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    let result = runtime.block_on(async {
        match cli.part {
            Some(Part::ServiceA(args)) => {
                // Held until the part returns, so spans still queued are exported before exit.
                let _telemetry = mesh_core::telemetry::init("servicea")?;
                service_a::run(args).await.map(|()| true)
            }
            Some(Part::ServiceB(args)) => {
                let _telemetry = mesh_core::telemetry::init("serviceb")?;
                service_b::run(args).await.map(|()| true)
            }
            Some(Part::Control { .. }) => unreachable!("handled above"),
            None => {
                log_to_stderr()?;
                run::run(cli.run).await
            }
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The demo's own logs: plain text on stderr, filtered by `RUST_LOG` (default `info`).
fn log_to_stderr() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the demo's log subscriber: {e}"))
}
