//! serviceB: answers `demo.ServiceB/Get` (gRPC) and `GET /hello` (HTTP) on one port, saying which
//! replica answered.
//!
//! Meshed (the default), it reads the gRPC xDS bootstrap from the environment and registers the
//! services named by `--register` with mesh-control for as long as it runs.

use std::net::SocketAddr;

use axum::routing::get;
use clap::Args;
use mesh_server::MeshServer;
use tonic::{Request, Response, Status};

use crate::pb::service_b_server::{ServiceB, ServiceBServer};
use crate::pb::{GetReply, GetRequest};

/// Command-line options of serviceB.
#[derive(Args, Debug, Clone)]
pub struct ServiceBArgs {
    /// The replica's name, returned in every answer.
    #[arg(long, default_value = "serviceb")]
    pub replica: String,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// A service name to register with mesh-control (as clients dial it), e.g.
    /// `serviceb-v1.demo:50051`. May be repeated.
    #[arg(long)]
    pub register: Vec<String>,
    /// Serve without the mesh: no xDS, no registration.
    #[arg(long)]
    pub no_mesh: bool,
}

/// The `demo.ServiceB` gRPC service of one replica.
#[derive(Clone, Debug)]
pub struct Replica {
    name: String,
}

impl Replica {
    /// A replica called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

#[tonic::async_trait]
impl ServiceB for Replica {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        let caller = request.into_inner().caller;
        tracing::debug!(%caller, "demo.ServiceB/Get");
        Ok(Response::new(GetReply {
            replica: self.name.clone(),
            message: format!("hello {caller}, from {}", self.name),
        }))
    }
}

/// The gRPC service and the HTTP routes of a replica, as one router.
pub fn router(replica: Replica) -> axum::Router {
    let name = replica.name.clone();
    tonic::service::Routes::new(ServiceBServer::new(replica))
        .into_axum_router()
        .route(
            "/hello",
            get(move || async move { format!("hello from {name}\n") }),
        )
}

/// Runs serviceB until SIGINT or SIGTERM.
pub async fn run(args: ServiceBArgs) -> anyhow::Result<()> {
    let mut builder = MeshServer::builder();
    if !args.no_mesh {
        builder = builder.bootstrap(mesh_core::bootstrap::Bootstrap::from_env()?);
        for service in &args.register {
            builder = builder.register(service);
        }
    }
    let server = builder.bind(args.listen).await?;
    println!(
        "{} listening on {} ({})",
        args.replica,
        server.local_addr(),
        if args.no_mesh {
            "no mesh".to_string()
        } else {
            format!("registered as {:?}", args.register)
        }
    );
    server
        .serve(router(Replica::new(args.replica)), shutdown_signal())
        .await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
