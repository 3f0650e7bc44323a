//! The outbound side of the proxyless mesh: gRPC and HTTP clients whose targets are resolved,
//! routed and balanced from xDS, inside the application.
//!
//! # With a tonic client
//!
//! ```no_run
//! # mod pb { pub mod demo_client { pub struct DemoClient<T>(T);
//! #   impl<T> DemoClient<T> { pub fn new(t: T) -> Self { Self(t) } } } }
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_client::MeshChannel;
//! use mesh_core::xds::XdsClient;
//!
//! // Finds mesh-control through GRPC_XDS_BOOTSTRAP (or GRPC_XDS_BOOTSTRAP_CONFIG).
//! let xds = XdsClient::from_env()?;
//! let channel = MeshChannel::new(&xds, "xds:///serviceb.demo:50051")?;
//! let mut client = pb::demo_client::DemoClient::new(channel);
//! # Ok(()) }
//! ```
//!
//! For plain HTTP, [`MeshHttpClient`] takes URIs such as `http://serviceb.demo:8080/items`.
//!
//! # mTLS
//!
//! Give the client the workload's [`Identity`](mesh_core::identity::Identity) with
//! [`Builder::identity`]: clusters whose xDS config asks for mTLS are then reached over mTLS,
//! verifying the server by the SPIFFE IDs the cluster names (not by DNS name). The server's
//! identity comes back in the response extensions as a
//! [`PeerIdentity`](mesh_core::identity::PeerIdentity):
//! `response.extensions().get::<PeerIdentity>()`. Without an identity, requests to such a
//! cluster fail with [`Error::NoIdentity`]; the mesh never falls back to plaintext.
//!
//! # The stack
//!
//! Each request goes down one stack (see `stack.rs`), one module per concern:
//!
//! 1. resolution: the target's route table, kept current by a background task per target that
//!    follows Listener -> RouteConfiguration -> Clusters -> ClusterLoadAssignments;
//! 2. `route`: the first matching route of the virtual host serving the target, then one of its
//!    clusters by weight; the request counts towards that cluster's retry budget;
//! 3. the route's policies, set in mesh-control's YAML and carried over xDS as gRPC carries
//!    them (a route without any takes a fast path that skips this stage):
//!    - `fault`: injected delays and aborts, by share and request headers (gRFC A33);
//!    - `timeout`: the call's deadline, the earliest of the route's timeout, the caller's
//!      `grpc-timeout` (`mesh-timeout` for HTTP) and the deadline of the request being served
//!      ([`mesh_core::deadline`], set by mesh-server). Each attempt carries the time left in
//!      that header; a call past its deadline fails with [`Error::DeadlineExceeded`] and is
//!      never retried;
//!    - `retry`: retries on the gRPC statuses, HTTP statuses and connection failures the route
//!      names (gRFC A44), up to its attempts, each after a random exponential backoff, on
//!      another endpoint than those already tried, within the cluster's retry budget. Only a
//!      request that surely did not run is retried as a connection failure (no connection, or
//!      refused by HTTP/2); an attempt with no response within the per-try timeout is retried
//!      only if the policy names DEADLINE_EXCEEDED (gRPC) or 504 (HTTP). Request bodies are
//!      kept for retries up to 64 KiB if complete at once; larger or streaming bodies are sent
//!      once. Retries carry `grpc-previous-rpc-attempts`, as does the response after one;
//! 4. `balance`: the cluster's circuit breaker (a slot per call, held until the response body
//!    ends; overflow fails at once with [`Error::CircuitBreakerOpen`]), then the endpoint for
//!    each attempt by the cluster's policy (P2C peak-EWMA by default, P2C least request, round
//!    robin or ring hash), skipping endpoints ejected by outlier detection;
//! 5. `connect`: a pooled HTTP/2 (gRPC) or HTTP/1.1 connection to the chosen endpoint, over
//!    mTLS when the cluster says so; each attempt's outcome is reported to its endpoint.
//!
//! [`MeshChannel::counters`] and [`MeshHttpClient::counters`] say what the policies did:
//! attempts, retries, spent budgets, breaker overflows, ejections and injected faults.
//!
//! If mesh-control becomes unreachable, the last configuration stays in force.
//!
//! # Telemetry
//!
//! A call is over when its response body ends (or fails, or is dropped), or when it fails
//! without a response; that is when it is counted, timed, logged and its span closed.
//!
//! **Metrics** go to the [`Metrics`](mesh_core::telemetry::Metrics) registry of
//! [`Builder::metrics`] (the process's by default; [`Builder::without_metrics`] for none):
//!
//! | metric | labels |
//! |---|---|
//! | `mesh_client_requests_total` | `protocol`, `route`, `cluster`, `peer`, `status` |
//! | `mesh_client_request_duration_seconds` (histogram) | `protocol`, `route`, `cluster`, `status` |
//! | `mesh_client_requests_in_flight` | `route`, `cluster` |
//! | `mesh_client_attempts_total`, `mesh_client_retries_total`, `mesh_client_retry_budget_exhausted_total`, `mesh_client_circuit_breaker_overflows_total`, `mesh_client_outlier_ejections_total` | `cluster` |
//! | `mesh_client_faults_injected_total` | `route`, `kind` (`delay` or `abort`) |
//!
//! `protocol` is `grpc` ([`MeshChannel`]) or `http` ([`MeshHttpClient`]). `status` is the gRPC
//! status code (`"0"` to `"16"`) from the trailers, a trailers-only response or the code the
//! mesh's own [`Error`] maps to (`"1"`, CANCELLED, for a call dropped before its end; the code
//! gRPC maps a non-200 HTTP status to, for a response without `grpc-status`); for HTTP the
//! response status, or `error` for a call that got no response or whose response body broke.
//! `peer` is the server's SPIFFE ID over mTLS, empty over plaintext. `route` is the route's
//! name, `<virtual host>/<index>` for an unnamed one; a call that fails before it is routed
//! (an HTTP URI naming no service included) has `route` and `cluster` `-`.
//!
//! **Access logs**: one INFO event per call under the target
//! [`mesh::access`](mesh_core::telemetry::ACCESS_LOG_TARGET), with the fields `side`
//! (`client`), `method`, `path`, `status`, `latency_ms`, `peer` (or `-`), `mtls`, `route`,
//! `cluster`, `upstream` (the endpoint of the last attempt, or `-` if none was sent) and
//! `attempts` (the attempts sent, retries included; 0 when none was, for an injected abort or
//! a call refused before). Off unless the subscriber's filter enables that target.
//!
//! **Traces**: one `mesh.client` span per call under
//! [`SPAN_TARGET`](mesh_core::telemetry::trace::SPAN_TARGET), with the fields `route`,
//! `cluster`, `endpoint`, `attempt`, `peer` and `status` recorded as they become known,
//! `otel.kind` `client`, and `otel.status_code` `ERROR` for a call that failed (`error`, a 5xx,
//! or gRPC UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS or
//! UNAUTHENTICATED). When a subscriber records it (the OpenTelemetry layer), every attempt
//! carries its W3C `traceparent`, so the server's span joins the same trace. When none does,
//! the span is disabled and costs nothing; the attempts then carry the trace context of the
//! caller's current span, if a subscriber records that one.

mod balance;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
mod body;
mod builder;
mod channel;
mod connect;
mod counters;
mod error;
mod fault;
mod future;
mod http_client;
mod resolve;
mod retry;
mod route;
mod stack;
mod target;
mod telemetry;
mod timeout;

pub use body::ResponseBody;
pub use builder::{Builder, DEFAULT_CONFIG_TIMEOUT};
pub use channel::MeshChannel;
pub use counters::CounterSnapshot;
pub use error::Error;
pub use future::ResponseFuture;
pub use http_client::MeshHttpClient;

/// A boxed error, as request bodies and tower services use.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
