//! `RetryPolicy` to [`model::RetryPolicy`] (gRFC A44).
//!
//! The rules are gRPC's: `retry_on` names this client does not know are ignored, and a policy
//! that retries nothing is no policy; `num_retries` defaults to 1, must not be 0, and the
//! attempts it gives are capped at [`MAX_ATTEMPTS`]; without `retry_back_off` the backoff is
//! 25 ms, and with it `base_interval` must be positive, `max_interval` (when given) at least
//! as long (as Envoy requires), and `max_interval` defaults to ten times the base.
//!
//! Beyond gRPC's five status names, `retry_on` may say `connect-failure`,
//! `retriable-status-codes` (the HTTP statuses 500 to 599 of `retriable_status_codes`; others
//! are ignored), and Envoy's `5xx` and `gateway-error` (which include connection failures);
//! `per_try_timeout` bounds each attempt. `retry_host_predicate` is not read: a retry always
//! avoids the endpoint that just failed. The other fields are ignored, as gRPC ignores them.

use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::RetryPolicy;

use super::common::duration;
use super::error::{Context, DecodeError};
use crate::model::{self, MAX_ATTEMPTS, RETRIABLE_GRPC_CODES, RetryBackoff, RetryOn};
use crate::xds::encode::{CONNECT_FAILURE, RETRIABLE_STATUS_CODES, grpc_retry_on};

/// Decodes a retry policy at `field`; `None` if it retries nothing this client knows.
pub(crate) fn retry_policy(
    ctx: Context<'_>,
    field: &str,
    proto: &RetryPolicy,
) -> Result<Option<model::RetryPolicy>, DecodeError> {
    let retries = match &proto.num_retries {
        None => 1,
        Some(n) if n.value == 0 => {
            return Err(ctx.error(
                format!("{field}.num_retries"),
                "is 0; it must be at least 1 (remove retry_policy to turn retries off)",
            ));
        }
        Some(n) => n.value,
    };
    let backoff = backoff(ctx, field, proto)?;
    let per_try_timeout = match &proto.per_try_timeout {
        Some(d) => Some(duration(ctx, &format!("{field}.per_try_timeout"), d)?),
        None => None,
    }
    .filter(|d| !d.is_zero());
    let retry_on = retry_on(proto);
    if retry_on == RetryOn::default() {
        return Ok(None);
    }
    Ok(Some(model::RetryPolicy {
        max_attempts: retries.saturating_add(1).min(MAX_ATTEMPTS),
        retry_on,
        backoff,
        per_try_timeout,
    }))
}

fn backoff(
    ctx: Context<'_>,
    field: &str,
    proto: &RetryPolicy,
) -> Result<RetryBackoff, DecodeError> {
    let Some(b) = &proto.retry_back_off else {
        return Ok(RetryBackoff::default());
    };
    let base_field = format!("{field}.retry_back_off.base_interval");
    let base = match &b.base_interval {
        Some(d) => duration(ctx, &base_field, d)?,
        None => Duration::ZERO,
    };
    if base.is_zero() {
        return Err(ctx.error(
            base_field,
            "must be set and positive when retry_back_off is given",
        ));
    }
    let Some(max) = &b.max_interval else {
        return Ok(RetryBackoff::from_base(base));
    };
    let max_field = format!("{field}.retry_back_off.max_interval");
    let max = duration(ctx, &max_field, max)?;
    if max.is_zero() {
        return Err(ctx.error(max_field, "must be positive (or left out: 10 x base)"));
    }
    if max < base {
        return Err(ctx.error(
            max_field,
            format!("{max:?} is shorter than base_interval {base:?}"),
        ));
    }
    Ok(RetryBackoff { base, max })
}

/// What `retry_on` (with `retriable_status_codes`) asks to retry, in the order given.
fn retry_on(proto: &RetryPolicy) -> RetryOn {
    let mut on = RetryOn::default();
    let mut statuses = Vec::new();
    for name in proto
        .retry_on
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
    {
        let named = |code: &&tonic::Code| grpc_retry_on(**code) == Some(name.as_str());
        if let Some(&code) = RETRIABLE_GRPC_CODES.iter().find(named) {
            push_new(&mut on.grpc_codes, code);
            continue;
        }
        match name.as_str() {
            CONNECT_FAILURE => on.connect_failure = true,
            RETRIABLE_STATUS_CODES => statuses.extend(
                proto
                    .retriable_status_codes
                    .iter()
                    .filter_map(|&s| u16::try_from(s).ok()),
            ),
            "5xx" => {
                statuses.extend(500..=599);
                on.connect_failure = true;
            }
            "gateway-error" => {
                statuses.extend([502, 503, 504]);
                on.connect_failure = true;
            }
            _ => {}
        }
    }
    for status in statuses.into_iter().filter(|s| (500..=599).contains(s)) {
        push_new(&mut on.http_statuses, status);
    }
    on
}

fn push_new<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
