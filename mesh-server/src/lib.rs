//! The inbound side of the proxyless mesh: serve tonic services and axum/hyper routers as a
//! meshed server that registers itself with mesh-control.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_core::bootstrap::Bootstrap;
//! use mesh_server::MeshServer;
//!
//! let app = tower::service_fn(|_: http::Request<hyper::body::Incoming>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let server = MeshServer::builder()
//!     .bootstrap(Bootstrap::from_env()?)
//!     .register("serviceb.demo:8080")
//!     .bind("127.0.0.1:8080")
//!     .await?;
//! server.serve(app, async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await?;
//! # Ok(()) }
//! ```
//!
//! [`MeshServerBuilder::bind`] binds the port and starts an xDS client whose node metadata
//! registers the server as an endpoint of each registered service; [`MeshServer::serve`] serves
//! HTTP/1.1 and h2c on that port until shutdown, then drains (see below): it drops the xDS
//! client, which deregisters the server. Without a bootstrap it is a plain server.
//!
//! # The inbound stack
//!
//! Every request goes through the same layers, in this order, before the application:
//!
//! 1. the caller's identity ([`PeerIdentity`](mesh_core::identity::PeerIdentity), from mTLS);
//! 2. its [telemetry](#telemetry): metrics, a span, an access-log line;
//! 3. its [`Deadline`];
//! 4. health checks and `/ready`, answered by the server itself (see below);
//! 5. the [authorization](authz) ([`AuthzLayer`]): who may call what, PERMISSION_DENIED / 403;
//! 6. the [rate limit](rate_limit) ([`RateLimitLayer`]): a token bucket per server,
//!    RESOURCE_EXHAUSTED / 429 with a retry hint.
//!
//! The policies come from the server's inbound xDS listener (mesh-control's
//! `AuthorizationPolicy` and `RateLimitPolicy`); a new version applies to the next call, without
//! a restart and without touching calls in flight. Each layer is a plain tower layer, usable on
//! its own with a fixed policy or a `watch` channel of [`InboundPolicy`].
//! [`MeshServer::handle`] gives the server's counters ([`ServerCounterSnapshot`]: requests,
//! denied, rate limited).
//!
//! # Health
//!
//! The same port serves `grpc.health.v1.Health` (the overall status, service `""`) and
//! `GET /ready`: `SERVING` / `200` once the inbound config is in force (at once without xDS),
//! `NOT_SERVING` / `503` before that and while draining. Neither goes through the authorization
//! or the rate limit, nor is counted in [`ServerCounterSnapshot`] (the metrics do count them).
//!
//! # Telemetry
//!
//! Every request the server answers (served, denied, rate limited, past its deadline, and
//! health checks) is recorded when its response ends:
//!
//! - **Metrics**, in the registry given to [`MeshServerBuilder::metrics`] (default
//!   [`Metrics::global`](mesh_core::telemetry::Metrics::global); none with
//!   [`MeshServerBuilder::without_metrics`]):
//!   `mesh_server_requests_total{protocol,method,peer,status}`,
//!   `mesh_server_request_duration_seconds{protocol,method,status}` (histogram),
//!   `mesh_server_requests_in_flight`, `mesh_server_denied_total{peer,rule}` (`rule="default"`
//!   for the default action), `mesh_server_rate_limited_total` and
//!   `mesh_server_connections_total{tls,result}` (`result` is `accepted`, or `refused` at the
//!   mTLS handshake). `protocol` is `grpc` or `http`; `method` the gRPC
//!   full method (`/demo.ServiceB/Get`) or the HTTP method (`GET`), and `other` for gRPC
//!   calls the mesh may have answered itself (CANCELLED, DEADLINE_EXCEEDED,
//!   PERMISSION_DENIED, RESOURCE_EXHAUSTED, UNIMPLEMENTED, `error`) and non-standard HTTP
//!   methods, so that callers cannot create series without end; `peer` the caller's SPIFFE
//!   ID, `""` over plaintext; `status` the gRPC status code (`"0"`..`"16"`, `"1"` when the caller
//!   went away first), the HTTP status (`"200"`), or `"error"` when the application failed
//!   without an answer or an HTTP caller went away before it. The server's own
//!   [counters](ServerHandle::counters) are recorded by the same calls, so the two agree.
//! - **A span** `mesh.server` under [`SPAN_TARGET`](mesh_core::telemetry::trace::SPAN_TARGET)
//!   (fields `method`, `path`, `peer`, `status`; OpenTelemetry kind server, status `ERROR`
//!   when the call failed). A request with a W3C `traceparent` joins the
//!   caller's trace, and the handler runs inside the span, so the calls it makes through
//!   `mesh-client` are its children.
//! - **An access-log event** at INFO under
//!   [`ACCESS_LOG_TARGET`](mesh_core::telemetry::ACCESS_LOG_TARGET) (`mesh::access`), with
//!   `side="server"`, `method`, `path`, `status`, `latency_ms`, `peer` (SPIFFE ID or `-`),
//!   `mtls`, `remote` (the client's address) and `trace_id` (hex, when the span is exported).
//!
//! The span and the access log follow the `tracing` subscriber's filter (e.g.
//! `RUST_LOG=mesh::access=info`); what it filters out costs nothing but the check.
//!
//! # Drain
//!
//! At shutdown, or when mesh-control removes the server's inbound listener, the server drains,
//! logging each step: health says `NOT_SERVING` and the server leaves EDS (the ADS stream ends,
//! mesh-control removes its endpoints); it keeps serving for the
//! [drain delay](MeshServerBuilder::drain_delay) (default [`DEFAULT_DRAIN_DELAY`], 1 s) while
//! clients move to other endpoints; then it stops accepting, sends HTTP/2 GOAWAY and lets the
//! calls in flight finish, up to the [shutdown timeout](MeshServerBuilder::shutdown_timeout)
//! (default 30 s). A removed listener ends [`MeshServer::serve`] like a shutdown.
//!
//! # mTLS and the peer's identity
//!
//! Give the server an [`Identity`](mesh_core::identity::Identity) with
//! [`MeshServerBuilder::identity`] and it serves mTLS in the mode its inbound xDS listener says
//! (STRICT, PERMISSIVE or PLAINTEXT; STRICT without xDS). HTTP/1.1 and HTTP/2 share the port
//! over TLS too. Every request that came over mTLS carries the client's SPIFFE ID as a
//! [`PeerIdentity`](mesh_core::identity::PeerIdentity) in its extensions; plaintext requests
//! carry none:
//!
//! ```
//! use mesh_core::identity::PeerIdentity;
//!
//! fn caller<B>(req: &http::Request<B>) -> &str {
//!     match req.extensions().get::<PeerIdentity>() {
//!         // Rendered once per connection: spiffe://cluster.local/ns/demo/sa/servicea
//!         Some(peer) => peer.as_str(),
//!         None => "anonymous (plaintext)",
//!     }
//! }
//! ```
//!
//! In a tonic handler: `request.extensions().get::<PeerIdentity>()`.
//!
//! A connection the mode refuses (plaintext in STRICT, a failed handshake, a certificate not
//! from the mesh's CA) is closed and logged at `warn`, one line each, with the peer address and
//! the reason.
//!
//! # Deadlines
//!
//! Every request runs under its caller's deadline (`grpc-timeout`, or `mesh-timeout` for HTTP):
//! calls the handler makes through `mesh-client` are bounded by what is left of it, and a
//! request still unanswered when it passes gets `DEADLINE_EXCEEDED` (gRPC) or `504` (HTTP).
//! See [`deadline`]; the same layer, [`DeadlineLayer`], works on any tower service.

mod accept;
pub mod authz;
mod body;
mod builder;
mod connections;
mod counters;
pub mod deadline;
mod error;
mod health;
mod inbound;
mod peer;
mod policy;
pub mod rate_limit;
mod respond;
mod server;
mod telemetry;

pub use authz::{Authz, AuthzLayer};
pub use builder::{DEFAULT_DRAIN_DELAY, DEFAULT_SHUTDOWN_TIMEOUT, MeshServerBuilder};
pub use counters::ServerCounterSnapshot;
pub use deadline::{Deadline, DeadlineLayer};
pub use error::Error;
pub use policy::InboundPolicy;
pub use rate_limit::{RateLimit, RateLimitLayer};
pub use server::{MeshServer, ServerHandle};
/// A boxed error, as tower services and bodies use.
pub use tower::BoxError;
