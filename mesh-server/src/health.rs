//! Health: whether the server wants calls, told to gRPC health checkers and HTTP probes.
//!
//! [`MeshServer`](crate::MeshServer) serves the standard `grpc.health.v1.Health` service and
//! `GET /ready` on its own port, ahead of the inbound policies (a health checker needs no
//! authorization and is never rate limited). The server's overall status (service name `""`) is
//! `SERVING` once its inbound config is in force (at once without xDS) and `NOT_SERVING` before
//! that and while it drains; `/ready` answers `200` when serving and `503` otherwise. Other
//! service names are unknown to the health service (`NOT_FOUND`). When the server stops
//! accepting, the health service closes: its `Watch` streams end.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::BoxError;

/// The path prefix of the gRPC health service.
const HEALTH_PATH: &str = "/grpc.health.v1.Health/";
/// The readiness probe's path.
const READY_PATH: &str = "/ready";

/// The server's health status: set by the server, read by [`HealthBypass`].
#[derive(Clone, Debug)]
pub(crate) struct Health {
    reporter: HealthReporter,
    serving: Arc<AtomicBool>,
}

impl Health {
    /// A status that starts as `NOT_SERVING`.
    pub(crate) async fn new() -> Self {
        let health = Self {
            reporter: HealthReporter::new(),
            serving: Arc::default(),
        };
        health.set(false).await;
        health
    }

    /// Sets the overall status: `SERVING` or `NOT_SERVING`.
    pub(crate) async fn set(&self, serving: bool) {
        self.serving.store(serving, Ordering::Release);
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
    }

    /// Ends the health service: `Watch` streams end (so they hold no connection open while the
    /// server waits for its calls to finish) and `Check` says `NOT_FOUND`.
    pub(crate) async fn close(mut self) {
        self.serving.store(false, Ordering::Release);
        self.reporter.clear_service_status("").await;
    }

    /// Serves health checks and `/ready` in front of `inner`.
    pub(crate) fn bypass<S>(&self, inner: S) -> HealthBypass<S> {
        HealthBypass {
            inner,
            grpc: HealthServer::new(HealthService::from_health_reporter(self.reporter.clone())),
            serving: Arc::clone(&self.serving),
        }
    }
}

/// Answers health checks and `/ready` itself and passes every other request to `inner`.
#[derive(Clone)]
pub(crate) struct HealthBypass<S> {
    inner: S,
    grpc: HealthServer<HealthService>,
    serving: Arc<AtomicBool>,
}

impl<S, B, ReqBody> tower::Service<Request<ReqBody>> for HealthBypass<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>>,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError> + Send,
{
    type Response = Response<HealthBody<B>>;
    type Error = S::Error;
    type Future = HealthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        if path.starts_with(HEALTH_PATH) {
            // tonic's generated servers are always ready: no poll_ready needed.
            let grpc = tower::Service::call(&mut self.grpc, request);
            return HealthFuture::Health { future: grpc };
        }
        if path == READY_PATH && request.method() == Method::GET {
            let serving = self.serving.load(Ordering::Acquire);
            let (status, text) = if serving {
                (StatusCode::OK, "ready\n")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "not serving\n")
            };
            let mut response = Response::new(tonic::body::Body::new(text.to_string()));
            *response.status_mut() = status;
            return HealthFuture::Ready {
                response: Some(response),
            };
        }
        HealthFuture::Inner {
            future: self.inner.call(request),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

pin_project! {
    /// The response future of [`HealthBypass`].
    #[project = HealthFutureProj]
    pub(crate) enum HealthFuture<F> {
        Inner { #[pin] future: F },
        Health { future: BoxFuture<Response<tonic::body::Body>> },
        Ready { response: Option<Response<tonic::body::Body>> },
    }
}

impl<F, B, E> Future for HealthFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<HealthBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let health = |response: Response<tonic::body::Body>| {
            response.map(|body| HealthBody::Health { body })
        };
        match self.project() {
            HealthFutureProj::Inner { future } => future
                .poll(cx)
                .map_ok(|response| response.map(|body| HealthBody::App { body })),
            HealthFutureProj::Health { future } => match future.as_mut().poll(cx) {
                Poll::Ready(Ok(response)) => Poll::Ready(Ok(health(response))),
                Poll::Ready(Err(never)) => match never {},
                Poll::Pending => Poll::Pending,
            },
            HealthFutureProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(health(response))),
                None => panic!("a /ready answer polled again after it completed"),
            },
        }
    }
}

pin_project! {
    /// The body of a response: the application's or the health service's.
    #[project = HealthBodyProj]
    pub(crate) enum HealthBody<B> {
        App { #[pin] body: B },
        Health { #[pin] body: tonic::body::Body },
    }
}

impl<B> Body for HealthBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            HealthBodyProj::App { body } => body.poll_frame(cx).map_err(Into::into),
            HealthBodyProj::Health { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            HealthBody::App { body } => body.is_end_stream(),
            HealthBody::Health { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            HealthBody::App { body } => body.size_hint(),
            HealthBody::Health { body } => body.size_hint(),
        }
    }
}
