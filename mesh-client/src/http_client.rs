//! [`MeshHttpClient`]: a plain HTTP client whose request URIs name mesh services.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use mesh_core::xds::XdsClient;

use crate::connect::{Caller, Connections, RequestBody};
use crate::future::State;
use crate::resolve::ClusterRegistry;
use crate::stack::Stack;
use crate::telemetry::CallTelemetry;
use crate::{BoxError, Builder, CounterSnapshot, Error, ResponseBody, ResponseFuture};

/// An HTTP client for requests such as `GET http://serviceb.demo:8080/items`.
///
/// The URI's authority (`serviceb.demo:8080`) names the xDS listener; each one is resolved the
/// first time it is used and kept for the life of the client. Requests are routed and balanced
/// like [`MeshChannel`](crate::MeshChannel)'s and sent over HTTP/1.1, or HTTP/2 when the cluster
/// says so; the `host` header keeps the service name. Clones share everything.
#[derive(Clone, Debug)]
pub struct MeshHttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    builder: Builder,
    xds: XdsClient,
    connections: Connections,
    /// The clusters' states and the counters, shared by the stacks of every listener.
    clusters: Arc<ClusterRegistry>,
    /// One stack per listener (URI authority).
    stacks: RwLock<HashMap<String, Stack>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stacks = self.stacks.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MeshHttpClient")
            .field("builder", &self.builder)
            .field("listeners", &stacks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl MeshHttpClient {
    /// A client with default settings, resolving through `xds`. Needs a Tokio runtime when
    /// requests are sent.
    pub fn new(xds: &XdsClient) -> MeshHttpClient {
        Builder::new().http_client(xds)
    }

    pub(crate) fn from_parts(builder: Builder, xds: XdsClient) -> Self {
        let inner = Inner {
            connections: builder.connections(),
            clusters: builder.cluster_registry(),
            builder,
            xds,
            stacks: RwLock::new(HashMap::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// What the client's resilience policies (retries, faults, circuit breakers, outlier
    /// detection) have done since it was built, over all services; clones share the counts.
    pub fn counters(&self) -> CounterSnapshot {
        self.inner.clusters.counters().snapshot()
    }

    /// Sends `GET uri`, e.g. `client.get("http://serviceb.demo:8080/items").await`.
    pub async fn get(&self, uri: &str) -> Result<Response<ResponseBody>, Error> {
        let mut request =
            Request::new(Empty::<Bytes>::new().map_err(|n| match n {}).boxed_unsync());
        match uri.parse::<Uri>() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => {
                let error = Error::InvalidUri {
                    uri: uri.to_string(),
                    reason: "it does not parse as a URI",
                };
                return self.refused(&request, error).await;
            }
        }
        self.send(request).await
    }

    fn send(&self, request: Request<RequestBody>) -> ResponseFuture<Error> {
        let listener = match listener_name(request.uri()) {
            Ok(listener) => listener,
            Err(error) => return self.refused(&request, error),
        };
        let stacks = &self.inner.stacks;
        if let Some(stack) = stacks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(listener)
        {
            return stack.call(request);
        }
        let mut stacks = stacks.write().unwrap_or_else(PoisonError::into_inner);
        let stack = stacks.entry(listener.to_string()).or_insert_with(|| {
            let inner = &self.inner;
            let connections = inner.connections.clone();
            let clusters = Arc::clone(&inner.clusters);
            inner
                .builder
                .stack(&inner.xds, listener, Caller::Http, connections, clusters)
        });
        stack.call(request)
    }

    /// A call refused before it reached a target's stack (its URI names none): counted and
    /// logged as a call that got no response.
    fn refused<B>(&self, request: &Request<B>, error: Error) -> ResponseFuture<Error> {
        let metrics = self.inner.clusters.counters().metrics();
        let telemetry = CallTelemetry::start(Caller::Http, metrics, request);
        ResponseFuture::observed(State::Failed(Some(error)), Some(telemetry))
    }
}

/// The listener a request URI names: its authority.
fn listener_name(uri: &Uri) -> Result<&str, Error> {
    let invalid = |reason| Error::InvalidUri {
        uri: uri.to_string(),
        reason,
    };
    if uri.scheme().is_some_and(|s| s != &http::uri::Scheme::HTTP) {
        return Err(invalid(
            "the scheme is not http (the mesh secures connections itself)",
        ));
    }
    uri.authority()
        .map(|a| a.as_str())
        .ok_or_else(|| invalid("it names no service"))
}

impl<B> tower::Service<Request<B>> for MeshHttpClient
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = ResponseFuture<Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.send(request.map(|body| body.map_err(Into::into).boxed_unsync()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_names_the_listener() {
        let uri: Uri = "http://serviceb.demo:8080/items?x=1".parse().unwrap();
        assert_eq!(listener_name(&uri).unwrap(), "serviceb.demo:8080");
        let uri: Uri = "http://serviceb.demo/".parse().unwrap();
        assert_eq!(listener_name(&uri).unwrap(), "serviceb.demo");
    }

    #[test]
    fn uris_without_a_service_or_with_tls_are_refused() {
        let err = listener_name(&"/items".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("names no service"), "{err}");
        let err = listener_name(&"https://serviceb.demo/".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("scheme"), "{err}");
    }
}
