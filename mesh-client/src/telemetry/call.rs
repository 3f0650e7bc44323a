//! [`CallTelemetry`]: what the client records of one call, from its start to its end.

use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Response};
use mesh_core::identity::PeerIdentity;
use mesh_core::model::grpc_code_of_http_status;
use mesh_core::telemetry::ACCESS_LOG_TARGET;
use mesh_core::telemetry::trace::{self, SPAN_TARGET};
use tokio::time::Instant;
use tracing::Span;
use tracing::field::{Empty, display};

use super::{ClientMetrics, Peer, RouteSeries, SeriesSlot, Status, UNROUTED, series};
use crate::connect::Caller;
use crate::retry::GRPC_STATUS;
use crate::{Error, ResponseBody};

/// One call's span, metrics and access log, recorded once, when the call is over: at the end
/// of its response body, at its error, or when the caller drops it.
pub(crate) struct CallTelemetry {
    span: Span,
    /// Whether the span is exported: its late fields are recorded only then, since recording
    /// them into a span the sampler dropped costs as much and shows nowhere.
    sampled: bool,
    caller: Caller,
    metrics: Option<ClientMetrics>,
    /// When the call started; read only if metrics or the access log want the latency.
    start: Option<Instant>,
    /// The request's method and path, kept only when the access log is on.
    request: Option<(Method, Option<PathAndQuery>)>,
    /// The route and cluster, once routed.
    routed: Option<(Arc<str>, Arc<str>)>,
    /// The series of the route and cluster, once routed, if the client exports metrics; the
    /// call counts in flight there meanwhile.
    series: Option<Arc<RouteSeries>>,
    /// The endpoint of the last attempt sent.
    upstream: Option<SocketAddr>,
    /// The attempts sent to an endpoint.
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
        let span = tracing::info_span!(target: SPAN_TARGET, "mesh.client", otel.kind = "client",
            route = Empty, cluster = Empty, endpoint = Empty, attempt = Empty, peer = Empty,
            status = Empty, otel.status_code = Empty);
        let sampled = trace::is_sampled(&span);
        let log = tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO);
        let request = log.then(|| {
            let path = request.uri().path_and_query().cloned();
            (request.method().clone(), path)
        });
        Self {
            span,
            sampled,
            caller,
            metrics: metrics.cloned(),
            start: (log || metrics.is_some()).then(Instant::now),
            request,
            routed: None,
            series: None,
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

    /// The call took `route` to `cluster`, whose series `slot` keeps: it counts in flight
    /// there until it is over.
    pub(crate) fn routed(&mut self, route: &Arc<str>, cluster: &Arc<str>, slot: &SeriesSlot) {
        if self.sampled {
            self.span.record("route", display(route));
            self.span.record("cluster", display(cluster));
        }
        if let Some(metrics) = &self.metrics {
            let series = slot.get(metrics, route, cluster);
            series.in_flight().inc();
            self.series = Some(Arc::clone(series));
        }
        self.routed = Some((Arc::clone(route), Arc::clone(cluster)));
    }

    /// Attempt number `attempts + 1` goes to `endpoint` with `headers`: they carry the trace
    /// context of the call's span (sampled or not, so the server follows the decision), or of
    /// the caller's current span if the call's is off.
    pub(crate) fn attempted(&mut self, endpoint: SocketAddr, headers: &mut HeaderMap) {
        self.attempts = self.attempts.saturating_add(1);
        self.upstream = Some(endpoint);
        if self.span.is_disabled() {
            trace::inject(&Span::current(), headers);
        } else {
            if self.sampled {
                self.span.record("endpoint", display(endpoint));
                self.span.record("attempt", self.attempts);
            }
            trace::inject(&self.span, headers);
        }
    }

    /// Hands `result`, the outcome of the call up to its response head, back to the caller:
    /// a response's body records the call when it ends, an error is recorded now.
    pub(crate) fn finish(
        mut self,
        result: Result<Response<ResponseBody>, Error>,
    ) -> Result<Response<ResponseBody>, Error> {
        match result {
            Ok(mut response) => {
                self.responded(&response);
                response.body_mut().observe(self);
                Ok(response)
            }
            Err(error) => {
                self.failed(&error);
                Err(error)
            }
        }
    }

    /// The response head came: from the last attempt's endpoint, or from the mesh itself if
    /// no attempt was sent (an injected abort).
    fn responded<B>(&mut self, response: &Response<B>) {
        let headers = response.headers();
        let peer = response.extensions().get::<PeerIdentity>();
        self.peer = Peer(peer.map(|p| Arc::clone(&p.0)));
        let status = response.status();
        self.status = match (self.caller, headers.get(GRPC_STATUS)) {
            (Caller::Http, _) => Some(Status::Code(status.as_u16())),
            // A trailers-only response carries its status in the head.
            (Caller::Grpc, Some(grpc_status)) => Some(Status::of_grpc(grpc_status)),
            // A gRPC call answered by a non-200 HTTP status without one ends with the code
            // that status maps to (as gRPC does), whatever its body says.
            (Caller::Grpc, None) if status != http::StatusCode::OK => Some(Status::Code(
                grpc_code_of_http_status(status.as_u16()) as u16,
            )),
            (Caller::Grpc, None) => None,
        };
    }

    /// The trailers of a gRPC response came.
    pub(crate) fn trailers(&mut self, trailers: &HeaderMap) {
        if let (Caller::Grpc, Some(status)) = (self.caller, trailers.get(GRPC_STATUS)) {
            self.status = Some(Status::of_grpc(status));
        }
    }

    /// The call failed with `error` before a response came.
    fn failed(&mut self, error: &Error) {
        self.status = Some(match self.caller {
            Caller::Grpc => Status::Code(error.grpc_code() as u16),
            Caller::Http => Status::Error,
        });
    }

    /// The response body ended, `broken` if with an error: the call is over. A broken body
    /// fails an HTTP call (`error`) and a gRPC call whose status had not come (UNAVAILABLE).
    pub(crate) fn ended(mut self, broken: bool) {
        self.status = match (self.caller, self.status, broken) {
            (Caller::Http, _, true) => Some(Status::Error),
            (Caller::Grpc, None, true) => Some(Status::UNAVAILABLE),
            (Caller::Grpc, None, false) => Some(Status::UNKNOWN),
            (_, status, _) => status,
        };
        self.record();
    }

    fn protocol(&self) -> &'static str {
        match self.caller {
            Caller::Grpc => "grpc",
            Caller::Http => "http",
        }
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
        let protocol = self.protocol();
        let latency = self.start.map(|start| start.elapsed().as_secs_f64());
        if self.sampled {
            self.span.record("status", display(status));
            if let Some(id) = &self.peer.0 {
                self.span.record("peer", display(id));
            }
            if status.is_error(protocol) {
                self.span.record("otel.status_code", "ERROR");
            }
        }
        if let Some(series) = &self.series {
            series.in_flight().dec();
        }
        if let (Some(metrics), Some(latency)) = (&self.metrics, latency) {
            match &self.series {
                Some(series) => series.count(protocol, &self.peer, status, latency),
                None => {
                    let (requests, duration) =
                        series::labels(protocol, &UNROUTED, &UNROUTED, &self.peer, status);
                    metrics.count(&requests, &duration, latency);
                }
            }
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

    fn log(&self, method: &Method, path: &str, status: Status, latency: f64) {
        let dash: &dyn Display = &"-";
        let peer: &dyn Display = self.peer.0.as_ref().map_or(dash, |id| id as &dyn Display);
        let upstream: &dyn Display = self.upstream.as_ref().map_or(dash, |a| a as &dyn Display);
        let (route, cluster) = self.routed.as_ref().map_or(("-", "-"), |(r, c)| (r, c));
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
