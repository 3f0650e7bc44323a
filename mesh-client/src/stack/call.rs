//! The policy stages of one call: fault injection, deadline, circuit breaker, then attempts
//! with per-try timeouts and retries. Calls whose route has none of these skip this module.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use mesh_core::model::RetryPolicy;
use tokio::time::Instant;

use super::Stack;
use crate::balance::{Admission, Balancer, Permit};
use crate::connect::RequestBody;
use crate::counters::Counters;
use crate::fault::{self, Injection};
use crate::retry::body::{self, Prepared};
use crate::retry::{Failure, PREVIOUS_ATTEMPTS, backoff};
use crate::route::{RequestHead, RouteInfo, Routed};
use crate::{Error, ResponseBody, timeout};

/// One call on the policy path.
pub(super) struct Call {
    stack: Stack,
    route: Arc<RouteInfo>,
    cluster: Arc<Balancer>,
    /// When the call must be over, and how long it had from the start.
    deadline: Option<(Instant, Duration)>,
}

impl Call {
    /// A call on `routed` that must end by `deadline`, if any.
    pub(super) fn new(stack: Stack, routed: Routed<'_>, deadline: Option<Instant>) -> Self {
        let limit = |at: Instant| at.saturating_duration_since(Instant::now());
        Self {
            stack,
            route: Arc::clone(routed.route),
            cluster: Arc::clone(routed.cluster),
            deadline: deadline.map(|at| (at, limit(at))),
        }
    }

    /// Runs the call within its deadline; `admission` if the breaker was asked already.
    pub(super) async fn run(
        self,
        request: Request<RequestBody>,
        admission: Option<Admission>,
    ) -> Result<Response<ResponseBody>, Error> {
        let Some((at, _)) = self.deadline else {
            return self.stages(request, admission).await;
        };
        match tokio::time::timeout_at(at, self.stages(request, admission)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(self.deadline_exceeded()),
        }
    }

    /// Fault injection, then the breaker, then the attempts.
    async fn stages(
        &self,
        request: Request<RequestBody>,
        admission: Option<Admission>,
    ) -> Result<Response<ResponseBody>, Error> {
        if let Some(injection) = self.draw_fault(&request) {
            let target = &self.stack.target;
            if let Some(aborted) = injection.apply(&target.counters, target.caller).await {
                return Ok(aborted);
            }
        }
        let _permit = self.admit(admission).await?;
        self.attempts(request).await
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
    /// budget allow.
    async fn attempts(
        &self,
        request: Request<RequestBody>,
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
        let mut avoid = None;
        let mut attempt = 1;
        loop {
            let last = attempt >= max_attempts;
            let request = self.request(&mut head, &mut body, attempt, last);
            let (endpoint, result) = self.attempt(request, avoid).await?;
            let failure = match &result {
                Ok(response) => Failure::of_response(response.status(), response.headers()),
                Err(error) => Failure::of_error(error),
            };
            let retriable = match (retry, failure) {
                (Some(policy), Some(failure)) if !last => failure
                    .is_retriable(&policy.retry_on)
                    .then_some((policy, failure)),
                _ => None,
            };
            let Some((policy, failure)) = retriable else {
                return finish(result, attempt);
            };
            if self.expired() {
                return Err(self.deadline_exceeded());
            }
            if !self.retry_after(policy, failure, endpoint, attempt).await {
                return finish(result, attempt);
            }
            avoid = Some(endpoint);
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
            timeout::write_left(&mut parts.headers, self.stack.target.caller, at);
        }
        if attempt > 1 {
            parts
                .headers
                .insert(PREVIOUS_ATTEMPTS, HeaderValue::from(attempt - 1));
        }
        Request::from_parts(parts, body)
    }

    /// Sends one attempt, bounded by the per-try timeout; its endpoint and what came back.
    async fn attempt(
        &self,
        request: Request<RequestBody>,
        avoid: Option<SocketAddr>,
    ) -> Result<(SocketAddr, Result<Response<Incoming>, Error>), Error> {
        let routed = Routed {
            route: &self.route,
            cluster: &self.cluster,
        };
        let mut sent = self.stack.send(routed, avoid, request)?;
        let endpoint = sent.endpoint();
        let per_try = self.route.policy.retry.as_ref();
        let Some(timeout) = per_try.and_then(|p| p.per_try_timeout) else {
            return Ok((endpoint, (&mut sent).await));
        };
        let result = match tokio::time::timeout(timeout, &mut sent).await {
            Ok(result) => result,
            Err(_elapsed) => {
                sent.timed_out();
                Err(Error::TryTimeout {
                    cluster: self.cluster.cluster_name().to_string(),
                    endpoint,
                    timeout,
                })
            }
        };
        Ok((endpoint, result))
    }

    /// Whether the retry after attempt `attempt`, which failed with `failure` on `endpoint`,
    /// goes ahead: the cluster's retry budget allows it. Waits the backoff if so.
    async fn retry_after(
        &self,
        policy: &RetryPolicy,
        failure: Failure,
        endpoint: SocketAddr,
        attempt: u32,
    ) -> bool {
        let counters = &self.stack.target.counters;
        let (route, cluster) = (&self.route.name, self.cluster.cluster_name());
        if !self.cluster.retry_budget().try_withdraw() {
            Counters::bump(&counters.budget_exhausted);
            tracing::debug!(%route, %cluster, %endpoint, cause = %failure, attempt,
                "not retrying: the cluster's retry budget is spent");
            return false;
        }
        Counters::bump(&counters.retries);
        tracing::debug!(%route, %cluster, %endpoint, cause = %failure, attempt = attempt + 1,
            "retrying");
        let pause = backoff::pause(&policy.backoff, attempt, &mut rand::rng());
        tokio::time::sleep(pause).await;
        true
    }

    /// Whether the deadline has passed.
    fn expired(&self) -> bool {
        self.deadline.is_some_and(|(at, _)| Instant::now() >= at)
    }

    fn deadline_exceeded(&self) -> Error {
        Error::DeadlineExceeded {
            listener: self.stack.target.listener.clone(),
            route: self.route.name.clone(),
            limit: self.deadline.map_or(Duration::ZERO, |(_, limit)| limit),
        }
    }
}

/// What the last attempt got, for the caller: a response says how many attempts came before.
fn finish(
    result: Result<Response<Incoming>, Error>,
    attempt: u32,
) -> Result<Response<ResponseBody>, Error> {
    let mut response = result?;
    if attempt > 1 {
        let previous = HeaderValue::from(attempt - 1);
        response.headers_mut().insert(PREVIOUS_ATTEMPTS, previous);
    }
    Ok(response.map(ResponseBody::new))
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
