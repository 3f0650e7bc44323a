//! Fault injection (gRFC A33): delays and failures a route adds on purpose, to test how callers
//! cope.
//!
//! A request gets faults only if it carries every header the fault names. Then, unless
//! `max_active` requests already have one, it is delayed with the delay's share (the delay
//! counts against the request's deadline) and failed with the abort's share, independently.
//! An aborted request never leaves the client: it gets a response made here, which a gRPC
//! caller sees as the abort's gRPC status (an HTTP status maps as gRPC maps HTTP statuses) and
//! an HTTP caller as the abort's HTTP status (a gRPC status maps to the HTTP status meaning the
//! same: UNAVAILABLE is 503, DEADLINE_EXCEEDED 504).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderValue, Response, StatusCode};
use mesh_core::model::{AbortStatus, FaultInjection, HeaderMatch, Share, grpc_code_of_http_status};
use rand::Rng;

use crate::ResponseBody;
use crate::connect::Caller;
use crate::counters::Counters;
use crate::retry::GRPC_STATUS;
use crate::route::RequestHead;
use crate::telemetry::FaultKind;

/// The requests of one route that have a fault injected right now; clones share the count.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActiveFaults(Arc<AtomicU32>);

/// One request's injected fault; it stops counting as active when dropped.
#[derive(Debug)]
pub(crate) struct ActiveFault(Arc<AtomicU32>);

impl Drop for ActiveFault {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ActiveFaults {
    /// Counts one more active fault, unless `max` are active already.
    fn start(&self, max: Option<u32>) -> Option<ActiveFault> {
        let max = max.unwrap_or(u32::MAX);
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(ActiveFault(Arc::clone(&self.0)))
    }
}

/// The faults drawn for one request.
#[derive(Debug)]
pub(crate) struct Injection {
    delay: Option<Duration>,
    abort: Option<AbortStatus>,
    _active: ActiveFault,
}

/// Draws the faults of `fault` for `request`; `None` when it gets none.
pub(crate) fn draw(
    fault: &FaultInjection,
    active: &ActiveFaults,
    request: &RequestHead<'_>,
    rng: &mut impl Rng,
) -> Option<Injection> {
    let matches = |h: &HeaderMatch| h.matches(request.method, request.headers);
    if !fault.headers.iter().all(matches) {
        return None;
    }
    let mut hit = |share: Share| rng.random_range(0..Share::MILLION) < share.per_million();
    let delay = fault.delay.filter(|d| hit(d.share)).map(|d| d.delay);
    let abort = fault.abort.filter(|a| hit(a.share)).map(|a| a.status);
    if delay.is_none() && abort.is_none() {
        return None;
    }
    Some(Injection {
        delay,
        abort,
        _active: active.start(fault.max_active)?,
    })
}

impl Injection {
    /// Waits out the delay, if any; then the abort response, if any, for `caller`. Counts
    /// each fault for `route`.
    pub(crate) async fn apply(
        self,
        counters: &Counters,
        route: &Arc<str>,
        caller: Caller,
    ) -> Option<Response<ResponseBody>> {
        if let Some(delay) = self.delay {
            counters.fault(route, FaultKind::Delay);
            tokio::time::sleep(delay).await;
        }
        let status = self.abort?;
        counters.fault(route, FaultKind::Abort);
        Some(abort_response(status, caller))
    }
}

/// The response an aborted request gets: for a gRPC caller a trailers-only response with the
/// abort's gRPC status (an HTTP status mapped as gRPC maps it), for an HTTP caller a response
/// with the abort's HTTP status (a gRPC status mapped to the HTTP status that means the same).
fn abort_response(status: AbortStatus, caller: Caller) -> Response<ResponseBody> {
    let code = match (status, caller) {
        (AbortStatus::Http(status), Caller::Http) => return http_response(status),
        (AbortStatus::Grpc(code), Caller::Http) => return http_response(http_status_of(code)),
        (AbortStatus::Http(status), Caller::Grpc) => grpc_code_of_http_status(status),
        (AbortStatus::Grpc(code), Caller::Grpc) => code,
    };
    let mut response = Response::new(ResponseBody::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from(code as i32));
    headers.insert(
        GRPC_MESSAGE,
        HeaderValue::from_static("fault injected by the route's policy"),
    );
    response
}

/// An empty response with `status`.
fn http_response(status: u16) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// The HTTP status that says what the gRPC status `code` says (the mapping of Google's API
/// design guide), for an HTTP caller.
fn http_status_of(code: tonic::Code) -> u16 {
    use tonic::Code;
    match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

/// The header of a gRPC response's message.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::model::{FaultAbort, FaultDelay, HeaderMatch, StringMatch};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn percent(p: u32) -> Share {
        Share::from_per_million(p * 10_000).unwrap()
    }

    fn abort(status: AbortStatus, share: Share) -> FaultInjection {
        FaultInjection {
            abort: Some(FaultAbort { status, share }),
            ..Default::default()
        }
    }

    fn head(request: &http::Request<()>) -> RequestHead<'_> {
        RequestHead::of(request)
    }

    #[test]
    fn abort_share_over_2000_draws_is_within_tolerance() {
        let fault = abort(AbortStatus::Grpc(tonic::Code::Unavailable), percent(20));
        let (active, request) = (ActiveFaults::default(), http::Request::new(()));
        let mut rng = StdRng::seed_from_u64(42);
        let aborted = (0..2_000)
            .filter(|_| draw(&fault, &active, &head(&request), &mut rng).is_some())
            .count();
        // 20 % of 2,000 is 400, with a standard deviation of about 18.
        assert!((340..=460).contains(&aborted), "{aborted} aborted");
    }

    #[test]
    fn only_requests_with_the_headers_get_faults() {
        let mut fault = abort(AbortStatus::Http(503), percent(100));
        fault.headers = vec![HeaderMatch {
            name: "x-fault".into(),
            matcher: StringMatch::Exact("on".into()),
            invert: false,
        }];
        let active = ActiveFaults::default();
        let with = http::Request::builder()
            .header("x-fault", "on")
            .body(())
            .unwrap();
        let without = http::Request::new(());
        let mut rng = StdRng::seed_from_u64(1);
        assert!(draw(&fault, &active, &head(&with), &mut rng).is_some());
        assert!(draw(&fault, &active, &head(&without), &mut rng).is_none());
    }

    #[test]
    fn no_more_than_max_active_at_once() {
        let mut fault = abort(AbortStatus::Http(503), percent(100));
        fault.max_active = Some(2);
        let (active, request) = (ActiveFaults::default(), http::Request::new(()));
        let mut rng = StdRng::seed_from_u64(1);
        let first = draw(&fault, &active, &head(&request), &mut rng);
        let second = draw(&fault, &active, &head(&request), &mut rng);
        assert!(first.is_some() && second.is_some());
        assert!(draw(&fault, &active, &head(&request), &mut rng).is_none());
        drop(first);
        assert!(draw(&fault, &active, &head(&request), &mut rng).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_waits_and_counts() {
        let fault = FaultInjection {
            delay: Some(FaultDelay {
                delay: Duration::from_millis(300),
                share: percent(100),
            }),
            ..Default::default()
        };
        let (active, request) = (ActiveFaults::default(), http::Request::new(()));
        let injection = draw(&fault, &active, &head(&request), &mut rand::rng()).unwrap();
        let counters = Counters::default();
        let started = tokio::time::Instant::now();
        assert!(
            injection
                .apply(&counters, &"r".into(), Caller::Grpc)
                .await
                .is_none()
        );
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        assert_eq!(counters.snapshot().injected_delays, 1);
    }

    #[test]
    fn aborts_answer_in_the_callers_terms() {
        let response = abort_response(AbortStatus::Http(503), Caller::Http);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = abort_response(AbortStatus::Http(503), Caller::Grpc);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "14");
        let response = abort_response(AbortStatus::Http(404), Caller::Grpc);
        assert_eq!(response.headers()["grpc-status"], "12");
        let response = abort_response(AbortStatus::Grpc(tonic::Code::Aborted), Caller::Grpc);
        assert_eq!(response.headers()["grpc-status"], "10");
    }

    #[test]
    fn a_grpc_abort_is_an_http_error_status_for_an_http_caller() {
        let http = |code| abort_response(AbortStatus::Grpc(code), Caller::Http);
        let response = http(tonic::Code::Unavailable);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get("grpc-status").is_none());
        assert_eq!(
            http(tonic::Code::DeadlineExceeded).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(http(tonic::Code::Aborted).status(), StatusCode::CONFLICT);
    }
}
