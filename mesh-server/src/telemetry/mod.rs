//! Telemetry of inbound requests: metrics, a span and an access-log line for each.
//!
//! [`Telemetry`] sits right under the layer that names the caller, so it sees every request the
//! server answers: served, denied, rate limited, past its deadline, and health checks and
//! `/ready` too. It opens the request's record when the request arrives and writes it when the
//! response body ends (or fails, or the caller drops it):
//!
//! - **metrics** ([`Metrics`](mesh_core::telemetry::Metrics), unless the server was built
//!   [without](crate::MeshServerBuilder::without_metrics)):
//!   `mesh_server_requests_total{protocol,method,peer,status}`,
//!   `mesh_server_request_duration_seconds{protocol,method,status}` and
//!   `mesh_server_requests_in_flight`; `mesh_server_connections_total{tls,result}` per
//!   connection accepted or refused at the mTLS handshake. The status is the gRPC status code
//!   (from the trailers, or the head of a trailers-only response), the HTTP status for HTTP,
//!   or `error` when the call failed without one; a gRPC call the caller abandoned is `1`
//!   (CANCELLED), an HTTP one abandoned before its response `error`. The method of a gRPC
//!   call the mesh may have answered itself (statuses 1, 4, 7, 8, 12 and `error`) is `other`,
//!   as is a non-standard HTTP method, so that callers cannot add series at will. Each
//!   connection keeps the series its requests recorded in, so a request records with no label
//!   lookup or allocation.
//! - **a span** `mesh.server` (target [`SPAN_TARGET`](mesh_core::telemetry::trace::SPAN_TARGET),
//!   fields `method`, `path`, `peer`, `status`; OpenTelemetry kind server, status `ERROR` for
//!   `error`, HTTP 5xx and gRPC 2, 4, 12, 13, 14, 15, 16), child of the caller's span when the
//!   request carries a `traceparent`; the application's handler runs inside it, so the calls
//!   it makes through the mesh client continue the trace. The server follows the caller's
//!   sampling decision: a request whose `traceparent` is not sampled gets no span at all (a
//!   parent-based sampler, OpenTelemetry's default, would drop it), and the late fields
//!   (`status`, `otel.status_code`) are recorded only on spans the sampler keeps, so an
//!   unsampled request pays for no span machinery beyond its creation.
//! - **an access-log event** at INFO, target
//!   [`ACCESS_LOG_TARGET`](mesh_core::telemetry::ACCESS_LOG_TARGET), with `side="server"`,
//!   `method`, `path`, `status`, `latency_ms`, `peer` (SPIFFE ID or `-`), `mtls`, `remote`,
//!   and `trace_id` (hex) when the span is recorded by OpenTelemetry.
//!
//! The span and the log are governed by the `tracing` subscriber's filter; with them filtered
//! out and no metrics, a request costs only the check that they are.

mod body;
mod labels;
mod metrics;
mod record;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use mesh_core::telemetry::trace::{self, SPAN_TARGET};
use pin_project_lite::pin_project;
use tracing::Span;

pub(crate) use body::TelemetryBody;
pub(crate) use metrics::ServerMetrics;
pub(crate) use record::Connection;
use record::Record;

/// Records every request of one connection; see the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct Telemetry<S> {
    inner: S,
    connection: Arc<Connection>,
}

impl<S> Telemetry<S> {
    /// Records the requests `inner` serves on `connection`.
    pub(crate) fn new(inner: S, connection: Connection) -> Self {
        Self {
            inner,
            connection: Arc::new(connection),
        }
    }
}

impl<S, B, ReqBody> tower::Service<Request<ReqBody>> for Telemetry<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>>,
    B: http_body::Body,
{
    type Response = Response<TelemetryBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The server follows its caller's sampling decision: a parent-based sampler (the
        // default) would drop this span anyway, so an unsampled caller's request opens none.
        let span = if trace::parent_not_sampled(request.headers()) {
            Span::none()
        } else {
            let span = tracing::info_span!(
                target: SPAN_TARGET,
                "mesh.server",
                method = %request.method(),
                path = request.uri().path(),
                peer = self.connection.peer(),
                status = tracing::field::Empty,
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
            );
            trace::set_parent(&span, request.headers());
            span
        };
        let record = Record::start(&self.connection, &request, span);
        let inner = match &record {
            Some(record) => record.span.in_scope(|| self.inner.call(request)),
            None => self.inner.call(request),
        };
        ResponseFuture { inner, record }
    }
}

pin_project! {
    /// The response future of [`Telemetry`]: the handler's, run inside the request's span.
    pub(crate) struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<Record>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<TelemetryBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled = match this.record {
            Some(record) => record.span.in_scope(|| inner.poll(cx)),
            None => inner.poll(cx),
        };
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        let mut record = this.record.take();
        match result {
            Ok(response) => {
                if let Some(record) = &mut record {
                    record.responded(response.status(), response.headers());
                }
                // A response without a body (a refusal, trailers-only) ends with its head.
                if response.body().is_end_stream()
                    && let Some(record) = record.take()
                {
                    record.ended(None);
                }
                Poll::Ready(Ok(response.map(|body| TelemetryBody::new(body, record))))
            }
            Err(error) => {
                if let Some(record) = record {
                    record.failed();
                }
                Poll::Ready(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests;
