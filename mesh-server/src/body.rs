//! The response body of the inbound layers: the handler's body, or none when a layer answered
//! the request itself (an expired deadline, a denied or rate-limited call).

use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The handler's body, or an empty one for an answer a layer gave itself.
    pub struct ResponseBody<B> {
        #[pin]
        inner: Option<B>,
    }
}

impl<B> ResponseBody<B> {
    /// The handler's response, with its body wrapped.
    pub(crate) fn wrap(response: Response<B>) -> Response<Self> {
        response.map(|body| ResponseBody { inner: Some(body) })
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        ResponseBody { inner: None }
    }

    /// The handler's body, if this is one.
    #[cfg(test)]
    pub(crate) fn into_inner(self) -> Option<B> {
        self.inner
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        match self.project().inner.as_pin_mut() {
            Some(body) => body.poll_frame(cx),
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
