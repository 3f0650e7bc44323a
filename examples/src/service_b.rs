//! serviceB: answers `demo.ServiceB/Get` (gRPC) and `GET /hello` (HTTP) on one port, saying which
//! replica answered.
//!
//! Meshed (the default), it reads the gRPC xDS bootstrap from the environment and registers the
//! services named by `--register` with mesh-control for as long as it runs. With
//! `--admin-addr` it also serves the process's metrics on an [admin server](crate::admin)
//! (no config dump there: its xDS client lives inside the `MeshServer`).
//!
//! It can fail a share of its calls, answer late or never answer (see [`crate::failure_modes`]),
//! and logs how many calls it received when it stops.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::http::StatusCode;
use axum::routing::get;
use clap::Args;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::{Identity, JOIN_TOKEN_ENV, PeerIdentity};
use mesh_server::MeshServer;
use tonic::{Request, Response, Status};

use crate::admin::{self, AdminArgs, AdminParts};
use crate::failure_modes::{Behaviour, FailureModes, Verdict};
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
    /// How the replica misbehaves.
    #[command(flatten)]
    pub failures: FailureModes,
    /// The admin server (metrics only: no config dump; readiness is the server's own
    /// `GET /ready`).
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The `demo.ServiceB` gRPC service of one replica.
#[derive(Clone, Debug)]
pub struct Replica {
    name: String,
    /// The caller identities seen so far, to log each new one once.
    seen: Arc<RwLock<BTreeSet<String>>>,
    behaviour: Behaviour,
}

impl Replica {
    /// A replica called `name` that answers every call.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            seen: Arc::default(),
            behaviour: Behaviour::default(),
        }
    }

    /// The replica, failing, delaying or stalling calls as `behaviour` says.
    pub fn with_behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// Its failure modes and counts of calls.
    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// Whether `peer` is a caller not seen before (then remembered): a read lock for the
    /// callers already seen, the write lock only for a new one.
    fn first_call_from(&self, peer: &str) -> bool {
        if self.seen.read().expect("not poisoned").contains(peer) {
            return false;
        }
        self.seen
            .write()
            .expect("not poisoned")
            .insert(peer.to_string())
    }

    fn failure_message(&self) -> String {
        format!("{} failed this call on purpose (--fail-rate)", self.name)
    }
}

#[tonic::async_trait]
impl ServiceB for Replica {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        if self.behaviour.on_call().await == Verdict::Fail {
            return Err(Status::unavailable(self.failure_message()));
        }
        // mesh-server puts the caller's SPIFFE ID into the request after the mTLS handshake.
        let peer = request
            .extensions()
            .get::<PeerIdentity>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let caller = request.into_inner().caller;
        if self.first_call_from(&peer) {
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
    let http = replica.clone();
    tonic::service::Routes::new(ServiceBServer::new(replica))
        .into_axum_router()
        .route(
            "/hello",
            get(move || async move {
                match http.behaviour.on_call().await {
                    Verdict::Answer => (StatusCode::OK, format!("hello from {}\n", http.name)),
                    Verdict::Fail => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("{}\n", http.failure_message()),
                    ),
                }
            }),
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
    let _admin = admin::start(&args.replica, &args.admin, AdminParts::default()).await?;
    let replica = Replica::new(&args.replica).with_behaviour(Behaviour::new(args.failures));
    let misbehaving = replica
        .behaviour()
        .describe()
        .map(|d| format!("; {d}"))
        .unwrap_or_default();
    println!(
        "{} listening on {} ({}{misbehaving})",
        args.replica,
        server.local_addr(),
        if args.no_mesh {
            "no mesh".to_string()
        } else {
            format!("registered as {:?}", args.register)
        }
    );
    let behaviour = replica.behaviour().clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Logged at the signal, before draining: a stalled replica never finishes draining.
        tracing::info!("{} stopping; {}", args.replica, behaviour.counts_line());
    };
    server.serve(router(replica), shutdown).await?;
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
    Ok(Some(identity))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_is_new_once() {
        let replica = Replica::new("b");
        assert!(replica.first_call_from("spiffe://cluster.local/ns/demo/sa/servicea"));
        assert!(!replica.first_call_from("spiffe://cluster.local/ns/demo/sa/servicea"));
        assert!(replica.first_call_from(""));
        assert!(!replica.first_call_from(""));
    }
}
