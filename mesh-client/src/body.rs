//! [`ResponseBody`]: the body of every response the mesh client hands back.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// The body of a response from the mesh: the endpoint's, or none for a response the mesh made
/// itself (an injected fault).
pub struct ResponseBody {
    /// `None` for a response without a body.
    inner: Option<Incoming>,
}

impl ResponseBody {
    /// The body an endpoint sent.
    pub(crate) fn new(incoming: Incoming) -> Self {
        Self {
            inner: Some(incoming),
        }
    }

    /// No body.
    pub(crate) fn empty() -> Self {
        Self { inner: None }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.inner {
            Some(incoming) => Pin::new(incoming).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("from_endpoint", &self.inner.is_some())
            .finish()
    }
}
