//! The response body of [`Telemetry`](super::Telemetry): the application's body, which writes
//! the request's [`Record`] when it ends, fails, or is dropped unfinished.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::record::Record;

pin_project! {
    /// A response body that writes its request's record at its end.
    pub(crate) struct TelemetryBody<B> {
        #[pin]
        inner: B,
        record: Option<Record>,
    }
}

impl<B> TelemetryBody<B> {
    /// `inner`, ending `record` (if any) with it.
    pub(crate) fn new(inner: B, record: Option<Record>) -> Self {
        Self { inner, record }
    }
}

impl<B: Body> Body for TelemetryBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let inner = this.inner;
        let polled = match this.record {
            Some(record) => record.span.in_scope(|| inner.poll_frame(cx)),
            None => inner.poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(record) = this.record.take()
                {
                    record.ended(Some(trailers));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(record) = this.record.take() {
                    record.failed();
                }
            }
            Poll::Ready(None) => {
                if let Some(record) = this.record.take() {
                    record.ended(None);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
