//! The server of every scenario: `demo.ServiceB` (the examples' service) on loopback, as plain
//! tonic (S0, and S3's app behind its sidecar), tonic over rustls mTLS (S1), or a MeshServer
//! (S2). It prints `listening on ADDR` once it accepts calls and serves until SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use examples::pb::service_b_server::ServiceBServer;
use examples::service_b::{Replica, shutdown_signal};
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::Identity;
use mesh_server::MeshServer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::certs;
use super::mesh_config::{REGISTER_AS, SERVER_TOKEN};

/// How the server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServerMode {
    /// tonic, plaintext h2c.
    Plain,
    /// tonic over rustls mTLS with the identity in `--cert-dir`.
    Tls,
    /// A MeshServer: identity from mesh-control's CA, registered, policies over xDS (the
    /// bootstrap comes from `GRPC_XDS_BOOTSTRAP_CONFIG`).
    Mesh,
}

/// The options of `bench-load server`.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// How to serve.
    #[arg(long, value_enum)]
    pub mode: ServerMode,
    /// The directory of the certificates (mode `tls`).
    #[arg(long, required_if_eq("mode", "tls"))]
    pub cert_dir: Option<PathBuf>,
    /// Serve without Prometheus metrics (mode `mesh`).
    #[arg(long)]
    pub no_metrics: bool,
}

/// Serves until SIGTERM.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let replica = Replica::new("bench");
    let loopback: SocketAddr = "127.0.0.1:0".parse().context("the loopback address")?;
    match args.mode {
        ServerMode::Plain => {
            let incoming = TcpIncoming::bind(loopback)
                .context("binding the server")?
                .with_nodelay(Some(true));
            println!("server listening on {}", incoming.local_addr()?);
            Server::builder()
                .add_service(ServiceBServer::new(replica))
                .serve_with_incoming_shutdown(incoming, shutdown_signal())
                .await?;
        }
        ServerMode::Tls => {
            let dir = args
                .cert_dir
                .context("--cert-dir is required with --mode tls")?;
            let identity = certs::load_identity(&dir)?;
            let listener = TcpListener::bind(loopback).await?;
            println!("server listening on {}", listener.local_addr()?);
            Server::builder()
                .add_service(ServiceBServer::new(replica))
                .serve_with_incoming_shutdown(tls_incoming(listener, &identity), shutdown_signal())
                .await?;
        }
        ServerMode::Mesh => {
            let bootstrap = Bootstrap::from_env()?;
            let identity = Identity::builder()
                .bootstrap(&bootstrap)
                .token(SERVER_TOKEN)
                .start()
                .await
                .context("getting the server's certificate from mesh-control")?;
            let mut builder = MeshServer::builder()
                .bootstrap(bootstrap)
                .identity(identity)
                .register(REGISTER_AS)
                .drain_delay(std::time::Duration::ZERO);
            if args.no_metrics {
                builder = builder.without_metrics();
            }
            let server = builder.bind(loopback).await?;
            println!("server listening on {}", server.local_addr());
            // The same routing as tonic's own server: tonic's routes as an axum router.
            let routes = tonic::service::Routes::new(ServiceBServer::new(replica));
            server
                .serve(routes.into_axum_router(), shutdown_signal())
                .await?;
        }
    }
    Ok(())
}

/// The connections of `listener` after an mTLS handshake with the mesh's server config;
/// a failed handshake is logged and skipped.
fn tls_incoming(
    listener: TcpListener,
    identity: &Identity,
) -> ReceiverStream<std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>> {
    let acceptor = TlsAcceptor::from(identity.server_config());
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Err(e) => eprintln!("mTLS handshake with {peer} failed: {e}"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
