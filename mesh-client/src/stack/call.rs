//! The policy stages of one call: fault injection, deadline, circuit breaker, then attempts
//! with per-try timeouts and retries. Calls whose route has none of these skip this module.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use mesh_core::model::MAX_ATTEMPTS;
use tokio::time::Instant;

use super::Target;
use crate::balance::{Admission, Balancer, Permit};
use crate::connect::RequestBody;
use crate::fault::{self, Injection};
use crate::retry::body::{self, Prepared};
use crate::retry::{Failure, PREVIOUS_ATTEMPTS, backoff};
use crate::route::{RequestHead, RouteInfo, Routed};
use crate::telemetry::{CallTelemetry, ClusterEvent};
use crate::{Error, ResponseBody, timeout};

/// One call on the policy path.
pub(super) struct Call {
    target: Arc<Target>,
    route: Arc<RouteInfo>,
    cluster: Arc<Balancer>,
    /// When the call must be over, and how long it had from the start.
    deadline: Option<(Instant, Duration)>,
}

impl Call {
    /// A call on `routed` that must end by `deadline`, if any.
    pub(super) fn new(target: Arc<Target>, routed: Routed<'_>, deadline: Option<Instant>) -> Self {
        let limit = |at: Instant| at.saturating_duration_since(Instant::now());
        Self {
            target,
            route: Arc::clone(routed.route),
            cluster: Arc::clone(routed.cluster),
            deadline: deadline.map(|at| (at, limit(at))),
        }
    }

    /// Runs the call within its deadline, observed by its `telemetry` (which the response
    /// body takes on); `admission` if the breaker was asked already.
    pub(super) async fn run(
        self,
        request: Request<RequestBody>,
        admission: Option<Admission>,
        mut telemetry: CallTelemetry,
    ) -> Result<Response<ResponseBody>, Error> {
        let stages = self.stages(request, admission, &mut telemetry);
        let result = match self.deadline {
            None => stages.await,
            Some((at, _)) => match tokio::time::timeout_at(at, stages).await {
                Ok(result) => result,
                Err(_elapsed) => Err(self.deadline_exceeded()),
            },
        };
        telemetry.finish(result)
    }

    /// Fault injection, then the breaker, then the attempts.
    async fn stages(
        &self,
        request: Request<RequestBody>,
        admission: Option<Admission>,
        telemetry: &mut CallTelemetry,
    ) -> Result<Response<ResponseBody>, Error> {
        if let Some(injection) = self.draw_fault(&request) {
            let target = &self.target;
            let route = &self.route.name;
            if let Some(aborted) = injection
                .apply(&target.counters, route, target.caller)
                .await
            {
                return Ok(aborted);
            }
        }
        let permit = self.admit(admission).await?;
        self.attempts(request, permit, telemetry).await
    }

    /// The faults this request gets, if the route injects any.
    fn draw_fault(&self, request: &Request<RequestBody>) -> Option<Injection> {
        let fault = self.route.policy.fault.as_ref()?;
        let head = RequestHead::of(request);
        fault::draw(fault, &self.route.active_faults, &head, &mut rand::rng())
    }

    /// A slot under the cluster's circuit breaker, waiting in its queue if need be.
    async fn admit(&self, admission: Option<Admission>) -> Result<Permit, Error> {
        let admission = match admission {
            Some(admission) => admission,
            None => self.cluster.admit()?,
        };
        Ok(match admission {
            Admission::Now(permit) => permit,
            Admission::Queued(queued) => queued.await,
        })
    }

    /// The attempts: the first, then retries while the policy, the body, the deadline and the
    /// budget allow, each counted in the call's `telemetry`. The response that comes back holds
    /// the breaker's `permit`.
    async fn attempts(
        &self,
        request: Request<RequestBody>,
        permit: Permit,
        telemetry: &mut CallTelemetry,
    ) -> Result<Response<ResponseBody>, Error> {
        let retry = self.route.policy.retry.as_ref();
        let (head, body) = request.into_parts();
        let mut body = match retry {
            Some(_) => body::prepare(body),
            None => Prepared::Streaming(body),
        };
        let max_attempts = match (retry, &body) {
            (Some(policy), Prepared::Replayable(_)) => policy.max_attempts,
            _ => 1,
        };
        let mut head = Some(head);
        let mut tried = Tried::default();
        let mut attempt = 1;
        loop {
            let last = attempt >= max_attempts;
            let request = self.request(&mut head, &mut body, attempt, last);
            let attempted = self.attempt(request, tried.addresses(), telemetry).await?;
            let (endpoint, result, failure) = attempted;
            let retriable = match (retry, failure) {
                (Some(policy), Some(failure)) if !last => failure
                    .is_retriable(&policy.retry_on, self.target.caller)
                    .then_some((policy, failure)),
                _ => None,
            };
            let Some((policy, failure)) = retriable else {
                return finish(result, attempt, permit);
            };
            let pause = backoff::pause(&policy.backoff, attempt, &mut rand::rng());
            if self.ends_before(pause) {
                return Err(self.deadline_exceeded());
            }
            if !self.retry_after(failure, endpoint, attempt, pause).await {
                return finish(result, attempt, permit);
            }
            tried.push(endpoint);
            attempt += 1;
        }
    }

    /// The request of attempt `attempt` (1-based): the head (taken for the `last` one), a
    /// copy of the body, the time left and the attempts before it.
    fn request(
        &self,
        head: &mut Option<Parts>,
        body: &mut Prepared,
        attempt: u32,
        last: bool,
    ) -> Request<RequestBody> {
        let mut parts = match last {
            true => head.take(),
            false => head.clone(),
        }
        .expect("the head is kept until the last attempt");
        let body = match body {
            Prepared::Replayable(replay) => replay.body(),
            Prepared::Streaming(body) => std::mem::replace(body, sent_already()),
        };
        if let Some((at, _)) = self.deadline {
            timeout::write_left(&mut parts.headers, self.target.caller, at);
        }
        if attempt > 1 {
            parts
                .headers
                .insert(PREVIOUS_ATTEMPTS, HeaderValue::from(attempt - 1));
        }
        Request::from_parts(parts, body)
    }

    /// Sends an attempt (counted in the call's `telemetry`), bounded by the per-try timeout
    /// and the call's deadline; its endpoint, what came back and how it failed, if it did. An
    /// attempt either bound cuts counts as a failure of its endpoint.
    async fn attempt(
        &self,
        request: Request<RequestBody>,
        avoid: &[SocketAddr],
        telemetry: &mut CallTelemetry,
    ) -> Result<Attempted, Error> {
        let (route, cluster) = (&self.route, &self.cluster);
        let mut sent = self
            .target
            .send(route, cluster, avoid, request, telemetry)?;
        let endpoint = sent.endpoint();
        let per_try = self.route.policy.retry.as_ref();
        let per_try = per_try
            .and_then(|p| p.per_try_timeout)
            .map(|timeout| (Instant::now() + timeout, timeout));
        let call_end = self.deadline.map(|(at, _)| at);
        let bound = [per_try.map(|(at, _)| at), call_end]
            .into_iter()
            .flatten()
            .min();
        let Some(bound) = bound else {
            let result = (&mut sent).await;
            return Ok((endpoint, result, sent.failure()));
        };
        match tokio::time::timeout_at(bound, &mut sent).await {
            Ok(result) => Ok((endpoint, result, sent.failure())),
            Err(_elapsed) => {
                sent.timed_out();
                match per_try {
                    Some((at, timeout)) if call_end.is_none_or(|end| at < end) => {
                        let error = Error::TryTimeout {
                            cluster: self.cluster.cluster_name().to_string(),
                            endpoint,
                            timeout,
                        };
                        Ok((endpoint, Err(error), Some(Failure::TryTimeout)))
                    }
                    _ => Err(self.deadline_exceeded()),
                }
            }
        }
    }

    /// Whether the retry after attempt `attempt`, which failed with `failure` on `endpoint`,
    /// goes ahead: the cluster's retry budget allows it. Waits `pause` if so.
    async fn retry_after(
        &self,
        failure: Failure,
        endpoint: SocketAddr,
        attempt: u32,
        pause: Duration,
    ) -> bool {
        let counters = &self.target.counters;
        let (route, cluster) = (&self.route.name, self.cluster.cluster_name());
        if !self.cluster.retry_budget().try_withdraw() {
            counters.cluster_event(ClusterEvent::BudgetExhausted, &cluster);
            tracing::debug!(%route, %cluster, %endpoint, cause = %failure, attempt,
                "not retrying: the cluster's retry budget is spent");
            return false;
        }
        counters.cluster_event(ClusterEvent::Retry, &cluster);
        tracing::debug!(%route, %cluster, %endpoint, cause = %failure, attempt = attempt + 1,
            "retrying");
        tokio::time::sleep(pause).await;
        true
    }

    /// Whether the deadline passes before `pause` from now is over: a retry after that pause
    /// could never be sent, so it takes no budget and the call fails at once.
    fn ends_before(&self, pause: Duration) -> bool {
        self.deadline.is_some_and(|(at, _)| {
            Instant::now()
                .checked_add(pause)
                .is_none_or(|end| end >= at)
        })
    }

    fn deadline_exceeded(&self) -> Error {
        Error::DeadlineExceeded {
            listener: self.target.listener.clone(),
            route: self.route.name.to_string(),
            limit: self.deadline.map_or(Duration::ZERO, |(_, limit)| limit),
        }
    }
}

/// One attempt's endpoint, what came back and how it failed, if it did.
type Attempted = (
    SocketAddr,
    Result<Response<Incoming>, Error>,
    Option<Failure>,
);

/// What the last attempt, number `attempt`, got, for the caller: a response says how many
/// attempts came before (for the application; the client's telemetry counts them itself), and
/// its body holds the breaker's `permit` until it ends.
fn finish(
    result: Result<Response<Incoming>, Error>,
    attempt: u32,
    permit: Permit,
) -> Result<Response<ResponseBody>, Error> {
    let mut response = result?;
    if attempt > 1 {
        let previous = HeaderValue::from(attempt - 1);
        response.headers_mut().insert(PREVIOUS_ATTEMPTS, previous);
    }
    Ok(response.map(|body| ResponseBody::new(body, Some(permit))))
}

/// The endpoints the earlier attempts of a call went to, which a retry avoids; as many as
/// [`MAX_ATTEMPTS`], kept on the call without allocating.
struct Tried {
    addresses: [SocketAddr; MAX_ATTEMPTS as usize],
    len: usize,
}

impl Default for Tried {
    fn default() -> Self {
        Self {
            addresses: [SocketAddr::from(([0, 0, 0, 0], 0)); MAX_ATTEMPTS as usize],
            len: 0,
        }
    }
}

impl Tried {
    /// Adds `endpoint`, unless it is in already (or the array is full, which a policy of at
    /// most [`MAX_ATTEMPTS`] never fills).
    fn push(&mut self, endpoint: SocketAddr) {
        if self.len < self.addresses.len() && !self.addresses().contains(&endpoint) {
            self.addresses[self.len] = endpoint;
            self.len += 1;
        }
    }

    /// The endpoints tried so far.
    fn addresses(&self) -> &[SocketAddr] {
        &self.addresses[..self.len]
    }
}

/// The placeholder for a streamed body once it has been sent.
fn sent_already() -> RequestBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
