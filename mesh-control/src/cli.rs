//! The `mesh-control` command line: `serve`, `bootstrap` and `validate`, and `status`,
//! `config` and `certs`, which ask a running mesh-control through its admin endpoint.
//!
//! The binary's `main` only calls [`main`], so other binaries (the demo) can run the same
//! commands.

mod admin_client;
mod ca;
mod cert_files;
mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mesh_core::bootstrap::Bootstrap;
use mesh_core::registration::{METADATA_KEY, Registration};
use mesh_core::xds::type_url;
use tokio::sync::watch;

use crate::ads::ClientRegistry;
use crate::config::{self, Reloads, WorkloadIdentity};
use crate::server::{self, Listeners, ServeSettings};
use ca::{CaArgs, parse_identity};

pub use admin_client::{AdminError, DEFAULT_ADMIN_URL};

/// The default address of the plaintext xDS server.
pub const DEFAULT_XDS_ADDR: &str = "127.0.0.1:15010";
/// The default address of the TLS xDS server.
pub const DEFAULT_TLS_ADDR: &str = "127.0.0.1:15012";
/// The default address of the admin HTTP endpoint.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:15014";

/// mesh-control: the control service of the proxyless mesh.
///
/// It reads Kubernetes-style YAML (Service, EndpointSlice, HTTPRoute, GRPCRoute) and serves it
/// to meshed apps and gRPC proxyless clients over xDS v3 (ADS).
#[derive(Debug, Parser)]
#[command(name = "mesh-control", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the mesh config over xDS, reloading the config directory when it changes.
    Serve(ServeArgs),
    /// Print a gRPC xDS bootstrap (JSON) that points an app at this mesh-control.
    ///
    /// Use it as the file named by GRPC_XDS_BOOTSTRAP, or as the value of
    /// GRPC_XDS_BOOTSTRAP_CONFIG, for Rust, Go, Java or Python apps alike. With --identity and
    /// --cert-dir it also issues a certificate for an app that cannot ask the CA itself (a
    /// non-Rust gRPC app): the key, chain and trust bundle go into the directory, and the
    /// bootstrap's `file_watcher` certificate provider reads them. Run it again before the
    /// certificate expires (--svid-ttl) to renew them; the app picks up the new files.
    Bootstrap(BootstrapArgs),
    /// Check a config directory: print a summary, or every error with its file and line.
    Validate(ValidateArgs),
    /// Show every connected client and whether it accepted the latest config of each type
    /// (SYNCED, STALE, NACKED), with the reason of every rejection.
    Status(AdminArgs),
    /// Show what one client (by node id) was sent and ACKed, per resource type.
    Config(ConfigArgs),
    /// List the certificates the CA issued since mesh-control started, with time to expiry.
    Certs(AdminArgs),
}

#[derive(Debug, Args)]
struct AdminArgs {
    /// The admin endpoint of the mesh-control to ask (its --admin-addr).
    #[arg(long, value_name = "URL", default_value = DEFAULT_ADMIN_URL)]
    admin: String,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// The node id of the client, as `status` lists it.
    #[arg(value_name = "NODE_ID")]
    node_id: String,
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Directory of YAML files to serve and watch (default: the embedded demo config).
    #[arg(long, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Address of the plaintext xDS (ADS) and CA server.
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_XDS_ADDR)]
    xds_addr: SocketAddr,
    /// Seconds after start during which clusters without endpoints are not sent to clients, so
    /// that after a restart clients keep their endpoints until the servers have registered
    /// again (mesh-core's xDS clients retry at least every 10 s). 0 turns this off.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    warm_up: u64,
    /// Address of the TLS xDS and CA server [default: 127.0.0.1:15012, skipped with a warning
    /// when taken].
    #[arg(long, value_name = "IP:PORT")]
    tls_addr: Option<SocketAddr>,
    /// Address of the admin HTTP endpoint (metrics, health, client status) [default:
    /// 127.0.0.1:15014, skipped with a warning when taken].
    #[arg(long, value_name = "IP:PORT")]
    admin_addr: Option<SocketAddr>,
    /// The CA's root certificate (PEM), instead of the one in the state directory.
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The private key (PEM, PKCS#8) of --ca-cert.
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    #[command(flatten)]
    ca: CaArgs,
}

#[derive(Debug, Args)]
struct BootstrapArgs {
    /// The node id the app sends to mesh-control (unique per instance, e.g. `serviceb-1`).
    #[arg(long, value_name = "ID")]
    node_id: String,
    /// Where mesh-control's xDS server is, as host:port.
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_XDS_ADDR)]
    xds_server: String,
    /// Register the app as an endpoint of SERVICE at ADDR while it is connected, e.g.
    /// `serviceb.demo:50051=127.0.0.1:40001`. Repeat for several services.
    #[arg(long = "register", value_name = "SERVICE=ADDR", value_parser = parse_registration)]
    registrations: Vec<Registration>,
    /// Issue a certificate for this identity (namespace/service-account, e.g. `demo/servicea`)
    /// into --cert-dir.
    #[arg(long, value_name = "NS/SA", value_parser = parse_identity, requires = "cert_dir")]
    identity: Option<WorkloadIdentity>,
    /// Where to write `key.pem`, `cert-chain.pem` and `root.pem` for --identity.
    #[arg(long, value_name = "DIR", requires = "identity")]
    cert_dir: Option<PathBuf>,
    #[command(flatten)]
    ca: CaArgs,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// Directory of YAML files to check.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Parses the process arguments and runs the command; the exit code says how it went.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bootstrap(args) => match bootstrap(args) {
            Ok(bootstrap) => {
                println!("{}", bootstrap.to_json_pretty());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Validate(args) => validate(&args.dir),
        Command::Status(args) => ask(|| status::status(&args.admin)),
        Command::Config(args) => ask(|| status::config(&args.admin.admin, &args.node_id)),
        Command::Certs(args) => ask(|| status::certs(&args.admin)),
    }
}

/// Runs one request to the admin endpoint and prints its answer, or why there is none.
fn ask<F: Future<Output = Result<String, AdminError>>>(request: impl FnOnce() -> F) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(request()) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    init_logging();
    let initial = match &args.config {
        Some(dir) => match config::load_dir(dir) {
            Ok(config) => config,
            Err(errors) => {
                eprintln!("{}: invalid config:\n{errors}", dir.display());
                return ExitCode::FAILURE;
            }
        },
        None => {
            tracing::info!("no --config given: serving the embedded default config");
            config::embedded_default()
        }
    };
    let operator_root = args.ca_cert.as_deref().zip(args.ca_key.as_deref());
    let ca = match args.ca.serving_authority(operator_root) {
        Ok(ca) => Arc::new(ca),
        Err(e) => {
            tracing::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let plaintext = server::bind(args.xds_addr).await?;
        let tls = match args.tls_addr {
            Some(addr) => Some(server::bind(addr).await?),
            None => bind_default(DEFAULT_TLS_ADDR, "not serving TLS").await,
        };
        let admin = match args.admin_addr {
            Some(addr) => Some(server::bind(addr).await?),
            None => bind_default(DEFAULT_ADMIN_ADDR, "not serving the admin endpoint").await,
        };
        let listeners = Listeners {
            plaintext,
            tls,
            admin,
        };
        let settings = ServeSettings {
            warm_up: Duration::from_secs(args.warm_up),
            ..ServeSettings::new(ca)
        };
        let reloads: Reloads = settings.reloads.clone();
        let (config_tx, config_rx) = watch::channel(Arc::new(initial));
        if let Some(dir) = args.config {
            tokio::spawn(async move {
                if let Err(e) = config::watch_dir(dir, config_tx, reloads).await {
                    tracing::error!("hot reload is off: {e}");
                }
            });
        }
        server::serve(
            listeners,
            config_rx,
            ClientRegistry::new(),
            settings,
            shutdown_signal(),
        )
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds a default address (TLS, admin), or logs `skipped` and why and goes on without it:
/// the plaintext port is the one that matters for a local setup, and a second mesh-control
/// (a test, a demo) should not fail for the lack of the others.
async fn bind_default(addr: &str, skipped: &str) -> Option<tokio::net::TcpListener> {
    let addr = addr.parse().ok()?;
    match server::bind(addr).await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!("{skipped}: {e}");
            None
        }
    }
}

fn bootstrap(args: BootstrapArgs) -> anyhow::Result<Bootstrap> {
    let mut bootstrap = Bootstrap::insecure(args.xds_server, args.node_id);
    for server in &mut bootstrap.xds_servers {
        server.server_features = vec!["xds_v3".to_string()];
    }
    if !args.registrations.is_empty() {
        bootstrap.node.metadata.insert(
            METADATA_KEY.to_string(),
            Registration::to_metadata(&args.registrations),
        );
    }
    if let (Some(identity), Some(dir)) = (&args.identity, &args.cert_dir) {
        let ca = args.ca.existing_authority()?;
        let files = cert_files::write(&ca, identity, dir)?;
        bootstrap.certificate_providers = files.certificate_providers();
        // The Listener name gRPC xDS servers ask for (gRFC A36), `%s` being their address.
        bootstrap.server_listener_resource_name_template =
            Some(format!("{}%s", type_url::SERVER_LISTENER_PREFIX));
    }
    Ok(bootstrap)
}

fn validate(dir: &Path) -> ExitCode {
    match config::load_dir(dir) {
        Ok(config) => {
            println!("ok: {}", server::summary(&config));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// `SERVICE=ADDR`, as in `serviceb.demo:50051=127.0.0.1:40001`.
fn parse_registration(text: &str) -> Result<Registration, String> {
    let (service, address) = text.split_once('=').ok_or_else(|| {
        format!("{text:?} is not SERVICE=ADDR (e.g. serviceb.demo:50051=127.0.0.1:40001)")
    })?;
    if service.is_empty() {
        return Err(format!("{text:?} has no service before '='"));
    }
    let address = address
        .parse()
        .map_err(|e| format!("{address:?} is not an IP:PORT address: {e}"))?;
    Ok(Registration {
        service: service.to_string(),
        address,
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). Does nothing if the process
/// already set up logging (a demo binary calling [`run`]).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn registration_argument() {
        let r = parse_registration("serviceb.demo:50051=127.0.0.1:40001").unwrap();
        assert_eq!(r.service, "serviceb.demo:50051");
        assert_eq!(r.address, "127.0.0.1:40001".parse().unwrap());
        assert!(
            parse_registration("serviceb")
                .unwrap_err()
                .contains("SERVICE=ADDR")
        );
        assert!(parse_registration("=127.0.0.1:1").is_err());
        assert!(
            parse_registration("b=nope")
                .unwrap_err()
                .contains("\"nope\"")
        );
    }

    #[test]
    fn ca_arguments_come_in_pairs_and_lifetimes_are_positive() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["mesh-control"], args].concat()).map_err(|e| e.to_string())
        };
        let err = parse(&["bootstrap", "--node-id", "a", "--identity", "demo/a"]).unwrap_err();
        assert!(err.contains("--cert-dir"), "{err}");
        let err = parse(&["bootstrap", "--node-id", "a", "--cert-dir", "d"]).unwrap_err();
        assert!(err.contains("--identity"), "{err}");
        let err = parse(&["serve", "--ca-cert", "c.pem"]).unwrap_err();
        assert!(err.contains("--ca-key"), "{err}");
        let err = parse(&["serve", "--svid-ttl", "0"]).unwrap_err();
        assert!(err.contains("--svid-ttl"), "{err}");
        let err = parse(&["serve", "--trust-domain", "Bad Domain"]).unwrap_err();
        assert!(err.contains("not a trust domain"), "{err}");
        assert!(parse(&["serve", "--state-dir", "s", "--svid-ttl", "60"]).is_ok());
    }

    #[test]
    fn bootstrap_carries_registrations() {
        let cli = Cli::try_parse_from([
            "mesh-control",
            "bootstrap",
            "--node-id",
            "b-1",
            "--register",
            "serviceb.demo:50051=127.0.0.1:40001",
        ])
        .unwrap();
        let Command::Bootstrap(args) = cli.command else {
            panic!("not bootstrap");
        };
        let b = bootstrap(args).unwrap();
        assert_eq!(b.node.id, "b-1");
        assert_eq!(b.xds_servers[0].server_uri, DEFAULT_XDS_ADDR);
        let metadata = serde_json::Value::Object(b.node.metadata);
        assert_eq!(Registration::from_metadata(&metadata).unwrap().len(), 1);
    }
}
