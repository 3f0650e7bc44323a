//! Resilience policies: what a client does about slow and failing requests.
//!
//! A [`RoutePolicy`] belongs to a route: how long a call may take, when and how often it is
//! retried, which faults are injected, and which header a ring-hash cluster hashes. A
//! [`ClusterPolicy`] belongs to a cluster: how requests are spread over its endpoints, how many
//! may be in flight at once, how many retries it takes, and when an endpoint is ejected.
//!
//! On the wire they are the fields gRPC's proxyless clients read (gRFCs A31 timeouts, A32
//! circuit breaking, A33 fault injection, A42 ring hash, A44 retries, A48 least request, A50
//! outlier detection); what gRPC has no field for (the retry budget, consecutive-failure
//! ejection, peak-EWMA balancing) uses Envoy's field where one exists, else our own extension.

use std::time::Duration;

use super::HeaderMatch;

/// What happens to the requests a route takes, besides where they go.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct RoutePolicy {
    /// The bound on a whole call, retries included (xDS `max_stream_duration`, A31).
    #[serde(serialize_with = "super::serde_text::optional_duration")]
    pub timeout: Option<Duration>,
    /// When and how to retry (A44); `None`: never.
    pub retry: Option<RetryPolicy>,
    /// Faults to inject (A33); `None`: none.
    pub fault: Option<FaultInjection>,
    /// The request header whose value a ring-hash cluster hashes (A42 `hash_policy`); requests
    /// without it get a random hash.
    pub hash_header: Option<String>,
}

/// The most attempts (the first included) a retry policy may ask for, as in gRPC.
pub const MAX_ATTEMPTS: u32 = 5;

/// When and how a failed request is tried again.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included: 2 to [`MAX_ATTEMPTS`].
    pub max_attempts: u32,
    /// Which failures are retried.
    pub retry_on: RetryOn,
    /// The pause before each retry.
    pub backoff: RetryBackoff,
    /// The bound on one attempt (Envoy's `per_try_timeout`); `None`: only the route's timeout.
    #[serde(serialize_with = "super::serde_text::optional_duration")]
    pub per_try_timeout: Option<Duration>,
}

/// The gRPC statuses a retry policy can name on the wire: xDS `retry_on` has a word for these
/// five only (A44).
pub const RETRIABLE_GRPC_CODES: [tonic::Code; 5] = [
    tonic::Code::Cancelled,
    tonic::Code::DeadlineExceeded,
    tonic::Code::Internal,
    tonic::Code::ResourceExhausted,
    tonic::Code::Unavailable,
];

/// The gRPC status a gRPC client reports for an HTTP response without `grpc-status` (gRPC's
/// HTTP-to-gRPC status mapping): 429, 502, 503 and 504 are UNAVAILABLE, for example.
pub fn grpc_code_of_http_status(status: u16) -> tonic::Code {
    match status {
        400 => tonic::Code::Internal,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::Unimplemented,
        429 | 502 | 503 | 504 => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    }
}

/// Which failures are retried. A failure is retriable only before the response is committed:
/// a connection failure, an HTTP status, or a gRPC status in a trailers-only response.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetryOn {
    /// gRPC statuses; xDS can say only CANCELLED, DEADLINE_EXCEEDED, INTERNAL,
    /// RESOURCE_EXHAUSTED and UNAVAILABLE.
    #[serde(serialize_with = "super::serde_text::grpc_codes")]
    pub grpc_codes: Vec<tonic::Code>,
    /// HTTP response statuses (500 to 599).
    pub http_statuses: Vec<u16>,
    /// Connection failures: refused, reset, or failed handshake before a response.
    pub connect_failure: bool,
}

/// Exponential backoff with jitter between attempts (A44: a random pause up to
/// `min(base * 2^(n-1), max)` before retry `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RetryBackoff {
    /// The bound on the first pause (xDS default 25 ms).
    #[serde(serialize_with = "super::serde_text::duration")]
    pub base: Duration,
    /// The bound on any pause (xDS default 10 x `base`).
    #[serde(serialize_with = "super::serde_text::duration")]
    pub max: Duration,
}

impl RetryBackoff {
    /// The backoff starting at `base`, with xDS's default bound on any pause: 10 x `base`.
    pub fn from_base(base: Duration) -> Self {
        Self {
            base,
            max: base.saturating_mul(10),
        }
    }
}

impl Default for RetryBackoff {
    /// xDS's default: 25 ms base, 250 ms max.
    fn default() -> Self {
        Self::from_base(Duration::from_millis(25))
    }
}

/// Faults injected into a route's requests, for testing how callers cope (A33).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct FaultInjection {
    /// A pause before the request goes out.
    pub delay: Option<FaultDelay>,
    /// A failure returned instead of sending the request.
    pub abort: Option<FaultAbort>,
    /// Only requests matching all of these get faults.
    pub headers: Vec<HeaderMatch>,
    /// The most requests with an injected fault at once; `None`: no bound.
    pub max_active: Option<u32>,
}

/// An injected delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FaultDelay {
    /// How long.
    #[serde(serialize_with = "super::serde_text::duration")]
    pub delay: Duration,
    /// For which share of requests.
    pub share: Share,
}

/// An injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FaultAbort {
    /// The status the request fails with.
    pub status: AbortStatus,
    /// For which share of requests.
    pub share: Share,
}

/// The status of an injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortStatus {
    /// A gRPC status (not OK).
    Grpc(#[serde(serialize_with = "super::serde_text::grpc_code")] tonic::Code),
    /// An HTTP status (200 to 599); gRPC callers see the status gRPC maps it to.
    Http(u16),
}

/// A share of requests, in millionths (an xDS `FractionalPercent`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Share(u32);

impl Share {
    /// One in a million units.
    pub const MILLION: u32 = 1_000_000;

    /// `per_million` millionths; `None` above a million.
    pub fn from_per_million(per_million: u32) -> Option<Share> {
        (per_million <= Self::MILLION).then_some(Share(per_million))
    }

    /// The share in millionths.
    pub fn per_million(self) -> u32 {
        self.0
    }
}

/// What a cluster does with the requests routed to it, besides sending them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ClusterPolicy {
    /// How requests are spread over the endpoints.
    pub lb: LbPolicy,
    /// Limits on requests in flight.
    pub circuit_breaker: CircuitBreaker,
    /// When endpoints are ejected for failing; `None`: never.
    pub outlier_detection: Option<OutlierDetection>,
    /// How many retries the cluster takes, compared to requests.
    pub retry_budget: RetryBudget,
}

/// How requests are spread over a cluster's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    /// Power of two choices over the endpoints, comparing peak-EWMA latency times load.
    ///
    /// Carried in xDS as a custom `load_balancing_policy` (our `TypedStruct`), followed by
    /// `round_robin` as the fallback that other gRPC clients use.
    #[default]
    P2cPeakEwma,
    /// Power of two choices comparing requests in flight (A48 `least_request`, choice count 2).
    P2cLeastRequest,
    /// Each endpoint in turn.
    RoundRobin,
    /// Consistent hashing on a ring (A42): a request goes to the endpoint owning its hash, so
    /// the same key keeps its endpoint and few keys move when endpoints change.
    RingHash {
        /// The fewest entries on the ring (xDS default 1024).
        min_ring_size: u64,
        /// The most entries on the ring (gRPC caps it at 4096 by default). mesh-client caps
        /// rings at 65,536 entries, whatever this says.
        max_ring_size: u64,
    },
}

/// Limits on a cluster's requests (A32). Requests over both limits fail at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CircuitBreaker {
    /// The most requests in flight at once (xDS default 1024).
    pub max_requests: u32,
    /// The most requests waiting for one of those slots (xDS default 1024).
    pub max_pending: u32,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self {
            max_requests: 1024,
            max_pending: 1024,
        }
    }
}

/// A retry budget: retries may add at most `ratio` of the cluster's recent requests, plus
/// `min_per_second`, counted over `ttl` (as in Finagle and Linkerd).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RetryBudget {
    /// Retries allowed per request, in (0, 1].
    pub ratio: f64,
    /// Retries allowed per second whatever the traffic, so a quiet client can still retry.
    pub min_per_second: u32,
    /// How long a request counts towards the budget.
    #[serde(serialize_with = "super::serde_text::duration")]
    pub ttl: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_per_second: 10,
            ttl: Duration::from_secs(10),
        }
    }
}

/// When a cluster's endpoints are ejected for failing, and for how long (A50, plus Envoy's
/// consecutive failures).
///
/// A failure is a connection failure, a 5xx response, a gRPC UNAVAILABLE or an attempt that
/// timed out. An ejected endpoint takes no requests for `base_ejection_time` times the number of
/// times it was ejected, up to `max_ejection_time`; never more than `max_ejection_percent` of
/// the endpoints are ejected at once (but at least one may be).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OutlierDetection {
    /// How often success rates and failure percentages are evaluated (xDS default 10 s).
    #[serde(serialize_with = "super::serde_text::duration")]
    pub interval: Duration,
    /// The first ejection's length (xDS default 30 s).
    #[serde(serialize_with = "super::serde_text::duration")]
    pub base_ejection_time: Duration,
    /// The longest ejection (xDS default 300 s).
    #[serde(serialize_with = "super::serde_text::duration")]
    pub max_ejection_time: Duration,
    /// The most endpoints ejected at once, in percent (xDS default 10).
    pub max_ejection_percent: u32,
    /// Eject an endpoint at once after this many failures in a row; `None`: off.
    pub consecutive_failures: Option<u32>,
    /// Eject endpoints whose success rate is far below the cluster's mean; `None`: off.
    pub success_rate: Option<SuccessRateEjection>,
    /// Eject endpoints whose failure share is over a threshold; `None`: off.
    pub failure_percentage: Option<FailurePercentageEjection>,
}

/// Success-rate ejection: each interval, endpoints whose success rate is below
/// `mean - stdev_factor * stdev` are ejected.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SuccessRateEjection {
    /// How many standard deviations below the mean (xDS 1900 = 1.9).
    pub stdev_factor: f64,
    /// The chance, in percent, that an endpoint found an outlier is ejected (default 100).
    pub enforcing_percent: u32,
    /// The fewest endpoints with `request_volume` requests for the check to run (default 5).
    pub minimum_hosts: u32,
    /// The fewest requests in an interval for an endpoint to count (default 100).
    pub request_volume: u32,
}

/// Failure-percentage ejection: each interval, endpoints failing more than `threshold` percent
/// of their requests are ejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FailurePercentageEjection {
    /// The failure percentage over which an endpoint is ejected (default 85).
    pub threshold: u32,
    /// The chance, in percent, that an endpoint over the threshold is ejected (default 100).
    pub enforcing_percent: u32,
    /// The fewest endpoints with `request_volume` requests for the check to run (default 5).
    pub minimum_hosts: u32,
    /// The fewest requests in an interval for an endpoint to count (default 50).
    pub request_volume: u32,
}

impl Default for OutlierDetection {
    /// A50's defaults for the timings and the ejection cap, with every algorithm off.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            consecutive_failures: None,
            success_rate: None,
            failure_percentage: None,
        }
    }
}

impl Default for SuccessRateEjection {
    /// A50's defaults: 1.9 standard deviations, always enforced, 5 hosts of 100 requests.
    fn default() -> Self {
        Self {
            stdev_factor: 1.9,
            enforcing_percent: 100,
            minimum_hosts: 5,
            request_volume: 100,
        }
    }
}

impl Default for FailurePercentageEjection {
    /// A50's defaults: over 85 % failures, always enforced, 5 hosts of 50 requests.
    fn default() -> Self {
        Self {
            threshold: 85,
            enforcing_percent: 100,
            minimum_hosts: 5,
            request_volume: 50,
        }
    }
}

/// The fewest entries on a hash ring when the config leaves it out (the xDS default).
pub const DEFAULT_MIN_RING_SIZE: u64 = 1024;

/// The most entries xDS allows on a hash ring (8M), which is also the default maximum. This
/// client builds at most 65,536 entries whatever the maximum.
pub const MAX_RING_SIZE_LIMIT: u64 = 8 * 1024 * 1024;
