//! serviceA: an HTTP front end whose `GET /call` calls serviceB over gRPC and whose
//! `GET /call-http` calls serviceB's `GET /hello` over plain HTTP.
//!
//! Meshed, both calls go through the mesh: a `MeshChannel` for gRPC and a `MeshHttpClient` for
//! HTTP, routed and balanced by what mesh-control says; `GET /counters` tells what the mesh's
//! resilience policies did so far. With `--no-mesh` they go straight to the serviceB addresses
//! given, each in turn, with no retries. With `--admin-addr` it also serves the
//! [admin endpoints](crate::admin), started before it says `listening on`; meshed, it is
//! ready once it knows serviceB's route table ([`crate::readiness`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Empty};
use mesh_client::{MeshChannel, MeshHttpClient};
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::PeerIdentity;
use mesh_core::xds::XdsClient;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use crate::admin::{self, AdminArgs, AdminParts};
use crate::readiness::readiness;
use crate::summary::MeshCounters;

use crate::pb::GetRequest;
use crate::pb::service_b_client::ServiceBClient as BClient;

/// Command-line options of serviceA.
#[derive(Args, Debug, Clone)]
pub struct ServiceAArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The gRPC target of serviceB through the mesh, `xds:///NAME`.
    #[arg(long, default_value = "xds:///serviceb.demo:50051")]
    pub target: String,
    /// The HTTP URL of serviceB's greeting through the mesh.
    #[arg(long, default_value = "http://serviceb.demo:50051/hello")]
    pub http_target: String,
    /// Call serviceB at `--direct` without the mesh.
    #[arg(long, requires = "direct")]
    pub no_mesh: bool,
    /// A serviceB address, for `--no-mesh`. May be repeated: calls go to each in turn.
    #[arg(long)]
    pub direct: Vec<SocketAddr>,
    /// The admin server.
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// What `GET /counters` answers: the mesh's counters of the gRPC channel and of the HTTP
/// client (all zero without the mesh).
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Counters {
    /// The `MeshChannel`'s.
    pub grpc: MeshCounters,
    /// The `MeshHttpClient`'s.
    pub http: MeshCounters,
}

/// What `GET /call` and `GET /call-http` answer.
#[derive(Serialize, Deserialize, Debug)]
pub struct CallResult {
    /// The serviceB replica that answered.
    pub replica: String,
    /// serviceB's message.
    pub message: String,
    /// How long the call to serviceB took, in microseconds.
    pub upstream_us: u64,
    /// serviceB's SPIFFE ID, as serviceA authenticated it; absent over plaintext.
    pub server_identity: Option<String>,
    /// serviceA's SPIFFE ID, as serviceB saw it; absent over plaintext (and for HTTP calls).
    pub client_identity: Option<String>,
}

/// What one call to serviceB returned.
struct Answer {
    replica: String,
    message: String,
    server_identity: Option<String>,
    client_identity: Option<String>,
}

fn peer_of(extensions: &http::Extensions) -> Option<String> {
    extensions.get::<PeerIdentity>().map(|p| p.0.to_string())
}

/// How serviceA reaches serviceB. (Lives behind an `Arc`, so the variants' sizes don't matter.)
#[allow(clippy::large_enum_variant)]
enum Upstream {
    Mesh {
        channel: MeshChannel,
        http: MeshHttpClient,
        /// serviceB's greeting URL, checked to be a URI at startup.
        http_target: String,
    },
    Direct {
        replicas: Vec<(BClient<Channel>, http::Uri)>,
        next: AtomicUsize,
        http: hyper_util::client::legacy::Client<
            hyper_util::client::legacy::connect::HttpConnector,
            Empty<Bytes>,
        >,
    },
}

impl Upstream {
    /// Without the mesh: the next replica's gRPC client and HTTP URL, in turn.
    fn next_direct(
        replicas: &[(BClient<Channel>, http::Uri)],
        next: &AtomicUsize,
    ) -> (BClient<Channel>, http::Uri) {
        let i = next.fetch_add(1, Ordering::Relaxed) % replicas.len();
        replicas[i].clone()
    }

    async fn call_grpc(&self) -> Result<Answer, String> {
        let request = GetRequest {
            caller: "servicea".into(),
        };
        let response = match self {
            Upstream::Mesh { channel, .. } => BClient::new(channel.clone()).get(request).await,
            Upstream::Direct { replicas, next, .. } => {
                Self::next_direct(replicas, next).0.get(request).await
            }
        }
        .map_err(|status| format!("gRPC {:?}: {}", status.code(), status.message()))?;
        // mesh-client puts the server's SPIFFE ID into the response after the mTLS handshake.
        let server_identity = peer_of(response.extensions());
        let reply = response.into_inner();
        Ok(Answer {
            replica: reply.replica,
            message: reply.message,
            server_identity,
            client_identity: Some(reply.peer).filter(|p| !p.is_empty()),
        })
    }

    async fn call_http(&self) -> Result<Answer, String> {
        let (status, server_identity, body) = match self {
            Upstream::Mesh {
                http, http_target, ..
            } => read(http.get(http_target).await).await?,
            Upstream::Direct {
                replicas,
                next,
                http,
            } => read(http.get(Self::next_direct(replicas, next).1).await).await?,
        };
        let text = String::from_utf8_lossy(&body).trim().to_string();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {text}"));
        }
        let replica = text.rsplit(' ').next().unwrap_or_default().to_string();
        Ok(Answer {
            replica,
            message: text,
            server_identity,
            client_identity: None,
        })
    }
}

/// The status, the server's identity and the body of an HTTP response.
async fn read<B, E>(
    response: Result<http::Response<B>, E>,
) -> Result<(StatusCode, Option<String>, Bytes), String>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
    E: std::fmt::Display,
{
    let response = response.map_err(|e| e.to_string())?;
    let status = response.status();
    let server_identity = peer_of(response.extensions());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, server_identity, body))
}

async fn counters(State(upstream): State<Arc<Upstream>>) -> Json<Counters> {
    Json(match &*upstream {
        Upstream::Mesh { channel, http, .. } => Counters {
            grpc: channel.counters().into(),
            http: http.counters().into(),
        },
        Upstream::Direct { .. } => Counters::default(),
    })
}

async fn call(
    State(upstream): State<Arc<Upstream>>,
) -> Result<Json<CallResult>, (StatusCode, String)> {
    timed(upstream.call_grpc()).await
}

async fn call_http(
    State(upstream): State<Arc<Upstream>>,
) -> Result<Json<CallResult>, (StatusCode, String)> {
    timed(upstream.call_http()).await
}

async fn timed(
    call: impl Future<Output = Result<Answer, String>>,
) -> Result<Json<CallResult>, (StatusCode, String)> {
    let start = Instant::now();
    match call.await {
        Ok(answer) => {
            static FIRST: std::sync::Once = std::sync::Once::new();
            FIRST.call_once(|| match &answer.server_identity {
                Some(server) => tracing::info!(
                    "first call to serviceB: mTLS, server {server}, which saw us as {}",
                    answer
                        .client_identity
                        .as_deref()
                        .unwrap_or("(not reported)")
                ),
                None => tracing::info!("first call to serviceB: plaintext, no peer identity"),
            });
            Ok(Json(CallResult {
                upstream_us: start.elapsed().as_micros() as u64,
                replica: answer.replica,
                message: answer.message,
                server_identity: answer.server_identity,
                client_identity: answer.client_identity,
            }))
        }
        Err(error) => {
            tracing::warn!(%error, "call to serviceB failed");
            Err((StatusCode::BAD_GATEWAY, format!("{error}\n")))
        }
    }
}

/// `uri`, once it is known to parse as a URI.
fn checked_uri(uri: String) -> anyhow::Result<String> {
    uri.parse::<http::Uri>()?;
    Ok(uri)
}

/// Runs serviceA until SIGINT or SIGTERM.
pub async fn run(args: ServiceAArgs) -> anyhow::Result<()> {
    let mut admin_parts = AdminParts::default();
    let upstream = if args.no_mesh {
        let mut replicas = Vec::new();
        for addr in &args.direct {
            let channel = Channel::from_shared(format!("http://{addr}"))?.connect_lazy();
            replicas.push((
                BClient::new(channel),
                format!("http://{addr}/hello").parse()?,
            ));
        }
        Upstream::Direct {
            replicas,
            next: AtomicUsize::new(0),
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
        }
    } else {
        let bootstrap = Bootstrap::from_env()?;
        let xds = XdsClient::builder().bootstrap(bootstrap.clone()).build()?;
        let mut builder = MeshChannel::builder();
        if let Some(identity) = crate::service_b::identity(&bootstrap).await? {
            builder = builder.identity(identity);
        }
        admin_parts = AdminParts {
            ready: Some(readiness(&xds, &args.target)?),
            xds: Some(xds.clone()),
        };
        Upstream::Mesh {
            channel: builder.channel(&xds, &args.target)?,
            http: builder.http_client(&xds),
            http_target: checked_uri(args.http_target)?,
        }
    };
    let app = Router::new()
        .route("/call", get(call))
        .route("/call-http", get(call_http))
        .route("/counters", get(counters))
        .with_state(Arc::new(upstream));
    let _admin = admin::start("servicea", &args.admin, admin_parts).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("servicea listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::service_b::shutdown_signal())
        .await?;
    Ok(())
}
