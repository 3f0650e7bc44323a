//! serviceB: answers `demo.ServiceB/Get` (gRPC) and `GET /hello` (HTTP) on one port, saying which
//! replica answered.
//!
//! Meshed (the default), it reads the gRPC xDS bootstrap from the environment and registers the
//! services named by `--register` with mesh-control for as long as it runs.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::routing::get;
use clap::Args;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::{Identity, JOIN_TOKEN_ENV, PeerIdentity};
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
    /// The caller identities seen so far, to log each new one once.
    seen: Arc<Mutex<BTreeSet<String>>>,
}

impl Replica {
    /// A replica called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            seen: Arc::default(),
        }
    }
}

#[tonic::async_trait]
impl ServiceB for Replica {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        // mesh-server puts the caller's SPIFFE ID into the request after the mTLS handshake.
        let peer = request
            .extensions()
            .get::<PeerIdentity>()
            .map(|p| p.0.to_string())
            .unwrap_or_default();
        let caller = request.into_inner().caller;
        if self.seen.lock().expect("not poisoned").insert(peer.clone()) {
            if peer.is_empty() {
                tracing::info!(%caller, "first call from {caller} over plaintext");
            } else {
                tracing::info!(%caller, "first call from {caller} over mTLS, peer {peer}");
            }
        }
        Ok(Response::new(GetReply {
            replica: self.name.clone(),
            message: format!("hello {caller}, from {}", self.name),
            peer,
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
        let bootstrap = Bootstrap::from_env()?;
        if let Some(identity) = identity(&bootstrap).await? {
            builder = builder.identity(identity);
        }
        builder = builder.bootstrap(bootstrap);
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

/// The workload identity from mesh-control's CA when `MESH_JOIN_TOKEN` holds a credential;
/// without one the app runs without mTLS.
pub async fn identity(bootstrap: &Bootstrap) -> anyhow::Result<Option<Identity>> {
    if std::env::var_os(JOIN_TOKEN_ENV).is_none() {
        tracing::info!("{JOIN_TOKEN_ENV} is not set: no workload identity, no mTLS");
        return Ok(None);
    }
    let identity = Identity::builder()
        .bootstrap(bootstrap)
        .token_from_env()
        .start()
        .await?;
    let svid = identity.current();
    tracing::info!(
        "workload identity {} (certificate valid until {})",
        svid.spiffe_id,
        humantime_utc(svid.not_after)
    );
    Ok(Some(identity))
}

/// A UTC timestamp like `2026-11-24T10:00:00Z` (seconds since the epoch when out of range).
fn humantime_utc(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(at) => at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| secs.to_string()),
        Err(_) => secs.to_string(),
    }
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
