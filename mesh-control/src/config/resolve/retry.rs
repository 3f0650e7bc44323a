//! Timeouts and retries of a route's requests, as an HTTPRoute rule or a RoutePolicy sets them.
//!
//! The two say nearly the same things in slightly different words:
//!
//! | meaning | HTTPRoute rule (GEP-1742, GEP-1731) | RoutePolicy |
//! |---|---|---|
//! | bound on the whole request | `timeouts.request` | `timeouts.request` |
//! | bound on one attempt | `timeouts.backendRequest` | `timeouts.perTry` |
//! | retries after the first attempt | `retry.attempts` (default 1) | `retry.attempts` (default 1) |
//! | HTTP statuses retried | `retry.codes` | `retry.codes` |
//! | gRPC statuses retried | - | `retry.grpcCodes` |
//! | failed connections retried | always | `retry.connectFailure` (default true) |
//! | pause before a retry | `retry.backoff` (max 10 x it) | `retry.backoff.{base,max}` |
//!
//! The bound on one attempt only matters to retries, so it needs `retry` in the same place, and
//! it may not be longer than the bound on the whole request.

use std::time::Duration;

use mesh_core::model::{
    MAX_ATTEMPTS, RETRIABLE_GRPC_CODES, RetryBackoff, RetryOn, RetryPolicy, RoutePolicy,
};
use serde_saphyr::{Location, Spanned};

use super::fields::Fields;
use super::status::{self, RETRY_HTTP_STATUSES};
use crate::config::kinds::http_route::{HttpRetry, HttpTimeouts};
use crate::config::kinds::route_policy::{PolicyRetry, PolicyTimeouts};

/// What one place (an HTTPRoute rule or a RoutePolicy) sets for a route's requests.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    /// The timeout, retry and fault it sets (never the hash header, which comes from the
    /// backends).
    pub(crate) policy: RoutePolicy,
    /// Where it sets `timeouts`, if it does.
    pub(crate) timeouts_at: Option<Location>,
    /// Where it sets `retry`, if it does.
    pub(crate) retry_at: Option<Location>,
}

/// The settings of an HTTPRoute rule whose path is `field` (`spec.rules[0]`).
pub(crate) fn rule_settings(
    fields: &mut Fields<'_>,
    field: &str,
    timeouts: Option<&Spanned<HttpTimeouts>>,
    retry: Option<&Spanned<HttpRetry>>,
) -> Settings {
    let retry_policy = retry.map(|retry| {
        let field = format!("{field}.retry");
        let r = &retry.value;
        let base = r.backoff.as_ref().and_then(|b| {
            let base = fields.duration(b, &format!("{field}.backoff"))?;
            Some(RetryBackoff::from_base(base))
        });
        RetryPolicy {
            max_attempts: max_attempts(fields, r.attempts.as_ref(), &field),
            retry_on: RetryOn {
                grpc_codes: Vec::new(),
                http_statuses: http_statuses(fields, &r.codes, &field),
                connect_failure: true,
            },
            backoff: base.unwrap_or_default(),
            per_try_timeout: None,
        }
    });
    let timeouts = timeouts.map(|t| Timeouts {
        field: format!("{field}.timeouts"),
        at: t.referenced,
        request: t.value.request.as_ref(),
        per_try: t.value.backend_request.as_ref(),
        per_try_name: "backendRequest",
        place: "this rule",
    });
    settings(fields, timeouts, retry.map(|r| r.referenced), retry_policy)
}

/// The timeouts and retry of a RoutePolicy (`spec.timeouts`, `spec.retry`).
pub(crate) fn policy_settings(
    fields: &mut Fields<'_>,
    timeouts: Option<&Spanned<PolicyTimeouts>>,
    retry: Option<&Spanned<PolicyRetry>>,
) -> Settings {
    let retry_policy = retry.map(|retry| policy_retry(fields, retry));
    let timeouts = timeouts.map(|t| Timeouts {
        field: "spec.timeouts".to_string(),
        at: t.referenced,
        request: t.value.request.as_ref(),
        per_try: t.value.per_try.as_ref(),
        per_try_name: "perTry",
        place: "this policy",
    });
    settings(fields, timeouts, retry.map(|r| r.referenced), retry_policy)
}

/// A `timeouts` block, in the words of the place that sets it.
struct Timeouts<'a> {
    /// Its path (`spec.timeouts`).
    field: String,
    /// Where it is written.
    at: Location,
    /// The bound on the whole request.
    request: Option<&'a Spanned<String>>,
    /// The bound on one attempt.
    per_try: Option<&'a Spanned<String>>,
    /// The name of `per_try` here (`perTry`, `backendRequest`).
    per_try_name: &'static str,
    /// The place, for messages (`this rule`).
    place: &'static str,
}

/// The settings of a place with `timeouts` and a `retry` (at `retry_at`): the bound on one
/// attempt goes into the retry policy.
fn settings(
    fields: &mut Fields<'_>,
    timeouts: Option<Timeouts<'_>>,
    retry_at: Option<Location>,
    mut retry: Option<RetryPolicy>,
) -> Settings {
    let mut settings = Settings {
        timeouts_at: timeouts.as_ref().map(|t| t.at),
        retry_at,
        ..Settings::default()
    };
    if let Some(timeouts) = timeouts {
        let (request, per_try) = bounds(fields, &timeouts, retry.is_some());
        settings.policy.timeout = request;
        if let (Some(retry), Some(per_try)) = (retry.as_mut(), per_try) {
            retry.per_try_timeout = Some(per_try);
        }
    }
    settings.policy.retry = retry;
    settings
}

/// `spec.retry` of a RoutePolicy.
fn policy_retry(fields: &mut Fields<'_>, retry: &Spanned<PolicyRetry>) -> RetryPolicy {
    let field = "spec.retry";
    let r = &retry.value;
    let mut grpc_codes = Vec::new();
    for (i, name) in r.grpc_codes.iter().enumerate() {
        let at = format!("{field}.grpcCodes[{i}]");
        if let Some(code) = status::grpc_code(fields, name, &at, &RETRIABLE_GRPC_CODES) {
            grpc_codes.push(code);
        }
    }
    let retry_on = RetryOn {
        grpc_codes,
        http_statuses: http_statuses(fields, &r.codes, field),
        connect_failure: r.connect_failure.unwrap_or(true),
    };
    if r.grpc_codes.is_empty() && r.codes.is_empty() && !retry_on.connect_failure {
        let message = "retries nothing; list grpcCodes or codes, or set connectFailure: true";
        fields.error(retry.referenced, field, message);
    }
    let backoff = r.backoff.as_ref().map_or_else(RetryBackoff::default, |b| {
        let field = format!("{field}.backoff");
        if b.value.base.is_none() && b.value.max.is_none() {
            let message = "sets nothing; add base (and max), or remove backoff";
            fields.error(b.referenced, &field, message);
        }
        let base = b.value.base.as_ref();
        let base = base.and_then(|v| fields.duration(v, &format!("{field}.base")));
        let base = base.unwrap_or(RetryBackoff::default().base);
        let max = b.value.max.as_ref().and_then(|max| {
            let value = fields.duration(max, &format!("{field}.max"))?;
            if value < base {
                let message = format!(
                    "{:?} is shorter than the base pause ({base:?}); make it at least as long",
                    max.value
                );
                fields.error(max.referenced, &format!("{field}.max"), message);
            }
            Some(value)
        });
        let backoff = RetryBackoff::from_base(base);
        RetryBackoff {
            max: max.unwrap_or(backoff.max),
            ..backoff
        }
    });
    RetryPolicy {
        max_attempts: max_attempts(fields, r.attempts.as_ref(), field),
        retry_on,
        backoff,
        per_try_timeout: None,
    }
}

/// Attempts in all from `attempts`, the retries after the first (default 1).
fn max_attempts(fields: &mut Fields<'_>, attempts: Option<&Spanned<i64>>, field: &str) -> u32 {
    let Some(attempts) = attempts else { return 2 };
    let meaning = format!(
        "the retries after the first attempt; gRPC makes at most {MAX_ATTEMPTS} attempts in all"
    );
    let retries = fields.integer(
        attempts,
        &format!("{field}.attempts"),
        1..=MAX_ATTEMPTS - 1,
        &meaning,
    );
    retries.map_or(2, |n| n + 1)
}

/// `codes`: HTTP statuses to retry.
fn http_statuses(fields: &mut Fields<'_>, codes: &[Spanned<i64>], field: &str) -> Vec<u16> {
    let statuses = codes.iter().enumerate().filter_map(|(i, code)| {
        let at = format!("{field}.codes[{i}]");
        status::http_status(fields, code, &at, RETRY_HTTP_STATUSES)
    });
    statuses.collect()
}

/// The bounds on the whole request and on one attempt of `t`; the bound on one attempt needs a
/// retry (`has_retry`) and fits in the whole, and a block must set one of them.
fn bounds(
    fields: &mut Fields<'_>,
    t: &Timeouts<'_>,
    has_retry: bool,
) -> (Option<Duration>, Option<Duration>) {
    let field = &t.field;
    if t.request.is_none() && t.per_try.is_none() {
        let message = format!(
            "sets nothing; add request or {}, or remove timeouts",
            t.per_try_name
        );
        fields.error(t.at, field, message);
    }
    let whole = t
        .request
        .and_then(|r| fields.duration(r, &format!("{field}.request")));
    let Some(per_try) = t.per_try else {
        return (whole, None);
    };
    let at = format!("{field}.{}", t.per_try_name);
    let one = fields.duration(per_try, &at);
    if !has_retry {
        let message = format!(
            "bounds one attempt of a retried request, but {} has no retry; add `retry`, \
             or use `request` to bound the whole request",
            t.place
        );
        fields.error(per_try.referenced, &at, message);
    }
    if let (Some(one), Some(whole), Some(request)) = (one, whole, t.request)
        && one > whole
    {
        let message = format!(
            "{:?} is longer than the whole request's {:?}; make it at most as long",
            per_try.value, request.value
        );
        fields.error(per_try.referenced, &at, message);
    }
    (whole, one)
}
