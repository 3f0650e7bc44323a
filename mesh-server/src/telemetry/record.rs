//! The record of one request: opened when it arrives, written when its response ends (or the
//! caller drops it): the span's status, the access-log event and the metrics.

use std::net::SocketAddr;
use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, StatusCode};
use mesh_core::identity::PeerIdentity;
use mesh_core::telemetry::{ACCESS_LOG_TARGET, trace};
use tokio::time::Instant;
use tracing::{Level, Span};

use super::labels::{Protocol, Status, method_label};
use super::metrics::{ConnectionMetrics, ServerMetrics};
use crate::respond::is_grpc;

/// What the requests of one connection share: who the caller is and the metric handles.
#[derive(Debug)]
pub(crate) struct Connection {
    metrics: Option<ConnectionMetrics>,
    remote: SocketAddr,
    peer: Option<PeerIdentity>,
    mtls: bool,
}

impl Connection {
    /// A connection from `remote`, over mTLS or not, from `peer` (`None`: no SPIFFE ID);
    /// counted in `metrics`, if any.
    pub(crate) fn new(
        metrics: Option<&ServerMetrics>,
        remote: SocketAddr,
        mtls: bool,
        peer: Option<PeerIdentity>,
    ) -> Self {
        Self {
            metrics: metrics.map(|metrics| metrics.connection(mtls, peer.as_ref())),
            remote,
            peer,
            mtls,
        }
    }

    /// The caller's SPIFFE ID, `-` when there is none.
    pub(crate) fn peer(&self) -> &str {
        self.peer.as_ref().map_or("-", PeerIdentity::as_str)
    }
}

/// One request on its way; written when dropped.
#[derive(Debug)]
pub(crate) struct Record {
    connection: Arc<Connection>,
    /// The request's `mesh.server` span, kept open until the response ends.
    pub(crate) span: Span,
    /// Whether to write the access-log event.
    log: bool,
    /// When the request arrived; read only for the metrics or the access log.
    started: Option<Instant>,
    protocol: Protocol,
    method: Method,
    path: PathAndQuery,
    status: Option<Status>,
}

impl Record {
    /// Opens the record of `request`, or `None` when nothing would be written: no metrics, the
    /// access log off and `span` disabled.
    pub(crate) fn start<B>(
        connection: &Arc<Connection>,
        request: &Request<B>,
        span: Span,
    ) -> Option<Record> {
        let log = tracing::enabled!(target: ACCESS_LOG_TARGET, Level::INFO);
        if connection.metrics.is_none() && !log && span.is_disabled() {
            return None;
        }
        if let Some(metrics) = &connection.metrics {
            metrics.started();
        }
        let protocol = if is_grpc(request.headers()) {
            Protocol::Grpc
        } else {
            Protocol::Http
        };
        Some(Record {
            connection: Arc::clone(connection),
            span,
            log,
            started: (log || connection.metrics.is_some()).then(Instant::now),
            protocol,
            method: request.method().clone(),
            path: request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            status: None,
        })
    }

    /// The response head went out: its status, or for gRPC the trailers-only status if any.
    pub(crate) fn responded(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.status = Status::of_head(self.protocol, status, headers);
    }

    /// The response ended, with `trailers` if it has some.
    pub(crate) fn ended(mut self, trailers: Option<&HeaderMap>) {
        if let Some(status) = trailers.and_then(Status::of_trailers) {
            self.status = Some(status);
        }
        self.status.get_or_insert(Status::MISSING);
    }

    /// The call failed without a status: the application returned an error or the response
    /// body broke off.
    pub(crate) fn failed(mut self) {
        self.status = Some(Status::Error);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // Without a status the caller went away first: CANCELLED for gRPC; an HTTP request
        // that got no response is an error (one that got a head has its status).
        let status = self.status.unwrap_or(match self.protocol {
            Protocol::Grpc => Status::CANCELLED,
            Protocol::Http => Status::Error,
        });
        // Fields of a span the sampler dropped are never exported: skip recording them.
        if trace::is_sampled(&self.span) {
            self.span.record("status", tracing::field::display(status));
            if status.is_error() {
                self.span.record("otel.status_code", "ERROR");
            }
        }
        let elapsed = self.started.map(|started| started.elapsed());
        if let (true, Some(elapsed)) = (self.log, elapsed) {
            let connection = &self.connection;
            let trace_id = trace::trace_id(&self.span);
            let _entered = self.span.enter();
            tracing::info!(
                target: ACCESS_LOG_TARGET,
                side = "server",
                method = %self.method,
                path = self.path.path(),
                status = %status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                peer = connection.peer(),
                mtls = connection.mtls,
                remote = %connection.remote,
                trace_id = trace_id.map(tracing::field::display),
                "request"
            );
        }
        if let (Some(metrics), Some(elapsed)) = (&self.connection.metrics, elapsed) {
            let method = method_label(self.protocol, &self.path, &self.method, status);
            metrics.ended(self.protocol, method, status, elapsed);
        }
    }
}
