//! Envoy's local rate limit HTTP filter (`LocalRateLimit`) to [`LocalRateLimit`].
//!
//! The model is one token bucket for every request of a server, so the filter must hold a
//! `token_bucket` (with a `fill_interval` of at least 50 ms, Envoy's minimum) and no
//! descriptors, `rate_limits`, per-connection or cluster-wide limits, and refuse with 429 (the
//! default). It limits calls only when `filter_enabled` and `filter_enforced` are both 100 %
//! (Envoy's defaults are 0 %: a filter left at 0 % limits nothing); other shares are errors.
//! Runtime keys are ignored, as there is no runtime. The fields that only shape the response
//! or the statistics (headers to add, `stat_prefix`...) are ignored.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as Proto;
use envoy_types::pb::envoy::r#type::v3::StatusCode;
use envoy_types::pb::google::protobuf::Any;

use super::common::{duration, per_million, unpack};
use super::error::{Context, DecodeError};
use crate::model::{LocalRateLimit, Share};
use crate::xds::type_url;

/// Envoy's shortest `fill_interval`.
const MIN_FILL_INTERVAL: Duration = Duration::from_millis(50);

/// Decodes the local rate limit config `any` at `field`; `None` if it limits nothing.
pub(crate) fn local_rate_limit(
    ctx: Context<'_>,
    field: &str,
    any: &Any,
) -> Result<Option<LocalRateLimit>, DecodeError> {
    let proto: Proto = unpack(
        ctx,
        field,
        any,
        type_url::LOCAL_RATE_LIMIT,
        "LocalRateLimit",
    )?;
    let unsupported = |name: &str, what: &str| {
        ctx.error(
            format!("{field}.{name}"),
            format!("{what} are not supported; the mesh has one token bucket per server"),
        )
    };
    if !proto.descriptors.is_empty() {
        return Err(unsupported("descriptors", "descriptor limits"));
    }
    if !proto.rate_limits.is_empty() {
        return Err(unsupported("rate_limits", "descriptor limits"));
    }
    if proto.local_rate_limit_per_downstream_connection {
        return Err(unsupported(
            "local_rate_limit_per_downstream_connection",
            "per-connection limits",
        ));
    }
    if proto.local_cluster_rate_limit.is_some() {
        return Err(unsupported(
            "local_cluster_rate_limit",
            "cluster-wide limits",
        ));
    }
    if let Some(status) = proto.status
        && status.code != StatusCode::TooManyRequests as i32
    {
        return Err(ctx.error(
            format!("{field}.status.code"),
            format!(
                "{} is not supported; limited calls get 429 (RESOURCE_EXHAUSTED for gRPC)",
                status.code
            ),
        ));
    }
    let Some(bucket) = &proto.token_bucket else {
        return Err(ctx.error(format!("{field}.token_bucket"), "is missing"));
    };
    let at = format!("{field}.token_bucket");
    let tokens_per_fill = bucket.tokens_per_fill.map_or(1, |t| t.value);
    if tokens_per_fill == 0 {
        return Err(ctx.error(format!("{at}.tokens_per_fill"), "must be at least 1"));
    }
    let Some(interval) = &bucket.fill_interval else {
        return Err(ctx.error(format!("{at}.fill_interval"), "is missing"));
    };
    let fill_interval = duration(ctx, &format!("{at}.fill_interval"), interval)?;
    if fill_interval < MIN_FILL_INTERVAL {
        return Err(ctx.error(
            format!("{at}.fill_interval"),
            format!("{fill_interval:?} is shorter than Envoy's minimum of 50ms"),
        ));
    }
    let enabled = every_request(
        ctx,
        &format!("{field}.filter_enabled"),
        &proto.filter_enabled,
    )?;
    let enforced = every_request(
        ctx,
        &format!("{field}.filter_enforced"),
        &proto.filter_enforced,
    )?;
    Ok((enabled && enforced).then_some(LocalRateLimit {
        max_tokens: bucket.max_tokens,
        tokens_per_fill,
        fill_interval,
    }))
}

/// Whether the share at `field` is every request (`true`) or none (`false`, also when unset).
fn every_request(
    ctx: Context<'_>,
    field: &str,
    share: &Option<RuntimeFractionalPercent>,
) -> Result<bool, DecodeError> {
    let Some(p) = share.as_ref().and_then(|s| s.default_value) else {
        return Ok(false);
    };
    match per_million(ctx, &format!("{field}.default_value"), &p)? {
        0 => Ok(false),
        Share::MILLION => Ok(true),
        _ => Err(ctx.error(
            format!("{field}.default_value"),
            "limits only a share of the requests, which is not supported; use 0 % or 100 %",
        )),
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::LocalRateLimitDescriptor;
    use envoy_types::pb::envoy::r#type::v3::{
        FractionalPercent, HttpStatus, TokenBucket, fractional_percent::DenominatorType,
    };
    use envoy_types::pb::google::protobuf::UInt32Value;

    use super::*;
    use crate::xds::decode::fixtures::any;

    const CTX: Context<'static> = Context {
        kind: "Listener",
        resource: "l",
    };

    fn share(numerator: u32, denominator: DenominatorType) -> Option<RuntimeFractionalPercent> {
        Some(RuntimeFractionalPercent {
            default_value: Some(FractionalPercent {
                numerator,
                denominator: denominator as i32,
            }),
            runtime_key: "ignored".into(),
        })
    }

    fn valid() -> Proto {
        Proto {
            token_bucket: Some(TokenBucket {
                max_tokens: 20,
                tokens_per_fill: None,
                fill_interval: Some(envoy_types::pb::google::protobuf::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
            }),
            filter_enabled: share(100, DenominatorType::Hundred),
            filter_enforced: share(1_000_000, DenominatorType::Million),
            ..Default::default()
        }
    }

    fn decode(proto: &Proto) -> Result<Option<LocalRateLimit>, DecodeError> {
        local_rate_limit(CTX, "f", &any(type_url::LOCAL_RATE_LIMIT, proto))
    }

    #[test]
    fn an_enforced_bucket_is_a_limit() {
        assert_eq!(
            decode(&valid()),
            Ok(Some(LocalRateLimit {
                max_tokens: 20,
                tokens_per_fill: 1,
                fill_interval: Duration::from_secs(1),
            }))
        );
        let with_429 = Proto {
            status: Some(HttpStatus {
                code: StatusCode::TooManyRequests as i32,
            }),
            ..valid()
        };
        assert!(decode(&with_429).unwrap().is_some());
    }

    #[test]
    fn a_filter_not_enabled_or_not_enforced_limits_nothing() {
        let off = Proto {
            filter_enabled: None,
            ..valid()
        };
        assert_eq!(decode(&off), Ok(None));
        let shadow = Proto {
            filter_enforced: share(0, DenominatorType::Hundred),
            ..valid()
        };
        assert_eq!(decode(&shadow), Ok(None));
    }

    #[test]
    fn unsupported_shapes_name_the_field() {
        let cases = [
            (
                Proto {
                    filter_enabled: share(50, DenominatorType::Hundred),
                    ..valid()
                },
                "f.filter_enabled.default_value",
            ),
            (
                Proto {
                    descriptors: vec![LocalRateLimitDescriptor::default()],
                    ..valid()
                },
                "f.descriptors",
            ),
            (
                Proto {
                    local_rate_limit_per_downstream_connection: true,
                    ..valid()
                },
                "f.local_rate_limit_per_downstream_connection",
            ),
            (
                Proto {
                    status: Some(HttpStatus {
                        code: StatusCode::ServiceUnavailable as i32,
                    }),
                    ..valid()
                },
                "f.status.code",
            ),
            (
                Proto {
                    token_bucket: None,
                    ..valid()
                },
                "f.token_bucket",
            ),
        ];
        for (proto, field) in cases {
            assert_eq!(decode(&proto).unwrap_err().field, field);
        }
        let mut fast = valid();
        let bucket = fast.token_bucket.as_mut().unwrap();
        bucket.fill_interval = Some(envoy_types::pb::google::protobuf::Duration {
            seconds: 0,
            nanos: 10_000_000,
        });
        bucket.tokens_per_fill = Some(UInt32Value { value: 2 });
        let err = decode(&fast).unwrap_err();
        assert_eq!(err.field, "f.token_bucket.fill_interval");
        assert!(err.reason.contains("50ms"), "{err}");
        let mut zero = valid();
        zero.token_bucket.as_mut().unwrap().tokens_per_fill = Some(UInt32Value { value: 0 });
        assert_eq!(
            decode(&zero).unwrap_err().field,
            "f.token_bucket.tokens_per_fill"
        );
    }
}
