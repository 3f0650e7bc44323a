//! [`MeshChannel`]: a gRPC channel whose target is resolved and balanced by the mesh.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use mesh_core::xds::XdsClient;

use crate::stack::Stack;
use crate::{BoxError, Builder, CounterSnapshot, Error, ResponseBody, ResponseFuture};

/// A gRPC channel to an `xds:` target: a drop-in for `tonic::transport::Channel`.
///
/// Every request is routed by the target's xDS route table, balanced over the chosen cluster's
/// endpoints and sent over HTTP/2. It is a `tower::Service` (and so a tonic `GrpcService`):
/// pass it to any tonic-generated client. Clones share the resolution and the connections.
///
/// Requests never wait in `poll_ready`; one that arrives before the first configuration waits
/// for it (see [`Builder::config_timeout`]). Failures are `tonic::Status`es, mostly
/// `UNAVAILABLE` (`DEADLINE_EXCEEDED` when the call's deadline passed), whose source is the
/// [`Error`] that says what went wrong and where.
#[derive(Clone, Debug)]
pub struct MeshChannel {
    stack: Stack,
}

impl MeshChannel {
    /// A channel to `target` (`xds:///serviceb.demo:50051` or `xds:serviceb.demo:50051`) with
    /// default settings, resolved through `xds`.
    ///
    /// Returns at once; resolution starts in the background. Must be called inside a Tokio
    /// runtime. Fails only on a malformed target.
    pub fn new(xds: &XdsClient, target: &str) -> Result<MeshChannel, Error> {
        Builder::new().channel(xds, target)
    }

    /// A builder for channels with non-default settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// What the channel's resilience policies (retries, faults, circuit breakers, outlier
    /// detection) have done since it was built; clones share the counts.
    pub fn counters(&self) -> CounterSnapshot {
        self.stack.counters().snapshot()
    }

    pub(crate) fn from_stack(stack: Stack) -> Self {
        Self { stack }
    }
}

impl<B> tower::Service<Request<B>> for MeshChannel
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = tonic::Status;
    type Future = ResponseFuture<tonic::Status>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.stack
            .call(request.map(|body| body.map_err(Into::into).boxed_unsync()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_tonic_grpc_service() {
        fn grpc_service<T>()
        where
            T: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + Sync + 'static,
            T::Future: Send,
        {
        }
        grpc_service::<MeshChannel>();
    }
}
