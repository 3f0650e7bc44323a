//! `HTTPFault`, the fault injection filter's config (gRFC A33), to [`model::FaultInjection`].
//!
//! A route's faults are the `HTTPFault` in its `typed_per_filter_config` (as is, or inside a
//! `FilterConfig`), else its virtual host's. Entries are found by type, not by key, since the
//! key is the filter's name in the listener, which RDS does not see. An entry, even one without
//! faults or a disabled one, replaces the virtual host's as in gRPC.
//!
//! Shares may use any denominator and become millionths; a numerator over its denominator
//! means every request, as in Envoy and gRPC. A delay must be `fixed_delay`, an abort a
//! `grpc_status` (1 to 16) or an `http_status` (200 to 599): the header-driven kinds are not
//! supported. The fields gRPC ignores (`upstream_cluster`, `downstream_nodes`,
//! `response_rate_limit`, the runtime keys) are ignored.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::route::v3::FilterConfig;
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::fault_delay::FaultDelaySecifier;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    HttpFault, fault_abort::ErrorType,
};
use envoy_types::pb::envoy::r#type::v3::FractionalPercent;
use envoy_types::pb::google::protobuf::Any;

use super::common::{duration, per_million, unpack};
use super::error::{Context, DecodeError};
use super::matcher;
use crate::model::{AbortStatus, FaultAbort, FaultDelay, FaultInjection, Share};
use crate::xds::type_url;

/// The faults in a `typed_per_filter_config` map at `field`: `None` if it holds no fault config,
/// `Some(None)` if the one it holds injects nothing.
pub(crate) fn per_filter_config(
    ctx: Context<'_>,
    field: &str,
    configs: &HashMap<String, Any>,
) -> Result<Option<Option<FaultInjection>>, DecodeError> {
    let mut keys: Vec<&String> = configs.keys().collect();
    keys.sort();
    let mut found: Option<(&str, Option<FaultInjection>)> = None;
    for key in keys {
        let at = format!("{field}[{key:?}]");
        let Some(fault) = entry(ctx, &at, &configs[key])? else {
            continue;
        };
        if let Some((first, _)) = found {
            return Err(ctx.error(
                field,
                format!("holds two fault configs, {first:?} and {key:?}; keep one"),
            ));
        }
        found = Some((key, fault));
    }
    Ok(found.map(|(_, fault)| fault))
}

/// The faults of one `typed_per_filter_config` entry, if it is a fault config.
fn entry(
    ctx: Context<'_>,
    field: &str,
    any: &Any,
) -> Result<Option<Option<FaultInjection>>, DecodeError> {
    if any.type_url == type_url::HTTP_FAULT {
        let proto: HttpFault = unpack(ctx, field, any, type_url::HTTP_FAULT, "HTTPFault")?;
        return http_fault(ctx, field, &proto).map(Some);
    }
    if any.type_url != type_url::FILTER_CONFIG {
        return Ok(None);
    }
    let wrapper: FilterConfig = unpack(ctx, field, any, type_url::FILTER_CONFIG, "FilterConfig")?;
    let Some(inner) = wrapper
        .config
        .filter(|c| c.type_url == type_url::HTTP_FAULT)
    else {
        return Ok(None);
    };
    if wrapper.disabled {
        return Ok(Some(None));
    }
    let field = format!("{field}.config");
    let proto: HttpFault = unpack(ctx, &field, &inner, type_url::HTTP_FAULT, "HTTPFault")?;
    http_fault(ctx, &field, &proto).map(Some)
}

/// Decodes an `HTTPFault` at `field`; `None` if it injects nothing.
pub(crate) fn http_fault(
    ctx: Context<'_>,
    field: &str,
    proto: &HttpFault,
) -> Result<Option<FaultInjection>, DecodeError> {
    let delay = match &proto.delay {
        None => None,
        Some(d) => {
            let at = format!("{field}.delay");
            let delay = match &d.fault_delay_secifier {
                Some(FaultDelaySecifier::FixedDelay(fixed)) => {
                    duration(ctx, &format!("{at}.fixed_delay"), fixed)?
                }
                Some(FaultDelaySecifier::HeaderDelay(_)) => {
                    return Err(ctx.error(
                        format!("{at}.header_delay"),
                        "is not supported; use fixed_delay",
                    ));
                }
                None => return Err(ctx.error(at, "has no fixed_delay")),
            };
            let share = share(ctx, &format!("{at}.percentage"), d.percentage.as_ref())?;
            Some(FaultDelay { delay, share })
        }
    };
    let abort = match &proto.abort {
        None => None,
        Some(a) => {
            let at = format!("{field}.abort");
            let status = abort_status(ctx, &at, a.error_type.as_ref())?;
            let share = share(ctx, &format!("{at}.percentage"), a.percentage.as_ref())?;
            Some(FaultAbort { status, share })
        }
    };
    if delay.is_none() && abort.is_none() {
        return Ok(None);
    }
    let headers = proto
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| matcher::header(ctx, &format!("{field}.headers[{i}]"), h))
        .collect::<Result<_, _>>()?;
    Ok(Some(FaultInjection {
        delay,
        abort,
        headers,
        max_active: proto.max_active_faults.map(|m| m.value),
    }))
}

fn abort_status(
    ctx: Context<'_>,
    field: &str,
    proto: Option<&ErrorType>,
) -> Result<AbortStatus, DecodeError> {
    match proto {
        Some(&ErrorType::GrpcStatus(code)) => match i32::try_from(code) {
            Ok(code @ 1..=16) => Ok(AbortStatus::Grpc(tonic::Code::from_i32(code))),
            _ => Err(ctx.error(
                format!("{field}.grpc_status"),
                format!("{code} is not a gRPC error status (1 to 16)"),
            )),
        },
        Some(&ErrorType::HttpStatus(status)) => match u16::try_from(status) {
            Ok(status @ 200..=599) => Ok(AbortStatus::Http(status)),
            _ => Err(ctx.error(
                format!("{field}.http_status"),
                format!("{status} is not an HTTP status from 200 to 599"),
            )),
        },
        Some(ErrorType::HeaderAbort(_)) => Err(ctx.error(
            format!("{field}.header_abort"),
            "is not supported; use grpc_status or http_status",
        )),
        None => Err(ctx.error(field, "has neither grpc_status nor http_status")),
    }
}

/// A `FractionalPercent` at `field` as a share (none given: no request).
fn share(
    ctx: Context<'_>,
    field: &str,
    proto: Option<&FractionalPercent>,
) -> Result<Share, DecodeError> {
    let Some(p) = proto else {
        return Ok(Share::default());
    };
    let millionths = per_million(ctx, field, p)?;
    Ok(Share::from_per_million(millionths).unwrap_or_default())
}

#[cfg(test)]
#[path = "fault_tests.rs"]
mod tests;
