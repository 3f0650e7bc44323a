//! Deadlines on inbound requests: the caller's time limit, honoured and passed on.
//!
//! A gRPC caller says how long it will wait in `grpc-timeout`; a mesh HTTP caller in
//! `mesh-timeout` (same format, see [`mesh_core::deadline`]). [`Deadline`] turns that into an
//! instant and runs the handler under it ([`mesh_core::deadline::scope`]), so every call the
//! handler makes through the mesh client is bounded by what is left of it. When it passes
//! before the handler answers, the handler is dropped and the caller gets
//! `DEADLINE_EXCEEDED` (gRPC, as a trailers-only response) or `504 Gateway Timeout` (HTTP).
//!
//! A request without the header runs unbounded, as before; a malformed one is ignored (and
//! logged at debug). [`MeshServer`](crate::MeshServer) applies this layer to every service it
//! serves; it is a plain tower layer, usable on its own:
//!
//! ```
//! use tower::Layer;
//!
//! let app = tower::service_fn(|_: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let app = mesh_server::DeadlineLayer::new().layer(app);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use mesh_core::deadline;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

pub use crate::body::ResponseBody;
use crate::respond::{Refusal, is_grpc};

/// Bounds each request by the deadline its caller sent; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct DeadlineLayer {
    _private: (),
}

impl DeadlineLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline::new(inner)
    }
}

/// A service whose requests are bounded by their callers' deadlines; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
}

impl<S> Deadline<S> {
    /// Bounds the requests `inner` serves by their callers' deadlines.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// The deadline `headers` ask for, read now; `None` without (or with a malformed) header.
fn requested(headers: &HeaderMap, grpc: bool) -> Option<Instant> {
    Instant::now().checked_add(deadline::requested(headers, grpc)?)
}

impl<S, B, ReqBody> tower::Service<Request<ReqBody>> for Deadline<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>>,
    B: Body,
{
    type Response = Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let grpc = is_grpc(request.headers());
        let at = requested(request.headers(), grpc);
        let inner = match at {
            None => self.inner.call(request),
            Some(at) => deadline::sync_scope(at, || self.inner.call(request)),
        };
        ResponseFuture {
            inner,
            at,
            expiry: None,
            grpc,
        }
    }
}

pin_project! {
    /// The response future of [`Deadline`]: the handler's, or the expiry answer.
    ///
    /// The timer is armed only when the handler does not answer on its first poll: most
    /// answer at once, and a timer they never wait on would still cost its registration
    /// with (and a wake-up of) tokio's timer driver.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // The caller's deadline; `None`: the request has none and no timer is ever armed.
        at: Option<Instant>,
        #[pin]
        expiry: Option<Sleep>,
        grpc: bool,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(at) = *this.at else {
            return this.inner.poll(cx).map_ok(ResponseBody::wrap);
        };
        // The deadline is checked before the handler runs, as the timer would be if armed.
        let passed = match this.expiry.as_mut().as_pin_mut() {
            Some(expiry) => expiry.poll(cx).is_ready(),
            None => Instant::now() >= at,
        };
        if passed {
            return Poll::Ready(Ok(expired(*this.grpc)));
        }
        let inner = this.inner;
        let polled = deadline::sync_scope(at, || inner.poll(cx));
        if polled.is_pending() && this.expiry.is_none() {
            // The handler waits: arm the timer, and poll it so that it wakes this task.
            this.expiry.set(Some(tokio::time::sleep_until(at)));
            if let Some(expiry) = this.expiry.as_pin_mut()
                && expiry.poll(cx).is_ready()
            {
                return Poll::Ready(Ok(expired(*this.grpc)));
            }
        }
        polled.map_ok(ResponseBody::wrap)
    }
}

/// The answer to a request whose deadline passed.
fn expired<B>(grpc: bool) -> Response<ResponseBody<B>> {
    Refusal {
        http: StatusCode::GATEWAY_TIMEOUT,
        grpc: 4,
        message: "deadline exceeded: the caller's grpc-timeout passed".into(),
        header: None,
    }
    .response(grpc)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use http::header::CONTENT_TYPE;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use mesh_core::deadline::GRPC_TIMEOUT;
    use tower::{Layer, ServiceExt};

    use super::*;

    /// A handler that answers after `work`, with the deadline it saw as the body.
    fn handler(
        work: Duration,
    ) -> impl tower::Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone
    {
        tower::service_fn(move |_: Request<()>| async move {
            let seen = deadline::current().map(|d| d - Instant::now());
            tokio::time::sleep(work).await;
            Ok::<_, Infallible>(Response::new(format!("{seen:?}")))
        })
    }

    fn request(grpc: bool, header: Option<&'static str>) -> Request<()> {
        let mut builder = Request::post("/demo.Greeter/Hello");
        if grpc {
            builder = builder.header(CONTENT_TYPE, "application/grpc");
        }
        if let Some(value) = header {
            builder = builder.header(deadline::header_name(grpc), value);
        }
        builder.body(()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_handler_runs_under_the_callers_deadline() {
        let service = DeadlineLayer::new().layer(handler(Duration::from_millis(10)));
        let response = service.oneshot(request(true, Some("250m"))).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("grpc-status").is_none());
        assert_eq!(response.into_body().into_inner().unwrap(), "Some(250ms)");
    }

    #[tokio::test(start_paused = true)]
    async fn a_grpc_call_past_its_deadline_is_deadline_exceeded_trailers_only() {
        let service = DeadlineLayer::new().layer(handler(Duration::from_secs(5)));
        let started = Instant::now();
        let response = service.oneshot(request(true, Some("100m"))).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "4");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
        assert!(response.body().is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn an_http_request_past_its_deadline_is_a_504() {
        let service = DeadlineLayer::new().layer(handler(Duration::from_secs(5)));
        let response = service.oneshot(request(false, Some("2S"))).await.unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(response.headers().get("grpc-status").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_valid_header_the_handler_is_unbounded() {
        for header in [None, Some("soon")] {
            let service = DeadlineLayer::new().layer(handler(Duration::from_secs(60)));
            let response = service.oneshot(request(true, header)).await.unwrap();
            assert_eq!(response.into_body().into_inner().unwrap(), "None");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_http_handler_sees_the_mesh_timeout() {
        let service = DeadlineLayer::new().layer(handler(Duration::ZERO));
        let response = service.oneshot(request(false, Some("3S"))).await.unwrap();
        assert_eq!(response.into_body().into_inner().unwrap(), "Some(3s)");
    }

    /// A handler that never answers.
    fn stuck()
    -> impl tower::Service<Request<()>, Response = Response<String>, Error = Infallible> + Clone
    {
        tower::service_fn(|_: Request<()>| std::future::pending::<Result<Response<String>, _>>())
    }

    /// Polls the response future of `request` once, returning whether it answered and whether
    /// it armed a timer.
    fn poll_once<S>(mut service: Deadline<S>, request: Request<()>) -> (bool, bool)
    where
        S: tower::Service<Request<()>, Response = Response<String>, Error = Infallible>,
    {
        let mut future = std::pin::pin!(tower::Service::call(&mut service, request));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let answered = future.as_mut().poll(&mut cx).is_ready();
        (answered, future.expiry.is_some())
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_that_stays_pending_gets_deadline_exceeded() {
        let service = DeadlineLayer::new().layer(stuck());
        let started = Instant::now();
        let response = service.oneshot(request(true, Some("100m"))).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert_eq!(response.headers()["grpc-status"], "4");
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_is_armed_only_for_a_handler_that_waits_under_a_deadline() {
        let at_once = handler(Duration::ZERO);
        assert_eq!(
            poll_once(Deadline::new(at_once), request(true, Some("1S"))),
            (true, false)
        );
        assert_eq!(
            poll_once(Deadline::new(stuck()), request(true, Some("1S"))),
            (false, true)
        );
        assert_eq!(
            poll_once(Deadline::new(stuck()), request(true, None)),
            (false, false)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_passed_is_exceeded_without_running_the_handler() {
        let service = DeadlineLayer::new().layer(handler(Duration::ZERO));
        let response = service.oneshot(request(true, Some("0n"))).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], "4");
    }

    /// Through a real MeshServer over h2c: the layer is applied to what it serves.
    #[tokio::test]
    async fn mesh_server_answers_expired_grpc_calls_with_deadline_exceeded() {
        let server = crate::MeshServer::builder()
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr();
        let app = tower::service_fn(|_: Request<hyper::body::Incoming>| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Infallible>(Response::new(String::new()))
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(app, async {
            let _ = stopped.await;
        }));

        let io = TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
        let (mut send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = Request::post(format!("http://{addr}/demo.Greeter/Hello"))
            .header(CONTENT_TYPE, "application/grpc")
            .header(GRPC_TIMEOUT, "200m")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let started = Instant::now();
        let response = send.send_request(request).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], "4");
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(stop);
        serving.await.unwrap().unwrap();
    }
}
