//! The response future of the client stack.

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use hyper::body::Incoming;

use crate::balance::{InFlight, Permit};
use crate::retry::Failure;
use crate::telemetry::CallTelemetry;
use crate::{Error, ResponseBody};

type Result<T> = std::result::Result<T, Error>;

/// One attempt sent to an endpoint, waiting for the response head. When it comes, the attempt
/// is reported to the endpoint as a success or a failure (see [`Failure`]), which
/// [`Sent::failure`] then tells.
pub(crate) struct Sent {
    pub(crate) response: hyper_util::client::legacy::ResponseFuture,
    /// The endpoint the attempt went to.
    pub(crate) endpoint: SocketAddr,
    pub(crate) in_flight: Option<InFlight>,
    /// How the attempt failed, once its response head or error came.
    pub(crate) failure: Option<Failure>,
    /// The cluster's circuit-breaker slot, when this attempt holds it: handed on to the
    /// response body, which holds it until the response ends.
    pub(crate) permit: Option<Permit>,
}

impl Sent {
    /// The endpoint the attempt went to.
    pub(crate) fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    /// How the attempt failed, if it did: known once the future is ready (`None` before).
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// Gives up on the attempt when its per-try timeout or the call's deadline cuts it: a
    /// failure of the endpoint (as Envoy counts upstream timeouts against the host).
    pub(crate) fn timed_out(mut self) {
        if let Some(in_flight) = self.in_flight.take() {
            in_flight.failed();
        }
    }
}

impl Future for Sent {
    type Output = Result<Response<Incoming>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = ready!(Pin::new(&mut self.response).poll(cx));
        let Some(in_flight) = self.in_flight.take() else {
            panic!("the response future was polled after it completed");
        };
        match result {
            Ok(response) => {
                self.failure = Failure::of_response(response.status(), response.headers());
                match self.failure {
                    Some(failure) if failure.is_endpoint_failure() => in_flight.failed(),
                    _ => in_flight.succeeded(),
                }
                Poll::Ready(Ok(response))
            }
            Err(source) => {
                let cluster = in_flight.endpoint().cluster().to_string();
                let endpoint = in_flight.endpoint().address();
                self.failure = Failure::of_client_error(&source);
                // The caller's own failures (its request body, say) are neutral for the
                // endpoint: dropping `in_flight` reports neither a success nor a failure.
                if self.failure.is_some() {
                    in_flight.failed();
                }
                Poll::Ready(Err(if source.is_connect() {
                    Error::Connect {
                        cluster,
                        endpoint,
                        source,
                    }
                } else {
                    Error::Request {
                        cluster,
                        endpoint,
                        source,
                    }
                }))
            }
        }
    }
}

/// A boxed response future: the slow path.
pub(crate) type Boxed = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>>> + Send>>;

pub(crate) enum State {
    /// On its way to an endpoint, with no policy to apply: the common case, no allocation of
    /// its own.
    Sent(Sent),
    /// Anything more: policies (timeouts, retries, faults), a queue at the circuit breaker, or
    /// waiting for the target's first configuration.
    Boxed(Boxed),
    /// Failed before it was sent.
    Failed(Option<Error>),
}

/// The future of a response from the mesh; `E` is the caller's error type.
///
/// Polled inside the call's `mesh.client` span (a boxed state carries the span and the call's
/// telemetry itself, waiting for the target's first configuration included); the call's
/// telemetry goes on with the response body, or is recorded at once on an error.
pub struct ResponseFuture<E> {
    state: State,
    telemetry: Option<CallTelemetry>,
    error: PhantomData<fn() -> E>,
}

impl<E> ResponseFuture<E> {
    /// A future that records nothing of its call: one whose telemetry the state carries.
    pub(crate) fn new(state: State) -> Self {
        Self::observed(state, None)
    }

    /// A future whose call `telemetry` records, if any.
    pub(crate) fn observed(state: State, telemetry: Option<CallTelemetry>) -> Self {
        Self {
            state,
            telemetry,
            error: PhantomData,
        }
    }
}

impl<E> std::fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Sent(_) => "Sent",
            State::Boxed(_) => "Boxed",
            State::Failed(_) => "Failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<E: From<Error>> Future for ResponseFuture<E> {
    type Output = std::result::Result<Response<ResponseBody>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let entered = this.telemetry.as_ref().map(|t| t.span().enter());
        let result = match &mut this.state {
            State::Sent(sent) => {
                let result = ready!(Pin::new(&mut *sent).poll(cx));
                let permit = sent.permit.take();
                result.map(|r| r.map(|body| ResponseBody::new(body, permit)))
            }
            State::Boxed(future) => ready!(future.as_mut().poll(cx)),
            State::Failed(error) => Err(error
                .take()
                .expect("the response future was polled after it completed")),
        };
        drop(entered);
        let result = match this.telemetry.take() {
            Some(telemetry) => telemetry.finish(result),
            None => result,
        };
        Poll::Ready(result.map_err(E::from))
    }
}
