//! The client stack: the path of one request, top to bottom.
//!
//! 1. **Resolution**: the target's current route table, read from a watch channel without
//!    waiting; only a request that arrives before the first configuration waits for it, up to
//!    the configured bound.
//! 2. **Route** ([`crate::route`]): the first route that matches the request, then one of its
//!    clusters by weight. Per-route timeouts and retries will wrap the stages below.
//! 3. **Balance** ([`crate::balance`]): the cluster's endpoint with the lower peak-EWMA cost of two
//!    random ones. A per-cluster circuit breaker will sit here.
//! 4. **Endpoint** ([`crate::connect`]): the request counts as in flight on its endpoint and goes
//!    out on a pooled connection to it, over mTLS if the cluster says so. Outlier tracking will
//!    sit here.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use tokio::sync::watch;

use crate::Error;
use crate::balance::{Balancer, Endpoint};
use crate::connect::{Caller, Connections, RequestBody};
use crate::future::{ResponseFuture, Sent, State};
use crate::resolve::Resolution;
use crate::route::RequestHead;

/// The stack of one target; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Stack {
    target: Arc<Target>,
    resolution: watch::Receiver<Arc<Resolution>>,
    connections: Connections,
}

#[derive(Debug)]
struct Target {
    listener: String,
    caller: Caller,
    config_timeout: Duration,
}

/// Where a request stands after the synchronous stages.
enum Dispatch {
    Sent(Sent),
    /// No configuration yet: the request comes back to wait.
    Pending(Request<RequestBody>),
}

impl Stack {
    /// The stack of `listener`, routing by what `resolution` publishes.
    pub(crate) fn new(
        listener: &str,
        caller: Caller,
        config_timeout: Duration,
        resolution: watch::Receiver<Arc<Resolution>>,
        connections: Connections,
    ) -> Self {
        let target = Target {
            listener: listener.to_string(),
            caller,
            config_timeout,
        };
        Self {
            target: Arc::new(target),
            resolution,
            connections,
        }
    }

    /// Sends `request` down the stack.
    pub(crate) fn call<E>(&self, request: Request<RequestBody>) -> ResponseFuture<E> {
        let resolution = Arc::clone(&self.resolution.borrow());
        let state = match self.dispatch(&resolution, request) {
            Ok(Dispatch::Sent(sent)) => State::Sent(sent),
            Ok(Dispatch::Pending(request)) => {
                State::Waiting(Box::pin(self.clone().wait_and_send(request)))
            }
            Err(error) => State::Failed(Some(error)),
        };
        ResponseFuture::new(state)
    }

    /// Stages 2 to 4, for a request whose resolution is at hand.
    fn dispatch(
        &self,
        resolution: &Resolution,
        request: Request<RequestBody>,
    ) -> Result<Dispatch, Error> {
        let table = match resolution {
            Resolution::Ready(table) => table,
            Resolution::Pending => return Ok(Dispatch::Pending(request)),
            Resolution::Failed(why) => return Err(why.to_error(&self.target.listener)),
        };
        let mut rng = rand::rng();
        let cluster: &Arc<Balancer> = table.route(&RequestHead::of(&request), &mut rng)?;
        let endpoint: &Arc<Endpoint> = cluster.pick(&mut rng)?;
        let in_flight = endpoint.start();
        let protocol = self.target.caller.protocol(cluster.protocol());
        let response = self
            .connections
            .send(protocol, cluster, endpoint, request)?;
        Ok(Dispatch::Sent(Sent {
            response,
            in_flight: Some(in_flight),
            cluster: cluster.cluster_name(),
        }))
    }

    /// Stage 1's slow path: waits for the first resolution, then goes on as usual.
    async fn wait_and_send(
        mut self,
        request: Request<RequestBody>,
    ) -> Result<http::Response<hyper::body::Incoming>, Error> {
        let target = Arc::clone(&self.target);
        let resolved = async {
            let resolution = self
                .resolution
                .wait_for(|r| !matches!(**r, Resolution::Pending));
            resolution.await.map(|r| Arc::clone(&r))
        };
        let resolution = match tokio::time::timeout(target.config_timeout, resolved).await {
            Ok(Ok(resolution)) => resolution,
            Ok(Err(_closed)) => {
                return Err(Error::XdsClosed {
                    listener: target.listener.clone(),
                });
            }
            Err(_elapsed) => {
                return Err(Error::ConfigTimeout {
                    listener: target.listener.clone(),
                    waited: target.config_timeout,
                });
            }
        };
        match self.dispatch(&resolution, request)? {
            Dispatch::Sent(sent) => sent.await,
            Dispatch::Pending(_) => unreachable!("waited until the resolution was not pending"),
        }
    }
}

#[cfg(test)]
#[path = "stack_tests.rs"]
mod tests;
