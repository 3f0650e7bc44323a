//! The response future of the client stack.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use hyper::body::Incoming;

use crate::Error;
use crate::balance::InFlight;

type Result<T> = std::result::Result<T, Error>;

/// A request sent to an endpoint, waiting for its response.
pub(crate) struct Sent {
    pub(crate) response: hyper_util::client::legacy::ResponseFuture,
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) cluster: Arc<str>,
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
                in_flight.responded();
                Poll::Ready(Ok(response))
            }
            Err(source) => {
                let cluster = self.cluster.to_string();
                let endpoint = in_flight.endpoint().address();
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

pub(crate) enum State {
    /// On its way to an endpoint: the common case, no allocation of its own.
    Sent(Sent),
    /// Waiting for the target's first configuration, then sent.
    Waiting(Pin<Box<dyn Future<Output = Result<Response<Incoming>>> + Send>>),
    /// Failed before it was sent.
    Failed(Option<Error>),
}

/// The future of a response from the mesh; `E` is the caller's error type.
pub struct ResponseFuture<E> {
    state: State,
    error: PhantomData<fn() -> E>,
}

impl<E> ResponseFuture<E> {
    pub(crate) fn new(state: State) -> Self {
        Self {
            state,
            error: PhantomData,
        }
    }
}

impl<E> std::fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Sent(_) => "Sent",
            State::Waiting(_) => "Waiting",
            State::Failed(_) => "Failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<E: From<Error>> Future for ResponseFuture<E> {
    type Output = std::result::Result<Response<Incoming>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.state {
            State::Sent(sent) => ready!(Pin::new(sent).poll(cx)),
            State::Waiting(future) => ready!(future.as_mut().poll(cx)),
            State::Failed(error) => Err(error
                .take()
                .expect("the response future was polled after it completed")),
        };
        Poll::Ready(result.map_err(E::from))
    }
}
