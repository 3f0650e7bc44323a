//! `spec.fault` of a RoutePolicy: delays and failures injected into a share of the requests
//! (gRFC A33), to see how callers cope.
//!
//! A fault needs a `delay`, an `abort` or both. `percent` (0 to 100, decimals allowed, default
//! 100) is the share of requests that get it; `headers` (as in route matches) narrow it to the
//! requests that carry them.

use mesh_core::model::{AbortStatus, FaultAbort, FaultDelay, FaultInjection, Share};
use serde_saphyr::Spanned;

use super::fields::Fields;
use super::matching;
use super::status::{self, ABORT_HTTP_STATUSES};
use crate::config::kinds::route_policy::{self, Fault};

/// The fault injection of `spec.fault`; mistakes are reported through `fields`.
pub(crate) fn fault(fields: &mut Fields<'_>, fault: &Spanned<Fault>) -> FaultInjection {
    let field = "spec.fault";
    let f = &fault.value;
    if f.delay.is_none() && f.abort.is_none() {
        let message = "injects nothing; add a delay (`delay: {fixed: 100ms, percent: 10}`) \
                       or an abort (`abort: {grpcStatus: UNAVAILABLE, percent: 10}`)";
        fields.error(fault.referenced, field, message);
    }
    let delay = f.delay.as_ref().and_then(|d| delay(fields, d));
    let abort = f.abort.as_ref().and_then(|a| abort(fields, a));
    let (origin, errors) = fields.parts();
    let headers = matching::headers(origin, field, &f.headers, errors);
    let max_active = f.max_active.as_ref().and_then(|m| {
        let meaning = "the most requests with an injected fault at once";
        fields.integer(m, &format!("{field}.maxActive"), 1..=u32::MAX, meaning)
    });
    FaultInjection {
        delay,
        abort,
        headers: headers.unwrap_or_default(),
        max_active,
    }
}

fn delay(fields: &mut Fields<'_>, delay: &Spanned<route_policy::FaultDelay>) -> Option<FaultDelay> {
    let field = "spec.fault.delay";
    let d = &delay.value;
    let share = share(fields, d.percent.as_ref(), field);
    let delay = fields.duration(&d.fixed, &format!("{field}.fixed"))?;
    Some(FaultDelay {
        delay,
        share: share?,
    })
}

fn abort(fields: &mut Fields<'_>, abort: &Spanned<route_policy::FaultAbort>) -> Option<FaultAbort> {
    let field = "spec.fault.abort";
    let a = &abort.value;
    let share = share(fields, a.percent.as_ref(), field);
    let status = match (&a.grpc_status, &a.http_status) {
        (Some(name), None) => {
            let at = format!("{field}.grpcStatus");
            let allowed = status::abort_grpc_codes();
            status::grpc_code(fields, name, &at, &allowed).map(AbortStatus::Grpc)
        }
        (None, Some(number)) => {
            let at = format!("{field}.httpStatus");
            status::http_status(fields, number, &at, ABORT_HTTP_STATUSES).map(AbortStatus::Http)
        }
        _ => {
            let message = "needs exactly one of grpcStatus (such as UNAVAILABLE) and \
                           httpStatus (such as 503)";
            fields.error(abort.referenced, field, message);
            None
        }
    };
    Some(FaultAbort {
        status: status?,
        share: share?,
    })
}

/// `percent` under `field` as a share (100 % when left out).
fn share(fields: &mut Fields<'_>, percent: Option<&Spanned<f64>>, field: &str) -> Option<Share> {
    match percent {
        None => Share::from_per_million(Share::MILLION),
        Some(percent) => fields.percent(percent, &format!("{field}.percent")),
    }
}
