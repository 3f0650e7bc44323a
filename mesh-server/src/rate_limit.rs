//! A local rate limit: a token bucket bounding the calls one server accepts.
//!
//! The bucket of a [`LocalRateLimit`] holds up to `max_tokens` and gains `tokens_per_fill` every
//! `fill_interval`; each call takes a token. A call finding the bucket empty is refused with
//! `RESOURCE_EXHAUSTED` and a `grpc-retry-pushback-ms` hint (gRPC, trailers-only), or `429 Too
//! Many Requests` with `retry-after` in whole seconds, rounded up (HTTP); the hint is the time
//! until the next fill.
//!
//! The bucket is shared by every connection of a server. [`RateLimitLayer`] reads the limit in
//! force on every call; when it changes, the bucket starts over, full. [`MeshServer`](crate::MeshServer)
//! applies it with the limit of its inbound xDS listener; it is a plain tower layer, usable on
//! its own:
//!
//! ```
//! use std::time::Duration;
//! use mesh_core::model::LocalRateLimit;
//! use tower::Layer;
//!
//! let app = tower::service_fn(|_: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! let limit = LocalRateLimit {
//!     max_tokens: 10,
//!     tokens_per_fill: 5,
//!     fill_interval: Duration::from_millis(50),
//! };
//! let app = mesh_server::RateLimitLayer::fixed(limit).layer(app);
//! ```

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use mesh_core::model::LocalRateLimit;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::InboundPolicy;
pub use crate::body::ResponseBody;
use crate::counters::Counters;
pub use crate::respond::ResponseFuture;
use crate::respond::{Refusal, drain, is_grpc};

/// The gRPC retry hint header (gRFC A6): how long the client should wait before a retry.
const GRPC_RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// A token bucket for one [`LocalRateLimit`].
#[derive(Debug)]
pub(crate) struct TokenBucket {
    limit: LocalRateLimit,
    tokens: u32,
    /// When the last fill happened (fills happen at whole intervals from here).
    filled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(limit: LocalRateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: limit.max_tokens,
            filled_at: now,
        }
    }

    /// Takes a token; when there is none, how long until the next fill.
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let interval = self.limit.fill_interval;
        if interval.is_zero() {
            return Ok(()); // refilled continuously: never empty
        }
        let elapsed = now.saturating_duration_since(self.filled_at);
        let fills = elapsed.as_nanos() / interval.as_nanos();
        if fills > 0 {
            let added = fills.saturating_mul(u128::from(self.limit.tokens_per_fill));
            let tokens = (u128::from(self.tokens) + added).min(u128::from(self.limit.max_tokens));
            self.tokens = u32::try_from(tokens).unwrap_or(self.limit.max_tokens);
            // `fills` intervals fit in `elapsed`, so this stays within a Duration.
            let step = interval.as_nanos() * fills;
            self.filled_at += Duration::from_nanos(u64::try_from(step).unwrap_or(u64::MAX));
        }
        if self.tokens == 0 {
            return Err(self.filled_at + interval - now);
        }
        self.tokens -= 1;
        Ok(())
    }
}

/// Refuses the calls beyond the rate limit in force; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    policy: watch::Receiver<Arc<InboundPolicy>>,
    bucket: Arc<Mutex<Option<TokenBucket>>>,
    counters: Counters,
}

impl RateLimitLayer {
    /// Applies the `rate_limit` of the policy `policy` holds at each call. The services this
    /// layer makes share one bucket.
    pub fn new(policy: watch::Receiver<Arc<InboundPolicy>>) -> Self {
        Self {
            policy,
            bucket: Arc::default(),
            counters: Counters::default(),
        }
    }

    /// Always applies `limit`.
    pub fn fixed(limit: LocalRateLimit) -> Self {
        Self::new(
            InboundPolicy {
                authorization: None,
                rate_limit: Some(limit),
            }
            .fixed(),
        )
    }

    /// Counts rate-limited calls in `counters`.
    pub(crate) fn counting(mut self, counters: Counters) -> Self {
        self.counters = counters;
        self
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service refusing the calls beyond the rate limit in force; made by [`RateLimitLayer`].
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> RateLimit<S> {
    /// Takes a token under `limit`; when there is none, how long until the next fill.
    fn take(&self, limit: LocalRateLimit) -> Result<(), Duration> {
        let now = Instant::now();
        // A panic while holding the lock leaves a consistent bucket: keep using it.
        let mut bucket = self
            .layer
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &mut *bucket {
            Some(bucket) if bucket.limit == limit => bucket.try_take(now),
            other => other.insert(TokenBucket::new(limit, now)).try_take(now),
        }
    }
}

impl<S, B, ReqBody> tower::Service<Request<ReqBody>> for RateLimit<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>>,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
{
    type Response = Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let limit = self.layer.policy.borrow().rate_limit;
        let Some(Err(wait)) = limit.map(|limit| self.take(limit)) else {
            return ResponseFuture::inner(self.inner.call(request));
        };
        self.layer.counters.rate_limited();
        let grpc = is_grpc(request.headers());
        tracing::debug!(path = request.uri().path(), ?wait, "rate limited a call");
        let millis = wait.as_nanos().div_ceil(1_000_000);
        let header = if grpc {
            (
                GRPC_RETRY_PUSHBACK_MS,
                HeaderValue::from(saturating_u64(millis)),
            )
        } else {
            let seconds = millis.div_ceil(1000).max(1);
            (RETRY_AFTER, HeaderValue::from(saturating_u64(seconds)))
        };
        let refusal = Refusal {
            http: StatusCode::TOO_MANY_REQUESTS,
            grpc: 8,
            message: format!("rate limited by the server's local rate limit; retry in {millis} ms"),
            header: Some(header),
        };
        ResponseFuture::refused(refusal.response(grpc), drain(request.into_body()))
    }
}

fn saturating_u64(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "rate_limit_tests.rs"]
mod tests;
