//! The client stack: the path of one request, top to bottom.
//!
//! Around it all, the call's [`CallTelemetry`] (see [`crate::telemetry`]): its span, entered
//! whenever the response future is polled and carried by every attempt as `traceparent`; its
//! count in flight once routed; its metrics and access-log event when the response body ends.
//!
//! 1. **Resolution**: the target's current route table, read from a watch channel without
//!    waiting; only a request that arrives before the first configuration waits for it, up to
//!    the configured bound.
//! 2. **Route** ([`crate::route`]): the first route that matches the request, then one of its
//!    clusters by weight. On a route with a retry policy, the request counts towards the
//!    cluster's retry budget (only such routes spend it).
//! 3. **Policies** ([`call`]), only when the route has some or the call has a deadline: fault
//!    injection ([`crate::fault`]), the deadline ([`crate::timeout`]), then the attempts with
//!    their per-try timeout and retries ([`crate::retry`]). Without any, the request takes the
//!    fast path: no allocation beyond the connection's.
//! 4. **Circuit breaker** ([`crate::balance`]): a slot among the cluster's requests in flight,
//!    held until the response body ends (or is dropped); a full cluster queues the request or
//!    refuses it.
//! 5. **Balance** ([`crate::balance`]): the endpoint for an attempt, by the cluster's policy,
//!    avoiding every endpoint an earlier attempt of the call went to.
//! 6. **Endpoint** ([`crate::connect`]): the attempt counts as in flight on its endpoint and
//!    goes out on a pooled connection to it, over mTLS if the cluster says so; its outcome is
//!    reported to the endpoint for outlier detection.

mod call;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use tokio::sync::watch;
use tracing::{Instrument, Span};

use crate::balance::{Admission, Balancer};
use crate::connect::{Caller, Connections, RequestBody};
use crate::counters::Counters;
use crate::future::{ResponseFuture, Sent, State};
use crate::resolve::Resolution;
use crate::route::{RequestHead, RouteInfo, RouteTable, Routed};
use crate::telemetry::CallTelemetry;
use crate::{Error, ResponseBody, timeout};
use call::Call;

/// The stack of one target; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Stack {
    target: Arc<Target>,
    resolution: watch::Receiver<Arc<Resolution>>,
}

/// What a stack's requests share, behind one `Arc`: a call on the policy path holds it.
#[derive(Debug)]
struct Target {
    listener: String,
    caller: Caller,
    config_timeout: Duration,
    counters: Arc<Counters>,
    connections: Connections,
}

impl Stack {
    /// The stack of `listener`, routing by what `resolution` publishes and counting into
    /// `counters`.
    pub(crate) fn new(
        listener: &str,
        caller: Caller,
        config_timeout: Duration,
        counters: Arc<Counters>,
        resolution: watch::Receiver<Arc<Resolution>>,
        connections: Connections,
    ) -> Self {
        let target = Target {
            listener: listener.to_string(),
            caller,
            config_timeout,
            counters,
            connections,
        };
        Self {
            target: Arc::new(target),
            resolution,
        }
    }

    /// Sends `request` down the stack, observed by a [`CallTelemetry`] from here to the end
    /// of its response.
    pub(crate) fn call<E>(&self, request: Request<RequestBody>) -> ResponseFuture<E> {
        let target = &self.target;
        let telemetry = CallTelemetry::start(target.caller, target.counters.metrics(), &request);
        let resolution = Arc::clone(&self.resolution.borrow());
        self.dispatch(&resolution, request, telemetry)
    }

    /// Stages 2 and on, for a request whose resolution is at hand; stage 1's slow path if it is
    /// not there yet.
    fn dispatch<E>(
        &self,
        resolution: &Resolution,
        request: Request<RequestBody>,
        telemetry: CallTelemetry,
    ) -> ResponseFuture<E> {
        let error = match resolution {
            Resolution::Ready(table) => return self.route(table, request, telemetry),
            Resolution::Pending => {
                let span = telemetry.span().clone();
                let waiting = self.clone().wait_and_send(request, telemetry);
                return boxed(waiting, span);
            }
            Resolution::Failed(why) => why.to_error(&self.target.listener),
        };
        ResponseFuture::observed(State::Failed(Some(error)), Some(telemetry))
    }

    /// Stages 2 and on: routes the request, then sends it on the fast path or the policy one.
    fn route<E>(
        &self,
        table: &RouteTable,
        request: Request<RequestBody>,
        mut telemetry: CallTelemetry,
    ) -> ResponseFuture<E> {
        let routed = match table.route(&RequestHead::of(&request), &mut rand::rng()) {
            Ok(routed) => routed,
            Err(error) => {
                return ResponseFuture::observed(State::Failed(Some(error)), Some(telemetry));
            }
        };
        let cluster = routed.cluster.cluster_name();
        telemetry.routed(&routed.route.name, &cluster, routed.series);
        let policy = &routed.route.policy;
        if policy.retry.is_some() {
            routed.cluster.retry_budget().deposit();
        }
        let deadline = timeout::deadline(policy.timeout, request.headers(), self.target.caller);
        if deadline.is_some() || policy.retry.is_some() || policy.fault.is_some() {
            let call = Call::new(Arc::clone(&self.target), routed, deadline);
            let span = telemetry.span().clone();
            return boxed(call.run(request, None, telemetry), span);
        }
        let state = match routed.cluster.admit() {
            Ok(Admission::Now(permit)) => {
                let Routed { route, cluster, .. } = routed;
                match self
                    .target
                    .send(route, cluster, &[], request, &mut telemetry)
                {
                    Ok(sent) => State::Sent(Sent {
                        permit: Some(permit),
                        ..sent
                    }),
                    Err(error) => State::Failed(Some(error)),
                }
            }
            Ok(queued @ Admission::Queued(_)) => {
                let call = Call::new(Arc::clone(&self.target), routed, None);
                let span = telemetry.span().clone();
                return boxed(call.run(request, Some(queued), telemetry), span);
            }
            Err(error) => State::Failed(Some(error)),
        };
        ResponseFuture::observed(state, Some(telemetry))
    }

    /// The counters the stack adds to.
    pub(crate) fn counters(&self) -> &Counters {
        &self.target.counters
    }

    /// Stage 1's slow path: waits for the first resolution, then goes on as usual.
    async fn wait_and_send(
        mut self,
        request: Request<RequestBody>,
        telemetry: CallTelemetry,
    ) -> Result<Response<ResponseBody>, Error> {
        let target = Arc::clone(&self.target);
        let resolved = async {
            let resolution = self
                .resolution
                .wait_for(|r| !matches!(**r, Resolution::Pending));
            resolution.await.map(|r| Arc::clone(&r))
        };
        let resolution = match tokio::time::timeout(target.config_timeout, resolved).await {
            Ok(Ok(resolution)) => Ok(resolution),
            Ok(Err(_closed)) => Err(Error::XdsClosed {
                listener: target.listener.clone(),
            }),
            Err(_elapsed) => Err(Error::ConfigTimeout {
                listener: target.listener.clone(),
                waited: target.config_timeout,
            }),
        };
        match resolution {
            Ok(resolution) => {
                self.dispatch::<Error>(&resolution, request, telemetry)
                    .await
            }
            Err(error) => telemetry.finish(Err(error)),
        }
    }
}

/// A call on the slow path, polled in its `span`, which its future carries with the call's
/// telemetry.
fn boxed<E, F>(future: F, span: Span) -> ResponseFuture<E>
where
    F: Future<Output = Result<Response<ResponseBody>, Error>> + Send + 'static,
{
    ResponseFuture::new(State::Boxed(Box::pin(future.instrument(span))))
}

impl Target {
    /// Stages 5 and 6 for an attempt on `route` to `cluster`: picks the endpoint (none of
    /// `avoid` if another will do), counts the attempt in flight there and in the call's
    /// `telemetry`, and sends it, carrying the call's trace context.
    fn send(
        &self,
        route: &RouteInfo,
        cluster: &Balancer,
        avoid: &[SocketAddr],
        mut request: Request<RequestBody>,
        telemetry: &mut CallTelemetry,
    ) -> Result<Sent, Error> {
        let hash = route.hash(request.headers());
        let endpoint = cluster.pick(hash, avoid, &mut rand::rng())?;
        telemetry.attempted(endpoint.address(), request.headers_mut());
        let in_flight = endpoint.start();
        self.counters.attempted(cluster.attempts_series());
        let protocol = self.caller.protocol(cluster.protocol());
        let response = self
            .connections
            .send(protocol, cluster, endpoint, request)?;
        Ok(Sent {
            response,
            endpoint: endpoint.address(),
            in_flight: Some(in_flight),
            failure: None,
            permit: None,
        })
    }
}

#[cfg(test)]
#[path = "stack_tests.rs"]
mod tests;
