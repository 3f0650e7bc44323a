//! [`CallTelemetry`]: what the client records of one call, from its start to its end.

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Response};
use mesh_core::identity::PeerIdentity;
use mesh_core::telemetry::ACCESS_LOG_TARGET;
use mesh_core::telemetry::trace::SPAN_TARGET;
use prometheus_client::metrics::gauge::Gauge;
use tracing::Span;
use tracing::field::{Empty, display};

use super::{ClientMetrics, DurationLabels, Peer, RequestLabels, RouteLabels, Status};
use crate::Error;
use crate::connect::Caller;
use crate::retry::{GRPC_STATUS, PREVIOUS_ATTEMPTS};

/// One call's span, metrics and access log, recorded once, when the call is over: at the end
/// of its response body, at its error, or when the caller drops it.
pub(crate) struct CallTelemetry {
    span: Span,
    caller: Caller,
    metrics: Option<ClientMetrics>,
    /// When the call started; read only if metrics or the access log want the latency.
    start: Option<Instant>,
    /// The request's method and path, kept only when the access log is on.
    request: Option<(Method, Option<PathAndQuery>)>,
    /// The route and cluster, once routed.
    routed: Option<(Arc<str>, Arc<str>)>,
    /// The call counted in flight.
    in_flight: Option<Gauge>,
    upstream: Option<SocketAddr>,
    attempts: u32,
    peer: Peer,
    status: Option<Status>,
    recorded: bool,
}

impl CallTelemetry {
    /// Starts observing a call of `caller` for `request`, counting into `metrics` if any.
    pub(crate) fn start<B>(
        caller: Caller,
        metrics: Option<&ClientMetrics>,
        request: &Request<B>,
    ) -> Self {
        let span = tracing::info_span!(target: SPAN_TARGET, "mesh.client", route = Empty,
            cluster = Empty, endpoint = Empty, attempt = Empty, peer = Empty, status = Empty);
        let log = tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO);
        let request = log.then(|| {
            let path = request.uri().path_and_query().cloned();
            (request.method().clone(), path)
        });
        Self {
            span,
            caller,
            metrics: metrics.cloned(),
            start: (log || metrics.is_some()).then(Instant::now),
            request,
            routed: None,
            in_flight: None,
            upstream: None,
            attempts: 0,
            peer: Peer::default(),
            status: None,
            recorded: false,
        }
    }

    /// The call's `mesh.client` span.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The call took `route` to `cluster`: it counts in flight there until it is over.
    pub(crate) fn routed(&mut self, route: &Arc<str>, cluster: &Arc<str>) {
        if !self.span.is_disabled() {
            self.span.record("route", display(route));
            self.span.record("cluster", display(cluster));
        }
        if let Some(metrics) = &self.metrics {
            let labels = RouteLabels {
                route: Arc::clone(route),
                cluster: Arc::clone(cluster),
            };
            let gauge = metrics.families().in_flight.get_or_create_owned(&labels);
            gauge.inc();
            self.in_flight = Some(gauge);
        }
        self.routed = Some((Arc::clone(route), Arc::clone(cluster)));
    }

    /// The response head came from `upstream` (none for a response the mesh made itself).
    pub(crate) fn responded<B>(&mut self, response: &Response<B>, upstream: Option<SocketAddr>) {
        let headers = response.headers();
        let previous = headers.get(PREVIOUS_ATTEMPTS).and_then(|v| v.to_str().ok());
        let previous: u32 = previous.and_then(|v| v.parse().ok()).unwrap_or(0);
        self.attempts = if upstream.is_some() { previous + 1 } else { 0 };
        self.upstream = upstream;
        let peer = response.extensions().get::<PeerIdentity>();
        self.peer = Peer(peer.map(|p| Arc::clone(&p.0)));
        self.status = match self.caller {
            Caller::Http => Some(Status::Code(response.status().as_u16())),
            // A trailers-only response carries its status in the head.
            Caller::Grpc => headers.get(GRPC_STATUS).map(Status::of_grpc),
        };
    }

    /// The trailers of a gRPC response came.
    pub(crate) fn trailers(&mut self, trailers: &HeaderMap) {
        if let (Caller::Grpc, Some(status)) = (self.caller, trailers.get(GRPC_STATUS)) {
            self.status = Some(Status::of_grpc(status));
        }
    }

    /// The call failed with `error` before a response came.
    pub(crate) fn failed(&mut self, error: &Error) {
        self.status = Some(match self.caller {
            Caller::Grpc => Status::Code(error.grpc_code() as u16),
            Caller::Http => Status::Error,
        });
    }

    /// The response body ended, `broken` if with an error: the call is over.
    pub(crate) fn ended(mut self, broken: bool) {
        if self.caller == Caller::Grpc && self.status.is_none() {
            self.status = Some(match broken {
                true => Status::UNAVAILABLE,
                false => Status::UNKNOWN,
            });
        }
        self.record();
    }

    /// Records the call with what is known of it; a call given up before its status came is
    /// CANCELLED (gRPC) or `error` (HTTP).
    fn record(&mut self) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let status = self.status.unwrap_or(match self.caller {
            Caller::Grpc => Status::CANCELLED,
            Caller::Http => Status::Error,
        });
        let latency = self.start.map(|start| start.elapsed().as_secs_f64());
        if !self.span.is_disabled() {
            self.span.record("status", display(status));
            if let Some(id) = &self.peer.0 {
                self.span.record("peer", display(id));
            }
        }
        if let Some(gauge) = &self.in_flight {
            gauge.dec();
        }
        if let (Some(metrics), Some(latency)) = (&self.metrics, latency) {
            self.count(metrics, status, latency);
        }
        if let (Some((method, path)), Some(latency)) = (&self.request, latency) {
            self.log(
                method,
                path.as_ref().map_or("/", PathAndQuery::path),
                status,
                latency,
            );
        }
    }

    fn count(&self, metrics: &ClientMetrics, status: Status, latency: f64) {
        let (route, cluster) = self
            .routed
            .clone()
            .unwrap_or_else(|| ("".into(), "".into()));
        let protocol = match self.caller {
            Caller::Grpc => "grpc",
            Caller::Http => "http",
        };
        let families = metrics.families();
        let duration = DurationLabels {
            protocol,
            route: Arc::clone(&route),
            cluster: Arc::clone(&cluster),
            status,
        };
        families.duration.get_or_create(&duration).observe(latency);
        let requests = RequestLabels {
            protocol,
            route,
            cluster,
            peer: self.peer.clone(),
            status,
        };
        families.requests.get_or_create(&requests).inc();
    }

    fn log(&self, method: &Method, path: &str, status: Status, latency: f64) {
        let dash: &dyn Display = &"-";
        let peer: &dyn Display = self.peer.0.as_ref().map_or(dash, |id| id as &dyn Display);
        let upstream: &dyn Display = self.upstream.as_ref().map_or(dash, |a| a as &dyn Display);
        let (route, cluster) = self.routed.as_ref().map_or(("", ""), |(r, c)| (r, c));
        tracing::info!(target: ACCESS_LOG_TARGET, side = "client", method = %method,
            path, status = %status, latency_ms = latency * 1e3, peer = %peer,
            mtls = self.peer.0.is_some(), route, cluster, upstream = %upstream,
            attempts = self.attempts, "call");
    }
}

impl Drop for CallTelemetry {
    fn drop(&mut self) {
        self.record();
    }
}

impl std::fmt::Debug for CallTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallTelemetry")
            .field("routed", &self.routed)
            .field("status", &self.status)
            .field("recorded", &self.recorded)
            .finish_non_exhaustive()
    }
}
