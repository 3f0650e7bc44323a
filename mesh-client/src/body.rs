//! [`ResponseBody`]: the body of every response the mesh client hands back.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::balance::Permit;
use crate::telemetry::CallTelemetry;

/// The body of a response from the mesh: the endpoint's, or none for a response the mesh made
/// itself (an injected fault).
///
/// It holds the call's circuit-breaker slot, if any, until the body ends, fails or is dropped:
/// a streamed response counts against the cluster's `max_requests` for as long as it runs.
/// Its end is the end of the call for the client's metrics, span and access log (the gRPC
/// status comes in its trailers).
pub struct ResponseBody {
    /// `None` for a response without a body.
    inner: Option<Incoming>,
    /// The call's circuit-breaker slot.
    permit: Option<Permit>,
    /// What is recorded of the call when the body ends.
    telemetry: Option<CallTelemetry>,
}

impl ResponseBody {
    /// The body an endpoint sent, holding the call's breaker `permit` until it is over.
    pub(crate) fn new(incoming: Incoming, permit: Option<Permit>) -> Self {
        Self {
            inner: Some(incoming),
            permit,
            telemetry: None,
        }
    }

    /// No body.
    pub(crate) fn empty() -> Self {
        Self {
            inner: None,
            permit: None,
            telemetry: None,
        }
    }

    /// Records the call with `telemetry` when the body ends (or is dropped).
    pub(crate) fn observe(&mut self, telemetry: CallTelemetry) {
        self.telemetry = Some(telemetry);
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = match &mut self.inner {
            Some(incoming) => Pin::new(incoming).poll_frame(cx),
            None => Poll::Ready(None),
        };
        match &frame {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(trailers), Some(telemetry)) =
                    (frame.trailers_ref(), self.telemetry.as_mut())
                {
                    telemetry.trailers(trailers);
                }
            }
            Poll::Ready(end @ (None | Some(Err(_)))) => {
                self.permit = None;
                if let Some(telemetry) = self.telemetry.take() {
                    telemetry.ended(end.is_some());
                }
            }
            Poll::Pending => {}
        }
        frame
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
            .field("holds_breaker_slot", &self.permit.is_some())
            .finish()
    }
}
